"""``POST /run_code``: SandboxFusion's code-execution API, served on this service's sandbox.

veRL's SandboxFusion reward (``reward.sandbox_fusion.url``) and other SandboxFusion clients
post one program per test: ``code``, ``stdin``, ``language``, ``run_timeout``,
``compile_timeout``, ``memory_limit_MB``, ``files`` (``fetch_files`` gets a
``SandboxError`` naming it: runs hand no files back). The answer has
SandboxFusion's shape and status values, so such a client switches by changing its URL:

    {"status": "Success" | "Failed" | "SandboxError", "message": str,
     "compile_result": null | {"status", "execution_time", "return_code", "stdout", "stderr"},
     "run_result":     null | {...same...},
     "executor_pod_name": null, "files": {path: base64}}

with command statuses ``Finished``, ``TimeLimitExceeded`` and ``Error``, and the overall
status decided as SandboxFusion decides it: an ``Error`` anywhere is ``SandboxError``, a
time limit or a non-zero return code is ``Failed``, anything else ``Success``.

``compile_timeout`` is accepted and the language's own compile limit applies (30 s for
g++, 60 s for javac, go and rustc; a compile is cached per source, so a program's tests
compile it once). Programs run in the same sandbox as scored code: a fresh isolated child
per run, rlimits, a wall-clock limit, capped output.

Languages, by SandboxFusion's names (:data:`SANDBOX_FUSION_NAMES`): ``python``, ``cpp``,
``nodejs``, ``typescript``, ``go``, ``go_test``, ``java``, ``rust``, ``bash``, and ``c``
(not a SandboxFusion name). As in SandboxFusion:

- a compile error is ``compile_result`` ``Finished`` with a non-zero return code and the
  compiler's messages on stderr, ``run_result`` null, status ``Failed``; a compile past its
  limit is ``compile_result`` ``TimeLimitExceeded``;
- ``typescript`` and ``go_test`` have no compile step there (``tsx`` transpiles and runs
  in one process; ``go test`` builds and runs): ``compile_result`` is null and a failed
  transpile or build comes back as ``run_result`` ``Finished`` with the return code
  ``tsx`` (1) or ``go test`` (2, with ``FAIL ... [build failed]`` on stdout) gives;
- ``go_test``'s code is a whole ``_test.go`` file: it is built with an empty file of its
  package beside it (``package x`` for a test of ``package x`` or ``package x_test``);
- ``java`` runs the public class (SandboxFusion writes ``Main.java`` and runs ``Main``);
- ``rust`` runs ``main`` (edition 2021, ``-O``; SandboxFusion builds edition 2015 without
  optimisation): a program whose only tests are a ``#[cfg(test)]`` module runs none of
  them, as there.

A SandboxFusion language outside these, or one whose toolchain this host lacks, gets
``SandboxError`` naming it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

import sandbox
from reward_server.auth import require_key
from sandbox import RunRequest, RunResult
from services.text import require_decodable

# SandboxFusion's Language enum: a name outside it is a 422, as there; a name inside it
# that this sandbox does not run is a SandboxError naming what is served.
SANDBOX_FUSION_LANGUAGES = (
    "python", "cpp", "nodejs", "go", "go_test", "java", "php", "csharp", "bash", "typescript",
    "sql", "rust", "cuda", "lua", "R", "perl", "D_ut", "ruby", "scala", "julia", "pytest",
    "junit", "kotlin_script", "jest", "verilog", "python_gpu", "lean", "swift", "racket",
)  # fmt: skip
SANDBOX_FUSION_NAMES: dict[str, str] = {
    "python": "python", "cpp": "cpp", "nodejs": "javascript", "typescript": "typescript", "go": "go",
    "go_test": "go_test", "java": "java", "rust": "rust", "bash": "bash", "c": "c",
}  # fmt: skip
"""A request's language -> the sandbox's. ``c`` is not a SandboxFusion name (its clients send
C as ``cpp``); it is accepted beside them."""
REQUEST_LANGUAGES = (*SANDBOX_FUSION_LANGUAGES, "c")
SERVED_LANGUAGES = tuple(SANDBOX_FUSION_NAMES)
ONE_STEP = {"typescript": 1, "go_test": 2}
"""Languages SandboxFusion runs in one command (tsx, go test), with the return code that
command gives when the program does not build: their compile step here is reported inside
``run_result``."""
GO_BUILD_FAILED = "FAIL\tcommand-line-arguments [build failed]\nFAIL\n"
_GO_PACKAGE = re.compile(r"^\s*package\s+(\w+)", re.MULTILINE)
DEFAULT_MEMORY_MB = 1024
"""memory_limit_MB <= 0 means "no limit" in SandboxFusion; here every run has one."""
MAX_MEMORY_MB = 8192
MAX_OUTPUT_BYTES = 8 << 20


# A relative path of non-empty parts, none of them "..", no NUL: what a file of the run may be called.
_PART = r"(?:[^/\x00.][^/\x00]*|\.(?:[^/\x00.][^/\x00]*)?|\.\.[^/\x00]+)"
RELATIVE_PATH = rf"^{_PART}(?:/{_PART})*$"


class RunCodeRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)  # extra: SandboxFusion's `args` (pytest) and friends

    code: str
    language: Literal[REQUEST_LANGUAGES]  # type: ignore[valid-type]
    stdin: str | None = None
    compile_timeout: float = Field(10, gt=0)
    run_timeout: float = Field(10, gt=0)
    memory_limit_MB: int = -1
    files: dict[str, str | None] = Field(
        default_factory=dict,
        description="path -> base64 content; a path is relative, inside the work dir (no '..', no empty part)",
        json_schema_extra={"propertyNames": {"pattern": RELATIVE_PATH}},
    )
    fetch_files: list[str] = Field(default_factory=list)

    @field_validator("code", "stdin", "files", "fetch_files")
    @classmethod
    def _text_is_unicode(cls, value: Any, info: ValidationInfo) -> Any:
        # A program, its input and file names are handed on as UTF-8; a lone surrogate is a
        # 422 naming the field, never a failure inside the sandbox.
        return require_decodable(value, info.field_name)

    @field_validator("files")
    @classmethod
    def _file_names_stay_in_the_work_dir(cls, value: dict[str, str | None]) -> dict[str, str | None]:
        for path in value:
            parts = path.split("/")
            if not path or "\0" in path or path.startswith("/") or ".." in parts or "" in parts:
                raise ValueError(f"files: {path!r} is not a relative path inside the work dir")
        return value


class CommandStatus(StrEnum):
    """A step's status in SandboxFusion's answer."""

    FINISHED = "Finished"
    ERROR = "Error"
    TIME_LIMIT = "TimeLimitExceeded"


class CallStatus(StrEnum):
    """The call's status in SandboxFusion's answer."""

    SUCCESS = "Success"
    FAILED = "Failed"
    SANDBOX_ERROR = "SandboxError"


class CommandRunResult(BaseModel):
    status: CommandStatus
    execution_time: float | None = None
    return_code: int | None = None
    stdout: str | None = None
    stderr: str | None = None


class RunCodeResponse(BaseModel):
    status: CallStatus
    message: str
    compile_result: CommandRunResult | None = None
    run_result: CommandRunResult | None = None
    executor_pod_name: str | None = None
    files: dict[str, str] = Field(default_factory=dict)


def command_result(result: RunResult) -> dict[str, Any]:
    """One step (compile or run) as SandboxFusion reports it."""
    if result.status == sandbox.model.TIMEOUT:
        status, code = CommandStatus.TIME_LIMIT, None
    elif result.status == sandbox.model.SANDBOX_ERROR:
        status, code = CommandStatus.ERROR, None
    else:
        # Crashes, memory and output limits end the process with a non-zero code: for the
        # caller these are programs that finished badly, as SandboxFusion reports them.
        status = CommandStatus.FINISHED
        if result.exit_code is not None:
            code = result.exit_code
        elif result.signal is not None:
            code = 128 + result.signal
        else:
            code = 0 if result.status == sandbox.model.OK else 1
    return {
        "status": status,
        "execution_time": round(result.wall_s, 6),
        "return_code": code,
        "stdout": result.stdout,
        "stderr": result.stderr,
    }


def overall_status(*steps: dict[str, Any] | None) -> CallStatus:
    done = [s for s in steps if s is not None]
    if any(s["status"] == CommandStatus.ERROR for s in done):
        return CallStatus.SANDBOX_ERROR
    if any(s["status"] == CommandStatus.TIME_LIMIT for s in done):
        return CallStatus.FAILED
    if any((s["return_code"] or 0) != 0 for s in done):
        return CallStatus.FAILED
    return CallStatus.SUCCESS


def to_response(result: RunResult, language: str) -> dict[str, Any]:
    """The sandbox's result as SandboxFusion answers (``language``: the request's name)."""
    compiled = sandbox.get_language(SANDBOX_FUSION_NAMES.get(language, language)).compiled
    if language in ONE_STEP:
        compile_step, run_step = None, one_step_result(result, language)
    elif compiled and result.compile is None:
        # The compile step itself ended the call (compile error, compile time limit).
        compile_step, run_step = command_result(result), None
        if result.status == sandbox.model.COMPILE_ERROR:
            compile_step["status"] = CommandStatus.FINISHED
            compile_step["return_code"] = compile_step["return_code"] or 1
            compile_step["stderr"] = compile_step["stderr"] or (result.reason or "")
    else:
        compile_step = command_result(result.compile) if result.compile is not None else None
        run_step = command_result(result)
    status = overall_status(compile_step, run_step)
    message = ""
    if status == CallStatus.SANDBOX_ERROR:
        message = result.reason or "the sandbox could not run the program"
    return {
        "status": status,
        "message": message,
        "compile_result": compile_step,
        "run_result": run_step,
        "executor_pod_name": None,
        "files": {},
    }


def one_step_result(result: RunResult, language: str) -> dict[str, Any]:
    """A compile step and its run as the one command SandboxFusion runs for them: a program
    that does not build finishes with that command's return code, the compiler's messages
    on stderr."""
    if result.compile is not None or result.status != sandbox.model.COMPILE_ERROR:
        return command_result(result)
    step = command_result(result)
    step.update(status=CommandStatus.FINISHED, return_code=ONE_STEP[language],
                stderr=step["stderr"] or (result.reason or ""))  # fmt: skip
    if language == "go_test":
        step["stdout"] = (step["stdout"] or "") + GO_BUILD_FAILED
    return step


def go_test_files(code: str) -> tuple[str, dict[str, bytes]]:
    """SandboxFusion's go_test runs a whole ``_test.go`` file: here it is the test file beside
    an empty file of its package (``x`` for a test of ``package x`` or ``package x_test``)."""
    found = _GO_PACKAGE.search(code)
    package = found.group(1) if found else "main"
    package = package.removesuffix("_test") or package
    return f"package {package}\n", {"main_test.go": code.encode("utf-8", "surrogatepass")}


def sandbox_error(message: str) -> dict[str, Any]:
    return {"status": CallStatus.SANDBOX_ERROR, "message": message, "compile_result": None, "run_result": None,
            "executor_pod_name": None, "files": {}}  # fmt: skip


def build_run_request(request: RunCodeRequest, max_run_timeout_s: float) -> RunRequest:
    files: dict[str, bytes] = {}
    for path, content in request.files.items():
        try:
            files[path] = base64.b64decode(content or "", validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"files[{path!r}] is not base64") from None
    memory = request.memory_limit_MB if request.memory_limit_MB > 0 else DEFAULT_MEMORY_MB
    source = request.code
    if request.language == "go_test":
        source, test_files = go_test_files(request.code)
        files.update(test_files)
    return RunRequest(
        source=source,
        language=SANDBOX_FUSION_NAMES[request.language],
        stdin=request.stdin or "",
        time_limit_s=min(float(request.run_timeout), max_run_timeout_s),
        memory_mb=min(memory, MAX_MEMORY_MB),
        max_output_bytes=MAX_OUTPUT_BYTES,
        files=files,
    )


router = APIRouter(
    tags=["sandbox"],
    responses={
        400: {"description": "the body could not be read as JSON"},
        401: {"description": "missing or wrong API key (when the service has one)"},
        413: {"description": "a body larger than the service takes"},
    },
)


@dataclass(frozen=True)
class RunCodeLimits:
    max_run_timeout_s: float
    slots: asyncio.Semaphore
    """Each run holds a thread while it waits on a sandbox slot: bound them, queue the rest."""


def configure(app: FastAPI, *, max_run_timeout_s: float, concurrency: int) -> None:
    """The app's limits for ``/run_code``: the cap on a run's time, runs at once."""
    app.state.run_code = RunCodeLimits(max_run_timeout_s, asyncio.Semaphore(concurrency))


@router.post("/run_code", response_model=RunCodeResponse, dependencies=[Depends(require_key)])
async def run_code(request: RunCodeRequest, http: Request) -> dict[str, Any]:
    """SandboxFusion-compatible: run one program with stdin in the sandbox (python, cpp,
    nodejs, typescript, go, go_test, java, rust, bash; c)."""
    limits: RunCodeLimits = http.app.state.run_code
    if request.language not in SERVED_LANGUAGES:
        return sandbox_error(
            f"language {request.language!r} is not served here (served: {', '.join(SERVED_LANGUAGES)})"
        )
    language = sandbox.get_language(SANDBOX_FUSION_NAMES[request.language])
    if not language.in_process and not language.installed():
        return sandbox_error(
            f"language {request.language!r} ({language.name}) is not installed on this host"
        )
    if request.fetch_files:
        # The sandbox hands back no files from a run (only a compile's artifact).
        return sandbox_error("fetch_files is not supported here: write results to stdout")
    try:
        run_request = build_run_request(request, limits.max_run_timeout_s)
    except ValueError as exc:
        return sandbox_error(str(exc))
    pool = sandbox.current_pool()
    if pool is None:
        return sandbox_error("this process runs no sandbox (an rq API started with --no-sandbox)")
    async with limits.slots:
        try:
            result = await asyncio.to_thread(pool.run, run_request)
        except sandbox.SandboxUnavailable as exc:
            return sandbox_error(f"sandbox unavailable: {exc}")
    return to_response(result, request.language)
