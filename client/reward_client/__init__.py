"""Trainer-side clients of the reward service: the HTTP client and the veRL, TRL and OpenRLHF adapters."""

from reward_client.client import AsyncRewardClient, RewardClient
from reward_client.labels import UnmappableDataSource, label_for
from reward_client.results import ItemResult, RewardResponse, ScoreItem
from reward_client.transport import (
    RetryPolicy,
    RewardProtocolError,
    RewardRequestError,
    RewardServiceError,
    RewardServiceUnavailable,
)

__all__ = [
    "AsyncRewardClient",
    "ItemResult",
    "RetryPolicy",
    "RewardClient",
    "RewardResponse",
    "RewardProtocolError",
    "RewardRequestError",
    "RewardServiceError",
    "RewardServiceUnavailable",
    "ScoreItem",
    "UnmappableDataSource",
    "label_for",
]
