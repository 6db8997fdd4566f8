#!/usr/bin/env bash
# The docker compose stack of the reward service, built offline.
#
#   bash deploy/compose.sh up      build what is missing, start redis + api + WORKERS workers
#   bash deploy/compose.sh down    stop and remove the stack
#   bash deploy/compose.sh build   only build: base image, wheelhouse, app image (offline:
#                                  deploy/offline.Dockerfile, as deploy/compose.offline.yml says)
#   bash deploy/compose.sh build-default
#                                  the default Dockerfile (a public base, PyPI), built here
#                                  without pulling: the local base is tagged with the default
#                                  base image's name; the packages come from PyPI
#   bash deploy/compose.sh test    end to end: engine, both image builds, stack with 2 workers,
#                                  mixed batch with a worker container killed mid-batch, teardown
#
# Environment: WORKERS (default 2), MONITORING=1 (Prometheus + Grafana; their images come
# from a registry), BASE_IMAGE (default reward-base:bookworm, built with debootstrap when
# missing), REWARD_IMAGE (default reward-service:local), DEBIAN_MIRROR, OFFLINE=1 (use the
# wheelhouse in deploy/.build/wheelhouse as it is, no PyPI, no npm), LANGUAGES (the code
# sandbox's languages in the images, space- or comma-separated; default all).
set -euo pipefail
cd "$(dirname "$0")/.."

ACTION="${1:-}"
WORKERS="${WORKERS:-2}"
MONITORING="${MONITORING:-0}"
BASE_IMAGE="${BASE_IMAGE:-reward-base:bookworm}"
REWARD_IMAGE="${REWARD_IMAGE:-reward-service:local}"
DEFAULT_BASE_IMAGE="${DEFAULT_BASE_IMAGE:-debian:bookworm-slim}"
DEFAULT_IMAGE="${DEFAULT_IMAGE:-reward-service:default}"
BUILD_DIR="deploy/.build"
WHEELHOUSE="${WHEELHOUSE:-$BUILD_DIR/wheelhouse}"
PROJECT="${COMPOSE_PROJECT_NAME:-reward}"
# The languages' toolchains are not in the base: each image build installs those LANGUAGES names.
BASE_PACKAGES="python3,python3-venv,redis-server,tini,ca-certificates"
LANGUAGES="${LANGUAGES:-c cpp java javascript typescript go rust bash}"
NODE_TARBALLS="$BUILD_DIR/node"
STARTED_AT=$(date +%s)
export BASE_IMAGE REWARD_IMAGE WHEELHOUSE LANGUAGES

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

log() { printf '[compose %4ss] %s\n' "$(($(date +%s) - STARTED_AT))" "$*"; }
die() { log "ERROR: $*"; exit 1; }

apt_install() {
  log "apt-get install $*"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

# ------------------------------------------------------------------ the engine and compose

ensure_engine() {
  if docker info >/dev/null 2>&1; then
    log "docker engine: running ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
    return
  fi
  if ! command -v dockerd >/dev/null 2>&1; then
    apt_install docker.io
  fi
  if ! docker info >/dev/null 2>&1; then
    log "starting dockerd (log: /var/log/reward-dockerd.log)"
    $SUDO sh -c 'nohup dockerd >/var/log/reward-dockerd.log 2>&1 &'
    for _ in $(seq 1 90); do
      docker info >/dev/null 2>&1 && break
      sleep 1
    done
  fi
  docker info >/dev/null 2>&1 || die "the docker engine did not come up; see /var/log/reward-dockerd.log"
  log "docker engine: running ($(docker version --format '{{.Server.Version}}'))"
}

COMPOSE=()
ensure_compose() {
  [ "${#COMPOSE[@]}" -gt 0 ] && return
  if docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
  elif command -v docker-compose >/dev/null 2>&1; then
    COMPOSE=(docker-compose)
  else
    apt_install docker-compose
    COMPOSE=(docker-compose)
  fi
  COMPOSE+=(-p "$PROJECT" -f docker-compose.yml -f deploy/compose.offline.yml)
  if [ "$MONITORING" = "1" ]; then COMPOSE+=(--profile monitoring); fi
  log "compose: ${COMPOSE[*]}"
}

# ------------------------------------------------------------------ offline build

debian_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  # The mirror this machine's apt uses for bookworm main (deb822 or one-line sources).
  local found
  found=$(grep -hs -E '^(URIs:|deb )' /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list \
    | grep -v -E 'security|updates' | head -n1 | sed -E 's/^URIs:[[:space:]]*//; s/^deb (\[[^]]*\] )?//; s/[[:space:]].*$//')
  echo "${found:-http://deb.debian.org/debian}"
}

build_base() {
  if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    log "base image $BASE_IMAGE: present"
    return
  fi
  command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
  local mirror rootfs
  mirror=$(debian_mirror)
  rootfs=$(mktemp -d /var/tmp/reward-rootfs.XXXXXX)
  log "base image $BASE_IMAGE: debootstrap bookworm from $mirror (a few minutes)"
  if ! $SUDO debootstrap --variant=minbase --include="$BASE_PACKAGES" bookworm "$rootfs" "$mirror" \
      >"$BUILD_DIR/debootstrap.log" 2>&1; then
    tail -n 20 "$BUILD_DIR/debootstrap.log"
    $SUDO rm -rf "$rootfs"
    die "debootstrap failed (log: $BUILD_DIR/debootstrap.log)"
  fi
  $SUDO rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  $SUDO tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
  $SUDO rm -rf "$rootfs"
  log "base image $BASE_IMAGE: imported ($(image_size "$BASE_IMAGE"))"
}

image_size() { docker image inspect --format '{{.Size}}' "$1" | awk '{printf "%d MB", $1/1e6}'; }

host_pip() {
  if [ -x .venv/bin/pip ]; then echo .venv/bin/pip; else echo "python3 -m pip"; fi
}

build_wheelhouse() {
  mkdir -p "$WHEELHOUSE"
  local stamp
  stamp=$(cat pyproject.toml client/pyproject.toml sandbox/runtime-requirements.txt | sha256sum | cut -d' ' -f1)
  if [ "${OFFLINE:-0}" = "1" ] || [ "$(cat "$WHEELHOUSE/.stamp" 2>/dev/null)" = "$stamp" ]; then
    log "wheelhouse $WHEELHOUSE: up to date ($(find "$WHEELHOUSE" -name '*.whl' | wc -l) wheels)"
    return
  fi
  log "wheelhouse $WHEELHOUSE: pip wheel (the project's dependencies, the sandbox's candidate runtime, setuptools, wheel)"
  # Debian bookworm's Python is 3.11.2: redis then also wants async-timeout (a marker for
  # Python < 3.11.3), which a resolver on a newer 3.11 skips, so it is asked for by name.
  # shellcheck disable=SC2046
  # ./client is named so the service's requirement on its client resolves to this checkout's.
  $(host_pip) wheel --quiet --disable-pip-version-check -w "$WHEELHOUSE" ./client . 'setuptools>=68' wheel \
    'async-timeout>=4.0.3' -r sandbox/runtime-requirements.txt \
    2>"$BUILD_DIR/pip-wheel.log" || { tail -n 20 "$BUILD_DIR/pip-wheel.log"; die "pip wheel failed"; }
  # the image builds the project and its client from source
  rm -f "$WHEELHOUSE"/verifiable_reward_service-*.whl "$WHEELHOUSE"/verifiable_reward_client-*.whl
  echo "$stamp" >"$WHEELHOUSE/.stamp"
  log "wheelhouse: $(find "$WHEELHOUSE" -name '*.whl' | wc -l) wheels"
}

# The Node modules of the runtime directory as tarballs (the image has no npm): fetched
# with npm here, checked against their pinned digests in the image build.
build_node_tarballs() {
  mkdir -p "$NODE_TARBALLS"
  if [ "${OFFLINE:-0}" = "1" ]; then
    log "node tarballs $NODE_TARBALLS: as they are ($(find "$NODE_TARBALLS" -name '*.tgz' | wc -l))"
  elif bash scripts/build_runtime.sh --pack-node "$NODE_TARBALLS" >"$BUILD_DIR/npm-pack.log" 2>&1; then
    log "$(tail -n1 "$BUILD_DIR/npm-pack.log")"
  else
    log "node tarballs: npm could not fetch them (log: $BUILD_DIR/npm-pack.log); the image's JavaScript goes without js-md5"
  fi
}

build_image() {
  log "app image $REWARD_IMAGE: docker build (offline: base $BASE_IMAGE, wheels from $WHEELHOUSE; languages: $LANGUAGES)"
  if ! docker build -f deploy/offline.Dockerfile --build-arg BASE_IMAGE="$BASE_IMAGE" \
      --build-arg WHEELHOUSE="$WHEELHOUSE" --build-arg LANGUAGES="$LANGUAGES" -t "$REWARD_IMAGE" . \
      >"$BUILD_DIR/docker-build.log" 2>&1; then
    tail -n 30 "$BUILD_DIR/docker-build.log"
    die "docker build failed (log: $BUILD_DIR/docker-build.log)"
  fi
  log "app image $REWARD_IMAGE: built ($(image_size "$REWARD_IMAGE"))"
}

build_default() {
  mkdir -p "$BUILD_DIR"
  ensure_engine
  if ! docker image inspect "$DEFAULT_BASE_IMAGE" >/dev/null 2>&1; then
    build_base
    # No registry here: the local debootstrap bookworm stands in for the public one.
    log "default base $DEFAULT_BASE_IMAGE: not here; tagging $BASE_IMAGE with that name (nothing is pulled)"
    docker tag "$BASE_IMAGE" "$DEFAULT_BASE_IMAGE"
  else
    log "default base $DEFAULT_BASE_IMAGE: present"
  fi
  # pip here may trust a proxy's CA (PIP_CERT / pip's global.cert): the build's pip needs it too.
  local cert="${PIP_CERT:-$($(host_pip) config get global.cert 2>/dev/null || true)}"
  rm -f "$BUILD_DIR/pip-ca.crt"
  if [ -n "$cert" ] && [ -f "$cert" ]; then
    cp "$cert" "$BUILD_DIR/pip-ca.crt"
    log "default image: pip in the build trusts $cert (as pip here does)"
  fi
  log "default image $DEFAULT_IMAGE: docker build . (the default Dockerfile: base $DEFAULT_BASE_IMAGE, packages from PyPI)"
  if ! docker build --pull=false --build-arg BASE_IMAGE="$DEFAULT_BASE_IMAGE" --build-arg LANGUAGES="$LANGUAGES" \
      -t "$DEFAULT_IMAGE" . \
      >"$BUILD_DIR/docker-build-default.log" 2>&1; then
    tail -n 30 "$BUILD_DIR/docker-build-default.log"
    die "the default docker build failed (log: $BUILD_DIR/docker-build-default.log)"
  fi
  docker run --rm --entrypoint python "$DEFAULT_IMAGE" -c \
    'import reward_server.app, sandbox, services.scoring; print("default image: the service imports")' \
    || die "the default image does not run the service"
  log "default image $DEFAULT_IMAGE: built ($(image_size "$DEFAULT_IMAGE"))"
}

build_all() {
  mkdir -p "$BUILD_DIR"
  ensure_engine
  build_base
  build_wheelhouse
  build_node_tarballs
  build_image
}

# ------------------------------------------------------------------ the stack

container_of() {  # container_of SERVICE -> the id of its first container
  docker ps -q --filter "label=com.docker.compose.project=$PROJECT" \
    --filter "label=com.docker.compose.service=$1" | head -n1
}

wait_healthy() {
  local service="$1" deadline=$(($(date +%s) + ${2:-180})) id status
  while [ "$(date +%s)" -lt "$deadline" ]; do
    id=$(container_of "$service")
    if [ -n "$id" ]; then
      status=$(docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$id")
      [ "$status" = "healthy" ] && { log "$service: healthy"; return 0; }
    fi
    sleep 2
  done
  log "$service did not become healthy; its last log lines:"
  [ -n "${id:-}" ] && docker logs --tail 40 "$id" 2>&1 | sed 's/^/    /'
  return 1
}

stack_up() {
  ensure_compose
  log "starting: redis, api, $WORKERS worker(s)$([ "$MONITORING" = "1" ] && echo ', prometheus, grafana')"
  "${COMPOSE[@]}" up -d --no-build --scale worker="$WORKERS"
  wait_healthy api 240
  wait_healthy worker 240
}

stack_down() {
  ensure_compose
  "${COMPOSE[@]}" --profile monitoring down --remove-orphans --volumes --timeout 10 2>/dev/null \
    || "${COMPOSE[@]}" down --remove-orphans --volumes --timeout 10
  log "stack $PROJECT: down"
}

run_test() {
  PROJECT="${COMPOSE_PROJECT_NAME:-reward-e2e}"
  WORKERS=2
  MONITORING=0
  local port="${E2E_PORT:-18000}"
  export REWARD_PUBLISH="127.0.0.1:$port"
  REWARD_API_KEY="e2e-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  export REWARD_API_KEY
  local python=.venv/bin/python
  [ -x "$python" ] || die "no .venv: run make install first"
  if ! "$python" -c 'import docker' 2>/dev/null; then
    log "installing the docker SDK into .venv (docker==7.2.0)"
    .venv/bin/pip install --quiet docker==7.2.0
  fi
  build_all
  build_default
  ensure_compose
  trap 'log "tearing down"; stack_down' EXIT
  stack_down >/dev/null 2>&1 || true
  stack_up
  log "running deploy/compose_e2e.py"
  "$python" deploy/compose_e2e.py --project "$PROJECT" --url "http://127.0.0.1:$port" --workers "$WORKERS"
  log "compose end-to-end test: PASSED in $(($(date +%s) - STARTED_AT)) s"
}

case "$ACTION" in
  build) build_all ;;
  build-default) build_default ;;
  up)
    build_all
    stack_up
    log "the API is on http://${REWARD_PUBLISH:-127.0.0.1:8000} (docs at /docs, metrics at /metrics)"
    ;;
  down)
    if docker info >/dev/null 2>&1; then stack_down; else log "no docker engine running: nothing to stop"; fi
    ;;
  test) run_test ;;
  *)
    echo "usage: bash deploy/compose.sh up|down|build|build-default|test   (WORKERS=N MONITORING=1)" >&2
    exit 2
    ;;
esac
