"""The pure diff: one case per situation a reconciler can find itself in."""

from __future__ import annotations

from typing import Any

import pytest

from slipway.deploy.spec import DeploymentFile, ModelPin
from slipway.deploy.target import ObservedDeployment, runtime_config
from slipway.gitops.diff import (
    Action,
    Analyze,
    Create,
    Delete,
    DropChallenger,
    LoadChallenger,
    Promote,
    Reconfigure,
    ReplaceChampion,
    SetWeight,
    Smoke,
    diff,
    spec_digest,
)
from slipway.gitops.status import Rollout

V1 = ModelPin(name="m", version=1, digest="sha256:" + "1" * 64)
V2 = ModelPin(name="m", version=2, digest="sha256:" + "2" * 64)


def desired(
    model: ModelPin = V2, strategy: dict[str, Any] | None = None, **spec: Any
) -> DeploymentFile:
    return DeploymentFile.model_validate(
        {
            "apiVersion": "slipway.dev/v1",
            "kind": "Deployment",
            "metadata": {"name": "m"},
            "spec": {
                "model": model.model_dump(),
                "strategy": strategy or {"type": "recreate"},
                **spec,
            },
        }
    )


def observed(
    want: DeploymentFile,
    champion: ModelPin = V1,
    challenger: ModelPin | None = None,
    weight: float = 0.0,
    mode: str = "canary",
) -> ObservedDeployment:
    return ObservedDeployment(
        name="m",
        champion=champion,
        challenger=challenger,
        weight=weight,
        mode=mode,  # type: ignore[arg-type]
        replicas=1,
        ready_replicas=1,
        config=runtime_config(want),
    )


def rollout(want: DeploymentFile, **fields: Any) -> Rollout:
    return Rollout(revision="r", model=want.spec.model.uri, spec=spec_digest(want), **fields)


CANARY = {"type": "canary", "steps": [0.1, 0.5, 1.0]}
SHADOW = {"type": "shadow", "weight": 1.0}
SHADOW_PROMOTE = {"type": "shadow", "weight": 1.0, "promote": True}


def case(
    name: str, want: DeploymentFile | None, seen: Any, roll: Any, expected: list[Action]
) -> Any:
    return pytest.param(want, seen, roll, expected, id=name)


C = desired(strategy=CANARY)
S = desired(strategy=SHADOW)
SP = desired(strategy=SHADOW_PROMOTE)
BG = desired(strategy={"type": "blue-green", "smoke_requests": 2})
R = desired()

CASES = [
    case("nothing wanted, nothing runs", None, None, None, []),
    case("file removed", None, observed(R), None, [Delete()]),
    case("first deploy starts directly", C, None, None, [Create()]),
    case("in sync", C, observed(C, champion=V2), None, []),
    case(
        "leftover challenger dropped",
        C,
        observed(C, champion=V2, challenger=V1, weight=0.5),
        None,
        [DropChallenger("the desired model is the champion")],
    ),
    case(
        "replicas changed",
        desired(replicas=3),
        observed(desired(), champion=V2),
        None,
        [Reconfigure()],
    ),
    case("recreate replaces", R, observed(R), None, [ReplaceChampion(V2)]),
    case("canary loads the challenger", C, observed(C), None, [LoadChallenger(V2, 0.0, "canary")]),
    case(
        "canary first step",
        C,
        observed(C, challenger=V2),
        rollout(C),
        [SetWeight(0.1, "canary")],
    ),
    case(
        "canary analyzes its step",
        C,
        observed(C, challenger=V2, weight=0.1),
        rollout(C),
        [Analyze(0)],
    ),
    case(
        "canary next step",
        C,
        observed(C, challenger=V2, weight=0.1),
        rollout(C, step=1),
        [SetWeight(0.5, "canary")],
    ),
    case(
        "canary promotes after the last step",
        C,
        observed(C, challenger=V2, weight=1.0),
        rollout(C, step=3),
        [Promote(V2)],
    ),
    case(
        "rolled back: challenger dropped",
        C,
        observed(C, challenger=V2, weight=0.5),
        rollout(C, outcome="rolled_back", reason="error rate"),
        [DropChallenger("error rate")],
    ),
    case(
        "rolled back and dropped: wait for a new commit",
        C,
        observed(C),
        rollout(C, outcome="rolled_back"),
        [],
    ),
    case(
        "held: nothing moves",
        C,
        observed(C, challenger=V2, weight=0.5),
        rollout(C, outcome="held"),
        [],
    ),
    case(
        "a changed file retries after a rollback",
        desired(strategy={**CANARY, "steps": [0.2, 1.0]}),
        observed(C, challenger=V2, weight=0.5),
        rollout(C, outcome="rolled_back"),
        [SetWeight(0.2, "canary")],
    ),
    case(
        "a different challenger is replaced",
        C,
        observed(
            C, challenger=ModelPin(name="m", version=3, digest="sha256:" + "3" * 64), weight=0.5
        ),
        None,
        [LoadChallenger(V2, 0.0, "canary")],
    ),
    case("blue-green loads dark", BG, observed(BG), None, [LoadChallenger(V2, 0.0, "canary")]),
    case(
        "blue-green smoke then switch",
        BG,
        observed(BG, challenger=V2),
        None,
        [Smoke(2, 2), Promote(V2)],
    ),
    case("shadow mirrors", S, observed(S), None, [LoadChallenger(V2, 1.0, "shadow")]),
    case(
        "shadow after a canary load switches mode",
        S,
        observed(S, challenger=V2, weight=0.1),
        None,
        [LoadChallenger(V2, 1.0, "shadow")],
    ),
    case(
        "shadow analyzes",
        S,
        observed(S, challenger=V2, weight=1.0, mode="shadow"),
        None,
        [Analyze(0)],
    ),
    case(
        "shadow passed without promotion keeps shadowing",
        S,
        observed(S, challenger=V2, weight=1.0, mode="shadow"),
        rollout(S, step=1),
        [],
    ),
    case(
        "shadow passed with promotion promotes",
        SP,
        observed(SP, challenger=V2, weight=1.0, mode="shadow"),
        rollout(SP, step=1),
        [Promote(V2)],
    ),
]


@pytest.mark.parametrize(("want", "seen", "roll", "expected"), CASES)
def test_diff(want: Any, seen: Any, roll: Any, expected: list[Action]) -> None:
    assert diff(want, seen, roll) == expected


def test_digest_mismatch_is_a_different_model() -> None:
    want = desired(model=V1)
    other = V1.model_copy(update={"digest": "sha256:" + "f" * 64})
    assert diff(want, observed(want, champion=other), None) == [ReplaceChampion(V1)]


def test_diff_does_not_mutate_inputs() -> None:
    seen = observed(C, challenger=V2, weight=0.1)
    roll = rollout(C)
    before = (seen, roll)
    diff(C, seen, roll)
    assert (seen, roll) == before
