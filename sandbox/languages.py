"""The language table's shape: how a source becomes a running program.

A language has an optional compile step (a command run in the sandbox's compile root that
leaves artifacts in the work dir, which the pool caches on disk and writes into each run)
and a run step (a command; or, for Python, the fork server's warm interpreter running the
source in-process, which is what makes a run cost about a fork). The entries are in
:mod:`sandbox.language_table`; ``docs/sandbox.md`` ("Adding a language") says what each
field is for.

Commands may hold placeholders, filled per run: ``{source}`` (the source file's name),
``{main_class}`` (Java: the class whose ``main`` runs), ``{heap_mb}`` (half the run's
memory limit: a JVM's or V8's heap), ``{runtime}`` (where the runtime directory's parts
are in a root, :data:`RUNTIME_IN_ROOT`).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from sandbox.constants import CHILD_ENV, SANDBOX_PATH

RUNTIME_IN_ROOT = "/usr/lib/sandbox-runtime"
"""Where a root shows the parts of the runtime directory a language asks for."""


@dataclass(frozen=True)
class Language:
    name: str
    source_file: str
    run_argv: tuple[str, ...] | None
    """The run command (cwd = work dir); None means in-process Python."""
    compile_argv: tuple[str, ...] | None = None
    artifacts: tuple[str, ...] = ()
    """What the compile step leaves behind (file names, or glob patterns: Java's classes),
    carried into each run; a compile step that leaves none of them failed."""
    compile_time_limit_s: float = 30.0
    compile_memory_mb: int = 2048
    max_artifact_mb: int = 64
    """The largest program the compile step may leave (past it: a compile error that says so)."""
    run_tools: tuple[str, ...] = ()
    """Commands the run step needs in a run's root, by name (found on the sandbox's PATH)."""
    run_paths: tuple[str, ...] = ()
    """Host files and directories the run step needs in a run's root."""
    compile_tools: tuple[str, ...] = ()
    """Commands the compile step needs, by name: shown in the compile root only."""
    compile_paths: tuple[str, ...] = ()
    """Host files and directories the compile step needs (headers, the compiler's own
    libraries): shown in the compile root only."""
    run_runtime: tuple[str, ...] = ()
    """Parts of the runtime directory the run step needs (shown under ``{runtime}``)."""
    compile_runtime: tuple[str, ...] = ()
    """Parts of the runtime directory the compile step needs."""
    env: tuple[tuple[str, str], ...] = ()
    """Environment of both steps, beside the sandbox's own (PATH, HOME, TMPDIR, LANG)."""
    compile_env: tuple[tuple[str, str], ...] = ()
    address_space_limit: bool = True
    """Whether the run's memory limit is also each process's address-space limit. Runtimes
    that reserve large address ranges up front (the JVM, V8, Go) cannot start under one:
    their memory is held by the run's cgroup (or the watchdog) alone."""
    min_processes: int = 0
    """Threads the runtime starts count against the run's process limit: at least this many."""
    version_argv: tuple[str, ...] = ()
    """A command whose first line of output names the version (``/readyz``, ``/v1/languages``)."""
    aliases: tuple[str, ...] = ()
    run_root: str | None = None
    """The root its runs see when another language's has what they need (TypeScript's is
    JavaScript's)."""
    main_class_file: bool = False
    """The source file is named after its public class (Java), ``source_file`` otherwise."""
    compile_extra: Callable[[str], tuple[str, ...]] | None = field(default=None, compare=False)
    """Extra compile arguments from the runtime directory (a language's prebuilt libraries)."""
    description: str = ""

    @property
    def in_process(self) -> bool:
        return self.run_argv is None

    @property
    def compiled(self) -> bool:
        return self.compile_argv is not None

    @property
    def root(self) -> str:
        """The root its runs see: the shared run root, or one of its own when its run step
        needs more of the host than the shared libraries."""
        if self.run_root:
            return self.run_root
        return self.name if (self.run_tools or self.run_paths or self.run_runtime) else "run"

    def installed(self) -> bool:
        """Whether every command it needs is on the host."""
        return all(_on_path(tool) for tool in (*self.compile_tools, *self.run_tools))

    def file_name(self, source: str) -> str:
        if self.main_class_file:
            return f"{main_class(source)}.java"
        return self.source_file

    def environment(self, compile_step: bool = False) -> dict[str, str]:
        return {**CHILD_ENV, **dict(self.env), **(dict(self.compile_env) if compile_step else {})}

    def expand(self, argv: tuple[str, ...], *, source: str, memory_mb: int, entry: str | None = None) -> tuple[str, ...]:
        values = {"source": self.file_name(source), "main_class": entry or main_class(source),
                  "heap_mb": str(max(32, memory_mb // 2)), "runtime": RUNTIME_IN_ROOT}  # fmt: skip
        return tuple(part.format(**values) for part in argv)


def _on_path(tool: str) -> bool:
    return any(os.access(os.path.join(d, tool), os.X_OK) for d in SANDBOX_PATH.split(":"))


_PUBLIC_CLASS = re.compile(r"^\s*public\s+(?:final\s+|abstract\s+)*class\s+([A-Za-z_$][\w$]*)", re.M)
_MAIN_CLASS = re.compile(r"class\s+([A-Za-z_$][\w$]*)[^{]*\{(?:(?!\bclass\b).)*?\bstatic\s+void\s+main\s*\(", re.S)


def main_class(source: str) -> str:
    """The class a Java program runs: its public class, else the class declaring ``main``,
    else ``Main``."""
    found = _PUBLIC_CLASS.search(source) or _MAIN_CLASS.search(source)
    return found.group(1) if found else "Main"


LANGUAGES: dict[str, Language] = {}
LANGUAGE_ALIASES: dict[str, str] = {}


def register_language(language: Language) -> None:
    LANGUAGES[language.name] = language
    for alias in language.aliases:
        LANGUAGE_ALIASES[alias] = language.name


def get_language(name: str) -> Language:
    key = LANGUAGE_ALIASES.get(name.lower(), name.lower())
    try:
        return LANGUAGES[key]
    except KeyError:
        raise ValueError(f"unknown language {name!r} (known: {', '.join(sorted(LANGUAGES))})") from None


@lru_cache(maxsize=64)
def version_of(name: str) -> str | None:
    """The installed version of a language's toolchain (its first output line), or None."""
    language = get_language(name)
    if language.in_process:
        from sandbox.runtime import candidate_runtime

        return "Python " + ".".join(map(str, candidate_runtime().version))
    if not language.version_argv or not language.installed():
        return None
    try:
        done = subprocess.run(list(language.version_argv), capture_output=True, text=True, timeout=30,
                              env={**language.environment(), "PATH": SANDBOX_PATH})  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (done.stdout or done.stderr).strip().splitlines()
    return text[0].strip() if text else None


def installed_languages() -> dict[str, dict[str, object]]:
    """Every language in the table: whether it is installed, its version and aliases."""
    return {
        name: {"installed": language.installed(), "version": version_of(name) if language.installed() else None,
               "aliases": sorted(language.aliases), "compiled": language.compile_argv is not None,
               "description": language.description}  # fmt: skip
        for name, language in sorted(LANGUAGES.items())
    }
