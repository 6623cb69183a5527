"""``slipway agent``: the pull-based reconciler of one environment.

Each tick fetches the repository, reads the desired state at the new head, and reconciles
every deployment that is desired or still running. Ticks come every ``interval`` seconds, at
once when a verified push webhook arrives, and every second while a rollout is analysing
(steps conclude as soon as their evidence does). One agent per environment holds an
exclusive lock, which ``slipway deploy`` also takes while it applies, so two reconcilers
never act on the same deployments at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from slipway.core.errors import Conflict
from slipway.deploy.target import DeploymentTarget
from slipway.gitops.desired import DesiredState, load_desired
from slipway.gitops.reconcile import Reconciler
from slipway.gitops.repo import GitRepo
from slipway.gitops.status import DeploymentStatus
from slipway.gitops.targets import make_targets
from slipway.gitops.webhook import PushEvent
from slipway.workspace import Workspace

logger = logging.getLogger("slipway.gitops")
ROLLOUT_TICK_S = 1.0


@contextlib.contextmanager
def environment_lock(home: Path, environment: str, *, wait: bool = False) -> Iterator[IO[str]]:
    """Hold the environment's reconcile lock (released by the OS if the holder dies)."""
    path = home / "deploy" / environment / "reconcile.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    try:
        flags = fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB
        try:
            fcntl.flock(handle, flags)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise Conflict(
                f"environment {environment!r} is being reconciled by {holder}; "
                "it applies new commits itself"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield handle
    finally:
        handle.close()


@dataclass
class Agent:
    environment: str
    repo: GitRepo
    workspace: Workspace
    interval: float = 10.0
    home: Path = field(default_factory=lambda: Path(".slipway"))
    actor: str = "slipway-agent"
    alerts: Path | None = None
    """An alert rules file (``kind: AlertRules``) evaluated every ``monitor_interval``."""
    monitor_interval: float = 60.0
    extra_checks: list[Callable[[], object]] = field(default_factory=list)
    """Run with the alert rules every ``monitor_interval`` (the CLI adds continuous training,
    which sits above this package)."""
    _wake: threading.Event = field(default_factory=threading.Event)
    _monitored_at: float = field(default=float("-inf"))
    reconcilers: dict[str, Reconciler] = field(init=False)

    def __post_init__(self) -> None:
        targets = make_targets(self.home, self.environment, self.repo)
        log_root = self.workspace.settings.home / "logs"
        self.reconcilers = {
            kind: Reconciler(
                self.environment, self.repo, target, self.workspace, log_root, actor=self.actor
            )
            for kind, target in targets.items()
        }

    @property
    def targets(self) -> dict[str, DeploymentTarget]:
        return {kind: r.target for kind, r in self.reconcilers.items()}

    def wake(self, push: PushEvent | None = None) -> None:
        """Reconcile now instead of at the next poll (the webhook calls this)."""
        if push is not None:
            logger.info("push to %s (%s) from %s", push.ref, push.after[:12], push.provider)
        self._wake.set()

    def run_once(self, only: str | None = None) -> dict[str, DeploymentStatus]:
        """One tick: fetch, read the desired state, reconcile each deployment."""
        revision = self.repo.fetch()
        desired = load_desired(self.repo, revision, self.environment)
        return self.reconcile(desired, only=only)

    def reconcile(
        self, desired: DesiredState, only: str | None = None
    ) -> dict[str, DeploymentStatus]:
        running = {name: kind for kind, t in self.targets.items() for name in t.names()}
        names = sorted(desired.names | set(running))
        statuses = {}
        for name in names:
            if only is not None and name != only:
                continue
            manifest = desired.deployments.get(name)
            invalid = desired.invalid.get(name)
            kind = manifest.spec.target.kind if manifest is not None else running.get(name, "local")
            if name in running and running[name] != kind:
                # Moved between targets: remove it from the old one first.
                self.reconcilers[running[name]].reconcile(name, None, desired.revision)
            statuses[name] = self.reconcilers[kind].reconcile(
                name, manifest, desired.revision, invalid
            )
        return statuses

    def run(self, stop: threading.Event) -> None:
        """Reconcile until ``stop`` is set."""
        with environment_lock(self.home, self.environment, wait=True):
            logger.info(
                "agent for %r watching %s (every %.0fs)",
                self.environment,
                self.repo.describe(),
                self.interval,
            )
            while not stop.is_set():
                self._wake.clear()
                busy = False
                try:
                    statuses = self.run_once()
                    busy = any(_progressing(s) for s in statuses.values())
                except Exception:
                    logger.exception("reconcile tick failed; retrying")
                delay = min(self.interval, ROLLOUT_TICK_S) if busy else self.interval
                self._wake.wait(delay)
                if stop.is_set():
                    break

    def monitor(self, force: bool = False) -> None:
        """Evaluate the alert rules, at most every ``monitor_interval`` seconds."""
        if self.alerts is None and not self.extra_checks:
            return
        now = time.monotonic()
        if not force and now - self._monitored_at < self.monitor_interval:
            return
        self._monitored_at = now
        from slipway.monitoring.watch import check_alerts

        if self.alerts is not None:
            try:
                check_alerts(self.workspace, self.alerts)
            except Exception:  # monitoring must not stop deployments
                logger.exception("alert evaluation failed; retrying next interval")
        for extra in self.extra_checks:
            try:
                extra()
            except Exception:  # neither must retraining
                logger.exception("monitor check failed; retrying next interval")


def _progressing(status: DeploymentStatus) -> bool:
    condition = status.condition("Progressing")
    return condition is not None and condition.status == "True"
