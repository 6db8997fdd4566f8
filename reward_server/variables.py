"""Every ``REWARD_*`` environment variable the project reads, and the start-up warning for
one it does not: :class:`~reward_server.settings.Settings` ignores names it does not know,
so a misspelled setting would otherwise leave its default in place without a word.

Most variables are :class:`Settings` fields; the others are read where they are used, and
are listed here so that none of them is taken for a misspelling."""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values

from reward_server.settings import Settings

PREFIX = "REWARD_"

READ_ELSEWHERE: dict[str, str] = {
    # the service, outside its settings
    "REWARD_LOG_LEVEL": "reward serve's log level (reward_server/cli.py)",
    "REWARD_MATH_SCREEN": "services/domains/math_screen.py",
    "REWARD_TESTLIB_H": "services/domains/code/checkers",
    # the sandbox, read before the service's settings exist
    "REWARD_SANDBOX_WORKERS": "sandbox/pool.py",
    "REWARD_SANDBOX_STRICT": "sandbox/pool.py",
    "REWARD_SANDBOX_PIN": "sandbox/pool.py",
    "REWARD_SANDBOX_UID_BASE": "sandbox/pool.py",
    "REWARD_SANDBOX_NATIVE": "sandbox/handle.py",
    "REWARD_SANDBOX_SLOTS_PER_CPU": "sandbox/sizing.py",
    "REWARD_SANDBOX_SLOT_MEMORY_MB": "sandbox/sizing.py",
    "REWARD_SANDBOX_RUNTIME": "sandbox/runtime.py",
    "REWARD_SANDBOX_PYTHON": "sandbox/runtime.py",
    "REWARD_SANDBOX_CGROUP": "sandbox/cgroups.py",
    "REWARD_SANDBOX_CGROUPS": "sandbox/cgroups.py",
    "REWARD_SANDBOX_ARTIFACT_DIR": "sandbox/artifacts.py",
    "REWARD_SANDBOX_ARTIFACT_CACHE_MB": "sandbox/artifacts.py",
    # the clients, often set in the same shell as the service
    "REWARD_URL": "client/reward_client",
    "REWARD_MODE": "client/reward_client/openrlhf_reward_func.py",
    "REWARD_DEADLINE_S": "client/reward_client/openrlhf_reward_func.py",
    "REWARD_BATCH_SIZE": "client/reward_client/openrlhf_reward_func.py",
    "REWARD_DATA_SOURCE_DOMAINS": "client/reward_client/labels.py",
    # the tools beside the service
    "REWARD_DATA_CACHE": "trainer/data/hub.py, evaluation/benchmarks.py",
    "REWARD_BENCH_URL": "bench/bench_sandbox.py",
    "REWARD_TEST_SERVICE_URL": "tests/conftest.py, scripts/client_check.sh",
    "REWARD_IMAGE": "docker-compose.yml, deploy/compose.sh",
    "REWARD_PUBLISH": "docker-compose.yml, deploy/compose.sh",
}

log = logging.getLogger("reward.settings")


def settings_variables() -> set[str]:
    """The variables :class:`Settings` reads: its fields under the prefix, and the names
    given as aliases that carry it (``REDIS_URL`` has none)."""
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names.add(alias.upper() if isinstance(alias, str) else PREFIX + name.upper())
    return {n for n in names if n.startswith(PREFIX)}


def known_variables() -> set[str]:
    return settings_variables() | set(READ_ELSEWHERE)


def unknown_variables(environ: Mapping[str, str], env_file: Path | None = Path(".env")) -> dict[str, str | None]:
    """Each ``REWARD_*`` name in ``environ`` or ``env_file`` that nothing reads -> the
    closest known name (None when none is close). Names are compared in upper case, as
    the settings read them."""
    names = set(environ)
    if env_file is not None and env_file.is_file():
        names |= set(dotenv_values(env_file))
    known = known_variables()
    unknown = sorted(n for n in names if n.upper().startswith(PREFIX) and n.upper() not in known)
    # Compared without the prefix every name shares, which would make any two names look alike.
    suffixes = sorted(k[len(PREFIX):] for k in known)

    def closest(name: str) -> str | None:
        found = difflib.get_close_matches(name.upper()[len(PREFIX):], suffixes, n=1, cutoff=0.6)
        return PREFIX + found[0] if found else None

    return {n: closest(n) for n in unknown}


def warn_unknown_variables(environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")) -> None:
    """Log one warning per unknown ``REWARD_*`` variable, naming the closest known one."""
    for name, closest in unknown_variables(os.environ if environ is None else environ, env_file).items():
        hint = f"; did you mean {closest}?" if closest else ""
        log.warning("unknown setting %s is ignored (no part of the service reads it)%s", name, hint)
