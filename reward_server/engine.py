"""The scoring engine: settings, metrics, a backend and the front, built in one place.

``reward serve`` (:mod:`reward_server.app`), ``reward worker`` (:mod:`reward_server.rq_worker`,
the embedded backend only) and ``reward eval`` in-process (:mod:`evaluation.scoring`) all
build theirs with :meth:`Engine.build`, and decode items with :meth:`Engine.decode`, so an
item gets the same options and time budget wherever it is scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from reward_server.audit import Auditor
from reward_server.front import Backend, Front
from reward_server.metrics import Metrics
from reward_server.settings import Settings
from services.rewards import RewardOptions
from services.scoring import TimeLimits, WorkItem, decode_item


@dataclass(eq=False)
class Engine:
    settings: Settings
    metrics: Metrics
    backend: Backend
    front: Front
    base_options: RewardOptions
    """The server's default options, under every request's."""
    limits: TimeLimits
    """How items' time budgets are resolved (from the settings, read once)."""
    auditor: Auditor | None = None
    """The audit of answered items, when built with ``audit``."""

    @classmethod
    def build(
        cls,
        settings: Settings,
        backend: Backend | Literal["embedded", "rq"] | None = None,
        *,
        audit: bool = False,
    ) -> Engine:
        """An engine on ``backend`` (default: the one the settings name). ``audit``: second
        opinions and canaries on the answered items (:mod:`reward_server.audit`)."""
        metrics = Metrics()
        if backend is None or isinstance(backend, str):
            backend = _make_backend(backend or settings.backend, settings, metrics)
        front = Front(settings, metrics, backend)
        auditor = Auditor(settings, metrics, backend) if audit else None
        if auditor is not None:
            front.observers.append(auditor.observe)
        return cls(
            settings, metrics, backend, front, RewardOptions(mode=settings.default_mode), settings.time_limits, auditor
        )

    def decode(
        self,
        response: str,
        label: Any,
        prompt: str | None = None,
        layers: tuple[dict[str, Any] | None, ...] = (),
        truncated: bool = False,
        overrides: tuple[dict[str, Any] | None, ...] = (),
    ) -> WorkItem:
        """One item read against this engine's defaults (:func:`services.scoring.decode_item`)."""
        return decode_item(
            response,
            label,
            prompt,
            self.base_options,
            layers,
            truncated,
            limits=self.limits,
            overrides=overrides,
        )

    async def start(self) -> None:
        await self.backend.start()

    async def stop(self) -> None:
        if self.auditor is not None:
            await self.auditor.close()
        await self.backend.stop()


def _make_backend(kind: str, settings: Settings, metrics: Metrics) -> Backend:
    if kind == "rq":
        from reward_server.rq_backend import RQBackend

        return RQBackend(settings, metrics)
    from reward_server.execution import EmbeddedBackend

    return EmbeddedBackend(settings, metrics)
