"""Gate params, signature compatibility, slices and the report, without a store."""

from __future__ import annotations

import pandas as pd
import pytest

from slipway.core.errors import InvalidInput
from slipway.flavors import infer_signature
from slipway.pipelines.gates import CheckResult, GateReport, parse_gate_params
from slipway.pipelines.gates.config import SliceSpec, Threshold, Tolerance
from slipway.pipelines.gates.evaluation import slice_mask
from slipway.pipelines.gates.signatures import breaking_changes, dtype_accepts

BASE = {"model_name": "m", "task": "classification", "label": "y"}


def test_thresholds_parse_from_text() -> None:
    params = parse_gate_params({**BASE, "thresholds": ["roc_auc >= 0.9", "log_loss<0.5"]}, "g")
    assert [str(t) for t in params.thresholds] == ["roc_auc >= 0.9", "log_loss < 0.5"]
    assert params.champion_metrics() == ["roc_auc", "log_loss"]
    assert Threshold.model_validate("rmse <= 3").holds(3.0)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"thresholds": ["roc_auc => 0.9"]}, "is not of the form '<metric> >= <number>'"),
        ({"thresholds": ["rmse <= 3"]}, "unknown metric(s) rmse for classification"),
        ({"task": "ranking"}, "task: Input should be 'classification' or 'regression'"),
        ({"champion": {"tolerance": {"absolute": 0.1, "relative": 0.1}}}, "not both"),
        ({"slices": [{"name": "s", "where": "a = 1"}]}, "not of the form '<column> == <value>'"),
        ({"infra": {"requests": 3}}, "infra.p95_ms: Field required"),
        ({"treshold": []}, "treshold: Extra inputs are not permitted"),
    ],
)
def test_invalid_params_name_the_problem(extra: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match="gate step 'g': invalid params") as info:
        parse_gate_params({**BASE, **extra}, "g")
    assert message in str(info.value)


def test_tolerance_absolute_and_relative() -> None:
    assert Tolerance(absolute=0.02).allowed(0.9) == 0.02
    assert Tolerance(relative=0.1).allowed(-2.0) == pytest.approx(0.2)
    assert Tolerance().allowed(0.9) == 0.0


def test_slices_by_value_and_range() -> None:
    data = pd.DataFrame({"region": ["n", "s", "n"], "age": [10, 40, 70]})
    north = SliceSpec(name="north", where="region == n")
    middle = SliceSpec(name="mid", column="age", min=20, max=70)
    numeric = SliceSpec(name="forty", where="age == 40")
    assert slice_mask(data, north).tolist() == [True, False, True]
    assert slice_mask(data, middle).tolist() == [False, True, False]
    assert slice_mask(data, numeric).tolist() == [False, True, False]
    assert middle.describe() == "20 <= age < 70"
    with pytest.raises(InvalidInput, match="no column 'city'"):
        slice_mask(data, SliceSpec(name="c", column="city", equals="x"))


def test_signature_compatibility() -> None:
    champion = infer_signature(pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5]}))
    widened = infer_signature(pd.DataFrame({"a": [1.0, 2.0], "b": [0.5, 1.5]}))
    narrowed = infer_signature(pd.DataFrame({"a": [1, 2], "b": [1, 2]}))
    fewer = infer_signature(pd.DataFrame({"a": [1, 2]}))
    more = infer_signature(pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5], "c": ["x", "y"]}))
    assert breaking_changes(champion, widened) == []
    assert breaking_changes(champion, narrowed) == ["field 'b': float64 -> int64"]
    assert breaking_changes(champion, fewer) == ["field 'b' removed"]
    assert breaking_changes(champion, more) == ["field 'c' added (champion requests lack it)"]
    assert dtype_accepts("int64", "int32")
    assert not dtype_accepts("int32", "int64")
    assert not dtype_accepts("string", "int64")
    assert dtype_accepts("datetime64", "string")


def test_report_summary_names_failed_checks() -> None:
    checks = (
        CheckResult("threshold", "roc_auc", True, 0.95, ">= 0.9", 0.9),
        CheckResult("slice", "slice:north:f1", False, 0.41, ">= 0.6", 0.6),
        CheckResult("signature", "signature", False, note="field 'x' removed"),
    )
    report = GateReport("m", 3, "d" * 64, 2, checks, {"roc_auc": 0.95})
    assert not report.passed
    assert report.summary() == (
        "gate failed for m v3: slice:north:f1: 0.41 not >= 0.6; signature: field 'x' removed"
    )
    doc = report.to_dict()
    assert doc["passed"] is False
    assert [c["name"] for c in doc["checks"]] == ["roc_auc", "slice:north:f1", "signature"]
    assert "FAIL" in report.render()
