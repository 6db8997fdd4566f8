#!/bin/sh
# System packages the reward image needs: Python 3.11 with venv, g++ (the C++ language of
# the code sandbox), Redis (the compose stack's queue can run from this image), tini (PID 1).
# The locally built base (deploy/compose.sh base) has them all and this does nothing; on any
# other Debian bookworm base it installs what is missing with apt.
set -eu
missing=""
for package in python3 python3-venv g++ redis-server tini; do
  dpkg -s "$package" >/dev/null 2>&1 || missing="$missing $package"
done
if [ -n "$missing" ]; then
  echo "installing:$missing"
  apt-get update
  # shellcheck disable=SC2086
  apt-get install -y --no-install-recommends $missing
  rm -rf /var/lib/apt/lists/*
fi
