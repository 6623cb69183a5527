"""Drift statistics against scipy, default selection, options and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon as scipy_js

from slipway.core.errors import InvalidInput
from slipway.monitoring.drift import (
    ColumnTest,
    DriftOptions,
    chisquare_pvalue,
    column_drift,
    dataset_drift,
    jensenshannon,
    ks_test,
    psi,
    wasserstein_normed,
    z_pvalue,
)

RNG = np.random.default_rng(7)


def _frames(n: int = 5000, shift: float = 0.0, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "y": rng.exponential(size=n),
            "c": rng.choice(["a", "b", "c"], size=n),
        }
    )
    cur = pd.DataFrame(
        {
            "x": rng.normal(loc=shift, size=n),
            "y": rng.exponential(size=n),
            "c": rng.choice(["a", "b", "c"], size=n),
        }
    )
    return ref, cur


@pytest.mark.parametrize(("n", "m"), [(200, 300), (5000, 5000), (20000, 15000)])
def test_ks_matches_scipy(n: int, m: int) -> None:
    ref = np.sort(RNG.normal(size=n))
    cur = np.sort(RNG.normal(0.05, size=m))
    expected = stats.ks_2samp(ref, cur)
    d, p = ks_test(ref, cur)
    assert d == pytest.approx(expected.statistic, abs=1e-12)
    assert p == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)


def test_ks_with_ties_matches_scipy() -> None:
    ref = np.sort(RNG.integers(0, 30, 20000).astype(float))
    cur = np.sort(RNG.integers(0, 31, 12000).astype(float))
    expected = stats.ks_2samp(ref, cur)
    d, p = ks_test(ref, cur)
    assert d == pytest.approx(expected.statistic, abs=1e-12)
    assert p == pytest.approx(expected.pvalue, rel=1e-9)


def test_wasserstein_matches_scipy() -> None:
    ref = np.sort(RNG.normal(size=3000))
    cur = np.sort(RNG.normal(0.3, 2.0, size=4000))
    expected = stats.wasserstein_distance(ref, cur) / np.std(ref)
    assert wasserstein_normed(ref, cur, float(np.std(ref))) == pytest.approx(expected, rel=1e-12)


def test_wasserstein_constant_reference_uses_std_floor() -> None:
    ref = np.zeros(100)
    cur = np.full(100, 0.0002)
    assert wasserstein_normed(ref, cur, 0.0) == pytest.approx(0.2)


def test_jensenshannon_matches_scipy() -> None:
    r = np.array([10, 0, 30, 60], dtype=np.int64)
    c = np.array([20, 5, 25, 0], dtype=np.int64)
    assert jensenshannon(r, c) == pytest.approx(float(scipy_js(r, c)), rel=1e-12)
    assert jensenshannon(r, r * 3) == pytest.approx(0.0, abs=1e-12)


def test_psi_formula_and_epsilon() -> None:
    r = np.array([50, 50, 0], dtype=np.int64)
    c = np.array([40, 50, 10], dtype=np.int64)
    rp, cp = np.array([0.5, 0.5, 1e-4]), np.array([0.4, 0.5, 0.1])
    assert psi(r, c) == pytest.approx(float(np.sum((cp - rp) * np.log(cp / rp))))
    assert psi(r, r) == 0.0


def test_chisquare_matches_scipy_and_new_category_drifts() -> None:
    r = np.array([300, 500, 200], dtype=np.int64)
    c = np.array([40, 40, 20], dtype=np.int64)
    expected = stats.chisquare(c, r * c.sum() / r.sum()).pvalue
    assert chisquare_pvalue(r, c) == pytest.approx(expected, rel=1e-12)
    assert chisquare_pvalue(np.array([10, 10, 0]), np.array([10, 10, 1])) == 0.0


def test_z_test_matches_proportion_test() -> None:
    r = np.array([600, 400], dtype=np.int64)
    c = np.array([450, 550], dtype=np.int64)
    pooled = 1050 / 2000
    z = (0.6 - 0.45) / np.sqrt(pooled * (1 - pooled) * (2 / 1000))
    assert z_pvalue(r, c) == pytest.approx(2 * stats.norm.sf(z), rel=1e-12)
    assert z_pvalue(np.array([5, 0]), np.array([7, 0])) == 1.0


def test_identical_samples_do_not_drift() -> None:
    ref, _ = _frames()
    result = dataset_drift(ref, ref.copy())
    assert not result.drifted
    assert result.share_drifted == 0.0
    assert [c.method for c in result.columns] == ["wasserstein", "wasserstein", "jensenshannon"]


def test_shifted_mean_and_new_category_drift() -> None:
    ref, cur = _frames(shift=0.5)
    cur["c"] = np.where(np.arange(len(cur)) % 3 == 0, "new", cur["c"])
    by_column = {c.column: c for c in column_drift(ref, cur)}
    assert by_column["x"].drifted
    assert not by_column["y"].drifted
    assert by_column["c"].drifted
    small = column_drift(ref.head(500), cur.head(500))
    assert [c.method for c in small] == ["ks", "ks", "chisquare"]
    assert {c.column: c.drifted for c in small} == {"x": True, "y": False, "c": True}


def test_default_for_few_distinct_numbers_follows_evidently() -> None:
    small = pd.DataFrame({"b": RNG.integers(0, 2, 800), "t": RNG.integers(0, 4, 800)})
    large = pd.DataFrame({"t": RNG.integers(0, 4, 5000)})
    methods = {c.column: c.method for c in column_drift(small, small.copy())}
    assert methods == {"b": "z", "t": "chisquare"}
    assert column_drift(large, large.copy())[0].method == "jensenshannon"


def test_thresholds_and_per_column_override() -> None:
    ref, cur = _frames(shift=0.15)
    default = {c.column: c for c in column_drift(ref, cur)}
    assert default["x"].drifted
    options = DriftOptions(
        per_column={"x": ColumnTest(method="wasserstein", threshold=0.5)},
        default_categorical=ColumnTest(method="psi", threshold=0.2),
    )
    custom = {c.column: c for c in column_drift(ref, cur, options)}
    assert not custom["x"].drifted
    assert custom["x"].threshold == 0.5
    assert custom["c"].method == "psi"
    assert custom["c"].threshold == 0.2
    ks = column_drift(ref, cur, DriftOptions(default_numerical=ColumnTest(method="ks")))
    assert {c.method for c in ks if c.kind == "numerical"} == {"ks"}


def test_drift_share() -> None:
    ref, cur = _frames(shift=1.0)
    assert not dataset_drift(ref, cur).drifted  # 1 of 3
    assert dataset_drift(ref, cur, DriftOptions(drift_share=0.3)).drifted


def test_numpy_arrays_and_kind_override() -> None:
    ref = RNG.normal(size=(3000, 2))
    cur = ref + np.array([0.0, 1.0])
    result = column_drift(ref, cur)
    assert [(c.column, c.drifted) for c in result] == [("0", False), ("1", True)]
    codes = pd.DataFrame({"k": RNG.integers(0, 50, 3000)})
    as_cat = column_drift(codes, codes, DriftOptions(kinds={"k": "categorical"}))
    assert as_cat[0].kind == "categorical"
    assert as_cat[0].method == "jensenshannon"


def test_deterministic() -> None:
    ref, cur = _frames(shift=0.1)
    assert dataset_drift(ref, cur) == dataset_drift(ref.copy(), cur.copy())


def test_missing_values_are_excluded_and_reported() -> None:
    ref, cur = _frames()
    cur.loc[: len(cur) // 4 - 1, "x"] = np.nan
    cur.loc[:9, "y"] = np.inf
    cur.loc[:99, "c"] = None
    by_column = {c.column: c for c in column_drift(ref, cur)}
    assert by_column["x"].current_missing_rate == pytest.approx(0.25)
    assert by_column["y"].current_missing_rate == pytest.approx(10 / len(cur))
    assert by_column["c"].current_missing_rate == pytest.approx(100 / len(cur))
    assert not any(c.drifted for c in by_column.values())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r, c: (r.iloc[0:0], c), "reference has no rows"),
        (lambda r, c: (r, c.iloc[0:0]), "current has no rows"),
        (lambda r, c: (r, c.drop(columns="y")), "'y' is missing from current"),
        (lambda r, c: (r, c.assign(x=np.nan)), "'x' of current has no non-missing"),
        (lambda r, c: (r.assign(c=None), c), "'c' of reference has no non-missing"),
        (lambda r, c: (r, c.assign(x="text")), "'x' is numerical in the reference"),
    ],
)
def test_bad_input_names_the_column(mutate, message) -> None:  # type: ignore[no-untyped-def]
    ref, cur = _frames(n=100)
    with pytest.raises(InvalidInput, match=message):
        column_drift(*mutate(ref, cur))


def test_method_must_fit_the_kind() -> None:
    ref, cur = _frames(n=100)
    with pytest.raises(InvalidInput, match="'c' is categorical"):
        column_drift(ref, cur, DriftOptions(per_column={"c": ColumnTest(method="ks")}))
    with pytest.raises(InvalidInput, match="'nope' is not in the reference"):
        column_drift(ref, cur, DriftOptions(columns=["nope"]))
