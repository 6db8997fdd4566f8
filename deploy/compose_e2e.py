"""End to end on a running compose stack (started by `bash deploy/compose.sh test`).

Checks, in order, each printed as it passes:
  1. the containers are walled in as docker-compose.yml says: read-only root, pids and
     memory limits, workers attached only to the internal network they share with Redis
     (Redis answers there; the API's name does not resolve and its addresses do not
     answer), the API on its published port;
  2. every sandbox layer is active in each worker (as the workers report it at the API's
     GET /readyz, and in a sandbox pool started inside each worker container);
  3. the API key is enforced;
  4. a mixed batch (math, countdown, code in Python and C++, kk, zebra) is scored through
     the API while one worker container is killed (SIGKILL, docker SDK) mid-batch: every
     item is answered once, with the expected verdict, and the lost job was requeued;
  5. the surviving worker keeps serving.
Exit status 0 when all hold.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any

import docker
import httpx

SANDBOX_LAYERS = (
    "pid_ns", "net_ns", "ipc_ns", "mount_ns", "uts_ns", "readonly_root",
    "private_proc", "uid", "no_new_privs", "rlimits", "seccomp", "minimal_root",
)  # fmt: skip
CONTAINER_OPTIONAL = ("run_limits",)
"""Per-run cgroups need a cgroup hierarchy the container may write: a container runtime
mounts it read-only unless told otherwise (docs/deployment.md). Without, the memory
watchdog holds, inside the container's own limits; /readyz says which."""

WORKER_LAYER_PROBE = (
    "import json, sandbox\n"
    "pool = sandbox.SandboxPool(size=1)\n"
    "print(json.dumps({'layers': pool.layers, 'errors': getattr(pool, 'layer_errors', {}),\n"
    "                  'native': pool.native_setup, 'limits': pool.limits}, default=str))\n"
    "pool.close()\n"
)

# Run inside a worker container: which of Redis, the API's name and the API's addresses answer.
REACH_PROBE = """
import socket, sys
def reach(host, port):
    try:
        socket.create_connection((host, port), timeout=2).close()
        return "reachable"
    except OSError as exc:
        return f"unreachable ({type(exc).__name__})"
print("redis:6379", reach("redis", 6379))
try:
    socket.gethostbyname("api")
    print("api resolves")
except OSError:
    print("api unknown")
for address in sys.argv[1:]:
    print("api-ip", address, reach(address, 8000))
"""

STARTED = time.monotonic()


def step(message: str) -> None:
    print(f"[e2e {time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


class CheckFailed(AssertionError):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


# ---------------------------------------------------------------------------- the batch


def mixed_batch(rounds: int) -> list[tuple[dict[str, Any], str]]:
    """(item, expected verdict) pairs over every domain; the code items take a while so
    that jobs are still running when a worker is killed."""
    pairs: list[tuple[dict[str, Any], str]] = []
    for n in range(rounds):
        a, b = n + 2, 3 * n + 1
        pairs += [
            ({"response": f"<think>add</think> The sum is \\boxed{{{a + b}}}",
              "label": {"domain": "math", "answer": str(a + b)}}, "correct"),
            ({"response": f"\\boxed{{\\frac{{{a}}}{{{a + 1}}}}}",
              "label": {"domain": "math", "answer": f"{a + 1}/{a}"}}, "wrong"),
            ({"response": "<answer>(6 - 2) * (3 + 3)</answer>",
              "label": {"domain": "countdown", "target": 24, "numbers": [6, 2, 3, 3]}}, "correct"),
            ({"response": "<answer>6 * 2 * 3 * 3</answer>",
              "label": {"domain": "countdown", "target": 24, "numbers": [6, 2, 3, 3]}}, "wrong"),
            ({"response": "```python\nimport time\ntime.sleep(0.4)\nx, y = map(int, input().split())\nprint(x * y)\n```",
              "label": {"domain": "code", "tests": {"inputs": [f"{a} {b}\n", f"{b} 7\n"],
                                                    "outputs": [f"{a * b}\n", f"{7 * b}\n"]}}}, "correct"),
            ({"response": "```python\ndef gcd(x, y):\n    while y:\n        x, y = y, x % y\n    return x\n```",
              "label": {"domain": "code", "tests": {"fn_name": "gcd", "inputs": [[12 * a, 18 * a], [b, 1]],
                                                    "outputs": [6 * a, 1]}}}, "correct"),
            ({"response": "```python\nprint(int(input()) + 1)\n```",
              "label": {"domain": "code", "tests": {"inputs": [f"{a}\n"], "outputs": [f"{a + 2}\n"]}}}, "wrong"),
            ({"response": "Zoey is a knight, Oliver is a knave",
              "label": {"domain": "kk", "solution": {"Zoey": "knight", "Oliver": "knave"}}}, "correct"),
            ({"response": "Zoey is a knave, Oliver is a knave",  # one of two right: reward 0, verdict partial
              "label": {"domain": "kk", "solution": {"Zoey": "knight", "Oliver": "knave"}}}, "partial"),
            ({"response": '<answer>{"House 1": {"Name": "Eric", "Pet": "cat"}, '
                          '"House 2": {"Name": "Arnold", "Pet": "dog"}}</answer>',
              "label": {"domain": "zebra", "solution": {"House 1": {"Name": "Eric", "Pet": "cat"},
                                                         "House 2": {"Name": "Arnold", "Pet": "dog"}}}}, "correct"),
        ]  # fmt: skip
        if n % 4 == 1:  # a run past its time limit is killed by the sandbox (CAP_KILL in the container)
            pairs.append((
                {"response": f"```python\nwhile True:\n    pass  # {n}\n```",
                 "label": {"domain": "code", "time_limit_s": 1, "tests": {"inputs": ["1\n"], "outputs": ["1\n"]}}},
                "timeout",
            ))  # fmt: skip
        if n % 3 == 0:  # C++ compiles once per distinct source; a few are enough
            pairs.append((
                {"response": "```cpp\n#include <iostream>\nint main(){long long x; std::cin >> x; "
                             f"std::cout << x * {n + 1} << std::endl;}}\n```",
                 "label": {"domain": "code", "language": "cpp",
                           "tests": {"inputs": [f"{b}\n"], "outputs": [f"{b * (n + 1)}\n"]}}},
                "correct",
            ))  # fmt: skip
    return pairs


# ---------------------------------------------------------------------------- the checks


class Stack:
    def __init__(self, project: str, url: str, api_key: str | None) -> None:
        self.project = project
        self.url = url.rstrip("/")
        self.client = docker.from_env(timeout=120)
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def containers(self, service: str) -> list[Any]:
        labels = [f"com.docker.compose.project={self.project}", f"com.docker.compose.service={service}"]
        return self.client.containers.list(filters={"label": labels})

    def metrics(self) -> dict[str, float]:
        """Samples of /metrics as {'name{labels}': value}."""
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        samples = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                samples[key] = float(value)
        return samples

    def redis_cli(self, *args: str) -> str:
        redis = self.containers("redis")[0]
        result = redis.exec_run(["redis-cli", *args])
        return result.output.decode().strip()


def check_containment(stack: Stack, workers: int) -> None:
    api = stack.containers("api")
    worker_containers = stack.containers("worker")
    check(len(api) == 1, f"one api container expected, found {len(api)}")
    check(
        len(worker_containers) == workers,
        f"{workers} worker containers expected, found {len(worker_containers)}",
    )
    for container in [*api, *worker_containers, *stack.containers("redis")]:
        host = container.attrs["HostConfig"]
        name = container.name
        check(host["ReadonlyRootfs"], f"{name}: root file system is writable")
        check((host.get("PidsLimit") or 0) > 0, f"{name}: no pids limit")
        check((host.get("Memory") or 0) > 0, f"{name}: no memory limit")
    project_label = f"com.docker.compose.project={stack.project}"
    networks = {  # listed networks carry no members; get() fetches the full record
        net.name: stack.client.networks.get(net.id)
        for net in stack.client.networks.list(filters={"label": project_label})
    }
    for container in worker_containers:
        attached = set(container.attrs["NetworkSettings"]["Networks"])
        check(
            len(attached) == 1,
            f"{container.name}: attached to {sorted(attached)}, expected one internal network",
        )
        (net_name,) = attached
        check(networks[net_name].attrs["Internal"], f"{container.name}: network {net_name} is not internal")
        members = {c.name for c in networks[net_name].containers}
        others = {m for m in members if m not in {w.name for w in worker_containers}}
        redis_names = {c.name for c in stack.containers("redis")}
        check(
            others == redis_names, f"{net_name}: workers share it with {sorted(others)}, expected only Redis"
        )
        # Redis answers; the API answers on none of its addresses, and its name does not resolve.
        api_addresses = [n["IPAddress"] for n in api[0].attrs["NetworkSettings"]["Networks"].values()]
        probe = container.exec_run(["python", "-c", REACH_PROBE, *api_addresses]).output.decode()
        lines = probe.splitlines()
        api_ip_lines = [line for line in lines if line.startswith("api-ip ")]
        check(
            "redis:6379 reachable" in lines
            and "api unknown" in lines
            and len(api_ip_lines) == len(api_addresses)
            and all(" unreachable " in line for line in api_ip_lines),
            f"{container.name}: reachability probe gave {probe!r}",
        )
    api_nets = set(api[0].attrs["NetworkSettings"]["Networks"])
    check(
        len(api_nets) == 2,
        f"api: attached to {sorted(api_nets)}, expected the Redis network and the public one",
    )
    step(
        f"containment: read-only roots, pids and memory limits; {workers} workers see only Redis "
        f"(internal network; the API unreachable by name and address); api on {sorted(api_nets)}"
    )


def check_sandbox_layers(stack: Stack, workers: int) -> None:
    ready = httpx.get(f"{stack.url}/readyz", timeout=10)
    check(ready.status_code == 200, f"/readyz {ready.status_code}: {ready.text}")
    report = ready.json()
    check(not report["sandbox"].get("started"), f"the API runs no sandbox in rq mode: {report['sandbox']}")
    check(report["backend"].get("workers", 0) >= workers, f"/readyz backend: {report['backend']}")
    # The workers publish their sandbox layers; the API's /readyz shows them.
    deadline = time.monotonic() + 60
    while len(report["backend"].get("worker_sandboxes", {})) < workers and time.monotonic() < deadline:
        time.sleep(1)
        report = httpx.get(f"{stack.url}/readyz", timeout=10).json()
    sandboxes = report["backend"].get("worker_sandboxes", {})
    check(len(sandboxes) >= workers, f"worker sandbox reports at /readyz: {sandboxes}")
    for name, sandbox in sandboxes.items():
        inactive = [layer for layer in sandbox["inactive"] if layer not in CONTAINER_OPTIONAL]
        check(inactive == [], f"sandbox layers inactive in worker {name}: {inactive}")
        check(set(sandbox["layers"]) >= set(SANDBOX_LAYERS), f"{name} layers: {sorted(sandbox['layers'])}")
    step(f"api /readyz: ready, {report['backend'].get('workers')} workers, each with all sandbox layers active")
    for container in stack.containers("worker"):
        result = container.exec_run(["python", "-c", WORKER_LAYER_PROBE])
        output = result.output.decode()
        check(result.exit_code == 0, f"{container.name}: sandbox probe failed: {output[-2000:]}")
        probe = json.loads(output.strip().splitlines()[-1])
        inactive = sorted(name for name, on in probe["layers"].items() if not on and name not in CONTAINER_OPTIONAL)
        check(not inactive, f"{container.name}: sandbox layers inactive: {inactive} ({probe['errors']})")
        check(probe["native"] is True, f"{container.name}: the sandbox's C fast path is not built in the image")
        memory = probe["limits"]["mechanisms"]["memory"]
        step(f"{container.name}: sandbox layers active (minimal root included), C fast path built; memory held by: {memory}")


def check_auth(stack: Stack) -> None:
    item = {"items": [{"response": "\\boxed{1}", "label": {"domain": "math", "answer": "1"}}]}
    if not stack.headers:
        step("auth: no API key configured, skipped")
        return
    denied = httpx.post(f"{stack.url}/v1/score", json=item, timeout=30)
    check(denied.status_code == 401, f"without the key: {denied.status_code}")
    allowed = httpx.post(f"{stack.url}/v1/score", json=item, headers=stack.headers, timeout=60)
    check(allowed.status_code == 200 and allowed.json()["results"][0]["verdict"] == "correct", allowed.text)
    step("auth: 401 without the API key, scored with it")


# The hostname of the worker running each job in the reward queue's started registry
# (members are "job_id" or "job_id:execution_id").
RUNNING_JOB_HOSTS = """
local hosts = {}
for _, member in ipairs(redis.call('ZRANGE', 'rq:wip:reward', 0, -1)) do
  local job = string.match(member, '^[^:]+')
  local worker = redis.call('HGET', 'rq:job:' .. job, 'worker_name')
  if worker then
    local host = redis.call('HGET', 'rq:worker:' .. worker, 'hostname')
    if host then table.insert(hosts, host) end
  end
end
return hosts
"""


def busy_worker_container(stack: Stack, timeout: float) -> tuple[Any, int] | None:
    """The worker container running the most jobs right now, with that count.

    A container is named by the hostname its workers register (the container's id);
    a job's worker by the job's ``worker_name``. Killing a container that only holds
    idle workers would requeue nothing, so the victim is chosen from the running jobs.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts: dict[str, int] = {}
        # One round trip, so the jobs seen running are still running when the kill comes.
        for host in stack.redis_cli("EVAL", RUNNING_JOB_HOSTS, "0").split():
            counts[host] = counts.get(host, 0) + 1
        for container in stack.containers("worker"):
            running = counts.get(container.id[:12], 0)
            if running and running == max(counts.values()):
                return container, running
        time.sleep(0.05)
    return None


def check_batch_with_a_worker_killed(stack: Stack, rounds: int) -> None:
    pairs = mixed_batch(rounds)
    body = {"items": [item for item, _ in pairs], "options": {"mode": "binary"}}
    before = stack.metrics()
    outcome: dict[str, Any] = {}

    def send() -> None:
        try:
            outcome["response"] = httpx.post(
                f"{stack.url}/v1/score", json=body, headers=stack.headers, timeout=300
            )
        except Exception as exc:  # reported by the main thread
            outcome["error"] = exc

    started = time.monotonic()
    sender = threading.Thread(target=send, name="batch")
    sender.start()
    domains = sorted({item["label"]["domain"] for item, _ in pairs})
    step(f"batch: {len(pairs)} items ({', '.join(domains)}) sent")
    busy = busy_worker_container(stack, timeout=60)
    check(busy is not None, "no job ever started running on the workers")
    victim, running = busy
    victim.kill(signal="SIGKILL")
    step(f"killed worker container {victim.name} (SIGKILL) with {running} jobs running")
    sender.join(timeout=320)
    check("error" not in outcome, f"the batch request failed: {outcome.get('error')!r}")
    response = outcome["response"]
    check(response.status_code == 200, f"batch: HTTP {response.status_code}: {response.text[:500]}")
    results = response.json()["results"]
    check(len(results) == len(pairs), f"{len(results)} results for {len(pairs)} items")
    wrong = [
        (i, result["verdict"], expected, result.get("details"))
        for i, (result, (_, expected)) in enumerate(zip(results, pairs, strict=True))
        if result["verdict"] != expected
    ]
    check(not wrong, f"{len(wrong)} items with an unexpected verdict: {wrong[:5]}")
    rewards = [(i, r["verdict"], r["reward"]) for i, r in enumerate(results)]
    off = [x for x in rewards if x[2] != (1.0 if x[1] == "correct" else 0.0)]
    check(not off, f"binary mode: reward must be 1 exactly when correct: {off[:5]}")
    after = stack.metrics()

    def delta(prefix: str) -> float:
        return sum(v for k, v in after.items() if k.startswith(prefix)) - sum(
            v for k, v in before.items() if k.startswith(prefix)
        )

    counted = delta("reward_items_total{")
    check(
        counted == len(pairs), f"reward_items_total grew by {counted}, expected {len(pairs)} (each item once)"
    )
    requeued = delta('reward_rq_jobs_requeued_total{reason="worker_lost"}')
    check(requeued >= 1, "no job was requeued: the kill did not hit a running job")
    verdicts: dict[str, int] = {}
    for result in results:
        verdicts[result["verdict"]] = verdicts.get(result["verdict"], 0) + 1
    step(
        f"batch: all {len(pairs)} items answered once with the expected verdicts {verdicts} "
        f"in {time.monotonic() - started:.1f}s; {requeued:.0f} job(s) requeued after the kill"
    )


def check_survivor_serves(stack: Stack) -> None:
    items = [
        {"response": "```python\nprint(sum(map(int, input().split())))\n```",
         "label": {"domain": "code", "tests": {"inputs": ["40 2\n"], "outputs": ["42\n"]}}},
        {"response": "\\boxed{42}", "label": {"domain": "math", "answer": "42"}},
    ]  # fmt: skip
    response = httpx.post(f"{stack.url}/v1/score", json={"items": items}, headers=stack.headers, timeout=120)
    check(response.status_code == 200, response.text)
    verdicts = [r["verdict"] for r in response.json()["results"]]
    check(verdicts == ["correct", "correct"], f"after the kill: {verdicts}")
    step("after the kill: the remaining worker scores new requests")


def wait_ready(stack: Stack, workers: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            reply = httpx.get(f"{stack.url}/readyz", timeout=5)
            last = reply.text
            if reply.status_code == 200 and reply.json()["backend"].get("workers", 0) >= workers:
                return
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(1)
    raise CheckFailed(f"the API did not report {workers} workers in {timeout:.0f}s: {last}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--project", default="reward-e2e", help="compose project name")
    parser.add_argument("--url", default="http://127.0.0.1:18000", help="the API's published address")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--rounds", type=int, default=8, help="rounds of the mixed batch (about 10 items each)"
    )
    parser.add_argument("--api-key", default=None, help="default: REWARD_API_KEY from the environment")
    args = parser.parse_args()
    import os

    stack = Stack(args.project, args.url, args.api_key or os.environ.get("REWARD_API_KEY") or None)
    try:
        wait_ready(stack, args.workers, timeout=180)
        check_containment(stack, args.workers)
        check_sandbox_layers(stack, args.workers)
        check_auth(stack)
        check_batch_with_a_worker_killed(stack, args.rounds)
        check_survivor_serves(stack)
    except CheckFailed as failure:
        step(f"FAILED: {failure}")
        for service in ("api", "worker"):
            for container in stack.containers(service):
                tail = container.logs(tail=25).decode(errors="replace")
                print(f"--- last log lines of {container.name}\n{tail}", flush=True)
        return 1
    step("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
