#!/bin/sh
# System packages of the reward image, from Debian bookworm, installed with apt when missing
# (--no-install-recommends): Python 3.11 with venv, Redis (the compose stack's queue can run
# from this image), tini (PID 1), and the code sandbox's languages.
#
#   sh system-packages.sh           what the service needs at run time
#   sh system-packages.sh --build   what building the image needs besides: a C compiler (the
#                                   sandbox's native helper), cargo and the crate sources the
#                                   runtime directory's Rust crates are built from
#   sh system-packages.sh --list [--build]
#                                   print the languages' packages only (scripts/install_system.sh
#                                   installs them on a host), one a line
#
# LANGUAGES (space- or comma-separated; default all): c cpp java javascript typescript go
# rust bash. Python is always there (the service runs on it): LANGUAGES=python is Python alone.
set -eu

ALL_LANGUAGES="c cpp java javascript typescript go rust bash"
LANGUAGES=$(echo "${LANGUAGES:-$ALL_LANGUAGES}" | tr ',' ' ')
BUILD=0
LIST=0
for arg in "$@"; do
  case "$arg" in
    --build) BUILD=1 ;;
    --list) LIST=1 ;;
    *) echo "usage: system-packages.sh [--build] [--list]" >&2; exit 2 ;;
  esac
done
for language in $LANGUAGES; do
  case " python $ALL_LANGUAGES " in
    *" $language "*) ;;
    *) echo "unknown language '$language' in LANGUAGES (known: python $ALL_LANGUAGES)" >&2; exit 2 ;;
  esac
done

# A Node.js already on the machine (NodeSource's, say) serves; bookworm's otherwise.
node_package() { command -v node >/dev/null 2>&1 || echo nodejs; }

language_packages() {
  for language in $LANGUAGES; do
    case "$language" in
      c) echo gcc ;;
      # Boost's headers and OpenSSL's libcrypto: HumanEval-X's C++ includes both.
      cpp) echo g++ libboost-dev libssl-dev ;;
      # javatuples: MultiPL-E's Java imports it.
      java) echo default-jdk-headless libjavatuples-java ;;
      javascript) node_package ;;
      typescript) node_package; echo node-typescript ;;
      go) echo golang-go golang-github-stretchr-testify-dev ;;
      rust)
        echo rustc
        if [ "$BUILD" = 1 ]; then echo cargo librust-regex+default-dev librust-md5-dev; fi
        ;;
      bash) echo bash bc ;;
    esac
  done
}

if [ "$LIST" = 1 ]; then
  language_packages | tr ' ' '\n' | awk 'NF && !seen[$0]++'
  exit 0
fi

wanted="python3 python3-venv redis-server tini $(language_packages | tr '\n' ' ')"
if [ "$BUILD" = 1 ]; then wanted="$wanted gcc"; fi
missing=""
for package in $wanted; do
  case " $missing " in *" $package "*) continue ;; esac
  dpkg -s "$package" >/dev/null 2>&1 || missing="$missing $package"
done
if [ -n "$missing" ]; then
  echo "installing:$missing"
  apt-get update
  # shellcheck disable=SC2086
  apt-get install -y --no-install-recommends $missing
  # The downloaded .debs and the package lists (a debootstrap base keeps both) stay out of
  # the layer: hundreds of MB.
  apt-get clean
  rm -rf /var/lib/apt/lists/*
fi
