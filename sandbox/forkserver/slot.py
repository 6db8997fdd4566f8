"""What a fork server fixes at start-up and its zygote and children read afterwards."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.constants import LAYER_NAMES

if TYPE_CHECKING:
    from sandbox import isolation, native
    from sandbox.forkserver.runcgroups import RunCgroups


class SandboxSetupError(Exception):
    """The fork server cannot set up children (it reports this to the pool and exits)."""


class Slot:
    """One pool slot's configuration: its two uids, the layers in force (switched off one
    by one when the host refuses them, with the reason), the seccomp filter, the server's
    own PID namespace, and the native setups made so far."""

    def __init__(self, uid: int, enabled_layers: dict[str, bool] | None = None) -> None:
        self.uids = (uid, uid + 1)
        """The slot's two unprivileged uids: runs alternate between them (see server.ForkServer._clear_for)."""
        self.layers: dict[str, bool] = dict.fromkeys(LAYER_NAMES, True)
        if enabled_layers:
            self.layers.update(enabled_layers)
        self.layer_errors: dict[str, str] = {}
        self.seccomp: isolation.SeccompFilter | None = None
        self.filter_inherited = False
        """True in the zygote (and so in its children) once it has installed the filter."""
        self.own_pid_ns_fd: int | None = None
        self.root_ns_fds: list[int | None] = []
        """Per root (by index: the run root, the compile root, the languages' own), its
        mount namespace (sandbox/forkserver/root.py); None: the server's own."""
        self.host_proc_fd: int | None = None
        """The host's /proc, which the server reads its runs' usage from; runs never see it."""
        self.cgroups: RunCgroups | None = None
        """The slot's cgroups (sandbox/forkserver/runcgroups.py), None without."""
        self.module_path: list[str] | None = None
        """The module path of a Python run in the minimal root (None: the server's own)."""
        self.cgroup_fds: list[list[int]] = []
        """Per cgroup of the slot, the cgroup.procs files a child writes itself into."""
        self.sweeper_uid: int | None = None
        """The real uid of the slot's sweeper, when it has one: runs of that uid get one
        more process in RLIMIT_NPROC, which leaves them the same number."""
        self.plans: dict[tuple[int, int, str], native.NativePlan] = {}
        """Native setups of children by (key, uid, work dir), made once."""

    def inherited_fds(self) -> list[int]:
        """What the zygote keeps of the server's descriptors to set its children up."""
        fds = [fd for fd in (self.own_pid_ns_fd, *self.root_ns_fds) if fd is not None]
        return fds + [fd for group in self.cgroup_fds for fd in group]

    def disable(self, layer: str, why: str) -> None:
        self.layers[layer] = False
        self.layer_errors.setdefault(layer, why)


class LayerFailure(OSError):
    """A setup step of a child failed; ``layer`` is the layer the step belongs to."""

    def __init__(self, layer: str, exc: BaseException) -> None:
        super().__init__(f"{layer}: {exc}")
        self.layer = layer


def layer_step(layer: str, fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except OSError as exc:
        raise LayerFailure(layer, exc) from None
