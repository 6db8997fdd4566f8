#!/usr/bin/env bash
# The runtime directory: what the sandbox shows its programs at /usr/lib/sandbox-runtime
# besides the system's own toolchains (sandbox/runtime.py, sandbox/language_table.py).
#
#   bash scripts/build_runtime.sh [--pip PIP] [--pip-args ARGS] [--node-tarballs DIR] DIR
#   bash scripts/build_runtime.sh --pack-node DIR      the pinned Node modules' tarballs into
#                                                      DIR (npm pack), for --node-tarballs
#
# Parts, each built when its language is in LANGUAGES (space- or comma-separated; default
# all; Python's always) and its toolchain is installed, and built again only when what it
# is made of changes (a stamp per part in DIR/.stamps): with everything up to date a run
# takes well under a second. A part is made beside the old one and swapped in when complete.
#
#   site-packages/   Python: sandbox/runtime-requirements.txt (pip --target, no deps)
#   go-cache/        Go: a build cache warmed with the standard packages, testing and testify,
#                    under the sandbox's Go environment (it is mounted read-only there)
#   rust/            Rust: deps/ (regex, md5 and their dependencies from Debian's crate
#                    sources, built offline by Debian's cargo; rand's 0.4 interface from
#                    sandbox/toolchains/rand04) and externs (name=file per line)
#   node_modules/    JavaScript and TypeScript: the pinned modules below
#   tools/           TypeScript: transpile_ts.js
#
# PIP (default `python3 -m pip`) installs site-packages; PIP_ARGS are added to it (an
# image's wheelhouse: --no-index --find-links /wheels).
set -euo pipefail
umask 022  # programs run as unprivileged users: everything here must be world-readable

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ALL_LANGUAGES="c cpp java javascript typescript go rust bash"
LANGUAGES="$(echo "${LANGUAGES:-$ALL_LANGUAGES}" | tr ',' ' ')"
TOOL_PATH="/usr/local/bin:/usr/bin:/bin"  # the sandbox's PATH (sandbox/constants.py)

# sandbox/language_table.py's GO_ENV, all but GOCACHE (tests/test_runtime_build.py holds
# them equal): the cache only serves builds made with the same settings.
GO_ENV=(GO111MODULE=off GOPATH=/usr/share/gocode CGO_ENABLED=0 GOFLAGS=-trimpath GOMAXPROCS=1
        GOTMPDIR=/tmp GOENV=off GOTOOLCHAIN=local)
# name@version integrity (npm's sha512), modules without dependencies of their own: the
# tarball is unpacked as it is. HumanEval-X's JavaScript imports js-md5.
NODE_MODULES=(
  "js-md5@0.7.3 sha512-ZC41vPSTLKGwIRjqDh8DfXoCrdQIyBgspJVPXHBGu4nZlAEvG3nf+jO9avM9RmLiGakg7vz974ms99nEV0tmTQ=="
)
TS_MODULE=/usr/share/nodejs/typescript  # Debian's node-typescript

usage() {
  sed -n '5,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

PIP="python3 -m pip"
PIP_ARGS=""
NODE_TARBALLS=""
PACK_NODE=""
DIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --pip) PIP="$2"; shift 2 ;;
    --pip-args) PIP_ARGS="$2"; shift 2 ;;
    --node-tarballs) NODE_TARBALLS="$2"; shift 2 ;;
    --pack-node) PACK_NODE="$2"; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "build_runtime: unknown option $1" >&2; usage ;;
    *) [ -z "$DIR" ] || usage; DIR="$1"; shift ;;
  esac
done

for language in $LANGUAGES; do
  case " python $ALL_LANGUAGES " in
    *" $language "*) ;;
    *) echo "build_runtime: unknown language '$language' in LANGUAGES (known: python $ALL_LANGUAGES)" >&2; exit 2 ;;
  esac
done

wants() {  # wants LANGUAGE...: whether any of them is in LANGUAGES
  local language
  for language in "$@"; do
    case " $LANGUAGES " in *" $language "*) return 0 ;; esac
  done
  return 1
}

have() { PATH="$TOOL_PATH" command -v "$1" >/dev/null 2>&1; }

package_version() { dpkg-query -W -f '${Version}' "$1" 2>/dev/null || echo none; }

# ------------------------------------------------------------------ parts and their stamps

part() {  # part NAME KEY BUILD_FUNCTION: build DIR/NAME unless its stamp holds KEY
  local name="$1" key="$2" build="$3" stamp="$DIR/.stamps/$1" staging="$DIR/.$1.new" started
  if [ -e "$DIR/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$key" ]; then
    echo "$name: up to date"
    return 0
  fi
  started=$(date +%s)
  rm -rf "$staging"
  mkdir -p "$staging" "$DIR/.stamps"
  if ! "$build" "$staging"; then
    rm -rf "$staging"
    echo "$name: FAILED" >&2
    return 1
  fi
  if [ -f "$staging/.skipped" ]; then  # the build found it cannot run here; nothing changes
    echo "$name: skipped: $(cat "$staging/.skipped")"
    rm -rf "$staging"
    return 0
  fi
  rm -rf "${DIR:?}/$name"
  mv "$staging" "$DIR/$name"
  echo "$key" >"$stamp"
  echo "$name: built in $(($(date +%s) - started)) s ($(du -sh "$DIR/$name" | cut -f1))"
}

skip() { echo "$1: skipped: $2"; }

key() { cat "$@" | sha256sum | cut -d' ' -f1; }

# ------------------------------------------------------------------ site-packages (Python)

build_site_packages() {
  # shellcheck disable=SC2086
  $PIP install --quiet --disable-pip-version-check --no-deps --target "$1" $PIP_ARGS \
    -r "$REPO/sandbox/runtime-requirements.txt"
}

site_packages() {
  local python
  if ! python=$($PIP --version 2>/dev/null); then
    skip site-packages "no pip ($PIP)"
    return
  fi
  part site-packages "$(key <(declare -f build_site_packages) "$REPO/sandbox/runtime-requirements.txt" \
    <(echo "${python##*(}"))" build_site_packages
}

# ------------------------------------------------------------------ go-cache (Go)

go_env() { env -i PATH="$TOOL_PATH" HOME=/nonexistent LANG=C.UTF-8 "${GO_ENV[@]}" "$@"; }

build_go_cache() {
  local cache="$1" work
  work=$(mktemp -d)
  # One program and its test importing what HumanEval-X's Go programs import: the standard
  # library's packages and testify are compiled into the cache once, here.
  cat >"$work/main.go" <<'EOF'
package main

import (
	"bytes"
	"container/heap"
	"crypto/md5"
	"fmt"
	"math"
	"math/rand"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

type ints []int

func (h ints) Len() int            { return len(h) }
func (h ints) Less(i, j int) bool  { return h[i] < h[j] }
func (h ints) Swap(i, j int)       { h[i], h[j] = h[j], h[i] }
func (h *ints) Push(x interface{}) { *h = append(*h, x.(int)) }
func (h *ints) Pop() interface{} {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func summary(words []string) string {
	h := &ints{}
	for _, w := range words {
		heap.Push(h, len(w))
	}
	sort.Strings(words)
	var b bytes.Buffer
	b.WriteString(strings.Join(words, ","))
	n, _ := strconv.Atoi("42")
	upper := unicode.IsUpper(rune(words[0][0]))
	ok := regexp.MustCompile(`^[a-z]+$`).MatchString(words[0])
	r := rand.New(rand.NewSource(time.Now().UnixNano())).Intn(2)
	return fmt.Sprintf("%s %d %v %v %d %x %.1f", b.String(), heap.Pop(h), upper, ok, n+r-r,
		md5.Sum([]byte("x")), math.Sqrt(2))
}

func main() { fmt.Println(summary([]string{"b", "a"})) }
EOF
  cat >"$work/main_test.go" <<'EOF'
package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSummary(t *testing.T) {
	assert := assert.New(t)
	assert.Contains(summary([]string{"b", "a"}), "a,b 1 false true 42")
}
EOF
  (cd "$work" && go_env GOCACHE="$cache" go build -o "$work/solution" main.go \
    && go_env GOCACHE="$cache" go test -c -o "$work/solution.test" . \
    && "$work/solution.test" -test.count=1 >/dev/null)
  local status=$?
  rm -rf "$work"
  return $status
}

go_cache() {
  wants go || { skip go-cache "go is not in LANGUAGES"; return; }
  have go || { skip go-cache "no go (golang-go)"; return; }
  [ -d /usr/share/gocode/src/github.com/stretchr/testify ] \
    || { skip go-cache "no testify (golang-github-stretchr-testify-dev)"; return; }
  part go-cache "$(key <(declare -f build_go_cache) <(printf '%s\n' "${GO_ENV[@]}") \
    <(go_env go version) <(package_version golang-github-stretchr-testify-dev))" build_go_cache
}

# ------------------------------------------------------------------ rust (Rust)

RUSTC=/usr/bin/rustc  # Debian's: the sandbox's rustc; a rustup toolchain elsewhere on PATH differs
CARGO=/usr/bin/cargo

rust_env() { env -i PATH=/usr/bin:/bin HOME=/nonexistent LANG=C.UTF-8 "$@"; }

build_rust() {
  local out="$1" work file name
  work=$(mktemp -d)
  mkdir -p "$work/crates/.cargo" "$out/deps"
  # Debian's crate sources (/usr/share/cargo/registry) stand in for crates.io: no network.
  cat >"$work/crates/.cargo/config.toml" <<'EOF'
[source.crates-io]
replace-with = "debian"

[source.debian]
directory = "/usr/share/cargo/registry"

[net]
offline = true
EOF
  # The profile matches the sandbox's `rustc -O -C codegen-units=1` (language_table.RUST_FLAGS).
  cat >"$work/crates/Cargo.toml" <<'EOF'
[package]
name = "sandbox-runtime-crates"
version = "0.0.0"
edition = "2021"

[lib]
path = "lib.rs"

[dependencies]
regex = "1"
md5 = "0.7"

[profile.release]
opt-level = 2
codegen-units = 1
debug = false
incremental = false
EOF
  : >"$work/crates/lib.rs"
  if ! (cd "$work/crates" && rust_env CARGO_HOME="$work/cargo-home" RUSTC="$RUSTC" \
      "$CARGO" build --quiet --release --offline --target-dir "$work/target"); then
    rm -rf "$work"
    return 1
  fi
  for file in "$work"/target/release/deps/lib*.rlib; do
    case "$(basename "$file")" in libsandbox_runtime_crates-*) continue ;; esac
    cp "$file" "$out/deps/"
  done
  rust_env "$RUSTC" --edition 2021 -O -C codegen-units=1 --crate-type rlib --crate-name rand \
    -o "$out/deps/librand.rlib" "$REPO/sandbox/toolchains/rand04/lib.rs" || { rm -rf "$work"; return 1; }
  {
    echo "rand=librand.rlib"
    for name in regex md5; do
      set -- "$out"/deps/lib"$name"-*.rlib
      if [ $# -ne 1 ] || [ ! -f "$1" ]; then
        echo "rust: expected one lib$name-*.rlib, found: $*" >&2
        rm -rf "$work"
        return 1
      fi
      echo "$name=$(basename "$1")"
    done
  } >"$out/externs"
  # What the sandbox compiles with (RUST_FLAGS and rust_crates()), on a program using all three.
  cat >"$work/check.rs" <<'EOF'
use rand::Rng;
use regex::Regex;
fn main() {
    let n: u8 = rand::thread_rng().gen_range(b'a', b'z' + 1);
    assert!(Regex::new(r"^[a-z]$").unwrap().is_match(&(n as char).to_string()));
    assert_eq!(format!("{:x}", md5::compute(b"abc")), "900150983cd24fb0d6963f7d28e17f72");
}
EOF
  local externs=()
  while IFS='=' read -r name file; do externs+=(--extern "$name=$out/deps/$file"); done <"$out/externs"
  rust_env "$RUSTC" --edition 2021 -O -C strip=debuginfo -C codegen-units=1 -L "dependency=$out/deps" \
    "${externs[@]}" -o "$work/check" "$work/check.rs" && "$work/check"
  local status=$?
  rm -rf "$work"
  return $status
}

rust() {
  wants rust || { skip rust "rust is not in LANGUAGES"; return; }
  [ -x "$RUSTC" ] || { skip rust "no $RUSTC (rustc)"; return; }
  [ -x "$CARGO" ] || { skip rust "no $CARGO (cargo): the crates are built with it"; return; }
  local source
  for source in regex md5; do
    compgen -G "/usr/share/cargo/registry/$source-*" >/dev/null \
      || { skip rust "no $source sources in /usr/share/cargo/registry (librust-regex+default-dev, librust-md5-dev)"; return; }
  done
  part rust "$(key <(declare -f build_rust) "$REPO/sandbox/toolchains/rand04/lib.rs" <(rust_env "$RUSTC" -vV) \
    <(rust_env "$CARGO" --version) <(ls /usr/share/cargo/registry))" build_rust
}

# ------------------------------------------------------------------ node_modules (JS, TS)

tarball_name() { local spec="$1"; echo "${spec%@*}-${spec##*@}.tgz"; }

sha512_of() { python3 -c 'import base64, hashlib, sys; print("sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$1"; }

npm_pack() {  # npm_pack DIR: the pinned tarballs into DIR from the npm registry (kept when right)
  local entry spec
  for entry in "${NODE_MODULES[@]}"; do
    spec="${entry%% *}"
    [ -f "$1/$(tarball_name "$spec")" ] && [ "$(sha512_of "$1/$(tarball_name "$spec")")" = "${entry##* }" ] && continue
    have npm || { echo "no npm" >&2; return 1; }
    (cd "$1" && npm pack --silent --fetch-retries=1 --fetch-timeout=30000 "$spec" >/dev/null) || return 1
  done
}

build_node_modules() {
  local out="$1" from="$NODE_TARBALLS" entry spec integrity tarball name
  if [ -z "$from" ]; then
    from=$(mktemp -d)
    if ! npm_pack "$from" 2>"$from/npm.log"; then
      echo "npm could not fetch ${NODE_MODULES[*]%% *} ($(tail -n1 "$from/npm.log" | cut -c1-120))" >"$out/.skipped"
      rm -rf "$from"
      return 0
    fi
  fi
  for entry in "${NODE_MODULES[@]}"; do
    spec="${entry%% *}" integrity="${entry##* }" name="${spec%@*}"
    tarball="$from/$(tarball_name "$spec")"
    if [ ! -f "$tarball" ]; then
      echo "no $(basename "$tarball") in $from" >"$out/.skipped"
      return 0
    fi
    [ "$(sha512_of "$tarball")" = "$integrity" ] || { echo "node_modules: $tarball is not $spec ($integrity)" >&2; return 1; }
    mkdir -p "$out/$name"
    tar -xzf "$tarball" -C "$out/$name" --strip-components=1 --no-same-owner
    chmod -R u+w,a+rX "$out/$name"
  done
  [ -n "$NODE_TARBALLS" ] || rm -rf "$from"
}

node_modules() {
  wants javascript typescript || { skip node_modules "neither javascript nor typescript is in LANGUAGES"; return; }
  have node || { skip node_modules "no node (nodejs)"; return; }
  if [ -z "$NODE_TARBALLS" ] && ! have npm; then
    skip node_modules "no npm to fetch ${NODE_MODULES[*]%% *} (or give --node-tarballs DIR)"
    return
  fi
  part node_modules "$(key <(declare -f build_node_modules) <(printf '%s\n' "${NODE_MODULES[@]}"))" build_node_modules
}

# ------------------------------------------------------------------ tools (TypeScript)

build_tools() {
  local work
  cp "$REPO/sandbox/toolchains/transpile_ts.js" "$1/transpile_ts.js"
  work=$(mktemp -d)
  echo 'const n: number = 6 * 7; console.log(String(n));' >"$work/check.ts"
  (cd "$work" && env -i PATH="$TOOL_PATH" NODE_PATH=/usr/share/nodejs node "$1/transpile_ts.js" check.ts check.js \
    && [ "$(env -i PATH="$TOOL_PATH" node check.js)" = 42 ])
  local status=$?
  rm -rf "$work"
  return $status
}

tools() {
  wants typescript || { skip tools "typescript is not in LANGUAGES"; return; }
  have node || { skip tools "no node (nodejs)"; return; }
  [ -d "$TS_MODULE" ] || { skip tools "no $TS_MODULE (node-typescript)"; return; }
  part tools "$(key <(declare -f build_tools) "$REPO/sandbox/toolchains/transpile_ts.js")" build_tools
}

# ------------------------------------------------------------------ main

if [ -n "$PACK_NODE" ]; then
  mkdir -p "$PACK_NODE"
  npm_pack "$PACK_NODE"
  echo "node tarballs in $PACK_NODE: $(cd "$PACK_NODE" && echo *.tgz)"
  exit 0
fi
[ -n "$DIR" ] || usage
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
site_packages
go_cache
rust
node_modules
tools
