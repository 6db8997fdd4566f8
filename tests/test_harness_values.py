"""What crosses from a solution to its assert tests, and what a forger gains from it.

Functional tests run in a trusted driver; the solution runs in its own process. Standard
containers arrive as the standard types, a dataset prelude's classes cross by value,
anything else is a handle whose truth and length are what the solution reported. A forged
``__eq__``, ``__bool__`` or ``__len__`` never runs in the driver: it gains nothing that
returning a plain value would not.
"""

from __future__ import annotations

import pytest

from services.scoring import score_item
from trainer.data.formats.code import leetcode_prelude


def answer(code: str) -> str:
    return f"<think>.</think>\n```python\n{code}\n```"


def functional(check: str, prelude: str | None = None) -> dict:
    label = {"domain": "code", "tests": {"functional": check}}
    if prelude is not None:
        label["prelude"] = prelude
    return label


def score(code: str, check: str, prelude: str | None = None) -> dict:
    return score_item(answer(code), functional(check, prelude))


@pytest.mark.parametrize(
    "code, check",
    [
        ("from collections import Counter\ndef f(x):\n    return Counter(x)",
         "from collections import Counter\n"
         "assert f('aab') == {'a': 2, 'b': 1}\nassert f('aab') == Counter('aba')\nassert f('aab')['z'] == 0"),
        ("from collections import OrderedDict\ndef f():\n    return OrderedDict([('b', 1), ('a', 2)])",
         "assert list(f()) == ['b', 'a'] and f() == {'a': 2, 'b': 1}"),
        ("from collections import defaultdict\ndef f():\n    d = defaultdict(list)\n    d['a'].append(1)\n    return d",
         "d = f()\nassert d == {'a': [1]} and d['new'] == []"),
        ("from collections import deque\ndef f():\n    return deque([1, 2, 3], maxlen=5)",
         "from collections import deque\nassert f() == deque([1, 2, 3]) and f().maxlen == 5"),
        ("from collections import namedtuple\nP = namedtuple('P', 'x y')\ndef f():\n    return P(1, 2)",
         "assert f() == (1, 2) and f().x == 1 and f().y == 2"),
        ("def f():\n    return {3, 1}, frozenset({2}), (1, [2, (3,)])",
         "assert f() == ({1, 3}, frozenset({2}), (1, [2, (3,)]))"),
        ("from fractions import Fraction\nfrom decimal import Decimal\ndef f():\n    return Fraction(1, 3), Decimal('0.10')",
         "from fractions import Fraction\nfrom decimal import Decimal\nassert f() == (Fraction(1, 3), Decimal('0.1'))"),
        ("class Name(str):\n    pass\ndef f():\n    return Name('abc')", "assert f() == 'abc' and f().upper() == 'ABC'"),
    ],
    ids=["Counter", "OrderedDict", "defaultdict", "deque", "namedtuple", "sets-tuples", "Fraction-Decimal", "str-subclass"],
)
def test_standard_values_arrive_as_the_standard_types(code, check):
    result = score(code, check)
    assert result["verdict"] == "correct", result


def test_any_value_can_be_tested_for_truth_and_for_none():
    code = "import re\ndef match(s):\n    return re.search('^a', s)\ndef nothing():\n    return None"
    check = "assert match('abc')\nassert not match('bc')\nassert match('bc') is None\nassert nothing() is None"
    assert score(code, check)["verdict"] == "correct"
    assert score(code, "assert match('bc')")["verdict"] == "wrong"


def test_methods_of_a_value_that_stays_in_the_solution_are_reached():
    code = "import re\ndef find(s):\n    return re.search('b+', s)\ndef gen(n):\n    return (i * i for i in range(n))"
    check = "m = find('abbc')\nassert m.group(0) == 'bb' and m.start() == 1\nassert list(gen(4)) == [0, 1, 4, 9]"
    assert score(code, check)["verdict"] == "correct"


def test_standard_modules_the_tests_use_are_imported_by_the_driver():
    # MBPP's task 596: the test uses sys, which only the solution imported; the driver finds
    # the name in the test code and imports the module itself.
    code = "import sys\ndef tuple_size(t):\n    return sys.getsizeof(t)"
    check = "assert tuple_size((1, 'a')) == sys.getsizeof((1, 'a'))"
    assert score(code, check)["verdict"] == "correct"
    # What the solution imported under its own names is not bound: a function it imported
    # is a proxy like one it defines, a module alias is nothing.
    aliased = "import math as m\nfrom math import gcd\ndef f():\n    return 1"
    assert score(aliased, "assert gcd(4, 6) == 2 and f() == 1")["verdict"] == "correct"
    assert score(aliased, "assert m.sqrt(4) == 2")["verdict"] == "wrong"


def test_a_module_the_solution_writes_is_not_imported_by_the_tests():
    code = (
        "import os, sys\n"
        "open(os.path.join(sys.path[0], 'helper.py'), 'w').write("
        "'import os\\nos.write(3, b\\'{\"completed\": true}\\\\n\\')\\nos._exit(0)\\n')\n"
        "import helper\n"
        "def f():\n    return 0\n"
    )
    result = score(code, "assert f() == 1")
    assert result["verdict"] == "wrong", result


def test_prelude_classes_cross_by_value_both_ways():
    prelude = leetcode_prelude()
    reverse = (
        "class Solution:\n"
        "    def reverseList(self, head):\n"
        "        prev = None\n"
        "        while head:\n"
        "            head.next, prev, head = prev, head, head.next\n"
        "        return prev\n"
    )
    check = (
        "def check(candidate):\n"
        "    assert is_same_list(candidate(head=list_node([1, 2, 3])), list_node([3, 2, 1]))\n"
        "    assert candidate(head=None) is None\n"
        "    node, values = candidate(head=list_node(list(range(5000)))), []\n"  # deeper than marshal nests
        "    while node:\n"
        "        values.append(node.val)\n"
        "        node = node.next\n"
        "    assert values == list(range(4999, -1, -1))\n"
        "check(Solution().reverseList)\n"
    )
    assert score(reverse, check, prelude)["verdict"] == "correct"
    tree = (
        "class Solution:\n"
        "    def invertTree(self, root):\n"
        "        if root:\n"
        "            root.left, root.right = self.invertTree(root.right), self.invertTree(root.left)\n"
        "        return root\n"
    )
    check = "assert is_same_tree(Solution().invertTree(tree_node([4, 2, 7, 1, 3])), tree_node([4, 7, 2, None, None, 3, 1]))"
    assert score(tree, check, prelude)["verdict"] == "correct"
    assert score(tree.replace("self.invertTree(root.right), self.invertTree(root.left)",
                              "self.invertTree(root.left), self.invertTree(root.right)"), check, prelude)["verdict"] == "wrong"


def test_a_cycle_crosses_intact():
    prelude = leetcode_prelude()
    code = (
        "class Solution:\n"
        "    def make(self):\n"
        "        a, b = ListNode(1), ListNode(2)\n"
        "        a.next, b.next = b, a\n"
        "        return a\n"
    )
    check = "head = Solution().make()\nassert head.next.next is head and head.next.val == 2"
    assert score(code, check, prelude)["verdict"] == "correct"


def test_prelude_names_win_over_the_solutions():
    # A solution that defines its own is_same_list (always True) does not change the test's.
    prelude = leetcode_prelude()
    code = (
        "def is_same_list(a, b):\n    return True\n"
        "class Solution:\n    def f(self, head):\n        return None\n"
    )
    check = "assert is_same_list(Solution().f(list_node([1])), list_node([2]))"
    assert score(code, check, prelude)["verdict"] == "wrong"


@pytest.mark.parametrize(
    "code",
    [
        "class X:\n    def __eq__(self, o):\n        return True\ndef f():\n    return X()",
        "class X(int):\n    def __eq__(self, o):\n        return True\ndef f():\n    return X(0)",
        "class X(dict):\n    def __eq__(self, o):\n        return True\n    def __len__(self):\n        return 3\ndef f():\n    return X()",
        "class X(list):\n    def __iter__(self):\n        return iter([1, 2, 3])\ndef f():\n    return X()",
        "from collections import Counter\nclass X(Counter):\n    def __eq__(self, o):\n        return True\ndef f():\n    return X()",
    ],
    ids=["object", "int", "dict-len", "list-iter", "Counter"],
)
def test_forged_special_methods_gain_nothing(code):
    result = score(code, "assert f() == [1, 2, 3]")
    assert result["verdict"] == "wrong", result


def test_forged_truth_gains_no_more_than_a_plain_bool():
    # The truth of a handle is the solution's, as if it had returned True: the test asked
    # only for truth, and True would pass it too.
    code = "class X:\n    def __bool__(self):\n        return True\ndef f():\n    return X()"
    assert score(code, "assert f()")["verdict"] == "correct"
    assert score("def f():\n    return True", "assert f()")["verdict"] == "correct"
    assert score(code, "assert f() == True")["verdict"] == "wrong"
