"""The label store on disk with DuckDB, and ``POST /v2/feedback`` on a real server process."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from slipway.core.errors import InvalidInput
from slipway.monitoring.labels import MAX_LISTED, ingest_labels, labels_from_records, read_labels
from slipway.monitoring.performance import compute_performance
from slipway.serving.predlog import PredictionLog, PredictionRecord, read_log
from tests.integration.serving.conftest import (
    ADMIN_TOKEN,
    MODEL,
    Registry,
    Server,
    free_port,
    registry,  # noqa: F401 - the session fixture, shared with the serving tests
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
DEPLOYMENT = "churn"


def write_log(root: Path, ids: list[str], rows: int = 1) -> None:
    log = PredictionLog(root, flush_interval_s=60)
    log.start()
    for i, rid in enumerate(ids):
        log.submit(
            PredictionRecord(
                request_id=rid,
                time_ms=int((T0 + timedelta(minutes=i)).timestamp() * 1000),
                deployment=DEPLOYMENT,
                model_name="churn-model",
                model_version=1,
                route="champion",
                latency_ms=1.0,
                status=200,
                inputs={"x": np.zeros(rows)},
                outputs={"predict": np.ones(rows, dtype=np.int64)},
            )
        )
    log.close(timeout=10)


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    """(labels root, prediction log root) laid out as under SLIPWAY_HOME."""
    return tmp_path / "labels", tmp_path / "logs"


# -- the store --------------------------------------------------------------------------------


def test_files_of_every_format_are_ingested_and_read_back(
    roots: tuple[Path, Path], tmp_path: Path
) -> None:
    labels, logs = roots
    write_log(logs, ["a", "b", "c"], rows=2)
    csv = tmp_path / "l.csv"
    csv.write_text("request_id,row,label,extra\na,0,yes,x\na,1,no,y\n")
    jsonl = tmp_path / "l.jsonl"
    jsonl.write_text('{"request_id": "b", "label": "yes", "label_time": "2026-03-02T00:00Z"}\n')
    parquet = tmp_path / "l.parquet"
    pd.DataFrame({"request_id": ["c"], "row": [1], "label": [3]}).to_parquet(parquet)

    reports = [ingest_labels(labels, DEPLOYMENT, path, source="batch") for path in (csv, jsonl)]
    reports.append(ingest_labels(labels, DEPLOYMENT, str(parquet)))

    assert [r.stored for r in reports] == [2, 1, 1]
    assert all(r.unknown == 0 and r.path is not None for r in reports)
    assert reports[0].ignored_columns == ["extra"]
    assert not list(labels.rglob(".*.tmp"))  # temporary names never stay behind
    assert len(list((labels / DEPLOYMENT).glob("date=*/part-*.parquet"))) == 3
    current = read_labels(labels, DEPLOYMENT)
    assert list(zip(current["request_id"], current["row"], current["label"], strict=True)) == [
        ("a", 0, "yes"),
        ("a", 1, "no"),
        ("b", 0, "yes"),
        ("c", 1, "3"),  # files of different label types read as their common type
    ]
    assert current["source"].tolist() == ["batch", "batch", "batch", "sdk"]
    assert current["label_time"].iloc[2] == pd.Timestamp("2026-03-02", tz="UTC")


def test_latest_label_time_wins_whatever_the_arrival_order(roots: tuple[Path, Path]) -> None:
    labels, logs = roots
    write_log(logs, ["r1"])
    day = datetime(2026, 3, 5, tzinfo=UTC)
    first = {"request_id": "r1", "label": 1, "label_time": day.isoformat()}
    newer = ingest_labels(labels, DEPLOYMENT, [first])
    older = ingest_labels(
        labels,
        DEPLOYMENT,
        [
            {"request_id": "r1", "label": 0, "label_time": (day - timedelta(days=1)).isoformat()},
            {"request_id": "r1", "label": 0, "label_time": (day - timedelta(days=2)).isoformat()},
        ],
    )

    assert newer.duplicates == 0
    assert newer.out_of_order == 0
    assert older.duplicates == 2
    assert older.out_of_order == 2
    assert read_labels(labels, DEPLOYMENT)["label"].tolist() == [1]
    assert len(read_labels(labels, DEPLOYMENT, history=True)) == 3
    # Equal label times: the label ingested last wins; within a batch, the later row.
    tie = [{"request_id": "r1", "label": v, "label_time": day.isoformat()} for v in (0, 1, 2)]
    report = ingest_labels(labels, DEPLOYMENT, tie)
    assert report.stored == 2
    assert report.unchanged == 1
    assert report.duplicates == 2
    assert report.out_of_order == 0
    assert read_labels(labels, DEPLOYMENT)["label"].tolist() == [2]


def test_unknown_request_ids_are_stored_flagged_and_join_once_logged(
    roots: tuple[Path, Path],
) -> None:
    labels, logs = roots
    write_log(logs, ["known"])
    ids = ["known", *(f"early-{i:03d}" for i in range(MAX_LISTED + 5))]
    report = ingest_labels(labels, DEPLOYMENT, pd.DataFrame({"request_id": ids, "label": 1}))

    assert report.stored == len(ids)
    assert report.unknown == MAX_LISTED + 5
    assert len(report.unknown_request_ids) == MAX_LISTED
    assert report.unknown_request_ids[0] == "early-000"
    stored = read_labels(labels, DEPLOYMENT).set_index("request_id")
    assert stored.loc["known", "matched"]
    assert not stored.loc["early-000", "matched"]
    # The prediction reaches the log after its label: the join finds it all the same.
    assert compute_performance(logs, labels, DEPLOYMENT).windows[0].labelled == 1
    write_log(logs, ["early-000"])
    windows = compute_performance(logs, labels, DEPLOYMENT, window="1d").windows
    assert [w.labelled for w in windows] == [2]


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        (pd.DataFrame({"label": [1]}), "'request_id' is required"),
        (pd.DataFrame({"request_id": ["a"]}), "'label' is required"),
        (pd.DataFrame({"request_id": ["a"], "label": [None]}), "label: missing"),
        (pd.DataFrame({"request_id": ["a", "b"], "label": [1, "x"]}), "label: one type"),
        (pd.DataFrame({"request_id": ["a"], "label": [1], "row": [-1]}), "row:"),
        (pd.DataFrame({"request_id": ["a"], "label": [1], "row": [0.5]}), "row:"),
        (pd.DataFrame({"request_id": [None], "label": [1]}), "request_id:"),
        (pd.DataFrame({"request_id": ["a"], "label": [1], "label_time": ["soon"]}), "label_time"),
        (pd.DataFrame({"request_id": ["a"], "label": [1], "label_time": [5]}), "label_time"),
        (pd.DataFrame({"request_id": [], "label": []}), "no labels"),
        ([{"request_id": "a", "lable": 1}], r"labels\[0\]: unknown field 'lable'"),
        ([{"request_id": "a", "label": 1}, {"label": 1}], r"labels\[1\].request_id"),
        ([], "empty"),
        (Path("missing.csv"), "no label file"),
    ],
)
def test_malformed_batches_name_the_field_and_write_nothing(
    roots: tuple[Path, Path], batch: object, message: str
) -> None:
    labels, _ = roots
    with pytest.raises(InvalidInput, match=message):
        ingest_labels(labels, DEPLOYMENT, batch)  # type: ignore[arg-type]
    assert not labels.exists()


def test_deployment_names_cannot_leave_the_root(roots: tuple[Path, Path]) -> None:
    with pytest.raises(InvalidInput, match="invalid deployment"):
        ingest_labels(roots[0], "../x", [{"request_id": "a", "label": 1}])


def test_records_become_a_typed_frame() -> None:
    frame = labels_from_records([{"request_id": "a", "label": True}])
    assert frame["label"].dtype == bool


# -- POST /v2/feedback --------------------------------------------------------------------------

# ``slipway serve`` with the label store wired in, as the CLI does it.
LAUNCHER = """
import sys
from slipway.monitoring.labels import feedback_sink
from slipway.serving.server import run_server
from slipway.serving.settings import ServeSettings
settings = ServeSettings(port=int(sys.argv[2]), workers=int(sys.argv[3]))
run_server(sys.argv[1], settings, feedback=feedback_sink)
"""


@contextmanager
def launch(registry: Registry, tmp_path: Path, workers: int) -> Iterator[Server]:  # noqa: F811
    """``slipway serve`` with the label store, under a SLIPWAY_HOME of its own."""
    port, home = free_port(), tmp_path / "home"
    env = registry.env() | {
        "SLIPWAY_HOME": str(home),
        "SLIPWAY_SERVE_LOG_DIR": str(home / "logs"),
    }
    output = tmp_path / "server.out"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, f"models:/{MODEL}@champion", str(port), str(workers)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, f"http://127.0.0.1:{port}", home / "logs", output)
    try:
        deadline = time.monotonic() + 90
        with httpx.Client(base_url=server.url, timeout=2) as client:
            while True:
                assert process.poll() is None, server.output()
                assert time.monotonic() < deadline, "server not ready in 90 s"
                try:
                    if client.get("/v2/health/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        yield server
    finally:
        if process.poll() is None:
            server.stop(signal.SIGKILL)


@pytest.fixture(scope="module")
def server(
    registry: Registry,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    """One server for this module's tests."""
    with launch(registry, tmp_path_factory.mktemp("feedback"), workers=1) as server:
        yield server


def wait_for_log(server: Server, request_id: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if request_id in set(read_log(server.log_dir, MODEL)["request_id"]):
            return
        time.sleep(0.2)
    raise AssertionError(f"{request_id} not in the prediction log after 30 s")


AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}


def label_files(server: Server) -> list[Path]:
    return sorted((server.log_dir.parent / "labels").rglob("*.parquet"))


def test_feedback_stores_labels_for_logged_predictions(
    server: Server,
    registry: Registry,  # noqa: F811
) -> None:
    rows = registry.data.iloc[:2].to_dict(orient="records")
    with server.client() as c:
        answer = c.post("/predict", json=rows, headers={"x-request-id": "req-1"})
        assert answer.status_code == 200, answer.text
        wait_for_log(server, "req-1")
        batch = {
            "labels": [
                {"request_id": "req-1", "row": 0, "label": 1},
                {"request_id": "req-1", "row": 1, "label": 0},
                {"request_id": "ghost", "label": 1},
            ]
        }
        stored = c.post("/v2/feedback", json=batch, headers=AUTH)
        assert stored.status_code == 200, stored.text
        report = stored.json()
        assert report["deployment"] == MODEL
        assert (report["received"], report["stored"], report["unknown"]) == (3, 3, 1)
        assert report["unknown_request_ids"] == ["ghost"]
        later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
        single = {"request_id": "req-1", "row": 1, "label": 1, "label_time": later}
        corrected = c.post("/v2/feedback", json=single, headers=AUTH).json()
        assert corrected["duplicates"] == 1
        assert corrected["out_of_order"] == 0

    home = server.log_dir.parent
    current = read_labels(home / "labels", MODEL)
    assert current[["request_id", "row", "label"]].values.tolist() == [
        ["ghost", 0, 1],
        ["req-1", 0, 1],
        ["req-1", 1, 1],
    ]
    assert set(current["source"]) == {"api"}
    (window,) = compute_performance(server.log_dir, home / "labels", MODEL, window="1d").windows
    assert (window.predictions, window.labelled) == (2, 2)
    predicted = registry.models[1].predict(registry.data.iloc[:2]).tolist()
    assert window.metrics["accuracy"] == sum(p == 1 for p in predicted) / 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"labels": [{"row": 0, "label": 1}]}, "request_id"),
        ({"labels": [{"request_id": "a"}]}, "label"),
        ({"labels": [{"request_id": "a", "label": 1, "row": "first"}]}, "row"),
        ({"labels": [{"request_id": "a", "label": [1, 2]}]}, "label"),
        ({"labels": [{"request_id": "a", "label": 1, "colour": "red"}]}, "colour"),
        ({"labels": "all of them"}, "labels"),
        ({"labels": [1]}, "labels"),
        ({"labels": []}, "labels"),
    ],
)
def test_bad_feedback_is_a_400_naming_the_field(
    server: Server, body: dict[str, object], field: str
) -> None:
    before = label_files(server)
    with server.client() as c:
        answer = c.post("/v2/feedback", json=body, headers=AUTH)
    assert answer.status_code == 400, answer.text
    assert field in answer.json()["error"]
    assert label_files(server) == before


def test_feedback_needs_the_admin_token(server: Server) -> None:
    body = {"request_id": "a", "label": 1}
    before = label_files(server)
    with server.client() as c:
        assert c.post("/v2/feedback", json=body).status_code == 401
        wrong = {"authorization": "Bearer nope"}
        assert c.post("/v2/feedback", json=body, headers=wrong).status_code == 401
        assert c.post("/v2/feedback", content=b"{", headers=AUTH).status_code == 400
    assert label_files(server) == before


def send(server: Server, batch: dict[str, object]) -> dict[str, int]:
    with server.client() as c:
        answer = c.post("/v2/feedback", json=batch, headers=AUTH)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_feedback_with_several_workers_stores_each_label_once(
    registry: Registry,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Two worker processes, 16 concurrent senders of the same labels: the writers take turns
    (a lock per deployment), so each label is stored once and every repeat is 'unchanged'."""
    with launch(registry, tmp_path, workers=2) as server:
        rows = registry.data.iloc[:3].to_dict(orient="records")
        with server.client() as c:
            assert c.post("/predict", json=rows, headers={"x-request-id": "w-1"}).status_code == 200
        wait_for_log(server, "w-1")
        at = "2026-11-24T10:00:00+00:00"  # the same label_time: repeats, not corrections
        labels = [{"request_id": "w-1", "row": r, "label": 1, "label_time": at} for r in range(3)]
        with ThreadPoolExecutor(16) as pool:
            reports = list(pool.map(lambda _: send(server, {"labels": labels}), range(16)))
        assert sum(r["stored"] for r in reports) == 3
        assert sum(r["unchanged"] for r in reports) == 15 * 3
        assert all(r["unknown"] == 0 for r in reports)
        current = read_labels(server.log_dir.parent / "labels", MODEL, history=True)
        assert len(current) == 3
