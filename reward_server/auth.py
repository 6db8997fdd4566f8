"""The API key: scoring and sandbox routes need ``Authorization: Bearer <key>`` when
``REWARD_API_KEY`` is set; health, readiness and metrics never do."""

from __future__ import annotations

import secrets

from fastapi import HTTPException, Request


def require_key(request: Request) -> None:
    """A route dependency: 401 unless the request carries the configured key."""
    key = request.app.state.engine.settings.api_key
    if key is None:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip(), key.get_secret_value()):
        raise HTTPException(status_code=401, detail="missing or wrong API key", headers={"WWW-Authenticate": "Bearer"})
