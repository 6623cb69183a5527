"""``slipway demo``: the whole loop on the embedded default, unattended, in a few minutes.

train → gates → register → deploy (a commit) → serve traffic → a distribution shift → drift
detected → labels arrive → performance drop → continuous training retrains → gates → canary
commit → analysis → promote. Everything runs for real: the example project's pipeline in its
own processes, ``slipway serve`` processes started by the GitOps reconciler from the commit,
HTTP traffic on 127.0.0.1, the prediction log, label ingestion, the CT policy. Only the
world is simulated: the shift is a scanner recalibration that magnifies the size measurements
(radius and perimeter times 1.4, area times 1.96), the labels are the data set's own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import httpx
import pandas as pd
import typer
from rich.panel import Panel

from slipway.cli.output import console, print_table

if TYPE_CHECKING:
    from slipway.gitops.repo import GitRepo
    from slipway.gitops.status import DeploymentStatus
    from slipway.workspace import Workspace

DEPLOYMENT = "breast-cancer"
ENVIRONMENT = "demo"
MODEL = "breast-cancer-pipeline"
"""The name the example pipeline's gate registers candidates under."""
QUICK_MODEL = "breast-cancer"
EXPERIMENT = "slipway-demo"
MAGNIFY = 1.4

CT_POLICY = """\
apiVersion: slipway.dev/v1
kind: ContinuousTraining
deployment: {deployment}
environment: {environment}
model: {model}
pipeline: {{project: {project}, name: train, data_param: production_data, label: target}}
triggers:
  performance: {{metric: accuracy, below: 0.9, min_labels: 100, window: 30m}}
cooldown: 1h
max_retrains_per_day: 3
# A retrain that answers a performance drop is meant to disagree with the champion, so the
# canary checks errors and latency, not agreement with the old predictions.
canary:
  steps: [0.5, 1.0]
  interval: 4s
  min_samples: 40
  checks: {{max_error_rate: 0.01, max_prediction_drift: null}}
"""


@dataclass
class Timeline:
    """Prints each stage as it happens and keeps them for the closing table."""

    started: float = field(default_factory=time.perf_counter)
    entries: list[tuple[str, str, str]] = field(default_factory=list)

    def __call__(self, stage: str, message: str) -> None:
        at = f"{time.perf_counter() - self.started:6.1f}s"
        self.entries.append((at, stage, message))
        console.print(f"[dim]{at}[/dim] [bold cyan]{stage:<10}[/bold cyan] {message}")


@dataclass
class Traffic:
    """Single-row /predict requests on 127.0.0.1, each with its own request id, and the true
    label kept aside for the labels that arrive later."""

    url: str
    prefix: str
    truth: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    sent: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def send(self, rows: pd.DataFrame, pause: float = 0.0) -> None:
        with httpx.Client(timeout=10) as http:
            for _, row in rows.iterrows():
                if self._stop.is_set():
                    return
                request_id = f"{self.prefix}-{self.sent}"
                self.sent += 1
                features = {k: float(v) for k, v in row.drop("target").items()}
                try:
                    answer = http.post(
                        self.url, json=[features], headers={"x-request-id": request_id}
                    )
                except httpx.HTTPError:
                    self.failed += 1
                    continue
                if answer.status_code != 200:
                    self.failed += 1
                    continue
                self.truth[request_id] = int(row["target"])
                if pause:
                    time.sleep(pause)

    def start(self, rows: pd.DataFrame, pause: float) -> Traffic:
        self._thread = threading.Thread(target=self.send, args=(rows, pause), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)


def _magnified(rows: pd.DataFrame) -> pd.DataFrame:
    shifted = rows.copy()
    for column in shifted.columns:
        if "radius" in column or "perimeter" in column:
            shifted[column] = shifted[column] * MAGNIFY
        elif "area" in column:
            shifted[column] = shifted[column] * MAGNIFY**2
    return shifted


def _run_pipeline(project: Path, home: Path) -> None:
    command = [sys.executable, "-m", "slipway.cli.main", "run", "train"]
    env = {**os.environ, "SLIPWAY_HOME": str(home)}
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        console.print(done.stdout[-3000:], done.stderr[-3000:], highlight=False)
        raise SystemExit(f"the example pipeline failed (exit {done.returncode})")


def _fresh_start(workspace: Workspace, repo: GitRepo, home: Path, log: Timeline) -> None:
    """Remove what an earlier demo left: its deployment (a commit) and its CT state."""
    from slipway.core.errors import NotFound
    from slipway.gitops.push import undeploy

    try:
        undeploy(
            workspace, repo, home, name=DEPLOYMENT, environment=ENVIRONMENT,
            reason="a new demo starts from scratch", author="slipway-demo",
        )  # fmt: skip
        log("reset", f"removed the previous demo's deployment {DEPLOYMENT!r}")
    except NotFound:
        pass
    (home / "ct" / f"{DEPLOYMENT}.json").unlink(missing_ok=True)


def _endpoint(home: Path, repo: GitRepo) -> str:
    from slipway.gitops.targets import make_targets

    observed = make_targets(home, ENVIRONMENT, repo)["local"].observe(DEPLOYMENT)
    if observed is None or not observed.endpoints:
        raise SystemExit(f"deployment {DEPLOYMENT!r} is not running; see `slipway deployments`")
    return f"{observed.endpoints[0]}/predict"


def _wait_logged(workspace: Workspace, since: datetime, count: int) -> None:
    """The servers flush their prediction log every second: wait until ``count`` rows are in."""
    from slipway.monitoring.windows import WHOLE_SPAN, windows

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = windows(
            workspace.settings.home / "logs",
            DEPLOYMENT,
            window=None,
            every_n=WHOLE_SPAN,
            since=since,
        )
        if sum(w.rows for w in found) >= count:
            return
        time.sleep(0.5)


def _drift_line(workspace: Workspace, since: datetime, until: datetime) -> tuple[float, str]:
    from slipway.monitoring.monitor import drift_over_time
    from slipway.monitoring.windows import WHOLE_SPAN

    found = drift_over_time(workspace, DEPLOYMENT, every_n=WHOLE_SPAN, since=since, until=until)
    if not found:
        return 0.0, "no predictions logged"
    latest = max(found, key=lambda w: w.rows)
    drifted = [c.column for c in latest.features.columns if c.drifted]
    share = latest.features.share_drifted
    text = f"{len(drifted)} of {len(latest.features.columns)} features drifted ({share:.0%})"
    if drifted:
        shown = ", ".join(drifted[:4]) + (", …" if len(drifted) > 4 else "")
        text += f": {shown}"
    if latest.prediction is not None:
        verdict = "drifted" if latest.prediction.drifted else "stable"
        text += f"; predictions {verdict}"
    return share, text


def _accuracy(home: Path, since: datetime, until: datetime) -> dict[int, tuple[float, int]]:
    """Realised accuracy and labelled count per version over [since, until]."""
    from slipway.monitoring.performance import compute_performance
    from slipway.monitoring.windows import WHOLE_SPAN

    report = compute_performance(
        home / "logs", home / "labels", DEPLOYMENT, window=None, every_n=WHOLE_SPAN,
        since=since, until=until,
    )  # fmt: skip
    found = {}
    for w in report.windows:
        value = w.metrics.get("accuracy")
        if value is not None:
            found[w.version] = (float(value), w.labelled)
    return found


def _ingest(home: Path, truth: dict[str, int], share: float, seed: int) -> str:
    """Labels arrive for ``share`` of the requests (not all ground truth ever comes back)."""
    import numpy as np

    from slipway.monitoring.labels import ingest_labels

    ids = sorted(truth)
    keep = np.random.default_rng(seed).random(len(ids)) < share
    chosen = [i for i, k in zip(ids, keep, strict=True) if k]
    frame = pd.DataFrame({"request_id": chosen, "label": [truth[i] for i in chosen]})
    report = ingest_labels(
        home / "labels", DEPLOYMENT, frame, log_root=home / "logs", source="demo"
    )
    return f"{report.stored} labels stored for {len(ids)} predictions, {report.unknown} unknown"


def _on_status(log: Timeline) -> Callable[[DeploymentStatus], None]:
    """Print the rollout's progress once per step and reason (not every 0.5 s look)."""
    seen: set[tuple[str, int]] = set()

    def show(status: DeploymentStatus) -> None:
        progressing = status.condition("Progressing")
        if progressing is None or progressing.status != "True":
            return
        key = (progressing.reason, status.rollout.step if status.rollout else -1)
        if key not in seen:
            seen.add(key)
            log("analysis", f"{progressing.reason}: {progressing.message}")

    return show


def demo(
    project: Annotated[
        Path, typer.Option(help="The example pipeline project the loop trains with.")
    ] = Path("examples/tabular"),
    quick: Annotated[
        bool, typer.Option("--quick", help="Only the SDK tour: train, log, register, load.")
    ] = False,
) -> None:
    """The whole loop, unattended: train, gate, deploy by commit, serve, shift, detect drift,
    labels, retrain, canary, promote — with a timeline, an HTML report and the history."""
    if quick:
        quick_tour()
        return
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    from slipway.ct.loop import ContinuousTraining
    from slipway.ct.policy import load_policy
    from slipway.gitops.agent import Agent, environment_lock
    from slipway.gitops.push import apply, deploy, undeploy
    from slipway.gitops.repo import GitRepo
    from slipway.monitoring.report import write_report
    from slipway.registry import RegistryClient
    from slipway.workspace import Workspace

    if not (project / "pipelines" / "train.yaml").is_file():
        raise SystemExit(f"{project}: no pipelines/train.yaml; pass --project examples/tabular")
    if shutil.which("git") is None:
        raise SystemExit("the demo commits to a GitOps repository: install git")
    project = project.resolve()
    workspace = Workspace()
    home = workspace.settings.home.resolve()
    repo = GitRepo.default(home)
    registry = RegistryClient(workspace)
    log = Timeline()
    console.print(f"Slipway demo in [bold]{home}[/bold] (tracking {workspace.tracking_uri})")
    _fresh_start(workspace, repo, home, log)
    data = load_breast_cancer(as_frame=True).frame
    rng = np.random.default_rng(2026)  # the same traffic every run: comparable timelines
    run_tag = f"demo{int(time.time())}"

    # 1. train → gates → register
    log("train", f"`slipway run train` in {project.name}: prepare, validate, train, evaluate, gate")
    _run_pipeline(project, home)
    first = registry.get_model_version_by_alias(MODEL, "challenger")
    log("gates", f"{MODEL} v{first.version} passed its gates (thresholds, slices, infra)")
    log("register", f"models:/{MODEL}/{first.version} registered with lineage and a profile")

    # 2. deploy: a commit, applied by the reconciler (local `slipway serve` processes)
    pushed = deploy(
        workspace, repo, home, name=DEPLOYMENT, model_uri=f"models:/{MODEL}/{first.version}",
        environment=ENVIRONMENT, reason="first release of the breast-cancer classifier",
        author="slipway-demo", strategy="canary", timeout=180,
    )  # fmt: skip
    log("deploy", f"commit {pushed.commit[:12]}: {DEPLOYMENT} serves v{first.version}")
    url = _endpoint(home, repo)

    # 3. serve traffic like the training data, then after a scanner recalibration
    start = datetime.now(UTC)
    traffic = Traffic(url, run_tag)
    traffic.send(data.sample(150, random_state=rng.integers(1 << 31), replace=True))
    shift_at = datetime.now(UTC)
    log("serve", f"{traffic.sent} requests to {url}, {traffic.failed} failed")
    sample = data.sample(220, random_state=rng.integers(1 << 31), replace=True)
    traffic.send(_magnified(sample))
    log("shift", f"scanner recalibrated: sizes {MAGNIFY}x; {traffic.sent} requests so far")
    _wait_logged(workspace, start, traffic.sent - traffic.failed)
    shifted_at = datetime.now(UTC)

    # 4. drift detected against the profile stored with the version
    _, before = _drift_line(workspace, start, shift_at)
    log("drift", f"before the shift: {before}")
    _, after = _drift_line(workspace, shift_at, shifted_at)
    log("drift", f"after the shift: {after}")

    # 5. labels arrive (delayed ground truth) and performance drops
    log("labels", _ingest(home, traffic.truth, 0.9, int(rng.integers(1 << 31))))
    old = _accuracy(home, start, shift_at).get(first.version)
    new = _accuracy(home, shift_at, shifted_at).get(first.version)
    if old and new:
        log("perf", f"accuracy {old[0]:.3f} → {new[0]:.3f} ({new[1]} labelled after the shift)")

    # 6. continuous training: the policy's trigger fires, retrain, gates, canary commit
    policy_path = home / "demo" / "ct.yaml"
    policy_path.parent.mkdir(parents=True, exist_ok=True)
    policy_path.write_text(
        CT_POLICY.format(
            deployment=DEPLOYMENT, environment=ENVIRONMENT, model=MODEL, project=project
        )
    )
    log("retrain", f"continuous training ({policy_path}) looks at the triggers")
    result = ContinuousTraining(workspace, repo, home, load_policy(policy_path)).check()
    if result.outcome != "deployed" or result.commit is None:
        raise SystemExit(f"continuous training did not deploy: {result.outcome}: {result.reason}")
    log("retrain", f"fired: {result.fired.describe() if result.fired else '?'}")
    log("gates", f"{result.candidate} passed the gates against the champion")
    log("canary", f"commit {result.commit[:12]} by slipway-ct: canary of {result.candidate}")

    # 7. the reconciler rolls the canary out with analysis while traffic flows
    live = Traffic(url, f"{run_tag}-canary").start(
        _magnified(data.sample(3000, random_state=1, replace=True)), pause=0.01
    )
    agent = Agent(ENVIRONMENT, repo, workspace, home=home, actor="slipway-demo")
    try:
        with environment_lock(home, ENVIRONMENT):
            status = apply(agent, DEPLOYMENT, timeout=240, on_status=_on_status(log))
    finally:
        live.stop()
    rollout = status.rollout if status is not None else None
    outcome = rollout.outcome if rollout is not None else "unknown"
    champion = registry.get_model_version_by_alias(MODEL, "champion")
    log("promote", f"rollout {outcome}; champion is now v{champion.version}")
    _wait_logged(workspace, shifted_at, live.sent - live.failed)
    log("labels", _ingest(home, live.truth, 0.9, 7))
    recovered = _accuracy(home, shifted_at, datetime.now(UTC))
    if recovered:
        text = ", ".join(f"v{v} {a:.3f} ({n} labelled)" for v, (a, n) in sorted(recovered.items()))
        log("perf", f"accuracy on shifted traffic during the canary: {text}")

    # 8. report, history, and stop the servers
    report = write_report(workspace, DEPLOYMENT, output=home / "demo-report.html", window="30s")
    log("report", f"{report}")
    undeploy(
        workspace, repo, home, name=DEPLOYMENT, environment=ENVIRONMENT,
        reason="demo finished: stop its servers", author="slipway-demo",
    )  # fmt: skip
    log("stop", "servers stopped (an undeploy commit; the history stays)")
    _summary(log, report, result.candidate, traffic.failed + live.failed)


def quick_tour() -> None:
    """Train a model, log the run, register a version, make it champion, load it back, predict
    (the SDK in ten seconds; no servers)."""
    # Imported here: scikit-learn costs seconds to import and no other command needs it.
    import numpy as np
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import train_test_split

    import slipway

    started = time.perf_counter()
    console.print(f"tracking store: [bold]{slipway.get_tracking_uri()}[/bold]")
    data = load_breast_cancer(as_frame=True)
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.25, random_state=0, stratify=data.target
    )
    params = {"n_estimators": 100, "max_depth": 3, "learning_rate": 0.1, "random_state": 0}

    slipway.set_experiment(EXPERIMENT)
    with slipway.start_run(run_name="gbm-breast-cancer") as run:
        slipway.log_params(params)
        slipway.log_input(x_train, name="breast-cancer-train", source="sklearn.datasets")
        slipway.log_input(x_test, name="breast-cancer-test", context="evaluation")
        model = GradientBoostingClassifier(**params)
        with console.status("training GradientBoostingClassifier"):
            model.fit(x_train, y_train)
        # Training curve: one point per boosting stage, as a training loop would log it.
        for step, proba in enumerate(model.staged_predict_proba(x_test)):
            slipway.log_metric("test_roc_auc", float(roc_auc_score(y_test, proba[:, 1])), step=step)
        scores = model.predict_proba(x_test)[:, 1]
        metrics = {
            "roc_auc": float(roc_auc_score(y_test, scores)),
            "accuracy": float(accuracy_score(y_test, model.predict(x_test))),
        }
        slipway.log_metrics(metrics)
        logged = slipway.log_model(model, "model", input_example=x_train.head(5))
    console.print(f"run [bold]{run.info.run_id}[/bold] finished: {metrics}")

    version = slipway.register_model(logged.model_uri, QUICK_MODEL)
    slipway.set_alias(QUICK_MODEL, "champion", version.version)
    console.print(f"registered [bold]{QUICK_MODEL}[/bold] version {version.version} as champion")

    champion = slipway.load_model(f"models:/{QUICK_MODEL}@champion")
    sample = x_test.head(5)
    predicted = np.asarray(champion.predict(sample))
    print_table(
        f"models:/{QUICK_MODEL}@champion on 5 held-out rows",
        ["row", "predicted", "actual"],
        [
            (int(i), int(p), int(a))
            for i, p, a in zip(sample.index, predicted, y_test.head(5), strict=True)
        ],
    )
    console.print(
        Panel.fit(
            f"slipway models show {QUICK_MODEL}\n"
            f"slipway models lineage {QUICK_MODEL} {version.version}\n"
            f"slipway runs show {run.info.run_id}",
            title=f"done in {time.perf_counter() - started:.1f}s; look around with",
        )
    )


def _summary(log: Timeline, report: Path, candidate: str | None, failed: int) -> None:
    print_table("timeline", ["at", "stage", "what happened"], log.entries)
    total = time.perf_counter() - log.started
    console.print(
        Panel.fit(
            f"open {report}\n"
            f"slipway history --env {ENVIRONMENT}\n"
            f"slipway models timeline {MODEL}\n"
            f"slipway models lineage {candidate.rsplit('/', 2)[-2] if candidate else MODEL} "
            f"{candidate.rsplit('/', 1)[-1] if candidate else ''}\n"
            f"slipway monitor drift {DEPLOYMENT} --window 30s",
            title=f"the loop closed in {total:.0f}s, {failed} failed requests; look around with",
        )
    )
