"""The prediction log: off the hot path, bounded, atomic files, readable with DuckDB."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from slipway.serving import predlog
from slipway.serving.predlog import PredictionLog, PredictionRecord, read_log, read_sql_glob

DAY_MS = 86_400_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def record(
    request_id: str = "r",
    *,
    time_ms: int = T0,
    deployment: str = "churn",
    version: int = 1,
    route: str = "champion",
    status: int = 200,
    inputs: Any = None,
    outputs: Any = None,
    error: str | None = None,
) -> PredictionRecord:
    return PredictionRecord(
        request_id=request_id,
        time_ms=time_ms,
        deployment=deployment,
        model_name="churn-model",
        model_version=version,
        route=route,
        latency_ms=1.25,
        status=status,
        inputs=inputs,
        outputs=outputs,
        error=error,
    )


def parquet_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.parquet"))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "logs"


@pytest.fixture
def log(root: Path) -> Iterator[PredictionLog]:
    plog = PredictionLog(root, flush_interval_s=60)
    plog.start()
    yield plog
    plog.close(timeout=5)


def test_burst_of_multi_row_requests_lands_in_the_right_partitions(root: Path) -> None:
    plog = PredictionLog(root, flush_rows=50, flush_interval_s=0.05)
    plog.start()
    requests, rows = 500, 10
    for i in range(requests):
        x = np.arange(rows, dtype=np.float64) + i
        assert plog.submit(
            record(
                f"req-{i}",
                time_ms=T0 + (i % 2) * DAY_MS + i,
                version=1 + i % 3 // 2,  # versions 1, 1, 2, ...
                inputs={"x": x, "k": np.full(rows, i, dtype=np.int32)},
                outputs={"score": x * 2},
            )
        )
    plog.flush(timeout=30)
    plog.close()
    assert plog.written == requests
    assert plog.dropped == plog.write_errors == 0

    glob = read_sql_glob(root, "churn")
    total, x_sum, bad = duckdb.execute(
        "select count(*), sum(in_x), count(*) filter (where out_score <> 2 * in_x) "
        "from read_parquet(?, hive_partitioning = true)",
        [glob],
    ).fetchone() or (0, 0, 0)
    assert total == requests * rows
    assert x_sum == sum(float(r + i) for i in range(requests) for r in range(rows))
    assert bad == 0

    by_partition = duckdb.execute(
        "select model_version, cast(date as varchar), count(*) "
        "from read_parquet(?, hive_partitioning = true) group by all",
        [glob],
    ).fetchall()
    expected: dict[tuple[int, str], int] = {}
    for i in range(requests):
        key = (1 + i % 3 // 2, f"2026-01-0{1 + i % 2}")
        expected[key] = expected.get(key, 0) + rows
    assert {(v, d): n for v, d, n in by_partition} == expected
    for file in parquet_files(root):
        version, date = file.parent.parent.name, file.parent.name
        assert date in {"date=2026-01-01", "date=2026-01-02"}
        frame = pq.read_table(file).to_pandas()
        assert set(frame["model_version"]) == {int(version)}
        assert set(frame["time"].dt.strftime("date=%Y-%m-%d")) == {date}

    one = read_log(root, "churn", version=2)
    assert set(one["model_version"]) == {2}
    request = one[one["request_id"] == "req-2"]
    assert list(request["row"]) == list(range(rows))
    assert list(request["in_k"]) == [2] * rows
    assert list(request["in_x"]) == [float(2 + r) for r in range(rows)]


def test_schema_is_typed_per_feature_with_tensors_as_lists(log: PredictionLog, root: Path) -> None:
    image = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3)
    log.submit(record("cols", inputs={"age": [30, 40], "plan": ["a", "b"]}, outputs=np.zeros(2)))
    log.submit(record("tensor", version=2, inputs=image, outputs={"p": np.ones((2, 2))}))
    log.submit(record("records", version=3, inputs=[{"age": 1.5, "ok": True}]))
    log.submit(record("frame", version=4, inputs=pd.DataFrame({"age": [1.0, 2.0]})))
    log.flush(timeout=10)

    schema = {v: pq.read_schema(next((root / "churn" / v).rglob("*.parquet"))) for v in "1234"}
    base = schema["1"]
    assert base.field("time").type == pa.timestamp("ms", tz="UTC")
    assert base.field("request_id").type == pa.string()
    assert base.field("latency_ms").type == pa.float64()
    assert base.field("status").type == pa.int64()
    assert base.field("model_version").type == pa.int64()
    assert "date" not in base.names  # the partition column comes from the path
    assert base.field("in_age").type == pa.int64()
    assert base.field("in_plan").type == pa.string()
    assert base.field("out_output").type == pa.float64()
    assert schema["2"].field("in_input").type == pa.list_(pa.float64())
    assert schema["2"].field("out_p").type == pa.list_(pa.float64())
    assert schema["3"].field("in_ok").type == pa.bool_()
    assert schema["4"].field("in_age").type == pa.float64()

    tensor = read_log(root, "churn", version=2)
    assert [list(v) for v in tensor["in_input"]] == [list(map(float, row.ravel())) for row in image]


def test_inputs_that_do_not_split_into_rows_go_to_json(log: PredictionLog, root: Path) -> None:
    log.submit(record("ragged", inputs=[[1, 2], [3]], outputs={"y": np.array([1.0, 2.0])}))
    log.submit(record("failed", status=422, error="bad input", inputs=None, outputs=None))
    log.submit(record("lengths", inputs={"a": [1, 2], "b": [1]}, outputs=np.float64(3.0)))
    log.flush(timeout=10)

    frame = read_log(root, "churn").set_index(["request_id", "row"])
    assert frame.loc[("ragged", 0), "inputs_json"] == "[[1,2],[3]]"
    assert list(frame.loc["ragged", "out_y"]) == [1.0, 2.0]
    assert frame.loc[("failed", 0), "error"] == "bad input"
    assert frame.loc[("failed", 0), "status"] == 422
    assert pd.isna(frame.loc[("failed", 0), "inputs_json"])
    assert frame.loc[("lengths", 0), "inputs_json"] == '{"a":[1,2],"b":[1]}'
    assert frame.loc[("lengths", 0), "outputs_json"] == "3.0"
    assert len(parquet_files(root)) == 1  # different feature sets still share one file


def test_full_queue_drops_without_blocking(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entered, release = threading.Event(), threading.Event()
    real_write = predlog._write_table

    def blocked_write(table: pa.Table, sink: IO[bytes]) -> None:
        entered.set()
        release.wait(10)
        real_write(table, sink)

    monkeypatch.setattr(predlog, "_write_table", blocked_write)
    drops: list[int] = []
    plog = PredictionLog(root, max_queue=4, flush_rows=1, on_drop=drops.append)
    plog.start()
    try:
        assert plog.submit(record("first"))
        assert entered.wait(10)  # the writer holds "first" and waits on the disk
        assert all(plog.submit(record(f"q{i}")) for i in range(4))
        assert plog.queue_depth == 4

        slowest = 0.0
        started = time.perf_counter()
        for i in range(1_000):
            before = time.perf_counter()
            assert plog.submit(record(f"drop{i}")) is False
            slowest = max(slowest, time.perf_counter() - before)
        assert time.perf_counter() - started < 1.0
        assert slowest < 0.1
        assert plog.dropped == 1_000
        assert drops == [1] * 1_000
    finally:
        release.set()
    plog.flush(timeout=10)
    plog.close()
    assert plog.written == 5
    assert len(read_log(root, "churn")) == 5


def test_crash_mid_write_leaves_no_partial_file(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = predlog._write_table
    calls = 0

    def crashing_write(table: pa.Table, sink: IO[bytes]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            sink.write(b"PAR1 half a file")
            raise OSError(28, "No space left on device")
        real_write(table, sink)

    monkeypatch.setattr(predlog, "_write_table", crashing_write)
    errors: list[BaseException] = []
    plog = PredictionLog(root, flush_interval_s=60, on_error=errors.append)
    plog.start()
    try:
        plog.submit(record("lost-1"))
        plog.submit(record("lost-2"))
        plog.flush(timeout=10)
        assert plog.write_errors == 2
        assert plog.written == 0
        assert [type(e) for e in errors] == [OSError]
        assert parquet_files(root) == []
        assert [p for p in root.rglob("*") if p.is_file()] == []  # the temporary file is gone

        assert plog._thread is not None
        assert plog._thread.is_alive()
        plog.submit(record("kept", inputs={"x": [1.0]}))
        plog.submit(
            record("bad-value", status="not a status")  # type: ignore[arg-type]
        )
        plog.flush(timeout=10)
    finally:
        plog.close()
    assert plog.write_errors == 3  # the bad record costs only itself
    assert list(read_log(root, "churn")["request_id"]) == ["kept"]


def test_close_writes_everything_accepted_and_refuses_more(root: Path) -> None:
    written: list[int] = []
    plog = PredictionLog(
        root, flush_rows=1_000_000, flush_interval_s=3_600, on_written=written.append
    )
    plog.start()
    for i in range(300):
        assert plog.submit(record(f"r{i}", inputs={"x": [float(i)]}))
    plog.close(timeout=10)
    assert plog.written == 300
    assert sum(written) == 300
    assert len(read_log(root, "churn")) == 300
    assert plog.submit(record("late")) is False
    plog.close(timeout=1)  # idempotent
    assert plog._thread is not None
    assert not plog._thread.is_alive()


def test_close_without_start_writes_inline(root: Path) -> None:
    plog = PredictionLog(root)
    assert plog.submit(record("queued"))
    assert not root.exists()  # nothing happens before start or close
    plog.close()
    assert list(read_log(root, "churn")["request_id"]) == ["queued"]


@pytest.mark.parametrize(
    ("deployment", "version"),
    [("../escape", 1), ("a/b", 1), ("", 1), ("..", 1), (".", 1), ("/abs", 1), ("ok", -1)],
)
def test_unsafe_path_components_are_refused(
    tmp_path: Path, log: PredictionLog, root: Path, deployment: str, version: int
) -> None:
    errors: list[BaseException] = []
    log.on_error = errors.append
    assert log.submit(record(deployment=deployment, version=version)) is False
    assert log.submit(record(deployment="churn", version=True)) is False  # type: ignore[arg-type]
    assert log.rejected == 2
    assert len(errors) == 2
    log.submit(record("fine"))
    log.flush(timeout=10)
    assert [p.name for p in tmp_path.iterdir()] == ["logs"]
    assert [p.relative_to(root).parts[:2] for p in parquet_files(root)] == [("churn", "1")]
    with pytest.raises(ValueError, match="deployment"):
        read_sql_glob(root, deployment if version >= 0 else "..")


def test_submit_never_raises(log: PredictionLog) -> None:
    assert log.submit(None) is False  # type: ignore[arg-type]
    assert log.submit(record(deployment=123)) is False  # type: ignore[arg-type]


def test_flush_makes_records_visible_to_duckdb(log: PredictionLog, root: Path) -> None:
    for i in range(3):
        log.submit(record(f"a{i}", inputs={"x": [1.0, 2.0]}))
    log.flush(timeout=10)
    assert read_log(root, "churn")["in_x"].sum() == 9.0
    log.submit(record("b", inputs={"x": [10.0]}))
    log.flush(timeout=10)
    count = duckdb.sql(
        f"select count(*) from read_parquet('{root}/churn/1/*/*.parquet', hive_partitioning=true)"
    ).fetchall()
    assert count == [(7,)]


def test_writer_flushes_on_its_own_after_the_interval(root: Path) -> None:
    plog = PredictionLog(root, flush_interval_s=0.05)
    plog.start()
    try:
        plog.submit(record("soon"))
        deadline = time.monotonic() + 10
        while not parquet_files(root) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(read_log(root, "churn")) == 1
    finally:
        plog.close()


def test_two_writers_on_one_root_never_collide(root: Path) -> None:
    logs = [PredictionLog(root) for _ in range(2)]
    for plog in logs:
        plog.start()
    for i in range(20):
        for n, plog in enumerate(logs):
            plog.submit(record(f"w{n}-{i}"))
        for plog in logs:
            plog.flush(timeout=10)
    for plog in logs:
        plog.close()
    assert len(parquet_files(root)) == 40
    assert len(read_log(root, "churn")) == 40


def test_read_log_of_nothing_is_empty(root: Path) -> None:
    frame = read_log(root, "churn")
    assert frame.empty
    assert {"request_id", "time", "model_version", "status"} <= set(frame.columns)


def test_column_blocks_are_stacked_with_nulls_for_failed_requests(
    log: PredictionLog, root: Path
) -> None:
    names = ("a", "b")
    block = predlog.ColumnBlock
    log.submit(record("r0", inputs=block(names, np.array([[1.0, 2.0]])), outputs=np.array([0])))
    log.submit(record("bad", status=422, error="model refused"))
    log.submit(
        record(
            "r1",
            inputs=block(names, np.array([[3.0, 4.0], [5.0, np.nan]], dtype=np.float32)),
            outputs=np.array([1, 0]),
        )
    )
    log.submit(record("odd", inputs=block(names, np.ones((1, 3)))))  # width disagrees: JSON
    log.flush(timeout=10)
    frame = read_log(root, "churn").sort_values(["request_id", "row"]).reset_index(drop=True)
    assert frame["request_id"].tolist() == ["bad", "odd", "r0", "r1", "r1"]
    assert frame["in_a"].tolist()[2:] == [1.0, 3.0, 5.0]
    assert frame["in_b"].isna().tolist() == [True, True, False, False, True]
    assert frame["out_output"].tolist()[2:] == [0, 1, 0]
    assert frame.loc[1, "inputs_json"] is not None
