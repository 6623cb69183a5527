"""Schemathesis against the server's own OpenAPI document: no 5xx, responses as documented.

A real server process on 127.0.0.1 (SQLite) with an admin token, every operation fuzzed with
a bounded number of examples; the whole run stays well under a minute.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.api.conftest import migrated_sqlite, start_server

EXAMPLES = 10
BUDGET_S = 45.0
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_every_operation_conforms_and_never_fails(tmp_path: Path) -> None:
    home = tmp_path / "fuzz"
    server = start_server(home, migrated_sqlite(home))
    try:
        _, admin = server.issue("fuzzer", "admin")
        headers = {"Authorization": f"Bearer {admin}"}
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json", timeout=30)
        failures: list[str] = []
        operations = 0
        statuses: dict[int, int] = {}
        deadline = time.monotonic() + BUDGET_S
        for result in schema.get_all_operations():
            operation = result.ok()
            operations += 1
            if time.monotonic() > deadline:
                pytest.fail(f"fuzzing ran past {BUDGET_S} s after {operations} operations")

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy())
            def check(case: Any) -> None:
                response = case.call_and_validate(
                    base_url=server.url, headers=headers, checks=CHECKS
                )
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

            try:
                check()
            except Exception as exc:  # noqa: BLE001 - report every operation's failure at once
                failures.append(f"{operation.label}: {exc}")
        assert operations > 30
        assert statuses.get(200, 0) + statuses.get(201, 0) > operations, statuses
        assert not failures, "\n\n".join(failures)
        assert "Traceback" not in server.output(), server.output()[-4000:]
    finally:
        server.stop()
