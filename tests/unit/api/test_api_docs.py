"""docs/api.md is generated from the OpenAPI document and must be regenerated with the API."""

from __future__ import annotations

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_api_reference_is_up_to_date() -> None:
    script = runpy.run_path(str(ROOT / "scripts" / "api-docs.py"))
    expected = script["render"](script["openapi"]())
    current = (ROOT / "docs" / "api.md").read_text()
    assert current == expected, "docs/api.md is stale: run .venv/bin/python scripts/api-docs.py"
