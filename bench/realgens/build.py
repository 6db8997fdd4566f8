"""``python -m bench.realgens.build DATA``: the corpus files from the raw sources under ``DATA/raw``.

``--from-clones DIR`` first lays out ``DATA/raw`` from git clones of the source repositories
under DIR (each as ``DIR/<owner>+<name>`` or ``DIR/<name>``), taking every file at the
commit the sources name, so the corpus is the same wherever it is built.

Writes ``DATA/corpus/<source>.jsonl`` (one generation a line: ``id``, ``source``, ``domain``,
``model``, ``problem``, ``prompt``, ``response``, ``label``, ``expected``) and
``DATA/corpus/SOURCES.md`` (each source's repository, commit, path, licence and row counts).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from bench.realgens.readers import corpus_rows
from bench.realgens.sources import GAME24_PUZZLES, SOURCES, TOT, missing, raw_path


def from_clones(clones: Path, data: Path) -> list[str]:
    """Copy each source file out of its clone at the named commit; what could not be found."""
    wanted = [(s.repo, s.commit, s.upstream, raw_path(data, s)) for s in SOURCES]
    puzzles_commit = next(s.commit for s in SOURCES if s.repo == TOT)
    wanted.append((TOT, puzzles_commit, GAME24_PUZZLES[1], data / "raw" / TOT / GAME24_PUZZLES[0]))
    problems = []
    for repo, commit, upstream, target in wanted:
        clone = next((c for c in (clones / repo, clones / repo.split("+", 1)[1]) if c.is_dir()), None)
        if clone is None:
            problems.append(f"no clone of {repo.replace('+', '/')} under {clones}")
            continue
        shown = subprocess.run(["git", "-C", str(clone), "show", f"{commit}:{upstream}"], capture_output=True)
        if shown.returncode != 0:
            problems.append(
                f"{repo.replace('+', '/')}@{commit[:12]}:{upstream}: {shown.stderr.decode().strip()}"
            )
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(shown.stdout)
    return sorted(set(problems))


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
    parser.add_argument(
        "--from-clones", type=Path, default=None, help="git clones of the source repositories"
    )
    args = parser.parse_args(argv)
    if args.from_clones is not None:
        for problem in from_clones(args.from_clones, args.data):
            print(problem, file=sys.stderr)
    lacking = missing(args.data)
    if lacking:
        print(f"missing under {args.data}: {', '.join(lacking)}", file=sys.stderr)
        return 2
    for name, n in build(args.data).items():
        print(f"{name}: {n} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
