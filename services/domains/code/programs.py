"""Assertion tests in the compiled and script languages, as HumanEval-X and MultiPL-E write
them: the label's test code and the solution make one program (Go: a test file beside it),
which passes when it finishes without failing an assertion.

A program that exits early would pass by its exit code alone (``exit(0)`` in the
solution, before the asserts run). So the test program is run from a small entry of our
own that writes a completion marker, a random token of this run, after the test code has
returned: ``main`` renamed in the test code (C, C++, Java, a Rust program with ``main``)
and called from ours, a line after the test code (JavaScript, TypeScript, bash), a last
test that logs it (Go's ``go test``, Rust's ``#[cfg(test)]`` module: tests run in name
order, one at a time). The run passes only with exit code 0 and the marker on stdout (and,
for tests that only print failed assertions, ``console.assert``'s way, nothing on stderr).

What this cannot stop: the solution shares the test's process, and a program can read
its own text or memory (a JavaScript function's source through ``toString``); only
Python's tests run in a process of their own (the driver).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

STYLES = ("program", "go_test", "rust_test")

_C_MAIN = re.compile(r"\bint\s+main\s*\(([^)]*)\)")
_JAVA_MAIN = re.compile(r"\bpublic\s+static\s+void\s+main\s*\(")
_CLASS = re.compile(r"\bclass\s+([A-Za-z_$][\w$]*)")
_RUST_MAIN = re.compile(r"\bfn\s+main\s*\(\s*\)")
_GO_PACKAGE = re.compile(r"^\s*package\s+(\w+)", re.M)


@dataclass(frozen=True)
class TestProgram:
    language: str
    """The sandbox language the program runs as (``go_test``, ``rust_test`` for test modules)."""
    source: str
    files: dict[str, bytes]
    entry: str | None
    """Java: the class whose ``main`` runs (ours)."""
    marker: str


def default_style(language: str, test: str) -> str:
    if language in ("go", "go_test"):
        return "go_test"
    if language in ("rust", "rust_test") and ("#[test]" in test or "#[cfg(test)]" in test):
        return "rust_test"
    return "program"


def assemble(language: str, solution: str, test: str, prelude: str | None, style: str | None) -> TestProgram:
    """The program that runs ``test`` against ``solution`` in ``language`` (a sandbox
    language name), with a completion marker of its own. Raises ValueError for a test
    this cannot take (a C test without ``main``)."""
    style = style or default_style(language, test)
    marker = f"reward-test-completed-{secrets.token_hex(16)}"
    head = f"{prelude}\n" if prelude else ""
    if style == "go_test":
        package = (_GO_PACKAGE.search(test) or _GO_PACKAGE.search(solution))
        name = package.group(1) if package else "main"
        tail = f'package {name}\n\nimport "testing"\n\nfunc TestZzzRewardCompleted(t *testing.T) {{\n\tt.Log("{marker}")\n}}\n'
        # One test file, as HumanEval-X's harness makes it: the tests may use a package only
        # the solution imports, and Go allows neither an unused import nor a repeated one.
        merged = go_file(name, [head + test, solution])
        files = {"main_test.go": merged.encode(), "zz_reward_test.go": tail.encode()}
        return TestProgram("go_test", f"package {name}\n", files, None, marker)
    if style == "rust_test":
        tail = f'\n#[cfg(test)]\nmod zzz_reward_completion {{\n    #[test]\n    fn zzz_completed() {{\n        println!("{marker}");\n    }}\n}}\n'
        return TestProgram("rust_test", f"{head}{solution}\n{test}\n{tail}", {}, None, marker)
    if style != "program":
        raise ValueError(f"unknown test style {style!r} (known: {', '.join(STYLES)})")
    program = f"{head}{solution}\n"
    if language in ("c", "cpp"):
        found = _C_MAIN.search(test)
        if found is None:
            raise ValueError("the test program has no main()")
        params = found.group(1).strip()
        with_args = bool(params) and params != "void"
        # main may end without a return (it then returns 0); no other function may.
        close = _body_end(test, found.end())
        if close is None:
            raise ValueError("the test program's main() has no body")
        test = test[:close] + "\n  return 0;\n" + test[close:]
        renamed = test[: found.start()] + f"int reward_test_main({params})" + test[found.end() :]
        call = "reward_test_main(argc, argv)" if with_args else "reward_test_main()"
        entry = (
            "\n#include <stdio.h>\n"
            f"int main(int argc, char **argv) {{ (void)argc; (void)argv; int code = {call};\n"
            f'  if (code == 0) {{ fputs("{marker}\\n", stdout); fflush(stdout); }}\n  return code; }}\n'
        )
        return TestProgram(language, program + renamed + entry, {}, None, marker)
    if language == "java":
        combined = program + test
        found = _JAVA_MAIN.search(test)
        if found is None:
            raise ValueError("the test program has no public static void main")
        at = len(program) + found.start()
        owner = [m.group(1) for m in _CLASS.finditer(combined, 0, at)]
        if not owner:
            raise ValueError("the test's main is in no class")
        renamed = test[: found.start()] + "public static void rewardTestMain(" + test[found.end() :]
        runner = (
            "\nclass RewardTestRunner {\n  public static void main(String[] args) throws Throwable {\n"
            f'    {owner[-1]}.rewardTestMain(args);\n    System.out.println("{marker}");\n    System.out.flush();\n  }}\n}}\n'
        )
        return TestProgram("java", program + renamed + runner, {}, "RewardTestRunner", marker)
    if language == "rust":
        found = _RUST_MAIN.search(test)
        if found is None:
            raise ValueError("the test program has no fn main()")
        renamed = test[: found.start()] + "fn reward_test_main()" + test[found.end() :]
        entry = f'\nfn main() {{\n    reward_test_main();\n    println!("{marker}");\n}}\n'
        return TestProgram("rust", program + renamed + entry, {}, None, marker)
    if language in ("javascript", "typescript"):
        return TestProgram(language, f"{program}{test}\nconsole.log({marker!r});\n", {}, None, marker)
    if language == "bash":
        return TestProgram(language, f"{program}{test}\necho '{marker}'\n", {}, None, marker)
    raise ValueError(f"assertion tests are not served for {language}")


_GO_IMPORT_DECL = re.compile(r'^[ \t]*import[ \t]*(?:\((?P<block>[^)]*)\)|(?P<single>[^\n]*))', re.M)
_GO_IMPORT_SPEC = re.compile(r'(?:([A-Za-z_]\w*|\.)\s+)?"([^"]+)"')


def go_file(package: str, parts: list[str]) -> str:
    """Go sources merged into one file of ``package``: their import declarations joined
    (each package once) at the top, the rest of each part after them in order."""
    imports: dict[tuple[str | None, str], None] = {}
    bodies = []
    for part in parts:
        for found in _GO_IMPORT_DECL.finditer(part):
            specs = found.group("block") if found.group("block") is not None else found.group("single")
            for alias, path in _GO_IMPORT_SPEC.findall(specs or ""):
                imports.setdefault((alias or None, path), None)
        body = _GO_IMPORT_DECL.sub("", _GO_PACKAGE.sub("", part, count=1))
        bodies.append(body.strip("\n"))
    lines = "".join(f"\t{alias + ' ' if alias else ''}\"{path}\"\n" for alias, path in imports)
    header = f"package {package}\n\n" + (f"import (\n{lines})\n\n" if imports else "")
    return header + "\n\n".join(bodies) + "\n"


def _body_end(code: str, after: int) -> int | None:
    """Where the body that opens after ``after`` closes (its ``}``), skipping braces in
    strings, characters and comments."""
    start = code.find("{", after)
    if start < 0:
        return None
    depth, i, n = 0, start, len(code)
    while i < n:
        c = code[i]
        if c in "\"'":
            i += 1
            while i < n and code[i] != c:
                i += 2 if code[i] == "\\" else 1
        elif code.startswith("//", i):
            i = code.find("\n", i)
            i = n if i < 0 else i
        elif code.startswith("/*", i):
            i = code.find("*/", i + 2)
            i = n if i < 0 else i + 1
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def passed(program: TestProgram, exit_code: int | None, stdout: str, stderr: str, stderr_fails: bool) -> tuple[bool, str | None]:
    """Whether the test program passed, and why not."""
    if exit_code != 0:
        return False, f"exit code {exit_code}"
    if program.marker not in stdout:
        return False, "the test program stopped before its tests finished (no completion marker)"
    if stderr_fails and stderr.strip():
        return False, f"wrote to stderr: {stderr.strip()[-300:]}"
    return True, None
