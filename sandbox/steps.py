"""A request's steps: the settings of its compile step and of its run, and what came of a
compile step.

A compiled language compiles once per distinct (language, command, source, files and
compile-only files) in the compile root; its artifacts (one program, or Java's classes) are kept on disk as one
bundle and written into each run's work dir. A language run by a command (JavaScript,
bash) writes its source and runs the command in its own root; Python runs in the warm
interpreter.
"""

from __future__ import annotations

import fnmatch
import hashlib
import marshal
from dataclasses import dataclass, replace
from typing import Any

from sandbox import model
from sandbox.languages import Language
from sandbox.model import RunRequest, RunResult
from sandbox.settings import (
    COMPILE_ROOT,
    EXEC,
    EXEC_COLLECT,
    RUN_ROOT,
    RunSettings,
    default_wall_limit_s,
    wait_allowance_s,
)

COMPILE_PROCESSES = 64
"""A compile step's process limit: compilers and their threads (javac 14, the go command's
compile and link steps, rustc and its linker)."""


def bundle(files: dict[str, bytes]) -> bytes:
    """A compile step's artifacts as one blob for the disk cache (trusted data: the pool's own)."""
    return marshal.dumps({str(name): bytes(data) for name, data in files.items()})


def unbundle(blob: bytes) -> dict[str, bytes]:
    files = marshal.loads(blob)
    return files if isinstance(files, dict) else {}


@dataclass
class Steps:
    """Settings for a pool: its roots (name -> index), its runtime directory, how many runs
    may share a CPU, and whether the kernel reports waits for a CPU."""

    roots: dict[str, int]
    runtime_dir: str
    sharing: int
    waits_measured: bool

    def settings(
        self, req: RunRequest, *, mode: str, argv: tuple[str, ...], files: dict[str, bytes],
        source_file: str | None = None, root: int = RUN_ROOT, language: Language | None = None,
        compile_step: bool = False,
    ) -> RunSettings:  # fmt: skip
        time_limit = float(req.time_limit_s)
        if req.wall_limit_s is not None:
            wall_limit = float(req.wall_limit_s)
        else:
            wall_limit = default_wall_limit_s(time_limit, 1 if self.waits_measured else self.sharing)
        files_bytes = sum(len(data) for data in files.values())
        processes = int(req.max_processes)
        env: tuple[tuple[str, str], ...] = ()
        address_space_limit = True
        if language is not None and not language.in_process:
            env = tuple(sorted(language.environment(compile_step).items()))
            processes = max(processes, language.min_processes)
            address_space_limit = language.address_space_limit  # compilers of such runtimes are too
        return RunSettings(
            mode=mode,
            argv=argv,
            files=tuple(files),
            collect=tuple(req.collect),
            source_file=source_file,
            time_limit_s=time_limit,
            wall_limit_s=wall_limit,
            memory_mb=int(req.memory_mb),
            max_output_bytes=int(req.max_output_bytes),
            max_processes=processes,
            max_file_mb=int(req.max_file_mb),
            max_open_files=int(req.max_open_files),
            driver_data=req.driver_data,
            restarts=bool(req.driver_restarts),
            wait_allowance_s=wait_allowance_s(time_limit, self.sharing),
            files_mb=0 if files_bytes < (1 << 20) else 16 * -(-files_bytes // (16 << 20)),
            root=root,
            env=env,
            address_space_limit=address_space_limit,
        )

    def root_of(self, language: Language) -> int:
        return self.roots.get(language.root, RUN_ROOT)

    def compile_argv(self, language: Language, req: RunRequest) -> tuple[str, ...]:
        argv = language.expand(language.compile_argv or (), source=req.source, memory_mb=req.memory_mb)
        extra = language.compile_extra(self.runtime_dir) if language.compile_extra else ()
        return (*argv, *extra)

    def compile_key(self, language: Language, req: RunRequest) -> str:
        digest = hashlib.sha256()
        for part in (language.name, repr(self.compile_argv(language, req)), req.source):
            digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
        for name, data in sorted({**req.files, **req.compile_files}.items()):
            digest.update(name.encode() + b"\0" + bytes(data) + b"\0")
        return digest.hexdigest()

    def compile_step(self, language: Language, req: RunRequest) -> tuple[RunSettings, dict[str, bytes]]:
        """The compile step's settings and files: the source (named as the language wants:
        Java's after its public class) and the request's files (a test file beside it)."""
        compile_req = replace(
            req,
            time_limit_s=language.compile_time_limit_s,
            wall_limit_s=None,
            memory_mb=max(req.memory_mb, language.compile_memory_mb),
            collect=list(language.artifacts),
            max_processes=max(req.max_processes, COMPILE_PROCESSES),
            max_file_mb=max(req.max_file_mb, language.max_artifact_mb),
            stdin=b"",
        )
        source = req.source.encode("utf-8", "surrogatepass")
        files = {**req.files, **req.compile_files, language.file_name(req.source): source}
        argv = self.compile_argv(language, req)
        settings = self.settings(compile_req, mode=EXEC_COLLECT, argv=argv, files=files, root=COMPILE_ROOT,
                                 language=language, compile_step=True)  # fmt: skip
        return settings, files

    def run_step(self, language: Language, req: RunRequest, artifacts: dict[str, bytes]) -> tuple[RunSettings, dict[str, bytes]]:
        """A command's run: a compiled program's artifacts in the work dir, or the source."""
        run_argv = language.expand(language.run_argv or (), source=req.source, memory_mb=req.memory_mb, entry=req.entry)
        argv = (*run_argv, *req.argv)
        files = {**req.files, **req.run_files, **artifacts}
        source_file = None if language.compiled else language.file_name(req.source)
        settings = self.settings(req, mode=EXEC, argv=argv, files=files, source_file=source_file,
                                 root=self.root_of(language), language=language)  # fmt: skip
        return settings, files


def artifacts_of(language: Language, files: dict[str, bytes]) -> dict[str, bytes]:
    """What of a compile step's collected files its language carries into runs."""
    return {name: data for name, data in files.items() if any(fnmatch.fnmatchcase(name, p) for p in language.artifacts)}


def compile_outcome(language: Language, result: RunResult) -> RunResult:
    """A compile step's result as the run's: ok with the artifacts, or a compile error
    that says why (the compiler's messages, an artifact over the size limit, none left)."""
    too_large = next((r for r in result.records if isinstance(r, dict) and "too_large" in r), None)
    limit = language.max_artifact_mb
    if result.status == model.OK and too_large is not None:
        size = too_large.get("too_large", 0) / (1 << 20)
        return replace(result, status=model.COMPILE_ERROR, reason=f"the compiled program is {size:.1f} MB, over the {limit} MB limit")
    if result.status == model.OK and not artifacts_of(language, result.files):
        return replace(result, status=model.COMPILE_ERROR, reason="the compiler left no program")
    if result.status in (model.RUNTIME_ERROR, model.MEMORY_LIMIT):
        tail = (result.stderr.strip() or result.stdout.strip())[-2000:]
        reason = f"compilation failed: {tail}" if tail else f"compilation failed ({result.reason})"
        if "File too large" in tail:  # a compiler's output met the file-size limit
            reason = f"the compiled program is over the {limit} MB limit: {tail[-500:]}"
        return replace(result, status=model.COMPILE_ERROR, reason=reason)
    if result.status == model.OUTPUT_LIMIT:
        return replace(result, status=model.COMPILE_ERROR, reason=f"the compiled program is over the {limit} MB limit ({result.reason})")
    if result.status != model.OK:
        return replace(result, reason=f"compilation: {result.reason}")
    return result


def cacheable(result: RunResult) -> dict[str, Any]:
    """What of a compile result the cache keeps in memory (never the program's bytes)."""
    return {"result": replace(result, files={}, stdout=result.stdout[-4000:], stderr=result.stderr[-8000:])}
