"""Build an OpenRLHF prompt dataset: convert or generate, deduplicate, mix, hold out, order.

A source spec is ``FORMAT=PATH`` (a converter of :mod:`trainer.data.converters` on a local
parquet / JSONL / JSON file) or ``gen:KIND=N`` (N generated KK / Zebra / CountDown tasks).

Output, under one directory:

- ``train.jsonl`` and ``eval.jsonl`` (the held-out split, stratified by label domain): rows
  with ``prompt`` (base template), ``messages`` (chat template), ``label`` (a JSON string),
  ``datasource`` (the label domain), ``source`` and ``difficulty``;
- with a curriculum, ``train.stage1.jsonl`` ... (easiest first; OpenRLHF shuffles the prompts
  of one run, so a curriculum is a sequence of runs, one per stage);
- ``manifest.json``: counts per domain and source, skipped rows and why, the options.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trainer.data.converters import CONVERTERS, SkipRow
from trainer.data.generated import GENERATED, generated_tasks
from trainer.data.io import count_rows, progress_bar, read_rows, write_jsonl
from trainer.data.tasks import GROUPS, Task


class DataSpecError(ValueError):
    """A source spec or a data option that cannot be used."""


@dataclass(frozen=True)
class SourceSpec:
    kind: str
    """A converter name (``deepscaler``, ``coder1``, ...) or ``gen:kk`` / ``gen:zebra`` / ``gen:countdown``."""
    path: Path | None = None
    count: int | None = None
    sizes: tuple[Any, ...] | None = None

    @classmethod
    def parse(cls, text: str) -> SourceSpec:
        kind, sep, value = text.partition("=")
        kind, value = kind.strip(), value.strip()
        if kind.startswith("gen:"):
            if kind[4:] not in GENERATED:
                raise DataSpecError(
                    f"unknown generator {kind!r} (one of {', '.join('gen:' + g for g in GENERATED)})"
                )
            try:
                count = int(value) if sep else 1000
            except ValueError:
                raise DataSpecError(f"{text!r}: gen:KIND=N takes a number of tasks") from None
            return cls(kind=kind, count=count)
        if kind not in CONVERTERS:
            raise DataSpecError(
                f"unknown source format {kind!r} (one of {', '.join(CONVERTERS)}, or gen:kk / gen:zebra / gen:countdown)"
            )
        if not sep or not value:
            raise DataSpecError(f"{text!r}: give the file as {kind}=PATH")
        return cls(kind=kind, path=Path(value).expanduser())


@dataclass
class LoadReport:
    converted: int = 0
    skipped: Counter = field(default_factory=Counter)
    """reason -> rows skipped for it."""


def load_tasks(
    spec: SourceSpec, seed: int = 0, progress: bool | None = None
) -> tuple[list[Task], LoadReport]:
    """Every task of one source, with the rows it skipped and why."""
    report = LoadReport()
    if spec.kind.startswith("gen:"):
        tasks = list(generated_tasks(spec.kind[4:], spec.count or 0, seed=seed, sizes=spec.sizes))
        report.converted = len(tasks)
        return tasks, report
    assert spec.path is not None
    convert = CONVERTERS[spec.kind]
    tasks = []
    with progress_bar(f"{spec.kind} {spec.path.name}", count_rows(spec.path), progress) as advance:
        for row in read_rows(spec.path):
            try:
                tasks.append(convert(row))
            except SkipRow as exc:
                report.skipped[str(exc)] += 1
            except ValueError as exc:  # a label the schema rejects
                report.skipped[f"invalid label: {str(exc)[:160]}"] += 1
            advance()
    report.converted = len(tasks)
    return tasks, report


def deduplicate(tasks: Iterable[Task]) -> tuple[list[Task], int]:
    """Keep the first task of each (domain, question); return the kept tasks and the number dropped."""
    seen: set[str] = set()
    kept: list[Task] = []
    dropped = 0
    for task in tasks:
        key = task.dedup_key()
        if key in seen:
            dropped += 1
            continue
        seen.add(key)
        kept.append(task)
    return kept, dropped


def parse_ratios(text: str | dict[str, float] | None) -> dict[str, float]:
    """``"math=1,code=1,puzzle=1"`` (or a dict) -> {key: weight}; keys are study domains
    (math, code, puzzle) or label domains (math, countdown, code, kk, zebra)."""
    if not text:
        return {}
    if isinstance(text, dict):
        items = list(text.items())
    else:
        items = []
        for part in text.split(","):
            key, sep, value = part.partition("=")
            if not sep:
                raise DataSpecError(f"mix ratio {part!r}: write KEY=WEIGHT, e.g. math=1,code=1,puzzle=1")
            items.append((key.strip(), value.strip()))
    known = set(GROUPS) | {d for members in GROUPS.values() for d in members}
    ratios: dict[str, float] = {}
    for key, value in items:
        if key not in known:
            raise DataSpecError(f"mix key {key!r} is not a domain (one of {', '.join(sorted(known))})")
        try:
            weight = float(value)
        except (TypeError, ValueError):
            raise DataSpecError(f"mix weight for {key!r} is not a number: {value!r}") from None
        if weight < 0:
            raise DataSpecError(f"mix weight for {key!r} is negative")
        ratios[key] = weight
    if not any(ratios.values()):
        raise DataSpecError("mix weights are all zero")
    return ratios


def _mix_key(task: Task, ratios: dict[str, float]) -> str:
    if task.domain in ratios:
        return task.domain
    for group, members in GROUPS.items():
        if task.domain in members and group in ratios:
            return group
    raise DataSpecError(f"no mix weight covers domain {task.domain!r} (weights: {ratios})")


def mix(tasks: list[Task], ratios: dict[str, float], total: int | None, seed: int = 0) -> list[Task]:
    """Sample tasks so that each mix key gets its share of the total, then shuffle.

    Without ``total``: the largest total every key can fill at its ratio (no task is repeated).
    A key with fewer tasks than its share gets all it has.
    """
    rng = random.Random(seed)
    pools: dict[str, list[Task]] = defaultdict(list)
    for task in tasks:
        pools[_mix_key(task, ratios)].append(task)
    weights = {k: w for k, w in ratios.items() if w > 0}
    missing = [k for k in weights if not pools.get(k)]
    if missing:
        raise DataSpecError(f"the mix asks for {', '.join(missing)} but no source supplies it")
    weight_sum = sum(weights.values())
    if total is None:
        total = int(min(len(pools[k]) / (w / weight_sum) for k, w in weights.items()))
    chosen: list[Task] = []
    for key, weight in weights.items():
        want = min(round(total * weight / weight_sum), len(pools[key]))
        pool = list(pools[key])
        rng.shuffle(pool)
        chosen.extend(pool[:want])
    rng.shuffle(chosen)
    return chosen


def split_heldout(tasks: list[Task], eval_size: int | float, seed: int = 0) -> tuple[list[Task], list[Task]]:
    """Hold out ``eval_size`` tasks (a count, or a fraction below 1), stratified by label domain."""
    if eval_size <= 0:
        return list(tasks), []
    rng = random.Random(seed + 1)
    by_domain: dict[str, list[int]] = defaultdict(list)
    for index, task in enumerate(tasks):
        by_domain[task.domain].append(index)
    fraction = eval_size if eval_size < 1 else eval_size / max(len(tasks), 1)
    held: set[int] = set()
    for indices in by_domain.values():
        take = min(len(indices) - 1, max(1, round(len(indices) * fraction))) if len(indices) > 1 else 0
        held.update(rng.sample(indices, take))
    train = [t for i, t in enumerate(tasks) if i not in held]
    heldout = [t for i, t in enumerate(tasks) if i in held]
    return train, heldout


def curriculum_stages(tasks: list[Task], stages: int) -> list[list[Task]]:
    """Order tasks easiest first and cut them into ``stages`` parts.

    Difficulty is compared within a label domain by rank, so a mix interleaves domains:
    the first stage holds the easiest part of every domain.
    """
    if stages < 1:
        raise DataSpecError("curriculum stages must be at least 1")
    by_domain: dict[str, list[Task]] = defaultdict(list)
    for task in tasks:
        by_domain[task.domain].append(task)
    ranked: list[tuple[float, float, int, Task]] = []
    for members in by_domain.values():
        ordered = sorted(members, key=lambda t: t.difficulty)
        for rank, task in enumerate(ordered):
            ranked.append((rank / len(ordered), task.difficulty, len(ranked), task))
    ranked.sort(key=lambda item: (item[0], item[1], item[2]))
    ordered_tasks = [item[3] for item in ranked]
    size = -(-len(ordered_tasks) // stages)
    return [
        ordered_tasks[i * size : (i + 1) * size]
        for i in range(stages)
        if ordered_tasks[i * size : (i + 1) * size]
    ]


@dataclass
class DatasetFiles:
    train: Path
    eval: Path | None
    stages: list[Path]
    manifest: Path
    counts: dict[str, Any]

    def describe(self) -> str:
        lines = [f"train: {self.train} ({self.counts['train']} prompts)"]
        if self.eval:
            lines.append(f"eval:  {self.eval} ({self.counts['eval']} prompts)")
        lines.extend(f"stage {i}: {p}" for i, p in enumerate(self.stages, start=1))
        lines.append(f"manifest: {self.manifest}")
        return "\n".join(lines)


def build_dataset(
    sources: list[SourceSpec],
    out_dir: str | Path,
    *,
    ratios: dict[str, float] | None = None,
    total: int | None = None,
    dedup: bool = True,
    eval_size: int | float = 0,
    curriculum: int = 0,
    reward: dict[str, Any] | None = None,
    keep_prompt: bool = False,
    seed: int = 0,
    progress: bool | None = None,
) -> DatasetFiles:
    """Convert / generate every source and write the dataset files (see the module docstring)."""
    if not sources:
        raise DataSpecError("no data sources given")
    out_dir = Path(out_dir)
    tasks: list[Task] = []
    reports: dict[str, Any] = {}
    for spec in sources:
        loaded, report = load_tasks(spec, seed=seed, progress=progress)
        name = f"{spec.kind}={spec.path}" if spec.path else f"{spec.kind}={spec.count}"
        reports[name] = {"converted": report.converted, "skipped": dict(report.skipped)}
        tasks.extend(loaded)
    if not tasks:
        raise DataSpecError(f"the sources gave no usable rows: {json.dumps(reports)}")
    duplicates = 0
    if dedup:
        tasks, duplicates = deduplicate(tasks)
    if ratios:
        tasks = mix(tasks, ratios, total, seed)
    else:
        random.Random(seed).shuffle(tasks)
        if total is not None:
            tasks = tasks[:total]
    train, heldout = split_heldout(tasks, eval_size, seed)

    train_path = out_dir / "train.jsonl"
    stage_paths: list[Path] = []
    if curriculum:
        stages = curriculum_stages(train, curriculum)
        train = [task for stage in stages for task in stage]
        for number, stage in enumerate(stages, start=1):
            path = out_dir / f"train.stage{number}.jsonl"
            write_jsonl(path, (t.to_row(reward, keep_prompt) for t in stage))
            stage_paths.append(path)
    write_jsonl(train_path, (t.to_row(reward, keep_prompt) for t in train))
    eval_path = None
    if heldout:
        eval_path = out_dir / "eval.jsonl"
        write_jsonl(eval_path, (t.to_row(reward, keep_prompt) for t in heldout))

    counts = {
        "train": len(train),
        "eval": len(heldout),
        "duplicates_dropped": duplicates,
        "train_by_domain": dict(Counter(t.domain for t in train)),
        "eval_by_domain": dict(Counter(t.domain for t in heldout)),
        "train_by_source": dict(Counter(t.source for t in train)),
        "stages": [sum(1 for _ in open(p)) for p in stage_paths],
        "sources": reports,
    }
    manifest = out_dir / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "counts": counts,
                "options": {
                    "sources": [{**asdict(s), "path": str(s.path) if s.path else None} for s in sources],
                    "ratios": ratios,
                    "total": total,
                    "dedup": dedup,
                    "eval_size": eval_size,
                    "curriculum": curriculum,
                    "reward": reward,
                    "keep_prompt": keep_prompt,
                    "seed": seed,
                },
            },
            indent=2,
        )
    )
    return DatasetFiles(
        train=train_path, eval=eval_path, stages=stage_paths, manifest=manifest, counts=counts
    )
