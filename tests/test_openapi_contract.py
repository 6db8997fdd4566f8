"""The OpenAPI document is the contract: schemathesis, with every check, against a real
service (``reward serve`` on a free port, see conftest.py). Requests the document calls
valid are scored, requests it calls invalid are refused, and every answer matches the
document (status, content type, body). Seed and example counts are fixed in
tests/schemathesis.toml, so a run is repeatable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent


def test_the_service_keeps_its_openapi_contract(service_url: str) -> None:
    schemathesis = Path(sys.executable).with_name("schemathesis")
    result = subprocess.run(
        [str(schemathesis), "--config-file", str(HERE / "schemathesis.toml"), "run",
         f"{service_url}/openapi.json", "--checks", "all", "--no-color"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "Tested: 8" in result.stdout, result.stdout[-3000:]


def test_documented_shapes_hold_for_what_the_fuzzer_cannot_say(service_url: str) -> None:
    """The two refusals the schema can only describe in words, checked as typed by a user."""
    mismatched = {"query": ["a", "b"], "labels": [{"domain": "math", "answer": "1"}]}
    answer = httpx.post(f"{service_url}/reward", json=mismatched, timeout=60)
    assert answer.status_code == 422 and "labels has 1 entries but query has 2" in answer.text
    not_a_number = {"items": [{"response": "\\boxed{1}", "label": {"domain": "math", "answer": "1"}}],
                    "options": {"float_digits": False}}  # fmt: skip
    answer = httpx.post(f"{service_url}/v1/score", json=not_a_number, timeout=60)
    assert answer.status_code == 422 and "float_digits" in answer.text
    metrics = httpx.get(f"{service_url}/metrics", timeout=30)
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "text/plain" in str(httpx.get(f"{service_url}/openapi.json", timeout=30).json()["paths"]["/metrics"])
