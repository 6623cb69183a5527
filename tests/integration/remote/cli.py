"""Running the ``slipway`` command against the session's server, as a user in remote mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from tests.integration.remote.server import RemoteServer


def unique(prefix: str) -> str:
    """A fresh name: the server (its registry, git repository and log) outlives each test."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def cli_env(server: RemoteServer, token: str, home: Path) -> dict[str, str]:
    return {
        "SLIPWAY_TRACKING_URI": server.url,
        "SLIPWAY_TOKEN": token,
        "SLIPWAY_HOME": str(home),
        "COLUMNS": "250",
    }


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
    return subprocess.run(
        [sys.executable, "-m", "slipway.cli.main", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def ok(env: dict[str, str], *args: str) -> str:
    result = run_cli(env, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def as_json(env: dict[str, str], *args: str) -> Any:
    return json.loads(ok(env, *args, "--json"))
