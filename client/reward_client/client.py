"""HTTP clients for the reward service: :class:`RewardClient` (sync) and :class:`AsyncRewardClient`.

Both speak the service's two scoring routes and read the answers into :mod:`reward_client.results`:

- ``score(items, options=None) -> list[ItemResult]`` posts to ``/v1/score``;
- ``reward(queries, prompts, labels) -> RewardResponse`` posts to ``/reward`` (OpenRLHF's form).

Large lists are split into requests of ``batch_size`` items (sent up to ``concurrency`` at
a time over one pool of kept-alive connections) and the answers are joined in order.
Connection errors, timeouts, 5xx and 429 are retried with exponential backoff (429 and
503 honour ``Retry-After``) until ``max_retries`` is spent or the call's ``deadline_s``
has passed; then :class:`RewardServiceUnavailable` is raised, naming the URL. A 4xx is
never retried: :class:`RewardRequestError` carries the server's message. No path turns a
failure into a zero reward.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, is_dataclass
from typing import Any, Protocol

import httpx

from reward_client.results import ItemResult, RewardResponse, ScoreItem, ShapeError, score_results
from reward_client.transport import (
    Attempts,
    RetryPolicy,
    RewardProtocolError,
    judge,
    transport_failure,
)


class _Model(Protocol):
    def model_dump(self, **kwargs: Any) -> dict[str, Any]: ...


# Reward options: a mapping of the fields to set, or the service's RewardOptions model (read
# through its model_dump, so the client needs no pydantic of its own).
Options = Mapping[str, Any] | _Model

logger = logging.getLogger("reward_client")

DEFAULT_URL = "http://127.0.0.1:8000"
URL_ENV = "REWARD_URL"
API_KEY_ENV = "REWARD_API_KEY"

# Paths a user may paste with the URL (e.g. OpenRLHF's --reward.remote_url value); the
# client wants the service's base URL and adds the route itself.
_ROUTE_SUFFIXES = ("/v1/score", "/get_reward", "/reward")


def resolve_base_url(url: str | None) -> str:
    """The service's base URL from ``url``, else ``$REWARD_URL``, else the local default."""
    base = (url or os.environ.get(URL_ENV) or DEFAULT_URL).strip().rstrip("/")
    if "://" not in base:
        base = f"http://{base}"
    for suffix in _ROUTE_SUFFIXES:
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    return base


def _json_default(value: Any) -> Any:
    # numpy arrays and scalars (veRL keeps dataset columns as numpy), pydantic models, dataclasses.
    if hasattr(value, "model_dump"):
        return value.model_dump(exclude_none=True)
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"object of type {type(value).__name__} is not JSON serializable")


def _options_payload(options: Options | None) -> dict[str, Any] | None:
    # Only the fields the caller set travel: the service layers options by what each layer sets.
    if options is None:
        return None
    if hasattr(options, "model_dump"):
        return options.model_dump(exclude_unset=True)
    if not isinstance(options, Mapping):
        raise TypeError(f"options are a mapping of reward option fields, got {type(options).__name__}")
    return dict(options)


def _item_payload(item: ScoreItem | Mapping[str, Any]) -> dict[str, Any]:
    if hasattr(item, "model_dump"):
        item = item.model_dump(exclude_none=True)
    if not isinstance(item, Mapping):
        raise TypeError(f"a score item is a ScoreItem or a mapping with 'response' and 'label', got {type(item).__name__}")
    if "response" not in item or "label" not in item:
        raise ValueError(f"a score item needs 'response' and 'label'; got keys {sorted(item)}")
    return {k: v for k, v in item.items() if v is not None}


def _chunks(n: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(start + size, n)) for start in range(0, n, size)]


def _merge_reward_responses(parts: Sequence[RewardResponse]) -> RewardResponse:
    keys: list[str] = []
    for part in parts:
        keys.extend(k for k in part.extra_logs if k not in keys)
    extra: dict[str, list[float]] = {k: [] for k in keys}
    for part in parts:
        n = len(part.rewards)
        for k in keys:
            extra[k].extend(part.extra_logs.get(k, [float("nan")] * n))
    return RewardResponse(
        rewards=[r for p in parts for r in p.rewards],
        scores=[s for p in parts for s in p.scores],
        extra_logs=extra,
    )


class _ClientBase:
    """What both clients share; they differ only in their HTTP client and how they wait.

    Args:
        url: base URL of the service (``http://host:8000``); default ``$REWARD_URL``, else
            ``http://127.0.0.1:8000``. A pasted route (``/reward``, ``/v1/score``) is dropped.
        api_key: bearer key; default ``$REWARD_API_KEY``.
        batch_size: items per HTTP request.
        concurrency: requests of one call in flight at once.
        deadline_s: default time budget of one call, all batches and retries included.
        request_timeout_s: time limit of one HTTP attempt (capped by what is left of the deadline).
        retry / max_retries: the backoff policy, or just its number of retries.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        api_key: str | None = None,
        batch_size: int = 256,
        concurrency: int = 4,
        deadline_s: float = 300.0,
        request_timeout_s: float = 180.0,
        retry: RetryPolicy | None = None,
        max_retries: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if deadline_s <= 0 or request_timeout_s <= 0:
            raise ValueError("deadline_s and request_timeout_s must be positive")
        self.base_url = resolve_base_url(url)
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        self._headers = {"content-type": "application/json", "accept": "application/json"}
        if key:
            self._headers["authorization"] = f"Bearer {key}"
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.deadline_s = deadline_s
        self.request_timeout_s = request_timeout_s
        policy = retry or RetryPolicy()
        if max_retries is not None:
            policy = RetryPolicy(max_retries, policy.base_delay_s, policy.max_delay_s)
        self.retry = policy
        self._limits = httpx.Limits(max_connections=max(concurrency * 2, 16), max_keepalive_connections=max(concurrency, 8))
        self._http = self._open_http()

    def _open_http(self) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r}, batch_size={self.batch_size})"

    def _encode(self, payload: dict[str, Any]) -> bytes:
        return json.dumps(payload, default=_json_default, ensure_ascii=False).encode()

    def _score_bodies(
        self, items: Sequence[ScoreItem | Mapping[str, Any]], options: Options | None
    ) -> list[tuple[int, bytes]]:
        payload_items = [_item_payload(item) for item in items]
        opts = _options_payload(options)
        bodies = []
        for start, end in _chunks(len(payload_items), self.batch_size):
            payload: dict[str, Any] = {"items": payload_items[start:end]}
            if opts is not None:
                payload["options"] = opts
            bodies.append((end - start, self._encode(payload)))
        return bodies

    def _reward_bodies(
        self,
        queries: Sequence[str],
        prompts: Sequence[str] | None,
        labels: Sequence[Any],
        options: Options | None,
    ) -> list[tuple[int, bytes]]:
        queries, labels = list(queries), list(labels)
        if len(labels) != len(queries):
            raise ValueError(f"labels has {len(labels)} entries but queries has {len(queries)}")
        if prompts is not None:
            prompts = list(prompts)
            if len(prompts) != len(queries):
                raise ValueError(f"prompts has {len(prompts)} entries but queries has {len(queries)}")
        opts = _options_payload(options)
        bodies = []
        for start, end in _chunks(len(queries), self.batch_size):
            payload: dict[str, Any] = {"query": queries[start:end], "labels": labels[start:end]}
            if prompts is not None:
                payload["prompts"] = prompts[start:end]
            if opts is not None:
                payload["options"] = opts
            bodies.append((end - start, self._encode(payload)))
        return bodies

    def _parse_score(self, url: str, body: Any, expected: int) -> list[ItemResult]:
        try:
            results = score_results(body)
        except ShapeError as exc:
            raise RewardProtocolError(f"{url} answered with an unexpected body: {exc}") from None
        if len(results) != expected:
            raise RewardProtocolError(f"{url} returned {len(results)} results for {expected} items")
        return results

    def _parse_reward(self, url: str, body: Any, expected: int) -> RewardResponse:
        try:
            parsed = RewardResponse.from_body(body)
        except ShapeError as exc:
            raise RewardProtocolError(f"{url} answered with an unexpected body: {exc}") from None
        if len(parsed.rewards) != expected or len(parsed.scores) != expected:
            raise RewardProtocolError(f"{url} returned {len(parsed.rewards)} rewards for {expected} queries")
        return parsed

    def _deadline(self, deadline_s: float | None) -> float:
        return time.monotonic() + (deadline_s if deadline_s is not None else self.deadline_s)

    def _log_retry(self, url: str, attempt: int, reason: str, delay: float) -> None:
        logger.warning("reward service at %s: %s; retry %d in %.2f s", url, reason, attempt, delay)


class RewardClient(_ClientBase):
    """Synchronous client; thread-safe, one connection pool per instance. Use as a context
    manager or call close(). Arguments: see :class:`_ClientBase`."""

    def _open_http(self) -> httpx.Client:
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        return httpx.Client(base_url=self.base_url, headers=self._headers, limits=self._limits)

    def close(self) -> None:
        self._http.close()
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    def __enter__(self) -> RewardClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def score(
        self,
        items: Sequence[ScoreItem | Mapping[str, Any]],
        options: Options | None = None,
        *,
        deadline_s: float | None = None,
    ) -> list[ItemResult]:
        """Score ``items`` (``{"response", "label", "prompt"?, "options"?}``); one result per item, in order."""
        if not items:
            return []
        deadline = self._deadline(deadline_s)
        bodies = self._score_bodies(items, options)
        parts = self._run_all(bodies, lambda n, body: self._parse_score(self._url("/v1/score"), self._post("/v1/score", body, deadline), n))
        return [result for part in parts for result in part]

    def reward(
        self,
        queries: Sequence[str],
        prompts: Sequence[str] | None,
        labels: Sequence[Any],
        options: Options | None = None,
        *,
        deadline_s: float | None = None,
    ) -> RewardResponse:
        """OpenRLHF's form: ``query[i]`` is prompt + response as decoded (special tokens included)."""
        if not queries:
            return RewardResponse(rewards=[], scores=[], extra_logs={})
        deadline = self._deadline(deadline_s)
        bodies = self._reward_bodies(queries, prompts, labels, options)
        parts = self._run_all(bodies, lambda n, body: self._parse_reward(self._url("/reward"), self._post("/reward", body, deadline), n))
        return _merge_reward_responses(parts)

    def health(self, timeout_s: float = 5.0) -> bool:
        """True when ``/healthz`` answers 200 now (no retries)."""
        try:
            return self._http.get("/healthz", timeout=timeout_s).status_code == 200
        except httpx.HTTPError:
            return False

    def _url(self, route: str) -> str:
        return f"{self.base_url}{route}"

    def _run_all(self, bodies: list[tuple[int, bytes]], send: Callable[[int, bytes], Any]) -> list[Any]:
        if len(bodies) == 1 or self.concurrency == 1:
            return [send(n, body) for n, body in bodies]
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="reward-client")
        futures = [self._pool.submit(send, n, body) for n, body in bodies]
        return [f.result() for f in futures]

    def _post(self, route: str, body: bytes, deadline: float) -> Any:
        attempts = Attempts(self, self._url(route), deadline)
        while True:
            timeout = attempts.start()
            try:
                outcome = judge(attempts.url, self._http.post(route, content=body, timeout=timeout))
            except httpx.TransportError as exc:
                outcome = transport_failure(exc)
            delay = attempts.finish(outcome)
            if delay is None:
                return outcome.body
            time.sleep(delay)


class AsyncRewardClient(_ClientBase):
    """The asyncio twin of :class:`RewardClient` (same arguments); ``async with`` it or ``await aclose()``."""

    def _open_http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, headers=self._headers, limits=self._limits)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncRewardClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def score(
        self,
        items: Sequence[ScoreItem | Mapping[str, Any]],
        options: Options | None = None,
        *,
        deadline_s: float | None = None,
    ) -> list[ItemResult]:
        if not items:
            return []
        deadline = self._deadline(deadline_s)
        url = f"{self.base_url}/v1/score"

        async def send(n: int, body: bytes) -> list[ItemResult]:
            return self._parse_score(url, await self._post("/v1/score", body, deadline), n)

        parts = await self._run_all(self._score_bodies(items, options), send)
        return [result for part in parts for result in part]

    async def reward(
        self,
        queries: Sequence[str],
        prompts: Sequence[str] | None,
        labels: Sequence[Any],
        options: Options | None = None,
        *,
        deadline_s: float | None = None,
    ) -> RewardResponse:
        if not queries:
            return RewardResponse(rewards=[], scores=[], extra_logs={})
        deadline = self._deadline(deadline_s)
        url = f"{self.base_url}/reward"

        async def send(n: int, body: bytes) -> RewardResponse:
            return self._parse_reward(url, await self._post("/reward", body, deadline), n)

        parts = await self._run_all(self._reward_bodies(queries, prompts, labels, options), send)
        return _merge_reward_responses(parts)

    async def health(self, timeout_s: float = 5.0) -> bool:
        try:
            return (await self._http.get("/healthz", timeout=timeout_s)).status_code == 200
        except httpx.HTTPError:
            return False

    async def _run_all(self, bodies: Iterable[tuple[int, bytes]], send: Callable[[int, bytes], Any]) -> list[Any]:
        gate = asyncio.Semaphore(self.concurrency)

        async def gated(n: int, body: bytes) -> Any:
            async with gate:
                return await send(n, body)

        return list(await asyncio.gather(*(gated(n, body) for n, body in bodies)))

    async def _post(self, route: str, body: bytes, deadline: float) -> Any:
        attempts = Attempts(self, f"{self.base_url}{route}", deadline)
        while True:
            timeout = attempts.start()
            try:
                outcome = judge(attempts.url, await self._http.post(route, content=body, timeout=timeout))
            except httpx.TransportError as exc:
                outcome = transport_failure(exc)
            delay = attempts.finish(outcome)
            if delay is None:
                return outcome.body
            await asyncio.sleep(delay)
