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

from .conftest import MODEL, Models, servers


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
    ok("undeploy", MODEL, "-m", "retired")
    assert servers(home) == []
    assert not (home / "gitops" / "deployments" / f"{MODEL}.yaml").exists()
    assert json.loads(ok("history", "--json"))[0]["action"] == "delete"
    assert slipway("undeploy", MODEL).returncode == 1  # already gone: a clear error


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


def test_agent_applies_a_commit_when_the_signed_webhook_arrives(models: Models, home: Path) -> None:
    import socket
    import time

    import httpx

    from slipway.gitops.commits import commit_manifest
    from slipway.gitops.push import build_manifest, current_manifest, pin_model
    from slipway.gitops.webhook import github_signature
    from slipway.workspace import Workspace

    ok("deploy", MODEL, "--model", f"models:/{MODEL}/1")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    secret = "webhook-secret-for-tests"
    # Polling every 10 minutes: only the webhook can make the change land within the test.
    agent = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "slipway.cli.main",
            "agent",
            "--interval",
            "600",
            "--webhook-port",
            str(port),
        ],
        env={**os.environ, "SLIPWAY_WEBHOOK_SECRET": secret},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}/hooks/git"
        deadline = time.monotonic() + 60
        while True:  # wait for the webhook to listen (after the agent's first tick)
            try:
                httpx.post(url, content=b"{}")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the webhook never listened"
                time.sleep(0.2)
        repo = GitRepo.default(home)
        ws = Workspace()
        manifest = build_manifest(
            current_manifest(repo, MODEL),
            name=MODEL,
            environment="prod",
            model=pin_model(ws, f"models:/{MODEL}/2"),
            strategy="blue-green",
        )
        sha = commit_manifest(repo, manifest, "via webhook", author="a")
        body = json.dumps({"ref": "refs/heads/main", "after": sha}).encode()
        forged = httpx.post(
            url,
            content=body,
            headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=00"},
        )
        assert forged.status_code == 401
        signed = {"X-GitHub-Event": "push", "X-Hub-Signature-256": github_signature(secret, body)}
        assert httpx.post(url, content=body, headers=signed).status_code == 202
        deadline = time.monotonic() + 60
        while status()["observed"].get("champion") != f"models:/{MODEL}/2":
            assert time.monotonic() < deadline, "the webhook did not trigger a reconcile"
            time.sleep(0.3)
        assert status()["observed"]["ready_replicas"] == 1
    finally:
        agent.terminate()
        _, err = agent.communicate(timeout=30)
    assert agent.returncode == 0, err.decode()[-2000:]
    assert secret not in err.decode()


def test_build_writes_the_serving_dockerfile(tmp_path: Path) -> None:
    target = tmp_path / "Dockerfile"
    ok("build", "-o", str(target), "--version", "0.1.0")
    text = target.read_text()
    assert "FROM python:3.11-slim" in text
    assert "ARG SLIPWAY_VERSION=0.1.0" in text
    assert 'pip install "slipway[all]==${SLIPWAY_VERSION}"' in text
    assert "HEALTHCHECK" in text
    assert '"serve"' in text
