"""The study's own code reward, as its release describes it: one ``python3`` per test,
8 threads, 10 s per test, no sandbox. The baseline a GRPO step is timed against.

A program is right when every test passes (binary). stdin/stdout tests run the program
once per input and compare the output; assert-style tests run program, prelude and
checks as one script whose exit status decides.

So that the bench machine survives the step's fork bombs and memory bombs, each program
runs as an unprivileged user (when the bench runs as root) with a process and memory
limit; nothing else of a sandbox is added.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.grpo_step.step import Sample

THREADS = 8
TEST_TIMEOUT_S = 10.0
_stopping = threading.Event()
"""Set when the bench is interrupted: no thread starts another program."""
SYSTEM_PYTHON = "/usr/bin/python3"
"""The interpreter the programs run with when they run as another user (a virtualenv under
root's home is not theirs to read)."""
_FENCE = re.compile(r"```(?:python|py)?[^\n]*\n(.*?)```", re.DOTALL)


def _code(response: str) -> str | None:
    answer = response.rsplit("<answer>", 1)[-1]
    blocks = _FENCE.findall(answer)
    return blocks[-1] if blocks else None


RUN_UID = 64_999
"""An otherwise unused uid the programs run as (when the bench runs as root): the process
limit counts its processes, and whatever is left of them at the end is killed by it."""


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    if os.getuid() == 0:
        os.setgroups([])
        os.setgid(RUN_UID)
        os.setuid(RUN_UID)
    resource.setrlimit(resource.RLIMIT_NPROC, (64, 64))


def _kill_leftovers() -> None:
    if os.getuid() != 0:
        return
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as fh:
                uid = next(line for line in fh if line.startswith("Uid:")).split()[1]
            if int(uid) == RUN_UID:
                os.kill(int(entry), signal.SIGKILL)
        except (OSError, StopIteration, ValueError):
            continue


def _run(path: str, stdin: str | None) -> subprocess.CompletedProcess[str] | None:
    """The program on ``stdin``, or None past the time limit; what it forked goes with it."""
    python = SYSTEM_PYTHON if os.getuid() == 0 and os.path.exists(SYSTEM_PYTHON) else sys.executable
    process = subprocess.Popen([python, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, errors="replace", preexec_fn=_limits,
                               start_new_session=True)  # fmt: skip
    try:
        out, err = process.communicate(stdin, timeout=TEST_TIMEOUT_S)
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)
    except subprocess.TimeoutExpired:
        return None
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        process.wait()


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip().splitlines()]


def study_reward(sample: Sample) -> float:
    code = _code(sample.response)
    if code is None:
        return 0.0
    tests: dict[str, Any] = sample.label["tests"]
    with tempfile.TemporaryDirectory(prefix="study-reward-") as work:
        os.chmod(work, 0o755)
        path = os.path.join(work, "solution.py")
        if tests.get("functional"):
            with open(path, "w") as fh:
                fh.write(f"{sample.label.get('prelude') or ''}\n{code}\n{tests['functional']}\n")
            done = _run(path, None)
            return 1.0 if done is not None and done.returncode == 0 else 0.0
        with open(path, "w") as fh:
            fh.write(code)
        for stdin, expected in zip(tests["inputs"], tests["outputs"], strict=True):
            if _stopping.is_set():
                return 0.0
            done = _run(path, stdin if isinstance(stdin, str) else "\n".join(map(str, stdin)))
            expected_text = expected if isinstance(expected, str) else "\n".join(map(str, expected))
            if done is None or done.returncode != 0 or _lines(done.stdout) != _lines(expected_text):
                return 0.0
    return 1.0


def study_rewards(step: list[Sample], on_answer: Any = None) -> list[float]:
    def one(sample: Sample) -> float:
        reward = study_reward(sample)
        if on_answer is not None:
            on_answer()
        return reward

    _stopping.clear()
    pool = ThreadPoolExecutor(THREADS)
    try:
        return list(pool.map(one, step))
    finally:
        # Interrupted, the samples not yet started are dropped and the running ones stop at
        # their next test (the bench stops their programs), rather than the whole step running out.
        _stopping.set()
        pool.shutdown(wait=False, cancel_futures=True)
        _kill_leftovers()
