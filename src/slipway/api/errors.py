"""The one mapping from typed domain errors to HTTP, and the one error body.

Every error answer is ``{"error": {"code", "message", "field"}}``: domain errors
(:mod:`slipway.core.errors`), request validation (422), unknown routes and methods, and
unexpected exceptions (500 with a generic message; the traceback goes to the log).
Messages come from the domain errors, which never quote secrets; a validation error reports
where and what, never the rejected input itself.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from slipway.core.errors import (
    AlreadyExists,
    Conflict,
    DigestMismatch,
    Forbidden,
    IntegrityError,
    InvalidInput,
    NotFound,
    SchemaOutOfDate,
    SlipwayError,
    TooManyAttempts,
    Unauthenticated,
)
from slipway.gitops.repo import GitError

logger = logging.getLogger("slipway.api")


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


# Most specific first: the first matching class wins.
_STATUS: tuple[tuple[type[SlipwayError], int, str], ...] = (
    (DigestMismatch, 400, "digest_mismatch"),
    (InvalidInput, 400, "invalid_input"),
    (Unauthenticated, 401, "unauthenticated"),
    (Forbidden, 403, "forbidden"),
    (NotFound, 404, "not_found"),
    (AlreadyExists, 409, "already_exists"),
    (Conflict, 409, "conflict"),
    (TooManyAttempts, 429, "too_many_attempts"),
    (IntegrityError, 500, "integrity_error"),
    (GitError, 502, "git_error"),
    (SchemaOutOfDate, 503, "schema_out_of_date"),
)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
}

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (400, "Invalid input"),
        (401, "Missing, unknown, expired or revoked token"),
        (403, "The token's role does not allow this (or a cookie request without CSRF header)"),
        (404, "Not found"),
        (409, "Conflicts with what is stored"),
        (422, "Request does not match the schema"),
        (429, "Too many failed authentication attempts"),
    )
}


def status_for(error: SlipwayError) -> tuple[int, str]:
    """HTTP status and error code of a domain error."""
    for kind, status, code in _STATUS:
        if isinstance(error, kind):
            return status, code
    return 500, "error"


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(error=ErrorDetail(code=code, message=message, field=field))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


async def _domain(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SlipwayError)
    status, code = status_for(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="slipway"'
    if isinstance(exc, TooManyAttempts):
        headers["Retry-After"] = str(int(exc.retry_after))
    if status >= 500:
        logger.error("%s %s failed: %s: %s", request.method, request.url.path, code, exc)
    field = getattr(exc, "field", None)
    return error_response(
        status, code, str(exc), field if isinstance(field, str) else None, headers
    )


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {}
    location = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    field = ".".join(location) or None
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in errors
    )
    return error_response(422, "validation_error", problems or "invalid request", field)


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, code, str(exc.detail), None, headers)


class InternalErrors:
    """Unexpected exceptions become a generic 500 in the error shape; the traceback is logged
    once (request method and path only: headers, bodies and queries may carry secrets)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            logger.exception("%s %s failed unexpectedly", scope.get("method"), scope.get("path"))
            if started:
                raise
            response = error_response(500, "internal", "internal server error; see server log")
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SlipwayError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_middleware(InternalErrors)
