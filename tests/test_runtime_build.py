"""The runtime directory's build (scripts/build_runtime.sh) and the languages' system packages
(deploy/system-packages.sh), checked against what the sandbox reads: the language table's
Go environment and runtime parts, the ``rust/externs`` format ``rust_crates()`` parses, and
the images, compose files and Makefile that call them. Where ``make install`` has built the
checkout's runtime directory, its parts are used as the sandbox uses them. Nothing here
downloads anything."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from sandbox import language_table
from sandbox.languages import LANGUAGES, RUNTIME_IN_ROOT
from sandbox.runtime import DEFAULT_RUNTIME_DIR

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "build_runtime.sh"
SCRIPT_TEXT = SCRIPT.read_text()
SYSTEM_PACKAGES = REPO / "deploy" / "system-packages.sh"
PARTS = {"site-packages", "go-cache", "rust", "node_modules", "tools"}
"""The parts the script builds, each under the name the sandbox mounts."""
RUNTIME = Path(os.environ.get("REWARD_SANDBOX_RUNTIME", "").strip() or DEFAULT_RUNTIME_DIR)


def script_languages(text: str) -> list[str]:
    return re.search(r'^ALL_LANGUAGES="([^"]+)"', text, re.M).group(1).split()


def package_list(*args: str, languages: str) -> list[str]:
    done = subprocess.run(["sh", str(SYSTEM_PACKAGES), "--list", *args], capture_output=True, text=True,
                          env={**os.environ, "LANGUAGES": languages}, check=True)  # fmt: skip
    return done.stdout.split()


# ------------------------------------------------------------------ the contract with the table


def test_go_cache_is_warmed_with_the_sandboxs_go_environment():
    block = re.search(r"^GO_ENV=\(([^)]*)\)", SCRIPT_TEXT, re.M | re.S).group(1)
    script_env = dict(item.split("=", 1) for item in block.split())
    table_env = dict(language_table.GO_ENV)
    # A cache entry serves only builds made with the same settings; GOCACHE alone differs
    # (the script writes where the sandbox later mounts it read-only).
    assert table_env.pop("GOCACHE") == f"{RUNTIME_IN_ROOT}/go-cache"
    assert script_env == table_env


def test_every_runtime_part_a_language_mounts_is_built():
    mounted = {
        part for language in LANGUAGES.values() for part in (*language.run_runtime, *language.compile_runtime)
    }
    assert mounted <= PARTS, mounted - PARTS
    for part in PARTS:
        assert f"part {part} " in SCRIPT_TEXT, part


def test_every_language_of_the_table_has_packages():
    """A language added to the table without packages would be installed nowhere."""
    for script in (SCRIPT_TEXT, SYSTEM_PACKAGES.read_text()):
        known = set(script_languages(script))
        for name in LANGUAGES:
            assert name == "python" or name.split("_")[0] in known, name
    assert script_languages(SCRIPT_TEXT) == script_languages(SYSTEM_PACKAGES.read_text())
    for language in script_languages(SCRIPT_TEXT):
        # A Node.js already installed serves JavaScript: nothing to add then.
        assert package_list(languages=language) or (language == "javascript" and shutil.which("node")), (
            language
        )


def test_languages_pick_packages():
    assert package_list(languages="python") == []
    assert package_list(languages="go,rust") == ["golang-go", "golang-github-stretchr-testify-dev", "rustc"]
    # The crates' sources and cargo only where the runtime directory is built.
    assert {"cargo", "librust-regex+default-dev", "librust-md5-dev"} <= set(
        package_list("--build", languages="rust")
    )
    assert "libboost-dev" in package_list(languages="c cpp")
    done = subprocess.run(["sh", str(SYSTEM_PACKAGES), "--list"], capture_output=True, text=True,
                          env={**os.environ, "LANGUAGES": "go cobol"})  # fmt: skip
    assert done.returncode == 2 and "cobol" in done.stderr


def test_rust_externs_format_is_what_rust_crates_reads(tmp_path):
    (tmp_path / "rust").mkdir()
    assert language_table.rust_crates(str(tmp_path)) == ()  # no listing: no crates
    # What build_rust writes: rand first, then one line per crate of Debian's.
    assert 'echo "rand=librand.rlib"' in SCRIPT_TEXT and 'echo "$name=$(basename "$1")"' in SCRIPT_TEXT
    (tmp_path / "rust" / "externs").write_text(
        "rand=librand.rlib\nregex=libregex-0a1b.rlib\nmd5=libmd5-2c3d.rlib\n"
    )
    deps = f"{RUNTIME_IN_ROOT}/rust/deps"
    assert language_table.rust_crates(str(tmp_path)) == (
        "-L", f"dependency={deps}", "--extern", f"rand={deps}/librand.rlib",
        "--extern", f"regex={deps}/libregex-0a1b.rlib", "--extern", f"md5={deps}/libmd5-2c3d.rlib",
    )  # fmt: skip


def test_transpile_ts_is_the_table_s_compile_step():
    typescript = LANGUAGES["typescript"]
    assert typescript.compile_argv[1] == f"{RUNTIME_IN_ROOT}/tools/transpile_ts.js"
    assert "tools" in typescript.compile_runtime
    assert (REPO / "sandbox" / "toolchains" / "transpile_ts.js").is_file()


# ------------------------------------------------------------------ who calls the script


def test_make_install_builds_the_runtime_directory():
    makefile = (REPO / "Makefile").read_text()
    rule = re.search(r"^\$\(STAMP\): (.*)\n((?:\t.*\n)+)", makefile, re.M)
    inputs = re.search(r"^RUNTIME_INPUTS := (.*)$", makefile, re.M).group(1)
    assert "$(RUNTIME_INPUTS)" in rule.group(1)
    # The stamp depends on the script and on every file it builds from.
    for needed in ("scripts/build_runtime.sh", "sandbox/runtime-requirements.txt"):
        assert needed in inputs, needed
    assert "$(wildcard sandbox/toolchains/" in inputs
    for source in (REPO / "sandbox" / "toolchains").rglob("*"):
        if source.is_file() and "__pycache__" not in source.parts:
            assert source.name in SCRIPT_TEXT, source  # each one is used by a part
    assert "bash scripts/build_runtime.sh --pip $(BIN)/pip $(RUNTIME_DIR)" in rule.group(2)
    assert re.search(r"^RUNTIME_DIR := \.sandbox-runtime$", makefile, re.M)


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "deploy/offline.Dockerfile"])
def test_images_install_the_languages_and_build_the_runtime(dockerfile):
    text = (REPO / dockerfile).read_text().replace("\\\n", " ")  # continued lines joined
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    assert re.search(r'^ARG LANGUAGES="c cpp java javascript typescript go rust bash"$', text, re.M)
    for stage in stages:
        if "reward-system-packages" in stage:  # each stage that installs packages gets the languages
            assert re.search(r"^ARG LANGUAGES$", stage, re.M), stage.splitlines()[0]
    builds = [stage for stage in stages if "build_runtime.sh" in stage]
    assert len(builds) == 1
    assert "RUN sh /usr/local/sbin/reward-system-packages --build" in builds[0]
    assert re.search(r"^RUN bash /src/scripts/build_runtime.sh .*/opt/sandbox-runtime$", builds[0], re.M)
    for source in ("scripts/build_runtime.sh", "sandbox/runtime-requirements.txt", "sandbox/toolchains"):
        assert re.search(rf"^COPY {source} ", builds[0], re.M), source
    final = stages[-1]
    # The stage building the runtime directory starts as the final one does: one shared
    # layer of system packages, so the toolchains it builds with are the ones that run.
    installer = next(stage for stage in stages if "reward-system-packages" in stage)
    prefix = final.split("\n", 1)[1].split("RUN sh /usr/local/sbin/reward-system-packages\n")[0]
    assert installer.split("\n", 1)[1].startswith(prefix) and prefix.count("\n") >= 3
    assert "COPY --from=" in final and " /opt/sandbox-runtime /opt/sandbox-runtime" in final
    assert "RUN sh /usr/local/sbin/reward-system-packages\n" in final and "--build" not in final
    assert "REWARD_SANDBOX_RUNTIME=/opt/sandbox-runtime" in final
    if dockerfile == "deploy/offline.Dockerfile":
        assert '--pip-args "--no-index --find-links /wheels"' in builds[0]


def test_the_node_tarball_is_the_pinned_one():
    pins = re.findall(r'^  "([^@ ]+)@(\S+) (sha512-\S+)"$', SCRIPT_TEXT, re.M)
    assert pins == [("js-md5", "0.7.3", pins[0][2])]
    dockerfile = (REPO / "Dockerfile").read_text()
    urls = re.findall(r"^ADD (https://\S+) /tmp/reward-build/node/$", dockerfile, re.M)
    assert urls == [f"https://registry.npmjs.org/{name}/-/{name}-{version}.tgz" for name, version, _ in pins]
    assert "--node-tarballs /tmp/reward-build/node" in dockerfile
    ignore = (REPO / ".dockerignore").read_text().split()
    assert "!scripts/build_runtime.sh" in ignore and "!deploy/.build/node" in ignore
    assert "--pack-node" in (REPO / "deploy" / "compose.sh").read_text()


def test_compose_passes_languages_through():
    default = "${LANGUAGES:-c cpp java javascript typescript go rust bash}"
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert compose["x-reward-image"]["build"]["args"]["LANGUAGES"] == default
    offline = yaml.safe_load((REPO / "deploy" / "compose.offline.yml").read_text())
    assert offline["x-offline-build"]["args"]["LANGUAGES"] == default
    script = (REPO / "deploy" / "compose.sh").read_text()
    assert script.count('--build-arg LANGUAGES="$LANGUAGES"') == 2  # the offline and the default build


def test_scripts_parse():
    for script in (SCRIPT, REPO / "scripts" / "install_system.sh"):
        done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    done = subprocess.run(["bash", str(SCRIPT), "/tmp/x"], capture_output=True, text=True,
                          env={**os.environ, "LANGUAGES": "go,klingon"})  # fmt: skip
    assert done.returncode == 2 and "klingon" in done.stderr


# ------------------------------------------------------------------ the built parts, used


def built(part: str) -> Path:
    path = RUNTIME / part
    if not path.exists():
        pytest.skip(f"{path} is not built (make install builds it where its toolchain is installed)")
    return path


def test_built_rust_crates_link_a_program(tmp_path):
    deps = built("rust") / "deps"
    args = language_table.rust_crates(str(RUNTIME))
    names = [arg.split("=", 1)[0] for arg in args[3::2]]
    assert names == ["rand", "regex", "md5"]
    host_args = [arg.replace(f"{RUNTIME_IN_ROOT}/rust/deps", str(deps)) for arg in args]
    (tmp_path / "main.rs").write_text(
        "use rand::Rng;\nuse regex::Regex;\n"
        "fn main() { let n: i64 = rand::thread_rng().gen_range(3, 4);\n"
        '  println!("{} {} {:x}", n, Regex::new("a+").unwrap().is_match("caab"), md5::compute(b"")); }\n'
    )
    done = subprocess.run(
        ["/usr/bin/rustc", *language_table.RUST_FLAGS, *host_args, "-o", "main", "main.rs"],
        cwd=tmp_path, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = subprocess.run([str(tmp_path / "main")], capture_output=True, text=True).stdout
    assert out == "3 true d41d8cd98f00b204e9800998ecf8427e\n"


def test_built_go_cache_serves_a_read_only_build():
    cache = built("go-cache")
    if shutil.which("go", path="/usr/local/bin:/usr/bin:/bin") is None:
        pytest.skip("no go")
    with tempfile.TemporaryDirectory(prefix="go-cache-check-") as tmp:  # one an unprivileged user can enter
        os.chmod(tmp, 0o755)
        go_build_with_a_read_only_cache(cache, Path(tmp))


def go_build_with_a_read_only_cache(cache: Path, tmp_path: Path) -> None:
    copy = tmp_path / "cache"
    shutil.copytree(cache, copy)
    subprocess.run(["chmod", "-R", "a-w,a+rX", str(copy)], check=True)
    work = tmp_path / "work"
    work.mkdir()
    (work / "main.go").write_text(
        'package main\n\nimport (\n\t"fmt"\n\t"strings"\n)\n\n'
        'func main() { fmt.Println(strings.Repeat("go", 2)) }\n'
    )
    (work / "main_test.go").write_text(
        'package main\n\nimport (\n\t"strings"\n\t"testing"\n\n\t"github.com/stretchr/testify/assert"\n)\n\n'
        'func TestRepeat(t *testing.T) { assert.Equal(t, "gogo", strings.Repeat("go", 2)) }\n'
    )
    os.chmod(work, 0o777)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp",
           **dict(language_table.GO_ENV), "GOCACHE": str(copy)}  # fmt: skip
    # As the sandbox runs it: an unprivileged user, for whom the cache is read-only.
    drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    started = time.monotonic()
    done = subprocess.run([*drop, "go", "test", "-c", "-o", "solution.test", "."], cwd=work,
                          capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    # Compiling the standard packages and testify anew takes tens of seconds.
    assert elapsed < 15, f"go test -c took {elapsed:.1f} s: the cache did not serve it"
    assert subprocess.run([str(work / "solution.test")], capture_output=True).returncode == 0


def test_built_transpiler_reports_syntax_errors(tmp_path):
    tool = built("tools") / "transpile_ts.js"
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "NODE_PATH": "/usr/share/nodejs"}
    (tmp_path / "ok.ts").write_text("enum E { A = 2 }\nconst x: number = E.A * 21;\nconsole.log(x);\n")
    (tmp_path / "bad.ts").write_text("let x: number = (1;\n")
    done = subprocess.run(
        ["node", str(tool), "ok.ts", "ok.js"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert subprocess.run(["node", "ok.js"], cwd=tmp_path, capture_output=True, text=True).stdout == "42\n"
    done = subprocess.run(
        ["node", str(tool), "bad.ts", "bad.js"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 1 and re.match(r"bad\.ts\(1,\d+\): error TS\d+: ", done.stderr), done.stderr
    assert not (tmp_path / "bad.js").exists()
