"""OpenRLHF GRPO integration: dataset converters, prompt templates and launch configs.

trainer/ talks to the reward service over HTTP only; it imports ``services`` for the label
schema and the offline puzzle generators, never ``reward_server``.
"""
