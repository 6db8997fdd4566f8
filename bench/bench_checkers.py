"""What judging by a checker costs against comparing outputs, side by side in one run.

One stdin/stdout item (a program that prints a derangement of 1..n, 20 tests) is scored
three ways: its outputs compared with the expected ones in the service (the plain way,
which cannot accept another right answer but is the baseline), judged by a Python
checker, and judged by a testlib-style C++ checker (compiled once before the rounds; the
compile is measured apart, with a fresh source each time). Rounds alternate the order;
medians of the item's wall time. The ratios say what a checker run per test adds.

Run: ``.venv/bin/python -m bench.bench_checkers`` (part of ``make bench``).
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from services.scoring import score_item

console = Console()
TESTS = 20
N = 1000
PROGRAM = "n = int(input())\nprint(*range(2, n + 1), 1)"
PYTHON_CHECKER = """\
def check(input, expected, output):
    n = int(input)
    p = [int(t) for t in output.split()]
    return sorted(p) == list(range(1, n + 1)) and all(x != i for i, x in enumerate(p, 1))
"""
CPP_CHECKER = """\
#include "testlib.h"
#include <vector>
using namespace std;
// {salt}
int main(int argc, char* argv[]) {{
    registerTestlibCmd(argc, argv);
    int n = inf.readInt();
    vector<char> seen(n + 1, 0);
    for (int i = 1; i <= n; i++) {{
        int p = ouf.readInt(1, n, "p");
        if (p == i) quitf(_wa, "p[%d] = %d is a fixed point", i, p);
        if (seen[p]++) quitf(_wa, "%d appears twice", p);
    }}
    quitf(_ok, "a derangement of %d", n);
}}
"""


def _label(checker: dict[str, str] | None) -> dict[str, Any]:
    tests = {"inputs": [f"{N - k}\n" for k in range(TESTS)],
             "outputs": [" ".join(map(str, [*range(2, N - k + 1), 1])) + "\n" for k in range(TESTS)]}  # fmt: skip
    return {"domain": "code", "tests": tests, **({"checker": checker} if checker else {})}


def _score(label: dict[str, Any]) -> float:
    response = f"```python\n{PROGRAM}\n```"
    started = time.perf_counter()
    result = score_item(response, label, layers=({"mode": "partial"},))
    elapsed = time.perf_counter() - started
    if result["verdict"] != "correct":
        raise RuntimeError(f"the bench's program was not accepted: {result}")
    return elapsed


def main(quick: bool = False) -> dict[str, Any]:
    rounds = 3 if quick else 9
    salt = time.monotonic_ns()
    labels = {
        "plain": _label(None),
        "python checker": _label({"language": "python", "source": PYTHON_CHECKER}),
        "cpp checker": _label({"language": "cpp", "source": CPP_CHECKER.format(salt=salt)}),
    }
    compiles = []
    for k in range(2 if quick else 3):  # a fresh source each time: the compile, then its runs
        fresh = _label({"language": "cpp", "source": CPP_CHECKER.format(salt=f"{salt}-{k}")})
        compiles.append(_score(fresh))
    for label in labels.values():
        _score(label)  # warm: the checker compiled, the pool's slots started
    samples: dict[str, list[float]] = {name: [] for name in labels}
    names = list(labels)
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            samples[name].append(_score(labels[name]))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    plain = medians["plain"]
    figures = {
        "tests_per_item": TESTS,
        "rounds": rounds,
        "item_ms": {name: round(value * 1000, 1) for name, value in medians.items()},
        "per_test_ms": {name: round(value * 1000 / TESTS, 2) for name, value in medians.items()},
        "first_item_with_a_fresh_cpp_checker_ms": round(statistics.median(compiles) * 1000, 1),
    }
    ratios = [
        {"name": f"checkers: {name}, an item of {TESTS} tests / plain comparison",
         "value": round(medians[name] / plain, 2),
         "baseline": f"the same item compared in the service, {plain * 1000:.0f} ms", "target": "report"}
        for name in ("python checker", "cpp checker")
    ]  # fmt: skip
    table = Table(title=f"one item of {TESTS} stdin/stdout tests, ms (medians of {rounds})")
    for column in ("judged by", "item", "per test", "/ plain"):
        table.add_column(column, justify="left" if column == "judged by" else "right")
    for name, value in medians.items():
        table.add_row(name, f"{value * 1000:.0f}", f"{value * 1000 / TESTS:.1f}", f"{value / plain:.2f}")
    console.print(table)
    console.print(
        f"a fresh C++ checker's first item (its compile included): {figures['first_item_with_a_fresh_cpp_checker_ms']:.0f} ms"
    )
    return {**figures, "ratios": ratios}


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
