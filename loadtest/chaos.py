"""Chaos during a load test: kill a worker mid-run and bring it back.

Two targets share one small interface (``check`` before the run, ``kill`` and ``restart``
during it, each returning a line that says what it did):

* :class:`ComposeWorker` - a ``worker`` container of a docker compose project, found by
  the labels compose puts on it (``com.docker.compose.project=<name>``,
  ``com.docker.compose.service=worker``), killed (SIGKILL) and started again through the
  docker SDK, as a crashed container would be restarted by its restart policy.
* :class:`LocalProcessGroup` - a ``reward worker`` running as a local process group,
  killed with SIGKILL to the whole group (the worker, its verifier processes and its
  sandbox fork servers), and replaced by running a command in a new session.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from pathlib import Path
from typing import Any, Protocol

COMPOSE_PROJECT_LABEL = "com.docker.compose.project"
COMPOSE_SERVICE_LABEL = "com.docker.compose.service"


class ChaosError(RuntimeError):
    pass


class ChaosTarget(Protocol):
    def check(self) -> str: ...
    def kill(self) -> str: ...
    def restart(self) -> str: ...


class ComposeWorker:
    """The first running container (by name) of a compose project's ``service``."""

    def __init__(self, project: str, service: str = "worker", client: Any = None) -> None:
        self.project = project
        self.service = service
        self._client = client
        self._victim: Any = None

    def _docker(self) -> Any:
        if self._client is None:
            try:
                import docker
            except ImportError as exc:
                raise ChaosError("the chaos option needs the docker SDK: pip install docker==7.2.0") from exc
            try:
                self._client = docker.from_env()
                self._client.ping()
            except docker.errors.DockerException as exc:
                raise ChaosError(f"cannot reach the docker daemon: {exc}") from exc
        return self._client

    def _workers(self) -> list[Any]:
        filters = {"label": [f"{COMPOSE_PROJECT_LABEL}={self.project}", f"{COMPOSE_SERVICE_LABEL}={self.service}"],
                   "status": "running"}
        return sorted(self._docker().containers.list(filters=filters), key=lambda c: c.name)

    def check(self) -> str:
        workers = self._workers()
        if not workers:
            raise ChaosError(
                f"no running container with labels {COMPOSE_PROJECT_LABEL}={self.project} and "
                f"{COMPOSE_SERVICE_LABEL}={self.service}"
            )
        return f"{len(workers)} running '{self.service}' containers in compose project '{self.project}'"

    def kill(self) -> str:
        workers = self._workers()
        if not workers:
            raise ChaosError(f"no running '{self.service}' container left in project '{self.project}'")
        self._victim = workers[0]
        self._victim.kill()
        return f"container {self._victim.name} ({self._victim.short_id}) killed"

    def restart(self) -> str:
        if self._victim is None:
            raise ChaosError("nothing was killed")
        self._victim.start()
        return f"container {self._victim.name} ({self._victim.short_id}) started"


class LocalProcessGroup:
    """A local worker's process group; ``restart_command`` starts its replacement."""

    def __init__(self, pgid: int, restart_command: str | None = None, log_path: Path | None = None) -> None:
        self.pgid = pgid
        self.restart_command = restart_command
        self.log_path = log_path
        self.replacement: subprocess.Popen | None = None

    def check(self) -> str:
        try:
            os.killpg(self.pgid, 0)
        except ProcessLookupError as exc:
            raise ChaosError(f"no process group {self.pgid}") from exc
        except PermissionError as exc:
            raise ChaosError(f"not allowed to signal process group {self.pgid}") from exc
        return f"local process group {self.pgid}"

    def kill(self) -> str:
        os.killpg(self.pgid, signal.SIGKILL)
        return f"process group {self.pgid} killed (SIGKILL)"

    def restart(self) -> str:
        if not self.restart_command:
            return "no restart command given; not restarted"
        log = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115 - the child keeps its copy
        try:
            self.replacement = subprocess.Popen(
                shlex.split(self.restart_command), stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            if log is not None:
                log.close()
        return f"replacement started: pid {self.replacement.pid} (its own process group), `{self.restart_command}`"
