"""The contract every deployment target meets: the verbs reconcile uses, each idempotent.

One suite, run against each target kind: add a kind to ``KINDS`` and a branch to ``target``.
Targets that run nothing reachable from here (kubernetes: declared state, ``endpoints=()``)
skip only the readiness checks. The routing tests share one running deployment per kind (a
server start costs seconds); ``running`` puts it back to version 1 alone before each test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from slipway.core.errors import InvalidInput
from slipway.deploy.kubernetes import KubernetesTarget
from slipway.deploy.target import DeploymentTarget, ObservedDeployment, runtime_config
from slipway.gitops.repo import GitRepo
from slipway.gitops.targets import RepoManifestStore

from .conftest import ENVIRONMENT, DeploymentFactory, Registry, local_target, stop_everything

KINDS = ["local", "kubernetes"]
NAME = "contract"
REPLICAS = 2

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module", params=KINDS)
def target(
    request: pytest.FixtureRequest, registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DeploymentTarget]:
    home = tmp_path_factory.mktemp(f"{request.param}-target").resolve()
    if request.param == "local":
        local = local_target(registry, home)
        try:
            yield local
        finally:
            stop_everything(local, home)
    elif request.param == "kubernetes":
        # Rendered into a real git repository, as the agent does (RepoManifestStore).
        repo = GitRepo.default(home)
        yield KubernetesTarget(RepoManifestStore(repo), ENVIRONMENT)
    else:  # pragma: no cover - a new kind needs its own set-up here
        raise AssertionError(f"no set-up for target kind {request.param!r}")


@pytest.fixture
def running(target: DeploymentTarget, deployment: DeploymentFactory, registry: Registry) -> str:
    """NAME, running version 1 alone (created once, reset before each test)."""
    if target.observe(NAME) is None:
        target.create(deployment(NAME, 1, replicas=REPLICAS))
    else:
        target.drop_challenger(NAME)
        target.replace_champion(NAME, registry.pins[1])
    return NAME


def observed(target: DeploymentTarget, name: str) -> ObservedDeployment:
    seen = target.observe(name)
    assert seen is not None
    if seen.endpoints:  # it runs here: every replica must serve exactly this routing
        assert seen.ready_replicas == seen.replicas, seen.details
    return seen


def test_create_serves_the_champion_and_twice_changes_nothing(
    target: DeploymentTarget, running: str, deployment: DeploymentFactory, registry: Registry
) -> None:
    seen = observed(target, running)
    assert (seen.champion, seen.challenger, seen.weight) == (registry.pins[1], None, 0.0)
    assert seen.replicas == REPLICAS
    assert seen.config == runtime_config(deployment(NAME, 1, replicas=REPLICAS))
    assert running in target.names()
    target.create(deployment(NAME, 1, replicas=REPLICAS))
    assert observed(target, running) == seen


def test_load_challenger_at_weight_zero(
    target: DeploymentTarget, running: str, registry: Registry
) -> None:
    for _ in range(2):
        target.load_challenger(running, registry.pins[2], 0.0)
        seen = observed(target, running)
        assert (seen.champion, seen.challenger) == (registry.pins[1], registry.pins[2])
        assert (seen.weight, seen.mode) == (0.0, "canary")


def test_set_weight_moves_traffic_to_the_challenger(
    target: DeploymentTarget, running: str, registry: Registry
) -> None:
    target.load_challenger(running, registry.pins[2], 0.0)
    for _ in range(2):
        target.set_weight(running, 0.5)
        seen = observed(target, running)
        assert (seen.challenger, seen.weight, seen.mode) == (registry.pins[2], 0.5, "canary")
    target.set_weight(running, 0.25, "shadow")
    assert (observed(target, running).weight, observed(target, running).mode) == (0.25, "shadow")


def test_promote_makes_the_challenger_champion(
    target: DeploymentTarget, running: str, registry: Registry
) -> None:
    target.load_challenger(running, registry.pins[2], 0.5)
    for _ in range(2):
        target.promote(running)
        seen = observed(target, running)
        assert (seen.champion, seen.challenger, seen.weight) == (registry.pins[2], None, 0.0)


def test_drop_challenger_returns_all_traffic_to_the_champion(
    target: DeploymentTarget, running: str, registry: Registry
) -> None:
    target.load_challenger(running, registry.pins[3], 0.3)
    for _ in range(2):
        target.drop_challenger(running)
        seen = observed(target, running)
        assert (seen.champion, seen.challenger, seen.weight) == (registry.pins[1], None, 0.0)


def test_replace_champion_swaps_the_version(
    target: DeploymentTarget, running: str, registry: Registry
) -> None:
    for _ in range(2):
        target.replace_champion(running, registry.pins[3])
        seen = observed(target, running)
        assert (seen.champion, seen.challenger) == (registry.pins[3], None)


def test_set_weight_without_a_challenger_is_invalid(target: DeploymentTarget, running: str) -> None:
    with pytest.raises(InvalidInput, match="no challenger"):
        target.set_weight(running, 0.5)
    assert observed(target, running).challenger is None


def test_delete_stops_everything_and_twice_changes_nothing(
    target: DeploymentTarget, running: str
) -> None:
    for _ in range(2):
        target.delete(running)
        assert target.observe(running) is None
        assert target.names() == []
