"""Which fenced block is the program when an answer has several (issue 22): the block
that defines what the tests call, not an example-usage block after it."""

from __future__ import annotations

from services.domains.code import extract_code
from services.domains.code.blocks import called_names
from services.scoring import score_item

SOLUTION = "def mul3(a, b, c):\n    return a * b * c\n"
USAGE = "print(mul3(2, 3, 4))\n"
CHECK = "def check(candidate):\n    assert candidate(2, 3, 4) == 24\n    assert candidate(1, 5, 0) == 0\ncheck(mul3)\n"


def with_usage(solution: str = SOLUTION, usage: str = USAGE) -> str:
    return f"Here it is:\n```python\n{solution}```\nExample usage:\n```python\n{usage}```\nThis prints 24."


def test_the_tests_call_names_come_from_the_entry_point_and_the_test_code():
    assert called_names("mul3", None) == {"mul3"}
    names = called_names(None, CHECK)
    assert "mul3" in names and "check" not in names and "assert" not in names and "candidate" in names


def test_the_block_defining_what_the_tests_call_is_the_program():
    assert extract_code(with_usage(), "python", frozenset({"mul3"})) == (SOLUTION, True)
    # Without names to look for (stdin/stdout tests), the last block, as before.
    assert extract_code(with_usage(), "python") == (USAGE, True)
    # A class whose method is the entry point defines it too.
    leet = "class Solution:\n    def mul3(self, a, b, c):\n        return a * b * c\n"
    usage = "s = Solution()\nprint(s.mul3(2, 3, 4))\n"
    assert extract_code(with_usage(leet, usage), "python", frozenset({"mul3"})) == (leet, True)
    # A later block that redefines it wins: the model's last word on the function.
    fixed = "def mul3(a, b, c):\n    return a * (b * c)\n"
    text = with_usage() + f"\nA cleaner version:\n```python\n{fixed}```"
    assert extract_code(text, "python", frozenset({"mul3"})) == (fixed, True)


def test_functional_tests_run_the_solution_block_not_the_usage_block():
    label = {"domain": "code", "tests": {"functional": CHECK}}
    result = score_item(with_usage(), label)
    assert result["verdict"] == "correct", result
    wrong = with_usage("def mul3(a, b, c):\n    return a * b + c\n")
    assert score_item(wrong, label)["verdict"] == "wrong"


def test_call_based_tests_run_the_solution_block_not_the_usage_block():
    label = {
        "domain": "code",
        "tests": {"fn_name": "mul3", "inputs": [[2, 3, 4], [1, 5, 0]], "outputs": [24, 0]},
    }
    assert score_item(with_usage(), label)["verdict"] == "correct"
    assert score_item(with_usage(usage="def mul3(a, b, c):\n    return 0\n"), label)["verdict"] == "wrong"


def test_stdin_stdout_runs_the_last_block():
    program = "a, b, c = map(int, input().split())\nprint(a * b * c)\n"
    label = {"domain": "code", "tests": {"inputs": ["2 3 4\n"], "outputs": ["24\n"]}}
    assert score_item(f"```python\n{program}```", label)["verdict"] == "correct"
    # A second block after the program is what runs: the answer's last program is its answer.
    assert score_item(f"```python\n{program}```\nTry:\n```python\nprint(1)\n```", label)["verdict"] == "wrong"


def test_a_right_program_slower_than_the_time_limit_is_not_paid():
    # The limit is part of the problem, as on a judge; the label's time_limit_s is the knob.
    slow = "a, b, c = map(int, input().split())\nx = 0\nfor i in range(6_000_000):\n    x += i\nprint(a * b * c)\n"
    tests = {"inputs": ["2 3 4\n"], "outputs": ["24\n"]}
    result = score_item(f"```python\n{slow}```", {"domain": "code", "tests": tests, "time_limit_s": 0.1})
    assert result["verdict"] == "timeout" and result["reward"] == 0.0
    assert (
        score_item(f"```python\n{slow}```", {"domain": "code", "tests": tests, "time_limit_s": 30})["verdict"]
        == "correct"
    )
