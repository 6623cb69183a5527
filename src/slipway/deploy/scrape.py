"""What the analysis reads from running servers: request counters and latency histograms from
their ``/metrics``, and predictions from the prediction log.

Counters are cumulative, so a step's numbers are the difference of two :class:`Snapshot`: one
taken when the step's window opens, one at each look (:func:`delta`). Replicas are kept apart
inside a snapshot and summed only after the difference, so that one replica restarting (its
counters start again from zero) spoils nothing, as with Prometheus' ``sum(rate(...))``.

Which requests count against the model (``slipway_requests_total{status}``):

* ``2xx``: answered;
* ``5xx`` and ``422``: **errors**. 422 is what the server answers when the model raised
  (``ModelFailed``) and also when input does not match the version's signature: for a
  challenger serving the champion's traffic, both mean it cannot serve what production sends;
* other ``4xx`` (bad body, unknown model, payload too large): **client errors**, counted apart
  and in neither the errors nor the requests of the error rate: the model never saw them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from slipway.core.errors import SlipwayError
from slipway.serving.predlog import read_sql_glob

REQUESTS = "slipway_requests"
LATENCY = "slipway_request_latency_seconds"

_SAMPLES = frozenset(
    [f"{REQUESTS}_{suffix}" for suffix in ("total", "created")]
    + [f"{LATENCY}_{suffix}" for suffix in ("bucket", "sum", "count", "created")]
)

Buckets = tuple[tuple[float, int], ...]
"""A cumulative histogram: (upper bound ``le`` in seconds, observations <= le), ascending,
ending with ``+inf``."""


class ScrapeError(SlipwayError):
    """A server's metrics could not be read; transient as a rule: look again later."""

    def __init__(self, url: str, reason: str) -> None:
        self.url, self.reason = url, reason
        super().__init__(f"cannot read metrics from {url}: {reason}")


class VersionKey(NamedTuple):
    model: str
    version: int


@dataclass(frozen=True, slots=True)
class VersionCounters:
    """One model version's counters on one server (or summed over servers)."""

    requests: int = 0
    """Requests the model answered or failed: 2xx, 5xx and 422 (client errors excluded)."""
    errors: int = 0
    """5xx and 422 answers."""
    client_errors: int = 0
    """Other 4xx answers: not the model's fault, not in ``requests``."""
    latency_buckets: Buckets = ()
    """Latency of answered (2xx) requests, cumulative; empty when none was observed."""
    latency_sum: float = 0.0
    """Seconds."""
    latency_count: int = 0
    created: float | None = None
    """Earliest ``_created`` time (epoch seconds) of the version's series in one server
    process: a later value means the process restarted. None when not exposed or summed."""

    @property
    def error_rate(self) -> float | None:
        """errors / requests; None without requests."""
        return self.errors / self.requests if self.requests else None

    def latency_quantile_ms(self, q: float) -> float | None:
        """The q-quantile of latency in milliseconds (see :func:`histogram_quantile`)."""
        seconds = histogram_quantile(q, self.latency_buckets)
        return None if seconds is None else seconds * 1000


ZERO = VersionCounters()


@dataclass(frozen=True)
class Snapshot:
    """All versions' counters, per server, at one time (or over a window, see :func:`delta`)."""

    taken_at: float
    """Epoch seconds (for a window: its end)."""
    sources: Mapping[str, Mapping[VersionKey, VersionCounters]] = field(default_factory=dict)
    """Per server (its URL): per version, the counters."""

    def versions(self) -> dict[VersionKey, VersionCounters]:
        """Every version's counters summed over the servers."""
        keys = sorted({key for counters in self.sources.values() for key in counters})
        return {key: self.get(*key) for key in keys}

    def get(self, model: str, version: int) -> VersionCounters:
        """One version's counters summed over the servers; zeros when none reports it."""
        key = VersionKey(model, version)
        return _sum(c[key] for c in self.sources.values() if key in c)


def parse_counters(text: str | bytes) -> dict[VersionKey, VersionCounters]:
    """Per model version, the counters in one server's Prometheus text exposition.

    Raises ValueError when the text does not parse or a label is not what the server writes."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    requests: dict[VersionKey, list[int]] = {}
    buckets: dict[VersionKey, dict[float, int]] = {}
    sums: dict[VersionKey, float] = {}
    counts: dict[VersionKey, int] = {}
    created: dict[VersionKey, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name not in _SAMPLES:
                continue
            labels = sample.labels
            key = _key(labels)
            value = sample.value
            if sample.name.endswith("_created"):
                created[key] = min(value, created.get(key, math.inf))
            elif sample.name == REQUESTS + "_total":
                slot = {"ok": 0, "error": 1, "client": 2}[_outcome(labels.get("status", ""))]
                requests.setdefault(key, [0, 0, 0])[slot] += _count(value)
            elif sample.name == LATENCY + "_bucket":
                buckets.setdefault(key, {})[float(labels["le"])] = _count(value)
            elif sample.name == LATENCY + "_sum":
                sums[key] = float(value)
            elif sample.name == LATENCY + "_count":
                counts[key] = _count(value)
    result = {}
    for key in sorted({*requests, *buckets, *counts}):
        ok, errors, client = requests.get(key, [0, 0, 0])
        result[key] = VersionCounters(
            requests=ok + errors,
            errors=errors,
            client_errors=client,
            latency_buckets=tuple(sorted(buckets.get(key, {}).items())),
            latency_sum=sums.get(key, 0.0),
            latency_count=counts.get(key, 0),
            created=created.get(key),
        )
    return result


def _key(labels: Mapping[str, str]) -> VersionKey:
    try:
        return VersionKey(labels["model"], int(labels["version"]))
    except (KeyError, ValueError):
        raise ValueError(f"expected labels model and an integer version, got {labels}") from None


def _outcome(status: str) -> str:
    try:
        code = int(status)
    except ValueError:
        raise ValueError(f"expected an HTTP status label, got {status!r}") from None
    if code >= 500 or code == 422:
        return "error"
    return "client" if code >= 400 else "ok"


def _count(value: float) -> int:
    return round(value)


def _sum(counters: Iterable[VersionCounters]) -> VersionCounters:
    """Counters added up; a histogram keeps the bounds every part has (sums stay exact)."""
    parts = list(counters)
    if not parts:
        return ZERO
    if len(parts) == 1:
        return replace(parts[0], created=None)
    with_latency = [dict(p.latency_buckets) for p in parts if p.latency_buckets]
    bounds = set.intersection(*(set(b) for b in with_latency)) if with_latency else set()
    return VersionCounters(
        requests=sum(p.requests for p in parts),
        errors=sum(p.errors for p in parts),
        client_errors=sum(p.client_errors for p in parts),
        latency_buckets=tuple((le, sum(b[le] for b in with_latency)) for le in sorted(bounds)),
        latency_sum=sum(p.latency_sum for p in parts),
        latency_count=sum(p.latency_count for p in parts),
    )


def delta(before: Snapshot, after: Snapshot) -> Snapshot:
    """The counts between two snapshots, server by server and version by version.

    A counter reset (the server restarted: a later ``created`` time, or any count lower than
    before) makes ``after``'s counts the whole window, as Prometheus' ``rate()`` does; a
    version or server absent from ``before`` counts from zero. A server missing from ``after``
    adds nothing: what it answered since ``before`` is unknown."""
    sources: dict[str, dict[VersionKey, VersionCounters]] = {}
    for url, versions in after.sources.items():
        earlier = before.sources.get(url, {})
        sources[url] = {key: _window(earlier.get(key, ZERO), now) for key, now in versions.items()}
    return Snapshot(after.taken_at, sources)


def _window(before: VersionCounters, after: VersionCounters) -> VersionCounters:
    if _is_reset(before, after):
        return after
    old = dict(before.latency_buckets)
    return VersionCounters(
        requests=after.requests - before.requests,
        errors=after.errors - before.errors,
        client_errors=after.client_errors - before.client_errors,
        latency_buckets=tuple((le, n - old.get(le, 0)) for le, n in after.latency_buckets),
        latency_sum=max(after.latency_sum - before.latency_sum, 0.0),
        latency_count=after.latency_count - before.latency_count,
        created=after.created,
    )


def _is_reset(before: VersionCounters, after: VersionCounters) -> bool:
    if before.created is not None and after.created is not None and after.created > before.created:
        return True
    pairs = [
        (before.requests, after.requests),
        (before.errors, after.errors),
        (before.client_errors, after.client_errors),
        (before.latency_count, after.latency_count),
    ]
    new = dict(after.latency_buckets)
    if before.latency_buckets and set(dict(before.latency_buckets)) != set(new):
        return True
    pairs.extend((n, new[le]) for le, n in before.latency_buckets)
    return any(now < then for then, now in pairs)


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """The q-quantile of a cumulative histogram, as Prometheus' ``histogram_quantile``.

    rank = q * total; in the first bucket whose cumulative count reaches rank, interpolate
    linearly: lower + (upper - lower) * (rank - count_below) / count_in_bucket, the lowest
    bucket starting at 0. A rank in the ``+inf`` bucket gives the highest finite bound (the
    true value is above it). None without observations or finite bounds."""
    if not 0 <= q <= 1:
        raise ValueError(f"q must be within [0, 1], got {q}")
    ordered = sorted((float(le), float(n)) for le, n in buckets)
    if len(ordered) < 2 or not math.isinf(ordered[-1][0]):
        return None
    cumulative = np.maximum.accumulate([n for _, n in ordered])  # as Prometheus: monotonic
    total = float(cumulative[-1])
    if total <= 0:
        return None
    rank = q * total
    b = int(np.searchsorted(cumulative, rank, side="left"))
    if b == len(ordered) - 1:
        return ordered[-2][0]
    upper = ordered[b][0]
    if b == 0 and upper <= 0:
        return upper
    lower = ordered[b - 1][0] if b > 0 else 0.0
    below = float(cumulative[b - 1]) if b > 0 else 0.0
    in_bucket = float(cumulative[b]) - below
    if in_bucket == 0:  # only for rank 0 (q = 0 or leading empty buckets)
        return lower
    return lower + (upper - lower) * (rank - below) / in_bucket


def fetch_snapshot(
    endpoints: Sequence[str], timeout: float = 2.0, *, client: httpx.Client | None = None
) -> Snapshot:
    """GET ``<endpoint>/metrics`` of every server (replica) and parse them into one snapshot.

    Raises :class:`ScrapeError` naming the URL of the first server that cannot be reached,
    answers other than 200 or sends something that is not Prometheus text; ValueError when an
    endpoint is listed twice (it would be counted twice). ``client``: an httpx client to reuse
    across looks (kept open); ``timeout`` still bounds each request."""
    bases = [endpoint.rstrip("/") for endpoint in endpoints]
    if len(set(bases)) != len(bases):
        raise ValueError(f"endpoints listed more than once: {list(endpoints)}")
    taken_at = time.time()
    own = client is None
    http = httpx.Client(timeout=timeout) if client is None else client
    try:
        sources = {base: _scrape(http, f"{base}/metrics", timeout) for base in bases}
    finally:
        if own:
            http.close()
    return Snapshot(taken_at, sources)


def _scrape(http: httpx.Client, url: str, timeout: float) -> dict[VersionKey, VersionCounters]:
    try:
        response = http.get(url, timeout=timeout)
    except httpx.HTTPError as exc:
        raise ScrapeError(url, f"{type(exc).__name__}: {exc}") from exc
    if response.status_code != 200:
        raise ScrapeError(url, f"HTTP {response.status_code}")
    try:
        return parse_counters(response.text)
    except ValueError as exc:
        raise ScrapeError(url, f"not Prometheus text as slipway serves it: {exc}") from exc


# -- predictions ------------------------------------------------------------------------------


def prediction_samples(
    log_root: Path,
    deployment: str,
    version: int,
    since: datetime | float,
    until: datetime | float | None = None,
    *,
    output: str | None = None,
) -> np.ndarray[Any, Any]:
    """One model version's predictions logged in ``[since, until)``, one per prediction row,
    in log order (time, request, row); for :func:`slipway.deploy.stats.prediction_distance`.

    Times are aware datetimes or epoch seconds, compared with the request's arrival. Only
    answered rows (status < 300, output present) count. The output is the log column
    ``out_<output>``; unset, the version's only output column, or else its only scalar one
    (e.g. ``label`` beside the list column ``probabilities``); ValueError when that is
    ambiguous or ``output`` is not logged. A scalar output gives a 1-D array (float64, int64,
    bool, or object for strings), a list output a 2-D float64 array (n, k). Outputs too
    irregular to split into rows (``outputs_json``) are not read; nothing logged yet gives an
    empty array.
    """
    start, end = _when(since, "since"), None if until is None else _when(until, "until")
    pattern = read_sql_glob(log_root, deployment, version)
    relative = Path(pattern).relative_to(Path(log_root))
    if next(Path(log_root).glob(str(relative)), None) is None:
        return np.empty(0)
    source = "read_parquet(?, hive_partitioning = true, union_by_name = true)"
    with duckdb.connect() as connection:
        described = connection.execute(f"describe select * from {source}", [pattern]).fetchall()
        types = {str(row[0]): str(row[1]) for row in described}
        column = _output_column(types, output, deployment, version)
        if column is None:
            return np.empty(0)
        quoted = '"' + column.replace('"', '""') + '"'
        query = (
            f"select {quoted} from {source} where {quoted} is not null and status < 300 "
            "and time >= ? and date >= ?"
        )
        params: list[Any] = [pattern, start, start.date()]
        if end is not None:
            query += " and time < ? and date <= ?"
            params += [end, end.date()]
        query += " order by time, request_id, row"
        values = np.asarray(connection.execute(query, params).fetchnumpy()[column])
    return _stack(values, column) if types[column].endswith("[]") else values


def _when(value: datetime | float, name: str) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{name} is a naive datetime; pass an aware one or epoch seconds")
        return value.astimezone(UTC)
    return datetime.fromtimestamp(float(value), UTC)


def _output_column(
    types: Mapping[str, str], output: str | None, deployment: str, version: int
) -> str | None:
    outputs = sorted(name for name in types if name.startswith("out_"))
    if output is not None:
        if f"out_{output}" in types:
            return f"out_{output}"
        if not outputs:
            return None
        raise ValueError(
            f"{deployment} version {version} logs no output {output!r}; it logs "
            + ", ".join(name.removeprefix("out_") for name in outputs)
        )
    if len(outputs) <= 1:
        return outputs[0] if outputs else None
    scalars = [name for name in outputs if not types[name].endswith("[]")]
    if len(scalars) == 1:
        return scalars[0]
    raise ValueError(
        f"{deployment} version {version} logs several outputs ("
        + ", ".join(name.removeprefix("out_") for name in outputs)
        + "); say which one to compare"
    )


def _stack(values: np.ndarray[Any, Any], column: str) -> np.ndarray[Any, Any]:
    if len(values) == 0:
        return np.empty((0, 0))
    widths = {len(row) for row in values}
    if len(widths) != 1:
        raise ValueError(f"{column} holds lists of different lengths {sorted(widths)}")
    return np.stack([np.asarray(row, dtype=np.float64) for row in values])
