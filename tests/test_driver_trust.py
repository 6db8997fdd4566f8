"""The functional driver trusts nothing the solution says about itself.

Assert-style tests run in a trusted driver process; the solution runs in its own. The
tests' namespace comes from the label (prelude, test code) and the interpreter's own
library: a solution that forges what its functions claim to be (``__module__``,
``__qualname__``), imports something under a builtin's name, or defines a function named
like a builtin or like a module the tests use, changes nothing the asserts compute. Every
case goes through the real sandbox, and each attack's wrong code must not be paid.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from sandbox.pyharness.modules import module_uses, modules_for
from services.scoring import score_item
from trainer.data.formats.code import leetcode_prelude


def answer(code: str) -> str:
    return f"<think>.</think>\n```python\n{code}\n```"


def score(code: str, check: str, prelude: str | None = None, fn_name: str | None = None) -> dict:
    tests = {"functional": check}
    if fn_name is not None:
        tests["fn_name"] = fn_name
    label = {"domain": "code", "tests": tests}
    if prelude is not None:
        label["prelude"] = prelude
    return score_item(answer(code), label)


ADD_CHECK = "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(3, 4) == 7\ncheck(add)\n"
SIMILAR_CHECK = (  # MBPP's task 2
    "assert set(similar_elements((3, 4, 5, 6), (5, 7, 4, 10))) == set((4, 5))\n"
    "assert set(similar_elements((1, 2, 3, 4), (5, 4, 3, 7))) == set((3, 4))\n"
)
SIMILAR = "def similar_elements(a, b):\n    return tuple(set(a) & set(b))\n"


# --------------------------------------------------------------------------- forged origins


@pytest.mark.parametrize(
    "module, qualname",
    [("operator", "add"), ("_operator", "iadd"), ("numpy", "add")],
)
def test_a_forged_module_and_qualname_name_nothing_for_the_driver(module, qualname):
    # A wrong body claiming to be a standard function that computes the right answer.
    code = f"def add(a, b):\n    return 0\nadd.__module__ = {module!r}\nadd.__qualname__ = {qualname!r}\n"
    result = score(code, ADD_CHECK)
    assert result["score"] == 0.0 and "assertion failed" in result["details"]["reason"], result
    right = f"def add(a, b):\n    return a + b\nadd.__module__ = {module!r}\nadd.__qualname__ = {qualname!r}\n"
    assert score(right, ADD_CHECK)["verdict"] == "correct"


CONSTRUCTOR = r"""
#include <unistd.h>
/* Runs in whichever process loads this file: it reports the tests as completed. */
__attribute__((constructor)) static void report_completed(void) {
    static const char record[] = "{\"completed\": true}\n";
    (void) write(3, record, sizeof record - 1);
}
"""


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc to build a shared object")
def test_a_shared_object_named_by_a_forged_qualname_is_never_loaded_by_the_driver(tmp_path: Path):
    # getattr(ctypes.cdll, "/tmp/paid") would dlopen the file: its constructor would run in
    # the driver and write the completion record. (No dot in the path: a qualname is split
    # at its dots.)
    (tmp_path / "paid.c").write_text(CONSTRUCTOR)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(tmp_path / "paid.so"), str(tmp_path / "paid.c")], check=True)
    blob = (tmp_path / "paid.so").read_bytes()
    code = (
        f"with open('/tmp/paid', 'wb') as out:\n    out.write({blob!r})\n"
        "def add(a, b):\n    return 0\n"
        "add.__module__ = 'ctypes'\nadd.__qualname__ = 'cdll./tmp/paid'\n"
    )
    result = score(code, ADD_CHECK)
    assert result["score"] == 0.0, result
    # The file is a working constructor: the solution loading it itself gains nothing either.
    loads_itself = code + "import ctypes\nctypes.CDLL('/tmp/paid')\n"
    assert score(loads_itself, ADD_CHECK)["score"] == 0.0


# --------------------------------------------------------------------------- builtins and modules


@pytest.mark.parametrize(
    "code, check",
    [
        # By import alias: set() of anything is None on both sides; not_(x) is False < 1e-6.
        ("from logging import debug as set\n" + SIMILAR.replace("tuple(set(a) & set(b))", "()"), SIMILAR_CHECK),
        ("from operator import not_ as abs\ndef half(x):\n    return 7.0\n",
         "def check(candidate):\n    assert abs(candidate(1.0) - 0.5) < 1e-6\ncheck(half)\n"),
        ("from operator import truth as all\ndef evens(n):\n    return [1]\n",
         "assert all(x % 2 == 0 for x in evens(4)) and len(evens(4)) == 1\n"),
        # By definition.
        ("def set(*args):\n    return 0\ndef similar_elements(a, b):\n    return ()\n", SIMILAR_CHECK),
        ("def len(x):\n    return 3\ndef items():\n    return []\n", "assert len(items()) == 3\n"),
        ("class sorted:\n    def __init__(self, x):\n        pass\n    def __eq__(self, o):\n        return True\n"
         "def unique(xs):\n    return xs\n", "assert sorted(unique([3, 1, 3])) == [1, 3]\n"),
        ("def abs(x):\n    return 0\ndef distance(a, b):\n    return 5\n", "assert abs(distance(1, 3) - 2) < 1e-9\n"),
    ],
    ids=["import-set", "import-abs", "import-all", "def-set", "def-len", "class-sorted", "def-abs"],
)
def test_the_solution_never_shadows_a_builtin_the_asserts_use(code, check):
    result = score(code, check)
    assert result["score"] == 0.0, result


@pytest.mark.parametrize(
    "code",
    [
        # The solution's own `math` (a module alias, a class, a function) is not the test's.
        "import operator as math\ndef area(r):\n    return 0.0\n",
        "class math:\n    @staticmethod\n    def isclose(*args, **kwargs):\n        return True\ndef area(r):\n    return 0.0\n",
        "def math():\n    return 0\ndef area(r):\n    return 0.0\n",
    ],
    ids=["alias", "class", "function"],
)
def test_a_module_the_tests_use_is_the_standard_one_whatever_the_solution_names_so(code):
    check = "assert math.isclose(area(2), 12.566370614359172, rel_tol=1e-6)\n"
    assert score(code, check)["score"] == 0.0
    right = code.replace("return 0.0", "import math as m\n    return m.pi * r * r")
    assert score(right, check)["verdict"] == "correct"


def test_numpy_by_its_conventional_name_is_the_drivers():
    pytest.importorskip("numpy")
    check = "assert np.array_equal(np.array(pair()), np.array([1, 2]))\n"
    assert score("def pair():\n    return [1, 2]\n", check)["verdict"] == "correct"
    forged = "class np:\n    array = staticmethod(list)\n    array_equal = staticmethod(lambda *a: True)\n"
    assert score(forged + "def pair():\n    return [2, 1]\n", check)["score"] == 0.0


def test_a_function_named_like_a_module_the_tests_only_call_is_the_solutions():
    # TACO's tests call a solution's `time(...)`: a name only called is no module.
    code = "def time(distance, speed):\n    return distance / speed\n"
    check = "assert time(24, 12) == 2\n"
    assert score(code, check)["verdict"] == "correct"
    assert score(code.replace("distance / speed", "distance * speed"), check)["score"] == 0.0


def test_which_names_are_read_as_modules():
    source = (
        "import re\n"
        "def check(candidate):\n"
        "    assert math.isclose(candidate(2), 4.0) and re.match('a', 'a')\n"
        "    heapq = [3]\n    assert heapq.pop() == 3\n"
        "    assert [collections.Counter(x) for x in 'ab'] and time(1) and np.ones(2).sum() == 2\n"
        "check(f)\n"
    )
    assert module_uses(source) == {"math", "collections", "np"}
    assert set(modules_for(source)) >= {"math", "collections"}
    assert "math" not in modules_for(source, {"math": object()})  # the prelude's own


def test_prelude_names_stay_the_preludes():
    code = (
        "def is_same_list(a, b):\n    return True\n"
        "class Solution:\n    def reverseList(self, head):\n        return head\n"
    )
    check = "assert is_same_list(Solution().reverseList(list_node([1, 2])), list_node([2, 1]))\n"
    assert score(code, check, leetcode_prelude())["score"] == 0.0


def test_stop_iteration_from_the_solution_does_not_end_the_tests_loop():
    # Raised again in the driver inside map(), it would end the iteration: all() would hold.
    check = "assert all(map(is_even, [2, 4]))\nassert not any(map(is_even, [1, 3]))\n"
    assert score("def is_even(x):\n    raise StopIteration\n", check)["score"] == 0.0
    assert score("def is_even(x):\n    return x % 2 == 0\n", check)["verdict"] == "correct"


# --------------------------------------------------------------------------- right answers still pass


def test_modules_the_tests_use_without_importing_them():
    # MBPP's own harness shares one namespace between solution and asserts: its tests may
    # use a module only the solution imported. The driver reads those names in the test.
    code = (
        "import math, re, collections, heapq\n"
        "def area(r):\n    return math.pi * r * r\n"
        "def words(s):\n    return re.findall(r'\\w+', s)\n"
        "def count(s):\n    return collections.Counter(s)\n"
        "def smallest(xs, k):\n    return heapq.nsmallest(k, xs)\n"
    )
    check = (
        "assert math.isclose(area(2), 12.566370614359172, rel_tol=1e-9)\n"
        "assert words('a b') == re.findall(r'\\w+', 'a b')\n"
        "assert count('aab') == collections.Counter({'a': 2, 'b': 1})\n"
        "def check(candidate):\n"
        "    xs = [5, 1, 4]\n    heapq.heapify(xs)\n"
        "    assert candidate([5, 1, 4], 2) == [heapq.heappop(xs), heapq.heappop(xs)]\n"
        "check(smallest)\n"
    )
    assert score(code, check)["verdict"] == "correct"
    # A solution that imports nothing passes the same tests: the modules are the driver's.
    plain = "def area(r):\n    return 3.141592653589793 * r * r\n"
    assert score(plain, "assert math.isclose(area(2), 12.566370614359172, rel_tol=1e-9)\n")["verdict"] == "correct"


def test_mbpp_style_math_isclose():
    # MBPP's task 17-style asserts with math.isclose, the module imported only by the solution.
    code = "import math\ndef circle_circumference(r):\n    return 2 * math.pi * r\n"
    check = "assert math.isclose(circle_circumference(10), 62.83185307179586, rel_tol=0.001)\n"
    assert score(code, check)["verdict"] == "correct"
    assert score(code.replace("2 * math.pi", "3 * math.pi"), check)["score"] == 0.0


def test_a_function_named_like_a_builtin_is_the_solutions_when_the_label_names_it():
    # MBPP's task 126 asks for `sum`; its converter names the function in the label.
    check = "assert sum(10, 15) == 6\nassert sum(100, 150) == 93\nassert sum(4, 6) == 3\n"
    code = (
        "def sum(a, b):\n    total = 0\n    for i in range(1, min(a, b)):\n"
        "        if a % i == 0 and b % i == 0:\n            total += i\n    return total\n"
    )
    assert score(code, check, fn_name="sum")["verdict"] == "correct"
    assert score("def sum(a, b):\n    return 0\n", check, fn_name="sum")["score"] == 0.0
    # Unnamed, the tests' `sum` is the builtin (which cannot take two ints).
    assert score(code, check)["score"] == 0.0
    # The named one only: a builtin the asserts also use stays the builtin.
    other = code + "def abs(x):\n    return 0\n"
    assert score(other, check + "assert abs(-3) == 3\n", fn_name="sum")["verdict"] == "correct"


def test_helpers_classes_and_imported_functions_still_reach_the_tests():
    code = (
        "from math import gcd\n"
        "def lcm(a, b):\n    return a * b // gcd(a, b)\n"
        "class Stack:\n    def __init__(self):\n        self.items = []\n"
        "    def push(self, x):\n        self.items.append(x)\n        return len(self.items)\n"
    )
    check = "assert lcm(4, 6) == 12 and gcd(4, 6) == 2\ns = Stack()\nassert s.push(1) == 1 and s.push(2) == 2\n"
    assert score(code, check)["verdict"] == "correct"
