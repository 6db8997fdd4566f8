"""Service settings, read from the environment (prefix ``REWARD_``) or a ``.env`` file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.rewards import RewardMode
from services.scoring import DEFAULT_LIMITS, TimeLimits


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REWARD_", env_file=".env", extra="ignore", populate_by_name=True)

    host: str = "127.0.0.1"
    port: int = 8000
    api_key: SecretStr | None = Field(default=None, description="when set, scoring routes need 'Authorization: Bearer <key>'")
    backend: Literal["embedded", "rq"] = "embedded"
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", validation_alias="REDIS_URL")

    pool_workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=1, description="verifier processes for items just started"
    )
    pool_spare_workers: int | None = Field(
        default=None, ge=0, description="more verifier processes, for items that ran past pool_slow_after_s "
        "(default: as many as pool_workers; 0: none)"
    )
    pool_slow_after_s: float = Field(
        default=0.5, gt=0, description="running time after which an item moves to a spare verifier process"
    )
    pool_max_tasks: int = Field(default=5000, ge=0, description="tasks before a verifier process is recycled (0: never)")
    pool_memory_mb: int = Field(default=4096, ge=256, description="address-space limit of each verifier process")
    code_threads: int = Field(default=64, ge=1, description="concurrent code items waiting on the sandbox")

    default_mode: RewardMode = "binary"
    item_timeout_s: float = Field(
        default=DEFAULT_LIMITS.item_s, gt=0, description="time budget per math/countdown/puzzle item"
    )
    code_item_timeout_s: float = Field(
        default=DEFAULT_LIMITS.code_item_s, gt=0, description="time budget per code item (its runs' CPU together)"
    )
    max_item_timeout_s: float = Field(
        default=DEFAULT_LIMITS.max_s, gt=0, description="cap on the timeout_s options ask for"
    )
    queue_deadline_s: float = Field(
        default=150.0, gt=0, description="an item still unanswered after this long gets verdict timeout"
    )

    rq_batch_size: int = Field(default=16, ge=1, description="items per queued job (rq backend)")
    rq_batch_wait_ms: float = Field(default=5.0, ge=0, description="how long a micro-batch waits to fill")
    rq_max_retries: int = Field(default=3, ge=0, description="times a job is retried after its worker died")
    rq_sweep_interval_s: float = Field(default=2.0, gt=0, description="how often abandoned and lost jobs are swept")
    rq_liveness_s: float = Field(default=6.0, ge=2, description="a worker silent this long has abandoned its job")
    rq_worker_jobs: int = Field(
        default=4, ge=1, description="jobs a worker process runs at once (they share its verifier and sandbox pools)"
    )
    redis_cache_ttl_s: float = Field(default=3600.0, ge=0, description="result cache lifetime in Redis (0: off)")

    audit_rate: float = Field(
        default=0.02, ge=0, le=1, description="share of scored items judged again off the request's path (0: off)"
    )
    audit_max_concurrent: int = Field(
        default=4, ge=1, description="audit items (second opinions, canaries) out at once; more are dropped, never queued"
    )
    audit_window: int = Field(default=1000, ge=1, description="recent audits per domain and source behind the rate gauge")
    audit_path: Path = Field(default=Path("reward-audit.jsonl"), description="audit records (embedded backend)")
    audit_max_bytes: int = Field(default=16 * 1024 * 1024, ge=4096, description="size bound of the audit file")
    audit_max_records: int = Field(default=10_000, ge=1, description="audit records kept in Redis (rq backend)")
    canary_rate: float = Field(
        default=0.001, ge=0, le=1, description="share of items whose label also sends its canaries (0: off)"
    )
    canary_rates: dict[str, float] = Field(
        default_factory=dict, description="canary rate per data source (a JSON object), over canary_rate"
    )

    cache_size: int = Field(default=200_000, ge=0, description="in-process result cache entries (0: off)")
    max_request_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    max_batch_items: int = Field(default=10_000, ge=1)
    max_response_chars: int = Field(default=4_000_000, ge=1)

    @property
    def time_limits(self) -> TimeLimits:
        """How items' time budgets are resolved when they are decoded."""
        return TimeLimits(self.item_timeout_s, self.code_item_timeout_s, self.max_item_timeout_s)

    @model_validator(mode="after")
    def _spare_defaults_to_one_per_worker(self) -> Settings:
        if self.pool_spare_workers is None:
            self.pool_spare_workers = self.pool_workers
        return self
