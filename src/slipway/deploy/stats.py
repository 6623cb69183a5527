"""The statistics of automated canary and shadow analysis: pure, deterministic, no I/O.

Each check turns counts or samples into a :class:`CheckResult` whose verdict is one of

* ``WAIT``: fewer samples than the check needs; never a pass or a fail on (almost) no data;
* ``PASS`` / ``FAIL``: the evidence is clear;
* ``INCONCLUSIVE``: enough samples, but not yet clear; look again later.

The sequential checks (:func:`error_rate_sprt`, :func:`prediction_distance`) keep their error
probability at ``alpha`` however often they are looked at, so the agent may re-evaluate every
few seconds and conclude a step as soon as the evidence allows. When a step's interval ends
still inconclusive, the fixed decisions (:func:`fixed_error_rate`,
:func:`fixed_prediction_distance`) compare the point estimate with the threshold instead.
The formulas and the reasons for them are in ``docs/deployment-strategies.md``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

import numpy as np

FAIL_FLOOR = 10
"""A sequential check may FAIL with ``min(min_samples, FAIL_FLOOR)`` samples; a PASS always
needs ``min_samples``. Failing early stops a broken challenger fast; ten keeps the very first
errors of a warming-up replica from deciding alone."""

MAX_LABELS = 20
"""Integer predictions with at most this many distinct values (both sides together) are class
labels and compared by total variation; more, and they are numbers compared by KS."""

_Kind = Literal["numbers", "integers", "classes", "strings", "bools", "empty"]
_Array = np.ndarray[Any, Any]


class Verdict(StrEnum):
    PASS = "pass"  # noqa: S105 - a verdict, not a password
    FAIL = "fail"
    WAIT = "wait"
    """Fewer samples than the check needs."""
    INCONCLUSIVE = "inconclusive"
    """Enough samples, evidence not yet clear."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's outcome at one look, with the numbers behind it."""

    name: str
    verdict: Verdict
    value: float | None
    """The observed statistic (error rate, distance, p99 in ms); None without data."""
    threshold: float
    samples: int
    message: str
    """Human-readable, with the numbers: what a status condition or a log line shows."""


def combine(results: Iterable[CheckResult]) -> Verdict:
    """A step's verdict: any FAIL fails it; all PASS (or no checks) pass it; otherwise any WAIT
    makes it wait; otherwise it is inconclusive."""
    verdicts = [result.verdict for result in results]
    if Verdict.FAIL in verdicts:
        return Verdict.FAIL
    if all(v is Verdict.PASS for v in verdicts):
        return Verdict.PASS
    if Verdict.WAIT in verdicts:
        return Verdict.WAIT
    return Verdict.INCONCLUSIVE


# -- error rate -------------------------------------------------------------------------------


def error_rate_sprt(
    errors: int, total: int, max_rate: float, alpha: float, min_samples: int
) -> CheckResult:
    """Wald's sequential probability ratio test of the challenger's error rate.

    H0: p = p0 = max_rate / 2 (healthy) against H1: p = p1 = max_rate (at the limit). With k
    errors in n requests the log-likelihood ratio is

        LLR = k ln(p1 / p0) + (n - k) ln((1 - p1) / (1 - p0))

    and, with beta = alpha, the test FAILs when LLR >= ln((1 - beta) / alpha), PASSes when
    LLR <= ln(beta / (1 - alpha)), and is INCONCLUSIVE in between. The likelihood ratio is a
    supermartingale whenever p <= p0 (and its inverse whenever p >= p1), so the probability of
    a wrong FAIL (PASS) stays near alpha however many times the test is looked at.

    A FAIL needs ``min(min_samples, FAIL_FLOOR)`` requests, a PASS ``min_samples``; below,
    WAIT. ``max_rate == 0``: any error FAILs at once (nothing statistical about it), a PASS
    needs ``min_samples`` requests without one. ``max_rate == 1``: nothing can exceed it.
    """
    _check_counts(errors, total, min_samples)
    _check_unit("max_rate", max_rate)
    _check_alpha(alpha)
    rate = errors / total if total else None
    if max_rate == 0 and errors:
        return _rate_result(Verdict.FAIL, rate, max_rate, total, ">", "any error fails")
    if max_rate in (0, 1):
        if total < min_samples:
            return _waiting("error_rate", rate, max_rate, total, min_samples)
        note = "no error" if max_rate == 0 else "a rate cannot exceed 1"
        return _rate_result(Verdict.PASS, rate, max_rate, total, "<=", note)
    if total < min(min_samples, FAIL_FLOOR):
        return _waiting("error_rate", rate, max_rate, total, min_samples)
    p0, p1 = max_rate / 2, max_rate
    llr = errors * math.log(p1 / p0) + (total - errors) * (math.log1p(-p1) - math.log1p(-p0))
    upper, lower = math.log((1 - alpha) / alpha), math.log(alpha / (1 - alpha))
    if llr >= upper:
        return _rate_result(Verdict.FAIL, rate, max_rate, total, ">", "SPRT: reject")
    if total < min_samples:
        return _waiting("error_rate", rate, max_rate, total, min_samples)
    if llr <= lower:
        return _rate_result(Verdict.PASS, rate, max_rate, total, "<=", "SPRT: accept")
    note = f"SPRT: continue, LLR {llr:.2f} in ({lower:.2f}, {upper:.2f})"
    return _rate_result(Verdict.INCONCLUSIVE, rate, max_rate, total, "vs", note)


def fixed_error_rate(errors: int, total: int, max_rate: float, min_samples: int) -> CheckResult:
    """The end-of-interval decision when the SPRT is still inconclusive: PASS when the observed
    rate k / n <= max_rate, FAIL otherwise; WAIT below ``min_samples``."""
    _check_counts(errors, total, min_samples)
    _check_unit("max_rate", max_rate)
    rate = errors / total if total else None
    if total < min_samples:
        return _waiting("error_rate", rate, max_rate, total, min_samples)
    assert rate is not None
    if rate <= max_rate:
        return _rate_result(Verdict.PASS, rate, max_rate, total, "<=", "fixed: end of interval")
    return _rate_result(Verdict.FAIL, rate, max_rate, total, ">", "fixed: end of interval")


def _rate_result(
    verdict: Verdict, rate: float | None, max_rate: float, total: int, op: str, note: str
) -> CheckResult:
    shown = f"{rate:.3f}" if rate is not None else "n/a"
    message = f"error rate {shown} over {total} requests {op} {max_rate:.3f} ({note})"
    return CheckResult("error_rate", verdict, rate, max_rate, total, message)


# -- latency ----------------------------------------------------------------------------------


def p99_check(
    latency_quantile_ms: float | None, samples: int, max_ms: float, min_samples: int
) -> CheckResult:
    """A fixed check of the challenger's p99 latency (from its histogram over the window):
    PASS when p99 <= max_ms, FAIL otherwise; WAIT below ``min_samples`` observations or when
    there is no quantile. Not sequential: a histogram quantile has no usable sampling
    distribution, and latency regressions are rarely subtle."""
    if samples < 0 or min_samples < 1:
        raise ValueError(f"need samples >= 0 and min_samples >= 1, got {samples}, {min_samples}")
    if not max_ms > 0:
        raise ValueError(f"max_ms must be above 0, got {max_ms}")
    if samples < min_samples or latency_quantile_ms is None:
        return _waiting("p99_latency_ms", latency_quantile_ms, max_ms, samples, min_samples)
    ok = latency_quantile_ms <= max_ms
    message = (
        f"p99 latency {latency_quantile_ms:.1f} ms over {samples} requests "
        f"{'<=' if ok else '>'} {max_ms:.1f} ms"
    )
    verdict = Verdict.PASS if ok else Verdict.FAIL
    return CheckResult("p99_latency_ms", verdict, latency_quantile_ms, max_ms, samples, message)


# -- prediction distributions -----------------------------------------------------------------


def ks_distance(a: _Array, b: _Array) -> float:
    """Two-sample Kolmogorov-Smirnov distance D = sup_x |F_a(x) - F_b(x)| of 1-D numbers.

    NaN is a value above +inf (numpy's sort order), so NaN predictions count as a distinct
    outcome instead of vanishing. Both samples must be non-empty."""
    a, b = np.sort(a), np.sort(b)
    points = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, points, side="right") / len(a)
    cdf_b = np.searchsorted(b, points, side="right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))


def tv_distance(a: _Array, b: _Array) -> float:
    """Total variation distance TV = 1/2 sum_c |p_a(c) - p_b(c)| between the label frequencies
    of two non-empty samples."""
    _, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
    inverse = inverse.reshape(-1)
    size = int(inverse.max()) + 1
    p_a = np.bincount(inverse[: len(a)], minlength=size) / len(a)
    p_b = np.bincount(inverse[len(a) :], minlength=size) / len(b)
    return float(np.abs(p_a - p_b).sum() / 2)


def dkw_radius(n: int, alpha: float) -> float:
    """Time-uniform DKW radius: with probability >= 1 - alpha, sup |F_n - F| <= eps(n) for every
    n at once, eps(n) = sqrt(ln(pi^2 n^2 / (3 alpha)) / (2n)).

    DKW (Massart's constant) gives P(sup |F_n - F| > eps) <= 2 exp(-2 n eps^2); spending
    alpha_n = 6 alpha / (pi^2 n^2) at sample size n (sum over n = alpha) and solving
    2 exp(-2 n eps^2) = alpha_n gives the formula."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    return math.sqrt(math.log(math.pi**2 * n * n / (3 * alpha)) / (2 * n))


def l1_radius(n: int, categories: int, alpha: float) -> float:
    """Time-uniform L1 radius of an empirical distribution over k categories: with probability
    >= 1 - alpha, ||p_n - p||_1 <= eps(n) for every n at once,
    eps(n) = sqrt(2 / n * (ln(2^k - 2) + ln(pi^2 n^2 / (6 alpha)))).

    Weissman et al. (2003): P(||p_n - p||_1 >= eps) <= (2^k - 2) exp(-n eps^2 / 2), with the
    same alpha_n = 6 alpha / (pi^2 n^2) spending as :func:`dkw_radius`. k < 2 counts as 2."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    k = max(categories, 2)
    log_subsets = k * math.log(2) + math.log1p(-(2.0 ** (1 - k)))  # ln(2^k - 2), no overflow
    return math.sqrt(2 / n * (log_subsets + math.log(math.pi**2 * n * n / (6 * alpha))))


def prediction_distance(
    champion: Any, challenger: Any, max_distance: float, alpha: float, min_samples: int
) -> CheckResult:
    """Sequential check that the challenger's predictions are distributed like the champion's.

    Numbers: D = KS distance, margin = eps(n_a) + eps(n_b) with :func:`dkw_radius` at
    alpha / 2 per side. Labels: D = TV distance, margin = (eps_a + eps_b) / 2 with
    :func:`l1_radius` at alpha / 2 per side and k = distinct labels seen. The margins form a
    confidence sequence: |D_observed - D_true| <= margin at every look with probability
    >= 1 - alpha, so FAIL if D - margin > max_distance, PASS if D + margin <= max_distance,
    else INCONCLUSIVE; WAIT while either side has fewer than ``min_samples``.

    Labels are strings, bools, or integers with at most :data:`MAX_LABELS` distinct values;
    floats are numbers. A 2-D array of shape (n, 1) is one column; (n, k >= 2) is class scores
    or probabilities, compared as labels through each row's argmax (a row with NaN is label
    -1), whatever the number of classes. Raises TypeError for mixed or mismatched kinds,
    ValueError for other shapes.
    """
    return _distance_check(champion, challenger, max_distance, alpha, min_samples)


def fixed_prediction_distance(
    champion: Any, challenger: Any, max_distance: float, min_samples: int
) -> CheckResult:
    """The end-of-interval decision: PASS when the observed distance D <= max_distance, FAIL
    otherwise; WAIT while either side has fewer than ``min_samples``. Same distances and
    input rules as :func:`prediction_distance`."""
    return _distance_check(champion, challenger, max_distance, None, min_samples)


def _distance_check(
    champion: Any, challenger: Any, max_distance: float, alpha: float | None, min_samples: int
) -> CheckResult:
    _check_unit("max_distance", max_distance)
    if alpha is not None:
        _check_alpha(alpha)
    if min_samples < 1:
        raise ValueError(f"min_samples must be at least 1, got {min_samples}")
    a, kind_a = _as_samples(champion, "champion")
    b, kind_b = _as_samples(challenger, "challenger")
    n_a, n_b = len(a), len(b)
    samples = min(n_a, n_b)
    labels = samples > 0 and _as_labels(kind_a, kind_b, a, b)
    if samples < min_samples:
        message = (
            f"{n_b} challenger and {n_a} champion predictions of {min_samples} needed; waiting"
        )
        return CheckResult("prediction_drift", Verdict.WAIT, None, max_distance, samples, message)
    margin: float | None = None
    if labels:
        name, distance = "TV", tv_distance(a, b)
        if alpha is not None:
            k = len(np.unique(np.concatenate([a, b])))
            margin = (l1_radius(n_a, k, alpha / 2) + l1_radius(n_b, k, alpha / 2)) / 2
    else:
        a, b = a.astype(np.float64, copy=False), b.astype(np.float64, copy=False)
        name, distance = "KS", ks_distance(a, b)
        if alpha is not None:
            margin = dkw_radius(n_a, alpha / 2) + dkw_radius(n_b, alpha / 2)
    of = f"between {n_a} champion and {n_b} challenger predictions"
    if margin is None:
        ok = distance <= max_distance
        verdict, op, note = (Verdict.PASS, "<=", "fixed") if ok else (Verdict.FAIL, ">", "fixed")
    elif distance - margin > max_distance:
        verdict, op, note = Verdict.FAIL, ">", "confidence sequence: reject"
    elif distance + margin <= max_distance:
        verdict, op, note = Verdict.PASS, "<=", "confidence sequence: accept"
    else:
        verdict, op, note = Verdict.INCONCLUSIVE, "vs", "confidence sequence: continue"
    shown = f"{distance:.3f}" if margin is None else f"{distance:.3f} ± {margin:.3f}"
    message = f"{name} distance {shown} {of} {op} {max_distance:.3f} ({note})"
    return CheckResult("prediction_drift", verdict, distance, max_distance, samples, message)


def _as_samples(values: Any, side: str) -> tuple[_Array, _Kind]:
    """A 1-D array of one kind: numbers (float), integers, strings or bools."""
    array = np.asarray(values)
    if array.ndim == 2:
        if array.shape[1] == 1:
            array = array[:, 0]
        elif array.dtype.kind in "biuf" and array.shape[1] > 1:
            scores = array.astype(np.float64, copy=False)
            labels = np.argmax(scores, axis=1)
            labels[np.isnan(scores).any(axis=1)] = -1
            return labels.astype(np.int64), "classes" if len(labels) else "empty"
        else:
            raise ValueError(
                f"{side} predictions of shape {array.shape}: 2-D predictions must be numeric "
                "with at least one column"
            )
    if array.ndim != 1:
        raise ValueError(f"{side} predictions must be 1-D or 2-D, got shape {array.shape}")
    if len(array) == 0:
        return array, "empty"
    kind = array.dtype.kind
    if kind == "f":
        return array, "numbers"
    if kind in "iu":
        return array.astype(np.int64, copy=False), "integers"
    if kind == "b":
        return array, "bools"
    if kind in "US":
        return array.astype(str), "strings"
    if kind == "O":
        return _objects(array, side)
    raise TypeError(f"{side} predictions of dtype {array.dtype} are neither numbers nor labels")


def _objects(array: _Array, side: str) -> tuple[_Array, _Kind]:
    types = {type(v) for v in array}
    if all(issubclass(t, str) for t in types):
        return array.astype(str), "strings"
    if all(issubclass(t, bool | np.bool_) for t in types):
        return array.astype(bool), "bools"
    numeric = all(
        issubclass(t, int | float | np.integer | np.floating) and not issubclass(t, bool | np.bool_)
        for t in types
    )
    if numeric:
        if all(issubclass(t, int | np.integer) for t in types):
            return array.astype(np.int64), "integers"
        return array.astype(np.float64), "numbers"
    names = ", ".join(sorted(t.__name__ for t in types))
    raise TypeError(f"{side} predictions mix types ({names}); expected numbers or labels")


def _as_labels(kind_a: _Kind, kind_b: _Kind, a: _Array, b: _Array) -> bool:
    """Whether the pair is compared as labels (TV) rather than numbers (KS)."""
    kinds = {kind_a, kind_b}
    if kinds <= {"numbers", "integers"}:
        if kinds == {"integers"}:
            return len(np.unique(np.concatenate([a, b]))) <= MAX_LABELS
        return False
    if len(kinds) == 1:
        return True
    raise TypeError(
        f"champion predictions are {kind_a} but challenger predictions are {kind_b}; "
        "they cannot be compared"
    )


# -- shared -----------------------------------------------------------------------------------


def _waiting(
    name: str, value: float | None, threshold: float, samples: int, needed: int
) -> CheckResult:
    message = f"{samples} of {needed} samples; waiting"
    return CheckResult(name, Verdict.WAIT, value, threshold, samples, message)


def _check_counts(errors: int, total: int, min_samples: int) -> None:
    if not 0 <= errors <= total:
        raise ValueError(f"need 0 <= errors <= total, got errors={errors}, total={total}")
    if min_samples < 1:
        raise ValueError(f"min_samples must be at least 1, got {min_samples}")


def _check_unit(name: str, value: float) -> None:
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be within [0, 1], got {value}")


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be within (0, 1), got {alpha}")
