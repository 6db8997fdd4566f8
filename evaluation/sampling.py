"""Completions from any OpenAI-compatible server (vLLM's ``vllm serve``, SGLang, TGI, ...).

The prompts are the training templates (:mod:`trainer.templates`): ``base`` sends the R1
prompt (ending in ``Assistant: <think>``) to ``/v1/completions``; ``instruct`` sends the chat
messages (system + user) to ``/v1/chat/completions`` and the server applies the model's chat
template. Each problem asks for its k samples in one request (``n``), topped up when a
server returns fewer. Requests run ``concurrency`` at a time; the ``openai`` client retries
connection errors, timeouts, 429 and 5xx with backoff (``retries``).

Every finished problem is appended to the generations file at once, so an interrupted run
keeps what it paid for and ``--resume`` asks only for the rest.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from evaluation.benchmarks import load_benchmark
from evaluation.generations import TEMPLATES, append_rows


class SamplingError(RuntimeError):
    """The server could not give a problem's samples (after the retries)."""


@dataclass(frozen=True)
class SamplingConfig:
    endpoint: str
    model: str
    template: str = "base"
    n: int = 1
    temperature: float = 0.6
    top_p: float = 0.95
    max_tokens: int = 4096
    concurrency: int = 32
    retries: int = 5
    timeout_s: float = 1800.0
    seed: int | None = None
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.template not in TEMPLATES:
            raise ValueError(f"template {self.template!r}: use one of {', '.join(TEMPLATES)}")
        if self.n < 1 or self.concurrency < 1 or self.max_tokens < 1 or self.retries < 0:
            raise ValueError("n, concurrency and max tokens must be at least 1, retries at least 0")

    @property
    def base_url(self) -> str:
        """The server's OpenAI API root (``.../v1``), whether or not the user wrote ``/v1``."""
        url = self.endpoint.rstrip("/")
        for suffix in ("/chat/completions", "/completions"):
            if url.endswith(suffix):
                url = url[: -len(suffix)]
        return url if url.endswith("/v1") else url + "/v1"

    def recorded(self) -> dict[str, Any]:
        """What a generations row and the report keep of the sampling."""
        kept = asdict(self)
        kept.pop("concurrency")
        kept.pop("retries")
        kept.pop("timeout_s")
        kept["stop"] = list(self.stop)
        return kept


def benchmark_rows(
    names: list[str],
    data_dir: Path | None,
    files: dict[str, Path],
    limit: int | None = None,
    template: str = "base",
    keep_prompt: bool = False,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The prompt rows of the benchmarks (as ``python -m trainer.data`` writes them, with
    ``benchmark``, ``id`` and ``template``), and where each benchmark's problems came from."""
    rows: list[dict[str, Any]] = []
    origins: dict[str, str] = {}
    for name in names:
        loaded = load_benchmark(name, data_dir, files.get(name), limit)
        origins[name] = loaded.origin
        for index, task in enumerate(loaded.tasks):
            row = task.to_row(keep_prompt=keep_prompt)
            row.update({"benchmark": name, "id": f"{name}/{index}", "template": template})
            rows.append(row)
    return rows, origins


def done_ids(path: Path, config: SamplingConfig) -> set[str]:
    """Problems already sampled into ``path`` with the same model, template and settings."""
    if not path.is_file():
        return set()
    wanted = config.recorded()
    done = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            if row.get("sampling") == wanted and len(row.get("responses", [])) >= config.n:
                done.add(row["id"])
    return done


async def _one(client: Any, config: SamplingConfig, row: dict[str, Any]) -> tuple[list[str], list[str | None]]:
    import openai

    texts: list[str] = []
    reasons: list[str | None] = []
    common: dict[str, Any] = {"model": config.model, "temperature": config.temperature, "top_p": config.top_p,
                              "max_tokens": config.max_tokens}  # fmt: skip
    if config.seed is not None:
        common["seed"] = config.seed
    if config.stop:
        common["stop"] = list(config.stop)
    for _ in range(config.n):  # a server that gives fewer choices than asked is asked again for the rest
        wanted = config.n - len(texts)
        try:
            if config.template == "base":
                reply = await client.completions.create(prompt=row["prompt"], n=wanted, **common)
                choices = sorted(reply.choices, key=lambda c: c.index)
                texts += [c.text or "" for c in choices]
            else:
                reply = await client.chat.completions.create(messages=row["messages"], n=wanted, **common)
                choices = sorted(reply.choices, key=lambda c: c.index)
                texts += [c.message.content or "" for c in choices]
        except openai.APIError as exc:
            raise SamplingError(f"{row['id']}: {config.base_url} answered {type(exc).__name__}: {exc}") from None
        reasons += [c.finish_reason for c in choices]
        if len(texts) >= config.n or not choices:
            break
    if len(texts) < config.n:
        raise SamplingError(f"{row['id']}: {config.base_url} gave {len(texts)} of {config.n} samples")
    return texts[: config.n], reasons[: config.n]


async def _sample_all(
    rows: list[dict[str, Any]], config: SamplingConfig, out: Path, api_key: str | None, advance: Callable[[int], None]
) -> None:
    import openai

    client = openai.AsyncOpenAI(base_url=config.base_url, api_key=api_key or "EMPTY", max_retries=config.retries,
                                timeout=config.timeout_s)  # fmt: skip
    gate = asyncio.Semaphore(config.concurrency)
    recorded = config.recorded()

    async def one(row: dict[str, Any]) -> None:
        async with gate:
            responses, reasons = await _one(client, config, row)
        append_rows(out, [{**row, "responses": responses, "finish_reasons": reasons, "model": config.model,
                           "sampling": recorded}])  # fmt: skip
        advance(1)

    try:
        tasks = [asyncio.ensure_future(one(row)) for row in rows]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
    finally:
        await client.close()


def sample(
    rows: list[dict[str, Any]],
    config: SamplingConfig,
    out: Path,
    *,
    api_key: str | None = None,
    advance: Callable[[int], None] = lambda n: None,
) -> None:
    """Append each row with its ``responses`` to ``out`` as soon as it has them."""
    out.parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(_sample_all(rows, config, out, api_key, advance))
