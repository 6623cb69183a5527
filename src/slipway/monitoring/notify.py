"""Delivery of alert transitions to webhooks, with retries and a dead-letter file.

Each transition is posted alone, as JSON shaped like Alertmanager's webhook payload (one alert
per request), so a receiver written for Alertmanager reads it as is. When the receiver names a
``secret_env``, the exact body is signed with HMAC-SHA256 of that variable's value:
``X-Slipway-Signature-256: sha256=<hex>``; a receiver whose variable is unset gets nothing
rather than an unsigned request (fail closed). ``Idempotency-Key`` is the same for every retry
of one notification, so a receiver can drop duplicates.

Timeouts, connection errors, 408, 429 and 5xx are retried with exponential backoff, bounded by
both a number of attempts and a total time; other answers are final. A notification that is
not delivered is appended to ``dead-letters.jsonl`` (under an exclusive lock) with its payload,
the receiver's name, the attempts and the last error, so an operator can replay it. The secret
is never logged nor written anywhere.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from slipway.monitoring.alerts import AlertRulesFile, Receiver, Transition

logger = logging.getLogger("slipway.monitoring")

SIGNATURE_HEADER = "X-Slipway-Signature-256"
IDEMPOTENCY_HEADER = "Idempotency-Key"
DEAD_LETTER_FILE = "dead-letters.jsonl"
_ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt for an alert still firing
_RETRYABLE = frozenset({408, 425, 429})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try one receiver before dead-lettering."""

    max_attempts: int = 5
    initial_delay: float = 0.5
    """Seconds before the first retry; doubled (``multiplier``) for each next one."""
    multiplier: float = 2.0
    max_delay: float = 10.0
    """Cap on one wait."""
    max_elapsed: float = 60.0
    """No new attempt starts once this many seconds have passed since the first."""

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        return float(min(self.initial_delay * self.multiplier ** (retry - 1), self.max_delay))


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What became of one transition at one receiver."""

    receiver: str
    fingerprint: str
    status: str
    """The transition's status: firing or resolved."""
    delivered: bool
    attempts: int
    http_status: int | None = None
    """The last answer's status; None when none came."""
    last_error: str | None = None
    dead_letter: Path | None = None
    """The file the notification was appended to when it was not delivered."""


def signature(secret: str, body: bytes) -> str:
    """The ``X-Slipway-Signature-256`` value for ``body``: ``sha256=<hex hmac>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is the signature of ``body`` (compared in constant time)."""
    if header is None:
        return False
    return hmac.compare_digest(header.encode(), signature(secret, body).encode())


def alert_payload(transition: Transition, receiver: str) -> dict[str, Any]:
    """The JSON document posted for one transition (Alertmanager webhook shape, one alert)."""
    alert = {
        "status": transition.status.value,
        "labels": dict(sorted(transition.labels.items())),
        "annotations": dict(sorted(transition.annotations.items())),
        "startsAt": _time(transition.starts_at),
        "endsAt": _ZERO_TIME if transition.ends_at is None else _time(transition.ends_at),
        "fingerprint": transition.fingerprint,
    }
    return {
        "version": "4",
        "receiver": receiver,
        "status": transition.status.value,
        "groupKey": transition.fingerprint,
        "truncatedAlerts": 0,
        "groupLabels": {"alertname": transition.labels.get("alertname", transition.rule)},
        "commonLabels": alert["labels"],
        "commonAnnotations": alert["annotations"],
        "externalURL": "",
        "alerts": [alert],
    }


def deliver(
    transition: Transition,
    receiver: Receiver,
    dead_letter_dir: Path,
    *,
    policy: RetryPolicy | None = None,
    client: httpx.Client | None = None,
    environ: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryResult:
    """Post one transition to one receiver, retrying; dead-letter it when that fails.

    ``environ`` (default ``os.environ``) is where ``secret_env`` is looked up. ``client`` is
    reused when given (kept open). Never raises for delivery problems: the result says."""
    policy = policy or RetryPolicy()
    payload = alert_payload(transition, receiver.name)
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "slipway-alerts",
        IDEMPOTENCY_HEADER: transition.idempotency_key,
    }
    secret: str | None = None
    if receiver.secret_env is not None:
        secret = (os.environ if environ is None else environ).get(receiver.secret_env) or None
        if secret is None:
            unset = f"environment variable {receiver.secret_env} is not set; not sent unsigned"
            return _dead_letter(transition, receiver, payload, 0, None, unset, dead_letter_dir)
        headers[SIGNATURE_HEADER] = signature(secret, body)
    own = client is None
    http = httpx.Client() if client is None else client
    attempts = 0
    status: int | None = None
    error: str | None = None
    started = time.monotonic()
    try:
        while True:
            attempts += 1
            status, error, retryable = _attempt(http, receiver, body, headers)
            if error is None:
                logger.info(
                    "alert %s %s delivered to %s (attempt %d)",
                    transition.rule,
                    transition.status.value,
                    receiver.name,
                    attempts,
                )
                return DeliveryResult(
                    receiver.name,
                    transition.fingerprint,
                    transition.status.value,
                    True,
                    attempts,
                    http_status=status,
                )
            wait = policy.delay(attempts)
            elapsed = time.monotonic() - started
            if not retryable or attempts >= policy.max_attempts:
                break
            if elapsed + wait > policy.max_elapsed:
                break
            logger.warning(
                "alert to %s failed (%s); retry %d in %.2fs", receiver.name, error, attempts, wait
            )
            sleep(wait)
    finally:
        if own:
            http.close()
    if secret is not None and error is not None:
        error = error.replace(secret, "***")
    return _dead_letter(transition, receiver, payload, attempts, status, error, dead_letter_dir)


def notify(
    transitions: Iterable[Transition],
    rules: AlertRulesFile,
    dead_letter_dir: Path,
    *,
    policy: RetryPolicy | None = None,
    environ: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[DeliveryResult]:
    """Deliver every transition to each receiver its rule names, in order."""
    results = []
    with httpx.Client() as client:
        for transition in transitions:
            for name in transition.receivers:
                results.append(
                    deliver(
                        transition,
                        rules.receiver(name),
                        dead_letter_dir,
                        policy=policy,
                        client=client,
                        environ=environ,
                        sleep=sleep,
                    )
                )
    return results


def read_dead_letters(dead_letter_dir: Path) -> list[dict[str, Any]]:
    """Every dead-letter record, oldest first; empty when there is none."""
    path = dead_letter_dir / DEAD_LETTER_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line.strip()]


def _attempt(
    http: httpx.Client, receiver: Receiver, body: bytes, headers: Mapping[str, str]
) -> tuple[int | None, str | None, bool]:
    """(HTTP status, error or None when delivered, whether a retry may help)."""
    try:
        response = http.post(receiver.url, content=body, headers=headers, timeout=receiver.timeout)
    except httpx.TimeoutException as exc:
        return None, f"timeout: {type(exc).__name__}", True
    except httpx.TransportError as exc:
        return None, f"{type(exc).__name__}: {exc}", True
    code = response.status_code
    if 200 <= code < 300:
        return code, None, False
    return code, f"HTTP {code}", code >= 500 or code in _RETRYABLE


def _dead_letter(
    transition: Transition,
    receiver: Receiver,
    payload: Mapping[str, Any],
    attempts: int,
    status: int | None,
    error: str | None,
    directory: Path,
) -> DeliveryResult:
    record = {
        "at": _time(datetime.now(UTC)),
        "receiver": receiver.name,
        "url": _redacted(receiver.url),
        "idempotency_key": transition.idempotency_key,
        "attempts": attempts,
        "http_status": status,
        "last_error": error,
        "payload": payload,
    }
    path = directory / DEAD_LETTER_FILE
    _append_line(path, json.dumps(record, sort_keys=True, separators=(",", ":")))
    logger.error(
        "alert %s %s not delivered to %s after %d attempt(s): %s; dead-lettered in %s",
        transition.rule,
        transition.status.value,
        receiver.name,
        attempts,
        error,
        path,
    )
    return DeliveryResult(
        receiver.name,
        transition.fingerprint,
        transition.status.value,
        False,
        attempts,
        http_status=status,
        last_error=error,
        dead_letter=path,
    )


def _append_line(path: Path, line: str) -> None:
    """Append one whole line: one ``write`` on an O_APPEND file, under an exclusive lock so
    that concurrent writers (threads, agent processes) never interleave."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with (path.parent / f".{path.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, (line + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _redacted(url: str) -> str:
    """The URL without credentials or query (webhook URLs often carry a token there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _time(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")
