"""The candidate: the untrusted solution loaded as module ``solution`` in a process of its
own, answering the driver's requests over a pipe.

Requests (marshal tuples), each answered with one reply:

- ``("call", name, args, kwargs)`` a module-level function -> its value;
- ``("new", class_name, args, kwargs)`` an instance kept here -> ``("handle", number)``;
- ``("method", owner, attr, args, kwargs)`` ``owner`` a number or a class name -> value;
- ``("attr", owner, attr)`` -> ``("method",)`` when callable, else its value;
- ``("items", number)`` the items of a held value (``list(value)``) -> value.

A value is ``("ok", plain)`` when it is plain data, else ``("okx", encoded)`` (see
:mod:`sandbox.pyharness.values`); arguments come the same way (``args``/``kwargs``
replaced by one ``("x", encoded)`` when they are not plain). Values that cannot cross are
held here and reach the driver as handles.
"""

from __future__ import annotations

import marshal
import os
import sys
import traceback
import types
from typing import Any

from sandbox.pyharness.frames import read_frame, write_frame
from sandbox.pyharness.plain import flush_stdio, new_main_module
from sandbox.pyharness.values import Decoder, Encoder, is_plain

MAX_ITEMS = 1_000_000
"""At most this many items of a held value are sent (``list(handle)`` in the driver)."""


def resolve_function(namespace: dict[str, Any], name: str) -> Any:
    fn = namespace.get(name)
    if fn is not None and callable(fn):
        return fn
    holder = namespace.get("Solution")  # LeetCode style: class Solution with the method
    if isinstance(holder, type) and hasattr(holder, name):
        return getattr(holder(), name)
    raise NameError(f"the solution defines no function {name!r}")


def exported_names(namespace: dict[str, Any], prelude: dict[str, Any]) -> tuple[list[str], list[str]]:
    """What the driver's tests may see of the solution, as names: its module-level
    functions (helpers and imported functions included: calls run here) and the classes
    it defines. Only names cross: the driver binds each to a proxy, and which names it
    binds (never over a builtin or the prelude) is its own decision."""
    functions, classes = [], []
    for name, value in list(namespace.items()):
        if name.startswith("__") or name in prelude or isinstance(value, types.ModuleType):
            continue
        if isinstance(value, type):
            if value.__module__ == "solution":
                classes.append(name)
        elif callable(value):
            functions.append(name)
    return functions, classes


class Objects:
    """The candidate's side of the proxies: objects the driver holds by number."""

    def __init__(self, namespace: dict[str, Any], prelude_classes: dict[str, type]) -> None:
        self.namespace = namespace
        self.held: dict[int, Any] = {}
        self.next_number = 1
        self.classes_by_type = {klass: name for name, klass in prelude_classes.items()}
        self.prelude_classes = prelude_classes

    def keep(self, value: Any) -> int:
        number = self.next_number
        self.next_number += 1
        self.held[number] = value
        return number

    def _hold(self, value: Any) -> tuple[int, bool | None, int | None]:
        try:
            truth: bool | None = bool(value)
        except Exception:  # noqa: BLE001
            truth = None
        try:
            length: int | None = len(value)
        except Exception:  # noqa: BLE001
            length = None
        return self.keep(value), truth, length

    def value(self, value: Any) -> tuple[Any, ...]:
        if is_plain(value):
            return ("ok", value)
        return ("okx", Encoder(self.classes_by_type, hold=self._hold).encode(value))

    def arguments(self, args: Any, kwargs: Any) -> tuple[Any, Any]:
        if type(args) is tuple and len(args) == 2 and args[0] == "x":
            decoded = Decoder(self.prelude_classes, remote=self.owner).decode(args[1])
            return tuple(decoded[0]), dict(decoded[1])
        return args, kwargs

    def owner(self, ref: Any) -> Any:
        if type(ref) is int:
            if ref not in self.held:
                raise NameError(f"no solution object number {ref}")
            return self.held[ref]
        value = self.namespace.get(ref)
        if not isinstance(value, type):
            raise NameError(f"the solution defines no class {ref!r}")
        return value

    def handle(self, request: tuple[Any, ...]) -> tuple[Any, ...]:
        op = request[0]
        if op == "call":
            _, name, args, kwargs = request
            args, kwargs = self.arguments(args, kwargs)
            return self.value(resolve_function(self.namespace, name)(*args, **kwargs))
        if op == "new":
            _, name, args, kwargs = request
            args, kwargs = self.arguments(args, kwargs)
            return ("handle", self.keep(self.owner(name)(*args, **kwargs)))
        if op == "method":
            _, ref, attr, args, kwargs = request
            args, kwargs = self.arguments(args, kwargs)
            return self.value(getattr(self.owner(ref), attr)(*args, **kwargs))
        if op == "attr":
            _, ref, attr = request
            value = getattr(self.owner(ref), attr)
            return ("method",) if callable(value) and not isinstance(value, type) else self.value(value)
        if op == "items":
            _, ref = request
            items = []
            for item in self.owner(ref):
                items.append(item)
                if len(items) >= MAX_ITEMS:
                    break
            return self.value(items)
        raise ValueError(f"unknown request {op!r}")


def _run_prelude(prelude: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """Run the dataset's prelude in the module; the names it defined, by value."""
    before = dict(namespace)
    exec(compile(prelude, "prelude", "exec", dont_inherit=True), namespace)
    return {k: v for k, v in namespace.items() if k not in before or before[k] is not v}


def serve_candidate(source: bytes, prelude: str | None, requests: int, replies: int, workdir: str) -> None:
    # The driver made fresh stdio objects and argv just before forking this process and
    # wrote nothing through them yet: they serve here as they are (making new ones would
    # copy-on-write fault a couple of hundred pages); only the module is new.
    if not sys.path or sys.path[0] != workdir:
        sys.path.insert(0, workdir)  # the driver imports nothing from the work dir; the solution may
    module = new_main_module(workdir, "solution")

    def reply(obj: Any) -> None:
        try:
            payload = marshal.dumps(obj)
        except ValueError:
            payload = marshal.dumps(("unplain", type(obj[1]).__name__ if len(obj) > 1 else "?"))
        flush_stdio()
        write_frame(replies, payload)

    prelude_names: dict[str, Any] = {}
    try:
        if prelude:
            prelude_names = _run_prelude(prelude, module.__dict__)
        code = compile(source, "solution.py", "exec", dont_inherit=True)
        exec(code, module.__dict__)
    except SystemExit as exc:
        reply(("load_error", f"the solution exited while loading (code {exc.code!r})"))
        os._exit(0)
    except BaseException as exc:  # noqa: BLE001
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        reply(("load_error", text[-2000:]))
        os._exit(0)
    functions, classes = exported_names(module.__dict__, prelude_names)
    reply(("ready", functions, classes))
    prelude_classes = {k: v for k, v in prelude_names.items() if isinstance(v, type)}
    objects = Objects(module.__dict__, prelude_classes)
    while True:
        frame = read_frame(requests, None)
        if frame is None:
            # The driver is done: close stdout/stderr and the reply pipe first, so the run's
            # pipes reach end of file without waiting for this process's teardown.
            flush_stdio()
            os.closerange(0, 3)
            os.close(replies)
            os._exit(0)
        request = marshal.loads(frame)
        try:
            reply(objects.handle(request))
        except SystemExit as exc:
            reply(("exit", repr(exc.code)[:200]))
        except BaseException as exc:  # noqa: BLE001
            reply(("raise", type(exc).__name__, str(exc)[:2000]))
