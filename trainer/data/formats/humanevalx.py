"""HumanEval-X: HumanEval's 164 problems in C++, Go, Java, JavaScript, Python and Rust.

A row (``task_id`` ``CPP/0``, ``Go/0``, ``Java/0``, ``JavaScript/0``, ``Python/0``, ``Rust/0``)
has the ``prompt`` to complete, a ``canonical_solution`` that completes it, a ``test``
program and a ``declaration``; Go rows add ``import`` (the prompt's import block) and
``test_setup`` (the test file's package clause and imports).

The label's test is the dataset's test program, run with the solution as the dataset's
harness (CodeGeeX's ``evaluate_humaneval_x.py``) runs it:

- C++ and Java: the solution, then the test program with its ``main`` (style ``program``);
- JavaScript: the same; its asserts are ``console.assert``, which only prints, so anything
  on stderr fails the test (``stderr_fails``);
- Go: a ``_test.go`` file beside the solution (style ``go_test``): ``test_setup``'s package
  clause, the imports the test itself uses, then the test. The dataset's harness writes one
  file, where a test may use what the prompt imports (Go/2's ``math``) and the setup may
  import what only the solution uses (Go/38's ``strings``); a test file of its own imports
  what it uses and nothing else, as Go demands;
- Rust: the ``#[cfg(test)]`` module after the solution, built with ``--test`` (style
  ``rust_test``: no ``fn main`` is needed); Rust/32, whose test module is commented out,
  is skipped (it would pass any program that compiles);
- Python: as HumanEval (:func:`~trainer.data.formats.code.convert_humaneval`).

``prelude`` is what the harness puts before the solution that an answer need not repeat
and may repeat without harm: C++'s headers (the harness's own list and the prompt's
``#include`` and ``using`` lines), Java's imports. An answer is the prompt's code
completed: the whole function (Java: the whole class ``Solution``), helpers the prompt
defines and the imports it uses; no ``main``, the tests bring theirs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from trainer.data.formats.code import convert_humaneval
from trainer.data.formats.common import SkipRow
from trainer.data.tasks import Task

SOURCE = "humaneval-x"


@dataclass(frozen=True)
class XLanguage:
    key: str
    """The dataset's name (its file ``humaneval_<key>.jsonl.gz``, the benchmark's suffix)."""
    sandbox: str
    """The label's ``language``: the sandbox's name for it."""
    title: str
    fence: str
    ask: str
    """What the question asks for, beyond the function itself."""


LANGUAGES: dict[str, XLanguage] = {
    "CPP": XLanguage("cpp", "cpp", "C++", "cpp",
                     "Give the whole function, with the includes it needs and the helpers the code above defines; "
                     "no main(): the tests bring their own."),
    "Go": XLanguage("go", "go", "Go", "go",
                    "Give the whole function with the imports it uses (no package clause needed) and the helpers "
                    "the code above defines; no main(): the tests are a _test.go file of their own."),
    "Java": XLanguage("java", "java", "Java", "java",
                      "Give the whole class Solution, with its imports; no main(): the tests are a class of their own."),
    "JavaScript": XLanguage("js", "javascript", "JavaScript", "javascript",
                            "Give the whole function and the helpers the code above defines."),
    "Python": XLanguage("python", "python", "Python", "python", ""),
    "Rust": XLanguage("rust", "rust", "Rust", "rust",
                      "Give the whole function with the use lines it needs; no main(): the tests are a "
                      "#[cfg(test)] module of their own."),
}  # fmt: skip
"""``task_id`` prefix -> language."""
BY_KEY = {language.key: language for language in LANGUAGES.values()}

CPP_HEADERS = ("#include<stdlib.h>", "#include<algorithm>", "#include<math.h>", "#include<stdio.h>",
               "#include<vector>", "#include<string>", "#include<climits>", "#include<cstring>", "#include<iostream>")  # fmt: skip
"""The headers CodeGeeX's harness puts before a C++ program when its prompt lacks them."""
GO_HELPER_PACKAGES = (
    "math",
    "strings",
    "fmt",
    "strconv",
    "time",
    "bytes",
    "regexp",
    "sort",
    "math/rand",
    "crypto/md5",
)
"""The packages CodeGeeX's harness imports for a Go solution that uses them."""

_CPP_HEADER_LINE = re.compile(r"^\s*(#include\b.*|using\s+namespace\s+\w+\s*;)\s*$", re.MULTILINE)
_JAVA_IMPORT_LINE = re.compile(r"^\s*import\s+[\w.]+(\.\*)?\s*;\s*$", re.MULTILINE)
_GO_IMPORT_BLOCK = re.compile(r"^import\s*(\((?P<block>[^)]*)\)|(?P<one>\"[^\"]+\"))\s*\n?", re.MULTILINE)
_GO_PACKAGE = re.compile(r"^\s*package\s+\w+\s*\n", re.MULTILINE)
_BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_LINE_COMMENT = re.compile(r"//[^\n]*")
_CHECK_CALL = re.compile(r"^check\((?P<entry>[A-Za-z_]\w*)\)\s*$", re.MULTILINE)


def language_of(row: dict[str, Any]) -> XLanguage:
    task_id = row.get("task_id")
    if not isinstance(task_id, str) or "/" not in task_id:
        raise SkipRow("no task_id (LANGUAGE/N)")
    prefix = task_id.split("/", 1)[0]
    if prefix not in LANGUAGES:
        raise SkipRow(f"task_id {task_id!r}: not a HumanEval-X language ({', '.join(LANGUAGES)})")
    return LANGUAGES[prefix]


def _text(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        raise SkipRow(f"no {key}")
    return value


def _uses(code: str, package: str) -> bool:
    """Whether Go code refers to an imported package (by its last path element), outside
    comments ("a list of strings." is no use of ``strings``)."""
    name = package.rsplit("/", 1)[-1]
    code = _LINE_COMMENT.sub("", _BLOCK_COMMENT.sub("", code))
    return re.search(rf"(?<![\w.]){re.escape(name)}\.", code) is not None


def go_imports(block: str) -> list[str]:
    """The import paths of a Go file's import declarations."""
    paths: list[str] = []
    for match in _GO_IMPORT_BLOCK.finditer(block):
        paths += re.findall(r"\"([^\"]+)\"", match.group(0))
    return paths


def go_import_block(paths: list[str]) -> str:
    if not paths:
        return ""
    return "import (\n" + "".join(f'    "{p}"\n' for p in paths) + ")\n"


def go_test_file(test_setup: str, test: str, prompt_imports: list[str]) -> str:
    """The test file: ``test_setup``'s package clause and the imports the test uses, from
    the setup's, else the prompt's or the harness's list (in the harness's one file a test
    may use what the prompt imports: Go/2's ``math``)."""
    package = _GO_PACKAGE.search(test_setup)
    clause = package.group(0).strip() if package else "package main"
    candidates = dict.fromkeys([*go_imports(test_setup), *prompt_imports, *GO_HELPER_PACKAGES])
    kept = [p for p in candidates if p == "testing" or _uses(test, p)]
    return f"{clause}\n\n{go_import_block(kept)}\n{test.strip()}\n"


def go_solution(row: dict[str, Any], solution: str) -> str:
    """The prompt completed with ``solution``, importing what the code uses (the harness
    drops the prompt's import block and imports its own list's packages the code uses;
    Go refuses an import the file does not use)."""
    prompt = row["prompt"]
    declared = go_imports(row.get("import") or prompt)
    body = _GO_IMPORT_BLOCK.sub("", prompt, count=1) + solution
    paths = [p for p in dict.fromkeys([*declared, *GO_HELPER_PACKAGES]) if _uses(body, p)]
    return f"{go_import_block(paths)}\n{body.lstrip()}"


def cpp_prelude(prompt: str) -> str:
    lines = [h for h in CPP_HEADERS if h not in prompt]
    lines += [m.group(1).strip() for m in _CPP_HEADER_LINE.finditer(prompt)]
    return "\n".join(dict.fromkeys(lines)) + "\n"


def completed(language: XLanguage, row: dict[str, Any], solution: str) -> str:
    """The prompt completed with ``solution``, as an answer gives it."""
    if language.key == "go":
        return go_solution(row, solution)
    if language.key == "rust":
        return _text(row, "declaration").lstrip("\n") + solution
    return row["prompt"] + solution


def shown_code(language: XLanguage, row: dict[str, Any]) -> str:
    """The code the question shows: the prompt (Rust's prompt is only the doc comment: its
    declaration's use lines and signature follow it)."""
    if language.key == "rust":
        return f"{row['prompt'].strip()}\n{_text(row, 'declaration').strip()}"
    return row["prompt"].rstrip()


def test_program(language: XLanguage, row: dict[str, Any]) -> dict[str, Any]:
    """The label's ``tests``."""
    test = _text(row, "test")
    if language.key == "go":
        prompt_imports = go_imports(row.get("import") or row["prompt"])
        return {
            "functional": go_test_file(_text(row, "test_setup"), test, prompt_imports),
            "style": "go_test",
        }
    if language.key == "rust":
        if "#[test]" not in _BLOCK_COMMENT.sub("", test):
            # Rust/32's test module is commented out: any program that compiles would pass.
            raise SkipRow("the Rust test has no #[test] function outside comments")
        return {"functional": test, "style": "rust_test"}
    tests: dict[str, Any] = {"functional": test, "style": "program"}
    if language.key == "js":
        tests["stderr_fails"] = True
    return tests


def _count_checks(language: XLanguage, test: str) -> int:
    if language.key == "java":
        return len(re.findall(r"\bs\.\w+\(", test)) or 1
    return len(re.findall(r"\bassert", test)) or 1


def _convert_python(row: dict[str, Any]) -> Task:
    """HumanEval-X's Python rows are HumanEval's, with the ``check(entry)`` call inside the
    test and no ``entry_point``."""
    test = _text(row, "test")
    calls = list(_CHECK_CALL.finditer(test))
    if not calls:
        raise SkipRow("the Python test has no check(ENTRY) call")
    entry = calls[-1].group("entry")
    task = convert_humaneval({**row, "entry_point": entry, "test": test[: calls[-1].start()]})
    task.label = {
        "domain": "code",
        "language": "python",
        **{k: v for k, v in task.label.items() if k != "domain"},
    }
    task.source = f"{SOURCE}/python"
    return task


def convert_humanevalx(row: dict[str, Any]) -> Task:
    """One HumanEval-X row (any of its six languages) as a task in that language."""
    language = language_of(row)
    if language.key == "python":
        return _convert_python(row)
    prompt = _text(row, "prompt")
    label: dict[str, Any] = {
        "domain": "code",
        "language": language.sandbox,
        "tests": test_program(language, row),
    }
    if language.key == "cpp":
        label["prelude"] = cpp_prelude(prompt)
    elif language.key == "java":
        imports = [m.group(0).strip() for m in _JAVA_IMPORT_LINE.finditer(prompt)]
        if imports:
            label["prelude"] = "\n".join(imports) + "\n"
    solution = row.get("canonical_solution")
    reference = None
    if isinstance(solution, str) and solution.strip():
        reference = f"```{language.fence}\n{completed(language, row, solution).strip()}\n```"
    shown = shown_code(language, row)
    original = (_text(row, "declaration") + prompt) if language.key == "rust" else prompt
    return Task(
        domain="code",
        question=f"Complete the following {language.title} code. {language.ask}\n\n```{language.fence}\n{shown}\n```",
        label=label,
        source=f"{SOURCE}/{language.key}",
        answer_style="code_in",
        style_fields={"language": language.title, "fence": language.fence},
        difficulty=float(_count_checks(language, label["tests"]["functional"])),
        original_prompt=original,
        reference=reference,
    )
