"""Which data a run trains on: the files given, the public datasets, or the generators.

A domain's config lists the source ``formats`` it takes and, under ``hub``, the ones whose
public dataset is fetched (:mod:`trainer.data.hub`) when no file is given for them. A
``generate`` table (``data.generate={kk = 8000}``, or ``SOURCES="gen:kk=8000"``) puts the
offline generators in place of the download for the formats they cover.

A dry run never downloads: a dataset already in the cache is used, one that is not is
reported as what a real run would fetch, and the command is printed all the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trainer.data.build import DataSpecError, SourceSpec
from trainer.data.hub import PUBLIC_DATASETS, PublicDataset, cached_files, fetch

ANY_DOMAIN_FORMATS = ("verl",)
"""Formats every domain takes besides its own: a veRL file names each row's source
(``data_source``), which says the row's domain, so no domain's list needs to name it.
Given one, a run trains on the files given and downloads nothing for the other formats."""

GENERATOR_FOR_FORMAT = {"countdown": "countdown", "kk": "kk", "zebralogic": "zebra", "lpb": "zebra"}
"""A file format and the generator that stands in for it when asked to."""


@dataclass
class SourcePlan:
    sources: list[SourceSpec] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pending: list[PublicDataset] = field(default_factory=list)
    """Public datasets a real run would download (dry runs only)."""


def plan_sources(config: dict[str, Any], given: list[SourceSpec], *, dry_run: bool = False) -> SourcePlan:
    """The sources of a run: the files given, generators asked for, public datasets for the rest."""
    data = config.get("data", {})
    formats: list[str] = list(data.get("formats", []))
    hub: list[str] = [f for f in data.get("hub", []) if f in formats]
    generate: dict[str, int] = dict(data.get("generate", {}))
    taken = [*formats, *(f for f in ANY_DOMAIN_FORMATS if f not in formats)]
    unused = [s for s in given if s.kind not in taken and not s.kind.startswith("gen:")]
    if unused:
        raise DataSpecError(
            f"--source {', '.join(s.kind for s in unused)} is not used by this domain (it takes {', '.join(taken)})"
        )
    plan = SourcePlan(sources=list(given))
    given_kinds = {s.kind for s in given}
    generated: set[str] = {s.kind[4:] for s in given if s.kind.startswith("gen:")}
    verl_given = any(s.kind in ANY_DOMAIN_FORMATS for s in given)
    for fmt in formats:
        if fmt in given_kinds:
            continue
        if verl_given:
            # the veRL files are the data this run was given: nothing is fetched beside them
            plan.notes.append(f"{fmt}: no file of its own; the veRL file(s) given stand in")
            continue
        generator = GENERATOR_FOR_FORMAT.get(fmt)
        if generator and generator in generated:
            continue  # a generator already given (or planned) stands in for this format
        if generator and generator in generate:
            plan.sources.append(SourceSpec(kind=f"gen:{generator}", count=int(generate[generator])))
            generated.add(generator)
            plan.notes.append(f"{fmt}: generating {generate[generator]} {generator} tasks offline")
        elif fmt in hub:
            dataset = PUBLIC_DATASETS[fmt]
            files = cached_files(dataset) if dry_run else fetch(dataset)
            if files is None:
                plan.pending.append(dataset)
                plan.notes.append(
                    f"{fmt}: {dataset.name} is not in the cache; a real run downloads it ({dataset.where})"
                )
                continue
            plan.sources.extend(SourceSpec(kind=fmt, path=path) for path in files)
            plan.notes.append(
                f"{fmt}: {dataset.name} from {dataset.where} ({len(files)} file(s) in the cache)"
            )
        else:
            plan.notes.append(f'{fmt}: no file given (SOURCES="{fmt}=FILE"); left out')
    if not plan.sources and not plan.pending:
        raise DataSpecError(
            "no training data: this domain needs "
            + " or ".join(f'SOURCES="{f}=FILE"' for f in formats)
            + ' (or a generator: SOURCES="gen:kk=N gen:zebra=N gen:countdown=N")'
        )
    return plan
