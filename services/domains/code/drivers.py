"""Trusted driver code run in the sandbox next to the solution (see :mod:`sandbox.pyharness`).

The call driver holds only the inputs (its candidate may be re-forked from it after a
timeout); the functional driver holds the assert code, so its candidate is forked before
the driver code is read and never restarted. The functional driver's tests run in a
namespace the driver builds from the label (prelude, test code) and the interpreter's own
library, with the solution's functions and classes as proxies; ``entry`` is the label's
``fn_name``, the one name of the solution that may take a builtin's.
"""

CALL_DRIVER = r'''
def _plain(value):
    kind = type(value)
    if kind in (list, tuple):
        return [_plain(v) for v in value]
    if kind in (set, frozenset):
        items = [_plain(v) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    if kind is dict:
        return {(k if type(k) is str else json.dumps(_plain(k))): _plain(v) for k, v in value.items()}
    if kind is bytes:
        return value.decode("utf-8", "replace")
    if kind is complex:
        return [value.real, value.imag]
    return value

import json
solution.call_timeout = data["per_test_s"]
if solution.load_error:
    emit({"load_error": solution.load_error})
else:
    for index, args in enumerate(data["inputs"]):
        try:
            value = solution.call(data["fn_name"], *args)
            emit({"test": index, "value": _plain(value)})
        except CallTimeout as exc:
            emit({"test": index, "timeout": str(exc)})
        except Exception as exc:
            emit({"test": index, "error": (type(exc).__name__ + ": " + str(exc))[:500]})
'''

FUNCTIONAL_DRIVER = r'''
solution.call_timeout = {per_call_s!r}
if solution.load_error:
    emit({{"load_error": solution.load_error}})
else:
    _source = {check!r}
    _namespace = {{"__name__": "__main__", "__builtins__": __builtins__}}
    try:
        _test = compile(_source, "test", "exec", dont_inherit=True)
        # The prelude, the standard modules the test code uses and the solution's proxies;
        # nothing the solution says it imported (see sandbox.pyharness.proxies).
        _namespace.update(solution.test_namespace(_source, entry={entry!r}))
        exec(_test, _namespace)
    except CallTimeout as _exc:
        emit({{"timeout": str(_exc)}})
    except AssertionError as _exc:
        import traceback as _tb
        _where = [f for f in _tb.extract_tb(_exc.__traceback__) if f.filename == "test"]
        emit({{"failed": "assertion failed" + (f" at test line {{_where[-1].lineno}}" if _where else "")}})
    except BaseException as _exc:
        emit({{"failed": (type(_exc).__name__ + ": " + str(_exc))[:500]}})
    else:
        emit({{"completed": True}})
'''
