"""The languages the sandbox runs, from Debian's packages (what ``make system`` installs).

Each entry names what its steps need of the host (shown in its roots only), the flags that
keep a runtime's threads and memory inside a run's limits, and how to ask its version.
Thread counts measured on the test VM with these flags: a JVM 12 to 13, Node 4 (plus one
libuv thread once it does asynchronous I/O), a Go program 3 to 5, javac 14, rustc 5, the go
command 8.
"""

from __future__ import annotations

import os

from sandbox.languages import RUNTIME_IN_ROOT, Language, register_language

JDK = "/usr/lib/jvm/java-17-openjdk-amd64"
JVM_FLAGS = (
    "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:CICompilerCount=1", "-XX:-UsePerfData",
    "-Xshare:auto", "-XX:ActiveProcessorCount=1", "-XX:+ReduceSignalUsage", "-XX:+DisableAttachMechanism",
)  # fmt: skip
"""One serial collector, the client compiler with one thread: a JVM's threads stay at about
twelve whatever the host's CPUs, and start-up takes tens of milliseconds (the class-data
sharing archive)."""
JAVA_CLASSPATH = ".:/usr/share/java/javatuples.jar"
"""The work dir, and javatuples where it is installed (MultiPL-E's Java imports it)."""
GO_ENV = (
    ("GO111MODULE", "off"), ("GOPATH", "/usr/share/gocode"), ("CGO_ENABLED", "0"), ("GOFLAGS", "-trimpath"),
    ("GOCACHE", f"{RUNTIME_IN_ROOT}/go-cache"), ("GOMAXPROCS", "1"), ("GOTMPDIR", "/tmp"), ("GOENV", "off"),
    ("GOTOOLCHAIN", "local"),
)  # fmt: skip
"""Debian's packaged modules (testify and its dependencies under /usr/share/gocode), no cgo
(a static binary that needs nothing at run time), a build cache warmed when the runtime is
built (read-only here: the standard library and testify are compiled there once), paths
trimmed so the cache serves any work dir."""
RUST_FLAGS = ("--edition", "2021", "-O", "-C", "strip=debuginfo", "-C", "codegen-units=1")
"""Debian's standard library carries debug information (a test binary of 19 MB, over a run's
file-size limit, without ``strip=debuginfo``); one codegen unit keeps rustc to five threads."""


def rust_crates(runtime_dir: str) -> tuple[str, ...]:
    """``--extern`` arguments for the crates the runtime directory holds prebuilt
    (``rust/externs``, one ``name=file`` per line: HumanEval-X's rand, regex and md5)."""
    listing = os.path.join(runtime_dir, "rust", "externs")
    if not os.path.isfile(listing):
        return ()
    args: list[str] = ["-L", f"dependency={RUNTIME_IN_ROOT}/rust/deps"]
    with open(listing) as fh:
        for line in fh:
            name, _, file_name = line.strip().partition("=")
            if name and file_name:
                args += ["--extern", f"{name}={RUNTIME_IN_ROOT}/rust/deps/{file_name}"]
    return tuple(args)


GCC_TOOLS = ("gcc", "cc", "cpp", "as", "ld")
GCC_PATHS = ("/usr/lib/gcc", "/usr/libexec/gcc", "/usr/include", "/usr/local/include", "/usr/lib/bfd-plugins")

register_language(Language(
    name="python", source_file="solution.py", run_argv=None, aliases=("py", "python3"),
    description="CPython in the fork server's warm interpreter, the candidate runtime's site-packages",
))  # fmt: skip
register_language(Language(
    name="cpp", source_file="solution.cpp", artifacts=("solution",), run_argv=("./solution",),
    compile_argv=("g++", "-O2", "-std=c++17", "-pipe", "-o", "solution", "{source}", "-lcrypto"),
    compile_tools=("g++", "c++", *GCC_TOOLS), compile_paths=GCC_PATHS, version_argv=("g++", "--version"),
    aliases=("c++", "cxx", "cc"), description="g++ -O2 -std=c++17 (Boost's headers, OpenSSL's libcrypto)",
))  # fmt: skip
register_language(Language(
    name="c", source_file="solution.c", artifacts=("solution",), run_argv=("./solution",),
    compile_argv=("gcc", "-O2", "-std=gnu17", "-pipe", "-o", "solution", "{source}", "-lm"),
    compile_tools=GCC_TOOLS, compile_paths=GCC_PATHS, version_argv=("gcc", "--version"),
    description="gcc -O2 -std=gnu17",
))  # fmt: skip
register_language(Language(
    name="java", source_file="Main.java", main_class_file=True, artifacts=("*.class",),
    compile_argv=("javac", *(f"-J{flag}" for flag in JVM_FLAGS[:6]), "-encoding", "UTF-8", "-cp", JAVA_CLASSPATH,
                  "-d", ".", "{source}"),
    run_argv=("java", *JVM_FLAGS, "-Xmx{heap_mb}m", "-Xss8m", "-XX:ReservedCodeCacheSize=32m",
              "-XX:MaxMetaspaceSize=128m", "-ea", "-cp", JAVA_CLASSPATH, "{main_class}"),
    env=(("MALLOC_ARENA_MAX", "1"),),
    run_tools=("java",), run_paths=(f"{JDK}/bin/java", f"{JDK}/lib", f"{JDK}/conf", "/etc/java-17-openjdk",
                                    "/usr/share/java/javatuples.jar"),
    compile_tools=("javac",), compile_paths=(JDK, "/etc/java-17-openjdk", "/usr/share/java/javatuples.jar"),
    address_space_limit=False, min_processes=24, compile_time_limit_s=60.0, version_argv=("java", "-version"),
    description="OpenJDK 17: javac, then java with one serial collector and the client compiler",
))  # fmt: skip
NODE_FLAGS = ("--v8-pool-size=1", "--max-old-space-size={heap_mb}", "--stack-size=4000")
NODE_ENV = (("UV_THREADPOOL_SIZE", "1"), ("NODE_PATH", f"{RUNTIME_IN_ROOT}/node_modules"))
NODE_BUILTINS = tuple(f"/usr/share/nodejs/{name}" for name in ("acorn", "acorn-walk", "cjs-module-lexer", "undici"))
"""Debian's Node.js 18 loads these parts of itself from /usr/share/nodejs at start-up (a
build that carries them, such as NodeSource's, needs none)."""
register_language(Language(
    name="javascript", source_file="solution.js", run_argv=("node", *NODE_FLAGS, "solution.js"),
    run_tools=("node",), run_paths=NODE_BUILTINS, run_runtime=("node_modules",), env=NODE_ENV,
    address_space_limit=False, min_processes=16, version_argv=("node", "--version"), aliases=("js", "nodejs", "node"),
    description="Node.js (V8's heap at half the memory limit)",
))  # fmt: skip
register_language(Language(
    name="typescript", source_file="solution.ts", artifacts=("solution.js",), run_argv=("node", *NODE_FLAGS, "solution.js"),
    compile_argv=("node", f"{RUNTIME_IN_ROOT}/tools/transpile_ts.js", "{source}", "solution.js"),
    compile_tools=("node",), compile_paths=("/usr/share/nodejs/typescript", *NODE_BUILTINS), compile_runtime=("tools",),
    compile_env=(("NODE_PATH", "/usr/share/nodejs"),),
    run_tools=("node",), run_paths=NODE_BUILTINS, run_runtime=("node_modules",), env=NODE_ENV,
    address_space_limit=False, min_processes=16, version_argv=("node", "-e", "console.log('TypeScript ' + require('/usr/share/nodejs/typescript').version)"),
    run_root="javascript", aliases=("ts",), description="TypeScript, transpiled without a type check (as tsx does), run by Node.js",
))  # fmt: skip
register_language(Language(
    name="go", source_file="main.go", artifacts=("solution",), run_argv=("./solution",),
    compile_argv=("go", "build", "-o", "solution", "{source}"),
    compile_tools=("go",), compile_paths=("/usr/lib/go-1.19", "/usr/share/go-1.19", "/usr/share/gocode"),
    compile_runtime=("go-cache",), compile_env=GO_ENV, env=(("GOMAXPROCS", "1"),), address_space_limit=False,
    min_processes=16, compile_time_limit_s=60.0, version_argv=("go", "version"), aliases=("golang",),
    description="Go: go build, no cgo (a static program), Debian's packaged modules",
))  # fmt: skip
register_language(Language(
    name="go_test", source_file="main.go", artifacts=("solution.test",),
    run_argv=("./solution.test", "-test.v", "-test.paniconexit0", "-test.count=1"),
    compile_argv=("go", "test", "-c", "-o", "solution.test", "."),
    compile_tools=("go",), compile_paths=("/usr/lib/go-1.19", "/usr/share/go-1.19", "/usr/share/gocode"),
    compile_runtime=("go-cache",), compile_env=GO_ENV, env=(("GOMAXPROCS", "1"),), address_space_limit=False,
    min_processes=16, compile_time_limit_s=60.0, version_argv=("go", "version"),
    description="Go tests (a _test.go file beside the program; testify from Debian's packages), go test -c",
))  # fmt: skip
register_language(Language(
    name="rust", source_file="solution.rs", artifacts=("solution",), run_argv=("./solution",),
    compile_argv=("rustc", *RUST_FLAGS, "-o", "solution", "{source}"), compile_extra=rust_crates,
    compile_tools=("rustc", *GCC_TOOLS), compile_paths=("/usr/lib/rustlib", "/usr/lib/gcc", "/usr/libexec/gcc"),
    compile_runtime=("rust",), compile_time_limit_s=60.0, version_argv=("rustc", "--version"), aliases=("rs",),
    description="rustc -O, edition 2021 (regex, md5 and rand's 0.4 interface prebuilt)",
))  # fmt: skip
register_language(Language(
    name="rust_test", source_file="solution.rs", artifacts=("solution",),
    run_argv=("./solution", "--test-threads=1", "--nocapture"),
    compile_argv=("rustc", *RUST_FLAGS, "--test", "-o", "solution", "{source}"), compile_extra=rust_crates,
    compile_tools=("rustc", *GCC_TOOLS), compile_paths=("/usr/lib/rustlib", "/usr/lib/gcc", "/usr/libexec/gcc"),
    compile_runtime=("rust",), compile_time_limit_s=60.0, version_argv=("rustc", "--version"),
    description="Rust tests: a #[cfg(test)] module, rustc --test, run one at a time",
))  # fmt: skip
BASH_TOOLS = (
    "bash", "sh", "cat", "sort", "tr", "wc", "head", "tail", "cut", "uniq", "seq", "expr", "rev", "grep", "sed",
    "awk", "bc", "printf", "echo", "test", "fold", "md5sum", "tac", "paste", "xargs", "basename", "dirname",
    "sleep", "true", "false", "ls", "mkdir", "rm", "cp", "mv", "touch", "od", "tee", "factor", "shuf", "nl",
)  # fmt: skip
register_language(Language(
    name="bash", source_file="solution.sh", run_argv=("bash", "solution.sh"), run_tools=BASH_TOOLS,
    version_argv=("bash", "--version"), aliases=("sh", "shell"),
    description="GNU bash with coreutils, grep, sed, awk and bc",
))  # fmt: skip
