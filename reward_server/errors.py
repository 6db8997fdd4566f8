"""Answers to requests that never reach a route: bodies that are not UTF-8, and
validation errors, whose echo of what was sent must itself be valid JSON text.

FastAPI answers a body that is not UTF-8 with a bare 400, and its 422 echoes the
offending input, which fails to encode when that input holds a lone surrogate (a 500
instead of the 422). Both are answered here as 422s naming the place.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.text import printable


def _echoable(value: Any) -> Any:
    """``value`` with its text made encodable: lone surrogates and stray bytes written as escapes."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, dict):
        return {_echoable(k): _echoable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_echoable(v) for v in value]
    return value


def _echoed(error: dict[str, Any]) -> dict[str, Any]:
    try:
        return jsonable_encoder(_echoable(error))
    except RecursionError:  # an input nested too deep to echo: the place and the message suffice
        return jsonable_encoder(_echoable({k: v for k, v in error.items() if k in ("type", "loc", "msg")}))


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse(status_code=422, content={"detail": [_echoed(e) for e in exc.errors()]})


async def http_error(request: Request, exc: StarletteHTTPException) -> Any:
    cause = exc.__cause__
    if isinstance(cause, UnicodeDecodeError):
        bad = cause.object[cause.start : cause.start + 1].hex()
        msg = f"request body is not {cause.encoding} text: byte 0x{bad} at offset {cause.start}"
        detail = [{"type": "json_invalid", "loc": ["body", cause.start], "msg": msg}]
        return JSONResponse(status_code=422, content={"detail": detail})
    return await http_exception_handler(request, exc)


def register_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
