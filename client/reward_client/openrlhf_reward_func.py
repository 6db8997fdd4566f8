"""OpenRLHF's python-file reward form, forwarding to a running reward service.

    --reward.remote_url /path/to/reward_client/openrlhf_reward_func.py     (OpenRLHF 0.11.x)
    --remote_rm_url     /path/to/reward_client/openrlhf_reward_func.py     (before 0.10.2)

with ``REWARD_URL=http://reward-host:8000`` (and ``REWARD_API_KEY`` when the service has
one) in the trainer's environment. OpenRLHF loads this file with
``importlib.util.spec_from_file_location`` and calls ``reward_func([query], [prompt], [label])``
from a thread per sample; the answer is the same dict the service's ``POST /reward``
returns, so a run configured with the URL and one configured with this file see identical
rewards, scores and extra_logs. Optional: ``REWARD_MODE`` (reward mode for every sample),
``REWARD_DEADLINE_S`` (per call, default 170 s, inside the 180 s OpenRLHF allows a reward request).

When the service stays down past the retries the call raises
:class:`reward_client.RewardServiceUnavailable` naming the URL; it never returns a made-up reward.
"""

from __future__ import annotations

import os
from typing import Any

try:
    import reward_client  # noqa: F401
except ImportError:
    # Loaded by file path from a checkout that is not installed: make the repository importable.
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reward_client.shared import shared_client


def reward_func(queries: list[str], prompts: list[str], labels: list[Any]) -> dict[str, Any]:
    """``{"rewards": [float], "scores": [float], "extra_logs": {name: [float]}}`` for the samples."""
    mode = os.environ.get("REWARD_MODE")
    client = shared_client(
        os.environ.get("REWARD_URL"),
        deadline_s=float(os.environ.get("REWARD_DEADLINE_S", "170")),
        batch_size=int(os.environ.get("REWARD_BATCH_SIZE", "256")),
    )
    response = client.reward(list(queries), list(prompts), list(labels), {"mode": mode} if mode else None)
    return response.model_dump()
