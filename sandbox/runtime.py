"""The candidate runtime: the interpreter and site-packages Python programs run with, and
the minimal root every run sees.

A run's root is a read-only tmpfs holding bind mounts of only what programs need: the
system's shared libraries, the interpreter with its standard library, the candidate
site-packages (:data:`RUNTIME_SITE`), the run steps of the languages in the table and
(in the compile step only) their compilers, with headers and libraries. Nothing of the
service, of its virtualenv, of any dataset, and no /run, /var, /home or /srv.

The interpreter is the service's base interpreter unless ``REWARD_SANDBOX_PYTHON`` names
another (3.11 or newer); the runtime directory is ``REWARD_SANDBOX_RUNTIME``, else
``.sandbox-runtime`` in the checkout, which ``make install`` builds: its ``site-packages``
from ``sandbox/runtime-requirements.txt``. The fork servers run on that interpreter (it is
the one programs run in: a Python run is a fork of the warm fork server).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sandbox.constants import SANDBOX_PATH

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_RUNTIME_DIR = os.path.join(REPO_ROOT, ".sandbox-runtime")
"""What ``make install`` builds: ``site-packages/`` (Python), and the other languages' own
(prebuilt crates, a warm Go build cache, Node modules; see scripts/build_runtime.sh)."""
REQUIREMENTS = os.path.join(REPO_ROOT, "sandbox", "runtime-requirements.txt")
RUNTIME_SITE = "/usr/lib/sandbox-python/site-packages"
"""Where a run's root shows the candidate site-packages, whichever host directory holds them."""
MIN_PYTHON = (3, 11)

_PROBE = r"""
import json, os, sys, sysconfig
paths = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_exec_prefix})
mapped = set()
with open("/proc/self/maps") as fh:
    for line in fh:
        parts = line.split(None, 5)
        if len(parts) == 6 and parts[5].startswith("/") and not parts[5].rstrip().endswith("(deleted)"):
            mapped.add(parts[5].rstrip())
print(json.dumps({
    "version": list(sys.version_info[:3]),
    "executable": sys.executable,
    "stdlib": paths["stdlib"], "platstdlib": paths["platstdlib"],
    "purelib": paths["purelib"], "platlib": paths["platlib"],
    "path": [p for p in sys.path if p],
    "multiarch": sysconfig.get_config_var("MULTIARCH") or "",
    "mapped": sorted(mapped),
}))
"""


class RuntimeUnavailable(RuntimeError):
    """The interpreter programs would run with cannot be used."""


@dataclass(frozen=True)
class CandidateRuntime:
    python: str
    """The interpreter's executable on the host (what the fork servers run)."""
    version: tuple[int, int, int]
    site_packages: str | None
    """The host directory shown at :data:`RUNTIME_SITE`, None when there is none."""
    directory: str
    """The runtime directory (``site-packages`` and the other languages' prebuilt parts)."""
    source: str
    """Where the site-packages came from: ``REWARD_SANDBOX_RUNTIME`` or the built default."""
    problem: str | None
    """Why there are no site-packages (programs then see the standard library only)."""
    info: dict[str, Any] = field(repr=False, hash=False, compare=False, default_factory=dict)

    def packages(self) -> dict[str, str]:
        """Distributions in the site-packages: name -> version (from their metadata dirs)."""
        found: dict[str, str] = {}
        if self.site_packages is None:
            return found
        for entry in sorted(os.listdir(self.site_packages)):
            if entry.endswith(".dist-info") and "-" in entry:
                name, _, version = entry[: -len(".dist-info")].rpartition("-")
                found[name.replace("_", "-").lower()] = version
        return found

    def report(self) -> dict[str, Any]:
        """What ``/readyz`` shows of it."""
        return {
            "python": self.python,
            "version": ".".join(map(str, self.version)),
            "site_packages": self.site_packages,
            "directory": self.directory,
            "source": self.source,
            "packages": self.packages(),
            **({"problem": self.problem} if self.problem else {}),
        }


def _base_interpreter() -> str:
    configured = os.environ.get("REWARD_SANDBOX_PYTHON", "").strip()
    if configured:
        return configured
    return getattr(sys, "_base_executable", None) or sys.executable


@lru_cache(maxsize=4)
def _probe(python: str) -> dict[str, Any]:
    try:
        done = subprocess.run(
            [python, "-I", "-S", "-c", _PROBE], capture_output=True, text=True, timeout=60,
            env={"PATH": SANDBOX_PATH, "LANG": "C.UTF-8"}, cwd="/",
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeUnavailable(f"the sandbox interpreter {python!r} cannot run: {exc}") from None
    if done.returncode != 0:
        raise RuntimeUnavailable(f"the sandbox interpreter {python!r} failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout)


def candidate_runtime() -> CandidateRuntime:
    """The runtime programs run with, from the environment and the checkout."""
    python = _base_interpreter()
    info = _probe(python)
    version = tuple(info["version"])
    if version[:2] < MIN_PYTHON:
        raise RuntimeUnavailable(f"the sandbox interpreter {python!r} is Python {'.'.join(map(str, version))}; 3.11+ is needed")
    configured = os.environ.get("REWARD_SANDBOX_RUNTIME", "").strip()
    directory = os.path.realpath(configured or DEFAULT_RUNTIME_DIR)
    source = "REWARD_SANDBOX_RUNTIME" if configured else "default"
    site: str | None = os.path.join(directory, "site-packages")
    problem = None
    if not os.path.isdir(site):  # type: ignore[arg-type]
        problem = (
            f"{site} does not exist: programs see the standard library only "
            + ("(REWARD_SANDBOX_RUNTIME names a directory without it)" if configured else "(`make install` builds it)")
        )
        site = None
    return CandidateRuntime(os.path.realpath(info["executable"]), version, site, directory, source, problem, info)
