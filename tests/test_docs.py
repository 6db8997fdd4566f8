"""The README's and docs/'s examples, run as a reader would type them, where they need no GPU,
Docker or network: the commands and snippets are read from the text itself and their output
is compared with the output the text shows, so a changed example (or a changed service)
breaks this test. The service is a real one, started here."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reward_client.local import RunningService, start_service, stop_service

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()
PUZZLES = (REPO / "docs" / "puzzles.md").read_text()
# What the quick start's response shows of a figure that differs run by run.
VARYING = {"latency_ms"}


def blocks(text: str, after: str) -> list[tuple[str, str]]:
    """The fenced blocks (language, body) of ``text`` that follow the heading ``after``, up
    to the next heading of the same level."""
    start = text.index(after)
    level = after.split(" ")[0]
    end = text.find(f"\n{level} ", start + len(after))
    section = text[start : end if end >= 0 else len(text)]
    return re.findall(r"```(\w*)\n(.*?)```", section, re.S)


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH"))))}


@pytest.fixture(scope="module")
def docs_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """A service of its own, so that the first answer to an example is not a cached one."""
    running = start_service(tmp_path_factory.mktemp("docs"), {"REWARD_POOL_WORKERS": "2"}, ["--no-sandbox"])
    yield running
    stop_service(running)


# --------------------------------------------------------------------------- README: quick start


def test_the_quick_start_curl_answers_what_the_readme_shows(docs_service: RunningService) -> None:
    (shell, command), (shown_as, shown) = blocks(README, "## Quick start")[:2]
    assert (shell, shown_as) == ("bash", "json") and command.lstrip().startswith("curl ")
    port = docs_service.url.rsplit(":", 1)[1]
    command = command.replace("localhost:8000", f"127.0.0.1:{port}")
    assert f"127.0.0.1:{port}" in command
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    answer, expected = json.loads(result.stdout), json.loads(shown)
    for side in (answer, expected):
        for item in side["results"]:
            assert VARYING <= set(item)
            for key in VARYING:
                del item[key]
    assert answer == expected


# --------------------------------------------------------------------------- docs/puzzles.md: reward modes

GOLD_KK = {"domain": "kk", "solution": {"Zoey": "knight", "Oliver": "knave", "Ethan": "knight"}}
GOLD_ZEBRA = {
    "domain": "zebra",
    "solution": {
        "House 1": {"Name": "Arnold", "Pet": "cat", "Drink": "tea"},
        "House 2": {"Name": "Eric", "Pet": "dog", "Drink": "milk"},
    },
}
ALL_RIGHT = "Zoey is a knight, Oliver is a knave, and Ethan is a knight."
HALF_GRID = {
    "House 1": {"Name": "Arnold", "Pet": "dog", "Drink": "milk"},
    "House 2": {"Name": "Eric", "Pet": "cat", "Drink": "milk"},
}
# The table's first column (its words) -> the response and label it stands for.
TABLE_ROWS = {
    "`<think>…</think><answer>` all 3 people right `</answer>`": (f"<think>…</think><answer>{ALL_RIGHT}</answer>", GOLD_KK),
    "2 of 3 people right": (
        "<think>…</think><answer>Zoey is a knight, Oliver is a knave, and Ethan is a knave.</answer>", GOLD_KK
    ),
    "0 of 3 right": ("<think>…</think><answer>Zoey is a knave, Oliver is a knight, and Ethan is a knave.</answer>", GOLD_KK),
    '"Zoey is a knight/knave, …" for everyone': (
        "<think>…</think><answer>Zoey is a knight/knave, Oliver is a knight/knave, and Ethan is a knight/knave"
        "</answer>",
        GOLD_KK,
    ),
    '"no idea" (no role readable)': ("<think>…</think><answer>no idea</answer>", GOLD_KK),
    "all right, but no think block": (f"<answer>{ALL_RIGHT}</answer>", GOLD_KK),
    "answer only inside `<think>`": (f"<think>{ALL_RIGHT}</think>", GOLD_KK),
    "Zebra: all 6 cells right": (f"<think>…</think><answer>{json.dumps(GOLD_ZEBRA['solution'])}</answer>", GOLD_ZEBRA),
    "Zebra: 3 of 6 cells right": (f"<think>…</think><answer>{json.dumps(HALF_GRID)}</answer>", GOLD_ZEBRA),
    "Zebra: broken JSON": ('<think>…</think><answer>{"House 1": {"Name": "Arnold",</answer>', GOLD_ZEBRA),
}


def mode_table() -> tuple[list[str], list[list[str]]]:
    start = PUZZLES.index("| response | verdict | score |")
    lines = []
    for line in PUZZLES[start:].splitlines():
        if not line.startswith("|"):
            break
        lines.append([cell.strip() for cell in line.strip("|").split("|")])
    return lines[0], lines[2:]


def test_the_puzzle_reward_mode_table_is_what_the_service_pays(docs_service: RunningService) -> None:
    header, rows = mode_table()
    modes = header[3:]
    assert modes == ["binary", "partial", "format", "rescaled", "logic-rl"]
    assert [row[0] for row in rows] == list(TABLE_ROWS)
    with httpx.Client(base_url=docs_service.url, timeout=60) as client:
        for row in rows:
            response, label = TABLE_ROWS[row[0]]
            items = [{"response": response, "label": label, "options": {"mode": mode}} for mode in modes]
            results = client.post("/v1/score", json={"items": items}).json()["results"]
            paid = {mode: round(result["reward"], 2) for mode, result in zip(modes, results, strict=True)}
            shown = {mode: float(cell) for mode, cell in zip(modes, row[3:], strict=True)}
            assert (results[0]["verdict"], round(results[0]["score"], 2), paid) == (row[1], float(row[2]), shown), row[0]


# --------------------------------------------------------------------------- docs/puzzles.md: reward gen


def test_the_reward_gen_commands_write_what_they_say(tmp_path: Path) -> None:
    """Each `reward gen` line of docs/puzzles.md, with fewer rows (--n 20) to stay quick."""
    (shell, commands), (python, snippet) = blocks(PUZZLES, "### Generating puzzles: `reward gen`")[:2]
    assert (shell, python) == ("bash", "python")
    lines = [line.split("#")[0].strip() for line in commands.splitlines() if line.strip()]
    assert len(lines) == 3 and all(line.startswith("reward gen ") for line in lines)
    for line in lines:
        argv = shlex.split(line)
        argv[argv.index("--n") + 1] = "20"
        result = subprocess.run([sys.executable, "-m", "reward_server.cli", *argv[1:]], cwd=tmp_path,
                                env=environment(), capture_output=True, text=True, timeout=120)  # fmt: skip
        assert result.returncode == 0, result.stderr
        out = argv[argv.index("--out") + 1]
        kind = argv[2]
        assert result.stderr.strip().endswith(f"wrote 20 {kind} rows to {out}")
        rows = [json.loads(row) for row in (tmp_path / out).read_text().splitlines()]
        assert len(rows) == 20 and {row["label"]["domain"] for row in rows} == {kind}

    scope: dict = {}
    exec(compile(snippet, "docs/puzzles.md", "exec"), scope)
    assert len(scope["rows"]) == 100
    assert all(len(row["label"]["solution"]) == 4 for row in scope["rows"])


# --------------------------------------------------------------------------- README: reward modes

# The README's words for a cell that is a rule rather than a number -> that rule, given the
# item's score and whether its answer is right and could be read.
RULES = {
    "fraction": lambda score, right, read: score,
    "1 if right, else 0": lambda score, right, read: 1.0 if right else 0.0,
    "as right / wrong when an answer is read, -1 if none": lambda score, right, read: (
        (1.0 if right else -1.0) if read else -1.0
    ),
}
# The columns' outcomes on the Knights-and-Knaves gold above: (response, right, read).
COLUMNS = {
    "right": [(f"<think>…</think><answer>{ALL_RIGHT}</answer>", True, True)],
    "wrong": [(TABLE_ROWS["0 of 3 right"][0], False, True)],
    "bad format": [
        (f"<answer>{ALL_RIGHT}</answer>", True, True),  # no think block
        (f"<think>{ALL_RIGHT}</think>", False, False),  # no answer outside it
    ],
}


def test_the_readme_reward_mode_table_is_what_the_service_pays(docs_service: RunningService) -> None:
    start = README.index("| mode | reward | right | wrong | bad format |")
    table = [line.strip("|").split("|") for line in README[start:].split("\n\n")[0].splitlines()[2:]]
    rows = {cells[0].strip().strip("`"): [c.strip() for c in cells[2:]] for cells in table}
    assert set(rows) == {"binary", "partial", "format", "rescaled", "logic-rl"}
    with httpx.Client(base_url=docs_service.url, timeout=60) as client:
        for mode, cells in rows.items():
            for column, cell in zip(COLUMNS, cells, strict=True):
                for response, right, read in COLUMNS[column]:
                    item = {"response": response, "label": GOLD_KK, "options": {"mode": mode}}
                    (result,) = client.post("/v1/score", json={"items": [item]}).json()["results"]
                    expected = RULES[cell](result["score"], right, read) if cell in RULES else float(cell)
                    assert result["reward"] == expected, (mode, column, response, result)


# --------------------------------------------------------------------------- make serve


def serve_recipe(variables: list[str], env: dict[str, str]) -> str:
    # A make of its own, not a sub-make of `make test` (whose directory messages it would print).
    outer = ("HOST", "PORT", "MAKEFLAGS", "MAKELEVEL", "MFLAGS")
    result = subprocess.run(["make", "--no-print-directory", "-n", "serve", "STAMP=", *variables], cwd=REPO,
                            capture_output=True, text=True,
                            env={**{k: v for k, v in os.environ.items() if k not in outer}, **env},
                            timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_make_serve_leaves_the_settings_alone_unless_host_or_port_is_given() -> None:
    """The README's settings table (REWARD_HOST, REWARD_PORT, in the environment or .env)
    holds under `make serve`; HOST=... PORT=... override it only when given."""
    assert serve_recipe([], {"REWARD_PORT": "9100"}).split() == [".venv/bin/reward", "serve"]
    assert serve_recipe(["HOST=0.0.0.0", "PORT=9000"], {"REWARD_PORT": "9100"}).split() == [
        "REWARD_HOST=0.0.0.0", "REWARD_PORT=9000", ".venv/bin/reward", "serve",
    ]  # fmt: skip
    assert serve_recipe([], {"PORT": "9001"}).split() == ["REWARD_PORT=9001", ".venv/bin/reward", "serve"]


# --------------------------------------------------------------------------- docs/clients.md: the Python client


def test_the_python_client_snippet_prints_what_its_comments_show(docs_service: RunningService, tmp_path: Path) -> None:
    """Run as written, with the service's URL for reward-host's; each `print(...)  # X` line
    must print X."""
    text = (REPO / "docs" / "clients.md").read_text()
    (language, snippet), *_ = blocks(text, "## Python client")
    assert language == "python" and "http://reward-host:8000" in snippet
    shown = [line.split("#", 1)[1].strip() for line in snippet.splitlines() if line.strip().startswith("print(")]
    assert len(shown) == 3
    script = tmp_path / "client_example.py"
    script.write_text(snippet.replace("http://reward-host:8000", docs_service.url))
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={**environment(), "REWARD_URL": docs_service.url})  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == shown


# --------------------------------------------------------------------------- docs/puzzles.md: label forms


def jsonc_objects(body: str) -> list[dict]:
    """The JSON objects of a jsonc block (``//`` comments dropped, one object over several
    lines joined); one with ``...`` in it is an outline, not an example, and is left out."""
    objects, pending = [], ""
    for line in body.splitlines():
        pending += re.sub(r"\s*//.*$", "", line)
        if pending.strip() and pending.count("{") == pending.count("}"):
            if "..." not in pending:
                objects.append(json.loads(pending))
            pending = ""
    return objects


def test_every_label_form_of_docs_puzzles_scores_the_same_answer(docs_service: RunningService) -> None:
    (language, body), *_ = blocks(PUZZLES, "### Labels")
    assert language == "jsonc"
    labels = jsonc_objects(body)
    answers = {
        "kk": "<think>…</think><answer>(1) Zoey is a knight\n(2) Oliver is a knave</answer>",
        "zebra": '<think>…</think><answer>{"House 1": {"Name": "Arnold", "Pet": "cat"}, '
        '"House 2": {"Name": "Bob", "Pet": "dog"}}</answer>',
    }
    heroes = "<think>…</think><answer>(1) Zoey is a hero\n(2) Oliver is a villain</answer>"
    assert [label["domain"] for label in labels] == ["kk"] * 7 + ["zebra"] * 2
    items = [{"response": heroes if label.get("roles") == ["hero", "villain"] else answers[label["domain"]],
              "label": label} for label in labels]  # fmt: skip
    with httpx.Client(base_url=docs_service.url, timeout=60) as client:
        results = client.post("/v1/score", json={"items": items}).json()["results"]
    assert [(r["verdict"], r["score"]) for r in results] == [("correct", 1.0)] * len(labels), results


# --------------------------------------------------------------------------- README: details.reason


def test_details_reason_is_there_as_the_readme_says(docs_service: RunningService) -> None:
    """A reason for what was not read or scored less than 1, except a math answer that was
    read and is simply not the gold one: that one shows what was read."""
    assert "with one exception: a math answer that was read and is simply not the\ngold answer has no reason" in README
    math = {"domain": "math", "answer": "4"}
    items = [
        {"response": "<think>…</think> \\boxed{5}", "label": math},  # read, not the gold
        {"response": "<think>it is 4</think>", "label": math},  # nothing read
        {"response": TABLE_ROWS["2 of 3 people right"][0], "label": GOLD_KK},
        {"response": TABLE_ROWS["Zebra: broken JSON"][0], "label": GOLD_ZEBRA},
    ]
    with httpx.Client(base_url=docs_service.url, timeout=60) as client:
        wrong_math, unread, partial, broken = client.post("/v1/score", json={"items": items}).json()["results"]
    assert wrong_math["verdict"] == "wrong" and "reason" not in wrong_math["details"]
    assert wrong_math["details"]["extracted"] == "5"
    for result in (unread, partial, broken):
        assert result["verdict"] != "correct" and result["details"]["reason"], result


# --------------------------------------------------------------------------- docs/sandbox.md: the API


def test_the_sandbox_api_snippet_runs(tmp_path: Path) -> None:
    """As written, in a process of its own with one slot; then what it reads is printed."""
    (language, snippet), *_ = blocks((REPO / "docs" / "sandbox.md").read_text(), "## API")
    assert language == "python"
    statuses = re.search(r"result\.status\s+# (.+)", snippet).group(1).split(" | ")
    script = tmp_path / "sandbox_example.py"
    script.write_text(snippet + "\nprint(repr(str(result.status)), repr(result.stdout), pool.size)\npool.close()\n")
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=180,
                            env={**environment(), "REWARD_SANDBOX_WORKERS": "1"})  # fmt: skip
    assert result.returncode == 0, result.stderr
    status, stdout, size = result.stdout.strip().splitlines()[-1].split(" ")
    assert "ok" in statuses and (status, stdout, size) == ("'ok'", "'cba\\n'", "1")
