"""Values crossing the pipe between the trusted driver and the untrusted candidate.

Plain builtin data (None, bool, int, float, complex, str, bytes and lists, tuples, dicts,
sets of them) crosses as it is (``marshal``). Everything else is encoded here into plain
tagged tuples and rebuilt on the other side *by that side's own code*, so nothing the
candidate defines (a forged ``__eq__``, ``__bool__`` or ``__len__``) ever runs in the
driver:

- the standard containers and their subclasses arrive as the standard types: Counter,
  OrderedDict, defaultdict (with a builtin default factory), deque, namedtuple, and
  subclasses of list, tuple, dict, set, frozenset, int, float, str and bytes as their base
  type (read with the base type's own methods, not the subclass's), Fraction, Decimal;
- instances of the classes a dataset's *prelude* defines (LeetCode's ListNode and
  TreeNode) cross by value, as a graph of their attributes (cycles and long chains
  included), and are rebuilt as instances of the receiving side's own prelude classes;
- any other value the candidate returns stays in the candidate and reaches the driver as
  a handle (:class:`sandbox.pyharness.proxies.RemoteObject`): its truth and length are
  what the candidate reported, it equals only itself, and its attributes and methods
  are reached through the pipe. That gains a forged object nothing a plain value (True,
  a number) would not give.

Encoded form: ``("enc", root, table)``; ``table[i] = (class_name, [(attr, node), ...])``
for the i-th prelude object, and a node is one of ``("v", plain)``, ``(kind, payload)``
for the container kinds below, ``("obj", i)``, ``("handle", number, type_name, truth,
length)`` (candidate to driver) or ``("remote", number)`` (driver to candidate).
"""

from __future__ import annotations

import collections
import decimal
import fractions
from collections.abc import Callable
from typing import Any

PLAIN_TYPES = (type(None), bool, int, float, complex, str, bytes, tuple, list, dict, set, frozenset)
_SCALARS = (type(None), bool, int, float, complex, str, bytes)
MAX_DEPTH = 200
MAX_OBJECTS = 1_000_000
_FACTORIES = {t.__name__: t for t in (int, float, str, list, dict, set, tuple, bool, bytes)}


class NotPlainData(TypeError):
    """A value that is neither plain data nor one of the kinds that cross by value."""


def check_plain(value: Any, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise NotPlainData("value nested too deeply")
    kind = type(value)
    if kind not in PLAIN_TYPES:
        raise NotPlainData(f"{kind.__name__} is not plain data")
    if kind in (tuple, list, set, frozenset):
        for item in value:
            check_plain(item, depth + 1)
    elif kind is dict:
        for key, item in value.items():
            check_plain(key, depth + 1)
            check_plain(item, depth + 1)


def is_plain(value: Any) -> bool:
    try:
        check_plain(value)
    except (NotPlainData, RecursionError):
        return False
    return True


class Encoder:
    """Encodes values on one side. ``classes`` maps the prelude's classes to their names;
    ``hold`` (candidate side) keeps a value that cannot cross and returns
    ``(number, truth, length)``; ``remote_number`` (driver side) gives the number of a
    handle the driver passes back, or None for any other object."""

    def __init__(
        self,
        classes: dict[type, str],
        hold: Callable[[Any], tuple[int, bool | None, int | None]] | None = None,
        remote_number: Callable[[Any], int | None] | None = None,
    ) -> None:
        self.classes = classes
        self.hold = hold
        self.remote_number = remote_number
        self.table: list[Any] = []
        self._numbers: dict[int, int] = {}
        self._pending: list[tuple[int, Any]] = []

    def encode(self, value: Any) -> tuple[Any, ...]:
        root = self._node(value, 0)
        while self._pending:  # prelude objects, breadth first: a long list is not deep
            index, obj = self._pending.pop()
            attrs = [(name, self._node(item, 0)) for name, item in _attributes(obj)]
            self.table[index] = (self.table[index][0], attrs)
        return ("enc", root, self.table)

    def _prelude_name(self, value: Any) -> str | None:
        for klass in type(value).__mro__:
            name = self.classes.get(klass)
            if name is not None:
                return name
        return None

    def _node(self, value: Any, depth: int) -> tuple[Any, ...]:
        if depth > MAX_DEPTH:
            raise NotPlainData("value nested too deeply")
        kind = type(value)
        if kind in _SCALARS:
            return ("v", value)
        down = depth + 1
        if kind is list or kind is tuple or kind is set or kind is frozenset:
            return (kind.__name__, [self._node(v, down) for v in value])
        if kind is dict:
            return ("dict", [(self._node(k, down), self._node(v, down)) for k, v in value.items()])
        if self.remote_number is not None:
            number = self.remote_number(value)
            if number is not None:
                return ("remote", number)
        prelude = self._prelude_name(value)
        if prelude is not None:
            return ("obj", self._object(value, prelude))
        standard = self._standard(value, down)
        if standard is not None:
            return standard
        if self.hold is None:
            raise NotPlainData(f"{kind.__name__} is not plain data")
        number, truth, length = self.hold(value)
        return ("handle", number, kind.__name__[:100], truth, length)

    def _object(self, value: Any, class_name: str) -> int:
        index = self._numbers.get(id(value))
        if index is None:
            if len(self.table) >= MAX_OBJECTS:
                raise NotPlainData("too many objects")
            index = len(self.table)
            self._numbers[id(value)] = index
            self.table.append((class_name, []))
            self._pending.append((index, value))
        return index

    def _standard(self, value: Any, down: int) -> tuple[Any, ...] | None:
        """The standard library's value types and subclasses of the builtins, read with the
        base types' own methods (a subclass's overrides are never called)."""
        node = self._node
        if isinstance(value, collections.Counter):
            return ("Counter", [(node(k, down), node(v, down)) for k, v in dict.items(value)])
        if isinstance(value, collections.OrderedDict):
            return ("OrderedDict", [(node(k, down), node(v, down)) for k, v in dict.items(value)])
        if isinstance(value, collections.defaultdict):
            factory = value.default_factory
            name = factory.__name__ if factory in _FACTORIES.values() else None
            return ("defaultdict", [name, [(node(k, down), node(v, down)) for k, v in dict.items(value)]])
        if isinstance(value, collections.deque):
            return ("deque", [[node(v, down) for v in collections.deque.__iter__(value)], value.maxlen])
        if isinstance(value, tuple) and hasattr(type(value), "_fields"):
            fields = [f for f in type(value)._fields if isinstance(f, str)]
            return ("namedtuple", [type(value).__name__, fields, [node(v, down) for v in tuple.__iter__(value)]])
        if isinstance(value, fractions.Fraction):
            return ("Fraction", [int(value.numerator), int(value.denominator)])
        if isinstance(value, decimal.Decimal):
            return ("Decimal", decimal.Decimal.__str__(value))
        for base in (int, float, complex, str, bytes):
            if isinstance(value, base):
                return ("v", _base_value(base, value))
        for base in (list, tuple, set, frozenset):
            if isinstance(value, base):
                return (base.__name__, [node(v, down) for v in base.__iter__(value)])
        if isinstance(value, dict):
            return ("dict", [(node(k, down), node(v, down)) for k, v in dict.items(value)])
        return None


def _base_value(base: type, value: Any) -> Any:
    if base is int:
        return int.__index__(value)
    if base is float:
        return float.__float__(value)
    if base is complex:
        return complex(complex.real.__get__(value), complex.imag.__get__(value))
    if base is str:
        return str.__str__(value)
    return bytes(memoryview(value))


def _attributes(obj: Any) -> list[tuple[str, Any]]:
    try:
        state = object.__getattribute__(obj, "__dict__")
    except AttributeError:
        return []
    return [(k, v) for k, v in dict.items(state) if type(k) is str]


_namedtuples: dict[tuple[str, tuple[str, ...]], type] = {}


def _namedtuple(name: str, fields: list[str]) -> type:
    key = (name, tuple(fields))
    made = _namedtuples.get(key)
    if made is None:
        made = collections.namedtuple(name if name.isidentifier() else "Result", fields, rename=True)
        _namedtuples[key] = made
    return made


class Decoder:
    """Rebuilds encoded values with this side's own types. ``classes`` maps prelude class
    names to this side's classes; ``handle`` makes the driver's stand-in for a held value;
    ``remote`` (candidate side) returns the held object of a number."""

    def __init__(
        self,
        classes: dict[str, type],
        handle: Callable[[int, str, bool | None, int | None], Any] | None = None,
        remote: Callable[[int], Any] | None = None,
    ) -> None:
        self.classes = classes
        self.handle = handle
        self.remote = remote
        self.objects: list[Any] = []

    def decode(self, encoded: Any) -> Any:
        if type(encoded) is not tuple or len(encoded) != 3 or encoded[0] != "enc" or type(encoded[2]) is not list:
            raise NotPlainData("malformed value")
        _, root, table = encoded
        if len(table) > MAX_OBJECTS:
            raise NotPlainData("too many objects")
        for entry in table:  # every object first, so attributes can point at any of them
            if type(entry) is not tuple or len(entry) != 2 or type(entry[0]) is not str:
                raise NotPlainData("malformed object")
            klass = self.classes.get(entry[0])
            if klass is None:
                raise NotPlainData(f"{entry[0]!r} is not a class of the prelude")
            self.objects.append(klass.__new__(klass))
        for obj, (_, attrs) in zip(self.objects, table, strict=True):
            if type(attrs) is not list:
                raise NotPlainData("malformed object")
            state = {}
            for pair in attrs:
                if type(pair) is not tuple or len(pair) != 2 or type(pair[0]) is not str:
                    raise NotPlainData("malformed attribute")
                state[pair[0]] = self._node(pair[1], 0)
            obj.__dict__.update(state)
        return self._node(root, 0)

    def _node(self, node: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise NotPlainData("value nested too deeply")
        if type(node) is not tuple or not node or type(node[0]) is not str:
            raise NotPlainData("malformed value")
        kind, down = node[0], depth + 1
        payload = node[1] if len(node) > 1 else None
        if kind == "v":
            if type(payload) not in _SCALARS:
                raise NotPlainData("malformed value")
            return payload
        if kind in ("list", "tuple", "set", "frozenset"):
            items = [self._node(v, down) for v in _list(payload)]
            return {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}[kind](items)
        if kind in ("dict", "Counter", "OrderedDict"):
            pairs = [(self._node(k, down), self._node(v, down)) for k, v in _pairs(payload)]
            if kind == "Counter":
                return collections.Counter(dict(pairs))  # Counter(pairs) would count the pairs
            return collections.OrderedDict(pairs) if kind == "OrderedDict" else dict(pairs)
        if kind == "defaultdict":
            name, pairs = _list(payload, 2)
            factory = _FACTORIES.get(name) if type(name) is str else None
            return collections.defaultdict(factory, [(self._node(k, down), self._node(v, down)) for k, v in _pairs(pairs)])
        if kind == "deque":
            items, maxlen = _list(payload, 2)
            if maxlen is not None and (type(maxlen) is not int or maxlen < 0):
                raise NotPlainData("malformed deque")
            return collections.deque((self._node(v, down) for v in _list(items)), maxlen)
        if kind == "namedtuple":
            name, fields, items = _list(payload, 3)
            if type(name) is not str or not all(type(f) is str for f in _list(fields)):
                raise NotPlainData("malformed namedtuple")
            values = [self._node(v, down) for v in _list(items)]
            if len(values) != len(fields):
                raise NotPlainData("malformed namedtuple")
            return _namedtuple(name, fields)(*values)
        if kind == "Fraction":
            numerator, denominator = _list(payload, 2)
            if type(numerator) is not int or type(denominator) is not int or denominator == 0:
                raise NotPlainData("malformed Fraction")
            return fractions.Fraction(numerator, denominator)
        if kind == "Decimal":
            if type(payload) is not str:
                raise NotPlainData("malformed Decimal")
            return decimal.Decimal(payload)
        if kind == "obj":
            if type(payload) is not int or not 0 <= payload < len(self.objects):
                raise NotPlainData("malformed object reference")
            return self.objects[payload]
        if kind == "handle" and self.handle is not None and len(node) == 5:
            _, number, type_name, truth, length = node
            if type(number) is not int or type(type_name) is not str:
                raise NotPlainData("malformed handle")
            truth = truth if type(truth) is bool else None
            length = length if type(length) is int and length >= 0 else None
            return self.handle(number, type_name, truth, length)
        if kind == "remote" and self.remote is not None and type(payload) is int:
            return self.remote(payload)
        raise NotPlainData(f"unexpected value kind {kind!r}")


def _list(value: Any, size: int | None = None) -> list[Any]:
    if type(value) is not list or (size is not None and len(value) != size):
        raise NotPlainData("malformed value")
    return value


def _pairs(value: Any) -> list[tuple[Any, Any]]:
    pairs = _list(value)
    if not all(type(p) is tuple and len(p) == 2 for p in pairs):
        raise NotPlainData("malformed mapping")
    return pairs
