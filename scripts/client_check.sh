#!/usr/bin/env bash
# `make client-check`: what a trainer node does. A fresh virtualenv, `pip install ./client`
# from the package index, the list of what that installed (it fails when any of the service's
# dependencies is among them), then the veRL, TRL and OpenRLHF adapter tests run by that
# virtualenv's interpreter against a service started from the project's own virtualenv.
#
#   bash scripts/client_check.sh SERVICE_PYTHON [PYTHON]
#
# SERVICE_PYTHON: an interpreter with the service installed (.venv/bin/python); PYTHON: the one
# the fresh virtualenv is made from (python3). TEST_TOOLS: what the tests need besides the
# client (pytest, numpy, aiohttp for OpenRLHF's own client, the trainers' files), installed
# after the check.
set -euo pipefail
cd "$(dirname "$0")/.."

SERVICE_PYTHON=${1:?usage: client_check.sh SERVICE_PYTHON [PYTHON]}
PYTHON=${2:-python3}
TRAINER_FILES=${TRAINER_FILES:-openrlhf==0.11.2 verl==0.9.1}

work=$(mktemp -d "${TMPDIR:-/tmp}/client-check.XXXXXX")
service_pid=
cleanup() {
  if [ -n "$service_pid" ]; then
    kill -TERM -- "-$service_pid" 2>/dev/null || true
    wait "$service_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n== %s\n' "$*"; }

say "fresh virtualenv ($($PYTHON --version 2>&1)) in $work/venv"
"$PYTHON" -m venv "$work/venv"
pip=("$work/venv/bin/python" -m pip --disable-pip-version-check)
"${pip[@]}" list --format=freeze >"$work/before.txt"

say "pip install ./client"
# From a copy: a build in place leaves client/build behind, whose stale files a later build would ship.
mkdir "$work/src" && cp -r client "$work/src/client" && rm -rf "$work/src/client/build" "$work/src/client/"*.egg-info
(cd "$work/src" && "${pip[@]}" install --quiet ./client)
"${pip[@]}" list --format=freeze >"$work/after.txt"

say "what it installed"
# The service's direct dependencies, less the one it shares with the client (httpx).
"$work/venv/bin/python" - "$work/before.txt" "$work/after.txt" <<'EOF'
import re
import sys
import tomllib

def names(path):
    lines = open(path).read().split()
    return {re.split(r"[=@ ]", line, maxsplit=1)[0]: line for line in lines}

def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()

before, after = names(sys.argv[1]), names(sys.argv[2])
added = {canonical(n): line for n, line in after.items() if n not in before}
for line in sorted(added.values(), key=str.lower):
    print("  " + line)
print(f"  ({len(added)} distributions)")

def requirement_name(text):
    return canonical(re.match(r"[A-Za-z0-9._-]+", text).group(0))

service = {requirement_name(r) for r in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]}
client_project = tomllib.load(open("client/pyproject.toml", "rb"))["project"]
service -= {canonical(client_project["name"])} | {requirement_name(r) for r in client_project["dependencies"]}
pulled = sorted(service & set(added))
if pulled:
    sys.exit(f"FAIL: the client pulled in the service's dependencies: {', '.join(pulled)}")
if canonical(client_project["name"]) not in added:
    sys.exit("FAIL: the client itself is not among them")
print(f"OK: none of the service's {len(service)} other dependencies ({', '.join(sorted(service))})")
EOF

say "the test tools (not part of the check): pytest, numpy, aiohttp, $TRAINER_FILES (--no-deps)"
tools=$("$SERVICE_PYTHON" - <<'EOF'
import re
import tomllib
dev = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["dev"]
print(" ".join(r for r in dev if re.match(r"(pytest|pytest-timeout|numpy|aiohttp)==", r)))
EOF
)
# shellcheck disable=SC2086
"${pip[@]}" install --quiet $tools
# shellcheck disable=SC2086
"${pip[@]}" install --quiet --no-deps $TRAINER_FILES
(cd "$work" && "$work/venv/bin/python" -c "import reward_client, sys; print('  reward_client from', reward_client.__file__); sys.exit(not reward_client.__file__.startswith(sys.prefix))")

port=$("$SERVICE_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
say "the service from $SERVICE_PYTHON at $url"
REWARD_HOST=127.0.0.1 REWARD_PORT=$port REWARD_AUDIT_RATE=0 REWARD_CANARY_RATE=0 \
  setsid "$SERVICE_PYTHON" -m reward_server.cli serve >"$work/service.log" 2>&1 &
service_pid=$!
for _ in $(seq 180); do
  if "$work/venv/bin/python" -c "import httpx, sys; sys.exit(httpx.get('$url/readyz', timeout=2).status_code != 200)" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$service_pid" 2>/dev/null; then
    tail -n 40 "$work/service.log"
    echo "FAIL: the service exited"
    exit 1
  fi
  sleep 0.5
done

say "the veRL, TRL and OpenRLHF adapter tests with $work/venv/bin/python"
# pythonpath=. : reward_client comes from the virtualenv, not from client/ in this checkout.
REWARD_TEST_SERVICE_URL=$url "$work/venv/bin/python" -m pytest -q -p no:cacheprovider -o pythonpath=. \
  tests/test_adapters.py tests/test_verl_contract.py
