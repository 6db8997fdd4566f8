"""HTTP clients for the reward service: :class:`RewardClient` (sync) and :class:`AsyncRewardClient`.

Both speak the service's two scoring routes with the service's own pydantic models:

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
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel, ValidationError

from services.api import ItemResult, RewardResponse, ScoreItem, ScoreResponse
from services.rewards import RewardOptions

logger = logging.getLogger("reward_client")

DEFAULT_URL = "http://127.0.0.1:8000"
URL_ENV = "REWARD_URL"
API_KEY_ENV = "REWARD_API_KEY"

# Paths a user may paste with the URL (e.g. OpenRLHF's --reward.remote_url value); the
# client wants the service's base URL and adds the route itself.
_ROUTE_SUFFIXES = ("/v1/score", "/get_reward", "/reward")


class RewardServiceError(Exception):
    """Base class of every error the client raises about the service."""


class RewardServiceUnavailable(RewardServiceError):
    """The service did not answer (connection refused, timeouts, 5xx, 429) after the retries or the deadline."""

    def __init__(self, url: str, attempts: int, elapsed_s: float, last_error: str) -> None:
        self.url = url
        self.attempts = attempts
        self.elapsed_s = elapsed_s
        self.last_error = last_error
        super().__init__(
            f"reward service at {url} unavailable after {attempts} attempt(s) over {elapsed_s:.1f} s: "
            f"{last_error}. Is `reward serve` running there (set REWARD_URL to its address)?"
        )


class RewardRequestError(RewardServiceError):
    """The service refused the request with a 4xx (bad input, auth, size): retrying would not help."""

    def __init__(self, url: str, status_code: int, message: str) -> None:
        self.url = url
        self.status_code = status_code
        self.message = message
        super().__init__(f"reward service at {url} refused the request with HTTP {status_code}: {message}")


class RewardProtocolError(RewardServiceError):
    """The service answered 200 with a body that does not match the API (wrong version, wrong server)."""


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
    # numpy arrays and scalars (veRL keeps dataset columns as numpy) and pydantic models.
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_none=True)
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"object of type {type(value).__name__} is not JSON serializable")


def _error_message(response: httpx.Response) -> str:
    """The server's own words: FastAPI's ``detail`` (string or list of field errors) or the raw text."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:2000] or response.reason_phrase
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):
        parts = []
        for err in detail[:10]:
            if isinstance(err, dict):
                loc = ".".join(str(p) for p in err.get("loc", ()))
                parts.append(f"{loc}: {err.get('msg', err)}" if loc else str(err.get("msg", err)))
            else:
                parts.append(str(err))
        return "; ".join(parts)
    return str(detail)[:2000]


def _options_payload(options: RewardOptions | Mapping[str, Any] | None) -> dict[str, Any] | None:
    # Only the fields the caller set travel: the service layers options by what each layer sets.
    if options is None:
        return None
    if isinstance(options, RewardOptions):
        return options.model_dump(exclude_unset=True)
    return dict(options)


def _item_payload(item: ScoreItem | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(item, ScoreItem):
        return item.model_dump(exclude_none=True)
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


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: ``base * 2**attempt``, capped at ``max_delay_s``."""

    max_retries: int = 10
    base_delay_s: float = 0.25
    max_delay_s: float = 10.0

    def delay(self, retry_index: int, retry_after: float | None = None) -> float:
        backoff = min(self.max_delay_s, self.base_delay_s * (2**retry_index))
        backoff *= random.uniform(0.5, 1.0)
        if retry_after is not None:
            backoff = max(backoff, min(retry_after, self.max_delay_s))
        return backoff


class _Outcome:
    """What one HTTP attempt came to: a parsed body, a retryable failure, or a final 4xx."""

    __slots__ = ("body", "retry_reason", "retry_after")

    def __init__(self, body: Any = None, retry_reason: str | None = None, retry_after: float | None = None):
        self.body = body
        self.retry_reason = retry_reason
        self.retry_after = retry_after


def _retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _judge(url: str, response: httpx.Response) -> _Outcome:
    """Classify a response: 2xx -> body; 429/5xx -> retry; other 4xx -> raise."""
    status = response.status_code
    if status < 300:
        try:
            return _Outcome(body=response.json())
        except ValueError:
            raise RewardProtocolError(f"{url} answered {status} with a body that is not JSON") from None
    if status == 429 or status >= 500:
        return _Outcome(
            retry_reason=f"HTTP {status}: {_error_message(response)}", retry_after=_retry_after_seconds(response)
        )
    raise RewardRequestError(url, status, _error_message(response))


class _ClientBase:
    def __init__(
        self,
        url: str | None,
        api_key: str | None,
        batch_size: int,
        concurrency: int,
        deadline_s: float,
        request_timeout_s: float,
        retry: RetryPolicy | None,
        max_retries: int | None,
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

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r}, batch_size={self.batch_size})"

    def _encode(self, payload: dict[str, Any]) -> bytes:
        return json.dumps(payload, default=_json_default, ensure_ascii=False).encode()

    def _score_bodies(
        self, items: Sequence[ScoreItem | Mapping[str, Any]], options: RewardOptions | Mapping[str, Any] | None
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
        options: RewardOptions | Mapping[str, Any] | None,
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
            results = ScoreResponse.model_validate(body).results
        except ValidationError as exc:
            raise RewardProtocolError(f"{url} answered with an unexpected body: {exc}") from None
        if len(results) != expected:
            raise RewardProtocolError(f"{url} returned {len(results)} results for {expected} items")
        return results

    def _parse_reward(self, url: str, body: Any, expected: int) -> RewardResponse:
        try:
            parsed = RewardResponse.model_validate(body)
        except ValidationError as exc:
            raise RewardProtocolError(f"{url} answered with an unexpected body: {exc}") from None
        if len(parsed.rewards) != expected or len(parsed.scores) != expected:
            raise RewardProtocolError(f"{url} returned {len(parsed.rewards)} rewards for {expected} queries")
        return parsed

    def _deadline(self, deadline_s: float | None) -> float:
        return time.monotonic() + (deadline_s if deadline_s is not None else self.deadline_s)

    def _log_retry(self, url: str, attempt: int, reason: str, delay: float) -> None:
        logger.warning("reward service at %s: %s; retry %d in %.2f s", url, reason, attempt, delay)


class RewardClient(_ClientBase):
    """Synchronous client; thread-safe, one connection pool per instance. Use as a context manager or call close().

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
        super().__init__(url, api_key, batch_size, concurrency, deadline_s, request_timeout_s, retry, max_retries)
        self._http = httpx.Client(base_url=self.base_url, headers=self._headers, limits=self._limits)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

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
        options: RewardOptions | Mapping[str, Any] | None = None,
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
        options: RewardOptions | Mapping[str, Any] | None = None,
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
        url = self._url(route)
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RewardServiceUnavailable(url, attempt - 1, time.monotonic() - started, "call deadline passed")
            try:
                response = self._http.post(route, content=body, timeout=min(self.request_timeout_s, remaining))
                outcome = _judge(url, response)
            except httpx.TransportError as exc:
                outcome = _Outcome(retry_reason=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
            if outcome.retry_reason is None:
                return outcome.body
            delay = self.retry.delay(attempt - 1, outcome.retry_after)
            out_of_time = time.monotonic() + delay >= deadline
            if attempt > self.retry.max_retries or out_of_time:
                reason = outcome.retry_reason + ("" if not out_of_time else " (call deadline reached)")
                raise RewardServiceUnavailable(url, attempt, time.monotonic() - started, reason)
            self._log_retry(url, attempt, outcome.retry_reason, delay)
            time.sleep(delay)


class AsyncRewardClient(_ClientBase):
    """The asyncio twin of :class:`RewardClient` (same arguments); ``async with`` it or ``await aclose()``."""

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
        super().__init__(url, api_key, batch_size, concurrency, deadline_s, request_timeout_s, retry, max_retries)
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=self._headers, limits=self._limits)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncRewardClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def score(
        self,
        items: Sequence[ScoreItem | Mapping[str, Any]],
        options: RewardOptions | Mapping[str, Any] | None = None,
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
        options: RewardOptions | Mapping[str, Any] | None = None,
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
        url = f"{self.base_url}{route}"
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RewardServiceUnavailable(url, attempt - 1, time.monotonic() - started, "call deadline passed")
            try:
                response = await self._http.post(route, content=body, timeout=min(self.request_timeout_s, remaining))
                outcome = _judge(url, response)
            except httpx.TransportError as exc:
                outcome = _Outcome(retry_reason=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
            if outcome.retry_reason is None:
                return outcome.body
            delay = self.retry.delay(attempt - 1, outcome.retry_after)
            out_of_time = time.monotonic() + delay >= deadline
            if attempt > self.retry.max_retries or out_of_time:
                reason = outcome.retry_reason + ("" if not out_of_time else " (call deadline reached)")
                raise RewardServiceUnavailable(url, attempt, time.monotonic() - started, reason)
            self._log_retry(url, attempt, outcome.retry_reason, delay)
            await asyncio.sleep(delay)
