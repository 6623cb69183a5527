"""``diff(desired, observed, rollout) -> actions``: the pure heart of reconciliation.

No I/O, no clock: given what the repository wants, what the target runs, and how far the
current rollout got, it returns the ordered steps that move the world one stage closer. The
reconciler runs them and calls it again; a world that matches returns ``[]``. Because each
stage is decided from observations alone, a reconciler killed anywhere restarts, observes,
and continues from the same place.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from slipway.deploy.spec import BlueGreen, Canary, DeploymentFile, ModelPin, Recreate, Shadow
from slipway.deploy.target import ObservedDeployment, RoutingMode, runtime_config
from slipway.gitops.status import Rollout


@dataclass(frozen=True, slots=True)
class Create:
    """Nothing runs yet: start the desired model as the champion."""


@dataclass(frozen=True, slots=True)
class Reconfigure:
    """Replicas, batching or resources changed."""


@dataclass(frozen=True, slots=True)
class Delete:
    """The desired-state file is gone."""


@dataclass(frozen=True, slots=True)
class LoadChallenger:
    model: ModelPin
    weight: float
    mode: RoutingMode


@dataclass(frozen=True, slots=True)
class SetWeight:
    weight: float
    mode: RoutingMode


@dataclass(frozen=True, slots=True)
class Analyze:
    """Judge the current step from the servers' metrics and prediction logs."""

    step: int


@dataclass(frozen=True, slots=True)
class Smoke:
    version: int
    requests: int


@dataclass(frozen=True, slots=True)
class Promote:
    model: ModelPin


@dataclass(frozen=True, slots=True)
class DropChallenger:
    reason: str


@dataclass(frozen=True, slots=True)
class ReplaceChampion:
    model: ModelPin


Action = (
    Create
    | Reconfigure
    | Delete
    | LoadChallenger
    | SetWeight
    | Analyze
    | Smoke
    | Promote
    | DropChallenger
    | ReplaceChampion
)


def same_model(a: ModelPin | None, b: ModelPin | None) -> bool:
    return (
        a is not None
        and b is not None
        and (a.name, a.version, a.digest)
        == (
            b.name,
            b.version,
            b.digest,
        )
    )


def spec_digest(desired: DeploymentFile) -> str:
    """Identity of one desired state: a rollout belongs to exactly this content."""
    return hashlib.sha256(desired.to_yaml().encode()).hexdigest()[:16]


def rollout_for(rollout: Rollout | None, desired: DeploymentFile) -> Rollout | None:
    """The persisted rollout if it is about this desired state; any change starts afresh
    (re-committing a fixed file after a rollback tries again)."""
    if rollout is None:
        return None
    same = rollout.model == desired.spec.model.uri and rollout.spec == spec_digest(desired)
    return rollout if same else None


def diff(
    desired: DeploymentFile | None,
    observed: ObservedDeployment | None,
    rollout: Rollout | None = None,
) -> list[Action]:
    """The next steps towards ``desired``; ``[]`` when the target already matches."""
    if desired is None:
        return [] if observed is None else [Delete()]
    if observed is None:
        return [Create()]
    if observed.config != runtime_config(desired):
        return [Reconfigure()]
    model = desired.spec.model
    if same_model(observed.champion, model):
        if observed.challenger is not None:
            return [DropChallenger("the desired model is the champion")]
        return []
    current = rollout_for(rollout, desired)
    if current is not None and current.outcome in ("rolled_back", "held"):
        # A failed rollout waits for a new commit: roll back leaves the champion alone,
        # hold keeps traffic where the analysis stopped.
        if current.outcome == "rolled_back" and observed.challenger is not None:
            return [DropChallenger(current.reason)]
        return []
    strategy = desired.spec.strategy
    if isinstance(strategy, Recreate):
        return [ReplaceChampion(model)]
    if isinstance(strategy, BlueGreen):
        if not same_model(observed.challenger, model) or observed.weight != 0.0:
            return [LoadChallenger(model, 0.0, "canary")]
        return [Smoke(model.version, strategy.smoke_requests), Promote(model)]
    if isinstance(strategy, Canary):
        return _canary(strategy, model, observed, current)
    return _shadow(strategy, model, observed, current)


def _canary(
    strategy: Canary, model: ModelPin, observed: ObservedDeployment, rollout: Rollout | None
) -> list[Action]:
    if not same_model(observed.challenger, model) or observed.mode != "canary":
        return [LoadChallenger(model, 0.0, "canary")]
    step = 0 if rollout is None else rollout.step
    if step >= len(strategy.steps):
        return [Promote(model)]
    weight = strategy.steps[step]
    if observed.weight != weight:
        return [SetWeight(weight, "canary")]
    return [Analyze(step)]


def _shadow(
    strategy: Shadow, model: ModelPin, observed: ObservedDeployment, rollout: Rollout | None
) -> list[Action]:
    if (
        not same_model(observed.challenger, model)
        or observed.mode != "shadow"
        or observed.weight != strategy.weight
    ):
        return [LoadChallenger(model, strategy.weight, "shadow")]
    passed = rollout is not None and rollout.step >= 1
    if not passed:
        return [Analyze(0)]
    return [Promote(model)] if strategy.promote else []
