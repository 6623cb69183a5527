"""Infrastructure validation: the candidate answers in a real ``slipway serve`` process.

As TFX's InfraValidator, but for any flavor: start the server on 127.0.0.1 on a free port,
wait for readiness, send sample rows one request each, compare the answers with in-process
predictions and time them. The process is always stopped (SIGTERM, then SIGKILL after a
bounded wait), whatever happens.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from slipway.pipelines.gates.config import InfraCheck
from slipway.workspace import Workspace

_SERVE = (sys.executable, "-m", "slipway.cli.main", "serve")
_STOP_TIMEOUT_S = 30.0
_OUTPUT_TAIL = 2000


@dataclass(frozen=True, slots=True)
class InfraResult:
    ok: bool
    """Every request answered 200 with the in-process prediction."""
    p95_ms: float | None
    requests: int
    note: str


def validate_serving(
    workspace: Workspace,
    model_uri: str,
    rows: pd.DataFrame,
    expected: Any,
    check: InfraCheck,
) -> InfraResult:
    """Serve ``model_uri`` and send ``check.requests`` rows of ``rows`` (cycled) one by one."""
    records: list[dict[str, Any]] = json.loads(rows.to_json(orient="records"))
    wanted = _per_row(expected, len(records))
    with tempfile.TemporaryDirectory(prefix="slipway-infra-") as tmp:
        output = Path(tmp) / "server.out"
        port = _free_port()
        with output.open("wb") as sink:  # a file, not a pipe: a full pipe would block the server
            process = subprocess.Popen(
                [*_SERVE, model_uri, "--host", "127.0.0.1", "--port", str(port)],
                env=_server_env(workspace, Path(tmp)),
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        try:
            problem = _wait_ready(process, port, check.startup_timeout_s)
            if problem is not None:
                return InfraResult(False, None, 0, f"{problem}; server output: {_tail(output)}")
            return _exercise(port, records, wanted, check)
        finally:
            _stop(process)


def _per_row(expected: Any, count: int) -> list[Any]:
    """In-process predictions as JSON values, one per row (outputs by name for several)."""
    if isinstance(expected, dict):
        columns = {k: np.asarray(v).tolist() for k, v in expected.items()}
        return [{k: v[i] for k, v in columns.items()} for i in range(count)]
    return list(np.asarray(expected).tolist())


def _server_env(workspace: Workspace, tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
    env.update(
        SLIPWAY_HOME=str(workspace.settings.home.resolve()),
        SLIPWAY_TRACKING_URI=workspace.tracking_uri,
        SLIPWAY_ARTIFACT_URI=workspace.settings.resolved_artifact_uri(),
        SLIPWAY_SERVE_LOG_PREDICTIONS="false",
        SLIPWAY_SERVE_LOG_DIR=str(tmp / "predictions"),
    )
    if workspace.settings.s3_endpoint_url:
        env["SLIPWAY_S3_ENDPOINT_URL"] = workspace.settings.s3_endpoint_url
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(process: subprocess.Popen[bytes], port: int, timeout: float) -> str | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"server exited with status {process.returncode} before it was ready"
        try:
            if _ready(port) == 200:
                return None
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.2)
    return f"server not ready within {timeout:g} s"


def _exercise(
    port: int, records: list[dict[str, Any]], wanted: list[Any], check: InfraCheck
) -> InfraResult:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=check.request_timeout_s)
    latencies: list[float] = []
    failures: list[str] = []
    try:
        # One unmeasured request first: the first call on a fresh connection pays set-up costs
        # that clients of a running deployment do not see.
        _post(connection, records[0])
        for i in range(check.requests):
            index = i % len(records)
            started = time.perf_counter()
            status, body = _post(connection, records[index])
            latencies.append((time.perf_counter() - started) * 1000)
            if status != 200:
                failures.append(f"request {i}: HTTP {status} {body[:200]!r}")
                continue
            answer = json.loads(body).get("predictions")
            if not _same(answer, [wanted[index]]):
                failures.append(f"request {i}: served {answer!r}, in-process {[wanted[index]]!r}")
    except (OSError, http.client.HTTPException, ValueError) as exc:
        failures.append(f"request failed: {type(exc).__name__}: {exc}")
    finally:
        connection.close()
    p95 = float(np.percentile(latencies, 95)) if latencies else None
    note = f"{len(failures)} of {check.requests} requests failed: {failures[0]}" if failures else ""
    return InfraResult(not failures, p95, len(latencies), note)


def _post(connection: http.client.HTTPConnection, record: dict[str, Any]) -> tuple[int, bytes]:
    body = json.dumps([record]).encode()
    connection.request("POST", "/predict", body, {"content-type": "application/json"})
    response = connection.getresponse()
    return response.status, response.read()


def _ready(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/v2/health/ready")
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def _same(served: Any, local: Any) -> bool:
    if isinstance(served, list) and isinstance(local, list):
        return len(served) == len(local) and all(
            _same(a, b) for a, b in zip(served, local, strict=True)
        )
    if isinstance(served, dict) and isinstance(local, dict):
        return served.keys() == local.keys() and all(_same(served[k], local[k]) for k in served)
    if isinstance(served, int | float) and isinstance(local, int | float):
        return bool(np.isclose(served, local, rtol=1e-6, atol=1e-9))
    return bool(served == local)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=_STOP_TIMEOUT_S)


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-_OUTPUT_TAIL:]
    except OSError:
        return "(none)"
