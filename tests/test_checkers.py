"""Checkers: problems with several right answers, judged by the label's own program.

Each problem here has outputs that are right but differ from the jury's: a derangement
(any permutation without fixed points), a perfect matching of a bipartite graph (any
valid one) and a real number (within an absolute or relative error). Right outputs score
1 and wrong ones 0 with both checker forms (a Python ``check`` and a testlib-style C++
checker compiled against our header); plain comparison would have scored the right ones
0. Checkers that fail (loop, crash, do not compile, try to leave their sandbox) give the
item ``error``, and the next item scores as usual.
"""

from __future__ import annotations

import os
import socket

import pytest

from services.domains.code.compare import Tolerance, outputs_match
from services.scoring import score_item


def answer(code: str) -> str:
    return f"Here it is.\n```python\n{code}\n```\n"


def label(tests: dict, checker: dict | None = None, **extra) -> dict:
    return {"domain": "code", "tests": tests, **({"checker": checker} if checker else {}), **extra}


def python_checker(source: str, **limits) -> dict:
    return {"language": "python", "source": source, **limits}


def cpp_checker(source: str, **limits) -> dict:
    return {"language": "cpp", "source": source, **limits}


PARTIAL = ({"mode": "partial"},)

# --------------------------------------------------------------------------- a derangement

DERANGEMENT = {"inputs": ["3\n", "4\n", "5\n"], "outputs": ["2 3 1\n", "2 1 4 3\n", "2 3 4 5 1\n"]}
ROTATE_RIGHT = "n = int(input())\nprint(n, *range(1, n))"  # right, never the jury's output
IDENTITY = "n = int(input())\nprint(*range(1, n + 1))"  # every element fixed: wrong
REPEATS = "n = int(input())\nprint(*([2, 1] * n)[:n])"  # no fixed point, not a permutation

DERANGEMENT_PY = """\
def check(input, expected, output):
    n = int(input)
    try:
        p = [int(t) for t in output.split()]
    except ValueError:
        return False
    return sorted(p) == list(range(1, n + 1)) and all(x != i for i, x in enumerate(p, 1))
"""
DERANGEMENT_CPP = """\
#include "testlib.h"
#include <vector>
using namespace std;

int main(int argc, char* argv[]) {
    registerTestlibCmd(argc, argv);
    int n = inf.readInt();
    vector<int> seen(n + 1, 0);
    for (int i = 1; i <= n; i++) {
        int p = ouf.readInt(1, n, format("p[%d]", i));
        if (p == i) quitf(_wa, "p[%d] = %d is a fixed point", i, p);
        if (seen[p]++) quitf(_wa, "%d appears twice", p);
    }
    quitf(_ok, "a derangement of %d", n);
}
"""


@pytest.mark.parametrize(
    "checker", [python_checker(DERANGEMENT_PY), cpp_checker(DERANGEMENT_CPP)], ids=["python", "cpp"]
)
def test_any_derangement_is_right(checker):
    plain = score_item(answer(ROTATE_RIGHT), label(DERANGEMENT))
    assert plain["verdict"] == "wrong"  # what byte comparison said of a right program
    right = score_item(answer(ROTATE_RIGHT), label(DERANGEMENT, checker))
    assert (right["verdict"], right["score"], right["reward"]) == ("correct", 1.0, 1.0), right
    assert right["details"]["passed"] == 3
    for wrong_code in (IDENTITY, REPEATS):
        wrong = score_item(answer(wrong_code), label(DERANGEMENT, checker), layers=PARTIAL)
        assert (wrong["verdict"], wrong["score"], wrong["reward"]) == ("wrong", 0.0, 0.0), wrong
        assert wrong["details"]["first_failure"]["status"] == "wrong_output"


# --------------------------------------------------------------------------- a perfect matching

# n, m, then m edges (left u, right v), 1-based; a perfect matching exists. The jury's
# answer is one matching (right vertex of each left one); any other is as good.
MATCHING = {
    "inputs": ["2 4\n1 1\n1 2\n2 1\n2 2\n", "3 6\n1 1\n1 2\n2 2\n2 3\n3 3\n3 1\n"],
    "outputs": ["2 1\n", "1 2 3\n"],
}
MATCHING_OTHER = """\
n, m = map(int, input().split())
edges = [tuple(map(int, input().split())) for _ in range(m)]
match = {}
def augment(u, seen):
    for a, b in reversed(edges):  # the last edges first: another matching than the jury's
        if a == u and b not in seen:
            seen.add(b)
            if b not in match or augment(match[b], seen):
                match[b] = u
                return True
    return False
for u in range(1, n + 1):
    augment(u, set())
print(*[next(b for b, a in match.items() if a == u) for u in range(1, n + 1)])
"""
MATCHING_NOT_AN_EDGE = "n, m = map(int, input().split())\nprint(*range(n, 0, -1))"

MATCHING_PY = """\
def check(input, expected, output):
    lines = input.split("\\n")
    n, m = map(int, lines[0].split())
    edges = {tuple(map(int, line.split())) for line in lines[1:m + 1]}
    got = output.split()
    if len(got) != n or not all(t.isdigit() for t in got):
        return 0.0, "wrong number of vertices"
    right = [int(t) for t in got]
    if len(set(right)) != n:
        return 0.0, "a right vertex is matched twice"
    return all((u, v) in edges for u, v in enumerate(right, 1))
"""
MATCHING_CPP = """\
#include "testlib.h"
#include <set>
#include <utility>
using namespace std;

int main(int argc, char* argv[]) {
    registerTestlibCmd(argc, argv);
    int n = inf.readInt(), m = inf.readInt();
    set<pair<int, int>> edges;
    for (int i = 0; i < m; i++) {
        int u = inf.readInt(), v = inf.readInt();
        edges.insert({u, v});
    }
    set<int> used;
    for (int u = 1; u <= n; u++) {
        int v = ouf.readInt(1, n, "v");
        if (!edges.count({u, v})) quitf(_wa, "(%d, %d) is not an edge", u, v);
        if (!used.insert(v).second) quitf(_wa, "right vertex %d matched twice", v);
    }
    for (int u = 1; u <= n; u++) ans.readInt(1, n, "jury");  // the jury's answer is well formed
    quitf(_ok, "a perfect matching");
}
"""


@pytest.mark.parametrize(
    "checker", [python_checker(MATCHING_PY), cpp_checker(MATCHING_CPP)], ids=["python", "cpp"]
)
def test_any_perfect_matching_is_right(checker):
    right = score_item(answer(MATCHING_OTHER), label(MATCHING, checker))
    assert right["verdict"] == "correct", right
    assert score_item(answer(MATCHING_OTHER), label(MATCHING))["verdict"] == "wrong"
    wrong = score_item(answer(MATCHING_NOT_AN_EDGE), label(MATCHING, checker), layers=PARTIAL)
    assert wrong["verdict"] in ("wrong", "partial") and wrong["score"] < 1, wrong
    assert score_item(answer("print('x')"), label(MATCHING, checker))["verdict"] == "wrong"


# --------------------------------------------------------------------------- a real number

ROOT = {"inputs": ["2\n", "1e10\n", "0.0001\n"], "outputs": ["1.41421356237\n", "100000\n", "0.01\n"]}
ROOT_RIGHT = "import math\nprint(f'{math.sqrt(float(input())):.9f}')"  # other digits, within 1e-6
ROOT_SLOPPY = "import math\nprint(f'{math.sqrt(float(input())):.2f}')"  # 1.41: off by 4e-3
ROOT_CPP = """\
#include "testlib.h"
using namespace std;

int main(int argc, char* argv[]) {
    registerTestlibCmd(argc, argv);
    double jury = ans.readDouble();
    double got = ouf.readDouble();
    if (!doubleCompare(jury, got, 1e-6))
        quitf(_wa, "expected %.9f, found %.9f (error %.3g)", jury, got, doubleDelta(jury, got));
    quitf(_ok, "%.9f", got);
}
"""
ROOT_PY = """\
def check(input, expected, output):
    a, b = float(output), float(expected)
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))
"""


def test_absolute_or_relative_rule_compares_reals():
    rule = Tolerance(1e-6, "abs_or_rel")
    assert outputs_match("100000.05\n", "100000\n", rule)  # relative to the expected value
    assert not outputs_match("100000.5\n", "100000\n", rule)
    assert outputs_match("0.0000004\n", "0\n", rule)  # absolute near zero
    assert outputs_match("YES 2.0000001\n", "YES 2\n", rule)
    assert not outputs_match("NO 2\n", "YES 2\n", rule)  # other tokens exactly
    assert not outputs_match("inf\n", "1e400\n", rule) and not outputs_match("nan\n", "nan1\n", rule)
    assert not outputs_match("1_000\n", "1000\n", rule)  # what Python reads as a number, statements do not
    absolute = Tolerance(1e-2, "absolute")
    assert outputs_match("100.005\n", "100\n", absolute) and not outputs_match("100.05\n", "100\n", absolute)


@pytest.mark.parametrize(
    "extra",
    [
        {"float_tolerance": 1e-6, "float_rule": "abs_or_rel"},
        {"checker": cpp_checker(ROOT_CPP)},
        {"checker": python_checker(ROOT_PY)},
    ],
    ids=["abs_or_rel", "cpp", "python"],
)
def test_a_real_answer_within_the_error_is_right(extra):
    assert score_item(answer(ROOT_RIGHT), label(ROOT))["verdict"] == "wrong"
    right = score_item(answer(ROOT_RIGHT), label(ROOT, **extra))
    assert right["verdict"] == "correct", right
    sloppy = score_item(answer(ROOT_SLOPPY), label(ROOT, **extra), layers=PARTIAL)
    assert sloppy["score"] < 1 and sloppy["details"]["passed"] < 3, sloppy


# --------------------------------------------------------------------------- partial points

HALF_FOR_SORTED = {"inputs": ["3 1 2\n", "5 4\n"], "outputs": ["1 2 3\n", "4 5\n"]}
POINTS_CPP = """\
#include "testlib.h"
#include <vector>
#include <algorithm>
using namespace std;

int main(int argc, char* argv[]) {
    registerTestlibCmd(argc, argv);
    vector<long long> want, got;
    while (!ans.seekEof()) want.push_back(ans.readLong());
    while (!ouf.seekEof()) got.push_back(ouf.readLong());
    if (got == want) quitf(_ok, "sorted");
    vector<long long> a = got, b = want;
    sort(a.begin(), a.end());
    if (a == b) quitp(0.5, "the right numbers in the wrong order");
    quitf(_wa, "other numbers");
}
"""
POINTS_PY = """\
def check(input, expected, output):
    if output.split() == expected.split():
        return True
    if sorted(output.split()) == sorted(expected.split()):
        return 0.5, "the right numbers in the wrong order"
    return False
"""
SORTED = "print(*sorted(map(int, input().split())))"
UNSORTED = "print(input())"


@pytest.mark.parametrize(
    "checker", [python_checker(POINTS_PY), cpp_checker(POINTS_CPP)], ids=["python", "cpp"]
)
def test_points_flow_into_partial_rewards(checker):
    full = score_item(answer(SORTED), label(HALF_FOR_SORTED, checker), layers=PARTIAL)
    assert (full["verdict"], full["reward"]) == ("correct", 1.0)
    half = score_item(answer(UNSORTED), label(HALF_FOR_SORTED, checker), layers=PARTIAL)
    assert (half["verdict"], half["score"], half["reward"]) == ("partial", 0.5, 0.5), half
    assert half["details"]["points"] == 1.0 and half["details"]["passed"] == 0
    assert "wrong order" in half["details"]["first_failure"]["reason"]
    binary = score_item(answer(UNSORTED), label(HALF_FOR_SORTED, checker))
    assert binary["reward"] == 0.0
    rescaled = score_item(answer(UNSORTED), label(HALF_FOR_SORTED, checker), layers=({"mode": "rescaled"},))
    assert rescaled["reward"] == 0.0  # 0.5 mapped to [-1, 1]


def test_testlib_partially_correct_result_counts_its_percent():
    checker = cpp_checker('#include "testlib.h"\nint main(int c, char** v) { registerTestlibCmd(c, v); '
                          'while (!ouf.seekEof()) ouf.readToken(); quitf(_pc(25), "a quarter"); }')  # fmt: skip
    result = score_item(answer(SORTED), label(HALF_FOR_SORTED, checker), layers=PARTIAL)
    assert (result["verdict"], result["score"]) == ("partial", 0.25), result


# --------------------------------------------------------------------------- checkers that fail

ONE = {"inputs": ["1\n"], "outputs": ["1\n"]}
GOOD = "print(input())"
SAME_NUMBER_CPP = """\
#include "testlib.h"
int main(int argc, char* argv[]) {
    registerTestlibCmd(argc, argv);
    long long jury = ans.readLong(), got = ouf.readLong();
    if (jury != got) quitf(_wa, "expected %lld, found %lld", jury, got);
    quitf(_ok, "%lld", got);
}
"""


def _host_listener() -> tuple[socket.socket, int]:
    """A port on the host that a checker must not reach."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    return listener, listener.getsockname()[1]


def failing_checkers(tmp_path) -> dict[str, tuple[dict, str]]:
    """name -> (checker, what its error says)."""
    here = os.path.abspath(__file__)
    return {
        "python loops": (python_checker("def check(i, e, o):\n    while True:\n        pass\n", time_limit_s=1), "timeout"),
        "python sleeps": (python_checker("import time\ndef check(i, e, o):\n    time.sleep(60)\n", time_limit_s=1), "timeout"),
        "python crashes": (python_checker("def check(i, e, o):\n    return 1 / 0\n"), "ZeroDivisionError"),
        "python gives 2": (python_checker("def check(i, e, o):\n    return 2\n"), "not a score in [0, 1]"),
        "python gives text": (python_checker("def check(i, e, o):\n    return 'yes'\n"), "not a bool or a number"),
        "python has no check": (python_checker("def judge(i, e, o):\n    return True\n"), "defines no check"),
        "python reads the host": (python_checker(f"def check(i, e, o):\n    return bool(open({here!r}).read())\n"), "FileNotFoundError"),
        "python writes the host": (
            python_checker(f"def check(i, e, o):\n    open({str(tmp_path / 'escaped')!r}, 'w').write(o)\n    return True\n"),
            "Error",
        ),
        "python connects": (
            python_checker("import socket\ndef check(i, e, o):\n    socket.create_connection(('127.0.0.1', PORT), timeout=2)\n    return True\n"),
            "Error",
        ),
        "cpp loops": (cpp_checker('#include "testlib.h"\nint main(int c, char** v) { registerTestlibCmd(c, v); volatile long x = 0; for (;;) x++; }', time_limit_s=1), "timeout"),
        "cpp crashes": (cpp_checker('#include "testlib.h"\nint main(int c, char** v) { registerTestlibCmd(c, v); volatile int* p = nullptr; return *p; }'), "SIGSEGV"),
        "cpp fails": (cpp_checker('#include "testlib.h"\nint main(int c, char** v) { registerTestlibCmd(c, v); quitf(_fail, "jury answer is broken"); }'), "jury answer is broken"),
        "cpp ensure": (cpp_checker('#include "testlib.h"\nint main(int c, char** v) { registerTestlibCmd(c, v); ensuref(inf.readInt() > 5, "n too small"); quitf(_ok, ""); }'), "n too small"),
        "cpp bad answer file": (cpp_checker('#include "testlib.h"\nint main(int c, char** v) { registerTestlibCmd(c, v); ans.readToken(); ans.readInt(); quitf(_ok, ""); }'), "answer file"),
        "cpp does not compile": (cpp_checker('#include "testlib.h"\nint main() { return undeclared; }'), "did not compile"),
        "cpp exits oddly": (cpp_checker("int main() { return 42; }"), "exited with code 42"),
    }  # fmt: skip


def test_failing_checkers_give_error_and_the_next_item_scores(tmp_path):
    listener, port = _host_listener()
    try:
        for name, (checker, says) in failing_checkers(tmp_path).items():
            checker = {**checker, "source": checker["source"].replace("PORT", str(port))}
            result = score_item(answer(GOOD), label(ONE, checker), layers=PARTIAL)
            assert result["verdict"] == "error", (name, result)
            assert result["reward"] == 0.0 and result["score"] == 0.0
            assert result["details"]["reason"].startswith("checker on test 0: "), (name, result)
            assert says in result["details"]["reason"], (name, result["details"]["reason"])
            after = score_item(
                answer(GOOD), label(ONE, python_checker("def check(i, e, o):\n    return o == e\n"))
            )
            assert after["verdict"] == "correct", name
            assert (
                score_item(answer(GOOD), label(ONE, cpp_checker(SAME_NUMBER_CPP)))["verdict"] == "correct"
            ), name
        assert not (tmp_path / "escaped").exists()
        listener.settimeout(0)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing reached the host's port
    finally:
        listener.close()


def test_a_checker_is_for_stdio_tests_only():
    functional = {"functional": "assert f() == 1", "fn_name": None}
    result = score_item(answer("def f():\n    return 1"), label(functional, python_checker(ROOT_PY)))
    assert result["verdict"] == "error" and "stdin/stdout" in result["details"]["reason"]
    bad = score_item(answer(GOOD), label(ONE, {"language": "java", "source": "class C {}"}))
    assert bad["verdict"] == "error" and "checker" in bad["details"]["reason"]


def test_a_failing_program_never_reaches_the_checker():
    result = score_item(
        answer("raise SystemExit(3)"), label(ONE, python_checker("def check(i, e, o):\n    return True\n"))
    )
    assert result["verdict"] == "wrong" and result["details"]["first_failure"]["status"] == "runtime_error"


# --------------------------------------------------------------------------- over HTTP


def test_score_and_reward_take_checker_labels(client):
    checked = label(DERANGEMENT, cpp_checker(DERANGEMENT_CPP))
    items = [
        {"response": answer(ROTATE_RIGHT), "label": checked},
        {"response": answer(IDENTITY), "label": checked},
        {
            "response": answer(GOOD),
            "label": label(ONE, python_checker("def check(i, e, o):\n    raise RuntimeError('broken')\n")),
        },
        {"response": answer(ROTATE_RIGHT), "label": label(DERANGEMENT, python_checker(DERANGEMENT_PY))},
    ]
    results = client.post("/v1/score", json={"items": items}).json()["results"]
    assert [r["verdict"] for r in results] == ["correct", "wrong", "error", "correct"], results
    assert "RuntimeError: broken" in results[2]["details"]["reason"]
    import json

    prompt = "Print a derangement.\n"
    reply = client.post(
        "/reward",
        json={"query": [prompt + answer(ROTATE_RIGHT), prompt + answer(IDENTITY)], "prompts": [prompt, prompt],
              "labels": [json.dumps(checked), checked]},
    ).json()  # fmt: skip
    assert reply["rewards"] == [1.0, 0.0] and reply["scores"] == [1.0, 0.0]
    schema = client.get("/openapi.json").json()["components"]["schemas"]["ScoreItem"]["properties"]["label"]
    assert "checker" in schema["description"] and any("checker" in example for example in schema["examples"])
    assert client.get("/healthz").status_code == 200


# --------------------------------------------------------------------------- converters


def test_converters_read_tolerances_and_checkers_from_the_dataset():
    from trainer.data.formats.code import convert_coder1
    from trainer.data.formats.judging import accepts_any_answer, tolerance_from_statement

    assert tolerance_from_statement("The absolute error or the relative error must be at most 10^{-9}.") == {
        "float_tolerance": 1e-9, "float_rule": "abs_or_rel"}  # fmt: skip
    assert tolerance_from_statement("correct if its absolute or relative error does not exceed 10 - 6.") == {
        "float_tolerance": 1e-6, "float_rule": "abs_or_rel"}  # fmt: skip
    assert tolerance_from_statement("an absolute error less than 1.5 \\cdot 10^{-5}") == {
        "float_tolerance": 1.5e-5, "float_rule": "absolute"}  # fmt: skip
    assert tolerance_from_statement("Print the answer modulo 10^9+7.") is None
    assert accepts_any_answer("If there are multiple answers, print any of them.")
    assert not accepts_any_answer("If there are several solutions, print the lexicographically minimal one.")

    def row(statement: str, truth: dict) -> dict:
        return {"prompt": [{"role": "user", "content": statement}], "reward_model": {"ground_truth": truth},
                "extra_info": {"dataset": "likaixin/TACO-verified"}}  # fmt: skip

    stdio = {"inputs": ["2\n"], "outputs": ["1.4142135\n"]}
    statement = "Print sqrt(n). Your answer is right if its absolute or relative error is at most 10^{-6}."
    label = convert_coder1(row(statement, stdio)).label
    assert (label["float_tolerance"], label["float_rule"]) == (1e-6, "abs_or_rel")
    assert score_item(answer(ROOT_RIGHT), label)["verdict"] == "correct"
    shipped = convert_coder1(row("Print any derangement.", {**DERANGEMENT, "checker": DERANGEMENT_CPP})).label
    assert (
        shipped["checker"] == {"language": "cpp", "source": DERANGEMENT_CPP}
        and "float_tolerance" not in shipped
    )
    assert score_item(answer(ROTATE_RIGHT), shipped)["verdict"] == "correct"
    call = convert_coder1(row(statement, {"fn_name": "f", "inputs": [[2]], "outputs": [1.4142135]})).label
    assert "float_tolerance" not in call  # call-based values are compared as numbers already
