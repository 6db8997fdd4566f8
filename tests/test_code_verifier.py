"""The code verifier end to end through score_item: extraction, three test styles, modes, C++."""

from __future__ import annotations

import pytest

from services.domains.code import extract_code
from services.domains.code.compare import outputs_match, values_match
from services.scoring import score_item


def answer(code: str, tag: str = "python") -> str:
    return f"I will solve it.\n```{tag}\n{code}\n```\n"


SUM_STDIO = {"inputs": ["1 2\n", "3 4\n", "10 -3\n"], "outputs": ["3\n", "7", "7\n\n"]}
ADD_CALL = {"fn_name": "add", "inputs": [[1, 2], [3, 4], [10, -3]], "outputs": [3, [7], 7]}
ADD_CHECK = "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(3, 4) == 7\ncheck(add)\n"


def code_label(tests: dict, **extra) -> dict:
    return {"domain": "code", "tests": tests, **extra}


# --------------------------------------------------------------------------- pure helpers


def test_extract_prefers_the_last_block_tagged_with_the_language():
    text = "```python\nfirst\n```\n```text\nnot code\n```\n```py\nsecond\n```\n```\nuntagged\n```"
    assert extract_code(text, "python") == ("second\n", True)
    assert extract_code("```\nonly\n```", "python") == ("only\n", True)
    assert extract_code("no fence here", "python") == (None, False)


def test_output_comparison_folds_white_space_and_ignores_blank_lines():
    assert outputs_match("1 2  \n\n3\n\n", "1 2\n3")
    assert outputs_match("1  2\n3", "1 2\n3") and outputs_match("0\n", "          0\n")  # white space folded, as TACO's checker does
    assert not outputs_match("12\n3", "1 2\n3") and not outputs_match("1\n2 3", "1 2\n3")
    assert not outputs_match("0.3333", "0.333333")
    assert outputs_match("0.3333", "0.333333", float_tolerance=1e-3)
    assert not outputs_match("0.4", "0.333333", float_tolerance=1e-3)


def test_value_comparison_is_on_plain_data():
    assert values_match([1, [2.0000000001]], [1, [2.0]])
    assert not values_match(True, 1)
    assert not values_match("1", 1)


# --------------------------------------------------------------------------- stdin/stdout


def test_stdio_correct_solution_scores_one():
    code = "a, b = map(int, input().split())\nprint(a + b)"
    result = score_item(answer(code), code_label(SUM_STDIO))
    assert (result["verdict"], result["score"], result["reward"]) == ("correct", 1.0, 1.0)
    assert result["details"]["passed"] == 3


def test_stdio_partial_mode_reports_the_fraction_and_binary_stops_early():
    code = "a, b = map(int, input().split())\nprint(a + b if a < 5 else 0)"
    partial = score_item(answer(code), code_label(SUM_STDIO), layers=({"mode": "partial"},))
    assert partial["verdict"] == "partial" and partial["score"] == pytest.approx(2 / 3)
    assert partial["reward"] == pytest.approx(2 / 3)
    code_first_fails = "a, b = map(int, input().split())\nprint(0 if a == 1 else a + b)"
    binary = score_item(answer(code_first_fails), code_label(SUM_STDIO))
    assert binary["reward"] == 0.0 and binary["details"]["first_failure"]["test"] == 0
    assert binary["details"]["passed"] == 0  # stopped at the first failing test


def test_stdio_float_tolerance_from_the_label():
    label = code_label({"inputs": ["3\n"], "outputs": ["0.333333\n"]}, float_tolerance=1e-4)
    assert score_item(answer("print(round(1 / int(input()), 5))"), label)["score"] == 1.0
    strict = code_label({"inputs": ["3\n"], "outputs": ["0.333333\n"]})
    assert score_item(answer("print(round(1 / int(input()), 5))"), strict)["score"] == 0.0


def test_float_tolerance_is_a_declared_label_field():
    from services.domains.code import CodeLabel
    from services.labels import parse_label

    label = parse_label(code_label({"inputs": ["3\n"], "outputs": ["0.3\n"]}, float_tolerance=0.5))
    assert isinstance(label, CodeLabel) and label.float_tolerance == 0.5
    assert "float_tolerance" in CodeLabel.model_fields
    negative = code_label({"inputs": ["3\n"], "outputs": ["0.3\n"]}, float_tolerance=-1)
    result = score_item(answer("print(0.3)"), negative)
    assert result["verdict"] == "error" and "float_tolerance" in result["details"]["reason"], result


def test_expected_output_never_enters_the_sandbox():
    # The program can only see its stdin; it prints everything it can find.
    code = "import sys, os\nprint(sys.stdin.read(), os.listdir('.'), sys.argv)"
    label = code_label({"inputs": ["question\n"], "outputs": ["very-secret-expected-output"]})
    result = score_item(answer(code), label)
    assert result["verdict"] == "wrong"


def test_timeout_verdict_when_the_program_times_out():
    label = code_label(SUM_STDIO, time_limit_s=0.5)
    result = score_item(answer("while True:\n    pass"), label)
    assert result["verdict"] == "timeout" and result["reward"] == 0.0


def test_runtime_and_syntax_errors_are_wrong_with_a_reason():
    crash = score_item(answer("raise ValueError('boom')"), code_label(SUM_STDIO))
    assert crash["verdict"] == "wrong" and "ValueError" in crash["details"]["reason"]
    syntax = score_item(answer("def broken(:\n    pass"), code_label(SUM_STDIO))
    assert syntax["verdict"] == "wrong" and "compile_error" in syntax["details"]["reason"]


def test_a_response_without_a_code_block_is_a_format_error_and_never_runs():
    for mode in ("binary", "partial", "format"):
        unfenced = score_item("a, b = map(int, input().split())\nprint(a + b)", code_label(SUM_STDIO),
                              layers=({"mode": mode},))
        assert unfenced["verdict"] == "format_error", mode
        assert unfenced["details"]["reason"] == "no code block in the answer"
        assert "elapsed_ms" not in unfenced["details"]  # the verifier stopped before any sandbox run


# --------------------------------------------------------------------------- call-based


def test_call_based_compares_return_values_in_the_parent():
    result = score_item(answer("def add(a, b):\n    return a + b"), code_label(ADD_CALL))
    assert result["verdict"] == "correct", result


def test_call_based_leetcode_class_solution():
    code = "class Solution:\n    def add(self, a, b):\n        return a + b"
    assert score_item(answer(code), code_label(ADD_CALL))["verdict"] == "correct"


def test_call_based_partial_with_a_per_test_timeout_then_recovery():
    code = "def add(a, b):\n    if a == 3:\n        while True:\n            pass\n    return a + b"
    result = score_item(answer(code), code_label(ADD_CALL, time_limit_s=0.5), layers=({"mode": "partial"},))
    assert result["score"] == pytest.approx(2 / 3), result  # the test after the timeout still ran
    assert result["details"]["first_failure"]["status"] == "timeout"


def test_call_based_forged_equality_scores_zero():
    code = "class Any:\n    def __eq__(self, other):\n        return True\ndef add(a, b):\n    return Any()"
    assert score_item(answer(code), code_label(ADD_CALL))["score"] == 0.0


# --------------------------------------------------------------------------- functional


def test_functional_assert_style():
    assert score_item(answer("def add(a, b):\n    return a + b"), code_label({"functional": ADD_CHECK}))["score"] == 1.0
    wrong = score_item(answer("def add(a, b):\n    return a * b"), code_label({"functional": ADD_CHECK}))
    assert wrong["verdict"] == "wrong" and "assertion failed" in wrong["details"]["reason"]


@pytest.mark.parametrize(
    "code",
    [
        "import sys\nsys.exit(0)",
        "import os\ndef add(a, b):\n    os._exit(0)",
        "import atexit, os\natexit.register(lambda: os._exit(0))\ndef add(a, b):\n    exit(0)",
    ],
)
def test_functional_exit_tricks_fail(code):
    assert score_item(answer(code), code_label({"functional": ADD_CHECK}))["score"] == 0.0


def test_functional_timeout_verdict():
    code = "def add(a, b):\n    while True:\n        pass"
    result = score_item(answer(code), code_label({"functional": ADD_CHECK}, time_limit_s=0.5))
    assert result["verdict"] == "timeout"


TWO_SUM_CHECK = (
    "def check(candidate):\n"
    "    assert candidate([2, 7, 11, 15], 9) == [0, 1]\n"
    "    assert candidate([3, 2, 4], 6) == [1, 2]\n"
    "check(Solution().twoSum)\n"
)
TWO_SUM = """
class Solution:
    def twoSum(self, nums, target):
        seen = {}
        for i, n in enumerate(nums):
            if target - n in seen:
                return [seen[target - n], i]
            seen[n] = i
"""


def test_functional_leetcode_class_solution_method():
    result = score_item(answer(TWO_SUM), code_label({"functional": TWO_SUM_CHECK}))
    assert (result["verdict"], result["score"]) == ("correct", 1.0), result


def test_functional_leetcode_class_solution_wrong_answer_fails():
    code = "class Solution:\n    def twoSum(self, nums, target):\n        return [0, 0]\n"
    result = score_item(answer(code), code_label({"functional": TWO_SUM_CHECK}))
    assert result["verdict"] == "wrong" and "assertion failed" in result["details"]["reason"], result


def test_functional_leetcode_method_returning_forged_equality_fails():
    code = (
        "class Anything(list):\n"
        "    def __eq__(self, other):\n        return True\n"
        "class Solution:\n"
        "    def twoSum(self, nums, target):\n        return Anything()\n"
    )
    result = score_item(answer(code), code_label({"functional": TWO_SUM_CHECK}))
    # The list subclass arrives as the plain list it holds ([]); its __eq__ never runs.
    assert result["score"] == 0.0 and "assertion failed" in result["details"]["reason"], result


def test_functional_design_class_state_lives_in_the_solution_process():
    # LeetCode "design" problems: the tests build an object and drive it through its methods.
    check = (
        "stack = MinStack()\n"
        "stack.push(3)\nstack.push(1)\nstack.push(2)\n"
        "assert stack.getMin() == 1 and stack.size == 3\n"
        "stack.pop()\nstack.pop()\n"
        "assert stack.getMin() == 3\n"
        "assert MinStack.describe() == 'min stack'\n"
    )
    code = """
class MinStack:
    def __init__(self):
        self.items = []
        self.size = 0
    def push(self, x):
        self.items.append(min(x, self.items[-1]) if self.items else x)
        self.size += 1
    def pop(self):
        self.items.pop()
        self.size -= 1
    def getMin(self):
        return self.items[-1]
    @staticmethod
    def describe():
        return 'min stack'
"""
    assert score_item(answer(code), code_label({"functional": check}))["score"] == 1.0
    broken = code.replace("min(x, self.items[-1]) if self.items else x", "x")
    assert score_item(answer(broken), code_label({"functional": check}))["score"] == 0.0


def test_functional_class_proxies_compare_by_identity_and_report_truth():
    # Objects of the solution go back to it as arguments; in the driver they equal only
    # themselves, and their truth is what the solution reported, no more than a plain bool.
    code = ("class Box:\n    def __eq__(self, other):\n        return True\n"
            "    def same(self, other):\n        return self is other\n"
            "def make():\n    return Box()\n")
    same = "a = Box()\nassert a.same(a) and not a.same(Box())\n"
    assert score_item(answer(code), code_label({"functional": same}))["score"] == 1.0
    forged = "assert make() == 42\n"
    assert score_item(answer(code), code_label({"functional": forged}))["score"] == 0.0


# --------------------------------------------------------------------------- C++

CPP_SUM = "#include <iostream>\nint main() { long a, b; std::cin >> a >> b; std::cout << a + b << std::endl; }"


def test_cpp_stdio_is_compiled_once_and_run_per_test():
    result = score_item(answer(CPP_SUM, "cpp"), code_label(SUM_STDIO, language="cpp"))
    assert result["verdict"] == "correct", result


def test_cpp_compile_error_and_crash():
    bad = score_item(answer("int main( {", "cpp"), code_label(SUM_STDIO, language="cpp"))
    assert bad["verdict"] == "wrong" and "compile_error" in bad["details"]["reason"]
    crash = "#include <cstdlib>\nint main() { int *p = nullptr; return *p; }"
    assert score_item(answer(crash, "cpp"), code_label(SUM_STDIO, language="cpp"))["verdict"] == "wrong"


def test_unknown_language_is_an_error():
    result = score_item(answer("x", "cobol"), code_label(SUM_STDIO, language="cobol"))
    assert result["verdict"] == "error" and "unknown language" in result["details"]["reason"]
