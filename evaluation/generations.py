"""Generations files: prompt-dataset rows with the model's answers.

A row is what ``python -m trainer.data`` writes (``prompt``, ``messages``, ``label``,
``source``, ...) plus the model's output: ``response`` (one sample) or ``responses`` (k
samples). Optional fields:

- ``benchmark``: the benchmark the row counts for; without it, the row's ``source`` decides
  (``math/math500`` is math500, ``kk/kk_logic`` is kk, ...), else its label domain;
- ``id``: the problem's identity; rows with the same benchmark and id are one problem's
  samples (a file may hold one row per sample). Without it the prompt and label identify it;
- ``template``: ``base`` or ``instruct``, which rendering the model answered (``reward eval
  --endpoint`` writes it). It decides the prompt the verifier reads the format against:
  the base prompt ends inside the think block, a chat answer opens its own.

Rows are read whole before anything is scored, and a bad row stops the run with its file
and line, so no sample is silently dropped from a denominator.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluation.benchmarks import benchmark_of_source
from trainer.data.io import SourceFileError, read_rows

TEMPLATES = ("base", "instruct")


class GenerationsError(ValueError):
    """A generations file or row that cannot be scored; the message says where and why."""


@dataclass
class Problem:
    """One problem of one benchmark with every sample a model gave for it."""

    benchmark: str
    key: str
    label: Any
    """The row's label as written (a JSON string or an object)."""
    label_domain: str | None
    prompt: str | None
    """The prompt the responses answer, as the verifier reads it."""
    responses: list[str] = field(default_factory=list)
    where: str = ""
    """file:line of its first row."""


def label_domain(label: Any) -> str | None:
    if isinstance(label, str):
        try:
            label = json.loads(label)
        except json.JSONDecodeError:
            return None
    return label.get("domain") if isinstance(label, dict) and isinstance(label.get("domain"), str) else None


def chat_text(messages: list[Any]) -> str:
    """Chat messages as one text, for the verifier's format checks (it looks for ``<answer>``)."""
    return "\n".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))


def scoring_prompt(row: dict[str, Any], template: str | None) -> str | None:
    """The prompt a row's responses answer: the base ``prompt`` or the chat ``messages``."""
    kind = row.get("template") or template
    prompt, messages = row.get("prompt"), row.get("messages")
    if kind is None:
        kind = "base" if isinstance(prompt, str) else "instruct"
    if kind not in TEMPLATES:
        raise GenerationsError(f"template {kind!r}: use one of {', '.join(TEMPLATES)}")
    if kind == "instruct" and isinstance(messages, list):
        return chat_text(messages)
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list):
        return chat_text(prompt)
    if isinstance(messages, list):
        return chat_text(messages)
    return None


def _responses(row: dict[str, Any], where: str) -> list[str]:
    if "responses" in row:
        responses = row["responses"]
        if not isinstance(responses, list) or not responses:
            raise GenerationsError(f"{where}: responses must be a non-empty list of strings")
    elif "response" in row:
        responses = [row["response"]]
    else:
        raise GenerationsError(f"{where}: the row has neither response nor responses")
    bad = [i for i, r in enumerate(responses) if not isinstance(r, str)]
    if bad:
        raise GenerationsError(f"{where}: response {bad[0]} is {type(responses[bad[0]]).__name__}, not a string")
    return list(responses)


def problem_key(benchmark: str, row: dict[str, Any], prompt: str | None) -> str:
    if row.get("id") is not None:
        return f"{benchmark}\x00{row['id']}"
    label = row["label"] if isinstance(row["label"], str) else json.dumps(row["label"], sort_keys=True)
    digest = hashlib.sha1(f"{benchmark}\x00{prompt}\x00{label}".encode("utf-8", "surrogatepass")).hexdigest()
    return digest


def read_generations(paths: list[Path], template: str | None = None) -> list[Problem]:
    """Every problem in the files, its samples gathered across rows, in file order."""
    problems: dict[str, Problem] = {}
    for path in paths:
        try:
            rows = list(read_rows(path))
        except SourceFileError as exc:
            raise GenerationsError(str(exc)) from None
        if not rows:
            raise GenerationsError(f"{path}: no rows")
        for number, row in enumerate(rows, start=1):
            where = f"{path}:{number}"
            if "label" not in row or row["label"] in (None, ""):
                raise GenerationsError(f"{where}: the row has no label")
            responses = _responses(row, where)
            domain = label_domain(row["label"])
            name = row.get("benchmark")
            if name is not None and (not isinstance(name, str) or not name.strip()):
                raise GenerationsError(f"{where}: benchmark must be a name")
            name = name.strip() if name else benchmark_of_source(row.get("source"), row.get("datasource") or domain)
            try:
                prompt = scoring_prompt(row, template)
            except GenerationsError as exc:
                raise GenerationsError(f"{where}: {exc}") from None
            key = problem_key(name, row, prompt)
            problem = problems.get(key)
            if problem is None:
                problem = problems[key] = Problem(name, key, row["label"], domain, prompt, where=where)
            problem.responses.extend(responses)
    return list(problems.values())


def append_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    """Add rows to a JSONL file, flushed, so a long sampling run keeps what it has."""
    with open(path, "a", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        f.flush()
