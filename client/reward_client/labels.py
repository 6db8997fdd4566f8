"""Turn a trainer's (data_source, ground_truth) fields into the service's label schema.

veRL rows carry ``data_source`` and ``reward_model.ground_truth``; TRL rows carry
whatever columns the data set has. This module maps the public RLVR data sets onto
the service's label schema:

==========================================  ========  ==========================================
data_source (case-insensitive, contains)    domain    ground_truth
==========================================  ========  ==========================================
countdown (TinyZero)                        countdown ``{"target": 24, "numbers": [...]}`` ("nums" too)
kk, kk_logic, knights_knaves, logic_rl      kk        Logic-RL's ``{"solution_text_format": ...}``,
                                                      ``{name: role}``, or the solution text
zebra, zebralogic, lpb, puzzle_baron        zebra     ``{"header", "rows"}`` or ``{"House 1": {...}}``
code, taco, leetcode, apps, codecontests,   code      tests as JSON (``inputs``/``outputs``,
codeforces, humaneval, mbpp, livecodebench            ``fn_name``, ``functional``), TACO's
                                                      ``input_output``, or assert code as text
math, deepscaler, gsm8k, aime, amc,         math      the answer (string or number)
numina, olympiad, minerva, dapo, orz
==========================================  ========  ==========================================

A ground truth that already is a label (an object, or a string holding one, with a known
``domain``) passes through untouched, whatever the data_source. More names can be added
per call (``domain_map``) or with ``$REWARD_DATA_SOURCE_DOMAINS`` (a JSON object
``{"my_source": "math"}``); they win over the built-in table.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

# The domains the service scores. The service's registry (services.registry.DOMAINS) is the
# truth; the client keeps its own copy so it installs without the service, and
# tests/test_client_standalone.py fails when the two differ.
DOMAINS: tuple[str, ...] = ("math", "countdown", "code", "kk", "zebra")

DOMAIN_MAP_ENV = "REWARD_DATA_SOURCE_DOMAINS"


class UnmappableDataSource(ValueError):
    """A data_source (or its ground truth) that no label of the schema fits."""

    def __init__(self, data_source: Any, reason: str) -> None:
        self.data_source = data_source
        super().__init__(f"data_source {data_source!r}: {reason}")


def _word(pattern: str) -> str:
    # A name as a whole token: kk in "kk_logic" but not in "bookkeeping".
    return rf"(?:^|[^a-z0-9]){pattern}(?:[^a-z0-9]|$)"


# Checked in order; the first match wins ("leetcode" is code before anything else sees "code").
_DATA_SOURCE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("countdown", re.compile(r"count[-_ ]?down")),
    ("kk", re.compile("|".join([_word("kk"), r"knights?[-_ ]*(?:and|&)?[-_ ]*knaves?", r"logic[-_]?rl"]))),
    ("zebra", re.compile("|".join([r"zebra", _word("lpb"), r"puzzle[-_ ]?baron", r"einstein"]))),
    (
        "code",
        re.compile(
            "|".join(
                [r"code", r"taco", _word("apps"), r"humaneval", r"mbpp", r"primeintellect", r"kodcode", r"livebench"]
            )
        ),
    ),
    (
        "math",
        re.compile(
            "|".join(
                [
                    r"math",
                    r"deepscaler",
                    r"gsm8k",
                    _word(r"aime\d*"),
                    r"aime[-_]?\d{2,4}",
                    _word(r"amc\d*"),
                    r"numina",
                    r"olympiad",
                    r"minerva",
                    r"dapo",
                    _word("orz"),
                ]
            )
        ),
    ),
)


def _env_domain_map() -> dict[str, str]:
    raw = os.environ.get(DOMAIN_MAP_ENV)
    if not raw:
        return {}
    try:
        mapping = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"${DOMAIN_MAP_ENV} is not a JSON object: {exc}") from None
    if not isinstance(mapping, dict):
        raise ValueError(f"${DOMAIN_MAP_ENV} must be a JSON object of data_source -> domain")
    return {str(k).strip().lower(): str(v) for k, v in mapping.items()}


def domain_of_data_source(data_source: Any, domain_map: Mapping[str, str] | None = None) -> str:
    """The label domain of a data set name; :class:`UnmappableDataSource` when none fits."""
    name = str(_plain(data_source)).strip().lower()
    overrides = {**_env_domain_map(), **{str(k).strip().lower(): v for k, v in (domain_map or {}).items()}}
    if name in overrides:
        domain = overrides[name]
        if domain not in DOMAINS:
            raise UnmappableDataSource(data_source, f"mapped to unknown domain {domain!r} (one of {', '.join(DOMAINS)})")
        return domain
    if name in DOMAINS:
        return name
    for domain, pattern in _DATA_SOURCE_PATTERNS:
        if pattern.search(name):
            return domain
    raise UnmappableDataSource(
        data_source,
        f"no reward domain for this data source (known: DeepScaleR/math, CountDown, CodeR1/TACO/LeetCode/code, "
        f"KK/kk_logic, Zebra/ZebraLogic/LPB); give the ground truth as a label object with a 'domain' "
        f"or map the name with domain_map / ${DOMAIN_MAP_ENV}",
    )


def _plain(value: Any) -> Any:
    """numpy arrays and scalars (as veRL's parquet rows hold them) as plain Python, recursively."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str | bool | int | float) or value is None:
        return value
    if hasattr(value, "tolist"):  # numpy array or numpy scalar
        return _plain(value.tolist())
    if hasattr(value, "item"):
        return value.item()
    return value


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in ("{", "[", '"'):
            try:
                decoded = json.loads(text)
            except json.JSONDecodeError:
                return value
            return _maybe_json(decoded) if isinstance(decoded, str) else decoded
    return value


def as_label_object(ground_truth: Any) -> dict[str, Any] | None:
    """``ground_truth`` as a label dict when it already is one (known ``domain``), else None."""
    value = _maybe_json(_plain(ground_truth))
    if isinstance(value, dict) and value.get("domain") in DOMAINS:
        return value
    return None


def _math_label(data_source: Any, truth: Any) -> dict[str, Any]:
    if isinstance(truth, dict):
        for key in ("answer", "solution", "ground_truth", "target"):
            if key in truth:
                truth = truth[key]
                break
        else:
            raise UnmappableDataSource(data_source, f"math ground truth has no answer field (keys {sorted(truth)})")
    if isinstance(truth, list):
        # Some sets store a one-element list of answers.
        if len(truth) != 1:
            raise UnmappableDataSource(data_source, f"math ground truth is a list of {len(truth)} answers")
        truth = truth[0]
    if isinstance(truth, bool) or not isinstance(truth, str | int | float):
        raise UnmappableDataSource(data_source, f"math ground truth must be text or a number, got {type(truth).__name__}")
    return {"domain": "math", "answer": str(truth)}


def _countdown_label(data_source: Any, truth: Any) -> dict[str, Any]:
    truth = _maybe_json(truth)
    if not isinstance(truth, dict):
        raise UnmappableDataSource(data_source, "countdown ground truth must be {'target': int, 'numbers': [...]}")
    numbers = truth.get("numbers", truth.get("nums"))
    if "target" not in truth or numbers is None:
        raise UnmappableDataSource(data_source, f"countdown ground truth needs target and numbers (keys {sorted(truth)})")
    return {"domain": "countdown", "target": truth["target"], "numbers": list(numbers)}


_CODE_TEST_KEYS = ("inputs", "outputs", "fn_name", "functional")
_CODE_LABEL_KEYS = ("language", "time_limit_s", "memory_mb")


def _code_label(data_source: Any, truth: Any) -> dict[str, Any]:
    decoded = _maybe_json(truth)
    if isinstance(decoded, str):
        # Plain text: assert-style test code run after the solution (HumanEval, LeetCode check()).
        return {"domain": "code", "tests": {"functional": decoded}}
    if not isinstance(decoded, dict):
        raise UnmappableDataSource(data_source, f"code ground truth must be a JSON object of tests, got {type(decoded).__name__}")
    tests = decoded
    for key in ("tests", "input_output", "test_cases"):
        if key in decoded:
            tests = _maybe_json(decoded[key])
            break
    if isinstance(tests, str):
        tests = {"functional": tests}
    if not isinstance(tests, dict) or not any(k in tests for k in _CODE_TEST_KEYS):
        raise UnmappableDataSource(
            data_source, f"code ground truth has no tests (expected one of {', '.join(_CODE_TEST_KEYS)})"
        )
    label: dict[str, Any] = {"domain": "code", "tests": {k: tests[k] for k in _CODE_TEST_KEYS if tests.get(k) is not None}}
    for key in _CODE_LABEL_KEYS:
        if decoded.get(key) is not None:
            label[key] = decoded[key]
    return label


_KK_FIELDS = ("solution", "solution_text_format", "solution_text", "names", "roles")


def _kk_label(data_source: Any, truth: Any) -> dict[str, Any]:
    decoded = _maybe_json(truth)
    if isinstance(decoded, str):
        return {"domain": "kk", "solution": decoded}
    if isinstance(decoded, dict):
        if any(key in decoded for key in _KK_FIELDS):
            return {"domain": "kk", **{k: v for k, v in decoded.items() if k in _KK_FIELDS or k == "reward"}}
        return {"domain": "kk", "solution": decoded}  # {name: role}
    if isinstance(decoded, list):
        return {"domain": "kk", "solution": decoded}
    raise UnmappableDataSource(data_source, f"kk ground truth must be text or an object, got {type(decoded).__name__}")


def _zebra_label(data_source: Any, truth: Any) -> dict[str, Any]:
    decoded = _maybe_json(truth)
    if not isinstance(decoded, dict):
        raise UnmappableDataSource(data_source, f"zebra ground truth must be a JSON object grid, got {type(decoded).__name__}")
    solution = _maybe_json(decoded["solution"]) if "solution" in decoded else decoded
    return {"domain": "zebra", "solution": solution}


_BUILDERS = {
    "math": _math_label,
    "countdown": _countdown_label,
    "code": _code_label,
    "kk": _kk_label,
    "zebra": _zebra_label,
}


def label_for(
    data_source: Any,
    ground_truth: Any,
    domain: str | None = None,
    domain_map: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The label for one sample: ``ground_truth`` itself when it is a label, else built for the
    domain (given, or read from ``data_source``). Raises :class:`UnmappableDataSource` naming it."""
    existing = as_label_object(ground_truth)
    if existing is not None:
        return existing
    if domain is None:
        domain = domain_of_data_source(data_source, domain_map)
    elif domain not in DOMAINS:
        raise UnmappableDataSource(data_source, f"unknown domain {domain!r} (one of {', '.join(DOMAINS)})")
    truth = _plain(ground_truth)
    if truth is None:
        raise UnmappableDataSource(data_source, "ground truth is missing")
    return _BUILDERS[domain](data_source, truth)
