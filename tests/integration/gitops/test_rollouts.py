"""End to end on real server processes under load: canary rolled back, canary promoted,
blue-green switch, rollback command, and an agent killed with SIGKILL mid-canary.
Each test counts every failed request of a bounded load on 127.0.0.1; none may fail."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from slipway.deploy.spec import Analysis, Checks
from slipway.gitops.agent import Agent
from slipway.gitops.commits import commit_manifest
from slipway.gitops.history import history
from slipway.gitops.push import build_manifest, deploy, pin_model, rollback
from slipway.gitops.repo import GitRepo
from slipway.gitops.status import DeploymentStatus
from slipway.registry import RegistryClient
from slipway.workspace import Workspace

from .conftest import MODEL, Load, Models, servers, wait_for

FAST = Analysis(
    interval=2.0,
    min_samples=20,
    max_failed_checks=1,
    checks=Checks(max_error_rate=0.05, max_prediction_drift=0.2),
)


def first_deploy(ws: Workspace, repo: GitRepo, home: Path) -> str:
    result = deploy(
        ws, repo, home, name=MODEL, model_uri=f"models:/{MODEL}/1", environment="prod",
        reason="first model", author="Ann <ann@example.com>",
    )  # fmt: skip
    assert result.status is not None
    ready = result.status.condition("Ready")
    assert ready is not None, result.status
    assert ready.status == "True", result.status
    return str(result.status.observed["endpoints"][0])


def condition(status: DeploymentStatus | None, kind: str) -> tuple[str, str]:
    assert status is not None
    found = status.condition(kind)  # type: ignore[arg-type]
    return ("", "") if found is None else (found.status, found.reason)


def test_a_worse_canary_is_rolled_back_by_a_revert_commit(
    models: Models, home: Path, load_rows: list[dict[str, float]]
) -> None:
    ws, repo = Workspace(), GitRepo.default(home)
    endpoint = first_deploy(ws, repo, home)
    load = Load(f"{endpoint}/predict", load_rows).start()
    try:
        bad = deploy(
            ws, repo, home, name=MODEL, model_uri=f"models:/{MODEL}/3", environment="prod",
            reason="retrained", author="CI <ci@example.com>", strategy="canary",
            steps=(0.5, 1.0), analysis=FAST, apply_now=False,
        )  # fmt: skip
        agent = Agent("prod", repo, ws, home=home)
        statuses: list[DeploymentStatus] = []

        def rolled_back() -> bool:
            status = agent.run_once()[MODEL]
            statuses.append(status)
            return status.rollout is not None and status.rollout.outcome == "rolled_back"

        wait_for(rolled_back, 120, "the automatic rollback")
        final = agent.run_once()[MODEL]
    finally:
        load.stop()
    assert load.failures == []
    assert load.versions.get("3", 0) > 0, load.versions  # the challenger did serve
    assert final.observed["champion"] == f"models:/{MODEL}/1"
    assert final.observed["challenger"] is None
    assert condition(final, "Ready")[0] == "True"
    assert condition(final, "Degraded") == ("True", "RolledBack")
    assert final.observed_revision == repo.head()
    revert = repo.log(["deployments"], max_count=1)[0]
    assert revert.subject.startswith('Revert "deploy bc (prod): models:/bc/3')
    assert f"This reverts commit {bad.commit}" in revert.body
    assert "TV distance" in revert.body, revert.body
    assert "> 0.200" in revert.body
    assert "error rate" not in revert.body  # only the check that failed
    assert revert.trailers["Slipway-Action"] == "rollback"
    reasons = [condition(s, "Progressing")[1] for s in statuses]
    assert "Analyzing" in reasons or "WaitingForSamples" in reasons
    events = ws.store.audit.search(entity_type="deployment", action="deployment.rollback")
    assert events[-1].actor == "slipway-agent"


def test_a_good_canary_is_promoted_and_the_champion_alias_moves(
    models: Models, home: Path, load_rows: list[dict[str, float]]
) -> None:
    ws, repo = Workspace(), GitRepo.default(home)
    endpoint = first_deploy(ws, repo, home)
    load = Load(f"{endpoint}/predict", load_rows).start()
    try:
        result = deploy(
            ws, repo, home, name=MODEL, model_uri=f"models:/{MODEL}/2", environment="prod",
            reason="better AUC", author="CI <ci@example.com>", strategy="canary",
            steps=(0.3, 1.0), analysis=FAST, timeout=120,
        )  # fmt: skip
    finally:
        load.stop()
    assert load.failures == []
    status = result.status
    assert status is not None
    assert status.observed["champion"] == f"models:/{MODEL}/2", status
    assert status.rollout is not None
    assert status.rollout.outcome == "promoted"
    assert condition(status, "Ready")[0] == "True"
    assert RegistryClient(ws).get_model_version_by_alias(MODEL, "champion").version == 2
    assert ws.store.audit.search(entity_type="deployment", action="deployment.promote")
    entries = history(repo, environment="prod")
    assert [(e.model, e.author) for e in entries] == [
        (f"models:/{MODEL}/2", "CI <ci@example.com>"),
        (f"models:/{MODEL}/1", "Ann <ann@example.com>"),
    ]
    assert entries[0].reason == "better AUC"


def test_blue_green_switch_then_rollback_command(
    models: Models, home: Path, load_rows: list[dict[str, float]]
) -> None:
    ws, repo = Workspace(), GitRepo.default(home)
    endpoint = first_deploy(ws, repo, home)
    load = Load(f"{endpoint}/predict", load_rows).start()
    try:
        switched = deploy(
            ws, repo, home, name=MODEL, model_uri=f"models:/{MODEL}/2", environment="prod",
            reason="switch", author="a", strategy="blue-green",
        )  # fmt: skip
        assert switched.status is not None
        assert switched.status.observed["champion"] == f"models:/{MODEL}/2"
        served_before = dict(load.versions)
        wait_for(lambda: load.versions.get("2", 0) > served_before.get("2", 0) + 20, 30, "v2")
        back = rollback(
            ws, repo, home, name=MODEL, environment="prod", to=None,
            reason="support tickets", author="Bob <bob@example.com>",
        )  # fmt: skip
    finally:
        load.stop()
    assert load.failures == []
    assert back.status is not None
    assert back.status.observed["champion"] == f"models:/{MODEL}/1"
    last = repo.log(["deployments"], max_count=1)[0]
    assert last.subject.startswith('Revert "deploy bc (prod): models:/bc/2')
    assert "support tickets" in last.body
    assert last.author == "Bob"


def test_agent_killed_mid_canary_restarts_and_converges(
    models: Models, home: Path, load_rows: list[dict[str, float]]
) -> None:
    ws, repo = Workspace(), GitRepo.default(home)
    endpoint = first_deploy(ws, repo, home)
    slow = FAST.model_copy(update={"interval": 3.0})
    manifest = build_manifest(
        None, name=MODEL, environment="prod", model=pin_model(ws, f"models:/{MODEL}/2"),
        strategy="canary", analysis=slow, steps=(0.2, 0.6, 1.0),
    )  # fmt: skip
    commit_manifest(repo, manifest, "canary v2", author="a")
    load = Load(f"{endpoint}/predict", load_rows).start()
    command = [
        sys.executable,
        "-m",
        "slipway.cli.main",
        "agent",
        "--env",
        "prod",
        "--interval",
        "0.5",
    ]
    logs = home / "agent.log"

    def start() -> subprocess.Popen[bytes]:
        with logs.open("ab") as out:
            return subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ)
            )

    def rollout() -> dict[str, object]:
        row = ws.store.deployments.get("prod", MODEL)
        return {} if row is None else dict(row.status.get("rollout") or {})

    agent = start()
    try:
        wait_for(lambda: int(rollout().get("step", 0)) >= 1, 90, "the canary's second step")
        agent.send_signal(signal.SIGKILL)
        agent.wait(10)
        alive = servers(home)
        assert len(alive) == 1, alive  # the server outlives its agent
        agent = start()
        wait_for(lambda: rollout().get("outcome") == "promoted", 120, "promotion after restart")
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(20)
        except subprocess.TimeoutExpired:
            agent.kill()
        load.stop()
    assert load.failures == [], logs.read_text()[-3000:]
    assert len(servers(home)) == 1  # no orphan, no duplicate
    row = ws.store.deployments.get("prod", MODEL)
    assert row is not None
    assert row.status["observed"]["champion"] == f"models:/{MODEL}/2"
    stalled = [c for c in row.status["conditions"] if c["type"] == "Stalled"]
    assert [c["status"] for c in stalled] == ["False"]


def test_shadow_compares_without_serving_the_challenger(
    models: Models, home: Path, load_rows: list[dict[str, float]]
) -> None:
    ws, repo = Workspace(), GitRepo.default(home)
    endpoint = first_deploy(ws, repo, home)
    load = Load(f"{endpoint}/predict", load_rows).start()
    try:
        result = deploy(
            ws, repo, home, name=MODEL, model_uri=f"models:/{MODEL}/2", environment="prod",
            reason="compare first", author="a", strategy="shadow", analysis=FAST, timeout=90,
        )  # fmt: skip
    finally:
        load.stop()
    assert load.failures == []
    assert set(load.versions) == {"1"}  # every answer came from the champion
    status = result.status
    assert status is not None
    assert status.observed["challenger"] == f"models:/{MODEL}/2"
    assert status.observed["mode"] == "shadow"
    assert status.rollout is not None
    assert status.rollout.step == 1
    assert "agreement with the champion" in status.rollout.reason
    assert condition(status, "Progressing")[0] == "False"
    assert condition(status, "Ready")[0] == "True"
    # Not promoted: the champion alias and the served version stay.
    assert RegistryClient(ws).get_model_version_by_alias(MODEL, "champion").version == 1
