"""``python -m bench.realgens.build DATA``: the corpus files from the raw sources under ``DATA/raw``.

Writes ``DATA/corpus/<source>.jsonl`` (one generation a line: ``id``, ``source``, ``domain``,
``model``, ``problem``, ``prompt``, ``response``, ``label``, ``expected``) and
``DATA/corpus/SOURCES.md`` (each source's repository, commit, path, licence and row counts).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.realgens.sources import GAME24_PUZZLES, SOURCES, TOT, corpus_rows, missing


def build(data: Path) -> dict[str, int]:
    out = data / "corpus"
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    lines = [
        "# Real generations: sources",
        "",
        "| source | domain | model | rows | source says right | repository @ commit | path | licence |",
        "|---|---|---|---:|---:|---|---|---|",
    ]
    for source in SOURCES:
        rows = corpus_rows(data, source)
        counts[source.name] = len(rows)
        with (out / f"{source.name}.jsonl").open("w") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        url = f"https://github.com/{source.repo.replace('+', '/')}"
        lines.append(
            f"| {source.name} | {source.domain} | {source.model} | {len(rows)} | "
            f"{sum(r['expected'] for r in rows)} | {url} @ {source.commit[:12]} | `{source.upstream}` | "
            f"{source.licence} |"
        )
    lines += [
        "",
        f"Game of 24's puzzles: `{GAME24_PUZZLES[1]}` of https://github.com/{TOT.replace('+', '/')}.",
        "",
    ]
    (out / "SOURCES.md").write_text("\n".join(lines))
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.realgens.build", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("data", type=Path)
    args = parser.parse_args(argv)
    lacking = missing(args.data)
    if lacking:
        print(f"missing under {args.data}: {', '.join(lacking)}", file=sys.stderr)
        return 2
    for name, n in build(args.data).items():
        print(f"{name}: {n} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
