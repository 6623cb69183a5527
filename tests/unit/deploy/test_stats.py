"""The analysis statistics: sequential and fixed decisions, distances, their guarantees."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats as scipy_stats

from slipway.deploy.stats import (
    CheckResult,
    Verdict,
    combine,
    dkw_radius,
    error_rate_sprt,
    fixed_error_rate,
    fixed_prediction_distance,
    ks_distance,
    l1_radius,
    p99_check,
    prediction_distance,
    tv_distance,
)

PASS, FAIL, WAIT, INCONCLUSIVE = Verdict.PASS, Verdict.FAIL, Verdict.WAIT, Verdict.INCONCLUSIVE


def normal(seed: int, n: int, shift: float = 0.0) -> np.ndarray[Any, Any]:
    return np.random.default_rng(seed).normal(shift, 1.0, n)


# -- error rate -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("errors", "total", "max_rate", "min_samples", "verdict"),
    [
        pytest.param(0, 600, 0.01, 50, PASS, id="clean-600-passes-early"),
        pytest.param(0, 500, 0.01, 50, INCONCLUSIVE, id="clean-500-not-yet-enough"),
        pytest.param(5, 10, 0.01, 50, FAIL, id="5-of-10-fails-before-min-samples"),
        pytest.param(5, 9, 0.01, 50, WAIT, id="fail-needs-10-samples"),
        pytest.param(5, 5, 0.01, 5, FAIL, id="fail-floor-is-min-samples-when-smaller"),
        pytest.param(0, 12, 0.01, 50, WAIT, id="pass-needs-min-samples"),
        pytest.param(1, 100, 0.01, 50, INCONCLUSIVE, id="at-the-limit-is-inconclusive"),
        pytest.param(0, 0, 0.01, 50, WAIT, id="no-traffic-waits"),
        pytest.param(1, 1, 0.0, 50, FAIL, id="zero-tolerance-any-error-fails"),
        pytest.param(0, 49, 0.0, 50, WAIT, id="zero-tolerance-waits"),
        pytest.param(0, 50, 0.0, 50, PASS, id="zero-tolerance-clean-passes"),
        pytest.param(50, 50, 1.0, 50, PASS, id="max-rate-one-cannot-fail"),
        pytest.param(3, 100, 0.05, 50, INCONCLUSIVE, id="between-half-and-limit-continues"),
        pytest.param(30, 300, 0.05, 50, FAIL, id="twice-the-limit-fails"),
    ],
)
def test_error_rate_sprt(
    errors: int, total: int, max_rate: float, min_samples: int, verdict: Verdict
) -> None:
    result = error_rate_sprt(errors, total, max_rate, alpha=0.05, min_samples=min_samples)
    assert result.verdict is verdict, result.message
    assert result.name == "error_rate"
    assert result.samples == total
    assert result.threshold == max_rate


def test_sprt_boundaries_follow_walds_formula() -> None:
    # 0 errors: LLR = n ln(0.99 / 0.995); accept once LLR <= ln(0.05 / 0.95).
    first_pass = math.ceil(math.log(0.05 / 0.95) / math.log(0.99 / 0.995))
    assert error_rate_sprt(0, first_pass, 0.01, 0.05, 50).verdict is PASS
    assert error_rate_sprt(0, first_pass - 1, 0.01, 0.05, 50).verdict is INCONCLUSIVE


def test_sprt_messages_say_the_numbers() -> None:
    fail = error_rate_sprt(6, 50, 0.01, 0.05, 50)
    assert fail.message == "error rate 0.120 over 50 requests > 0.010 (SPRT: reject)"
    assert fail.value == pytest.approx(0.12)
    wait = error_rate_sprt(0, 12, 0.01, 0.05, 50)
    assert wait.message == "12 of 50 samples; waiting"
    assert "LLR" in error_rate_sprt(1, 100, 0.01, 0.05, 50).message


def test_sprt_false_alarms_stay_below_alpha_when_looking_after_every_request() -> None:
    """A healthy challenger (half the limit) checked after every request, 250 runs."""
    rng = np.random.default_rng(7)
    alarms = 0
    for _ in range(250):
        errors = np.cumsum(rng.random(3000) < 0.005)
        for n in range(10, 3000):
            verdict = error_rate_sprt(int(errors[n - 1]), n, 0.01, 0.05, 50).verdict
            if verdict is not INCONCLUSIVE and verdict is not WAIT:
                alarms += verdict is FAIL
                break
    assert alarms / 250 <= 0.06


@pytest.mark.parametrize(
    ("errors", "total", "verdict"),
    [(0, 49, WAIT), (1, 100, PASS), (2, 100, FAIL), (0, 50, PASS)],
)
def test_fixed_error_rate(errors: int, total: int, verdict: Verdict) -> None:
    result = fixed_error_rate(errors, total, max_rate=0.01, min_samples=50)
    assert result.verdict is verdict, result.message


@pytest.mark.parametrize(
    "call",
    [
        lambda: error_rate_sprt(5, 4, 0.01, 0.05, 50),
        lambda: error_rate_sprt(-1, 4, 0.01, 0.05, 50),
        lambda: error_rate_sprt(0, 4, 1.5, 0.05, 50),
        lambda: error_rate_sprt(0, 4, 0.01, 0.0, 50),
        lambda: error_rate_sprt(0, 4, 0.01, 0.05, 0),
        lambda: fixed_error_rate(0, 4, -0.1, 50),
    ],
)
def test_error_rate_rejects_bad_arguments(call: Any) -> None:
    with pytest.raises(ValueError):
        call()


# -- latency and combining --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p99", "samples", "verdict"),
    [
        (120.0, 100, PASS),
        (250.0, 100, PASS),
        (251.0, 100, FAIL),
        (900.0, 10, WAIT),
        (None, 100, WAIT),
    ],
)
def test_p99_check(p99: float | None, samples: int, verdict: Verdict) -> None:
    result = p99_check(p99, samples, max_ms=250.0, min_samples=50)
    assert result.verdict is verdict, result.message


def test_p99_message() -> None:
    assert (
        p99_check(312.5, 80, 250.0, 50).message
        == "p99 latency 312.5 ms over 80 requests > 250.0 ms"
    )


def result(verdict: Verdict) -> CheckResult:
    return CheckResult("x", verdict, None, 0.0, 0, "")


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        ([PASS, PASS], PASS),
        ([PASS, FAIL, WAIT], FAIL),
        ([WAIT, INCONCLUSIVE], WAIT),
        ([PASS, WAIT], WAIT),
        ([PASS, INCONCLUSIVE], INCONCLUSIVE),
        ([], PASS),
    ],
)
def test_combine(verdicts: list[Verdict], expected: Verdict) -> None:
    assert combine(result(v) for v in verdicts) is expected


# -- prediction distance ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("champion", "challenger", "verdict"),
    [
        pytest.param(normal(1, 5000), normal(1, 5000), PASS, id="ks-identical-passes"),
        pytest.param(normal(1, 5000), normal(2, 5000), PASS, id="ks-same-distribution-passes"),
        pytest.param(normal(1, 5000), normal(2, 5000, 1.0), FAIL, id="ks-shifted-fails"),
        pytest.param(normal(1, 300), normal(2, 300, 3.0), FAIL, id="ks-far-apart-fails-early"),
        pytest.param(normal(1, 80), normal(2, 80), INCONCLUSIVE, id="ks-small-n-inconclusive"),
        pytest.param(normal(1, 49), normal(2, 5000), WAIT, id="ks-champion-below-min-waits"),
        pytest.param(normal(1, 5000), np.array([]), WAIT, id="empty-challenger-waits"),
        pytest.param(
            np.array(["a", "b"] * 3000), np.array(["a", "b"] * 3000), PASS, id="tv-labels-pass"
        ),
        pytest.param(
            np.array(["a", "b"] * 1000), np.array(["a"] * 2000), FAIL, id="tv-labels-fail"
        ),
        pytest.param(
            np.array(["a", "b"] * 30), np.array(["a", "a", "b"] * 20), INCONCLUSIVE, id="tv-small"
        ),
    ],
)
def test_prediction_distance(champion: Any, challenger: Any, verdict: Verdict) -> None:
    result = prediction_distance(champion, challenger, 0.2, alpha=0.05, min_samples=50)
    assert result.verdict is verdict, result.message
    assert result.name == "prediction_drift"


def test_ks_distance_matches_scipy() -> None:
    a, b = normal(3, 700), normal(4, 450, 0.3)
    assert ks_distance(a, b) == pytest.approx(scipy_stats.ks_2samp(a, b).statistic)


def test_ks_counts_nan_as_an_outcome() -> None:
    assert ks_distance(np.array([1.0, np.nan]), np.array([np.nan, 1.0])) == 0.0
    assert ks_distance(np.array([1.0, 2.0]), np.array([1.0, np.nan])) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (["x", "y"], ["x", "y"], 0.0),
        (["x", "x"], ["y", "y"], 1.0),
        (["x", "y", "y", "y"], ["x", "x", "y", "z"], 0.5),
    ],
)
def test_tv_distance(a: list[str], b: list[str], expected: float) -> None:
    assert tv_distance(np.array(a), np.array(b)) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("champion", "challenger", "distance_name"),
    [
        pytest.param([0, 1] * 100, [1, 1, 0] * 70, "TV", id="few-ints-are-labels"),
        pytest.param(list(range(100)) * 2, list(range(100)) * 2, "KS", id="many-ints-are-numbers"),
        pytest.param([True, False] * 100, [True] * 200, "TV", id="bools-are-labels"),
        pytest.param([0.0, 1.0] * 100, [1.0] * 200, "KS", id="floats-are-numbers"),
        pytest.param([0, 1] * 100, [0.5] * 200, "KS", id="ints-with-floats-are-numbers"),
        pytest.param(
            np.array([[0.9, 0.1], [0.2, 0.8]] * 100),
            np.array([[0.3, 0.7]] * 200),
            "TV",
            id="argmax",
        ),
        pytest.param(np.arange(200.0).reshape(-1, 1), np.arange(200.0), "KS", id="one-column"),
        pytest.param(np.array(["a", "b"] * 100, dtype=object), ["a"] * 200, "TV", id="objects"),
    ],
)
def test_kind_rules(champion: Any, challenger: Any, distance_name: str) -> None:
    result = fixed_prediction_distance(champion, challenger, 0.2, min_samples=50)
    assert result.message.startswith(distance_name), result.message


def test_argmax_of_probabilities_compares_classes() -> None:
    champion = np.array([[0.9, 0.1]] * 100 + [[0.1, 0.9]] * 100)
    challenger = np.array([[0.6, 0.4]] * 100 + [[0.4, 0.6]] * 100)  # same classes, less sure
    assert fixed_prediction_distance(champion, challenger, 0.01, 50).value == 0.0


@pytest.mark.parametrize(
    ("champion", "challenger", "error"),
    [
        pytest.param(["a"] * 60, [1.0] * 60, TypeError, id="labels-vs-numbers"),
        pytest.param([True] * 60, [1] * 60, TypeError, id="bools-vs-ints"),
        pytest.param(np.array(["a", 1] * 30, dtype=object), ["a"] * 60, TypeError, id="mixed"),
        pytest.param(np.array([None] * 60, dtype=object), ["a"] * 60, TypeError, id="nones"),
        pytest.param(np.zeros((60, 2, 2)), np.zeros(60), ValueError, id="3-d"),
        pytest.param(np.array(5.0), np.zeros(60), ValueError, id="scalar"),
        pytest.param(np.array([[[1]]]), np.zeros(60), ValueError, id="nested"),
        pytest.param(
            np.array(["2026-01-01"] * 60, dtype="datetime64[D]"),
            np.zeros(60),
            TypeError,
            id="dates",
        ),
    ],
)
def test_bad_predictions_raise_clear_errors(
    champion: Any, challenger: Any, error: type[Exception]
) -> None:
    with pytest.raises(error, match=r"champion|challenger"):
        prediction_distance(champion, challenger, 0.2, 0.05, 50)


def test_mismatched_kinds_raise_even_while_waiting() -> None:
    with pytest.raises(TypeError, match="champion predictions are strings"):
        prediction_distance(["a"] * 3, [1.5] * 3, 0.2, 0.05, 50)


@pytest.mark.parametrize(("shift", "verdict"), [(0.0, PASS), (1.0, FAIL)], ids=["same", "shifted"])
def test_fixed_prediction_distance(shift: float, verdict: Verdict) -> None:
    result = fixed_prediction_distance(normal(1, 200), normal(2, 200, shift), 0.2, 50)
    assert result.verdict is verdict, result.message
    assert "fixed" in result.message


def test_nan_predictions_count_against_the_challenger() -> None:
    champion = normal(1, 5000)
    challenger = normal(2, 5000)
    challenger[::2] = np.nan  # half the answers are NaN
    assert prediction_distance(champion, challenger, 0.2, 0.05, 50).verdict is FAIL


def test_same_inputs_same_result() -> None:
    a, b = normal(1, 900), normal(2, 800, 0.2)
    first = prediction_distance(a, b, 0.2, 0.05, 50)
    assert prediction_distance(a.copy(), b.copy(), 0.2, 0.05, 50) == first
    assert prediction_distance(a[::-1], b[::-1], 0.2, 0.05, 50) == first


def test_radii_follow_their_formulas() -> None:
    assert dkw_radius(100, 0.025) == pytest.approx(
        math.sqrt(math.log(math.pi**2 * 100**2 / (3 * 0.025)) / 200)
    )
    assert l1_radius(100, 3, 0.025) == pytest.approx(
        math.sqrt(2 / 100 * (math.log(2**3 - 2) + math.log(math.pi**2 * 100**2 / (6 * 0.025))))
    )
    assert l1_radius(100, 1, 0.025) == l1_radius(100, 2, 0.025)
    assert math.isfinite(l1_radius(100, 5000, 0.025))  # 2^k does not overflow
    assert dkw_radius(10_000, 0.025) < dkw_radius(100, 0.025)


def test_distance_false_alarms_stay_below_alpha_when_looking_often() -> None:
    """Same distribution on both sides, looked at every 50 samples up to 3000: 100 runs."""
    rng = np.random.default_rng(11)
    alarms = 0
    for _ in range(100):
        a, b = rng.normal(size=3000), rng.normal(size=3000)
        for n in range(50, 3001, 50):
            # Threshold 0: any true difference is a FAIL; none exists here.
            if prediction_distance(a[:n], b[:n], 0.0, 0.05, 50).verdict is FAIL:
                alarms += 1
                break
    assert alarms / 100 <= 0.05
