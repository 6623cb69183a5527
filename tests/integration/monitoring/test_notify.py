"""Webhook delivery over real HTTP on 127.0.0.1: signed payloads, retries, dead letters."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from slipway.monitoring.alerts import (
    AlertRule,
    AlertRulesFile,
    AlertState,
    Observation,
    Receiver,
    Transition,
    evaluate,
)
from slipway.monitoring.notify import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    RetryPolicy,
    deliver,
    notify,
    read_dead_letters,
    verify_signature,
)

pytestmark = pytest.mark.timeout(30)

SECRET = "hook-secret-for-tests-0123456789"
ENV = {"OPS_WEBHOOK_SECRET": SECRET}
FAST = RetryPolicy(max_attempts=4, initial_delay=0.01, max_delay=0.05, max_elapsed=5.0)
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@dataclass
class Hook:
    url: str
    answers: list[int] = field(default_factory=list)
    """Statuses to answer, in order; 200 once exhausted."""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def hook() -> Iterator[Hook]:
    port = free_port()
    state = Hook(f"http://127.0.0.1:{port}/alerts")

    async def receive(request: Request) -> JSONResponse:
        state.received.append(
            ({k.lower(): v for k, v in request.headers.items()}, await request.body())
        )
        status = state.answers.pop(0) if state.answers else 200
        return JSONResponse({"status": status}, status_code=status)

    app = Starlette(routes=[Route("/alerts", receive, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "receiver did not start"
        time.sleep(0.02)
    yield state
    server.should_exit = True
    thread.join(10)


def rules_for(url: str) -> AlertRulesFile:
    return AlertRulesFile.model_validate(
        {
            "apiVersion": "slipway.dev/v1",
            "kind": "AlertRules",
            "rules": [
                {
                    "name": "fraud-p99",
                    "deployment": "fraud",
                    "kind": "slo",
                    "slo": "p99_latency_ms",
                    "above": 250,
                    "notify": ["ops-webhook"],
                }
            ],
            "receivers": [{"name": "ops-webhook", "url": url, "secret_env": "OPS_WEBHOOK_SECRET"}],
        }
    )


def firing(rules: AlertRulesFile) -> tuple[AlertState, Transition]:
    state, transitions = evaluate(
        rules.rules, {"fraud-p99": Observation(400.0, "p99 over 1h")}, T0, AlertState()
    )
    return state, transitions[0]


def test_firing_then_resolved_are_delivered_signed(hook: Hook, tmp_path: Path) -> None:
    rules = rules_for(hook.url)
    state, fired = evaluate(rules.rules, {"fraud-p99": Observation(400.0)}, T0, AlertState())
    _, resolved = evaluate(
        rules.rules, {"fraud-p99": Observation(120.0)}, T0 + timedelta(minutes=30), state
    )
    results = notify([*fired, *resolved], rules, tmp_path, policy=FAST, environ=ENV)
    assert [(r.status, r.delivered, r.attempts, r.http_status) for r in results] == [
        ("firing", True, 1, 200),
        ("resolved", True, 1, 200),
    ]
    assert len(hook.received) == 2
    documents = []
    for headers, body in hook.received:
        assert verify_signature(SECRET, body, headers[SIGNATURE_HEADER.lower()])
        assert not verify_signature("wrong", body, headers[SIGNATURE_HEADER.lower()])
        assert headers["content-type"] == "application/json"
        documents.append(json.loads(body))
    first, second = documents
    assert [first["status"], second["status"]] == ["firing", "resolved"]
    alert = first["alerts"][0]
    assert alert["labels"] == {
        "alertname": "fraud-p99",
        "deployment": "fraud",
        "kind": "slo",
        "severity": "warning",
        "slo": "p99_latency_ms",
    }
    assert alert["annotations"]["value"] == "400"
    assert alert["annotations"]["threshold"] == "> 250"
    assert "p99_latency_ms of fraud is 400" in alert["annotations"]["message"]
    assert alert["startsAt"] == "2026-11-20T10:00:00Z"
    assert alert["endsAt"] == "0001-01-01T00:00:00Z"
    assert second["alerts"][0]["endsAt"] == "2026-11-20T10:30:00Z"
    assert alert["fingerprint"] == second["alerts"][0]["fingerprint"] == fired[0].fingerprint
    keys = [headers[IDEMPOTENCY_HEADER.lower()] for headers, _ in hook.received]
    assert keys[0].startswith(f"{fired[0].fingerprint}:firing:")
    assert keys[1].startswith(f"{fired[0].fingerprint}:resolved:")
    assert read_dead_letters(tmp_path) == []


def test_server_errors_are_retried_until_delivered(hook: Hook, tmp_path: Path) -> None:
    hook.answers = [500, 500]
    rules = rules_for(hook.url)
    _, transition = firing(rules)
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    result = deliver(
        transition, rules.receiver("ops-webhook"), tmp_path, policy=FAST, environ=ENV, sleep=sleep
    )
    assert result.delivered
    assert result.attempts == 3
    assert result.http_status == 200
    assert waits == [0.01, 0.02]  # exponential
    bodies = {body for _, body in hook.received}
    keys = {headers[IDEMPOTENCY_HEADER.lower()] for headers, _ in hook.received}
    assert len(hook.received) == 3
    assert len(bodies) == 1  # the same bytes, so a receiver can de-duplicate
    assert len(keys) == 1
    assert read_dead_letters(tmp_path) == []


def test_a_client_error_is_not_retried(hook: Hook, tmp_path: Path) -> None:
    hook.answers = [400]
    rules = rules_for(hook.url)
    _, transition = firing(rules)
    result = deliver(transition, rules.receiver("ops-webhook"), tmp_path, policy=FAST, environ=ENV)
    assert not result.delivered
    assert result.attempts == 1
    assert result.last_error == "HTTP 400"
    assert len(read_dead_letters(tmp_path)) == 1


def test_a_receiver_that_is_down_is_dead_lettered_without_the_secret(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/alerts?token=abc"  # nothing listens there
    rules = rules_for(url)
    _, transition = firing(rules)
    started = time.monotonic()
    results = notify([transition, transition], rules, tmp_path / "dead", policy=FAST, environ=ENV)
    assert time.monotonic() - started < 5
    assert all(not r.delivered and r.attempts == FAST.max_attempts for r in results)
    assert results[0].dead_letter == tmp_path / "dead" / "dead-letters.jsonl"
    assert results[0].last_error is not None
    assert "ConnectError" in results[0].last_error
    records = read_dead_letters(tmp_path / "dead")
    assert len(records) == 2
    record = records[0]
    assert record["receiver"] == "ops-webhook"
    assert record["attempts"] == FAST.max_attempts
    assert record["url"].endswith("/alerts")  # the query (a token) is not kept
    assert record["payload"]["alerts"][0]["fingerprint"] == transition.fingerprint
    assert record["payload"]["status"] == "firing"
    raw = (tmp_path / "dead" / "dead-letters.jsonl").read_text()
    assert SECRET not in raw
    assert "token=abc" not in raw


def test_the_total_time_bounds_the_retries(tmp_path: Path) -> None:
    receiver = Receiver(name="down", url=f"http://127.0.0.1:{free_port()}/")
    rule = AlertRule.model_validate(
        {"name": "r", "deployment": "d", "kind": "drift_share", "above": 0.1}
    )
    _, transitions = evaluate([rule], {"r": Observation(0.5)}, T0, AlertState())
    slow = RetryPolicy(max_attempts=100, initial_delay=0.2, max_delay=0.2, max_elapsed=0.5)
    started = time.monotonic()
    result = deliver(transitions[0], receiver, tmp_path, policy=slow)
    assert time.monotonic() - started < 2
    assert not result.delivered
    assert 2 <= result.attempts <= 4


def test_a_missing_secret_is_not_sent_unsigned(hook: Hook, tmp_path: Path) -> None:
    rules = rules_for(hook.url)
    _, transition = firing(rules)
    result = deliver(transition, rules.receiver("ops-webhook"), tmp_path, policy=FAST, environ={})
    assert not result.delivered
    assert result.attempts == 0
    assert result.last_error is not None
    assert "OPS_WEBHOOK_SECRET is not set" in result.last_error
    assert hook.received == []
    assert len(read_dead_letters(tmp_path)) == 1


def test_concurrent_dead_letters_do_not_interleave(tmp_path: Path) -> None:
    receiver = Receiver(name="down", url=f"http://127.0.0.1:{free_port()}/")
    rule = AlertRule.model_validate(
        {"name": "r", "deployment": "d", "kind": "drift_share", "above": 0.1}
    )
    _, transitions = evaluate([rule], {"r": Observation(0.5, "x" * 5000)}, T0, AlertState())
    once = RetryPolicy(max_attempts=1)
    threads = [
        threading.Thread(
            target=deliver,
            args=(transitions[0], receiver, tmp_path),
            kwargs={"policy": once},
        )
        for _ in range(16)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    records = read_dead_letters(tmp_path)
    assert len(records) == 16
    assert all(r["payload"]["alerts"][0]["annotations"]["detail"] == "x" * 5000 for r in records)
