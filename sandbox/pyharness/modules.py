"""The modules test code uses without importing them, found in the test code and imported
by the driver.

MBPP's and HumanEval's own harnesses run the asserts in the solution's namespace, so a
test may say ``sys.getsizeof(t)`` or ``math.isclose(...)`` and rely on the solution having
imported the module. The driver does not ask the solution what it imported (what it
reports about itself is the candidate's to forge: a function can claim any ``__module__``
and ``__qualname__``); it reads the names from the test code (and the prelude), which the
label supplies: a name the code reads as a global without binding it and reads
attributes of (``sys.getsizeof``: a name the code only calls or passes, as TACO's tests
call a solution's ``time(...)``, is no module), that is no builtin, and that names a
top-level standard module (or a conventional alias in :data:`ALIASES`), is that module,
as the driver imports it from the interpreter's own library.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import importlib.util
import os
import symtable
import sys
import sysconfig
from types import ModuleType

ALIASES = {"np": "numpy"}
"""Names tests use for a module by convention, not by its own name."""
NOT_IMPORTED = frozenset({"this", "antigravity"})
"""Standard modules whose import does something (prints, opens a browser)."""


def free_globals(source: str) -> set[str]:
    """The global names ``source`` reads that it never binds itself (in any of its scopes:
    functions, classes and comprehensions read their unbound names from the globals)."""
    bound: set[str] = set()
    read: set[str] = set()
    scopes = [symtable.symtable(source, "test", "exec")]
    while scopes:
        scope = scopes.pop()
        at_module_level = scope.get_type() == "module"
        for symbol in scope.get_symbols():
            name = symbol.get_name()
            if at_module_level:
                if symbol.is_assigned() or symbol.is_imported() or symbol.is_namespace():
                    bound.add(name)
                elif symbol.is_referenced():
                    read.add(name)
            elif symbol.is_global():
                if symbol.is_declared_global() and symbol.is_assigned():
                    bound.add(name)
                if symbol.is_referenced():
                    read.add(name)
        scopes.extend(scope.get_children())
    return read - bound


def _module_name(name: str) -> str | None:
    """The module a free global ``name`` stands for, if any."""
    if name.startswith("__") or name in NOT_IMPORTED or name in vars(builtins):
        return None
    return ALIASES.get(name) or (name if name in sys.stdlib_module_names else None)


def module_uses(source: str) -> set[str]:
    """The free global names of ``source`` that name a module (see :func:`_module_name`)
    and that it reads an attribute of."""
    names = {name for name in free_globals(source) if _module_name(name)}
    if not names:  # most tests: no need to build the syntax tree
        return names
    bases = {
        node.value.id for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
    }  # fmt: skip
    return names & bases


def _library_roots() -> tuple[str, ...]:
    """The interpreter's library directories: its standard library and site-packages, and
    the directories of this process's path that it cannot write to (a run's candidate
    site-packages; the candidate has the same uid, and the work dir is never on the path)."""
    paths = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    paths.update(p for p in sys.path if p and os.path.isdir(p) and not os.access(p, os.W_OK))
    return tuple(os.path.realpath(p).rstrip(os.sep) + os.sep for p in paths if p)


def library_module(name: str) -> ModuleType | None:
    """Module ``name`` imported here, or None unless it is the interpreter's own (built in,
    frozen, or a file under its library directories): a file of the same name elsewhere,
    one a solution could have written, is never imported."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    origin = spec.origin
    in_library = origin in ("built-in", "frozen") or (
        origin is not None and os.path.realpath(origin).startswith(_library_roots())
    )
    if not in_library:
        return None
    try:
        return importlib.import_module(name)
    except Exception:  # noqa: BLE001 - a module that cannot be imported here is not bound
        return None


def modules_for(source: str, defined: dict[str, object] | None = None) -> dict[str, ModuleType]:
    """The modules to bind for ``source``: the free names it uses as modules that are
    neither builtins nor in ``defined`` (the prelude's names) and name a standard module or
    an alias."""
    found: dict[str, ModuleType] = {}
    for name in sorted(module_uses(source) - (defined or {}).keys()):
        module = library_module(ALIASES.get(name, name))
        if module is not None:
            found[name] = module
    return found
