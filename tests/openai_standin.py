"""An OpenAI-compatible server that replays known completions: the stand-in for vLLM (which
needs a GPU and cannot run on these machines) in the ``reward eval --endpoint`` tests.

It speaks the two routes ``reward eval`` uses as vLLM's ``vllm serve`` does (``POST
/v1/completions`` for base-model prompts, ``POST /v1/chat/completions`` for chat messages),
answers each known prompt with its recorded completions (``n`` of them, cycling), refuses
unknown prompts with a 404, can fail its first requests with a 503 (to exercise retries),
and records every request and the most requests it had in flight at once.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ReplayServer:
    def __init__(self, completions: dict[str, list[str]], fail_first: int = 0, delay_s: float = 0.0) -> None:
        """``completions``: prompt (a base prompt, or a chat's last user message) -> completions."""
        self.completions = completions
        self.fail_first = fail_first
        self.delay_s = delay_s
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(self._app(), host="127.0.0.1", port=self.port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def _choices(self, key: str, n: int, chat: bool) -> list[dict[str, Any]] | None:
        known = self.completions.get(key)
        if known is None:
            return None
        texts = [known[i % len(known)] for i in range(n)]
        if chat:
            return [{"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "stop"}
                    for i, t in enumerate(texts)]  # fmt: skip
        return [{"index": i, "text": t, "finish_reason": "stop", "logprobs": None} for i, t in enumerate(texts)]

    def _app(self) -> FastAPI:
        app = FastAPI()

        async def answer(request: Request, chat: bool) -> JSONResponse:
            body = await request.json()
            self.requests.append({"route": request.url.path, **body})
            if len(self.requests) <= self.fail_first:
                return JSONResponse({"error": {"message": "warming up"}}, status_code=503)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                await asyncio.sleep(self.delay_s)
                if chat:
                    users = [m["content"] for m in body["messages"] if m["role"] == "user"]
                    key = users[-1] if users else ""
                else:
                    key = body["prompt"]
                choices = self._choices(key, int(body.get("n") or 1), chat)
            finally:
                self.in_flight -= 1
            if choices is None:
                return JSONResponse({"error": {"message": f"unknown prompt {key[:80]!r}"}}, status_code=404)
            return JSONResponse({
                "id": f"replay-{len(self.requests)}", "object": "chat.completion" if chat else "text_completion",
                "created": int(time.time()), "model": body.get("model"), "choices": choices,
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            })  # fmt: skip

        @app.post("/v1/completions")
        async def completions(request: Request) -> JSONResponse:
            return await answer(request, chat=False)

        @app.post("/v1/chat/completions")
        async def chat(request: Request) -> JSONResponse:
            return await answer(request, chat=True)

        return app

    def __enter__(self) -> ReplayServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the replay server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
