"""Numbers and names shared by the pool, the fork server and the child.

Imported by the fork server (which every run copies), so it holds only plain values. The
frame length prefix and the records descriptor, which the harness uses too, are in
:mod:`sandbox.wire`.
"""

from __future__ import annotations

LAYER_NAMES = (
    "pid_ns",
    "net_ns",
    "ipc_ns",
    "mount_ns",
    "uts_ns",
    "readonly_root",
    "private_proc",
    "uid",
    "no_new_privs",
    "rlimits",
    "seccomp",
    "minimal_root",
    "run_limits",
)
"""The isolation layers a fork server probes and reports (``pool.layers``, ``/readyz``)."""

SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
CHILD_ENV = {"PATH": SANDBOX_PATH, "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
"""The whole environment of a run (and of the fork server, which is started with a scrubbed one)."""

CONTROL_FD = 4
"""A prepared child's end of its control socket; the driver memfd takes the number after."""
