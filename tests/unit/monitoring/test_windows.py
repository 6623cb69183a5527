"""Tumbling windows over a real prediction log written by the server's own writer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from slipway.core.errors import InvalidInput
from slipway.monitoring.windows import parse_span, windows
from slipway.serving.predlog import PredictionLog, PredictionRecord

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def write_log(root: Path) -> None:
    log = PredictionLog(root)
    log.start()
    rng = np.random.default_rng(0)
    for minute in range(180):  # 10:00 to 12:59, one request a minute, 2 rows each
        when = T0 + timedelta(minutes=minute)
        version = 1 if minute < 120 else 2
        x = rng.normal(size=2) + (3.0 if minute >= 60 else 0.0)
        for route, status in (("champion", 200), ("shadow", 200)):
            log.submit(
                PredictionRecord(
                    request_id=f"r{minute}",
                    time_ms=int(when.timestamp() * 1000),
                    deployment="fraud",
                    model_name="fraud",
                    model_version=version if route == "champion" else 9,
                    route=route,
                    latency_ms=1.0,
                    status=status,
                    inputs={"amount": list(x), "country": ["fr", "de"]},
                    outputs={"label": [0, 1]},
                )
            )
        if minute % 30 == 0:  # a failed request: never in a window
            log.submit(
                PredictionRecord(
                    f"bad{minute}",
                    int(when.timestamp() * 1000),
                    "fraud",
                    "fraud",
                    version,
                    "champion",
                    1.0,
                    422,
                    {"amount": [1.0], "country": ["fr"]},
                    None,
                    "bad",
                )
            )
    log.close()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write_log(tmp_path / "logs")
    return tmp_path / "logs"


def test_hourly_windows_per_version(root: Path) -> None:
    found = list(windows(root, "fraud", window="1h"))
    assert [(w.version, w.start.hour, w.rows) for w in found] == [
        (1, 10, 120),
        (1, 11, 120),
        (2, 12, 120),
    ]
    first = found[0]
    assert first.end - first.start == timedelta(hours=1)
    assert list(first.features.columns) == ["amount", "country"]
    assert list(first.outputs.columns) == ["out_label"]
    assert found[1].features["amount"].mean() > found[0].features["amount"].mean() + 2


def test_count_windows_and_filters(root: Path) -> None:
    found = list(windows(root, "fraud", every_n=100, version=1))
    assert [w.rows for w in found] == [100, 100, 40]
    shadow = list(windows(root, "fraud", window="1d", route="shadow"))
    assert [(w.version, w.rows) for w in shadow] == [(9, 360)]
    late = list(windows(root, "fraud", window="1h", since=T0 + timedelta(hours=2)))
    assert [w.version for w in late] == [2]
    assert list(windows(root, "other", window="1h")) == []


@pytest.mark.parametrize("bad", ["", "1w", "0h", "h", "-1h"])
def test_bad_spans(bad: str) -> None:
    with pytest.raises(InvalidInput, match="invalid window"):
        parse_span(bad)


def test_bad_arguments(root: Path) -> None:
    with pytest.raises(InvalidInput, match="timezone-aware"):
        list(windows(root, "fraud", since=datetime(2026, 1, 1)))
    with pytest.raises(InvalidInput, match="every_n"):
        list(windows(root, "fraud", every_n=0))
    with pytest.raises(InvalidInput, match="deployment"):
        list(windows(root, "../etc", window="1h"))
