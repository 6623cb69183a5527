"""Buffered metric logging.

``log_metric`` in a training loop is called once per step; writing each point in its own
transaction is what makes MLflow's loop cost ~3 ms a point. Points are kept in memory and
written in one ``executemany`` when the buffer is full, when it gets old, or when the run ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from slipway.core.entities import Metric
from slipway.core.errors import InvalidInput
from slipway.core.names import check_key

Writer = Callable[[Sequence[Metric]], None]


class MetricBuffer:
    def __init__(self, write: Writer, *, max_points: int = 5000, max_age_s: float = 2.0) -> None:
        self._write = write
        self._max_points = max_points
        self._max_age_s = max_age_s
        self._points: list[Metric] = []
        self._first_at = 0.0
        self._known_keys: set[str] = set()

    def __len__(self) -> int:
        return len(self._points)

    def add(self, key: str, value: float, step: int | None, timestamp: int | None) -> None:
        """Queue one point; invalid keys and values are refused here, not at flush time."""
        if key not in self._known_keys:
            check_key("metric", key)
            self._known_keys.add(key)
        if value.__class__ is not float:
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise InvalidInput(f"metric {key!r}: value {value!r} is not a number") from None
        now = time.time()
        if not self._points:
            self._first_at = now
        self._points.append(
            Metric(key, value, int(now * 1000) if timestamp is None else timestamp, step or 0)
        )
        if len(self._points) >= self._max_points or now - self._first_at > self._max_age_s:
            self.flush()

    def flush(self) -> None:
        """Write every queued point; on failure they stay queued for the next flush."""
        if self._points:
            self._write(self._points)
            self._points = []
