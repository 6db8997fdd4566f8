"""Verifiers, label schema, response extraction and reward modes: pure functions of
(response, label, options) -> result. Code scoring calls sandbox/."""
