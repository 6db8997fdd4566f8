"""Every REWARD_* variable the project reads is known to the start-up check, and a name
nothing reads (a misspelling) is named in a warning with the closest known one."""

from __future__ import annotations

import fnmatch
import logging
import os
import re
from pathlib import Path

from reward_client.local import start_service, stop_service
from reward_server.variables import known_variables, unknown_variables, warn_unknown_variables

REPO = Path(__file__).resolve().parent.parent
READERS = ("*.py", "*.sh", "*.yml", "*.yaml", "Makefile", "Dockerfile")
# The tests' own names (a canary secret the sandbox must not see) are no setting.
SKIPPED = {"tests", ".venv", ".sandbox-runtime", ".tools", ".git"}
NAME = re.compile(r"\bREWARD_[A-Z0-9_]*[A-Z0-9]\b")


def names_in_the_code() -> dict[str, str]:
    found: dict[str, str] = {}
    for root, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if not (Path(root) == REPO and d in SKIPPED) and d != "__pycache__"]
        for name in files:
            if not any(fnmatch.fnmatch(name, pattern) for pattern in READERS):
                continue
            path = Path(root) / name
            for variable in NAME.findall(path.read_text(errors="replace")):
                found.setdefault(variable, str(path.relative_to(REPO)))
    return found


def test_every_variable_the_code_names_is_known():
    found = names_in_the_code()
    assert {"REWARD_HOST", "REWARD_SANDBOX_WORKERS", "REWARD_URL", "REWARD_DATA_CACHE"} <= set(found)
    assert {name: where for name, where in found.items() if name not in known_variables()} == {}


def test_the_readme_settings_tables_name_every_known_variable_and_no_other():
    table = [line for line in (REPO / "README.md").read_text().splitlines() if line.startswith("| `REWARD_")]
    named = {name for line in table for name in NAME.findall(line.split("|")[1])}
    assert named == known_variables()


def test_a_misspelled_variable_is_named_with_the_closest_known_one(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\nREWARD_CACHE_SIZ=10\nREWARD_DEFAULT_MODE=partial\n")
    environ = {
        "REWARD_POOL_WORKER": "4",  # the S missing
        "reward_host": "0.0.0.0",  # the settings read names in any case
        "REWARD_URL": "http://127.0.0.1:8000",  # a client's, set in the same shell
        "REWARD_SANDBOX_SLOTS_PER_CPU": "2",  # the sandbox's
        "REWARD_QWERTY": "1",
        "PATH": "/usr/bin",
    }
    assert unknown_variables(environ, env_file) == {
        "REWARD_CACHE_SIZ": "REWARD_CACHE_SIZE",
        "REWARD_POOL_WORKER": "REWARD_POOL_WORKERS",
        "REWARD_QWERTY": None,
    }


def test_the_warning_names_both(caplog):
    with caplog.at_level(logging.WARNING, logger="reward.settings"):
        warn_unknown_variables({"REWARD_ITEM_TIMEOUT": "5", "REWARD_PORT": "1"}, env_file=None)
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "REWARD_ITEM_TIMEOUT " in record.getMessage() and "REWARD_ITEM_TIMEOUT_S?" in record.getMessage()


def test_reward_serve_warns_at_start_up(tmp_path):
    running = start_service(tmp_path, {"REWARD_POOL_WORKERS": "1", "REWARD_ITEM_TIMEOUT": "5"}, args=["--no-sandbox"])
    try:
        log = running.log()
    finally:
        stop_service(running)
    warnings = [line for line in log.splitlines() if "REWARD_ITEM_TIMEOUT" in line]
    assert len(warnings) == 1 and "did you mean REWARD_ITEM_TIMEOUT_S?" in warnings[0], log[-2000:]
