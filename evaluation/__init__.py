"""``reward eval``: a checkpoint's generations scored on the study's benchmarks with the same
verifiers and prompt templates that gave its training rewards.

- :mod:`evaluation.benchmarks`  the benchmarks by name and where their problems come from;
- :mod:`evaluation.generations` generations files: rows in, samples out, rows written;
- :mod:`evaluation.scoring`     samples scored in-process (embedded pool and sandbox) or by a service;
- :mod:`evaluation.metrics`     accuracy (avg@k), unbiased pass@k, rewards, format rate, averages;
- :mod:`evaluation.evaluate`    problems in, report out;
- :mod:`evaluation.report`      eval.json, eval.md, eval.png and the terminal table;
- :mod:`evaluation.sampling`    completions from an OpenAI-compatible server (vLLM);
- :mod:`evaluation.compare`     several checkpoints' reports as one table with deltas;
- :mod:`evaluation.cli`         the ``reward eval`` command.
"""
