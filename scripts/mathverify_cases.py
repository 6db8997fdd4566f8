"""Extract Math-Verify's own test cases into a JSON fixture for tests/data/math_verify/.

Math-Verify's tests are pytest parametrizations of (gold, pred, expected) with a config per
test function (which extractors, the float precision, strict comparison). This reads them
with ``ast`` from a local checkout, without importing or running them, and writes one case
per row:

    python scripts/mathverify_cases.py PATH/TO/Math-Verify tests/data/math_verify/cases.json
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

NAMES = {"gold", "pred", "expected", "result", "precision", "strict"}


def _call_config(function: ast.FunctionDef) -> dict:
    """match_types / precision / strict given as constants in the test body's call."""
    config: dict = {}
    for node in ast.walk(function):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg in ("match_types", "precision", "strict"):
                    try:
                        config[keyword.arg] = ast.literal_eval(keyword.value)
                    except ValueError:
                        pass  # a parameter name: taken per case
    return config


def cases_of(path: Path) -> list[dict]:
    tree = ast.parse(path.read_text())
    found = []
    for function in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
        for decorator in function.decorator_list:
            if not (isinstance(decorator, ast.Call) and getattr(decorator.func, "attr", "") == "parametrize"):
                continue
            names = [n.strip() for n in ast.literal_eval(decorator.args[0]).split(",")]
            if not {"gold", "pred"} <= set(names) or not set(names) <= NAMES:
                continue
            config = _call_config(function)
            for element in decorator.args[1].elts:
                try:
                    values = ast.literal_eval(element)
                except ValueError:
                    continue  # built by code (an f-string, say), not a literal: left out
                row = dict(zip(names, values, strict=True))
                expected = row.pop("expected", row.pop("result", None))
                case_config = {**config, **{k: row.pop(k) for k in ("precision", "strict") if k in row}}
                found.append({"file": path.name, "test": function.name, "gold": row["gold"], "pred": row["pred"],
                              "expected": int(expected), "config": case_config})
    return found


def main() -> None:
    checkout, out = Path(sys.argv[1]), Path(sys.argv[2])
    cases = [c for f in sorted((checkout / "tests").glob("test_*.py")) for c in cases_of(f)]
    commit = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"source": "huggingface/Math-Verify tests/", "commit": commit or None,
                               "licence": "Apache-2.0", "cases": cases}, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(cases)} cases -> {out}")


if __name__ == "__main__":
    main()
