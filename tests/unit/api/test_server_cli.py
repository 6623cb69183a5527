"""Parsing of ``slipway tokens create --expires-in``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from slipway.cli.server import parse_expiry
from slipway.core.errors import InvalidInput

NOW = datetime(2030, 1, 1, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)


@pytest.mark.parametrize(
    ("text", "ms"),
    [("30d", 30 * 86_400_000), ("30", 30 * 86_400_000), ("12h", 12 * 3_600_000),
     ("2w", 14 * 86_400_000), ("0.5d", 43_200_000)],
)  # fmt: skip
def test_durations(text: str, ms: int) -> None:
    assert parse_expiry(text, NOW) == NOW_MS + ms


def test_absolute_times_default_to_utc() -> None:
    assert parse_expiry("2030-01-02T00:00:00", NOW) == NOW_MS + 86_400_000
    assert parse_expiry("2030-01-02T01:00:00+01:00", NOW) == NOW_MS + 86_400_000


@pytest.mark.parametrize("text", ["soon", "0d", "-1d", "30x"])
def test_bad_values(text: str) -> None:
    with pytest.raises(InvalidInput, match="--expires-in"):
        parse_expiry(text, NOW)
