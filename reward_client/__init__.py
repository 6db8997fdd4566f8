"""Trainer-side clients of the reward service: the HTTP client and the veRL, TRL and OpenRLHF adapters."""

from reward_client.client import (
    AsyncRewardClient,
    RetryPolicy,
    RewardClient,
    RewardProtocolError,
    RewardRequestError,
    RewardServiceError,
    RewardServiceUnavailable,
)
from reward_client.labels import UnmappableDataSource, label_for

__all__ = [
    "AsyncRewardClient",
    "RetryPolicy",
    "RewardClient",
    "RewardProtocolError",
    "RewardRequestError",
    "RewardServiceError",
    "RewardServiceUnavailable",
    "UnmappableDataSource",
    "label_for",
]
