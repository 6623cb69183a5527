"""The GitOps commands as a user runs them: deploy, status, history, timeline, rollback,
agent --once — and bad input that changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from slipway.gitops.repo import GitRepo

from .conftest import MODEL, Models


def slipway(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "slipway.cli.main", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "250"},
        timeout=180,
        check=False,
    )


def ok(*args: str) -> str:
    result = slipway(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def status(name: str = MODEL) -> dict[str, Any]:
    [found] = json.loads(ok("deployments", "status", name, "--json"))
    return dict(found)


def test_deploy_status_history_timeline_rollback(models: Models, home: Path) -> None:
    out = ok(
        "deploy",
        MODEL,
        "--model",
        f"models:/{MODEL}/1",
        "-m",
        "first model",
        "--author",
        "Ann <ann@example.com>",
    )
    assert "committed" in out
    ok(
        "deploy",
        MODEL,
        "--model",
        f"models:/{MODEL}/2",
        "--strategy",
        "blue-green",
        "-m",
        "better recall",
    )
    assert status()["observed"]["champion"] == f"models:/{MODEL}/2"
    entries = json.loads(ok("history", "--json"))
    assert [(e["model"], e["action"], e["reason"]) for e in entries] == [
        (f"models:/{MODEL}/2", "deploy", "better recall"),
        (f"models:/{MODEL}/1", "deploy", "first model"),
    ]
    assert entries[1]["author"] == "Ann <ann@example.com>"
    table = ok("history")
    assert "better recall" in table
    ok("rollback", MODEL, "-m", "support tickets")
    assert status()["observed"]["champion"] == f"models:/{MODEL}/1"
    timeline = json.loads(ok("models", "timeline", MODEL, "--json"))
    assert [(i["version"], i["end"] is None) for i in timeline] == [
        (1, False),
        (2, False),
        (1, True),
    ]
    listing = ok("deployments", "status")
    assert MODEL in listing


def test_bad_input_is_refused_and_changes_nothing(models: Models, home: Path) -> None:
    ok("deploy", MODEL, "--model", f"models:/{MODEL}/1")
    repo = GitRepo.default(home)
    head = repo.head()
    for args, message in [
        (("--model", f"models:/{MODEL}/99"), "version 99"),
        (("--model", f"models:/{MODEL}/2", "--strategy", "rainbow"), "unknown strategy"),
        (
            ("--model", f"models:/{MODEL}/2", "--strategy", "canary", "--steps", "0.5,0.2,1"),
            "increase",
        ),
        (("--model", "runs:/" + "0" * 32 + "/model"), "run"),
    ]:
        result = slipway("deploy", MODEL, *args)
        assert result.returncode == 1, result.stdout
        assert message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert repo.head() == head
    assert status()["observed"]["champion"] == f"models:/{MODEL}/1"


def test_an_invalid_committed_file_stalls_only_its_deployment(models: Models, home: Path) -> None:
    ok("deploy", MODEL, "--model", f"models:/{MODEL}/1")
    repo = GitRepo.default(home)
    text = (home / "gitops" / "deployments" / f"{MODEL}.yaml").read_text()
    broken = text.replace("replicas: 1", "replicas: many")
    repo.commit({f"deployments/{MODEL}.yaml": broken.encode()}, "typo", author="Eve")
    out = ok("agent", "--env", "prod", "--once")
    assert "Stalled" in out
    found = status()
    stalled = next(c for c in found["conditions"] if c["type"] == "Stalled")
    assert stalled["status"] == "True"
    assert stalled["reason"] == "InvalidManifest"
    assert f"deployments/{MODEL}.yaml: spec.replicas:" in stalled["message"]
    # What ran keeps running, untouched.
    assert found["observed"]["champion"] == f"models:/{MODEL}/1"
    ok("agent", "--env", "prod", "--once")
    assert status()["observed"]["ready_replicas"] == 1
