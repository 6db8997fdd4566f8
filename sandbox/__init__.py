"""Isolated execution of untrusted programs: fork servers, limits, languages.

Knows nothing about rewards or HTTP. Typical use::

    from sandbox import RunRequest, get_default_pool
    result = get_default_pool().run(RunRequest(source="print(input())", stdin="hi", time_limit_s=2))
"""

import atexit

from sandbox import language_table  # noqa: F401 (the table registers its languages)
from sandbox.constants import LAYER_NAMES
from sandbox.languages import LANGUAGES, Language, get_language, installed_languages, register_language
from sandbox.model import STATUSES, RunRequest, RunResult
from sandbox.pool import (
    SandboxPool,
    SandboxUnavailable,
    close_default_pool,
    current_pool,
    get_default_pool,
    start_default_pool,
)

atexit.register(close_default_pool)

__all__ = [
    "LANGUAGES",
    "LAYER_NAMES",
    "STATUSES",
    "Language",
    "RunRequest",
    "RunResult",
    "SandboxPool",
    "SandboxUnavailable",
    "close_default_pool",
    "current_pool",
    "get_default_pool",
    "get_language",
    "installed_languages",
    "register_language",
    "start_default_pool",
]
