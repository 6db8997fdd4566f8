"""The layers of docs/architecture.md, read from the code's own imports: ``reward_server ->
services -> sandbox``, and the packages that stand apart (generators, trainer, reward_client,
loadtest, evaluation, bench) are imported by none of the three. The generators are a tool on
top of the scoring layer: they import services and sandbox only."""

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
    "generators": {"services", "sandbox"},
}


def imported_packages(package: str) -> dict[str, set[str]]:
    """Every file of ``package`` -> the repository's other packages it imports (anywhere in it)."""
    found: dict[str, set[str]] = {}
    for path in sorted((REPO / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(REPO))] = {n.split(".")[0] for n in names} & set(PACKAGES) - {package}
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_layer_imports_only_the_layers_below(package: str) -> None:
    wrong = {f: sorted(others - ALLOWED[package]) for f, others in imported_packages(package).items()}
    assert not {f: o for f, o in wrong.items() if o}, wrong


def test_the_reward_command_finds_the_other_packages_commands() -> None:
    """`reward gen`, `reward eval` and `reward loadtest` join the command through an entry-point group, not an
    import of the service's."""
    result = subprocess.run([sys.executable, "-m", "reward_server.cli", "--help"], cwd=REPO, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "{serve,worker,audit,eval,gen,loadtest}" in result.stdout
