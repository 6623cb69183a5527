"""Data validation: inferring expectations from reference data and holding new data to them."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from rich.table import Table
from sklearn.datasets import load_iris

from slipway.core.errors import InvalidInput
from slipway.pipelines.validation import (
    SCHEMA_VERSION,
    Check,
    Expectations,
    ValidationFailed,
    ValidationReport,
    infer_expectations,
    render,
    validate,
)

ROWS = 2_000


@pytest.fixture
def reference() -> pd.DataFrame:
    """Generated data with one column of each kind Slipway names."""
    rng = np.random.default_rng(7)
    income = rng.normal(50_000, 10_000, ROWS)
    income[rng.random(ROWS) < 0.1] = np.nan
    return pd.DataFrame(
        {
            "income": income,
            "age": rng.integers(18, 91, ROWS),
            "colour": rng.choice(["red", "green", "blue"], ROWS),
            "member": rng.random(ROWS) < 0.3,
            "seen": pd.date_range("2024-01-01", periods=ROWS, freq="min"),
        }
    )


@pytest.fixture
def expectations(reference: pd.DataFrame) -> Expectations:
    return infer_expectations(reference, name="customers")


def failed(report: ValidationReport) -> list[tuple[str | None, str]]:
    return [(c.column, c.rule) for c in report.checks if not c.passed]


def only(report: ValidationReport, column: str | None, rule: str) -> Check:
    [check] = [c for c in report.checks if c.column == column and c.rule == rule]
    return check


def edited(expectations: Expectations, edit: Any) -> Expectations:
    """Round-trip through JSON with a hand edit applied, as a user would."""
    doc = json.loads(expectations.to_json())
    edit(doc)
    return Expectations.from_json(json.dumps(doc))


# --- inference ----------------------------------------------------------------------------


def test_inferred_dtypes_use_slipway_names(expectations: Expectations) -> None:
    dtypes = {name: col.dtype.dtype for name, col in expectations.columns.items() if col.dtype}
    assert dtypes == {
        "income": "float64",
        "age": "int64",
        "colour": "string",
        "member": "bool",
        "seen": "datetime64",
    }


def test_pandas_variants_map_to_the_same_names() -> None:
    frame = pd.DataFrame(
        {
            "nullable_int": pd.array([1, None, 3], dtype="Int64"),
            "category": pd.Categorical(["a", "b", "a"]),
            "objects": pd.Series(["x", "y", None], dtype=object),
            "aware": pd.date_range("2024-01-01", periods=3, tz="UTC"),
            "small": np.array([1, 2, 3], dtype=np.int32),
            "arrow": pd.Series(["p", "q", None], dtype="string[pyarrow]"),
        }
    )
    columns = infer_expectations(frame).columns
    assert {name: col.dtype.dtype for name, col in columns.items() if col.dtype} == {
        "nullable_int": "int64",
        "category": "string",
        "objects": "string",
        "aware": "datetime64",
        "small": "int32",
        "arrow": "string",
    }
    assert validate(frame, infer_expectations(frame)).passed


def test_missing_rate_is_reference_rate_plus_tolerance(
    reference: pd.DataFrame, expectations: Expectations
) -> None:
    income = expectations.columns["income"].missing_rate
    assert income is not None
    rate = reference["income"].isna().mean()
    assert income.reference_rate == pytest.approx(rate)
    assert income.max_rate == pytest.approx(rate + 0.05)
    # A column complete in the reference is not nullable.
    age = expectations.columns["age"].missing_rate
    assert age is not None
    assert age.max_rate == 0.0


def test_range_is_widened_by_the_margin(reference: pd.DataFrame) -> None:
    rule = infer_expectations(reference, range_margin=0.25).columns["income"].range
    assert rule is not None
    low, high = reference["income"].min(), reference["income"].max()
    assert rule.min == pytest.approx(low - 0.25 * (high - low))
    assert rule.max == pytest.approx(high + 0.25 * (high - low))
    # Integer columns get whole-number bounds, rounded outwards.
    age = infer_expectations(reference, range_margin=0.1).columns["age"].range
    assert age is not None
    assert (age.min, age.max) == (10.0, 98.0)  # 18 - 7.2 and 90 + 7.2


def test_categories_only_below_the_threshold(reference: pd.DataFrame) -> None:
    colour = infer_expectations(reference).columns["colour"].categories
    assert colour is not None
    assert colour.allowed == ["blue", "green", "red"]
    assert infer_expectations(reference, max_categories=2).columns["colour"].categories is None
    # Numbers, booleans and timestamps never get a category rule.
    columns = infer_expectations(reference).columns
    assert all(columns[c].categories is None for c in ("income", "age", "member", "seen"))


def test_row_count_bounds(expectations: Expectations, reference: pd.DataFrame) -> None:
    assert expectations.row_count is not None
    assert (expectations.row_count.min, expectations.row_count.max) == (ROWS // 2, ROWS * 3 // 2)
    assert infer_expectations(reference, row_count_tolerance=None).row_count is None


def test_quantiles_are_opt_in(reference: pd.DataFrame, expectations: Expectations) -> None:
    assert expectations.columns["income"].quantiles is None
    rule = infer_expectations(reference, quantiles=(0.1, 0.5, 0.9)).columns["income"].quantiles
    assert rule is not None
    assert rule.severity == "warning"
    assert set(rule.reference) == {0.1, 0.5, 0.9}
    assert rule.max_shift == pytest.approx(0.5 * np.nanstd(reference["income"]))


# --- validation ---------------------------------------------------------------------------


def test_reference_data_passes_its_own_expectations(
    reference: pd.DataFrame, expectations: Expectations
) -> None:
    report = validate(reference, expectations)
    assert report.passed, report.summary()
    assert failed(report) == []
    assert report.rows == ROWS
    assert report.expectations == "customers"


def test_sklearn_dataset_passes_its_own_expectations() -> None:
    iris = load_iris(as_frame=True).frame
    expectations = infer_expectations(iris, quantiles=(0.25, 0.5, 0.75))
    assert validate(iris, expectations).passed
    # A fresh sample of the same data stays inside the inferred rules.
    assert validate(iris.sample(frac=0.8, random_state=0), expectations).passed


def test_new_category_is_caught(reference: pd.DataFrame, expectations: Expectations) -> None:
    data = reference.copy()
    data.loc[:29, "colour"] = "purple"
    data.loc[30:34, "colour"] = "teal"
    report = validate(data, expectations)
    assert not report.passed
    check = only(report, "colour", "categories")
    assert not check.passed
    assert check.observed == ["purple", "teal"]  # most frequent first
    assert check.count == 35
    assert check.fraction == pytest.approx(35 / ROWS)
    assert "'purple'" in check.message
    assert "'colour'" in check.message


def test_missing_values_are_not_new_categories(
    reference: pd.DataFrame, expectations: Expectations
) -> None:
    data = reference.copy()
    data.loc[:4, "colour"] = None
    assert only(validate(data, expectations), "colour", "categories").passed


def test_out_of_range_values_are_caught(
    reference: pd.DataFrame, expectations: Expectations
) -> None:
    data = reference.copy()
    data.loc[:9, "age"] = 250
    data.loc[10, "age"] = -3
    report = validate(data, expectations)
    check = only(report, "age", "range")
    assert not check.passed
    assert check.count == 11
    assert check.fraction == pytest.approx(11 / ROWS)
    assert set(check.examples) == {250, -3}
    assert check.observed == {"min": -3, "max": 250}
    assert "'age'" in check.message
    assert "11 values" in check.message
    assert not report.passed


def test_infinities_are_out_of_range_and_missing_values_are_not(
    reference: pd.DataFrame, expectations: Expectations
) -> None:
    data = reference.copy()
    data["income"] = data["income"].fillna(50_000.0)
    data.loc[:2, "income"] = np.nan  # fewer than the reference had
    data.loc[3, "income"] = np.inf
    check = only(validate(data, expectations), "income", "range")
    assert check.count == 1
    assert check.examples == ["inf"]


def test_missing_column_is_caught(reference: pd.DataFrame, expectations: Expectations) -> None:
    report = validate(reference.drop(columns="age"), expectations)
    assert failed(report) == [("age", "presence")]
    assert only(report, "age", "presence").message == "column 'age' is missing"
    assert not report.passed


def test_unexpected_column_is_caught(reference: pd.DataFrame, expectations: Expectations) -> None:
    report = validate(reference.assign(extra=1.0), expectations)
    assert failed(report) == [("extra", "unexpected_columns")]
    assert "'extra'" in only(report, "extra", "unexpected_columns").message
    assert not report.passed


def test_dtype_change_is_caught(reference: pd.DataFrame, expectations: Expectations) -> None:
    data = reference.assign(age=reference["age"].astype(str))
    report = validate(data, expectations)
    check = only(report, "age", "dtype")
    assert (check.passed, check.expected, check.observed) == (False, "int64", "string")
    assert check.message == "column 'age' has dtype string, expected int64"
    # A column of the wrong kind is not range-checked as well.
    assert [c for c in report.checks if c.column == "age" and c.rule == "range"] == []


def test_int_column_gaining_missing_values_fails_dtype_and_missing_rate(
    reference: pd.DataFrame, expectations: Expectations
) -> None:
    data = reference.assign(age=reference["age"].astype(float))
    data.loc[:9, "age"] = np.nan
    assert set(failed(validate(data, expectations))) == {("age", "dtype"), ("age", "missing_rate")}


def test_missing_rate_jump_is_caught(reference: pd.DataFrame, expectations: Expectations) -> None:
    data = reference.copy()
    data.loc[: ROWS // 2, "income"] = np.nan
    check = only(validate(data, expectations), "income", "missing_rate")
    assert not check.passed
    assert check.observed == pytest.approx(data["income"].isna().mean())
    assert "'income'" in check.message
    assert "missing" in check.message


def test_row_count_out_of_bounds_is_caught(
    reference: pd.DataFrame, expectations: Expectations
) -> None:
    few = validate(reference.head(100), expectations)
    assert failed(few) == [(None, "row_count")]
    assert (
        only(few, None, "row_count").message
        == "dataset has 100 rows, expected between 1000 and 3000"
    )
    many = pd.concat([reference, reference], ignore_index=True)
    assert failed(validate(many, expectations)) == [(None, "row_count")]


def test_empty_data_is_validated_not_rejected(
    reference: pd.DataFrame, expectations: Expectations
) -> None:
    report = validate(reference.head(0), expectations)
    assert failed(report) == [(None, "row_count")]


def test_quantile_shift_is_a_warning(reference: pd.DataFrame) -> None:
    expectations = infer_expectations(reference, quantiles=(0.5,), range_margin=1.0)
    report = validate(reference.assign(income=reference["income"] + 8_000), expectations)
    assert failed(report) == [("income", "quantiles")]
    assert report.passed
    assert [c.rule for c in report.warnings] == ["quantiles"]
    assert "quantile 0.5 moved" in report.warnings[0].message


# --- severities and hand edits --------------------------------------------------------------


def test_warning_does_not_fail_the_report(reference: pd.DataFrame) -> None:
    expectations = infer_expectations(reference, severities={"unexpected_columns": "warning"})
    report = validate(reference.assign(extra=1), expectations)
    assert report.passed
    assert [c.column for c in report.warnings] == ["extra"]
    assert report.errors == []
    report.raise_for_errors()  # nothing to raise


def test_failed_error_raises_validation_failed(
    reference: pd.DataFrame, expectations: Expectations
) -> None:
    report = validate(reference.drop(columns="colour"), expectations)
    with pytest.raises(ValidationFailed, match="column 'colour' is missing") as caught:
        report.raise_for_errors()
    assert caught.value.report is report


def test_hand_edited_severity_is_respected(
    reference: pd.DataFrame, expectations: Expectations
) -> None:
    def soften(doc: dict[str, Any]) -> None:
        doc["columns"]["colour"]["categories"]["severity"] = "warning"

    data = reference.copy()
    data.loc[0, "colour"] = "purple"
    assert not validate(data, expectations).passed
    assert validate(data, edited(expectations, soften)).passed


def test_hand_edited_thresholds_are_respected(
    reference: pd.DataFrame, expectations: Expectations
) -> None:
    data = reference.copy()
    data.loc[:9, "age"] = 120
    data.loc[0, "colour"] = "purple"
    assert set(failed(validate(data, expectations))) == {("age", "range"), ("colour", "categories")}

    def loosen(doc: dict[str, Any]) -> None:
        doc["columns"]["age"]["range"]["max"] = 130
        doc["columns"]["colour"]["categories"]["allowed"].append("purple")

    assert validate(data, edited(expectations, loosen)).passed

    def tolerate(doc: dict[str, Any]) -> None:
        doc["columns"]["age"]["range"]["max_outside_fraction"] = 0.01
        doc["columns"]["colour"]["categories"]["max_new_fraction"] = 0.01

    assert validate(data, edited(expectations, tolerate)).passed

    def tighten(doc: dict[str, Any]) -> None:
        doc["row_count"]["min"] = ROWS + 1

    assert failed(validate(reference, edited(expectations, tighten))) == [(None, "row_count")]


def test_null_rule_is_not_checked(reference: pd.DataFrame, expectations: Expectations) -> None:
    def drop_rules(doc: dict[str, Any]) -> None:
        doc["columns"]["age"]["presence"] = None
        doc["unexpected_columns"] = None
        doc["row_count"] = None

    report = validate(
        reference.drop(columns="age").assign(extra=1), edited(expectations, drop_rules)
    )
    assert report.passed
    assert failed(report) == []


def test_expectations_json_round_trip(reference: pd.DataFrame) -> None:
    expectations = infer_expectations(reference, name="ref", quantiles=(0.05, 0.95))
    text = expectations.to_json()
    doc = json.loads(text)
    assert doc["schema_version"] == SCHEMA_VERSION == 1
    assert doc["columns"]["colour"]["categories"]["allowed"] == ["blue", "green", "red"]
    again = Expectations.from_json(text)
    assert again == expectations
    assert again.to_json() == text
    assert Expectations.from_json(text.encode()) == expectations


def test_report_json(reference: pd.DataFrame, expectations: Expectations) -> None:
    data = reference.drop(columns="age")
    doc = json.loads(validate(data, expectations).to_json())
    assert doc["passed"] is False
    assert {"column", "rule", "expected", "observed", "severity", "passed", "message"} <= set(
        doc["checks"][0]
    )
    assert ValidationReport.model_validate(doc).passed is False


def test_render_is_a_readable_table(reference: pd.DataFrame, expectations: Expectations) -> None:
    data = reference.copy()
    data.loc[0, "colour"] = "purple"
    report = validate(data, expectations)
    table = render(report)
    assert isinstance(table, Table)
    console = Console(width=200, record=True)
    console.print(report)  # through __rich__
    text = console.export_text()
    assert "FAILED" in text
    assert "colour" in text
    assert "[blue, green, red]" in text  # shown literally, not eaten as markup
    assert "'purple'" in text
    first_row = text.splitlines()[4]
    assert "FAIL" in first_row  # failures come first
    assert render(report, show_passed=False).row_count == 1


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize("data", [[{"a": 1}], {"a": [1, 2]}, np.zeros((3, 2)), None])
def test_non_dataframe_is_rejected(data: Any, expectations: Expectations) -> None:
    with pytest.raises(InvalidInput, match="must be a pandas DataFrame"):
        infer_expectations(data)
    with pytest.raises(InvalidInput, match="must be a pandas DataFrame"):
        validate(data, expectations)


@pytest.mark.parametrize("frame", [pd.DataFrame(), pd.DataFrame({"a": pd.Series([], dtype=float)})])
def test_empty_reference_is_rejected(frame: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput, match="reference data is empty"):
        infer_expectations(frame)


def test_duplicate_column_names_are_rejected(
    reference: pd.DataFrame, expectations: Expectations
) -> None:
    frame = pd.DataFrame([[1, 2, 3]], columns=["a", "b", "a"])
    with pytest.raises(InvalidInput, match="duplicate column names: a"):
        infer_expectations(frame)
    with pytest.raises(InvalidInput, match="duplicate column names: a"):
        validate(frame, expectations)


def test_non_string_column_names_are_rejected() -> None:
    with pytest.raises(InvalidInput, match="column names must be strings, got 0"):
        infer_expectations(pd.DataFrame(np.zeros((3, 2))))


def test_column_without_a_slipway_dtype_is_rejected() -> None:
    with pytest.raises(InvalidInput, match=r"column 'blank'.*every value is missing"):
        infer_expectations(pd.DataFrame({"blank": pd.Series([None, None], dtype=object)}))
    with pytest.raises(InvalidInput, match=r"column 'mixed'.*mixed"):
        infer_expectations(pd.DataFrame({"mixed": pd.Series([1, "a"], dtype=object)}))


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"missing_tolerance": -0.1}, "missing_tolerance"),
        ({"range_margin": float("nan")}, "range_margin"),
        ({"quantiles": (0.5, 1.5)}, "quantiles"),
        ({"max_categories": -1}, "max_categories"),
        ({"row_count_tolerance": -1.0}, "row_count_tolerance"),
        ({"severities": {"colour": "error"}}, "unknown rule 'colour'"),
        ({"severities": {"range": "fatal"}}, "severity of 'range'"),
    ],
)
def test_bad_options_are_rejected(
    reference: pd.DataFrame, options: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidInput, match=match):
        infer_expectations(reference, **options)


def test_validate_wants_expectations(reference: pd.DataFrame, expectations: Expectations) -> None:
    with pytest.raises(InvalidInput, match=r"Expectations\.from_json"):
        validate(reference, expectations.to_json())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"columns": {}}', "schema_version must be a positive integer, got None"),
        ('{"schema_version": "1", "columns": {}}', "schema_version must be a positive integer"),
        ('{"schema_version": 1}', "columns: Field required"),
        ('{"schema_version": 1, "columns": {}, "colums": {}}', "colums: Extra inputs"),
        (
            '{"schema_version": 1, "columns": {"a": {"dtype": {"dtype": "float"}}}}',
            "columns.a.dtype.dtype: .*unknown dtype 'float'",
        ),
        (
            '{"schema_version": 1, "columns": {"a": {"range": {"min": 5, "max": 1}}}}',
            "columns.a.range: .*min 5.0 is greater than max 1.0",
        ),
        (
            '{"schema_version": 1, "columns": {"a": {"missing_rate": {"max_rate": 2}}}}',
            "columns.a.missing_rate.max_rate",
        ),
        (
            '{"schema_version": 1, "columns": {"a": {"range": {"severity": "fatal"}}}}',
            "columns.a.range.severity",
        ),
        (
            '{"schema_version": 1, "columns": {"a": {"range": {"max": NaN}}}}',
            "columns.a.range.max",
        ),
    ],
)
def test_malformed_expectations_json_is_rejected(text: str, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        Expectations.from_json(text)


def test_future_schema_version_is_rejected(expectations: Expectations) -> None:
    doc = json.loads(expectations.to_json())
    doc["schema_version"] = SCHEMA_VERSION + 1
    doc["something_new"] = True
    with pytest.raises(InvalidInput, match="schema_version 2, newer than the 1 this Slipway reads"):
        Expectations.from_json(json.dumps(doc))
