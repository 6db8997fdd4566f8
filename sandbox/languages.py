"""The language table: how a source becomes a running program.

A language has an optional compile step (a command run in the sandbox that leaves an
artifact in the work dir, which the pool caches and hands to later runs) and a run
step (a command; or, for Python, the fork server's warm interpreter running the
source in-process, which is what makes a run cost about a fork).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Language:
    name: str
    source_file: str
    run_argv: tuple[str, ...] | None
    """The run command (cwd = work dir); None means in-process Python."""
    compile_argv: tuple[str, ...] | None = None
    artifact: str | None = None
    """The file the compile step leaves behind, carried into each run."""
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

    @property
    def in_process(self) -> bool:
        return self.run_argv is None


LANGUAGES: dict[str, Language] = {}


def register_language(language: Language) -> None:
    LANGUAGES[language.name] = language


register_language(Language(name="python", source_file="solution.py", run_argv=None))
register_language(
    Language(
        name="cpp",
        source_file="solution.cpp",
        compile_argv=("g++", "-O2", "-std=c++17", "-pipe", "-o", "solution", "solution.cpp"),
        artifact="solution",
        run_argv=("./solution",),
        compile_tools=("g++", "gcc", "c++", "cc", "cpp", "as", "ld"),
        compile_paths=("/usr/lib/gcc", "/usr/libexec/gcc", "/usr/include", "/usr/local/include", "/usr/lib/bfd-plugins"),
    )
)
LANGUAGE_ALIASES = {"py": "python", "python3": "python", "c++": "cpp", "cxx": "cpp", "cc": "cpp"}


def get_language(name: str) -> Language:
    key = LANGUAGE_ALIASES.get(name.lower(), name.lower())
    try:
        return LANGUAGES[key]
    except KeyError:
        raise ValueError(f"unknown language {name!r} (known: {', '.join(sorted(LANGUAGES))})") from None
