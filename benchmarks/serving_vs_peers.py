"""Slipway's inference server against `mlflow models serve`, BentoML and two floors.

The same model (GradientBoostingClassifier, 100 trees, depth 3, on load_breast_cancer, seed 0)
is served by:

- **slipway**: `slipway serve models:/bc@champion` (1 worker, defaults: adaptive batching and
  the prediction log on);
- **mlflow**: `mlflow models serve --env-manager local` (1 worker), from benchmarks/.venv;
- **bentoml**: a BentoML service with `batchable=True` (defaults otherwise), from
  benchmarks/.venv-bentoml;
- **floor-http**: the same web stack as Slipway (Starlette on uvicorn + uvloop + httptools,
  TCP_NODELAY) with an endpoint that reads the body and returns a constant: the cost of HTTP;
- **floor-model**: an in-process `predict` loop: the cost of the model.

One server runs at a time; one `wrk` process (Debian's `wrk`, a Lua script for the POST body)
loads it at each concurrency with 1-row and 32-row requests for a fixed duration. Before the
load, each server's answers are checked against the in-process predictions for the same rows.
Servers bind 127.0.0.1 only and are stopped at the end, whatever happens.

Usage: `.venv/bin/python benchmarks/serving_vs_peers.py [--quick]` after
`benchmarks/setup.sh` (see benchmarks/README.md). The last line printed is one JSON object;
`"ratio"` is Slipway's rows/s over mlflow's at concurrency 64 with 1-row requests.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SLIPWAY_PYTHON = ROOT / ".venv" / "bin" / "python"
MLFLOW_PYTHON = HERE / ".venv" / "bin" / "python"
BENTOML_PYTHON = HERE / ".venv-bentoml" / "bin" / "python"
HEADLINE = (64, 1)  # concurrency, rows per request

TRAIN = textwrap.dedent(
    """
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import GradientBoostingClassifier

    def train():
        x, y = load_breast_cancer(return_X_y=True, as_frame=True)
        model = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0)
        return model.fit(x, y), x
    """
)

MLFLOW_SAVE = TRAIN + textwrap.dedent(
    """
    import sys
    import mlflow.sklearn

    model, x = train()
    mlflow.sklearn.save_model(
        model, sys.argv[1], input_example=x.head(2),
        skops_trusted_types=["sklearn.tree._tree.Tree"],  # mlflow 3 refuses trees otherwise
    )
    """
)

BENTOML_SAVE = TRAIN + textwrap.dedent(
    """
    import sys
    import joblib  # the benchmark's own file, written just now: what BentoML users do

    model, _ = train()
    joblib.dump(model, sys.argv[1])
    """
)

BENTOML_SERVICE = textwrap.dedent(
    """
    import bentoml
    import joblib
    import numpy as np

    @bentoml.service(workers=1)
    class Classifier:
        def __init__(self) -> None:
            self.model = joblib.load("{model}")

        @bentoml.api(batchable=True)
        def predict(self, input: np.ndarray) -> np.ndarray:
            return self.model.predict(input)
    """
)

FLOOR_APP = textwrap.dedent(
    """
    import sys
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route
    from slipway.serving.server import NoDelayHttpToolsProtocol

    BODY = b'{"predictions": [0]}'

    async def predict(request):
        await request.body()
        return Response(BODY, media_type="application/json")

    async def ping(request):
        return Response(b"ok")

    app = Starlette(routes=[Route("/predict", predict, methods=["POST"]), Route("/ping", ping)])
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), http=NoDelayHttpToolsProtocol,
                loop="uvloop", access_log=False, log_level="warning")
    """
)

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[{body}]==]
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"errors": %d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


@dataclass(frozen=True)
class Point:
    server: str
    concurrency: int
    rows: int
    rows_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass(frozen=True)
class Target:
    """One server under test: how to start it, where to POST, how to read its answers."""

    name: str
    command: list[str]
    env: dict[str, str]
    ready_path: str
    predict_path: str
    encode: Callable[[pd.DataFrame], Any]
    decode: Callable[[Any], list[int]] | None
    cwd: Path | None = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def quiet_env(home: Path) -> dict[str, str]:
    """A child environment with telemetry off and HOME in the work dir (mlflow writes there)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLIPWAY_", "MLFLOW_"))}
    env.update(
        HOME=str(home),
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="1",
        BENTOML_DO_NOT_TRACK="True",
        BENTOML_HOME=str(home / "bentoml"),
        PYTHONWARNINGS="ignore",
    )
    return env


def records(frame: pd.DataFrame) -> Any:
    return {"dataframe_records": frame.to_dict(orient="records")}


def prepare(work: Path, peers: list[str]) -> tuple[dict[str, Target], Any, pd.DataFrame]:
    """Train and save the model for each system; the targets to start, the in-process model."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import GradientBoostingClassifier

    from slipway.registry import RegistryClient
    from slipway.store import migrate
    from slipway.store.engine import create_sql_engine
    from slipway.tracking import TrackingClient
    from slipway.workspace import Workspace

    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0).fit(x, y)

    home = work / "slipway"
    home.mkdir()
    uri = f"sqlite:///{home / 'slipway.db'}"
    engine = create_sql_engine(uri)
    migrate.upgrade(engine)
    engine.dispose()
    ws = Workspace(uri, (home / "artifacts").as_uri())
    tracking = TrackingClient(ws)
    run = tracking.create_run(tracking.create_experiment("bench").experiment_id)
    tracking.log_model(run.run_id, model, input_example=x.head(2))
    registry = RegistryClient(ws)
    registry.register_model(f"runs:/{run.run_id}/model", "bc")
    registry.set_alias("bc", "champion", 1)
    ws.close()

    base = quiet_env(work)
    targets: dict[str, Target] = {}
    slipway_env = base | {
        "SLIPWAY_HOME": str(home),
        "SLIPWAY_TRACKING_URI": uri,
        "SLIPWAY_ARTIFACT_URI": (home / "artifacts").as_uri(),
    }
    targets["slipway"] = Target(
        "slipway",
        [str(SLIPWAY_PYTHON), "-m", "slipway.cli.main", "serve", "models:/bc@champion"],
        slipway_env,
        "/v2/health/ready",
        "/predict",
        records,
        lambda doc: list(doc["predictions"]),
    )
    if "mlflow" in peers:
        path = work / "mlflow-model"
        subprocess.run(
            [str(MLFLOW_PYTHON), "-c", MLFLOW_SAVE, str(path)], env=base, check=True, cwd=work
        )
        targets["mlflow"] = Target(
            "mlflow",
            [
                *(str(HERE / ".venv" / "bin" / "mlflow"), "models", "serve", "-m", str(path)),
                *("--env-manager", "local", "--host", "127.0.0.1", "-w", "1"),
            ],
            base | {"PATH": f"{HERE / '.venv' / 'bin'}:{base['PATH']}"},  # it execs uvicorn
            "/ping",
            "/invocations",
            records,
            lambda doc: list(doc["predictions"]),
        )
    if "bentoml" in peers:
        path = work / "bentoml-model.joblib"
        subprocess.run(
            [str(BENTOML_PYTHON), "-c", BENTOML_SAVE, str(path)], env=base, check=True, cwd=work
        )
        service = work / "bento"
        service.mkdir()
        (service / "service.py").write_text(BENTOML_SERVICE.replace("{model}", str(path)))
        targets["bentoml"] = Target(
            "bentoml",
            [
                *(str(HERE / ".venv-bentoml" / "bin" / "bentoml"), "serve", "service:Classifier"),
                *("--host", "127.0.0.1"),
            ],
            base | {"PATH": f"{HERE / '.venv-bentoml' / 'bin'}:{base['PATH']}"},
            "/readyz",
            "/predict",
            lambda frame: {"input": frame.to_numpy().tolist()},
            lambda doc: list(doc),
            cwd=service,
        )
    targets["floor-http"] = Target(
        "floor-http",
        [str(SLIPWAY_PYTHON), "-c", FLOOR_APP],
        base,
        "/ping",
        "/predict",
        records,
        None,
    )
    return targets, model, x


@contextlib.contextmanager
def running(target: Target, work: Path) -> Iterator[str]:
    """Start a server on a free port, wait until it answers ready, stop it afterwards."""
    port = free_port()
    command = list(target.command)
    command += [str(port)] if target.name == "floor-http" else ["--port", str(port)]
    log = work / f"{target.name}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command,
            env=target.env,
            cwd=target.cwd or work,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{target.name} exited:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + target.ready_path, timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{target.name} not ready in 180 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def check_answers(target: Target, url: str, model: Any, x: pd.DataFrame) -> None:
    """The server's predictions for 32 rows equal the in-process ones."""
    if target.decode is None:
        return
    rows = x.iloc[100:132]
    response = httpx.post(url + target.predict_path, json=target.encode(rows), timeout=30)
    response.raise_for_status()
    got = [int(v) for v in target.decode(response.json())]
    if got != model.predict(rows).tolist():
        raise RuntimeError(f"{target.name} answers differ from the in-process model")


def wrk(url: str, body: bytes, concurrency: int, duration: float, work: Path) -> dict[str, int]:
    script = work / "post.lua"
    script.write_text(WRK_SCRIPT.format(body=body.decode()))
    threads = min(2, concurrency)
    out = subprocess.run(
        [
            *("wrk", f"-t{threads}", f"-c{concurrency}", f"-d{max(1, round(duration))}s"),
            *("--timeout", "10s", "-s", str(script), url),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(line for line in out.splitlines() if line.startswith("WRKJSON "))
    result: dict[str, int] = json.loads(line.removeprefix("WRKJSON "))
    return result


def measure_server(
    target: Target,
    work: Path,
    model: Any,
    x: pd.DataFrame,
    concurrencies: list[int],
    sizes: list[int],
    duration: float,
) -> list[Point]:
    points = []
    with running(target, work) as url:
        check_answers(target, url, model, x)
        for rows in sizes:
            body = json.dumps(target.encode(x.iloc[:rows])).encode()
            wrk(url + target.predict_path, body, 8, 1.0, work)  # warm-up
            for concurrency in concurrencies:
                r = wrk(url + target.predict_path, body, concurrency, duration, work)
                seconds = r["duration_us"] / 1e6
                point = Point(
                    target.name,
                    concurrency,
                    rows,
                    r["requests"] * rows / seconds,
                    r["p50_us"] / 1000,
                    r["p99_us"] / 1000,
                    r["errors"],
                )
                print(format_point(point), flush=True)
                points.append(point)
    return points


def measure_model(model: Any, x: pd.DataFrame, sizes: list[int], duration: float) -> list[Point]:
    """The in-process floor: `predict` in a loop on the same DataFrame rows."""
    points = []
    for rows in sizes:
        frame = x.iloc[:rows]
        calls, started = 0, time.perf_counter()
        latencies = []
        while time.perf_counter() - started < duration:
            t = time.perf_counter()
            model.predict(frame)
            latencies.append(time.perf_counter() - t)
            calls += 1
        elapsed = time.perf_counter() - started
        p50, p99 = np.percentile(latencies, [50, 99]) * 1000
        point = Point("floor-model", 1, rows, calls * rows / elapsed, p50, p99, 0)
        print(format_point(point), flush=True)
        points.append(point)
    return points


def format_point(p: Point) -> str:
    return (
        f"{p.server:<12} c={p.concurrency:<3} rows={p.rows:<3} {p.rows_per_s:>10,.0f} rows/s  "
        f"p50 {p.p50_ms:>7.1f} ms  p99 {p.p99_ms:>7.1f} ms  errors {p.errors}"
    )


def table(points: list[Point]) -> str:
    servers = list(dict.fromkeys(p.server for p in points))
    keys = sorted({(p.concurrency, p.rows) for p in points if p.server != "floor-model"})
    header = f"{'c':>3} {'rows':>4}  " + "".join(f"{s:>26}" for s in servers)
    lines = ["rows/s (p50 / p99 ms)", header]
    for concurrency, rows in keys:
        cells = []
        for server in servers:
            found = [
                p
                for p in points
                if p.server == server
                and p.rows == rows
                and (p.concurrency == concurrency or server == "floor-model")
            ]
            if found:
                p = found[0]
                cells.append(f"{p.rows_per_s:>9,.0f} ({p.p50_ms:.1f} / {p.p99_ms:.1f})")
            else:
                cells.append("-")
        lines.append(f"{concurrency:>3} {rows:>4}  " + "".join(f"{c:>26}" for c in cells))
    return "\n".join(lines)


def pick(points: list[Point], server: str, concurrency: int, rows: int) -> Point | None:
    for p in points:
        if (p.server, p.concurrency, p.rows) == (server, concurrency, rows):
            return p
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 s points, c=1 and 64 only")
    parser.add_argument("--duration", type=float, default=None, help="seconds per point")
    parser.add_argument(
        "--peers", default="mlflow,bentoml", help="comma-separated: mlflow, bentoml"
    )
    args = parser.parse_args()
    duration = args.duration or (3.0 if args.quick else 15.0)
    concurrencies = [1, 64] if args.quick else [1, 8, 64]
    sizes = [1, 32]
    peers = [p for p in args.peers.split(",") if p]
    for peer, python in (("mlflow", MLFLOW_PYTHON), ("bentoml", BENTOML_PYTHON)):
        if peer in peers and not python.exists():
            sys.exit(f"{peer} is not installed: run benchmarks/setup.sh first")
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk (benchmarks/setup.sh does)")

    work = Path(tempfile.mkdtemp(prefix="slipway-serving-bench-"))
    try:
        targets, model, x = prepare(work, peers)
        points = measure_model(model, x, sizes, min(duration, 3.0))
        for target in targets.values():
            points += measure_server(target, work, model, x, concurrencies, sizes, duration)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print()
    print(table(points))
    slipway = pick(points, "slipway", *HEADLINE)
    assert slipway is not None
    floor = pick(points, "floor-http", *HEADLINE)
    figures: dict[str, Any] = {
        "benchmark": "serving_vs_peers",
        "quick": args.quick,
        "duration_s": duration,
        "slipway_rows_per_s": round(slipway.rows_per_s, 1),
        "slipway_p99_ms": round(slipway.p99_ms, 2),
        "errors": sum(p.errors for p in points),
        "slipway_errors": sum(p.errors for p in points if p.server == "slipway"),
    }
    for peer in peers:
        other = pick(points, peer, *HEADLINE)
        if other is not None:
            figures[f"{peer}_rows_per_s"] = round(other.rows_per_s, 1)
            figures[f"{peer}_p99_ms"] = round(other.p99_ms, 2)
    mlflow = pick(points, "mlflow", *HEADLINE)
    bentoml = pick(points, "bentoml", *HEADLINE)
    if mlflow is not None:
        figures["ratio"] = round(slipway.rows_per_s / mlflow.rows_per_s, 2)
        figures["p99_ratio"] = round(mlflow.p99_ms / slipway.p99_ms, 2)
    if bentoml is not None:
        figures["ratio_bentoml"] = round(slipway.rows_per_s / bentoml.rows_per_s, 2)
    if floor is not None:
        figures["http_floor_fraction"] = round(slipway.rows_per_s / floor.rows_per_s, 3)
    for rows in sizes:
        s, m = pick(points, "slipway", 64, rows), pick(points, "mlflow", 64, rows)
        if s is not None and m is not None:
            figures[f"ratio_rows{rows}"] = round(s.rows_per_s / m.rows_per_s, 2)
    figures.setdefault("ratio", None)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
