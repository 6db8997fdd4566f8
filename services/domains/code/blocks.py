"""Which fenced block of an answer is the program, when there are several.

Models often follow a solution with a second block of example usage
(``print(add(1, 2))``); run alone, that block fails every test. With functional or
call-based tests the label says what the tests call (its ``fn_name``, the names its
test code uses), so the program is the last block that defines one of them; without such
a block, or for stdin/stdout tests, the last block.
"""

from __future__ import annotations

import builtins
import keyword
import re

_DEFINES = re.compile(
    r"^[ \t]*(?:async[ \t]+)?(?:def|class)[ \t]+([A-Za-z_]\w*)|^([A-Za-z_]\w*)[ \t]*(?::[^=\n]*)?=(?!=)", re.M
)
_NAME = re.compile(r"[A-Za-z_]\w*")
_COMMON = frozenset(dir(builtins)) | frozenset(keyword.kwlist)


def defined_names(code: str) -> set[str]:
    """Functions, classes and top-level variables a block defines."""
    return {m.group(1) or m.group(2) for m in _DEFINES.finditer(code)}


def called_names(fn_name: str | None, functional: str | None) -> frozenset[str]:
    """What the tests call the solution by: the entry point, and the names the test code
    uses without defining them itself (builtins and keywords aside)."""
    names = {fn_name} if fn_name else set()
    if functional:
        names |= set(_NAME.findall(functional)) - defined_names(functional) - _COMMON
    return frozenset(names)


def pick_block(blocks: list[str], names: frozenset[str]) -> str:
    """The last block defining one of ``names``; the last block when none does."""
    if names and len(blocks) > 1:
        for code in reversed(blocks):
            if defined_names(code) & names:
                return code
    return blocks[-1]
