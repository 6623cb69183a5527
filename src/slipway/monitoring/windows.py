"""Tumbling windows over a deployment's prediction log, cut by DuckDB.

A window is either a span of arrival time (``1h``, ``15m``, ``1d``: aligned to the epoch, so
the same hour is the same window whoever asks) or a count of consecutive predictions
(``every_n``), per model version. Only answered rows count (status below 300), and shadow
answers are kept apart from served ones by ``route``. Each window comes back with its rows as
a DataFrame of the logged features (``in_*`` without the prefix) and outputs (``out_*``), so
drift and performance code never touch Parquet or SQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from slipway.core.errors import InvalidInput
from slipway.serving.predlog import read_sql_glob

_SPAN = re.compile(r"^(?P<n>\d+)(?P<unit>s|m|h|d)$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_SOURCE = "read_parquet(?, hive_partitioning = true, union_by_name = true)"
WHOLE_SPAN = 2**62
"""An ``every_n`` no log reaches: each version's rows in ``[since, until]`` as one window (a
trailing span taken whole, not cut at clock-aligned boundaries)."""


def parse_span(text: str) -> timedelta:
    """``30m``, ``1h``, ``1d`` as a timedelta (at least one second)."""
    match = _SPAN.match(text.strip())
    if match is None or int(match["n"]) == 0:
        raise InvalidInput(f"invalid window {text!r}: use a count and a unit, e.g. 15m, 1h, 1d")
    return timedelta(seconds=int(match["n"]) * _SECONDS[match["unit"]])


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime
    model_name: str
    version: int
    rows: int
    frame: pd.DataFrame
    """Features (``in_`` prefix removed) and outputs (``out_`` prefix kept), plus
    ``request_id``, ``row`` and ``time``."""

    @property
    def features(self) -> pd.DataFrame:
        columns = [c for c in self.frame.columns if c not in _META and not c.startswith("out_")]
        return self.frame[columns]

    @property
    def outputs(self) -> pd.DataFrame:
        return self.frame[[c for c in self.frame.columns if c.startswith("out_")]]


_META = ("request_id", "row", "time", "window")


def windows(
    log_root: Path,
    deployment: str,
    *,
    window: str | None = "1h",
    every_n: int | None = None,
    version: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    route: str | None = None,
) -> Iterator[Window]:
    """The deployment's tumbling windows, oldest first, one per version and span.

    ``route`` keeps one route only (e.g. ``shadow``); by default shadow answers are left out
    (they were never served).
    """
    if every_n is not None:
        if every_n < 1:
            raise InvalidInput(f"every_n must be a positive count, got {every_n}")
        window = None
    elif window is None:
        raise InvalidInput("give a time window (e.g. 1h) or every_n")
    span = None if window is None else parse_span(window)
    try:
        pattern = read_sql_glob(log_root, deployment, version)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    relative = Path(pattern).relative_to(log_root)
    if next(log_root.glob(str(relative)), None) is None:
        return
    where = ["status < 300"]
    params: list[object] = [pattern]
    if route is None:
        where.append("route <> 'shadow'")
    else:
        where.append("route = ?")
        params.append(route)
    if since is not None:
        where += ["time >= ?", "date >= ?"]
        params += [_aware(since, "since"), _aware(since, "since").date()]
    if until is not None:
        where += ["time < ?", "date <= ?"]
        params += [_aware(until, "until"), _aware(until, "until").date()]
    with duckdb.connect() as connection:
        frame = connection.execute(
            f"select * exclude (date) from {_SOURCE} where {' and '.join(where)} "
            "order by model_version, time, request_id, row",
            params,
        ).df()
    if frame.empty:
        return
    for number, rows in frame.groupby("model_version", sort=True):
        yield from _cut(rows, int(str(number)), span, every_n)


def _cut(
    rows: pd.DataFrame, version: int, span: timedelta | None, every_n: int | None
) -> Iterator[Window]:
    times = pd.to_datetime(rows["time"], utc=True)
    if span is not None:
        seconds = int(span.total_seconds())
        # Whole seconds since the epoch, whatever unit DuckDB handed the timestamps in.
        epoch = times.dt.tz_convert(None).to_numpy().astype("datetime64[s]").astype("int64")
        keys = (epoch // seconds) * seconds
    else:
        assert every_n is not None
        keys = np.arange(len(rows)) // every_n
    for key, part in rows.groupby(np.asarray(keys), sort=True):
        part_times = times.loc[part.index]
        if span is not None:
            start = datetime.fromtimestamp(int(str(key)), UTC)
            end = start + span
        else:
            start = part_times.min().to_pydatetime()
            end = part_times.max().to_pydatetime()
        name = str(part["model_name"].iloc[0])
        yield Window(start, end, name, version, len(part), _tidy(part))


def _tidy(part: pd.DataFrame) -> pd.DataFrame:
    keep = [c for c in ("request_id", "row", "time") if c in part.columns]
    features = [c for c in part.columns if c.startswith("in_")]
    outputs = [c for c in part.columns if c.startswith("out_")]
    tidy = part[keep + features + outputs].rename(columns={c: c[3:] for c in features})
    return tidy.reset_index(drop=True)


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise InvalidInput(f"{name} must be timezone-aware (e.g. datetime.now(UTC))")
    return value.astimezone(UTC)
