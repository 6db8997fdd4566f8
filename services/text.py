"""Text that is not Unicode, found where a request comes in.

A JSON ``\\uXXXX`` escape may spell a lone UTF-16 surrogate (``"\\ud800"``): the parser
turns it into a Python string that no UTF-8 encoder accepts, so it would fail much later,
wherever the text is hashed, serialised, written to a program's stdin or compiled. Every
text field is checked once at the edge instead: a field of a request that cannot be
scored without it is a 422 naming the field; a field of one item of a batch makes that
item an ``error`` naming the field (:func:`services.scoring.decode_item`), and the rest
of the batch is scored.
"""

from __future__ import annotations

from typing import Any


def lone_surrogate(text: str) -> int | None:
    """The offset of the first lone surrogate in ``text``, or None when it is valid Unicode."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def printable(text: str) -> str:
    """``text`` with each lone surrogate written as its escape (``\\ud800``), safe to echo."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _problem(text: str, where: str, what: str = "") -> str | None:
    at = lone_surrogate(text)
    if at is None:
        return None
    return f"{where}{what} contains a lone surrogate (U+{ord(text[at]):04X}) at offset {at}: not valid Unicode text"


def _all_text_valid(value: Any) -> bool:
    """Whether every text in ``value`` is valid Unicode: the common case, answered without
    naming places (most text is ASCII, which needs no encoding to tell)."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str:
            if not item.isascii() and lone_surrogate(item) is not None:
                return False
        elif kind is dict:
            for key in item:
                if type(key) is str and not key.isascii() and lone_surrogate(key) is not None:
                    return False
            stack.extend(item.values())
        elif kind is list or kind is tuple:
            stack.extend(item)
        elif kind not in _SCALARS and isinstance(item, _TEXT_HOLDERS):  # subclasses: the careful walk below
            return False
    return True


_SCALARS = frozenset({type(None), bool, int, float})
_TEXT_HOLDERS = (str, dict, list, tuple)


def undecodable(value: Any, name: str) -> str | None:
    """Why ``value`` (a JSON value: text, or lists and objects holding text) is not valid
    Unicode, naming the place (``label.tests.inputs[3]``); None when it all is."""
    if _all_text_valid(value):
        return None
    stack: list[tuple[Any, str]] = [(value, name)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, str):
            problem = _problem(value, where)
            if problem is not None:
                return problem
        elif isinstance(value, dict):
            for key in value:
                problem = _problem(key, where, f" key '{printable(key)}'") if isinstance(key, str) else None
                if problem is not None:
                    return problem
            stack.extend((item, f"{where}.{key}") for key, item in reversed(value.items()))
        elif isinstance(value, list | tuple):
            stack.extend((item, f"{where}[{i}]") for i, item in reversed(list(enumerate(value))))
    return None


def require_decodable(value: Any, name: str) -> Any:
    """``value`` unchanged, or a ValueError naming the place that is not Unicode (for
    pydantic validators: the request gets a 422)."""
    problem = undecodable(value, name)
    if problem is not None:
        raise ValueError(problem)
    return value
