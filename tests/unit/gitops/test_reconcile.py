"""Each reconcile step alone, against an in-memory target that records the verbs it got.

The real targets are held to the same verbs by tests/integration/deploy (contract suite);
here the point is what the reconciler decides and records: status conditions, rollout
progress, the champion alias, audit events and revert commits.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from slipway.core.errors import SlipwayError
from slipway.deploy.analysis import StepReport
from slipway.deploy.spec import DeploymentFile, InvalidManifest, ModelPin
from slipway.deploy.stats import CheckResult, Verdict
from slipway.deploy.target import ObservedDeployment, RoutingMode, runtime_config
from slipway.gitops import reconcile as reconcile_module
from slipway.gitops.commits import commit_manifest
from slipway.gitops.reconcile import Reconciler
from slipway.gitops.repo import GitRepo
from slipway.gitops.status import DeploymentStatus
from slipway.registry import RegistryClient
from slipway.tracking import TrackingClient
from slipway.workspace import Workspace

NAME = "iris"


class FakeTarget:
    """Runs nothing; keeps what it was asked to run, like a target that always succeeds."""

    kind = "fake"

    def __init__(self) -> None:
        self.running: dict[str, ObservedDeployment] = {}
        self.calls: list[str] = []
        self.smoke_error: str | None = None

    def names(self) -> list[str]:
        return sorted(self.running)

    def observe(self, name: str) -> ObservedDeployment | None:
        return self.running.get(name)

    def _set(self, name: str, **changes: Any) -> None:
        self.running[name] = replace(self.running[name], **changes)

    def create(self, deployment: DeploymentFile) -> None:
        self.calls.append("create")
        spec = deployment.spec
        self.running[deployment.name] = ObservedDeployment(
            deployment.name,
            spec.model,
            replicas=spec.replicas,
            ready_replicas=spec.replicas,
            config=runtime_config(deployment),
        )

    def reconfigure(self, deployment: DeploymentFile) -> None:
        self.calls.append("reconfigure")
        replicas = deployment.spec.replicas
        self._set(
            deployment.name,
            replicas=replicas,
            ready_replicas=replicas,
            config=runtime_config(deployment),
        )

    def load_challenger(
        self, name: str, model: ModelPin, weight: float = 0.0, mode: RoutingMode = "canary"
    ) -> None:
        self.calls.append("load_challenger")
        self._set(name, challenger=model, weight=weight, mode=mode)

    def set_weight(self, name: str, weight: float, mode: RoutingMode = "canary") -> None:
        self.calls.append(f"set_weight {weight:g}")
        self._set(name, weight=weight, mode=mode)

    def smoke(self, name: str, version: int, requests: int) -> float:
        self.calls.append("smoke")
        if self.smoke_error:
            raise SlipwayError(self.smoke_error)
        return 1.0

    def promote(self, name: str) -> None:
        self.calls.append("promote")
        seen = self.running[name]
        assert seen.challenger is not None
        self._set(name, champion=seen.challenger, challenger=None, weight=0.0, mode="canary")

    def drop_challenger(self, name: str) -> None:
        self.calls.append("drop_challenger")
        self._set(name, challenger=None, weight=0.0, mode="canary")

    def replace_champion(self, name: str, model: ModelPin) -> None:
        self.calls.append("replace_champion")
        self._set(name, champion=model)

    def delete(self, name: str) -> None:
        self.calls.append("delete")
        del self.running[name]


@pytest.fixture(scope="module")
def trained() -> list[LogisticRegression]:
    x, y = load_iris(return_X_y=True, as_frame=True)
    return [LogisticRegression(C=c, max_iter=1000).fit(x, y) for c in (1.0, 0.3)]


@pytest.fixture
def pins(trained: list[LogisticRegression]) -> dict[int, ModelPin]:
    ws = Workspace()
    tracking, registry = TrackingClient(ws), RegistryClient(ws)
    experiment = tracking.create_experiment("reconcile")
    pins = {}
    for model in trained:
        run = tracking.create_run(experiment.experiment_id)
        tracking.log_model(run.run_id, model)
        mv = registry.register_model(f"runs:/{run.run_id}/model", NAME)
        pins[mv.version] = ModelPin(
            name=NAME, version=mv.version, digest=f"sha256:{mv.manifest_digest}"
        )
    ws.close()
    return pins


@pytest.fixture
def world(tmp_path: Path, pins: dict[int, ModelPin]) -> tuple[Reconciler, FakeTarget, GitRepo]:
    home = tmp_path / "home"
    target, repo = FakeTarget(), GitRepo.default(home)
    reconciler = Reconciler("prod", repo, target, Workspace(), home / "logs", clock=lambda: 1e9)
    return reconciler, target, repo


def manifest(pin: ModelPin, strategy: dict[str, Any] | None = None, **spec: Any) -> DeploymentFile:
    return DeploymentFile.model_validate(
        {
            "metadata": {"name": NAME},
            "spec": {
                "model": pin.model_dump(),
                "strategy": strategy or {"type": "recreate"},
                **spec,
            },
        }
    )


def condition(status: DeploymentStatus, kind: str) -> tuple[str, str, str]:
    found = status.condition(kind)  # type: ignore[arg-type]
    assert found is not None, status.conditions
    return found.status, found.reason, found.message


def running(world: tuple[Reconciler, FakeTarget, GitRepo], pin: ModelPin) -> None:
    reconciler, target, _ = world
    reconciler.reconcile(NAME, manifest(pin), "r0")
    target.calls.clear()


def test_create_starts_the_champion_and_moves_the_alias(world: Any, pins: Any) -> None:
    reconciler, target, _ = world
    status = reconciler.reconcile(NAME, manifest(pins[1]), "rev1")
    assert target.calls == ["create"]
    assert condition(status, "Ready")[:2] == ("True", "Serving")
    assert condition(status, "Stalled")[0] == "False"
    assert status.observed_revision == "rev1"
    assert (
        RegistryClient(reconciler.workspace).get_model_version_by_alias(NAME, "champion").version
        == 1
    )
    # Persisted: another process reads the same status.
    assert reconciler.load_status(NAME).conditions == status.conditions
    again = reconciler.reconcile(NAME, manifest(pins[1]), "rev2")
    assert target.calls == ["create"]  # in sync: nothing to do
    assert again.observed_revision == "rev2"


def test_an_invalid_file_stalls_and_leaves_what_runs_alone(world: Any, pins: Any) -> None:
    running(world, pins[1])
    reconciler, target, _ = world
    bad = InvalidManifest("deployments/iris.yaml", "spec.replicas", "must be a number")
    status = reconciler.reconcile(NAME, None, "rev2", invalid=bad)
    assert target.calls == []
    assert target.observe(NAME) is not None
    assert condition(status, "Stalled") == (
        "True",
        "InvalidManifest",
        "deployments/iris.yaml: spec.replicas: must be a number; fix the file and commit again",
    )


@pytest.mark.parametrize(
    ("pin", "reason"),
    [
        (ModelPin(name=NAME, version=1, digest="sha256:" + "0" * 64), "DigestMismatch"),
        (ModelPin(name=NAME, version=9, digest="sha256:" + "0" * 64), "ModelNotFound"),
        (ModelPin(name="nope", version=1, digest="sha256:" + "0" * 64), "ModelNotFound"),
    ],
)
def test_the_pin_is_verified_before_anything_runs(world: Any, pin: ModelPin, reason: str) -> None:
    reconciler, target, _ = world
    status = reconciler.reconcile(NAME, manifest(pin), "rev1")
    assert target.calls == []
    assert condition(status, "Stalled")[:2] == ("True", reason)
    assert condition(status, "Ready")[0] == "False"


def test_recreate_replaces_the_champion_and_audits_it(world: Any, pins: Any) -> None:
    running(world, pins[1])
    reconciler, target, _ = world
    status = reconciler.reconcile(NAME, manifest(pins[2]), "rev2")
    assert target.calls == ["replace_champion"]
    assert status.observed["champion"] == pins[2].uri
    registry = RegistryClient(reconciler.workspace)
    assert registry.get_model_version_by_alias(NAME, "champion").version == 2
    events = reconciler.workspace.store.audit.search(action="deployment.promote")
    assert events[-1].entity_key == f"prod/{NAME}"
    assert events[-1].after["model"] == pins[2].uri


def test_replica_change_reconfigures(world: Any, pins: Any) -> None:
    running(world, pins[1])
    reconciler, target, _ = world
    reconciler.reconcile(NAME, manifest(pins[1], replicas=3), "rev2")
    assert target.calls == ["reconfigure"]
    assert target.observe(NAME).replicas == 3


def test_a_removed_file_deletes_and_forgets_the_status(world: Any, pins: Any) -> None:
    running(world, pins[1])
    reconciler, target, _ = world
    reconciler.reconcile(NAME, None, "rev2")
    assert target.calls == ["delete"]
    assert reconciler.workspace.store.deployments.get("prod", NAME) is None


def test_blue_green_loads_dark_smokes_then_switches(world: Any, pins: Any) -> None:
    running(world, pins[1])
    reconciler, target, _ = world
    status = reconciler.reconcile(NAME, manifest(pins[2], {"type": "blue-green"}), "rev2")
    assert target.calls == ["load_challenger", "smoke", "promote"]
    assert status.observed["champion"] == pins[2].uri


def test_a_failed_smoke_check_never_switches(world: Any, pins: Any) -> None:
    running(world, pins[1])
    reconciler, target, _ = world
    target.smoke_error = "version 2 failed its smoke check"
    status = reconciler.reconcile(NAME, manifest(pins[2], {"type": "blue-green"}), "rev2")
    assert target.calls == ["load_challenger", "smoke"]
    assert target.observe(NAME).champion == pins[1]
    assert condition(status, "Ready")[:2] == ("False", "ReconcileFailed")
    assert "smoke check" in condition(status, "Ready")[2]


def verdicts(monkeypatch: pytest.MonkeyPatch, *sequence: Verdict) -> list[Verdict]:
    """Make each analysis look return the next verdict (the statistics are tested apart)."""
    pending = list(sequence)

    def fake(**_: Any) -> tuple[StepReport, dict[str, Any]]:
        verdict = pending.pop(0)
        check = CheckResult("error_rate", verdict, 0.5, 0.01, 40, f"error rate 0.500 ({verdict})")
        return StepReport(verdict, (check,), check.message), {"taken_at": 1e9, "sources": {}}

    monkeypatch.setattr(reconcile_module, "analyze_step", fake)
    return pending


CANARY = {
    "type": "canary",
    "steps": [0.5, 1.0],
    "analysis": {"interval": "1s", "min_samples": 10, "max_failed_checks": 1},
}


def test_a_canary_walks_its_steps_then_promotes(
    world: Any, pins: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    running(world, pins[1])
    reconciler, target, _ = world
    left = verdicts(monkeypatch, Verdict.PASS, Verdict.PASS)
    status = reconciler.reconcile(NAME, manifest(pins[2], CANARY), "rev2")
    assert left == []
    assert target.calls == [
        "load_challenger",
        "set_weight 0.5",
        "set_weight 1",
        "promote",
    ]
    assert status.rollout is not None
    assert status.rollout.outcome == "promoted"
    assert condition(status, "Ready")[0] == "True"


def test_a_canary_waits_for_samples_and_keeps_its_step(
    world: Any, pins: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    running(world, pins[1])
    reconciler, target, _ = world
    verdicts(monkeypatch, Verdict.WAIT, Verdict.WAIT)
    status = reconciler.reconcile(NAME, manifest(pins[2], CANARY), "rev2")
    status = reconciler.reconcile(NAME, manifest(pins[2], CANARY), "rev2")
    assert target.calls == ["load_challenger", "set_weight 0.5"]
    assert condition(status, "Progressing")[:2] == ("True", "WaitingForSamples")
    assert status.observed_revision != "rev2"  # not reconciled yet
    assert status.rollout is not None
    assert status.rollout.step == 0


def test_a_failing_canary_is_rolled_back_with_a_revert_commit(
    world: Any, pins: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    reconciler, target, repo = world
    commit_manifest(repo, manifest(pins[1]), "v1", author="a")
    running(world, pins[1])
    bad = commit_manifest(repo, manifest(pins[2], CANARY), "v2 canary", author="a")
    verdicts(monkeypatch, Verdict.FAIL)
    status = reconciler.reconcile(NAME, manifest(pins[2], CANARY), bad)
    assert target.calls == ["load_challenger", "set_weight 0.5", "drop_challenger"]
    assert target.observe(NAME).challenger is None
    assert status.rollout is not None
    assert status.rollout.outcome == "rolled_back"
    assert status.rollout.reverted == repo.head()
    revert = repo.log(["deployments"], max_count=1)[0]
    assert f"This reverts commit {bad}" in revert.body
    assert "error_rate: error rate 0.500 (fail)" in revert.body
    assert condition(status, "Degraded")[:2] == ("True", "RolledBack")
    assert reconciler.workspace.store.audit.search(action="deployment.rollback")
    registry = RegistryClient(reconciler.workspace)
    assert registry.get_model_version_by_alias(NAME, "champion").version == 1


def test_on_failure_hold_keeps_the_split_and_writes_nothing(
    world: Any, pins: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    reconciler, target, repo = world
    running(world, pins[1])
    head = repo.head()
    verdicts(monkeypatch, Verdict.FAIL)
    held = manifest(pins[2], {**CANARY, "on_failure": "hold"})
    status = reconciler.reconcile(NAME, held, "rev2")
    assert target.calls == ["load_challenger", "set_weight 0.5"]
    assert target.observe(NAME).weight == 0.5
    assert repo.head() == head
    assert condition(status, "Degraded")[:2] == ("True", "Held")
    reconciler.reconcile(NAME, held, "rev2")  # held: nothing more happens
    assert target.calls == ["load_challenger", "set_weight 0.5"]


def test_a_failed_check_below_the_limit_opens_a_new_window(
    world: Any, pins: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    running(world, pins[1])
    reconciler, target, _ = world
    verdicts(monkeypatch, Verdict.FAIL)
    two_tries = {**CANARY, "analysis": {**CANARY["analysis"], "max_failed_checks": 2}}
    status = reconciler.reconcile(NAME, manifest(pins[2], two_tries), "rev2")
    assert target.calls == ["load_challenger", "set_weight 0.5"]
    assert status.rollout is not None
    assert status.rollout.failed_checks == 1
    assert condition(status, "Progressing")[:2] == ("True", "CheckFailed")
