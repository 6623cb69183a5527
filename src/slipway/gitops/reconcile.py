"""Reconcile one deployment: observe, diff, run the steps, write the status.

``reconcile_deployment`` is a short ordered list of idempotent steps — verify the pin,
supervise, observe, diff, act — and writes the status in a ``finally`` whatever happens. It
loops observe→diff→act until the target matches or a step has to wait (an analysis window
still collecting samples), so one call moves a deployment as far as it can go right now.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from slipway.core.errors import NotFound, SlipwayError
from slipway.deploy.analysis import Verdict, analyze_step, check_doc, take_baseline
from slipway.deploy.spec import Canary, DeploymentFile, InvalidManifest, ModelPin, Shadow
from slipway.deploy.target import DeploymentTarget, ObservedDeployment
from slipway.gitops import commits
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
    rollout_for,
    spec_digest,
)
from slipway.gitops.repo import GitRepo
from slipway.gitops.status import DeploymentStatus, Rollout
from slipway.registry import RegistryClient
from slipway.store.deployments import AuditEntry
from slipway.workspace import Workspace

logger = logging.getLogger("slipway.gitops")
_MAX_STAGES = 12


class Stalled(SlipwayError):
    """Retrying will not help until someone changes the desired state or the registry."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass
class Reconciler:
    """Reconciles the deployments of one environment through one target."""

    environment: str
    repo: GitRepo
    target: DeploymentTarget
    workspace: Workspace
    log_root: Path
    actor: str = "slipway-agent"
    clock: Callable[[], float] = time.time
    on_event: Callable[[str, str], None] | None = None
    """Called with (deployment, message) for each step taken, e.g. to print progress."""
    _adopted: set[str] = field(default_factory=set)
    _restarted: bool = False

    # -- status ----------------------------------------------------------------------------

    def load_status(self, name: str) -> DeploymentStatus:
        row = self.workspace.store.deployments.get(self.environment, name)
        if row is None:
            return DeploymentStatus(name, self.environment)
        return DeploymentStatus.from_doc(
            name, self.environment, row.desired_revision, row.observed_revision, row.status
        )

    def save_status(self, status: DeploymentStatus, audit: AuditEntry | None = None) -> None:
        self.workspace.store.deployments.put(
            self.environment,
            status.name,
            desired_revision=status.desired_revision,
            observed_revision=status.observed_revision,
            status=status.to_doc(),
            audit=audit,
            actor=self.actor,
        )

    def _event(self, name: str, message: str) -> None:
        logger.info("%s/%s: %s", self.environment, name, message)
        if self.on_event is not None:
            self.on_event(name, message)

    # -- the steps -------------------------------------------------------------------------

    def reconcile(
        self,
        name: str,
        desired: DeploymentFile | None,
        revision: str | None,
        invalid: InvalidManifest | None = None,
    ) -> DeploymentStatus:
        """Move ``name`` towards ``desired`` as far as possible now; returns its status."""
        status = replace(self.load_status(name), desired_revision=revision)
        try:
            # Crashed replicas come back even while the desired state is unusable.
            status = self._supervise(name, status)
            if invalid is not None:
                raise Stalled("InvalidManifest", f"{invalid}; fix the file and commit again")
            if desired is not None:
                self._verify_pin(desired.spec.model)
            status = self._converge(name, desired, revision, status)
        except Stalled as exc:
            status = status.with_condition("Stalled", True, exc.reason, str(exc), self.clock())
            status = status.with_condition("Ready", False, exc.reason, str(exc), self.clock())
        except Exception as exc:  # transient (a server busy, a push race): the next tick retries
            if not isinstance(exc, SlipwayError):
                logger.exception("%s/%s: reconcile step failed", self.environment, name)
            status = status.with_condition(
                "Ready", False, "ReconcileFailed", f"{exc}; retrying", self.clock()
            )
        finally:
            if desired is None and invalid is None and self.target.observe(name) is None:
                self.workspace.store.deployments.delete(self.environment, name)
            else:
                self.save_status(status)
        return status

    def _verify_pin(self, pin: ModelPin) -> None:
        try:
            version = RegistryClient(self.workspace).get_model_version(pin.name, pin.version)
        except NotFound as exc:
            raise Stalled("ModelNotFound", f"{pin.uri} is not in the registry: {exc}") from None
        if f"sha256:{version.manifest_digest}" != pin.digest:
            raise Stalled(
                "DigestMismatch",
                f"{pin.uri} has digest sha256:{version.manifest_digest}, the desired state "
                f"pins {pin.digest}; refusing to deploy a different model than reviewed",
            )

    def _supervise(self, name: str, status: DeploymentStatus) -> DeploymentStatus:
        """Adopt what a killed predecessor left (once), restart crashed replicas."""
        events: list[str] = []
        adopt = getattr(self.target, "adopt", None)
        if adopt is not None and name not in self._adopted:
            events += adopt(name)
            self._adopted.add(name)
        supervise = getattr(self.target, "supervise", None)
        if supervise is not None and self.target.observe(name) is not None:
            events += supervise(name)
        for message in events:
            self._event(name, message)
        self._restarted = bool(events)
        if events:
            return status.with_condition(
                "Degraded", True, "ReplicaRestarted", "; ".join(events), self.clock()
            )
        return status

    def _converge(
        self,
        name: str,
        desired: DeploymentFile | None,
        revision: str | None,
        status: DeploymentStatus,
    ) -> DeploymentStatus:
        for _ in range(_MAX_STAGES):
            observed = self.target.observe(name)
            status = replace(status, observed=_summary(observed))
            actions = diff(desired, observed, status.rollout)
            if not actions:
                return self._settled(status, desired, observed, revision)
            for action in actions:
                status, waiting = self._run(name, desired, revision, status, action)
                if waiting:
                    return status
        return status

    def _settled(
        self,
        status: DeploymentStatus,
        desired: DeploymentFile | None,
        observed: ObservedDeployment | None,
        revision: str | None,
    ) -> DeploymentStatus:
        now = self.clock()
        status = replace(status, observed_revision=revision)
        status = status.with_condition("Stalled", False, "Reconciled", "", now)
        status = status.with_condition("Progressing", False, "Reconciled", "", now)
        if desired is None or observed is None:
            return status.with_condition("Ready", False, "Deleted", "not deployed", now)
        rollout = rollout_for(status.rollout, desired)
        if rollout is not None and rollout.outcome in ("rolled_back", "held"):
            status = status.with_condition(
                "Degraded",
                True,
                "RolledBack" if rollout.outcome == "rolled_back" else "Held",
                rollout.reason,
                now,
            )
            return status.with_condition(
                "Ready",
                rollout.outcome == "rolled_back",
                "ChampionServing",
                f"{observed.champion.uri} serves all traffic",
                now,
            )
        ready = observed.ready_replicas >= observed.replicas
        last = status.rollout
        if last is not None and last.outcome == "rolled_back":
            # Stays visible until the next rollout starts: the revert made the state match,
            # but the change people committed did not make it.
            status = status.with_condition("Degraded", True, "RolledBack", last.reason, now)
        elif not ready:
            status = status.with_condition(
                "Degraded", True, "ReplicasNotReady", "some replicas are not ready", now
            )
        elif not self._restarted:
            status = status.with_condition("Degraded", False, "Healthy", "", now)
        replicas = f"{observed.ready_replicas}/{observed.replicas}"
        message = f"{observed.champion.uri} serves on {replicas} replicas"
        if observed.challenger is not None:
            message += f"; shadowing {observed.challenger.uri}"
        return status.with_condition(
            "Ready", ready, "Serving" if ready else "ReplicasNotReady", message, now
        )

    def _progress(self, status: DeploymentStatus, reason: str, message: str) -> DeploymentStatus:
        return status.with_condition("Progressing", True, reason, message, self.clock())

    def _run(
        self,
        name: str,
        desired: DeploymentFile | None,
        revision: str | None,
        status: DeploymentStatus,
        action: Action,
    ) -> tuple[DeploymentStatus, bool]:
        """Run one action; returns the new status and whether to stop for now (waiting)."""
        target = self.target
        if isinstance(action, Delete):
            target.delete(name)
            self._event(name, "deleted (its file is gone)")
            return replace(status, rollout=None), False
        assert desired is not None
        assert revision is not None
        model = desired.spec.model
        if isinstance(action, Create):
            status = self._progress(status, "Creating", f"starting {model.uri}")
            self.save_status(status)
            target.create(desired)
            self._event(name, f"created with {model.uri}")
            self._set_champion_alias(model)
            return status, False
        if isinstance(action, Reconfigure):
            status = self._progress(status, "Reconfiguring", "runtime settings changed")
            self.save_status(status)
            target.reconfigure(desired)
            self._event(name, "reconfigured")
            return status, False
        if isinstance(action, ReplaceChampion):
            status = self._progress(status, "Replacing", f"loading {model.uri}")
            self.save_status(status)
            target.replace_champion(name, action.model)
            self._event(name, f"champion replaced by {model.uri}")
            return self._promoted(status, revision, desired), False
        if isinstance(action, LoadChallenger):
            status = self._progress(status, "LoadingChallenger", f"loading {model.uri}")
            self.save_status(status)
            target.load_challenger(name, action.model, action.weight, action.mode)
            rollout = self._new_rollout(revision, desired)
            self._event(name, f"challenger {model.uri} loaded ({action.mode} {action.weight:g})")
            return replace(status, rollout=rollout), False
        if isinstance(action, SetWeight):
            target.set_weight(name, action.weight, action.mode)
            rollout = self._rollout(status, revision, desired)
            baseline = take_baseline(target.observe(name))
            rollout = replace(rollout, step_started=self.clock(), baseline=baseline)
            self._event(name, f"{model.uri} gets {action.weight:.0%} of traffic")
            status = self._progress(
                replace(status, rollout=rollout),
                "Analyzing",
                f"weight {action.weight:g}: collecting samples",
            )
            return status, False
        if isinstance(action, Smoke):
            mean_ms = target.smoke(name, action.version, action.requests)
            self._event(name, f"smoke check passed: {action.requests} requests, {mean_ms:.1f} ms")
            return status, False
        if isinstance(action, Promote):
            status = self._progress(status, "Promoting", f"{model.uri} takes all traffic")
            self.save_status(status)
            target.promote(name)
            self._event(name, f"promoted {model.uri}")
            return self._promoted(status, revision, desired), False
        if isinstance(action, DropChallenger):
            target.drop_challenger(name)
            self._event(name, f"challenger dropped: {action.reason}")
            return status, False
        assert isinstance(action, Analyze)
        return self._analyze(name, desired, revision, status)

    def _rollout(self, status: DeploymentStatus, revision: str, desired: DeploymentFile) -> Rollout:
        return rollout_for(status.rollout, desired) or self._new_rollout(revision, desired)

    def _new_rollout(self, revision: str, desired: DeploymentFile) -> Rollout:
        return Rollout(
            revision=revision,
            model=desired.spec.model.uri,
            spec=spec_digest(desired),
            step_started=self.clock(),
            started=self.clock(),
        )

    def _set_champion_alias(self, model: ModelPin) -> None:
        client = RegistryClient(self.workspace)
        try:
            current = client.get_model_version_by_alias(model.name, "champion").version
        except NotFound:
            current = None
        if current != model.version:
            client.set_alias(model.name, "champion", model.version)

    def _promoted(
        self, status: DeploymentStatus, revision: str, desired: DeploymentFile
    ) -> DeploymentStatus:
        model = desired.spec.model
        self._set_champion_alias(model)
        rollout = replace(self._rollout(status, revision, desired), outcome="promoted")
        status = replace(status, rollout=rollout)
        self.save_status(
            status,
            AuditEntry("deployment.promote", after={"model": model.uri, "revision": revision}),
        )
        return status

    # -- analysis --------------------------------------------------------------------------

    def _analyze(
        self, name: str, desired: DeploymentFile, revision: str, status: DeploymentStatus
    ) -> tuple[DeploymentStatus, bool]:
        strategy = desired.spec.strategy
        assert isinstance(strategy, Canary | Shadow)
        model = desired.spec.model
        observed = self.target.observe(name)
        if observed is None:
            return status, True
        rollout = self._rollout(status, revision, desired)
        now = self.clock()
        if not rollout.baseline:  # a step window starts here (first look, or after restart)
            rollout = replace(rollout, step_started=now, baseline=take_baseline(observed))
            return replace(status, rollout=rollout), True
        report, current = analyze_step(
            analysis=strategy.analysis,
            deployment=name,
            observed=observed,
            baseline=rollout.baseline,
            since=rollout.step_started,
            reference_since=(rollout.started or rollout.step_started) - strategy.analysis.interval,
            now=now,
            log_root=self.log_root,
        )
        checks = tuple(check_doc(c) for c in report.checks)
        rollout = replace(rollout, checks=checks)
        weight = observed.weight
        if report.verdict is Verdict.PASS:
            rollout = replace(
                rollout,
                step=rollout.step + 1,
                step_started=now,
                baseline=current,
                reason=f"passed at weight {weight:g}: {report.summary}",
            )
            self._event(name, f"step at weight {weight:g} passed: {report.summary}")
            status = self._progress(replace(status, rollout=rollout), "StepPassed", report.summary)
            return status, False
        if report.verdict is not Verdict.FAIL:
            reason = "WaitingForSamples" if report.verdict is Verdict.WAIT else "Analyzing"
            status = self._progress(replace(status, rollout=rollout), reason, report.summary)
            return status, True
        failed = rollout.failed_checks + 1
        limit = strategy.analysis.max_failed_checks
        self._event(name, f"check failed ({failed}/{limit}) at weight {weight:g}: {report.summary}")
        if failed < limit:
            rollout = replace(rollout, failed_checks=failed, step_started=now, baseline=current)
            return self._progress(
                replace(status, rollout=rollout), "CheckFailed", report.summary
            ), True
        hold = isinstance(strategy, Canary) and strategy.on_failure == "hold"
        failing = "; ".join(
            f"{c.name}: {c.message}" for c in report.checks if c.verdict is Verdict.FAIL
        )
        reason = f"failed check at weight {weight:g} ({failed} of {limit} allowed): {failing}"
        rollout = replace(
            rollout, failed_checks=failed, outcome="held" if hold else "rolled_back", reason=reason
        )
        status = replace(status, rollout=rollout)
        if hold:
            self.save_status(status, AuditEntry("deployment.hold", after={"reason": reason}))
            self._event(name, f"holding at weight {weight:g}: {reason}")
            return status, False
        self.target.drop_challenger(name)
        self._event(name, f"rolled back to {observed.champion.uri}: {reason}")
        sha = commits.record_rollback(self.repo, desired, revision, reason, author=self.actor)
        rollout = replace(rollout, reverted=sha or "")
        status = replace(status, rollout=rollout)
        self.save_status(
            status,
            AuditEntry(
                "deployment.rollback",
                before={"model": model.uri},
                after={"model": observed.champion.uri, "reason": reason, "commit": sha},
            ),
        )
        return status, False


def _summary(observed: ObservedDeployment | None) -> dict[str, object]:
    if observed is None:
        return {}
    return {
        "champion": observed.champion.uri,
        "challenger": None if observed.challenger is None else observed.challenger.uri,
        "weight": observed.weight,
        "mode": observed.mode,
        "replicas": observed.replicas,
        "ready_replicas": observed.ready_replicas,
        "endpoints": list(observed.endpoints),
        "details": dict(observed.details),
    }
