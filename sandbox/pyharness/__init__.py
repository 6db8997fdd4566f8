"""Python inside the sandbox: runs in the already-isolated child, never in the service.

Three ways a child runs:

* :func:`run_main` (:mod:`.plain`) - the untrusted source as ``__main__`` in the warm
  interpreter.
* :func:`run_driver` (:mod:`.proxies`) - the untrusted source is loaded as module
  ``solution`` in its own process, the *candidate* (:mod:`.candidate`, :mod:`.process`),
  and trusted driver code runs in this process, calling the candidate's functions
  through proxies. Values cross a pipe as plain data or are rebuilt by the receiving
  side's own code (:mod:`.values`), so nothing the candidate defines (a forged
  ``__eq__``, a patched builtin, an early ``exit``) runs in the driver. The tests'
  namespace is built from the label and the standard library (:mod:`.modules`), never
  from what the candidate reports about itself. The candidate is forked *before* the
  driver code is read, so it never holds it.
* :func:`run_and_collect` (:mod:`.collect`) - a command (a compiler), whose output files
  are sent back.
"""

from sandbox.pyharness.collect import run_and_collect, which
from sandbox.pyharness.plain import READY_RECORD, TRAILER, expect_trailer, prepare, run_main, warm_up
from sandbox.pyharness.proxies import run_driver

__all__ = ["READY_RECORD", "TRAILER", "expect_trailer", "prepare", "run_and_collect", "run_driver", "which", "run_main", "warm_up"]
