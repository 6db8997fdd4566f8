"""The layers of docs/architecture.md, read from the code's own imports: ``reward_server ->
services -> sandbox``, and the packages that stand apart (generators, trainer, reward_client,
loadtest, evaluation, bench) are imported by none of the three. The generators are a tool on
top of the scoring layer: they import services and sandbox only. reward_client (client/, a
distribution of its own) imports nothing of the service's: the standard library and httpx only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = (
    "sandbox", "services", "reward_server", "generators", "reward_client", "trainer", "loadtest", "evaluation", "bench"
)
# What each layer of the service may import of this repository (besides itself).
ALLOWED = {
    "sandbox": set(),
    "services": {"sandbox"},
    "reward_server": {"services", "sandbox"},
    # `reward eval` in-process builds the service's engine; over HTTP it uses the client; it
    # reads benchmarks with the trainer's data loaders.
    "evaluation": {"reward_server", "services", "sandbox", "reward_client", "trainer"},
    "generators": {"services", "sandbox"},
}
# Where a package's source is, when not at the top of the repository.
SOURCE = {"reward_client": REPO / "client" / "reward_client"}
# The client's one dependency (client/pyproject.toml); everything else it imports is the standard library.
CLIENT_THIRD_PARTY = {"httpx"}


def top_level_imports(package: str) -> dict[str, set[str]]:
    """Every file of ``package`` -> the top-level modules it imports (anywhere in it)."""
    found: dict[str, set[str]] = {}
    for path in sorted(SOURCE.get(package, REPO / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(REPO))] = {n.split(".")[0] for n in names}
    return found


def imported_packages(package: str) -> dict[str, set[str]]:
    """Every file of ``package`` -> the repository's other packages it imports (anywhere in it)."""
    return {f: names & set(PACKAGES) - {package} for f, names in top_level_imports(package).items()}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_layer_imports_only_the_layers_below(package: str) -> None:
    wrong = {f: sorted(others - ALLOWED[package]) for f, others in imported_packages(package).items()}
    assert not {f: o for f, o in wrong.items() if o}, wrong


def test_the_client_imports_nothing_of_the_service():
    """A trainer installs the client alone: it may import itself, httpx and the standard library."""
    wrong = {
        f: sorted(names - {"reward_client", "__future__"} - CLIENT_THIRD_PARTY - set(sys.stdlib_module_names))
        for f, names in top_level_imports("reward_client").items()
    }
    assert not {f: o for f, o in wrong.items() if o}, wrong
    assert "client/reward_client/client.py" in wrong  # the rule read the client's source


def test_the_reward_command_finds_the_other_packages_commands() -> None:
    """`reward gen`, `reward eval` and `reward loadtest` join the command through an entry-point group, not an
    import of the service's."""
    result = subprocess.run([sys.executable, "-m", "reward_server.cli", "--help"], cwd=REPO, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "{serve,worker,audit,eval,gen,loadtest}" in result.stdout


def test_the_api_process_does_not_load_the_workers_pool() -> None:
    """In rq mode the API queues jobs by the worker function's dotted name
    (reward_server.rq_protocol): it never imports the worker module nor its process pool."""
    probe = (
        "import sys; from reward_server.app import create_app; from reward_server.settings import Settings; "
        "create_app(Settings(backend='rq')); "
        "print(sorted(m for m in ('pebble', 'reward_server.rq_worker', 'reward_server.execution') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
