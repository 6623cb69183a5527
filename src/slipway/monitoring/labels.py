"""The label store: ground truth that arrives after the prediction, keyed by request id and row.

Layout (one folder per deployment, Hive-style partitions by *ingestion* date, UTC)::

    <SLIPWAY_HOME>/labels/<deployment>/date=YYYY-MM-DD/part-<utc time>-<random>.parquet

One call of :func:`ingest_labels` writes at most one file (temporary name, fsync, rename), so
an ingest is all or nothing and no reader sees half of one. Files are never rewritten: a label
that corrects an earlier one is appended, and readers keep, per ``(request_id, row)``, the
label with the latest ``label_time`` (ties: the one ingested last). A label whose
``label_time`` is older than the stored one therefore arrives "out of order" and does not
become current.

Columns: ``request_id`` (string), ``row`` (int64), ``label`` (bool, int64, float64 or string:
the type of the batch, kept per file; DuckDB's ``union_by_name`` reads files of different
types as their common type, e.g. VARCHAR), ``label_time`` and ``ingested_at``
(timestamp[us, UTC]), ``source`` (string) and ``matched`` (bool: whether the prediction log
had that request id and row when the label was ingested).

Labels whose request id is not in the prediction log are stored all the same, flagged
``matched = false``, and reported: the log is written a second or so after the answer, so a
label sent right away may precede its prediction on disk, and the join that computes
performance (see :mod:`slipway.monitoring.performance`) picks such labels up once the
prediction is there. Labels for ids that never appear simply never join.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from slipway.core.errors import InvalidInput
from slipway.serving.predlog import is_safe_component, read_sql_glob

MAX_LISTED = 100
"""At most this many unknown request ids are listed in an :class:`IngestReport`."""
_FIELDS = ("request_id", "row", "label", "label_time", "source")
_READ = (
    "read_parquet(?, hive_partitioning = false, union_by_name = true, filename = true, "
    "file_row_number = true)"
)
_CURRENT = (
    "select * exclude (rank) from (select *, row_number() over (partition by request_id, row "
    "order by label_time desc, ingested_at desc, filename desc, file_row_number desc) as rank "
    f"from {_READ}) where rank = 1"
)


@dataclass(frozen=True, slots=True)
class IngestReport:
    """What :func:`ingest_labels` did with a batch of labels."""

    deployment: str
    received: int
    """Labels in the batch."""
    stored: int
    """Labels written (all but the unchanged ones)."""
    unchanged: int
    """Exact repeats of a stored label (same key, label and label_time): skipped, so ingesting
    a file twice changes nothing."""
    duplicates: int
    """Stored labels for a key that already had one: the latest label_time wins."""
    out_of_order: int
    """Duplicates older than the label already stored: kept, but not current."""
    unknown: int
    """Stored labels whose request id and row are not (yet) in the prediction log."""
    unknown_request_ids: list[str] = field(default_factory=list)
    """The first :data:`MAX_LISTED` of their request ids, sorted."""
    ignored_columns: list[str] = field(default_factory=list)
    """Columns of the input that are not label fields."""
    path: str | None = None
    """The file written; None when nothing was new."""

    def as_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready values."""
        return asdict(self)


def labels_glob(root: Path, deployment: str) -> str:
    """The glob of a deployment's label files, for DuckDB's ``read_parquet``."""
    _check_deployment(deployment)
    return str(Path(root) / deployment / "date=*" / "*.parquet")


def labels_from_records(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Label records (as sent to the server) as a frame; InvalidInput names the bad field.

    Each record needs ``request_id`` and ``label``; ``row`` (default 0), ``label_time`` (ISO
    8601) and ``source`` are optional; other keys are refused (a typo must not pass silently).
    """
    if not isinstance(records, Sequence) or isinstance(records, str | bytes):
        raise InvalidInput("'labels' must be a list of objects")
    if not records:
        raise InvalidInput("'labels' is empty: nothing to store")
    for i, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise InvalidInput(f"labels[{i}] must be an object")
        unknown = sorted(set(record) - set(_FIELDS))
        if unknown:
            raise InvalidInput(f"labels[{i}]: unknown field {unknown[0]!r}")
        for name in ("request_id", "label"):
            if record.get(name) is None:
                raise InvalidInput(f"labels[{i}].{name} is required")
    return pd.DataFrame.from_records([{"row": 0, **record} for record in records])


def ingest_labels(
    root: Path,
    deployment: str,
    labels: pd.DataFrame | Path | str | Sequence[Mapping[str, Any]],
    *,
    log_root: Path | None = None,
    source: str = "sdk",
    now: datetime | None = None,
) -> IngestReport:
    """Store a batch of labels for ``deployment`` under ``root`` (``<SLIPWAY_HOME>/labels``).

    ``labels`` is a DataFrame, label records, or a CSV, Parquet, JSON or JSON Lines file with
    the columns ``request_id`` and ``label`` (required), ``row`` (default 0), ``label_time``
    (default: ``now``) and ``source`` (default: ``source``). Request ids are looked up in the
    prediction log under ``log_root`` (default: ``root``'s sibling ``logs``, the server's
    default). Raises InvalidInput, naming the column, when the batch is malformed; then
    nothing is written.
    """
    _check_deployment(deployment)
    now = datetime.now(UTC) if now is None else now.astimezone(UTC)
    frame = _load(labels)
    ignored = sorted(str(c) for c in frame.columns if c not in _FIELDS)
    batch = _normalise(frame, source, now)
    log_root = Path(root).parent / "logs" if log_root is None else Path(log_root)
    # Read what is stored, classify, write: one writer at a time per deployment (server
    # workers, their threads and `slipway labels ingest` alike), or two writers of the same
    # label would each find it new and store it twice.
    with _writer_lock(Path(root), deployment):
        existing = _stored_for(Path(root), deployment, batch)
        keep, duplicates, late = _classify(batch, existing)
        new = batch[keep].reset_index(drop=True)
        known = _known_keys(log_root, deployment, new)
        matched = np.array(
            [(r, int(n)) in known for r, n in zip(new["request_id"], new["row"], strict=True)],
            dtype=bool,
        )
        path = None
        if len(new):
            new["ingested_at"] = pd.Timestamp(now)
            new["matched"] = matched
            folder = Path(root) / deployment / f"date={now.date().isoformat()}"
            path = str(_write_file(folder, _table(new)))
    unknown_ids = sorted(set(new["request_id"][~matched]))
    return IngestReport(
        deployment=deployment,
        received=len(batch),
        stored=len(new),
        unchanged=len(batch) - len(new),
        duplicates=duplicates,
        out_of_order=late,
        unknown=int((~matched).sum()),
        unknown_request_ids=unknown_ids[:MAX_LISTED],
        ignored_columns=ignored,
        path=path,
    )


@contextmanager
def _writer_lock(root: Path, deployment: str) -> Iterator[None]:
    """An exclusive ``flock`` on ``<root>/<deployment>/.lock`` (it conflicts between threads
    too: each call opens its own file description); released if the holder dies."""
    folder = root / deployment
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_labels(root: Path, deployment: str, *, history: bool = False) -> pd.DataFrame:
    """A deployment's labels: the current one per ``(request_id, row)``, or every stored row
    with ``history=True``; ordered by request id, row and label time."""
    pattern = labels_glob(root, deployment)
    columns = [*_FIELDS, "ingested_at", "matched"]
    if not _exists(pattern):
        return pd.DataFrame({name: pd.Series(dtype=object) for name in columns})
    query = f"select * from {_READ}" if history else _CURRENT
    with duckdb.connect() as connection:
        frame: pd.DataFrame = connection.execute(
            f"select {', '.join(columns)} from ({query}) "
            "order by request_id, row, label_time, ingested_at",
            [pattern],
        ).df()
    return frame


def current_labels_sql() -> str:
    """SQL (one ``?``: the glob of :func:`labels_glob`) selecting the current label of each
    ``(request_id, row)``: the latest label_time, ties to the one ingested last."""
    return _CURRENT


def feedback_sink(
    home: Path, log_root: Path | None = None
) -> Callable[[str, list[dict[str, Any]]], dict[str, Any]]:
    """The inference server's ``on_feedback``: stores label records sent to
    ``POST /v2/feedback`` under ``<home>/labels`` and answers the :class:`IngestReport`."""
    labels_root = Path(home) / "labels"
    logs = Path(log_root) if log_root is not None else Path(home) / "logs"

    def sink(deployment: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        frame = labels_from_records(records)
        report = ingest_labels(labels_root, deployment, frame, log_root=logs, source="api")
        return report.as_dict()

    return sink


# -- validation -------------------------------------------------------------------------------


def _check_deployment(deployment: str) -> None:
    if not is_safe_component(deployment):
        raise InvalidInput(f"invalid deployment name {deployment!r}")


def _load(labels: pd.DataFrame | Path | str | Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    if isinstance(labels, pd.DataFrame):
        return labels
    if isinstance(labels, str | Path):
        return _read_file(Path(labels))
    return labels_from_records(labels)


def _read_file(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InvalidInput(f"no label file at {path}")
    suffix = path.suffix.lower()
    ids = {"request_id": str}
    if suffix == ".csv":
        return pd.read_csv(path, dtype=ids)
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix in (".json", ".jsonl", ".ndjson"):
        return pd.read_json(path, lines=suffix != ".json", dtype=ids)
    raise InvalidInput(f"unsupported label file {path.name}: use .csv, .parquet, .json or .jsonl")


def _normalise(frame: pd.DataFrame, source: str, now: datetime) -> pd.DataFrame:
    """The label fields with one type each, or InvalidInput naming the first bad column."""
    for name in ("request_id", "label"):
        if name not in frame.columns:
            raise InvalidInput(f"column {name!r} is required (columns: {list(frame.columns)})")
    if frame.empty:
        raise InvalidInput("no labels given")
    n = len(frame)
    ids = frame["request_id"]
    if ids.isna().any() or not all(isinstance(v, str | int) and str(v) for v in ids):
        raise InvalidInput("request_id: every label needs a non-empty string request id")
    return pd.DataFrame(
        {
            "request_id": ids.astype(str).to_numpy(),
            "row": _rows(frame["row"]) if "row" in frame.columns else np.zeros(n, np.int64),
            "label": _label_values(frame["label"]),
            "label_time": _times(frame, now),
            "source": _sources(frame, source),
        }
    )


def _rows(rows: pd.Series) -> np.ndarray[Any, Any]:
    values = pd.to_numeric(rows, errors="coerce")
    if rows.dtype.kind == "b" or values.isna().any():
        raise InvalidInput("row: must be a whole number (the row within its request), 0 or more")
    array = values.to_numpy(dtype=np.float64)
    if (array < 0).any() or (array != np.floor(array)).any():
        raise InvalidInput("row: must be a whole number (the row within its request), 0 or more")
    return array.astype(np.int64)


def _label_values(labels: pd.Series) -> np.ndarray[Any, Any]:
    if labels.isna().any():
        raise InvalidInput("label: missing in some rows (null or NaN)")
    kind = labels.dtype.kind
    if kind == "b":
        return labels.to_numpy(dtype=bool)
    if kind in "iu":
        return labels.to_numpy(dtype=np.int64)
    if kind == "f":
        return labels.to_numpy(dtype=np.float64)
    values = labels.tolist()
    kinds = {type(v) for v in values}
    if kinds <= {str}:
        return np.asarray(values, dtype=object)
    if kinds <= {int, float}:
        return np.asarray(values, dtype=np.float64)
    names = ", ".join(sorted(t.__name__ for t in kinds))
    raise InvalidInput(f"label: one type per batch (string, number or boolean), got {names}")


def _times(frame: pd.DataFrame, now: datetime) -> pd.Series:
    if "label_time" not in frame.columns:
        return pd.Series(pd.Timestamp(now), index=range(len(frame)), dtype="datetime64[us, UTC]")
    raw = frame["label_time"].reset_index(drop=True)
    if raw.dtype.kind in "iuf":
        raise InvalidInput("label_time: give ISO 8601 timestamps, e.g. 2026-01-01T10:00:00Z")
    try:
        times = pd.to_datetime(raw, utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"label_time: not a timestamp ({exc})") from None
    return times.fillna(pd.Timestamp(now)).astype("datetime64[us, UTC]")


def _sources(frame: pd.DataFrame, default: str) -> np.ndarray[Any, Any]:
    if "source" not in frame.columns:
        return np.full(len(frame), default, dtype=object)
    return frame["source"].fillna(default).astype(str).to_numpy(dtype=object)


# -- duplicates and unknown ids ---------------------------------------------------------------


def _exists(pattern: str) -> bool:
    path = Path(pattern)
    return next(path.parent.parent.glob(f"{path.parent.name}/{path.name}"), None) is not None


def _stored_for(root: Path, deployment: str, batch: pd.DataFrame) -> pd.DataFrame:
    """Every stored label for the batch's keys (label as text, for comparison)."""
    pattern = labels_glob(root, deployment)
    if not _exists(pattern):
        return pd.DataFrame(columns=["request_id", "row", "label", "label_time"])
    keys = batch[["request_id", "row"]].drop_duplicates()
    with duckdb.connect() as connection:
        connection.register("keys", keys)
        stored: pd.DataFrame = connection.execute(
            "select s.request_id, s.row, cast(s.label as varchar) as label, s.label_time "
            f"from {_READ} s semi join keys k on s.request_id = k.request_id and s.row = k.row",
            [pattern],
        ).df()
    return stored


def _classify(batch: pd.DataFrame, stored: pd.DataFrame) -> tuple[np.ndarray[Any, Any], int, int]:
    """Which batch rows to store, how many duplicate a key and how many of those are late."""
    latest: dict[tuple[str, int], pd.Timestamp] = {}
    seen: set[tuple[str, int, str, pd.Timestamp]] = set()
    for rid, row, label, when in stored.itertuples(index=False):
        key = (str(rid), int(row))
        when = pd.Timestamp(when).tz_convert(UTC)
        seen.add((*key, _text(label), when))
        latest[key] = max(when, latest.get(key, when))
    keep = np.zeros(len(batch), dtype=bool)
    duplicates = late = 0
    columns = (batch[c] for c in ("request_id", "row", "label", "label_time"))
    for i, (rid, row, label, when) in enumerate(zip(*columns, strict=True)):
        key = (str(rid), int(row))
        exact = (*key, _text(label), when)
        if exact in seen:
            continue
        keep[i] = True
        seen.add(exact)
        if key in latest:
            duplicates += 1
            late += int(when < latest[key])
        latest[key] = max(when, latest.get(key, when))
    return keep, duplicates, late


def _text(label: Any) -> str:
    """A label as DuckDB casts it to VARCHAR, so stored and new labels compare alike."""
    if isinstance(label, bool | np.bool_):
        return "true" if label else "false"
    if isinstance(label, float | np.floating):
        return repr(float(label))
    return str(label)


def _known_keys(log_root: Path, deployment: str, batch: pd.DataFrame) -> set[tuple[str, int]]:
    """The batch's ``(request_id, row)`` keys present in the prediction log."""
    pattern = read_sql_glob(log_root, deployment)
    relative = Path(pattern).relative_to(log_root)
    if batch.empty or next(log_root.glob(str(relative)), None) is None:
        return set()
    keys = batch[["request_id", "row"]].drop_duplicates()
    with duckdb.connect() as connection:
        connection.register("keys", keys)
        rows = connection.execute(
            "select distinct p.request_id, p.row from read_parquet(?, hive_partitioning = true, "
            "union_by_name = true) p semi join keys k on p.request_id = k.request_id "
            "and p.row = k.row",
            [pattern],
        ).fetchall()
    return {(str(r), int(n)) for r, n in rows}


# -- writing ----------------------------------------------------------------------------------


def _table(frame: pd.DataFrame) -> pa.Table:
    label = frame["label"].to_numpy()
    label_type = pa.string() if label.dtype == object else None
    return pa.table(
        {
            "request_id": pa.array(frame["request_id"].tolist(), pa.string()),
            "row": pa.array(frame["row"].to_numpy(np.int64)),
            "label": pa.array(label, label_type),
            "label_time": pa.array(frame["label_time"], pa.timestamp("us", tz="UTC")),
            "source": pa.array(frame["source"].tolist(), pa.string()),
            "ingested_at": pa.array(frame["ingested_at"], pa.timestamp("us", tz="UTC")),
            "matched": pa.array(frame["matched"].to_numpy(bool)),
        }
    )


def _write_file(folder: Path, table: pa.Table) -> Path:
    """Write ``table`` as a new file in ``folder``: temporary name, fsync, rename."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"part-{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:16]}.parquet"
    temporary = folder / f".{name}.tmp"
    try:
        with open(temporary, "wb") as sink:
            pq.write_table(table, sink, compression="zstd")
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(temporary, folder / name)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return folder / name
