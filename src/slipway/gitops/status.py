"""Deployment status, Flux style: observed revision, conditions, and the rollout's progress.

Conditions are ``Ready``, ``Progressing``, ``Degraded`` and ``Stalled``, each with a status
(``True``/``False``/``Unknown``), a CamelCase reason, a message saying what happens next, and
the time it last changed status (kept when only the message changes, so "Progressing since"
means what it says).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

ConditionType = Literal["Ready", "Progressing", "Degraded", "Stalled"]
CONDITION_TYPES: tuple[ConditionType, ...] = ("Ready", "Progressing", "Degraded", "Stalled")
Outcome = Literal["", "promoted", "rolled_back", "held"]


@dataclass(frozen=True, slots=True)
class Condition:
    type: ConditionType
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str
    last_transition_time: float


@dataclass(frozen=True, slots=True)
class Rollout:
    """Progress of one strategy towards one desired model, persisted after every step so a
    restarted agent carries on where the killed one stopped."""

    revision: str
    """The desired-state commit this rollout is for."""
    model: str
    """``models:/name/version`` of the challenger being rolled out."""
    spec: str = ""
    """Digest of the desired-state file content it rolls out (see ``diff.spec_digest``)."""
    step: int = 0
    """Index of the current weight step (canary) or 1 once a shadow comparison passed."""
    step_started: float = 0.0
    started: float = 0.0
    """When the challenger was loaded: the champion's predictions since (and one interval
    before) are the reference its predictions are compared with, also at 100 % weight."""
    failed_checks: int = 0
    outcome: Outcome = ""
    reason: str = ""
    """Why the rollout ended (the failed check with its values) or where it waits."""
    baseline: dict[str, Any] = field(default_factory=dict)
    """Server metric counters at the start of the step window."""
    checks: tuple[dict[str, Any], ...] = ()
    """The last analysis results, for status output."""
    reverted: str = ""
    """Sha of the revert commit recorded for a rollback, once written."""


@dataclass(frozen=True, slots=True)
class DeploymentStatus:
    name: str
    environment: str
    desired_revision: str | None = None
    observed_revision: str | None = None
    conditions: tuple[Condition, ...] = ()
    rollout: Rollout | None = None
    observed: dict[str, Any] = field(default_factory=dict)

    def condition(self, kind: ConditionType) -> Condition | None:
        return next((c for c in self.conditions if c.type == kind), None)

    def with_condition(
        self,
        kind: ConditionType,
        status: bool | None,
        reason: str,
        message: str,
        now: float | None = None,
    ) -> DeploymentStatus:
        """Set one condition; its transition time moves only when its status changes."""
        text: Literal["True", "False", "Unknown"] = (
            "Unknown" if status is None else "True" if status else "False"
        )
        now = time.time() if now is None else now
        old = self.condition(kind)
        since = old.last_transition_time if old is not None and old.status == text else now
        new = Condition(kind, text, reason, message, since)
        rest = [c for c in self.conditions if c.type != kind]
        ordered = sorted([*rest, new], key=lambda c: CONDITION_TYPES.index(c.type))
        return replace(self, conditions=tuple(ordered))

    def to_doc(self) -> dict[str, Any]:
        return {
            "conditions": [asdict(c) for c in self.conditions],
            "rollout": None if self.rollout is None else asdict(self.rollout),
            "observed": self.observed,
        }

    @classmethod
    def from_doc(
        cls,
        name: str,
        environment: str,
        desired: str | None,
        observed: str | None,
        doc: dict[str, Any],
    ) -> DeploymentStatus:
        rollout = doc.get("rollout")
        return cls(
            name=name,
            environment=environment,
            desired_revision=desired,
            observed_revision=observed,
            conditions=tuple(Condition(**c) for c in doc.get("conditions", [])),
            rollout=None
            if rollout is None
            else Rollout(**{**rollout, "checks": tuple(rollout.get("checks", ()))}),
            observed=doc.get("observed", {}),
        )
