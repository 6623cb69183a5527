"""Time from `git commit` of a new version to that version answering 100 % of requests.

Set-up (before the clock): a fresh SLIPWAY_HOME with two versions of a scikit-learn model in
the registry, version 1 deployed (local target), a `slipway agent --env prod` process polling
the GitOps repository every 2 s with its webhook on 127.0.0.1, and a bounded load (one
thread of sequential `/predict` requests) that records which version answered each request
and every failure.

Each round commits a blue-green change to the other version and stops the clock when a
request answered by the new version is followed only by answers from it (the switch is
atomic in the server, so the first such answer marks 100 %). Two modes:

- **webhook**: right after the commit, a GitHub-style push payload signed with
  `X-Hub-Signature-256` is POSTed to the agent, which reconciles at once;
- **poll**: nothing is sent; the agent finds the commit at its next poll (interval 2 s).

Anchor (not measured here, no cluster): Argo CD re-checks git every 120 s plus up to 60 s of
jitter by default, i.e. about 150 s on average without a webhook.

Usage: `.venv/bin/python benchmarks/gitops_latency.py [--quick]`. The last line printed is one
JSON object: `"webhook_s"` and `"poll_s"` (medians), `"failed_requests"`, and `"ratio"` =
poll_s / webhook_s (how much faster the webhook makes a change land than the 2 s poll,
both measured in this run).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
SECRET = "benchmark-webhook-secret"
POLL_S = 2.0


@dataclass
class Load:
    url: str
    rows: list[dict[str, float]]
    answers: list[tuple[float, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(timeout=10) as http:
            for i in range(1_000_000):
                if self.stop.is_set():
                    return
                try:
                    response = http.post(self.url, json=[self.rows[i % len(self.rows)]])
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                    continue
                if response.status_code != 200:
                    self.failures.append(f"{response.status_code} {response.text[:120]}")
                    continue
                version = response.headers["x-slipway-model-version"]
                self.answers.append((time.monotonic(), version))
                time.sleep(0.005)

    def switched_at(self, version: str, since: float) -> float | None:
        """When ``version`` started answering every request after ``since``, if it has."""
        after = [(t, v) for t, v in self.answers if t >= since]
        first = None
        for when, answered in after:
            first = (first if first is not None else when) if answered == version else None
        return first


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def register(home: Path) -> list[dict[str, float]]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    from slipway.registry import RegistryClient
    from slipway.tracking import TrackingClient
    from slipway.workspace import Workspace

    data = load_breast_cancer(as_frame=True)
    x, y = data.data, data.target
    ws = Workspace()
    tracking, registry = TrackingClient(ws), RegistryClient(ws)
    experiment = tracking.create_experiment("gitops-bench")
    for c in (1.0, 0.5):
        model = LogisticRegression(C=c, max_iter=5000).fit(x, y)
        run = tracking.create_run(experiment.experiment_id)
        tracking.log_model(run.run_id, model, input_example=x.head(3))
        registry.register_model(f"runs:/{run.run_id}/model", "bc")
    ws.close()
    rng = np.random.default_rng(0)
    picked = x.iloc[rng.permutation(len(x))[:100]]
    return [{k: float(v) for k, v in r.items()} for r in picked.to_dict("records")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round per mode")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds
    home = Path(tempfile.mkdtemp(prefix="slipway-gitops-bench-")).resolve()
    os.environ.update(SLIPWAY_HOME=str(home), SLIPWAY_ACTOR="bench")
    for var in ("SLIPWAY_TRACKING_URI", "SLIPWAY_ARTIFACT_URI"):
        os.environ.pop(var, None)

    from slipway.deploy.spec import DeploymentFile
    from slipway.gitops.commits import commit_manifest
    from slipway.gitops.push import build_manifest, deploy, pin_model
    from slipway.gitops.repo import GitRepo
    from slipway.gitops.webhook import github_signature
    from slipway.workspace import Workspace

    rows = register(home)
    ws, repo = Workspace(), GitRepo.default(home)
    first = deploy(
        ws, repo, home, name="bc", model_uri="models:/bc/1", environment="prod",
        reason="benchmark set-up", author="bench",
    )  # fmt: skip
    assert first.status is not None
    endpoint = first.status.observed["endpoints"][0]
    hook_port = free_port()
    agent = subprocess.Popen(
        [
            str(PYTHON),
            "-m",
            "slipway.cli.main",
            "agent",
            "--env",
            "prod",
            "--interval",
            str(POLL_S),
            "--webhook-port",
            str(hook_port),
        ],
        env={**os.environ, "SLIPWAY_WEBHOOK_SECRET": SECRET},
        stdout=subprocess.DEVNULL,
        stderr=open(home / "agent.log", "wb"),  # noqa: SIM115 - lives as long as the agent
    )
    load = Load(f"{endpoint}/predict", rows)
    thread = threading.Thread(target=load.run, daemon=True)
    thread.start()
    results: dict[str, list[float]] = {"webhook": [], "poll": []}
    version = 1
    phase = np.random.default_rng(1)
    try:
        time.sleep(3.0)  # the agent's first reconcile (it adopts the running server)
        for mode in ("webhook", "poll") * rounds:
            version = 2 if version == 1 else 1
            manifest: DeploymentFile = build_manifest(
                None, name="bc", environment="prod", model=pin_model(ws, f"models:/bc/{version}"),
                strategy="blue-green",
            )  # fmt: skip
            started = time.monotonic()
            sha = commit_manifest(repo, manifest, f"benchmark {mode}", author="bench")
            if mode == "webhook":
                body = json.dumps({"ref": "refs/heads/main", "after": sha}).encode()
                headers = {
                    "X-GitHub-Event": "push",
                    "X-Hub-Signature-256": github_signature(SECRET, body),
                }
                httpx.post(f"http://127.0.0.1:{hook_port}/hooks/git", content=body, headers=headers)
            deadline = started + 60
            while time.monotonic() < deadline:
                switched = load.switched_at(str(version), started)
                if switched is not None and time.monotonic() - switched > 0.5:
                    break
                time.sleep(0.05)
            else:
                raise SystemExit(f"{mode}: version {version} did not take over in 60 s")
            results[mode].append(switched - started)
            print(f"{mode:8s} v{version}: {switched - started:6.2f} s", flush=True)
            # A random phase against the agent's poll clock, so poll rounds sample it fairly.
            time.sleep(1.0 + float(phase.uniform(0, POLL_S)))
    finally:
        load.stop.set()
        thread.join(10)
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(30)
        except subprocess.TimeoutExpired:
            agent.kill()
        from slipway.gitops.agent import Agent

        Agent("prod", repo, ws, home=home).targets["local"].delete("bc")
    webhook_s = statistics.median(results["webhook"])
    poll_s = statistics.median(results["poll"])
    print(
        f"webhook {webhook_s:.2f} s, poll (every {POLL_S:g} s) {poll_s:.2f} s, "
        f"failed requests {len(load.failures)} of {len(load.answers) + len(load.failures)}; "
        "anchor: Argo CD without a webhook, ~150 s (120 s + up to 60 s jitter)"
    )
    print(
        json.dumps(
            {
                "benchmark": "gitops_latency",
                "quick": args.quick,
                "webhook_s": round(webhook_s, 3),
                "poll_s": round(poll_s, 3),
                "poll_interval_s": POLL_S,
                "failed_requests": len(load.failures),
                "requests": len(load.answers) + len(load.failures),
                "rounds": rounds,
                "ratio": round(poll_s / webhook_s, 2),
                "ratio_vs_argo_default_anchor": round(150.0 / webhook_s, 1),
            }
        )
    )


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
