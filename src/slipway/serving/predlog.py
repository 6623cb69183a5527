"""The prediction log: every answer the server gives, appended to Parquet off the hot path.

The request handler calls :meth:`PredictionLog.submit`, which only appends to a bounded
in-memory queue (O(1), never blocks, never raises); a background thread drains the queue and
writes Parquet files. When the queue is full the record is dropped and counted: inference never
waits for the disk.

Layout (one folder per deployment and model version, Hive-style date partitions, UTC)::

    <root>/<deployment>/<model_version>/date=YYYY-MM-DD/part-<utc time>-<random>.parquet

Each file is written under a hidden temporary name in the same folder (``.part-….parquet.tmp``,
which ``*.parquet`` globs do not match), fsynced and renamed into place, so no reader ever sees
half a file. Each flush writes one file per partition (a second one only if a feature changed
type within the flush); the random part keeps names unique across the server's worker processes.

Schema: **one row per prediction row**, because that is what a drift job reads (a request with
32 rows gives 32 log rows sharing ``request_id``, numbered by ``row``):

=================  =========================  ===========================================
column             Arrow type                 meaning
=================  =========================  ===========================================
request_id         string
row                int64                      index of the row within its request
time               timestamp[ms, UTC]         request arrival
deployment         string
model_name         string
model_version      int64
route              string                     champion, challenger, shadow, sticky, …
latency_ms         float64
status             int64                      HTTP status (shadow: of the shadow call)
error              string, null when none
inputs_json        string, usually null       the request's inputs as JSON, on row 0, only
outputs_json       string, usually null       when they do not split into rows (see below)
in_<feature>       scalar type of the feature one column per input (float64, int64, bool,
                   or list<float64>           string, timestamp); tensors with more than
out_<name>         same rules                 one axis are flattened row-major per row
=================  =========================  ===========================================

Inputs and outputs split into rows when they are a DataFrame, a dict of equally long columns or
tensors (a dict of single values is one row), a list of records, or one array (named ``input``
for inputs, ``output`` for outputs): the first axis is the row. Anything else (ragged lists,
lengths that disagree, a model returning one value for a whole batch) goes to ``*_json`` instead
of being guessed at. The date partition is not stored in the files; DuckDB adds it as ``date``
with ``hive_partitioning=true``. Files of one partition can differ in their feature columns (a
request with other fields); read them with ``union_by_name=true``, as :func:`read_log` does.

Submitted inputs and outputs are not copied (that would cost the request handler): the caller
must not modify them after ``submit``.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeAlias

import duckdb
import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

logger = logging.getLogger("slipway.serving.predlog")

SCHEMA_VERSION = "1"
_DAY_MS = 86_400_000
_SAFE_COMPONENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,254}$")
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_BASE_FIELDS = (
    ("request_id", pa.string()),
    ("row", pa.int64()),
    ("time", pa.timestamp("ms", tz="UTC")),
    ("deployment", pa.string()),
    ("model_name", pa.string()),
    ("model_version", pa.int64()),
    ("route", pa.string()),
    ("latency_ms", pa.float64()),
    ("status", pa.int64()),
    ("error", pa.string()),
    ("inputs_json", pa.string()),
    ("outputs_json", pa.string()),
)


@dataclass(frozen=True, slots=True)
class PredictionRecord:
    """One answer of the server (or of a shadow model) as handed to the log."""

    request_id: str
    time_ms: int
    """Request arrival, epoch milliseconds."""
    deployment: str
    model_name: str
    model_version: int
    route: str
    latency_ms: float
    status: int
    inputs: Any
    """What the model got for this request: columns (dict, DataFrame, records) or an array."""
    outputs: Any
    """Dict of arrays, an array, or None when the request failed."""
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ColumnBlock:
    """Inputs as one 2-D numeric array whose columns are ``names``: the server's form for
    all-float tabular models. The writer stacks the blocks of a file and splits columns once,
    instead of handling every column of every record."""

    names: tuple[str, ...]
    values: np.ndarray[Any, Any]


class _BlockKey:
    """Stands for the columns ``prefix + name`` of a :class:`ColumnBlock` in a file builder.

    Its hash is computed once: the key is looked up several times per record."""

    __slots__ = ("_hash", "names", "prefix")

    def __init__(self, prefix: str, names: tuple[str, ...]) -> None:
        self.prefix = prefix
        self.names = names
        self._hash = hash((prefix, names))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, _BlockKey)
            and self._hash == other._hash
            and self.prefix == other.prefix
            and self.names == other.names
        )


_block_keys: dict[tuple[str, int], _BlockKey] = {}


def _block_key(prefix: str, names: tuple[str, ...]) -> _BlockKey:
    """One key object per names tuple seen (the server passes the same tuple every time)."""
    key = _block_keys.get((prefix, id(names)))
    if key is None or key.names is not names:
        key = _BlockKey(prefix, names)
        if len(_block_keys) > 1024:
            _block_keys.clear()
        _block_keys[(prefix, id(names))] = key
    return key


def is_safe_component(value: str) -> bool:
    """Whether ``value`` may name a folder under the log root (no ``/``, ``..``, empty)."""
    return isinstance(value, str) and _SAFE_COMPONENT.match(value) is not None


class PredictionLog:
    """A bounded queue of :class:`PredictionRecord` drained to Parquet by one thread.

    Records whose deployment or version cannot be a folder name (empty, ``/``, ``..``, negative
    version) are refused by ``submit`` (it returns False), counted in ``rejected`` and reported
    to ``on_error``; nothing is written outside ``root``. Records that fail to be written (bad
    value, disk full) are counted in ``write_errors`` and reported to ``on_error``; the writer
    goes on with the next ones. Callbacks run on the submitting thread (``on_drop``) or the
    writer thread (``on_written``, ``on_error``) and must be quick; their errors are ignored.
    """

    def __init__(
        self,
        root: Path,
        *,
        max_queue: int = 10_000,
        flush_rows: int = 1_000,
        flush_interval_s: float = 1.0,
        on_drop: Callable[[int], None] | None = None,
        on_written: Callable[[int], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.root = Path(root)
        self.max_queue = max_queue
        self.flush_rows = flush_rows
        """Records waiting that wake the writer before ``flush_interval_s`` is up."""
        self.flush_interval_s = flush_interval_s
        self.on_drop = on_drop
        self.on_written = on_written
        self.on_error = on_error
        self._queue: deque[PredictionRecord] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._progress = threading.Condition()
        self._write_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._stopping = False
        self._accepted = 0
        self._finished = 0
        self._dropped = 0
        self._rejected = 0
        self._written = 0
        self._write_errors = 0
        self._safe_deployment: str | None = None
        """The last deployment name found safe: checked once, not per request."""

    @property
    def dropped(self) -> int:
        """Records refused because the queue was full."""
        return self._dropped

    @property
    def rejected(self) -> int:
        """Records refused because their deployment or version is not a safe folder name."""
        return self._rejected

    @property
    def written(self) -> int:
        """Records on disk."""
        return self._written

    @property
    def write_errors(self) -> int:
        """Records accepted but lost to a write error."""
        return self._write_errors

    @property
    def queue_depth(self) -> int:
        """Records accepted and not yet taken by the writer."""
        return len(self._queue)

    def start(self) -> None:
        """Start the writer thread (once; later calls do nothing)."""
        if self._thread is not None or self._closed:
            return
        self._thread = threading.Thread(target=self._run, name="slipway-predlog", daemon=True)
        self._thread.start()

    def submit(self, record: PredictionRecord) -> bool:
        """Queue ``record`` for writing; False when refused (full, closed or unsafe names)."""
        try:
            if record.deployment != self._safe_deployment:
                if not is_safe_component(record.deployment):
                    self._reject(record)
                    return False
                self._safe_deployment = record.deployment
            if not _is_version(record.model_version):
                self._reject(record)
                return False
            with self._lock:
                if self._closed:
                    return False
                full = len(self._queue) >= self.max_queue
                if full:
                    self._dropped += 1
                else:
                    self._queue.append(record)
                    self._accepted += 1
                    depth = len(self._queue)
            if full:
                _call(self.on_drop, 1)
                return False
            if depth >= self.flush_rows:
                self._wake.set()
            return True
        except Exception:  # noqa: BLE001 - the request being answered matters more than its log
            return False

    def flush(self, timeout: float | None = None) -> None:
        """Write every record accepted so far and return once they are on disk (or lost to a
        counted write error). Raises TimeoutError if that takes longer than ``timeout``."""
        with self._lock:
            target = self._accepted
        thread = self._thread
        if thread is None or not thread.is_alive():
            self._write_pending()
            return
        self._wake.set()
        with self._progress:
            if not self._progress.wait_for(lambda: self._finished >= target, timeout):
                raise TimeoutError(f"prediction log not flushed within {timeout}s")

    def close(self, timeout: float = 10.0) -> None:
        """Refuse new records, write every accepted one and stop the writer. Idempotent; never
        raises: if the writer is still busy after ``timeout`` it is left to finish alone."""
        with self._lock:
            self._closed = True
        thread = self._thread
        if thread is None or not thread.is_alive():
            self._write_pending()
            return
        self._stopping = True
        self._wake.set()
        thread.join(timeout)
        if thread.is_alive():
            logger.warning("prediction log writer still busy after %ss", timeout)

    def _run(self) -> None:
        deadline = time.monotonic() + self.flush_interval_s
        while True:
            self._wake.wait(max(0.0, deadline - time.monotonic()))
            self._wake.clear()
            stopping = self._stopping
            deadline = time.monotonic() + self.flush_interval_s
            self._write_pending()
            if stopping:
                return

    def _write_pending(self) -> None:
        with self._write_lock:
            with self._lock:
                batch, self._queue = self._queue, deque()
            try:
                if batch:
                    self._write_batch(batch)
            except Exception as exc:  # noqa: BLE001 - a bug here must not stop the writer
                self._fail(exc, len(batch))
            finally:
                with self._progress:
                    self._finished += len(batch)
                    self._progress.notify_all()

    def _write_batch(self, batch: deque[PredictionRecord]) -> None:
        files: dict[tuple[str, int, str], list[_FileBuilder]] = {}
        for record in batch:
            try:
                rows = _split_record(record)
                partition = (record.deployment, record.model_version, _date(record.time_ms))
                builders = files.setdefault(partition, [])
                builder = next((b for b in builders if b.fits(rows)), None)
                if builder is None:
                    builder = _FileBuilder()
                    builders.append(builder)
                builder.add(record, rows)
            except Exception as exc:  # noqa: BLE001 - one bad record costs only itself
                self._fail(exc, 1)
        for (deployment, version, date), builders in files.items():
            folder = self.root / deployment / str(version) / f"date={date}"
            for builder in builders:
                try:
                    _write_file(folder, builder.table())
                except Exception as exc:  # noqa: BLE001 - disk full & co: counted, writer goes on
                    self._fail(exc, builder.records)
                    continue
                self._written += builder.records
                _call(self.on_written, builder.records)

    def _reject(self, record: PredictionRecord) -> None:
        with self._lock:
            self._rejected += 1
        error = ValueError(
            f"prediction log refused deployment {record.deployment!r} version "
            f"{record.model_version!r}: not a safe folder name"
        )
        _call(self.on_error, error)

    def _fail(self, exc: BaseException, records: int) -> None:
        self._write_errors += records
        logger.warning("prediction log lost %d record(s): %s", records, exc)
        _call(self.on_error, exc)


def _is_version(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _call(callback: Callable[[Any], None] | None, arg: Any) -> None:
    if callback is not None:
        try:
            callback(arg)
        except Exception:
            logger.debug("prediction log callback failed", exc_info=True)


_dates: dict[int, str] = {}


def _date(time_ms: int) -> str:
    day = int(time_ms) // _DAY_MS
    date = _dates.get(day)
    if date is None:
        date = datetime.fromtimestamp(day * 86_400, UTC).date().isoformat()
        _dates[day] = date
    return date


# -- records to rows --------------------------------------------------------------------------


# A column of one record: numeric 1-D columns stay numpy until the file is built (one Arrow
# conversion per column per file instead of one per record), others are Arrow already.
_Chunk: TypeAlias = np.ndarray[Any, Any] | pa.Array
_NUMPY_TO_ARROW = {"f": pa.float64(), "i": pa.int64(), "b": pa.bool_()}


def _type_of(chunk: _Chunk) -> pa.DataType:
    return _NUMPY_TO_ARROW[chunk.dtype.kind] if isinstance(chunk, np.ndarray) else chunk.type


@dataclass(frozen=True, slots=True)
class _Rows:
    count: int
    columns: dict[str | _BlockKey, _Chunk]
    inputs_json: str | None
    outputs_json: str | None


def _block(value: Any) -> tuple[int, dict[str | _BlockKey, _Chunk]] | None:
    if not isinstance(value, ColumnBlock):
        return None
    values = value.values
    if values.ndim != 2 or values.shape[1] != len(value.names) or values.dtype.kind not in "fi":
        return None
    if values.shape[0] == 0:
        return None
    return values.shape[0], {_block_key("in_", value.names): values}


def _split_record(record: PredictionRecord) -> _Rows:
    block = _block(record.inputs)
    if block is not None:
        return _with_outputs(record, block[0], block[1], None)
    if isinstance(record.inputs, ColumnBlock):
        inputs_json = _json({"names": record.inputs.names, "values": record.inputs.values})
        return _with_outputs(record, None, {}, inputs_json)
    inputs = _split(record.inputs, "input")
    outputs = _split(record.outputs, "output")
    count = inputs[0] if inputs else outputs[0] if outputs else 1
    if outputs and outputs[0] != count:
        outputs = None
    columns: dict[str | _BlockKey, _Chunk] = (
        {f"in_{n}": a for n, a in inputs[1].items()} if inputs else {}
    )
    if outputs:
        columns.update({f"out_{n}": a for n, a in outputs[1].items()})
    return _Rows(
        count,
        columns,
        None if inputs or record.inputs is None else _json(record.inputs),
        None if outputs or record.outputs is None else _json(record.outputs),
    )


def _with_outputs(
    record: PredictionRecord,
    count: int | None,
    columns: dict[str | _BlockKey, _Chunk],
    inputs_json: str | None,
) -> _Rows:
    outputs = _split(record.outputs, "output")
    if count is None:
        count = outputs[0] if outputs else 1
    if outputs and outputs[0] != count:
        outputs = None
    if outputs:
        columns.update({f"out_{n}": a for n, a in outputs[1].items()})
    outputs_json = None if outputs or record.outputs is None else _json(record.outputs)
    return _Rows(count, columns, inputs_json, outputs_json)


def _split(value: Any, default_name: str) -> tuple[int, dict[str, _Chunk]] | None:
    """``value`` as per-row Arrow columns, with their row count; None if it does not split."""
    try:
        arrays = _as_arrays(value, default_name)
    except Exception:  # noqa: BLE001 - whatever does not split goes to JSON instead
        return None
    if not arrays:
        return None
    counts = {len(a) if a.ndim else 0 for a in arrays.values()}
    if len(counts) != 1 or 0 in counts:
        return None
    return counts.pop(), {name: _column(a) for name, a in arrays.items()}


def _as_arrays(value: Any, default_name: str) -> dict[str, np.ndarray[Any, Any]] | None:
    if isinstance(value, list | tuple) and value and all(isinstance(v, Mapping) for v in value):
        value = pd.DataFrame.from_records(value)
    if isinstance(value, pd.DataFrame):
        if not value.columns.is_unique:
            return None
        return {str(name): value[name].to_numpy() for name in value.columns}
    if isinstance(value, Mapping):
        arrays = {str(name): np.asarray(v) for name, v in value.items()}
        if arrays and all(a.ndim == 0 for a in arrays.values()):
            return {name: a.reshape(1) for name, a in arrays.items()}
        return arrays
    if isinstance(value, np.ndarray | list | tuple):
        return {default_name: np.asarray(value)}
    return None


def _column(values: np.ndarray[Any, Any]) -> _Chunk:
    """A record's column: numeric 1-D as float64/int64/bool numpy, anything else as Arrow."""
    kind = values.dtype.kind
    if values.ndim == 1 and kind in "fiub":
        if kind == "b":
            return values
        if kind == "f" or (kind == "u" and values.dtype.itemsize == 8):
            return values.astype(np.float64, copy=False)
        return values.astype(np.int64, copy=False)
    return _arrow_column(values)


def _arrow_column(values: np.ndarray[Any, Any]) -> pa.Array:
    kind = values.dtype.kind
    if values.ndim > 1:
        if kind not in "biuf":
            return pa.array([_json(v) for v in values], pa.string())
        flat = values.reshape(len(values), -1).astype(np.float64, copy=False)
        offsets = np.arange(len(flat) + 1, dtype=np.int32) * flat.shape[1]
        return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat.ravel()))
    if kind == "f" or (kind == "u" and values.dtype.itemsize == 8):
        return pa.array(values.astype(np.float64, copy=False))
    if kind in "iu":
        return pa.array(values.astype(np.int64, copy=False))
    if kind in "bUSM":
        return pa.array(values)
    try:
        array = pa.array(values, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):
        return pa.array([_json(v) for v in values], pa.string())
    kind_of = array.type
    if pa.types.is_integer(kind_of):
        return array.cast(pa.int64())
    if pa.types.is_floating(kind_of):
        return array.cast(pa.float64())
    if pa.types.is_large_string(kind_of):
        return array.cast(pa.string())
    if pa.types.is_primitive(kind_of) or pa.types.is_string(kind_of) or pa.types.is_null(kind_of):
        return array
    return pa.array([_json(v) for v in values], pa.string())


def _json(value: Any) -> str:
    if isinstance(value, pd.DataFrame):
        value = value.to_dict(orient="list")
    return orjson.dumps(value, default=_json_default, option=_JSON_OPTIONS).decode()


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


# -- rows to files ----------------------------------------------------------------------------


class _FileBuilder:
    """The rows of one future file: one partition, feature columns of one type each.

    Records with different feature sets share a file (a column a record lacks is null there,
    e.g. an error's inputs); only a column whose type changes starts another file.
    """

    def __init__(self) -> None:
        self.records = 0
        self._rows = 0
        self._records: list[tuple[Any, ...]] = []
        self._columns: dict[str | _BlockKey, list[_Chunk | int]] = {}
        """Per column: record chunks, or an int for that many nulls."""
        self._types: dict[str | _BlockKey, pa.DataType] = {}

    def fits(self, rows: _Rows) -> bool:
        for name, chunk in rows.columns.items():
            new = _type_of(chunk)
            if not _compatible(self._types.get(name, new), new):
                return False
        return True

    def add(self, record: PredictionRecord, rows: _Rows) -> None:
        n = rows.count
        # Converted before anything is appended, so a bad record leaves no trace. One tuple
        # per record; columns are built (and repeated over the record's rows) in table().
        self._records.append(
            (
                str(record.request_id),
                int(record.time_ms),
                record.deployment,
                str(record.model_name),
                record.model_version,
                str(record.route),
                float(record.latency_ms),
                int(record.status),
                None if record.error is None else str(record.error),
                rows.inputs_json,
                rows.outputs_json,
                n,
            )
        )
        for key, chunk in rows.columns.items():
            known, new = self._types.get(key), _type_of(chunk)
            if known is None or pa.types.is_null(known):
                # A column seen only as nulls so far takes the first real type.
                self._columns[key] = [self._rows]
                self._types[key] = new
            elif pa.types.is_null(new):
                chunk = n
            self._columns[key].append(chunk)
        for key, chunks in self._columns.items():
            if key not in rows.columns:
                chunks.append(n)
        self._rows += n
        self.records += 1

    def table(self) -> pa.Table:
        (request_id, time_ms, deployment, model_name, version, route, latency, status, error,
         inputs_json, outputs_json, counts) = zip(*self._records, strict=True)  # fmt: skip
        counts_array = np.asarray(counts, dtype=np.int64)
        single = bool(np.all(counts_array == 1))

        def repeated(values: tuple[Any, ...], type_: pa.DataType) -> pa.Array:
            array = pa.array(values, type_)
            return array if single else array.take(np.repeat(np.arange(len(values)), counts))

        def first_row_only(values: tuple[Any, ...]) -> pa.Array:
            if single:
                return pa.array(values, pa.string())
            spread: list[Any] = []
            for value, count in zip(values, counts, strict=True):
                spread.append(value)
                spread.extend([None] * (count - 1))
            return pa.array(spread, pa.string())

        starts = np.repeat(np.cumsum(counts_array) - counts_array, counts_array)
        row = np.arange(int(counts_array.sum()), dtype=np.int64) - starts
        base = {
            "request_id": repeated(request_id, pa.string()),
            "row": pa.array(row),
            "time": repeated(time_ms, pa.timestamp("ms", tz="UTC")),
            "deployment": repeated(deployment, pa.string()),
            "model_name": repeated(model_name, pa.string()),
            "model_version": repeated(version, pa.int64()),
            "route": repeated(route, pa.string()),
            "latency_ms": repeated(latency, pa.float64()),
            "status": repeated(status, pa.int64()),
            "error": repeated(error, pa.string()),
            "inputs_json": first_row_only(inputs_json),
            "outputs_json": first_row_only(outputs_json),
        }
        arrays = [base[name] for name, _ in _BASE_FIELDS]
        names = [name for name, _ in _BASE_FIELDS]
        for key, chunks in self._columns.items():
            if isinstance(key, _BlockKey):
                columns = _concat_block(chunks, len(key.names), self._types[key])
                arrays.extend(columns)
                names.extend(key.prefix + name for name in key.names)
            else:
                arrays.append(_concat(chunks, self._types[key]))
                names.append(key)
        table = pa.Table.from_arrays(arrays, names=names)
        return table.replace_schema_metadata({"slipway.predlog.schema": SCHEMA_VERSION})


def _merged(chunks: list[_Chunk | int]) -> Iterator[_Chunk | int]:
    """The chunks with each run of consecutive numpy chunks concatenated into one, and empty
    null runs left out."""
    run: list[np.ndarray[Any, Any]] = []
    for chunk in chunks:
        if isinstance(chunk, np.ndarray):
            run.append(chunk)
            continue
        if run:
            yield np.concatenate(run)
            run = []
        if not isinstance(chunk, int) or chunk:
            yield chunk
    if run:
        yield np.concatenate(run)


def _concat(chunks: list[_Chunk | int], type_: pa.DataType) -> pa.Array:
    """One Arrow column from record chunks (ints: rows of nulls)."""
    pieces = [_arrow(chunk, type_) for chunk in _merged(chunks)]
    return pa.concat_arrays(pieces) if pieces else pa.nulls(0, type_)


def _arrow(chunk: _Chunk | int, type_: pa.DataType) -> pa.Array:
    if isinstance(chunk, int):
        return pa.nulls(chunk, type_)
    if isinstance(chunk, np.ndarray):
        return pa.array(chunk, type_)
    return chunk


def _concat_block(chunks: list[_Chunk | int], width: int, type_: pa.DataType) -> list[pa.Array]:
    """The columns of stacked :class:`ColumnBlock` chunks (ints: rows of nulls)."""
    pieces: list[list[pa.Array]] = [[] for _ in range(width)]
    for chunk in _merged(chunks):
        for i, column in enumerate(pieces):
            column.append(_arrow(chunk if isinstance(chunk, int) else chunk[:, i], type_))
    return [pa.concat_arrays(p) if p else pa.nulls(0, type_) for p in pieces]


def _compatible(known: pa.DataType, new: pa.DataType) -> bool:
    return bool(known == new or pa.types.is_null(known) or pa.types.is_null(new))


def _write_table(table: pa.Table, sink: IO[bytes]) -> None:
    pq.write_table(table, sink, compression="zstd")


def _write_file(folder: Path, table: pa.Table) -> Path:
    """Write ``table`` as a new file in ``folder``: temporary name, fsync, rename."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"part-{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:16]}.parquet"
    temporary = folder / f".{name}.tmp"
    try:
        with open(temporary, "wb") as sink:
            _write_table(table, sink)
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(temporary, folder / name)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return folder / name


# -- reading ----------------------------------------------------------------------------------


def read_sql_glob(root: Path, deployment: str, version: int | None = None) -> str:
    """The glob of a deployment's log files (all versions, or one), for DuckDB's read_parquet:
    ``read_parquet(<glob>, hive_partitioning=true, union_by_name=true)``."""
    if not is_safe_component(deployment):
        raise ValueError(f"invalid deployment name {deployment!r}")
    if version is not None and not _is_version(version):
        raise ValueError(f"invalid model version {version!r}")
    part = "*" if version is None else str(version)
    return str(Path(root) / deployment / part / "date=*" / "*.parquet")


def read_log(root: Path, deployment: str, version: int | None = None) -> pd.DataFrame:
    """A deployment's prediction log (all versions, or one) as a DataFrame, ordered by time.

    Includes the ``date`` partition column; empty (with the base columns) when nothing has been
    logged yet.
    """
    pattern = read_sql_glob(root, deployment, version)
    relative = Path(pattern).relative_to(Path(root))
    if next(Path(root).glob(str(relative)), None) is None:
        return pd.DataFrame({name: pd.Series(dtype=object) for name, _ in _BASE_FIELDS})
    with duckdb.connect() as connection:
        frame: pd.DataFrame = connection.execute(
            "select * from read_parquet(?, hive_partitioning = true, union_by_name = true) "
            "order by time, request_id, model_version, route, row",
            [pattern],
        ).df()
    return frame
