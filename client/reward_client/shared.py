"""One :class:`RewardClient` per (process, settings), reused by the trainer adapters.

Trainers call reward functions many times (veRL once per sample, OpenRLHF from a thread
pool); a client per call would open a connection per call. Clients are keyed by the
process id too, so a forked worker never shares its parent's sockets.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from reward_client.client import RewardClient, resolve_base_url

_clients: dict[tuple[Any, ...], RewardClient] = {}
_lock = threading.Lock()


def shared_client(url: str | None = None, api_key: str | None = None, **settings: Any) -> RewardClient:
    """The process's client for these settings (``url`` default ``$REWARD_URL``; key default ``$REWARD_API_KEY``)."""
    key = (
        os.getpid(),
        resolve_base_url(url),
        api_key if api_key is not None else os.environ.get("REWARD_API_KEY"),
        tuple(sorted(settings.items())),
    )
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = RewardClient(key[1], api_key=key[2] or "", **settings)
                _clients[key] = client
    return client
