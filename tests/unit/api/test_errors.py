"""The one mapping from domain errors to HTTP, and the error body's shape."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request

from slipway.api import errors
from slipway.core.errors import (
    AlreadyExists,
    Conflict,
    DigestMismatch,
    Forbidden,
    IntegrityError,
    InvalidInput,
    NotFound,
    SchemaOutOfDate,
    SignatureMismatch,
    SlipwayError,
    TooManyAttempts,
    Unauthenticated,
)
from slipway.gitops.repo import GitError


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (DigestMismatch("a" * 64, "b" * 64), 400, "digest_mismatch"),
        (SignatureMismatch("x", "missing"), 400, "invalid_input"),
        (InvalidInput("bad"), 400, "invalid_input"),
        (Unauthenticated("who"), 401, "unauthenticated"),
        (Forbidden("no"), 403, "forbidden"),
        (NotFound("gone"), 404, "not_found"),
        (AlreadyExists("twice"), 409, "already_exists"),
        (Conflict("clash"), 409, "conflict"),
        (TooManyAttempts("slow down", 12), 429, "too_many_attempts"),
        (IntegrityError("corrupt"), 500, "integrity_error"),
        (GitError("remote down"), 502, "git_error"),
        (SchemaOutOfDate("upgrade"), 503, "schema_out_of_date"),
        (SlipwayError("other"), 500, "error"),
    ],
)
def test_status_for(error: SlipwayError, status: int, code: str) -> None:
    assert errors.status_for(error) == (status, code)


def request() -> Request:
    return Request(
        {"type": "http", "method": "POST", "path": "/x", "headers": [], "app": FastAPI()}
    )


def body(response: object) -> dict[str, object]:
    return json.loads(response.body)  # type: ignore[attr-defined, no-any-return]


def test_domain_error_body_names_the_field_and_sets_headers() -> None:
    response = asyncio.run(errors._domain(request(), SignatureMismatch("age", "not a number")))
    assert response.status_code == 400
    assert body(response) == {
        "error": {
            "code": "invalid_input",
            "message": "input field 'age': not a number",
            "field": "age",
        }
    }
    limited = asyncio.run(errors._domain(request(), TooManyAttempts("wait", 7)))
    assert limited.headers["retry-after"] == "7"
    refused = asyncio.run(errors._domain(request(), Unauthenticated("who")))
    assert refused.headers["www-authenticate"].startswith("Bearer")


def test_validation_errors_never_echo_the_input() -> None:
    secret = "slw_0123456789abcdef_topsecret"
    exc = RequestValidationError(
        [{"loc": ("body", "owner"), "msg": "String should have at most 255 characters",
          "type": "string_too_long", "input": secret}]
    )  # fmt: skip
    response = asyncio.run(errors._validation(request(), exc))
    assert response.status_code == 422
    assert body(response)["error"] == {
        "code": "validation_error",
        "message": "body.owner: String should have at most 255 characters",
        "field": "owner",
    }
    assert secret not in response.body.decode()


def test_unexpected_exceptions_are_a_generic_500_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(scope: object, receive: object, send: object) -> None:
        raise RuntimeError("boom")

    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b""}

    middleware = errors.InternalErrors(broken)  # type: ignore[arg-type]
    scope = {"type": "http", "method": "GET", "path": "/api/v1/x", "headers": []}
    with caplog.at_level(logging.ERROR, logger="slipway.api"):
        asyncio.run(middleware(scope, receive, send))  # type: ignore[arg-type]
    assert sent[0]["status"] == 500
    assert json.loads(sent[1]["body"]) == {  # type: ignore[arg-type]
        "error": {
            "code": "internal",
            "message": "internal server error; see server log",
            "field": None,
        }
    }
    assert [r.message for r in caplog.records] == ["GET /api/v1/x failed unexpectedly"]
