"""The fast paths of the raw drift computation against scipy and the straightforward versions.

Wasserstein without a merge (blocks and runs), KS without a pooled sort, one sort per column
with the missing values sliced off, the low-cardinality probe, and columns on threads.
"""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray
from scipy import stats

from slipway.core.errors import InvalidInput
from slipway.monitoring import drift
from slipway.monitoring.drift import (
    LOW_CARDINALITY,
    ColumnTest,
    DriftOptions,
    column_drift,
    column_drift_from_profile,
    few_distinct,
    ks_statistic,
    ks_test,
    map_columns,
    numeric_values,
    unique_sorted,
    wasserstein_normed,
)
from slipway.monitoring.profile import compute_profile

Floats = NDArray[np.float64]


def _samples(rng: np.random.Generator, n: int, m: int, kind: int) -> tuple[Floats, Floats]:
    if kind == 0:
        a, b = rng.normal(size=n), rng.normal(0.2, size=m)
    elif kind == 1:  # many ties
        a, b = rng.integers(0, 4, n).astype(float), rng.integers(0, 5, m).astype(float)
    else:
        a, b = rng.exponential(size=n), rng.exponential(2.0, size=m)
    return np.sort(a), np.sort(b)


def test_w1_matches_scipy_on_every_small_size_pair() -> None:
    rng = np.random.default_rng(11)
    for n in range(1, 25):
        for m in range(1, 25):
            a, b = _samples(rng, n, m, (n + m) % 3)
            expected = stats.wasserstein_distance(a, b)
            assert drift._w1(a, b) == pytest.approx(expected, rel=1e-12, abs=1e-15), (n, m)


@pytest.mark.parametrize("side", [drift._w1_side, drift._w1_runs])
def test_w1_both_summations_match_scipy(side) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(12)
    for trial in range(400):
        n, m = (int(x) for x in rng.integers(1, 90, size=2))
        if n == m:
            continue
        a, b = _samples(rng, n, m, trial % 3)
        total = side(a, b) + side(b, a) - drift._w1_ties(b, a)
        expected = stats.wasserstein_distance(a, b)
        assert total / (n * m) == pytest.approx(expected, rel=1e-12, abs=1e-15), (n, m)


@pytest.mark.parametrize(
    ("n", "m"),
    [
        (50_000, 50_007),  # nearly equal sizes: the run-by-run path
        (50_007, 50_000),
        (40_000, 20_000),  # half: every other level is shared (gcd = 20,000)
        (70_001, 3),  # one tiny sample
        (65_536 * 2 + 5, 65_536 + 17),  # several blocks, a ragged last one
    ],
)
def test_w1_large_samples_match_scipy(n: int, m: int) -> None:
    rng = np.random.default_rng(n + m)
    for kind in range(3):
        a, b = _samples(rng, n, m, kind)
        expected = stats.wasserstein_distance(a, b)
        assert drift._w1(a, b) == pytest.approx(expected, rel=1e-12)
        std = float(np.std(a))
        assert wasserstein_normed(a, b, std) == pytest.approx(expected / std, rel=1e-12)


def test_w1_runs_path_is_taken_for_nearly_equal_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    runs = drift._w1_runs

    def spy(x: Floats, y: Floats) -> float:
        calls.append(len(x))
        return runs(x, y)

    monkeypatch.setattr(drift, "_w1_runs", spy)
    rng = np.random.default_rng(5)
    a, b = _samples(rng, 100_000, 100_010, 0)
    assert drift._w1(a, b) == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-12)
    assert sorted(calls) == [100_000, 100_010]


def test_ks_statistic_matches_scipy_on_small_sizes_and_ties() -> None:
    rng = np.random.default_rng(13)
    for trial in range(600):
        n, m = (int(x) for x in rng.integers(1, 60, size=2))
        a, b = _samples(rng, n, m, trial % 3)
        expected = stats.ks_2samp(a, b).statistic
        assert ks_statistic(a, b) == pytest.approx(expected, abs=1e-12), (n, m)
        assert ks_statistic(b, a) == ks_statistic(a, b)


def test_ks_large_sample_p_value_is_scipys_asymptotic() -> None:
    rng = np.random.default_rng(14)
    a, b = _samples(rng, 30_000, 25_000, 0)
    expected = stats.ks_2samp(a, b, method="asymp")
    d, p = ks_test(a, b)
    assert d == pytest.approx(expected.statistic, abs=1e-12)
    assert p == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)


def test_identical_samples_have_zero_distance() -> None:
    a = np.sort(np.random.default_rng(15).normal(size=10_001))
    assert drift._w1(a, a.copy()) == 0.0
    assert ks_statistic(a, a.copy()) == 0.0


@pytest.mark.parametrize(
    "values",
    [
        pd.Series([3.0, np.nan, -np.inf, 1.0, np.inf, 2.0, np.nan, -5.0]),
        pd.Series([3, 1, 2, 2, 7], dtype="int64"),
        pd.Series([3, None, 1, 2], dtype="Int64"),
        pd.Series([0.5, None, -1.5], dtype="Float64"),
        pd.Series([1, 2.5, None], dtype=object),
        pd.Series(np.array([4, 1, 2], dtype=np.uint8)),
        pd.Series(np.array([2.5, np.nan, 1.5], dtype=np.float32)),
    ],
)
def test_numeric_values_sorts_once_and_drops_missing(values: pd.Series) -> None:
    floats = values.to_numpy(dtype=np.float64, na_value=np.nan)
    expected = np.sort(floats[np.isfinite(floats)])
    got, missing = numeric_values(values, "x", "reference")
    np.testing.assert_array_equal(got, expected)
    assert missing == len(values) - len(expected)
    assert got.dtype == np.float64


@pytest.mark.parametrize("values", [[np.nan, np.inf, -np.inf], [np.nan]])
def test_numeric_values_all_missing_is_refused(values: list[float]) -> None:
    with pytest.raises(InvalidInput, match="no non-missing"):
        numeric_values(pd.Series(values), "x", "current")


def test_numeric_values_refuses_text() -> None:
    with pytest.raises(InvalidInput, match="not numeric"):
        numeric_values(pd.Series(["a", "b"]), "x", "current")


def test_few_distinct_probe_agrees_with_a_full_count() -> None:
    rng = np.random.default_rng(16)
    cases = [
        np.sort(rng.integers(0, LOW_CARDINALITY, 100_000).astype(float)),  # exactly 20
        np.sort(rng.integers(0, LOW_CARDINALITY + 1, 100_000).astype(float)),  # 21
        np.sort(rng.normal(size=1000)),
        np.array([1.0]),
        # 19 common values and a few rare ones the probe cannot see: a full count decides
        np.sort(np.concatenate([np.repeat(np.arange(19.0), 5000), [100.0, 101.0, 102.0]])),
        np.sort(np.concatenate([np.repeat(np.arange(19.0), 5000), [100.0]])),
    ]
    for values in cases:
        distinct, counts = unique_sorted(values)
        got = few_distinct(values)
        if len(distinct) <= LOW_CARDINALITY:
            assert got is not None
            np.testing.assert_array_equal(got[0], distinct)
            np.testing.assert_array_equal(got[1], counts)
        else:
            assert got is None


def _mixed(n: int, seed: int, shift: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": rng.normal(shift, size=n),
            "b": rng.exponential(size=n),
            "few": rng.integers(0, 4, size=n).astype(float),
            "i": rng.integers(0, 1000, size=n),
            "c": rng.choice(["x", "y", "z"], size=n),
            "d": pd.Series(rng.choice(["p", "q"], size=n)).astype("category"),
        }
    )
    frame.loc[rng.random(n) < 0.05, "a"] = np.nan
    return frame


@pytest.mark.parametrize(
    "options",
    [DriftOptions(), DriftOptions(default_numerical=ColumnTest(method="ks"))],
)
def test_threads_give_the_same_results(options: DriftOptions) -> None:
    ref, cur = _mixed(20_000, 1, 0.0), _mixed(19_000, 2, 0.2)
    serial = column_drift(ref, cur, options, workers=1)
    assert column_drift(ref, cur, options, workers=4) == serial
    assert column_drift(ref, cur, options) == serial
    profile_1 = compute_profile(ref, workers=1)
    profile_4 = compute_profile(ref, workers=4)
    assert profile_4.to_json_bytes() == profile_1.to_json_bytes()
    from_profile = column_drift_from_profile(profile_1, cur, options, workers=1)
    assert column_drift_from_profile(profile_1, cur, options, workers=3) == from_profile


def test_map_columns_keeps_order_and_raises_the_first_failure_in_order() -> None:
    names = [f"c{i}" for i in range(12)]

    def echo(name: str) -> str:
        return name.upper()

    assert map_columns(echo, names, workers=3) == [n.upper() for n in names]
    assert map_columns(echo, names, workers=1) == [n.upper() for n in names]
    assert map_columns(echo, [], workers=4) == []

    def fail(name: str) -> str:
        if name in {"c3", "c7"}:
            raise InvalidInput(f"bad {name}")
        return name

    with pytest.raises(InvalidInput, match="bad c3"):
        map_columns(fail, names, workers=4)


def test_small_inputs_stay_in_the_calling_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drift, "default_workers", lambda: 4)
    seen: set[int] = set()

    def where(name: str) -> str:
        seen.add(threading.get_ident())
        return name

    names = [f"c{i}" for i in range(8)]
    map_columns(where, names, rows=drift.PARALLEL_MIN_ROWS - 1)
    assert seen == {threading.get_ident()}
    seen.clear()
    map_columns(where, names, rows=drift.PARALLEL_MIN_ROWS)
    assert threading.get_ident() not in seen


def test_threaded_errors_name_the_column() -> None:
    ref, cur = _mixed(2000, 1, 0.0), _mixed(2000, 2, 0.0)
    cur["b"] = "text"
    with pytest.raises(InvalidInput, match="'b'"):
        column_drift(ref, cur, workers=4)


@pytest.mark.parametrize("workers", [1, 2])
def test_profile_keeps_non_string_column_labels(workers: int) -> None:
    frame = pd.DataFrame({0: np.arange(1000.0), 1: ["a", "b"] * 500})
    profile = compute_profile(frame, workers=workers)
    assert list(profile.features) == ["0", "1"]
    assert profile.features["1"].kind == "categorical"
