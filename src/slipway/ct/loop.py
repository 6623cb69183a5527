"""Continuous training: trigger → training data → pipeline with gates → canary commit.

:func:`decide` is pure: from the triggers' current values, the history of retrains and the
clock it says whether to retrain now, and why not otherwise (cooldown, daily budget, nothing
fired). :class:`ContinuousTraining` gathers those values, and when the decision is to retrain,
assembles the labelled production data (recorded with its sha256), runs the pipeline — whose
gate compares the candidate with the champion and registers it — and, if the gate passed,
commits a canary of the candidate to the GitOps repository for the agent to roll out with
automated analysis. Every decision is in the audit log; the commit message names the trigger
and its values.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import duckdb
import httpx
import pandas as pd

from slipway.core.errors import InvalidInput, NotFound
from slipway.ct.policy import CtPolicy, DriftTrigger, PerformanceTrigger
from slipway.deploy.spec import Analysis
from slipway.gitops.push import deploy
from slipway.gitops.repo import GitRepo
from slipway.monitoring.alerts import Transition, TransitionStatus, fingerprint
from slipway.monitoring.labels import current_labels_sql, labels_glob
from slipway.monitoring.monitor import drift_over_time
from slipway.monitoring.notify import deliver
from slipway.monitoring.performance import compute_performance
from slipway.monitoring.windows import WHOLE_SPAN
from slipway.registry import RegistryClient
from slipway.serving.predlog import read_sql_glob
from slipway.workspace import Workspace

logger = logging.getLogger("slipway.ct")
Outcome = Literal["idle", "blocked", "deployed", "gate_failed", "pipeline_failed", "no_data"]


@dataclass(frozen=True, slots=True)
class Fired:
    trigger: str
    value: float
    threshold: float
    detail: str

    def describe(self) -> str:
        return f"{self.trigger}: {self.detail} ({self.value:.4g} vs {self.threshold:.4g})"


@dataclass(frozen=True, slots=True)
class Decision:
    retrain: bool
    fired: Fired | None
    reason: str


@dataclass
class CtState:
    """What the loop remembers between looks (``<home>/ct/<deployment>.json``)."""

    retrains: list[float] = field(default_factory=list)
    """Epoch seconds of each retrain started."""
    labels_at_last_retrain: int = 0

    @classmethod
    def load(cls, path: Path) -> CtState:
        if not path.exists():
            return cls()
        doc = json.loads(path.read_text())
        return cls(list(doc.get("retrains", [])), int(doc.get("labels_at_last_retrain", 0)))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self)))
        os.replace(tmp, path)


@dataclass(frozen=True, slots=True)
class CtResult:
    outcome: Outcome
    reason: str
    fired: Fired | None = None
    candidate: str | None = None
    commit: str | None = None
    data_sha256: str | None = None


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][-500:] if lines else ""


def decide(policy: CtPolicy, fired: list[Fired], state: CtState, now: float) -> Decision:
    """Retrain now? The first fired trigger wins; cooldown and the daily budget hold it back."""
    if not fired:
        return Decision(False, None, "no trigger fired")
    first = fired[0]
    last = max(state.retrains, default=None)
    if last is not None and now - last < policy.cooldown:
        wait = policy.cooldown - (now - last)
        return Decision(False, first, f"{first.describe()}; in cooldown for {wait:.0f} s more")
    today = [t for t in state.retrains if now - t < 86400]
    if len(today) >= policy.max_retrains_per_day:
        return Decision(
            False,
            first,
            f"{first.describe()}; daily budget of {policy.max_retrains_per_day} retrains used",
        )
    return Decision(True, first, first.describe())


class ContinuousTraining:
    def __init__(self, workspace: Workspace, repo: GitRepo, home: Path, policy: CtPolicy) -> None:
        self.workspace = workspace
        self.repo = repo
        self.home = home
        self.policy = policy
        self.state_path = home / "ct" / f"{policy.deployment}.json"

    # -- the triggers ----------------------------------------------------------------------

    def _labels(self) -> int:
        pattern = labels_glob(self.home / "labels", self.policy.deployment)
        relative = Path(pattern).relative_to(self.home / "labels")
        if next((self.home / "labels").glob(str(relative)), None) is None:
            return 0
        with duckdb.connect() as connection:
            row = connection.execute(
                f"select count(*) from ({current_labels_sql()})", [pattern]
            ).fetchone()
        return int(row[0]) if row else 0

    def fired(self, now: datetime, state: CtState) -> list[Fired]:
        """The triggers that fire now, in the policy's order."""
        triggers = self.policy.triggers
        found: list[Fired] = []
        if triggers.drift is not None:
            found += self._drift_fired(now, triggers.drift)
        if triggers.performance is not None:
            found += self._performance_fired(now, triggers.performance)
        if triggers.schedule is not None:
            last_run = max(state.retrains, default=0.0)
            age = now.timestamp() - last_run
            if age >= triggers.schedule.every:
                found.append(Fired("schedule", age, triggers.schedule.every, "seconds since last"))
        if triggers.new_labels is not None:
            new = self._labels() - state.labels_at_last_retrain
            if new >= triggers.new_labels.rows:
                found.append(
                    Fired("new_labels", new, triggers.new_labels.rows, "labelled rows since last")
                )
        return found

    def _drift_fired(self, now: datetime, trigger: DriftTrigger) -> list[Fired]:
        """Dataset drift of the last ``window`` of traffic, taken whole (not the last aligned
        window, which may have just begun), of the version that answered most of it."""
        try:
            windows = drift_over_time(
                self.workspace, self.policy.deployment, every_n=WHOLE_SPAN,
                since=now - timedelta(seconds=trigger.window), until=now,
            )  # fmt: skip
        except InvalidInput as exc:
            logger.warning("ct drift trigger of %s: %s", self.policy.deployment, exc)
            return []
        if not windows:
            return []
        latest = max(windows, key=lambda w: w.rows).features
        if latest.share_drifted <= trigger.share_above:
            return []
        drifted = ", ".join(c.column for c in latest.columns if c.drifted)
        detail = f"dataset drift share over {trigger.window:.0f} s ({drifted})"
        return [Fired("drift", latest.share_drifted, trigger.share_above, detail)]

    def _performance_fired(self, now: datetime, trigger: PerformanceTrigger) -> list[Fired]:
        """Realised performance over the last ``window``, once ``min_labels`` labels joined."""
        report = compute_performance(
            self.home / "logs", self.home / "labels", self.policy.deployment, window=None,
            every_n=WHOLE_SPAN, since=now - timedelta(seconds=trigger.window), until=now,
        )  # fmt: skip
        labelled = [w for w in report.windows if w.metrics.get(trigger.metric) is not None]
        if not labelled:
            return []
        last = max(labelled, key=lambda w: w.labelled)
        value = last.metrics[trigger.metric]
        if value is None or last.labelled < trigger.min_labels:
            return []
        below = trigger.below is not None and value < trigger.below
        above = trigger.above is not None and value > trigger.above
        if not (below or above):
            return []
        threshold = trigger.below if trigger.below is not None else trigger.above
        assert threshold is not None
        detail = f"{trigger.metric} on {last.labelled} labelled predictions"
        return [Fired("performance", value, threshold, detail)]

    # -- one look --------------------------------------------------------------------------

    def check(self, now: datetime | None = None) -> CtResult:
        """Evaluate the triggers; retrain, gate and commit a canary when the policy says so."""
        now = now or datetime.now(UTC)
        state = CtState.load(self.state_path)
        decision = decide(self.policy, self.fired(now, state), state, now.timestamp())
        if not decision.retrain:
            outcome: Outcome = "idle" if decision.fired is None else "blocked"
            if outcome == "blocked":
                self._audit("ct.blocked", {"reason": decision.reason})
            return CtResult(outcome, decision.reason, decision.fired)
        assert decision.fired is not None
        state.retrains.append(now.timestamp())
        state.labels_at_last_retrain = self._labels()
        state.save(self.state_path)  # before the long part: a crash does not retrain twice
        self._audit("ct.triggered", {"trigger": asdict(decision.fired)})
        return self._retrain(decision.fired, now)

    def _retrain(self, fired: Fired, now: datetime) -> CtResult:
        policy = self.policy
        params: dict[str, Any] = {}
        data_sha = None
        if policy.pipeline.data_param:
            path, data_sha = self._training_data(now)
            params[policy.pipeline.data_param] = str(path)
        started = time.time() * 1000
        run = self._run_pipeline(params)
        candidate = self._candidate(started)
        if run.returncode != 0:
            failed = _last_line(run.stderr) or f"exit code {run.returncode}"
            # The gate registers every candidate, passing or not: a new version without the
            # challenger alias means the gate said no; none means an earlier step failed.
            outcome: Outcome = (
                "gate_failed" if self._registered_since(started) else ("pipeline_failed")
            )
            reason = f"{fired.describe()}; the pipeline failed: {failed}"
            return self._failed(outcome, reason, fired, data_sha, now)
        if candidate is None:
            reason = f"{fired.describe()}; the pipeline registered no challenger"
            return self._failed("gate_failed", reason, fired, data_sha, now)
        message = (
            f"continuous training: {fired.describe()}.\n"
            f"Pipeline {policy.pipeline.name} trained {candidate} and its gate passed"
            + (f"; production data sha256:{data_sha}" if data_sha else "")
        )
        canary = policy.canary
        analysis = Analysis(
            interval=canary.interval, min_samples=canary.min_samples, checks=canary.checks
        )
        pushed = deploy(
            self.workspace,
            self.repo,
            self.home,
            name=policy.deployment,
            model_uri=candidate,
            environment=policy.environment,
            reason=message,
            author="slipway-ct",
            strategy="canary",
            analysis=analysis,
            steps=policy.canary.steps,
            apply_now=False,
        )
        self._audit(
            "ct.deployed",
            {"candidate": candidate, "commit": pushed.commit, "trigger": fired.trigger},
        )
        return CtResult("deployed", message, fired, candidate, pushed.commit, data_sha)

    def _failed(
        self, outcome: Outcome, reason: str, fired: Fired, data_sha: str | None, now: datetime
    ) -> CtResult:
        """Nothing deployed: audit it, and tell the policy's webhooks (retried, then
        dead-lettered under ``<home>/alerts`` like any alert)."""
        self._audit(f"ct.{outcome}", {"reason": reason})
        logger.warning("ct %s: %s", self.policy.deployment, reason)
        if self.policy.notify:
            transition = self._transition(outcome, reason, fired, now)
            with httpx.Client() as client:
                for receiver in self.policy.notify:
                    delivery = deliver(transition, receiver, self.home / "alerts", client=client)
                    self._audit(
                        "ct.notified",
                        {"receiver": receiver.name, "delivered": delivery.delivered,
                         "attempts": delivery.attempts},
                    )  # fmt: skip
        return CtResult(outcome, reason, fired, data_sha256=data_sha)

    def _transition(self, outcome: Outcome, reason: str, fired: Fired, now: datetime) -> Transition:
        labels = {
            "alertname": "SlipwayRetrainFailed",
            "deployment": self.policy.deployment,
            "environment": self.policy.environment,
            "outcome": outcome,
            "severity": "warning",
        }
        return Transition(
            status=TransitionStatus.FIRING,
            rule="ct-retrain-failed",
            fingerprint=fingerprint("ct-retrain-failed", labels),
            labels=labels,
            annotations={
                "summary": f"retraining {self.policy.deployment} deployed nothing ({outcome})",
                "description": reason,
                "trigger": fired.trigger,
            },
            receivers=tuple(r.name for r in self.policy.notify),
            value=fired.value,
            threshold=fired.threshold,
            starts_at=now,
            ends_at=None,
        )

    def _run_pipeline(self, params: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        """``slipway run`` in the project's folder: the project's code never runs inside the
        agent's process, and its imports resolve as they do for its developers."""
        command = [sys.executable, "-m", "slipway.cli.main", "run", self.policy.pipeline.name]
        for key, value in params.items():
            command += ["--param", f"{key}={value}"]
        env = {**os.environ, "SLIPWAY_HOME": str(self.home)}
        logger.info("ct %s: running %s", self.policy.deployment, " ".join(command[3:]))
        return subprocess.run(
            command,
            cwd=self.policy.pipeline.project,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=self.policy.pipeline_timeout,
        )

    def _candidate(self, started_ms: float) -> str | None:
        """The challenger the gate registered during this run, if any."""
        registry = RegistryClient(self.workspace)
        try:
            version = registry.get_model_version_by_alias(self.policy.model, "challenger")
        except NotFound:
            return None
        if version.created_at < started_ms:
            return None
        return f"models:/{version.name}/{version.version}"

    def _registered_since(self, started_ms: float) -> bool:
        registry = RegistryClient(self.workspace)
        try:
            versions = registry.search_model_versions(self.policy.model)
        except NotFound:
            return False
        return any(v.created_at >= started_ms for v in versions)

    def _training_data(self, now: datetime) -> tuple[Path, str]:
        """The labelled production rows: logged features joined with their current labels."""
        home, deployment = self.home, self.policy.deployment
        label = self.policy.pipeline.label
        logs = read_sql_glob(home / "logs", deployment)
        labels = labels_glob(home / "labels", deployment)
        frame = pd.DataFrame()
        has_logs = next((home / "logs").glob(str(Path(logs).relative_to(home / "logs"))), None)
        has_labels = next(
            (home / "labels").glob(str(Path(labels).relative_to(home / "labels"))), None
        )
        if has_logs is not None and has_labels is not None:
            with duckdb.connect() as connection:
                frame = connection.execute(
                    f"""
                    select p.*, l.label as label_value
                    from read_parquet(?, hive_partitioning = true, union_by_name = true) p
                    join ({current_labels_sql()}) l using (request_id, "row")
                    where p.status < 300 and p.route <> 'shadow'
                    order by p.time, p.request_id, p."row"
                    """,
                    [logs, labels],
                ).df()
        features = [c for c in frame.columns if c.startswith("in_")]
        data = frame[features].rename(columns={c: c[3:] for c in features})
        if not frame.empty:
            data[label] = frame["label_value"].to_numpy()
        folder = home / "ct" / "data"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{deployment}-{now.strftime('%Y%m%dT%H%M%SZ')}.parquet"
        data.to_parquet(path, index=False)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return path, digest

    def _audit(self, action: str, after: dict[str, Any]) -> None:
        self.workspace.store.audit.append(
            actor="slipway-ct",
            action=action,
            entity_type="deployment",
            entity_key=f"{self.policy.environment}/{self.policy.deployment}",
            after=after,
        )
