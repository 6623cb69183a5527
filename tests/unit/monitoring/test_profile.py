"""Reference profiles: contents, canonical JSON, and drift from a profile against raw drift."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from slipway.core.errors import InvalidInput
from slipway.monitoring.drift import (
    ColumnTest,
    DriftOptions,
    column_drift,
    column_drift_from_profile,
    dataset_drift,
    dataset_drift_from_profile,
)
from slipway.monitoring.profile import OTHER, ReferenceProfile, compute_profile


def _data(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "num": rng.normal(loc=shift, size=n),
            "skew": rng.gamma(2.0, size=n),
            "few": rng.integers(0, 4, size=n),
            "cat": rng.choice(["red", "green", "blue"], size=n, p=[0.5, 0.3, 0.2]),
            "flag": rng.random(n) < 0.3,
        }
    )


def test_profile_contents() -> None:
    df = _data(10_000, 0)
    df.loc[:99, "num"] = np.nan
    profile = compute_profile(df, prediction=np.zeros(len(df)))
    num = profile.features["num"]
    assert num.kind == "numerical"
    assert num.missing == 100
    assert num.missing_rate == 0.01
    assert num.numerical is not None
    assert len(num.numerical.quantiles) == 1001
    assert sum(num.numerical.bin_counts) == 9900
    assert len(num.numerical.bin_counts) == 20
    assert profile.features["few"].numerical.values == [0.0, 1.0, 2.0, 3.0]  # type: ignore[union-attr]
    assert profile.features["flag"].kind == "categorical"
    assert profile.features["cat"].categories.counts.keys() == {"blue", "green", "red"}  # type: ignore[union-attr]
    assert profile.prediction_column == "prediction"
    assert profile.prediction is not None


def test_prediction_column_by_name_is_not_a_feature() -> None:
    df = _data(1000, 0).assign(score=np.linspace(0, 1, 1000))
    profile = compute_profile(df, prediction="score")
    assert "score" not in profile.features
    assert profile.prediction_column == "score"
    result = dataset_drift_from_profile(profile, df)
    assert "score" in [c.column for c in result.columns]


def test_json_round_trip_is_byte_identical() -> None:
    df = _data(5000, 1)
    first = compute_profile(df).to_json_bytes()
    assert compute_profile(df.copy()).to_json_bytes() == first
    again = ReferenceProfile.from_json_bytes(first)
    assert again.to_json_bytes() == first
    assert again == compute_profile(df)


def test_unknown_schema_version_is_refused() -> None:
    with pytest.raises(InvalidInput, match="schema_version 99"):
        ReferenceProfile.from_json_bytes(b'{"schema_version": 99}')
    with pytest.raises(InvalidInput, match="not valid JSON"):
        ReferenceProfile.from_json_bytes(b"{nope")


def test_categories_are_capped_with_other() -> None:
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"id": [f"u{i}" for i in rng.integers(0, 3000, 20_000)]})
    table = compute_profile(df).features["id"].categories
    assert table is not None
    assert table.truncated
    assert len(table.counts) == 1001
    assert OTHER in table.counts
    assert sum(table.counts.values()) == 20_000
    # unseen ids fold into __other__ rather than counting as new categories
    result = column_drift_from_profile(compute_profile(df), df.assign(id="u99999"))
    assert result[0].drifted


@pytest.mark.parametrize("shift", [0.0, 0.05, 0.3])
def test_profile_drift_matches_raw_drift(shift: float) -> None:
    ref, cur = _data(100_000, 0), _data(100_000, 1, shift=shift)
    profile = ReferenceProfile.from_json_bytes(compute_profile(ref).to_json_bytes())
    for method in ("wasserstein", "ks", "psi", "jensenshannon"):
        options = DriftOptions(default_numerical=ColumnTest(method=method))
        raw = column_drift(ref, cur, options)
        approx = {c.column: c for c in column_drift_from_profile(profile, cur, options)}
        assert approx.keys() == {c.column for c in raw}
        for a in raw:
            b = approx[a.column]
            assert (a.column, a.method, a.drifted) == (b.column, b.method, b.drifted)
            if a.method == "wasserstein":
                assert b.score == pytest.approx(a.score, abs=2e-3)
            elif a.method == "ks":
                assert b.score == pytest.approx(a.score, rel=0.5, abs=0.05)
            else:
                assert b.score == pytest.approx(a.score, rel=1e-12, abs=1e-15)
    assert dataset_drift(ref, cur).drifted == dataset_drift_from_profile(profile, cur).drifted


def test_profile_of_small_reference_uses_tests() -> None:
    ref, cur = _data(800, 0), _data(800, 1, shift=1.0)
    result = {c.column: c for c in dataset_drift_from_profile(compute_profile(ref), cur).columns}
    assert result["num"].method == "ks"
    assert result["num"].drifted
    assert result["cat"].method == "chisquare"
    assert not result["cat"].drifted
    assert result["flag"].method == "z"


def test_profile_bad_input() -> None:
    profile = compute_profile(_data(100, 0))
    with pytest.raises(InvalidInput, match="'cat' is missing from current"):
        column_drift_from_profile(profile, _data(100, 1).drop(columns="cat"))
    with pytest.raises(InvalidInput, match="'num' of reference has no non-missing"):
        compute_profile(_data(100, 0).assign(num=np.nan))
    with pytest.raises(InvalidInput, match="prediction has 3 rows"):
        compute_profile(_data(100, 0), prediction=np.zeros(3))
