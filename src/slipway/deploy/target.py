"""What a deployment target is: the few verbs reconcile needs, and what it reports back.

Every target (``local`` server processes, ``kubernetes`` manifests) implements
:class:`DeploymentTarget` and passes the same contract tests. Each verb is idempotent: calling
it again with the state already reached changes nothing, so a reconciler killed at any point
can simply run its steps again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from slipway.deploy.spec import DeploymentFile, ModelPin

RoutingMode = Literal["canary", "shadow"]


@dataclass(frozen=True, slots=True)
class ObservedDeployment:
    """What a target runs for one deployment right now."""

    name: str
    champion: ModelPin
    challenger: ModelPin | None = None
    weight: float = 0.0
    """Share of requests given (canary) or copied (shadow) to the challenger."""
    mode: RoutingMode = "canary"
    replicas: int = 1
    """Replicas the target was asked for."""
    ready_replicas: int = 0
    config: str = ""
    """Digest of the runtime settings it was started with (see :func:`runtime_config`)."""
    endpoints: tuple[str, ...] = ()
    """Base URLs of the replicas' servers reachable from here (metrics, smoke checks); empty
    where the target cannot be reached directly (kubernetes)."""
    details: Mapping[str, object] = field(default_factory=dict)
    """Target-specific facts for status output (pids, ports, restarts, files)."""


def runtime_config(deployment: DeploymentFile) -> str:
    """The settings that need the servers restarted when they change, as a short digest."""
    spec = deployment.spec
    doc = {
        "target": spec.target.model_dump(mode="json"),
        "replicas": spec.replicas,
        "resources": spec.resources.model_dump(mode="json"),
        "batching": spec.batching.model_dump(mode="json"),
    }
    return hashlib.sha256(repr(sorted(doc.items())).encode()).hexdigest()[:16]


@runtime_checkable
class DeploymentTarget(Protocol):
    """One place deployments run. Names are unique within a target's environment."""

    kind: str

    def names(self) -> list[str]:
        """Deployments this target currently runs (to remove those no longer desired)."""
        ...

    def observe(self, name: str) -> ObservedDeployment | None:
        """What runs for ``name``, or None if nothing does."""
        ...

    def create(self, deployment: DeploymentFile) -> None:
        """Start ``deployment`` with its model as the only (champion) version."""
        ...

    def reconfigure(self, deployment: DeploymentFile) -> None:
        """Apply new runtime settings (replicas, batching, resources), keeping the versions."""
        ...

    def load_challenger(
        self, name: str, model: ModelPin, weight: float = 0.0, mode: RoutingMode = "canary"
    ) -> None:
        """Load ``model`` beside the champion, ready before it gets any traffic."""
        ...

    def set_weight(self, name: str, weight: float, mode: RoutingMode = "canary") -> None:
        """Move a share of traffic to the loaded challenger."""
        ...

    def smoke(self, name: str, version: int, requests: int) -> float:
        """Send ``requests`` predictions to ``version``; returns the mean latency in ms.
        Raises if any fails."""
        ...

    def promote(self, name: str) -> None:
        """The challenger takes all traffic and becomes the champion; the old one drains."""
        ...

    def drop_challenger(self, name: str) -> None:
        """All traffic back to the champion; the challenger drains and unloads."""
        ...

    def replace_champion(self, name: str, model: ModelPin) -> None:
        """Load ``model`` and swap it in as the champion in one step (recreate strategy)."""
        ...

    def delete(self, name: str) -> None:
        """Stop everything that runs for ``name``."""
        ...
