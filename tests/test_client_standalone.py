"""The client (client/, the verifiable-reward-client distribution) stands alone.

A trainer installs it without the service: its wheel asks for httpx with a range and nothing
else, and the adapters score against a running service from an interpreter that sees only
the client's source and httpx's own dependency closure (no pydantic, no services, no
numpy). Where the client keeps a copy of something the service declares, the copy is
checked against the service's own declaration here. Offline: the wheel is built without an
index and without build isolation, from the setuptools already installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib.metadata import Distribution, PackageNotFoundError, distribution, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from reward_client.labels import DOMAINS as CLIENT_DOMAINS
from services.registry import DOMAINS

REPO = Path(__file__).resolve().parent.parent
CLIENT = REPO / "client"
CLIENT_PROJECT = tomllib.loads((CLIENT / "pyproject.toml").read_text())["project"]
# The service's stack: none of it may be reachable from the client's interpreter.
SERVICE_MODULES = ("pydantic", "fastapi", "uvicorn", "sympy", "math_verify", "scipy", "matplotlib", "redis", "rq",
                   "services", "reward_server", "sandbox", "trainer", "evaluation", "numpy")  # fmt: skip


def test_the_client_domains_are_the_service_registry():
    assert CLIENT_DOMAINS == DOMAINS


def test_the_service_depends_on_this_checkout_client():
    service = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in service["dependencies"] if canonicalize_name(Requirement(r).name) == canonicalize_name(CLIENT_PROJECT["name"])]  # fmt: skip
    assert len(wanted) == 1
    assert wanted[0].specifier.contains(CLIENT_PROJECT["version"])


@pytest.fixture(scope="module")
def client_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    for text in tomllib.loads((CLIENT / "pyproject.toml").read_text())["build-system"]["requires"]:
        backend = Requirement(text)
        try:
            installed = version(backend.name)
        except PackageNotFoundError:
            installed = None
        if installed is None or not backend.specifier.contains(installed):
            pytest.fail(f"the client's build backend {backend} is not installed here ({installed}): `make install`")
    # Built from a copy: setuptools leaves build/ and *.egg-info next to the sources it builds.
    source = tmp_path_factory.mktemp("client-source") / "client"
    shutil.copytree(CLIENT, source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist"))
    out = tmp_path_factory.mktemp("client-wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "--quiet",
         "--disable-pip-version-check", "-w", str(out), str(source)],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = out.glob("verifiable_reward_client-*.whl")
    return wheel


def test_the_client_wheel_asks_for_httpx_with_a_range_only(client_wheel):
    with zipfile.ZipFile(client_wheel) as wheel:
        names = wheel.namelist()
        [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
        fields = [line.split(": ", 1) for line in wheel.read(metadata).decode().splitlines() if ": " in line]
    requires = [Requirement(value) for key, value in fields if key == "Requires-Dist"]
    assert [r.name for r in requires] == ["httpx"]
    operators = {spec.operator for spec in requires[0].specifier}
    assert operators == {">=", "<"}, requires[0]
    assert dict(fields)["Requires-Python"] == ">=3.11"
    assert {n.split("/")[0] for n in names} == {"reward_client", metadata.split("/")[0]}


def dependency_closure(names: list[str]) -> dict[str, Distribution]:
    """The installed distributions ``names`` need, with what those need, and so on (no extras)."""
    found: dict[str, Distribution] = {}
    todo = list(names)
    while todo:
        dist = distribution(todo.pop())
        key = canonicalize_name(dist.metadata["Name"])
        if key in found:
            continue
        found[key] = dist
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return found


def isolated_site(target: Path, dists: dict[str, Distribution]) -> Path:
    """A directory holding only these distributions' top-level packages and metadata (links)."""
    target.mkdir()
    for dist in dists.values():
        tops = {f.parts[0] for f in dist.files or [] if f.parts and f.parts[0] not in ("..", "__pycache__")}
        for top in tops - {t for t in tops if t.endswith(".pth")}:
            link = target / top
            if not link.exists():
                link.symlink_to(Path(dist.locate_file(top)))
    return target


ADAPTER_RUN = r"""
import asyncio, importlib.util, json, os, sys
client_root, site, service = sys.argv[1:4]
sys.path[:0] = [client_root, site]
reachable = [m for m in SERVICE_MODULES if importlib.util.find_spec(m) is not None]

import reward_client
from reward_client import AsyncRewardClient, RewardClient
from reward_client.trl import make_trl_reward_func
from reward_client.verl import compute_score, compute_score_batch

out = {"reachable": reachable, "client_file": reward_client.__file__}
kk = {"solution_text_format": "(1) Zoey is a knight\n(2) Oliver is a knave"}
out["verl"] = [compute_score("openai/gsm8k", "<think>6*12</think> \\boxed{72}", "72", {"index": 0}, url=service)["score"]]
out["verl_batch"] = [r["score"] for r in compute_score_batch(
    ["countdown", "countdown", "kk_logic", "deepscaler"],
    ["<think>t</think> <answer>(6 - 3) * 4 * 2</answer>", "<think>t</think> <answer>6 * 4</answer>",
     "<think>t</think> <answer>(1) Zoey is a knight\n(2) Oliver is a knave</answer>", "<think>t</think> \\boxed{3}"],
    [{"target": 24, "numbers": [6, 3, 4, 2]}, {"target": 24, "numbers": [6, 3, 4, 2]}, kk, "\\frac{1}{2}"],
    url=service,
)]
# veRL loads the module by its file path (custom_reward_function.path).
spec = importlib.util.spec_from_file_location("custom_module", os.path.join(client_root, "reward_client", "verl.py"))
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
out["verl_by_path"] = module.compute_score(data_source="math", solution_str="\\boxed{8}", ground_truth="8",
                                           extra_info=None, url=service)["score"]
trl = make_trl_reward_func(url=service)
out["trl"] = trl(prompts=["q", "q"], completions=[[{"role": "assistant", "content": "<think>a</think> \\boxed{4}"}],
                                                  "<think>a</think> \\boxed{5}"],
                 completion_ids=[[1], [2]], trainer_state=None, answer=["4", "4"], data_source=["gsm8k", "gsm8k"])
out["trl_verdicts"] = [r.verdict for r in trl.last_results]

os.environ["REWARD_URL"] = service
spec = importlib.util.spec_from_file_location("reward_func", os.path.join(client_root, "reward_client", "openrlhf_reward_func.py"))
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
out["openrlhf"] = module.reward_func(["Q: 2+2? A: \\boxed{4}"], ["Q: 2+2? A:"], ['{"domain": "math", "answer": "4"}'])

with RewardClient(service) as client:
    out["score"] = [r.model_dump()["reward"] for r in client.score([{"response": "\\boxed{1}", "label": {"domain": "math", "answer": "1"}}])]

async def run_async():
    async with AsyncRewardClient(service) as client:
        return (await client.reward(["\\boxed{2}"], None, [{"domain": "math", "answer": "2"}])).rewards
out["async_reward"] = asyncio.run(run_async())
out["loaded"] = sorted({name.split(".")[0] for name in sys.modules})
print(json.dumps(out))
"""


def test_the_adapters_score_with_only_httpx_installed(service_url, tmp_path):
    """veRL, TRL, OpenRLHF and the plain clients, in ``python -I -S``: no site-packages, no
    PYTHONPATH; sys.path is the standard library, the client's source and httpx's closure."""
    dists = dependency_closure([Requirement(r).name for r in CLIENT_PROJECT["dependencies"]])
    assert {"httpx", "httpcore"} <= set(dists)
    assert not {canonicalize_name(m) for m in SERVICE_MODULES} & set(dists), sorted(dists)
    site = isolated_site(tmp_path / "site", dists)
    code = f"SERVICE_MODULES = {SERVICE_MODULES!r}\n" + ADAPTER_RUN
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, str(CLIENT), str(site), service_url],
        cwd=tmp_path, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    out = json.loads(done.stdout)
    assert out["reachable"] == []
    assert out["client_file"] == str(CLIENT / "reward_client" / "__init__.py")
    assert out["verl"] == [1.0] and out["verl_by_path"] == 1.0
    assert out["verl_batch"] == [1.0, 0.0, 1.0, 0.0]
    assert out["trl"] == [1.0, 0.0] and out["trl_verdicts"] == ["correct", "wrong"]
    assert out["openrlhf"]["rewards"] == [1.0] and set(out["openrlhf"]) == {"rewards", "scores", "extra_logs"}
    assert out["score"] == [1.0] and out["async_reward"] == [1.0]
    assert not set(out["loaded"]) & set(SERVICE_MODULES), out["loaded"]
