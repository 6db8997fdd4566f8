"""The driver: trusted test code reaching the candidate's functions and classes through proxies.

:func:`run_driver` forks the candidate, then runs the driver code with ``solution`` (a
:class:`Solution`) in its namespace. Tests get, by :meth:`Solution.test_namespace`, a
namespace built from the label and the interpreter's own library, never from what the
candidate reports about itself (the names of its functions and classes are all that
cross):

- the dataset's prelude, run here in the driver (LeetCode's ``ListNode``, ``list_node``,
  ``is_same_list``): its names are always the prelude's, whatever the solution defines;
- the standard modules the test code uses without importing them (MBPP's tests may rely
  on the solution's ``import sys``), found in the test code and imported here
  (:mod:`sandbox.pyharness.modules`);
- the solution's functions and classes as proxies (:class:`RemoteFunction`,
  :class:`RemoteClass`): calls run in the candidate; values come back rebuilt with the
  driver's own types (:mod:`sandbox.pyharness.values`); an instance or other value that
  cannot cross stays there and is a :class:`RemoteObject` here. A proxy never takes the
  name of a builtin, a prelude name or one of those modules, except the one the label
  names as the function the tests call.
"""

from __future__ import annotations

import builtins
import os
import sys
import traceback
from typing import Any

from sandbox.pyharness.frames import CallTimeout, CandidateDied, CandidateError
from sandbox.pyharness.modules import modules_for
from sandbox.pyharness.plain import emit, finish, prepared_interpreter
from sandbox.pyharness.process import CALLABLE_ATTRIBUTE, Candidate
from sandbox.pyharness.values import Decoder, Encoder, NotPlainData, is_plain
from sandbox.wire import RECORDS_FD


class RemoteFunction:
    """A driver-side stand-in for a function of the solution."""

    def __init__(self, solution: Solution, name: str) -> None:
        self._solution = solution
        self.__name__ = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._solution.call(self.__name__, *args, **kwargs)

    def __repr__(self) -> str:
        return f"<solution function {self.__name__}>"


class RemoteMethod:
    """A method (or any callable attribute) of a solution class or object."""

    def __init__(self, solution: Solution, owner: int | str, attr: str, generation: int, label: str) -> None:
        self._solution = solution
        self._owner = owner
        self._generation = generation
        self.__name__ = attr
        self._label = label

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        request = ("method", self._owner, self.__name__, *self._solution.arguments(args, kwargs))
        return self._solution.request(request, self._label, self._generation)

    def __repr__(self) -> str:
        return f"<solution method {self._label}>"


def _remote_attribute(solution: Solution, owner: int | str, attr: str, generation: int, label: str) -> Any:
    if attr.startswith("__") and attr.endswith("__"):
        # Special names are looked up on the proxy's own type (its identity __eq__, its
        # truth); they are never asked of the solution.
        raise AttributeError(attr)
    reply = solution.request(("attr", owner, attr), label, generation)
    if reply is CALLABLE_ATTRIBUTE:
        return RemoteMethod(solution, owner, attr, generation, label)
    return reply


class RemoteClass:
    """A driver-side stand-in for a class the solution defines. Calling it creates an
    instance in the solution's process and returns a :class:`RemoteObject`; attributes
    of the class (static and class methods, constants) are reached like an object's."""

    def __init__(self, solution: Solution, name: str) -> None:
        self._solution = solution
        self.__name__ = name

    def __call__(self, *args: Any, **kwargs: Any) -> RemoteObject:
        generation = self._solution.generation()
        request = ("new", self.__name__, *self._solution.arguments(args, kwargs))
        reply = self._solution.request(request, self.__name__, generation)
        if type(reply) is not tuple or len(reply) != 2 or reply[0] != "handle":
            raise CandidateError(f"{self.__name__}() did not create an object")
        return RemoteObject(self._solution, reply[1], self.__name__, generation)

    def __getattr__(self, attr: str) -> Any:
        return _remote_attribute(self._solution, self.__name__, attr, self._solution.generation(), f"{self.__name__}.{attr}")

    def __repr__(self) -> str:
        return f"<solution class {self.__name__}>"


class RemoteObject:
    """A value living in the solution's process, held by number: an instance of a class
    the solution defines, or a value that cannot cross (a ``re.Match``, a generator).
    Its methods run there; what they return crosses back. The proxy compares by identity;
    its truth and length are what the candidate reported when it was made, which gains a
    forged ``__bool__`` or ``__len__`` nothing a plain True or number would not."""

    __slots__ = ("_solution", "_number", "_class_name", "_generation", "_truth", "_length")

    def __init__(
        self,
        solution: Solution,
        number: int,
        class_name: str,
        generation: int,
        truth: bool | None = True,
        length: int | None = None,
    ) -> None:
        for name, value in (("_solution", solution), ("_number", number), ("_class_name", class_name),
                            ("_generation", generation), ("_truth", truth), ("_length", length)):  # fmt: skip
            object.__setattr__(self, name, value)

    def __getattr__(self, attr: str) -> Any:
        return _remote_attribute(self._solution, self._number, attr, self._generation, f"{self._class_name}.{attr}")

    def __setattr__(self, attr: str, value: Any) -> None:
        raise AttributeError(f"cannot set {attr!r} on a solution object from the driver")

    def __bool__(self) -> bool:
        if self._truth is None:
            raise CandidateError(f"the truth of a {self._class_name} could not be taken")
        return self._truth

    def __len__(self) -> int:
        if self._length is None:
            raise TypeError(f"object of type {self._class_name!r} has no len()")
        return self._length

    def __iter__(self) -> Any:
        return iter(self._solution.request(("items", self._number), f"iter({self._class_name})", self._generation))

    def __repr__(self) -> str:
        return f"<solution {self._class_name} object #{self._number}>"


class Solution:
    """What driver code sees as ``solution``."""

    def __init__(self, candidate: Candidate, restarts: bool, prelude: dict[str, Any]) -> None:
        self._candidate = candidate
        self._restarts = restarts
        self._prelude = prelude
        self._prelude_classes = {k: v for k, v in prelude.items() if isinstance(v, type)}
        self._classes_by_type = {v: k for k, v in self._prelude_classes.items()}
        self.call_timeout: float | None = None
        candidate.decoder = self._decoder

    def _decoder(self) -> Decoder:
        generation = self._candidate.generation

        def handle(number: int, type_name: str, truth: bool | None, length: int | None) -> RemoteObject:
            return RemoteObject(self, number, type_name, generation, truth, length)

        return Decoder(self._prelude_classes, handle=handle)

    def _remote_number(self, value: Any) -> int | None:
        if type(value) is not RemoteObject:
            return None
        if object.__getattribute__(value, "_generation") != self._candidate.generation:
            raise CandidateDied("an object of the solution was lost when its process was restarted")
        return object.__getattribute__(value, "_number")

    def arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
        """Arguments as they cross: plain data as is, else one encoded value."""
        if is_plain(args) and is_plain(kwargs):
            return tuple(args), dict(kwargs)
        encoder = Encoder(self._classes_by_type, remote_number=self._remote_number)
        return ("x", encoder.encode([list(args), dict(kwargs)])), None

    @property
    def load_error(self) -> str | None:
        return self._candidate.load_error

    @property
    def names(self) -> list[str]:
        return list(self._candidate.names)

    @property
    def class_names(self) -> list[str]:
        return list(self._candidate.class_names)

    def functions(self) -> dict[str, RemoteFunction]:
        return {name: RemoteFunction(self, name) for name in self._candidate.names}

    def classes(self) -> dict[str, RemoteClass]:
        return {name: RemoteClass(self, name) for name in self._candidate.class_names}

    def test_namespace(self, test_source: str | None = None, entry: str | None = None) -> dict[str, Any]:
        """What the test code ``test_source`` sees: the prelude's names; the standard
        modules it uses without importing them (see :func:`modules_for`); and the
        solution's functions and classes as proxies, except where one would take the name
        of a builtin, a prelude name or one of those modules (a solution defining
        ``set`` or ``abs`` would change what the asserts compute). ``entry``, the name the
        tests call the solution by (a label's ``fn_name``), is the solution's even where
        a builtin or a standard module has that name: MBPP's task 126 asks for ``sum``."""
        modules = modules_for(test_source, self._prelude) if test_source else {}
        reserved = vars(builtins).keys() | self._prelude.keys() | modules.keys()
        namespace: dict[str, Any] = dict(modules)
        for name, proxy in {**self.functions(), **self.classes()}.items():
            if name not in reserved or name == entry:
                namespace[name] = proxy
        namespace.update(self._prelude)
        return namespace

    def _ensure_running(self) -> None:
        if self._candidate.pid is None and self._restarts:
            self._candidate.start(self.call_timeout)
            if self._candidate.load_error:
                raise CandidateDied(self._candidate.load_error)

    def generation(self) -> int:
        self._ensure_running()
        return self._candidate.generation

    def request(self, request: tuple[Any, ...], what: str, generation: int) -> Any:
        self._ensure_running()
        if generation != self._candidate.generation:
            raise CandidateDied(f"{what}: the object was lost when the solution process was restarted")
        return self._candidate.request(request, what, self.call_timeout)

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self._ensure_running()
        request = ("call", name, *self.arguments(args, kwargs))
        return self._candidate.request(request, name, self.call_timeout)

    def stop(self) -> None:
        self._candidate.kill()

    def finish(self) -> None:
        """The end of the run: the candidate is told (its request pipe closes) and closes
        its pipes; once it has (or after a short wait) it is killed without waiting for
        its teardown: this process is PID 1 of the run's namespace, and when it exits
        the kernel kills whatever is left and the server reaps it."""
        self._candidate.finish()


def _run_prelude(prelude: str | None) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "prelude", "__builtins__": builtins}
    if prelude:
        code = compile(prelude, "prelude", "exec", dont_inherit=True)
        # Its helpers may use a module the dataset's own harness had from the solution.
        namespace.update(modules_for(prelude))
        exec(code, namespace)
    return {k: v for k, v in namespace.items() if not k.startswith("__")}


def run_driver(source: bytes, driver_fd: int, data: Any, workdir: str, restarts: bool) -> None:
    """``data["prelude"]``, when given, is the dataset's code run before the solution (in
    the candidate) and before the tests (here)."""
    prepared_interpreter(workdir, [])
    prelude_source = data.get("prelude") if isinstance(data, dict) else None
    candidate = Candidate(source, workdir, close_in_child=(RECORDS_FD, driver_fd), prelude=prelude_source)
    candidate.start()  # forked before the driver code is read: the candidate never holds it
    # The driver imports nothing from the work dir: the solution may have written there.
    sys.path[:] = [p for p in sys.path if p and os.path.realpath(p) != os.path.realpath(workdir)]
    driver_source = os.pread(driver_fd, os.fstat(driver_fd).st_size, 0)
    os.close(driver_fd)
    candidate.close_in_child = (RECORDS_FD,)  # the number may be reused by a restart's pipes
    namespace = {
        "__name__": "__driver__",
        "__builtins__": builtins,
        "emit": emit,
        "data": data,
        "CallTimeout": CallTimeout,
        "CandidateDied": CandidateDied,
        "CandidateError": CandidateError,
        "NotPlainData": NotPlainData,
    }
    exit_code = 0
    solution = None
    try:
        solution = Solution(candidate, restarts, _run_prelude(prelude_source))
        namespace["solution"] = solution
        exec(compile(driver_source, "driver", "exec", dont_inherit=True), namespace)
    except BaseException as exc:  # noqa: BLE001
        emit({"driver_error": "".join(traceback.format_exception_only(type(exc), exc)).strip()[-2000:]})
        exit_code = 1
    if solution is not None:
        solution.finish()
    else:
        candidate.finish()
    finish(exit_code)
