"""What one call of the client does, without I/O: the errors it raises, how a response is
judged, and the retry loop shared by the sync and the async client."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Protocol

import httpx


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


class Outcome:
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


def judge(url: str, response: httpx.Response) -> Outcome:
    """Classify a response: 2xx -> body; 429/5xx -> retry; other 4xx -> raise."""
    status = response.status_code
    if status < 300:
        try:
            return Outcome(body=response.json())
        except ValueError:
            raise RewardProtocolError(f"{url} answered {status} with a body that is not JSON") from None
    if status == 429 or status >= 500:
        return Outcome(
            retry_reason=f"HTTP {status}: {_error_message(response)}", retry_after=_retry_after_seconds(response)
        )
    raise RewardRequestError(url, status, _error_message(response))


def transport_failure(exc: httpx.TransportError) -> Outcome:
    return Outcome(retry_reason=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


class _Caller(Protocol):
    request_timeout_s: float
    retry: RetryPolicy

    def _log_retry(self, url: str, attempt: int, reason: str, delay: float) -> None: ...


class Attempts:
    """The retry loop without I/O, shared by the sync and the async client: the caller
    makes each HTTP attempt and sleeps; this says how long an attempt may take, whether
    its outcome is final, and how long to wait before the next."""

    def __init__(self, client: _Caller, url: str, deadline: float) -> None:
        self.client, self.url, self.deadline = client, url, deadline
        self.started = time.monotonic()
        self.attempt = 0

    def start(self) -> float:
        """The next attempt's time limit; raises when the call's deadline has passed."""
        self.attempt += 1
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise RewardServiceUnavailable(self.url, self.attempt - 1, time.monotonic() - self.started, "call deadline passed")
        return min(self.client.request_timeout_s, remaining)

    def finish(self, outcome: Outcome) -> float | None:
        """None when ``outcome`` is final (its body is the answer), else the delay before
        the next attempt; raises when no attempt is left."""
        if outcome.retry_reason is None:
            return None
        policy = self.client.retry
        delay = policy.delay(self.attempt - 1, outcome.retry_after)
        out_of_time = time.monotonic() + delay >= self.deadline
        if self.attempt > policy.max_retries or out_of_time:
            reason = outcome.retry_reason + ("" if not out_of_time else " (call deadline reached)")
            raise RewardServiceUnavailable(self.url, self.attempt, time.monotonic() - self.started, reason)
        self.client._log_retry(self.url, self.attempt, outcome.retry_reason, delay)
        return delay
