"""One keep-alive HTTP session to a Slipway server: the transport of remote mode.

Both remote stores (:mod:`slipway.store.remote`, :mod:`slipway.artifacts.remote`) speak
through one :class:`ApiSession` per workspace. It lives in ``core`` because that is the one
layer both stores may import; it opens no connection until the first request.

The session owns three transport concerns and nothing else:

- the bearer token, which never appears in a message, a repr or a log line;
- retries with backoff on connection errors, for idempotent requests only (a POST is retried
  only when the connection was never made, so it cannot have been applied);
- turning the server's error body ``{"error": {"code", "message", "field"}}`` back into the
  typed errors of :mod:`slipway.core.errors`, naming the server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx
from pydantic import SecretStr

from slipway.core.errors import (
    AlreadyExists,
    Conflict,
    Forbidden,
    IntegrityError,
    InvalidInput,
    NotFound,
    SchemaOutOfDate,
    SlipwayError,
    TooManyAttempts,
    Unauthenticated,
)

API_PREFIX = "/api/v1"
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

# Server error code -> client error type. ``digest_mismatch`` means the bytes that arrived do
# not hash to what the client declared: for the client that is corruption, not bad input.
_ERRORS: dict[str, type[SlipwayError]] = {
    "digest_mismatch": IntegrityError,
    "integrity_error": IntegrityError,
    "invalid_input": InvalidInput,
    "validation_error": InvalidInput,
    "bad_request": InvalidInput,
    "range_not_satisfiable": InvalidInput,
    "payload_too_large": InvalidInput,
    "not_found": NotFound,
    "already_exists": AlreadyExists,
    "conflict": Conflict,
    "schema_out_of_date": SchemaOutOfDate,
}


class NotAvailableRemotely(SlipwayError):
    """The operation has no REST API equivalent yet; it works only on a local store."""

    def __init__(self, operation: str, hint: str = "") -> None:
        self.operation = operation
        message = f"{operation} is not available over the API yet"
        super().__init__(f"{message}: {hint}" if hint else message)


def server_root(url: str) -> str:
    """The server's base URL: no trailing slash, no ``/api/v1`` suffix."""
    root = url.rstrip("/")
    return root[: -len(API_PREFIX)] if root.endswith(API_PREFIX) else root


class ApiSession:
    """A lazily opened ``httpx.Client`` on ``<url>/api/v1`` with the caller's token."""

    def __init__(
        self,
        url: str,
        token: SecretStr | str | None = None,
        *,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.25,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = server_root(url)
        self._token = SecretStr(token) if isinstance(token, str) else token
        self._timeout = httpx.Timeout(timeout, connect=10.0)
        self.retries = retries
        self._backoff = backoff
        self._transport = transport
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ApiSession({self.url!r}, token={'set' if self._token else 'unset'})"

    @property
    def where(self) -> str:
        return f"the Slipway server at {self.url}"

    @property
    def client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                headers = {"User-Agent": "slipway-sdk"}
                if self._token is not None:
                    headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
                self._client = httpx.Client(
                    base_url=self.url + API_PREFIX,
                    headers=headers,
                    timeout=self._timeout,
                    limits=httpx.Limits(max_connections=16, max_keepalive_connections=8),
                    follow_redirects=False,  # never hand the token to another host
                    transport=self._transport,
                )
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    # -- requests ----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send one request (retried when safe); an error answer raises its typed error."""
        retry_any = method.upper() in IDEMPOTENT if idempotent is None else idempotent
        attempt = 0
        while True:
            try:
                response = self.client.request(
                    method, path, params=params, json=json, content=content, headers=headers
                )
            except httpx.TransportError as exc:
                if attempt < self.retries and (retry_any or isinstance(exc, _NOT_SENT)):
                    attempt += 1
                    self.pause(attempt)
                    continue
                raise self.unreachable(exc) from None
            if response.status_code >= 400:
                raise self.error_for(response)
            return response

    def get_json(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=_drop_none(params)).json()

    def pages(
        self,
        path: str,
        params: Mapping[str, Any] | Sequence[tuple[str, Any]] = (),
        limit: int | None = None,
    ) -> Iterator[Any]:
        """Every item of a paginated list endpoint (``limit`` items at most)."""
        pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
        query = [(k, v) for k, v in pairs if v is not None]
        token: str | None = None
        seen = 0
        while True:
            page_size = 1000 if limit is None else max(1, min(1000, limit - seen))
            extra = [("limit", page_size)] + ([("page_token", token)] if token else [])
            body = self.request("GET", path, params=query + extra).json()
            for item in body["items"]:
                if limit is not None and seen >= limit:
                    return
                seen += 1
                yield item
            token = body.get("next_page_token")
            if not token or (limit is not None and seen >= limit):
                return

    def pause(self, attempt: int) -> None:
        time.sleep(self._backoff * 2 ** (attempt - 1))

    # -- errors ------------------------------------------------------------------------------

    def unreachable(self, exc: httpx.TransportError) -> SlipwayError:
        kind = type(exc).__name__
        return SlipwayError(f"cannot reach {self.where} ({kind}); is it running?")

    def error_for(self, response: httpx.Response) -> SlipwayError:
        """The typed error of an error answer; messages name the server, never the token."""
        status = response.status_code
        code, message = _error_body(response)
        if status == 401 or code == "unauthenticated":
            if self._token is None:
                return Unauthenticated(
                    f"{self.where} needs an API token: set SLIPWAY_TOKEN "
                    "(`slipway tokens create` on the server issues one)"
                )
            return Unauthenticated(
                f"{self.where} refused the API token: {message}; "
                "check SLIPWAY_TOKEN (unknown, expired or revoked)"
            )
        if status == 403 or code == "forbidden":
            return Forbidden(f"{self.where} refused: {message}")
        if status == 429 or code == "too_many_attempts":
            retry_after = _float(response.headers.get("Retry-After"), 60.0)
            return TooManyAttempts(f"{self.where}: {message}", retry_after)
        kind = _ERRORS.get(code)
        if kind is not None:
            return kind(message)
        if status == 404:
            return NotFound(f"{self.where} has no {response.request.url.path}")
        return SlipwayError(f"{self.where} answered {status}: {message}")


def _error_body(response: httpx.Response) -> tuple[str, str]:
    try:
        error = response.json()["error"]
        return str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        return "http_error", response.reason_phrase or f"HTTP {response.status_code}"


def _float(text: str | None, default: float) -> float:
    try:
        return float(text) if text is not None else default
    except ValueError:
        return default


def _drop_none(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}
