"""What a run's root holds, as a plan the fork server builds (sandbox/forkserver/root.py).

Roots per fork server, all read-only: the run root (shared libraries, the candidate
runtime: what Python, C, C++, Go and Rust programs need), the compile root (the run root
plus the compilers, their headers and libraries), and a root per language whose runs need
more of the host (the run root plus a JVM, Node.js, or bash and its tools). A plan is plain data: bind mounts ``(host path,
path in the root)``, symbolic links ``(path in the root, link text)``, and directories
covered by an empty tmpfs (the host's own site-packages inside the standard library).
Every host path is resolved here, in the service, so the fork server follows no name.
"""

from __future__ import annotations

import os
from typing import Any

from sandbox import language_table  # noqa: F401 (the table registers its languages)
from sandbox.constants import SANDBOX_PATH
from sandbox.languages import LANGUAGES, RUNTIME_IN_ROOT, Language
from sandbox.runtime import RUNTIME_SITE, CandidateRuntime

TOP_LEVEL_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
"""Merged-/usr systems make these symbolic links into /usr; a root copies them as they are."""
FORBIDDEN_PREFIXES = ("/tmp", "/proc", "/dev", "/sys")
"""Where a root shows nothing of the host: a run's own /tmp and /proc, the root's /dev.
(Of /run, /var, /home or /srv a root shows only what the plan names, such as an
interpreter installed under a home directory, never the directory itself.)"""


class Plan:
    """Binds, links and masks of one root; later entries never hide earlier ones."""

    def __init__(self) -> None:
        self.binds: list[tuple[str, str]] = []
        self.links: list[tuple[str, str]] = []
        self.masks: list[str] = []

    def covered(self, path: str) -> bool:
        return any(path == target or path.startswith(target.rstrip("/") + "/") for _, target in self.binds)

    def bind(self, host: str, target: str | None = None) -> None:
        host = os.path.realpath(host)
        target = target or host
        if not os.path.exists(host) or self.covered(target):
            return
        # a directory bound now replaces narrower binds made before it
        self.binds = [(h, t) for h, t in self.binds if not t.startswith(target.rstrip("/") + "/")]
        self.binds.append((host, target))

    def link(self, path: str, text: str) -> None:
        if all(existing != path for existing, _ in self.links) and not self.covered(path):
            self.links.append((path, text))

    def executable(self, name: str) -> bool:
        """A command by name (found on the sandbox's PATH) with its chain of links."""
        for directory in SANDBOX_PATH.split(":"):
            candidate = os.path.join(directory, name)
            if os.path.exists(candidate):
                self.chain(candidate)
                return True
        return False

    def chain(self, path: str) -> None:
        """``path`` as the host resolves it: each symbolic link on the way, then the file."""
        for _ in range(40):
            location = os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))
            if not os.path.islink(location):
                self.bind(location)
                return
            text = os.readlink(location)
            self.link(location, text)
            path = text if text.startswith("/") else os.path.join(os.path.dirname(location), text)

    def to_wire(self) -> dict[str, Any]:
        return {"binds": self.binds, "links": self.links, "masks": self.masks}


def _library_dirs(info: dict[str, Any]) -> list[str]:
    """The system's shared-library directories: where the interpreter's libraries are,
    and the usual ones (its dynamic loader's, the multiarch one)."""
    dirs = {os.path.realpath(os.path.dirname(path)) for path in info["mapped"] if ".so" in os.path.basename(path)}
    multiarch = info.get("multiarch") or ""
    for candidate in ("/lib64", "/usr/lib64", f"/lib/{multiarch}", f"/usr/lib/{multiarch}"):
        if multiarch or not candidate.endswith("/"):
            if os.path.isdir(candidate):
                dirs.add(os.path.realpath(candidate))
    return sorted(dirs)


def _interpreter(plan: Plan, runtime: CandidateRuntime) -> list[str]:
    """The interpreter, its shared library, its standard library (without the host's
    site-packages inside it) and the candidate site-packages; the module path a program
    gets."""
    info = runtime.info
    plan.chain(info["executable"])
    stdlib_dirs = []
    for key in ("stdlib", "platstdlib"):
        path = os.path.realpath(info[key])
        if os.path.isdir(path) and path not in stdlib_dirs:
            stdlib_dirs.append(path)
    for path in info["mapped"]:
        real = os.path.realpath(path)
        if not any(real.startswith(d + "/") for d in stdlib_dirs):
            plan.bind(real)  # libpython, when the interpreter links it (covered dirs are skipped)
    for path in stdlib_dirs:
        plan.bind(path)
    for key in ("purelib", "platlib"):
        site = os.path.realpath(info[key])
        if os.path.isdir(site) and plan.covered(site) and site not in plan.masks:
            plan.masks.append(site)
    for path in stdlib_dirs:
        for name in ("site-packages", "dist-packages"):
            inside = os.path.join(path, name)
            if os.path.isdir(inside) and inside not in plan.masks:
                plan.masks.append(inside)
    if runtime.site_packages is not None:
        plan.bind(runtime.site_packages, RUNTIME_SITE)
    module_path = [p for p in info["path"] if any(os.path.realpath(p) == d or os.path.realpath(p).startswith(d + "/") for d in stdlib_dirs)]
    module_path = [p for p in module_path if not any(os.path.realpath(p).startswith(m) for m in plan.masks)]
    return [*module_path, RUNTIME_SITE]


def _language(plan: Plan, language: Language, step: str, runtime: CandidateRuntime) -> None:
    if step == "run":
        tools, paths, parts = language.run_tools, language.run_paths, language.run_runtime
    else:
        tools, paths, parts = language.compile_tools, language.compile_paths, language.compile_runtime
    for name in tools:
        plan.executable(name)
    for path in paths:
        if os.path.exists(path):
            plan.chain(path)
    for part in parts:
        host = os.path.join(runtime.directory, part)
        if os.path.exists(host):
            plan.bind(host, f"{RUNTIME_IN_ROOT}/{part}")


def root_plans(runtime: CandidateRuntime, languages: dict[str, Language] | None = None) -> dict[str, Any]:
    """The roots' plans, in order: the run root (every Python, C, C++, Go and Rust run),
    the compile root (its additions: every installed language's compile step), and a root
    per language whose runs need more of the host (a JVM, Node.js, bash and its tools;
    its additions); and the module path of a Python run."""
    languages = LANGUAGES if languages is None else languages
    installed = [language for language in languages.values() if language.installed()]
    run = Plan()
    for top in TOP_LEVEL_LINKS:
        if os.path.islink(top):
            run.link(top, os.readlink(top))
    for directory in _library_dirs(runtime.info):
        run.bind(directory)
    if os.path.isfile("/etc/ld.so.cache"):
        run.bind("/etc/ld.so.cache")  # the dynamic loader's index of those directories
    if os.path.isdir("/usr/lib/locale/C.utf8"):
        run.bind("/usr/lib/locale/C.utf8")  # the locale of every run (LANG=C.UTF-8)
    module_path = _interpreter(run, runtime)
    roots: list[tuple[str, Plan]] = [("run", run), ("compile", Plan())]
    for language in installed:
        if language.compiled:
            _language(roots[1][1], language, "compile", runtime)
    own: dict[str, Plan] = {}
    for language in installed:
        if language.root != "run":
            _language(own.setdefault(language.root, Plan()), language, "run", runtime)
    roots += sorted(own.items())
    for _, plan in roots:
        bad = [host for host, target in plan.binds if target.startswith(FORBIDDEN_PREFIXES)]
        if bad:
            raise ValueError(f"a run's root cannot show {bad[0]} (under {', '.join(FORBIDDEN_PREFIXES)})")
    return {"roots": [[name, plan.to_wire()] for name, plan in roots], "module_path": module_path}
