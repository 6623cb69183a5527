"""Tracking and registry: Slipway against MLflow, same workloads, same machine, same run.

Usage (after ``make test`` or ``make demo`` for .venv and ``benchmarks/setup.sh`` for the peer)::

    .venv/bin/python benchmarks/tracking_vs_mlflow.py [--quick] [--repeat N]

Every measurement runs in a fresh worker process (this script with ``--worker``) on the
interpreter of the system measured: Slipway on ``.venv/bin/python``, MLflow on
``benchmarks/.venv/bin/python``. Each worker gets its own temporary folder holding its store
(SQLite plus local files), a temporary HOME and MLflow telemetry turned off. Imports, store
creation and model training happen before the clock starts; only the workload is timed, and
the worker checks afterwards that everything it logged was stored.

Workloads:

- loop: N ``log_metric`` calls, one per point, inside one run; the time covers starting the
  run and ending it, so metrics Slipway buffers are flushed inside the measurement.
- batch (MLflow only): the same N points through ``MlflowClient.log_batch`` in chunks of 1,000,
  MLflow's documented way to log many points; compared with Slipway's plain loop.
- params: P ``log_param`` calls inside a run (run start and end not timed).
- register: V times (log a LogisticRegression fitted on load_breast_cancer + register it as the
  next version of one model), each under its own artifact name in one run. MLflow runs with
  the defaults users get; ``register_pinned`` repeats it passing ``pip_requirements``, which
  skips MLflow's requirement inference.

The last line printed is one JSON object; ratios are MLflow time / Slipway time, so > 1 means
Slipway is faster.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SLIPWAY_PYTHON = ROOT / ".venv" / "bin" / "python"
PEER_PYTHON = ROOT / "benchmarks" / ".venv" / "bin" / "python"
EXPERIMENT = "bench"
MODEL_NAME = "bench-model"
METRIC_KEY = "loss"
BATCH_CHUNK = 1000
GOALS = {"ratio": 100.0, "ratio_vs_batch": 10.0, "ratio_register": 20.0}
FULL = {"points": 10_000, "params": 100, "versions": 50}
QUICK = {"points": 500, "params": 50, "versions": 2}
STAMPS = ROOT / "benchmarks" / ".work" / "bytecode"


# -- workers: run inside the measured system's interpreter -------------------------------------


def _fit_model() -> Any:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    x, y = load_breast_cancer(return_X_y=True)
    return LogisticRegression(max_iter=10_000).fit(x, y)


def _pip_requirements() -> list[str]:
    import sklearn

    return [f"scikit-learn=={sklearn.__version__}"]


def slipway_worker(workload: str, count: int) -> dict[str, Any]:
    import slipway

    slipway.set_experiment(EXPERIMENT)  # opens and migrates the store before the clock starts
    if workload == "loop":
        started = time.perf_counter()
        with slipway.start_run() as run:
            for i in range(count):
                slipway.log_metric(METRIC_KEY, 1.0 / (i + 1), step=i)
        seconds = time.perf_counter() - started
        stored = len(slipway.TrackingClient().get_metric_history(run.info.run_id, METRIC_KEY))
    elif workload == "params":
        with slipway.start_run() as run:
            started = time.perf_counter()
            for i in range(count):
                slipway.log_param(f"param_{i}", i)
            seconds = time.perf_counter() - started
        stored = len(slipway.TrackingClient().get_run(run.info.run_id).data.params)
    elif workload == "register":
        model = _fit_model()
        with slipway.start_run():
            started = time.perf_counter()
            for i in range(count):
                slipway.log_model(model, f"model-{i}", registered_model_name=MODEL_NAME)
            seconds = time.perf_counter() - started
        stored = len(slipway.search_model_versions(MODEL_NAME))
    else:
        raise SystemExit(f"slipway has no workload {workload!r}")
    return {"seconds": seconds, "stored": stored, "version": slipway.__version__}


def mlflow_worker(workload: str, count: int, store: Path) -> dict[str, Any]:
    mlflow: Any = importlib.import_module("mlflow")
    entities: Any = importlib.import_module("mlflow.entities")

    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    # Creating the database (migrations) and the experiment is not part of any workload.
    client.create_experiment(EXPERIMENT, artifact_location=(store / "mlartifacts").as_uri())
    mlflow.set_experiment(EXPERIMENT)
    if workload == "loop":
        started = time.perf_counter()
        with mlflow.start_run() as run:
            for i in range(count):
                mlflow.log_metric(METRIC_KEY, 1.0 / (i + 1), step=i)
        seconds = time.perf_counter() - started
        stored = len(client.get_metric_history(run.info.run_id, METRIC_KEY))
    elif workload == "batch":
        started = time.perf_counter()
        with mlflow.start_run() as run:
            for first in range(0, count, BATCH_CHUNK):
                now = int(time.time() * 1000)
                points = [
                    entities.Metric(METRIC_KEY, 1.0 / (i + 1), now, i)
                    for i in range(first, min(first + BATCH_CHUNK, count))
                ]
                client.log_batch(run.info.run_id, metrics=points)
        seconds = time.perf_counter() - started
        stored = len(client.get_metric_history(run.info.run_id, METRIC_KEY))
    elif workload == "params":
        with mlflow.start_run() as run:
            started = time.perf_counter()
            for i in range(count):
                mlflow.log_param(f"param_{i}", i)
            seconds = time.perf_counter() - started
        stored = len(client.get_run(run.info.run_id).data.params)
    elif workload in ("register", "register_pinned"):
        flavor: Any = importlib.import_module("mlflow.sklearn")
        model = _fit_model()
        extra: dict[str, Any] = {}
        if workload == "register_pinned":
            extra["pip_requirements"] = _pip_requirements()
        with mlflow.start_run():
            started = time.perf_counter()
            for i in range(count):
                flavor.log_model(
                    model, name=f"model-{i}", registered_model_name=MODEL_NAME, **extra
                )
            seconds = time.perf_counter() - started
        stored = len(client.search_model_versions(f"name='{MODEL_NAME}'"))
    else:
        raise SystemExit(f"mlflow has no workload {workload!r}")
    return {"seconds": seconds, "stored": stored, "version": mlflow.__version__}


def run_worker(system: str, workload: str, count: int, store: Path) -> None:
    if system == "slipway":
        result = slipway_worker(workload, count)
    else:
        result = mlflow_worker(workload, count, store)
    if result["stored"] != count:
        raise SystemExit(f"{system} {workload}: logged {count}, found {result['stored']} stored")
    print(json.dumps(result))


# -- driver ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    system: str
    workload: str
    count: int
    seconds: float
    version: str

    @property
    def per_item_ms(self) -> float:
        return self.seconds / self.count * 1000


def measure(system: str, workload: str, count: int, python: Path, repeat: int) -> Measurement:
    """Median of ``repeat`` fresh worker processes, each on a store of its own."""
    times: list[float] = []
    version = "?"
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix=f"bench-{system}-") as tmp:
            store = Path(tmp)
            home = store / "home"
            home.mkdir()
            env = {k: v for k, v in os.environ.items() if not k.startswith(("SLIPWAY_", "MLFLOW_"))}
            env.update(
                HOME=str(home),
                SLIPWAY_HOME=str(store / ".slipway"),
                MLFLOW_DISABLE_TELEMETRY="true",
                DO_NOT_TRACK="1",
                PYTHONWARNINGS="ignore",
            )
            command = [str(python), str(Path(__file__).resolve()), "--worker", system]
            command += ["--workload", workload, "--count", str(count), "--store", str(store)]
            done = subprocess.run(command, cwd=store, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                sys.stderr.write(done.stdout + done.stderr)
                raise SystemExit(f"{system} {workload} worker failed ({done.returncode})")
            result = json.loads(done.stdout.strip().splitlines()[-1])
        times.append(float(result["seconds"]))
        version = str(result["version"])
    return Measurement(system, workload, count, statistics.median(times), version)


def _check_python(python: Path, what: str, hint: str) -> None:
    if not python.is_file():
        raise SystemExit(f"{what} interpreter {python} not found: {hint}")


def compile_bytecode(python: Path, *extra: Path) -> None:
    """Write missing .pyc files of an environment (up-to-date ones are skipped).

    pip compiles on install, uv does not by default, and with PYTHONDONTWRITEBYTECODE set
    nothing is ever cached: each worker would then compile every module it imports, some of
    them inside the timed region (MLflow's requirement inference starts a fresh interpreter
    per logged model). Both sides are measured as a pip install leaves them.
    """
    purelib = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # Checking every file takes seconds: skip the environment when nothing was installed into
    # it since the last pass (installing touches site-packages itself).
    stamp = STAMPS / f"{hashlib.sha256(str(purelib).encode()).hexdigest()[:16]}.stamp"
    targets = [*extra]
    if not stamp.exists() or stamp.stat().st_mtime < purelib.stat().st_mtime:
        targets.append(purelib)
    command = [str(python), "-m", "compileall", "-q", "-j", "0", *map(str, targets)]
    subprocess.run(command, capture_output=True, check=False)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.touch()


def print_table(rows: list[tuple[str, ...]]) -> None:
    header = ("workload", "system", "items", "seconds", "ms/item", "mlflow/slipway")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    print(line)
    for row in [header, *rows]:
        print(
            "  ".join(
                c.ljust(w) if i < 2 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if row is header:
            print(line)
    print(line)


def drive(args: argparse.Namespace) -> None:
    _check_python(args.slipway_python, "Slipway", "run `make test` (or `make demo`) first")
    _check_python(args.peer_python, "peer", "run `benchmarks/setup.sh` first")
    counts = dict(QUICK if args.quick else FULL)
    if not args.no_compile:
        print("… compiling bytecode of both environments", file=sys.stderr, flush=True)
        compile_bytecode(args.slipway_python, ROOT / "src")
        compile_bytecode(args.peer_python)
    plan = [
        ("slipway", "loop", counts["points"]),
        ("mlflow", "loop", counts["points"]),
        ("mlflow", "batch", counts["points"]),
        ("slipway", "params", counts["params"]),
        ("mlflow", "params", counts["params"]),
        ("slipway", "register", counts["versions"]),
        ("mlflow", "register", counts["versions"]),
    ]
    if not (args.skip_pinned or args.quick):
        plan.append(("mlflow", "register_pinned", counts["versions"]))
    results: dict[tuple[str, str], Measurement] = {}
    for system, workload, count in plan:
        python = args.slipway_python if system == "slipway" else args.peer_python
        print(f"… {system} {workload} ({count})", file=sys.stderr, flush=True)
        results[system, workload] = measure(system, workload, count, python, args.repeat)

    def secs(system: str, workload: str) -> float:
        return results[system, workload].seconds

    ratios = {
        "ratio": secs("mlflow", "loop") / secs("slipway", "loop"),
        "ratio_vs_batch": secs("mlflow", "batch") / secs("slipway", "loop"),
        "ratio_params": secs("mlflow", "params") / secs("slipway", "params"),
        "ratio_register": secs("mlflow", "register") / secs("slipway", "register"),
    }
    if ("mlflow", "register_pinned") in results:
        ratios["ratio_register_pinned"] = secs("mlflow", "register_pinned") / secs(
            "slipway", "register"
        )
    baseline = {"loop": "loop", "batch": "loop", "params": "params"}
    rows: list[tuple[str, ...]] = []
    for (system, workload), m in results.items():
        against = results["slipway", baseline.get(workload, "register")]
        ratio = "" if system == "slipway" else f"{m.seconds / against.seconds:.1f}x"
        rows.append(
            (
                workload,
                f"{system} {m.version}",
                f"{m.count:,}",
                f"{m.seconds:.3f}",
                f"{m.per_item_ms:.3f}",
                ratio,
            )
        )
    print_table(rows)
    for key, goal in GOALS.items():
        verdict = "met" if ratios[key] >= goal else "MISSED"
        print(f"{key}: {ratios[key]:.1f} (goal >= {goal:g}) {verdict}")
    if args.quick:
        print(
            "--quick: fixed costs (run start, first-call imports) dominate; "
            "the goals are for the full run"
        )
    summary: dict[str, Any] = {"benchmark": "tracking_vs_mlflow", "quick": args.quick}
    summary.update({k: round(v, 2) for k, v in ratios.items()})
    summary.update(
        {f"{s}_{w}_s": round(m.seconds, 4) for (s, w), m in results.items()},
    )
    summary.update(
        counts,
        repeat=args.repeat,
        goals_met={k: ratios[k] >= g for k, g in GOALS.items()},
        mlflow_version=results["mlflow", "loop"].version,
        slipway_version=results["slipway", "loop"].version,
    )
    print(json.dumps(summary))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts, well under 1 min")
    parser.add_argument("--repeat", type=int, default=1, help="worker runs per cell (median)")
    parser.add_argument(
        "--skip-pinned",
        action="store_true",
        help="skip MLflow register with pip_requirements (always skipped by --quick)",
    )
    parser.add_argument(
        "--no-compile", action="store_true", help="do not write missing .pyc files first"
    )
    parser.add_argument("--slipway-python", type=Path, default=SLIPWAY_PYTHON)
    parser.add_argument("--peer-python", type=Path, default=PEER_PYTHON)
    parser.add_argument("--worker", choices=["slipway", "mlflow"], help=argparse.SUPPRESS)
    parser.add_argument("--workload", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_worker(args.worker, args.workload, args.count, args.store)
    else:
        drive(args)


if __name__ == "__main__":
    main()
