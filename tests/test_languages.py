"""Every language beside Python, attacked as a program in it would: each scenario gets its
expected outcome, and nothing of a run leaks to the host or outlives it.

Programs written for these tests, per language: hello world, A+B over stdin, a compile
(or syntax) error, a spinning program, a memory bomb, a process (or thread) bomb, a
connection to a listener of the test on loopback, reading and writing outside the work
dir, and a flood of output. A language its toolchain is not installed for is skipped.
"""

from __future__ import annotations

import os
import socket

import pytest

from sandbox import RunRequest, SandboxPool, installed_languages
from sandbox.runtime import REPO_ROOT

LANGUAGES = ("c", "cpp", "java", "javascript", "typescript", "go", "rust", "bash")
JS_SOURCES = {
    "hello": 'console.log("hello, world");',
    "sum": 'const [a, b] = require("fs").readFileSync(0, "utf8").trim().split(/\\s+/).map(Number);\nconsole.log(a + b);',
    "broken": "console.log((1 + );",
    "spin": "let x = 0;\nwhile (true) { x++; }",
    "memory": "const held = [];\nwhile (true) { held.push(new Array(1 << 20).fill(7)); }",
    "processes": ('const { spawn } = require("child_process");\nfor (let i = 0; i < 200; i++) {\n'
                  '  try { spawn(process.execPath, ["-e", "setTimeout(() => {}, 1e6)"]); } catch (e) {}\n}\n'
                  "setTimeout(() => {}, 1e6);"),
    "network": ('const s = require("net").connect(PORT, "127.0.0.1");\n'
                's.on("connect", () => { console.log("connected"); process.exit(0); });\n'
                's.on("error", () => { console.log("blocked"); });'),
    "files": ('const fs = require("fs");\nconst out = [];\n'
              'try { fs.readFileSync("/etc/shadow"); out.push("read"); } catch (e) { out.push("no-read"); }\n'
              'try { fs.writeFileSync("/usr/escape-marker", "x"); out.push("wrote"); } catch (e) { out.push("no-write"); }\n'
              'out.push(fs.existsSync("CHECKOUT") ? "sees-checkout" : "no-checkout");\nconsole.log(out.join(" "));'),
    "flood": 'const line = "x".repeat(10000);\nfor (;;) { console.log(line); }',
}  # fmt: skip
PROGRAMS: dict[str, dict[str, str]] = {
    "c": {
        "hello": '#include <stdio.h>\nint main(void) { puts("hello, world"); return 0; }',
        "sum": '#include <stdio.h>\nint main(void) { long a, b; scanf("%ld %ld", &a, &b); printf("%ld\\n", a + b); return 0; }',
        "broken": "int main(void) { return 0 }",
        "spin": "int main(void) { volatile unsigned long x = 0; for (;;) x++; }",
        "memory": ('#include <stdlib.h>\n#include <string.h>\nint main(void) { for (;;) { char *p = malloc(1 << 20);\n'
                   "  if (!p) return 3; memset(p, 1, 1 << 20); } }"),
        "processes": "#include <unistd.h>\nint main(void) { for (;;) fork(); }",
        "network": ('#include <stdio.h>\n#include <arpa/inet.h>\n#include <sys/socket.h>\nint main(void) {\n'
                    "  struct sockaddr_in a = {0}; a.sin_family = AF_INET; a.sin_port = htons(PORT);\n"
                    '  a.sin_addr.s_addr = htonl(0x7f000001); int s = socket(AF_INET, SOCK_STREAM, 0);\n'
                    '  if (s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0) puts("connected"); else puts("blocked");\n'
                    "  return 0; }"),
        "files": ('#include <stdio.h>\n#include <unistd.h>\nint main(void) {\n'
                  '  printf("%s ", fopen("/etc/shadow", "r") ? "read" : "no-read");\n'
                  '  printf("%s ", fopen("/usr/escape-marker", "w") ? "wrote" : "no-write");\n'
                  '  printf("%s\\n", access("CHECKOUT", F_OK) == 0 ? "sees-checkout" : "no-checkout"); return 0; }'),
        "flood": '#include <stdio.h>\nint main(void) { for (;;) puts("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"); }',
    },
    "cpp": {
        "hello": '#include <iostream>\nint main() { std::cout << "hello, world" << std::endl; }',
        "sum": "#include <iostream>\nint main() { long a, b; std::cin >> a >> b; std::cout << a + b << std::endl; }",
        "broken": "int main() { return 0 }",
        "spin": "int main() { volatile unsigned long x = 0; for (;;) x++; }",
        "memory": "#include <vector>\nint main() { std::vector<std::vector<char>> held; for (;;) held.emplace_back(1 << 20, 1); }",
        "processes": "#include <unistd.h>\nint main() { for (;;) fork(); }",
        "network": ('#include <cstdio>\n#include <arpa/inet.h>\n#include <sys/socket.h>\nint main() {\n'
                    "  sockaddr_in a{}; a.sin_family = AF_INET; a.sin_port = htons(PORT); a.sin_addr.s_addr = htonl(0x7f000001);\n"
                    "  int s = socket(AF_INET, SOCK_STREAM, 0);\n"
                    '  std::puts(s >= 0 && connect(s, (sockaddr *)&a, sizeof a) == 0 ? "connected" : "blocked"); }'),
        "files": ('#include <cstdio>\n#include <unistd.h>\nint main() {\n'
                  '  std::printf("%s ", std::fopen("/etc/shadow", "r") ? "read" : "no-read");\n'
                  '  std::printf("%s ", std::fopen("/usr/escape-marker", "w") ? "wrote" : "no-write");\n'
                  '  std::printf("%s\\n", access("CHECKOUT", F_OK) == 0 ? "sees-checkout" : "no-checkout"); }'),
        "flood": '#include <cstdio>\nint main() { for (;;) std::puts("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"); }',
    },
    "java": {
        "hello": 'public class Main { public static void main(String[] a) { System.out.println("hello, world"); } }',
        "sum": ("import java.util.*;\npublic class Main { public static void main(String[] a) {\n"
                "  Scanner s = new Scanner(System.in); System.out.println(s.nextLong() + s.nextLong()); } }"),
        "broken": "public class Main { public static void main(String[] a) { int x = ; } }",
        "spin": "public class Main { public static void main(String[] a) { long x = 0; while (true) { x++; } } }",
        "memory": ("import java.util.*;\npublic class Main { public static void main(String[] a) {\n"
                   "  List<byte[]> held = new ArrayList<>(); while (true) held.add(new byte[1 << 20]); } }"),
        "processes": ("public class Main { public static void main(String[] a) throws Exception {\n"
                      "  while (true) new Thread(() -> { try { Thread.sleep(1000000); } catch (Exception e) {} }).start(); } }"),
        "network": ("public class Main { public static void main(String[] a) {\n"
                    '  try (java.net.Socket s = new java.net.Socket("127.0.0.1", PORT)) { System.out.println("connected"); }\n'
                    '  catch (Exception e) { System.out.println("blocked"); } } }'),
        "files": ("import java.nio.file.*;\npublic class Main { public static void main(String[] a) {\n"
                  '  String r, w; try { Files.readAllBytes(Paths.get("/etc/shadow")); r = "read"; } catch (Exception e) { r = "no-read"; }\n'
                  '  try { Files.write(Paths.get("/usr/escape-marker"), new byte[]{1}); w = "wrote"; } catch (Exception e) { w = "no-write"; }\n'
                  '  System.out.println(r + " " + w + " " + (Files.exists(Paths.get("CHECKOUT")) ? "sees-checkout" : "no-checkout")); } }'),
        "flood": 'public class Main { public static void main(String[] a) { while (true) System.out.println("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"); } }',
    },
    "javascript": JS_SOURCES,
    "typescript": {**JS_SOURCES, "broken": "const x: number = (1 + ;"},
    "go": {
        "hello": 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello, world") }',
        "sum": 'package main\n\nimport "fmt"\n\nfunc main() { var a, b int64; fmt.Scan(&a, &b); fmt.Println(a + b) }',
        "broken": "package main\n\nfunc main() { x := }",
        "spin": "package main\n\nfunc main() { x := 0\n\tfor { x++ } }",
        "memory": ("package main\n\nfunc main() {\n\tvar held [][]byte\n\tfor {\n\t\tb := make([]byte, 1<<20)\n"
                   "\t\tfor i := range b { b[i] = 1 }\n\t\theld = append(held, b)\n\t}\n}"),
        "processes": 'package main\n\nimport (\n\t"os"\n\t"os/exec"\n)\n\nfunc main() { for { exec.Command(os.Args[0]).Start() } }',
        "network": ('package main\n\nimport (\n\t"fmt"\n\t"net"\n)\n\nfunc main() {\n'
                    '\tif _, err := net.Dial("tcp", "127.0.0.1:PORT"); err == nil { fmt.Println("connected") } else { fmt.Println("blocked") }\n}'),
        "files": ('package main\n\nimport (\n\t"fmt"\n\t"os"\n)\n\nfunc main() {\n\tr, w, c := "no-read", "no-write", "no-checkout"\n'
                  '\tif _, err := os.ReadFile("/etc/shadow"); err == nil { r = "read" }\n'
                  '\tif err := os.WriteFile("/usr/escape-marker", []byte("x"), 0644); err == nil { w = "wrote" }\n'
                  '\tif _, err := os.Stat("CHECKOUT"); err == nil { c = "sees-checkout" }\n\tfmt.Println(r, w, c)\n}'),
        "flood": 'package main\n\nimport "fmt"\n\nfunc main() { for { fmt.Println("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx") } }',
    },
    "rust": {
        "hello": 'fn main() { println!("hello, world"); }',
        "sum": ("use std::io::Read;\nfn main() { let mut s = String::new(); std::io::stdin().read_to_string(&mut s).unwrap();\n"
                '  let v: Vec<i64> = s.split_whitespace().map(|x| x.parse().unwrap()).collect(); println!("{}", v[0] + v[1]); }'),
        "broken": "fn main() { let x = ; }",
        "spin": "fn main() { let mut x: u64 = 0; loop { x = x.wrapping_add(1); if x == u64::MAX { println!(\"{}\", x); } } }",
        "memory": "fn main() { let mut held: Vec<Vec<u8>> = Vec::new(); loop { held.push(vec![1u8; 1 << 20]); } }",
        "processes": 'fn main() { loop { let _ = std::process::Command::new("/proc/self/exe").spawn(); } }',
        "network": ('fn main() { match std::net::TcpStream::connect("127.0.0.1:PORT") {\n'
                    '  Ok(_) => println!("connected"), Err(_) => println!("blocked") } }'),
        "files": ('fn main() {\n  let r = if std::fs::read("/etc/shadow").is_ok() { "read" } else { "no-read" };\n'
                  '  let w = if std::fs::write("/usr/escape-marker", b"x").is_ok() { "wrote" } else { "no-write" };\n'
                  '  let c = if std::path::Path::new("CHECKOUT").exists() { "sees-checkout" } else { "no-checkout" };\n'
                  '  println!("{} {} {}", r, w, c); }'),
        "flood": 'fn main() { loop { println!("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"); } }',
    },
    "bash": {
        "hello": 'echo "hello, world"',
        "sum": "read a b\necho $((a + b))",
        "broken": "if then fi (",
        "spin": "x=0\nwhile :; do x=$((x + 1)); done",
        "memory": "s=xxxxxxxxxxxxxxxx\nwhile :; do s=\"$s$s\"; done",
        "processes": ":(){ :|:& };:\nsleep 1000",
        "network": "if exec 3<>/dev/tcp/127.0.0.1/PORT; then echo connected; else echo blocked; fi 2>/dev/null",
        "files": ('r=no-read; w=no-write; c=no-checkout\ncat /etc/shadow >/dev/null 2>&1 && r=read\n'
                  '(echo x > /usr/escape-marker) 2>/dev/null && w=wrote\n[ -e "CHECKOUT" ] && c=sees-checkout\necho "$r $w $c"'),
        "flood": "while :; do echo xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done",
    },
}
INTERPRETED = {"javascript", "bash"}


@pytest.fixture(scope="module")
def pool():
    with SandboxPool(size=2) as p:
        yield p


def needs(language: str) -> None:
    if not installed_languages()[language]["installed"]:
        pytest.skip(f"{language} is not installed on this host (`make system` installs it)")


def run(pool: SandboxPool, language: str, scenario: str, **kw):
    source = PROGRAMS[language][scenario].replace("CHECKOUT", REPO_ROOT)
    kw.setdefault("time_limit_s", 4.0)
    kw.setdefault("memory_mb", 512)
    return pool.run(RunRequest(source=source, language=language, **kw))


@pytest.mark.parametrize("language", LANGUAGES)
def test_hello_and_a_plus_b(pool, language):
    needs(language)
    hello = run(pool, language, "hello")
    assert hello.status == "ok" and hello.stdout == "hello, world\n", (hello.status, hello.reason, hello.stderr[-500:])
    total = run(pool, language, "sum", stdin="40 2\n")
    assert total.status == "ok" and total.stdout == "42\n", (total.status, total.reason, total.stderr[-500:])


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_compile_error_is_named(pool, language):
    needs(language)
    result = run(pool, language, "broken")
    expected = "runtime_error" if language in INTERPRETED else "compile_error"
    assert result.status == expected, (result.status, result.reason)
    assert (result.reason or result.stderr).strip()


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_spinning_program_meets_its_time_limit(pool, language):
    needs(language)
    result = run(pool, language, "spin", time_limit_s=1.0)
    assert result.status == "timeout", (result.status, result.reason)
    assert result.cpu_s < 1.0 + 0.5, result.cpu_s


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_memory_bomb_is_held_at_the_limit(pool, language):
    needs(language)
    result = run(pool, language, "memory", memory_mb=256, time_limit_s=10.0)
    assert result.status in ("memory_limit", "runtime_error"), (result.status, result.reason, result.stderr[-300:])
    assert result.max_rss_mb <= 256 + 16, result.max_rss_mb


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_process_bomb_is_contained(pool, language):
    needs(language)
    result = run(pool, language, "processes", time_limit_s=2.0, max_processes=32)
    assert result.status in ("timeout", "runtime_error", "memory_limit"), (result.status, result.reason)
    assert pool.run(RunRequest(source="print(6 * 7)")).stdout == "42\n"


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_network(pool, language):
    needs(language)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    try:
        source = PROGRAMS[language]["network"].replace("PORT", str(port))
        result = pool.run(RunRequest(source=source, language=language, time_limit_s=4.0))
        assert result.status in ("ok", "timeout", "runtime_error"), (result.status, result.reason)
        assert "connected" not in result.stdout, result.stdout
        with pytest.raises(socket.timeout):
            listener.accept()
    finally:
        listener.close()


@pytest.mark.parametrize("language", LANGUAGES)
def test_files_outside_the_work_dir_stay_out_of_reach(pool, language):
    needs(language)
    result = run(pool, language, "files")
    assert result.status == "ok", (result.status, result.reason, result.stderr[-300:])
    assert result.stdout.split() == ["no-read", "no-write", "no-checkout"], result.stdout
    assert not os.path.exists("/usr/escape-marker")


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_flood_of_output_is_cut(pool, language):
    needs(language)
    result = run(pool, language, "flood", time_limit_s=4.0, max_output_bytes=1 << 20)
    # Cut at the cap; a runtime slow to write (Node.js on a loaded machine) may meet its
    # CPU limit first, still holding no more than the cap.
    assert result.status in ("output_limit", "timeout"), (result.status, result.reason)
    assert len(result.stdout) <= (1 << 20)


def test_every_language_reports_a_version_when_installed():
    for name, info in installed_languages().items():
        if info["installed"]:
            assert info["version"], name
