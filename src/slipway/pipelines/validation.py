"""Data validation: expectations inferred from a reference dataset, and new data held to them.

:func:`infer_expectations` reads a reference DataFrame and writes down, per column, its dtype,
how much of it may be missing, the range its numbers fall in and the categories its strings
take, plus bounds on the row count. The result, :class:`Expectations`, is a JSON document that
people tune by hand. :func:`validate` holds new data to it and returns a
:class:`ValidationReport` listing every check with what was expected, what was observed and
whether it passed. A failed ``error`` check fails the report; a failed ``warning`` only shows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    JsonValue,
    ValidationError,
    computed_field,
    field_validator,
    model_validator,
)
from rich.table import Table
from rich.text import Text

from slipway.core.errors import InvalidInput, SlipwayError
from slipway.flavors.dtypes import DTYPES, FLOATS, INTS, dtype_name

SCHEMA_VERSION: Final = 1
Severity = Literal["error", "warning"]
RuleName = Literal[
    "row_count",
    "presence",
    "unexpected_columns",
    "dtype",
    "missing_rate",
    "range",
    "quantiles",
    "categories",
]
DEFAULT_SEVERITIES: Mapping[RuleName, Severity] = {
    "row_count": "error",
    "presence": "error",
    "unexpected_columns": "error",
    "dtype": "error",
    "missing_rate": "error",
    "range": "error",
    "quantiles": "warning",
    "categories": "error",
}
_NUMERIC = frozenset((*INTS, *FLOATS))
_EXAMPLES = 5
Floats = npt.NDArray[np.float64]


# --- Expectations -------------------------------------------------------------------------


class Rule(BaseModel):
    """What every rule has: how bad breaking it is (``error`` fails the report)."""

    model_config = ConfigDict(extra="forbid")

    severity: Severity = "error"


class DtypeRule(Rule):
    """The column's dtype, in Slipway's names (``float64``, ``int64``, ``string``, ...)."""

    dtype: str

    @field_validator("dtype")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in DTYPES:
            raise ValueError(f"unknown dtype {value!r}; use one of {', '.join(DTYPES)}")
        return value


class MissingRateRule(Rule):
    """At most ``max_rate`` of the rows may be missing (0 means the column is not nullable)."""

    max_rate: FiniteFloat = Field(ge=0, le=1)
    reference_rate: FiniteFloat = Field(default=0.0, ge=0, le=1)


class RangeRule(Rule):
    """Values lie in ``[min, max]``; up to ``max_outside_fraction`` of the rows may not."""

    min: FiniteFloat | None = None
    max: FiniteFloat | None = None
    max_outside_fraction: FiniteFloat = Field(default=0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> RangeRule:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self


class QuantilesRule(Rule):
    """Each quantile (key, in [0, 1]) stays within ``max_shift`` of its reference value."""

    severity: Severity = "warning"
    reference: dict[float, FiniteFloat] = Field(min_length=1)
    max_shift: FiniteFloat = Field(ge=0)

    @field_validator("reference")
    @classmethod
    def _probabilities(cls, value: dict[float, float]) -> dict[float, float]:
        if any(not 0 <= q <= 1 for q in value):
            raise ValueError("quantile keys must lie in [0, 1]")
        return value


class CategoriesRule(Rule):
    """Values come from ``allowed``; up to ``max_new_fraction`` of the rows may not."""

    allowed: list[str]
    max_new_fraction: FiniteFloat = Field(default=0.0, ge=0, le=1)


class RowCountRule(Rule):
    """The dataset has between ``min`` and ``max`` rows (no upper bound when ``max`` is null)."""

    min: int = Field(default=0, ge=0)
    max: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> RowCountRule:
        if self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self


class ColumnExpectations(BaseModel):
    """The rules for one column; a rule set to ``null`` is not checked."""

    model_config = ConfigDict(extra="forbid")

    presence: Rule | None = Field(default_factory=Rule)
    dtype: DtypeRule | None = None
    missing_rate: MissingRateRule | None = None
    range: RangeRule | None = None
    quantiles: QuantilesRule | None = None
    categories: CategoriesRule | None = None


class Expectations(BaseModel):
    """What data must look like: dataset-level rules and one entry per expected column."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    name: str | None = None
    reference_rows: int = Field(default=0, ge=0)
    row_count: RowCountRule | None = None
    unexpected_columns: Rule | None = Field(default_factory=Rule)
    columns: dict[str, ColumnExpectations]

    def to_json(self, *, indent: int | None = 2) -> str:
        """The JSON document, to store with the pipeline run and edit by hand."""
        return self.model_dump_json(indent=indent)

    @classmethod
    def from_json(cls, text: str | bytes) -> Expectations:
        """Parse a JSON document; malformed or newer-versioned ones raise InvalidInput."""
        try:
            doc = json.loads(text)
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"malformed expectations: not JSON ({exc})") from None
        return cls.from_dict(doc)

    @classmethod
    def from_dict(cls, doc: object) -> Expectations:
        """Parse a decoded JSON document; see :meth:`from_json`."""
        if not isinstance(doc, dict):
            raise InvalidInput("malformed expectations: expected a JSON object")
        version = doc.get("schema_version")
        if type(version) is not int or version < 1:
            raise InvalidInput(
                f"malformed expectations: schema_version must be a positive integer, "
                f"got {version!r}"
            )
        if version > SCHEMA_VERSION:
            raise InvalidInput(
                f"expectations have schema_version {version}, newer than the "
                f"{SCHEMA_VERSION} this Slipway reads; upgrade Slipway to use them"
            )
        try:
            return cls.model_validate(doc)
        except ValidationError as exc:
            raise InvalidInput(f"malformed expectations: {_describe(exc)}") from None


def _describe(exc: ValidationError) -> str:
    errors = exc.errors()
    shown = [f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in errors[:5]]
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(shown) + more


# --- Inference ----------------------------------------------------------------------------


def infer_expectations(
    reference: pd.DataFrame,
    *,
    name: str | None = None,
    missing_tolerance: float = 0.05,
    range_margin: float = 0.1,
    quantiles: Sequence[float] = (),
    quantile_tolerance: float = 0.5,
    max_categories: int = 50,
    row_count_tolerance: float | None = 0.5,
    severities: Mapping[str, Severity] | None = None,
) -> Expectations:
    """Infer expectations from ``reference``; docs/validation.md gives each formula.

    ``missing_tolerance`` is added to a nullable column's reference missing rate;
    ``range_margin`` widens ``[min, max]`` by that fraction of the span at each end;
    ``quantiles`` (e.g. ``(0.05, 0.5, 0.95)``) adds a quantile rule allowing each to move by
    ``quantile_tolerance`` reference standard deviations; string columns with at most
    ``max_categories`` distinct values get an allowed-category rule; the row count may differ
    from the reference's by ``row_count_tolerance`` (a fraction; ``None``: no row-count rule).
    ``severities`` overrides :data:`DEFAULT_SEVERITIES` by rule name.
    """
    frame = _frame(reference, "reference data")
    if frame.empty:
        raise InvalidInput(
            f"reference data is empty ({len(frame)} rows, {len(frame.columns)} columns); "
            "expectations need at least one row and one column"
        )
    _check_options(missing_tolerance, range_margin, quantiles, quantile_tolerance, max_categories)
    if row_count_tolerance is not None and not row_count_tolerance >= 0:
        raise InvalidInput(f"row_count_tolerance must be >= 0, got {row_count_tolerance}")
    level = _severities(severities)
    rows = len(frame)
    row_count = None
    if row_count_tolerance is not None:
        row_count = RowCountRule(
            severity=level["row_count"],
            min=max(0, math.floor(rows * (1 - row_count_tolerance))),
            max=math.ceil(rows * (1 + row_count_tolerance)),
        )
    columns = {}
    for column in frame.columns:
        series = frame[column]
        dtype = _dtype_of(series)
        if dtype not in DTYPES:
            problem = "every value is missing" if dtype == "empty" else f"its values are {dtype}"
            raise InvalidInput(
                f"cannot infer expectations for column {column!r}: {problem}, "
                "which no Slipway dtype describes"
            )
        rate = float(series.isna().mean())
        spec = ColumnExpectations(
            presence=Rule(severity=level["presence"]),
            dtype=DtypeRule(severity=level["dtype"], dtype=dtype),
            missing_rate=MissingRateRule(
                severity=level["missing_rate"],
                # Rounded for people who read and edit it, never below the reference rate.
                max_rate=min(1.0, max(rate, round(rate + missing_tolerance, 6))) if rate else 0.0,
                reference_rate=rate,
            ),
        )
        if dtype in _NUMERIC:
            values = _finite(_floats(series))
            if values.size:
                spec.range = _infer_range(values, dtype, range_margin, level["range"])
                if quantiles:
                    points = np.quantile(values, list(quantiles))
                    spec.quantiles = QuantilesRule(
                        severity=level["quantiles"],
                        reference={
                            float(q): float(v) for q, v in zip(quantiles, points, strict=True)
                        },
                        max_shift=quantile_tolerance * float(np.std(values)),
                    )
        elif dtype == "string":
            distinct = series.dropna().unique()
            if len(distinct) <= max_categories:
                spec.categories = CategoriesRule(
                    severity=level["categories"], allowed=sorted(str(v) for v in distinct)
                )
        columns[column] = spec
    return Expectations(
        name=name,
        reference_rows=rows,
        row_count=row_count,
        unexpected_columns=Rule(severity=level["unexpected_columns"]),
        columns=columns,
    )


def _check_options(
    missing_tolerance: float,
    range_margin: float,
    quantiles: Sequence[float],
    quantile_tolerance: float,
    max_categories: int,
) -> None:
    for label, value in (
        ("missing_tolerance", missing_tolerance),
        ("range_margin", range_margin),
        ("quantile_tolerance", quantile_tolerance),
    ):
        if not (math.isfinite(value) and value >= 0):
            raise InvalidInput(f"{label} must be a finite number >= 0, got {value}")
    if any(not 0 <= q <= 1 for q in quantiles):
        raise InvalidInput(f"quantiles must lie in [0, 1], got {list(quantiles)}")
    if max_categories < 0:
        raise InvalidInput(f"max_categories must be >= 0, got {max_categories}")


def _severities(overrides: Mapping[str, Severity] | None) -> dict[RuleName, Severity]:
    level = dict(DEFAULT_SEVERITIES)
    for rule, severity in (overrides or {}).items():
        if rule not in DEFAULT_SEVERITIES:
            raise InvalidInput(f"unknown rule {rule!r}; rules are {', '.join(DEFAULT_SEVERITIES)}")
        if severity not in ("error", "warning"):
            raise InvalidInput(f"severity of {rule!r} must be error or warning, got {severity!r}")
        level[rule] = severity  # type: ignore[index]  # rule was checked against the names
    return level


def _infer_range(values: Floats, dtype: str, margin: float, severity: Severity) -> RangeRule:
    low, high = float(values.min()), float(values.max())
    pad = margin * (high - low)
    low, high = low - pad, high + pad
    if dtype in INTS:
        low, high = float(math.floor(low)), float(math.ceil(high))
    return RangeRule(severity=severity, min=low, max=high)


# --- Validation ---------------------------------------------------------------------------


class Check(BaseModel):
    """One rule held to the data: ``column`` is ``None`` for dataset-level rules."""

    column: str | None
    rule: RuleName
    severity: Severity
    passed: bool
    expected: JsonValue
    observed: JsonValue
    message: str
    count: int | None = None
    fraction: float | None = None
    examples: list[JsonValue] = Field(default_factory=list)


class ValidationReport(BaseModel):
    """Every check made; the data passes when no ``error`` check failed."""

    schema_version: Literal[1] = SCHEMA_VERSION
    expectations: str | None = None
    rows: int
    columns: int
    checks: list[Check]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def passed(self) -> bool:
        """No check of severity ``error`` failed."""
        return not self.errors

    @property
    def errors(self) -> list[Check]:
        """The failed checks of severity ``error``."""
        return [c for c in self.checks if not c.passed and c.severity == "error"]

    @property
    def warnings(self) -> list[Check]:
        """The failed checks of severity ``warning``."""
        return [c for c in self.checks if not c.passed and c.severity == "warning"]

    def summary(self) -> str:
        """One line: the verdict and the failed checks' messages."""
        verdict = "passed" if self.passed else "FAILED"
        head = (
            f"data validation {verdict}: {len(self.checks)} checks, "
            f"{len(self.errors)} errors, {len(self.warnings)} warnings"
        )
        return "; ".join([head, *(c.message for c in self.errors + self.warnings)])

    def to_json(self, *, indent: int | None = 2) -> str:
        """The report as JSON, ``passed`` included."""
        return self.model_dump_json(indent=indent)

    def raise_for_errors(self) -> None:
        """Raise :class:`ValidationFailed` when an ``error`` check failed."""
        if not self.passed:
            raise ValidationFailed(self)

    def __rich__(self) -> Table:
        return render(self)


class ValidationFailed(SlipwayError):
    """Data broke a hard (``error``) rule; ``report`` says which."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        super().__init__(report.summary())


def validate(data: pd.DataFrame, expectations: Expectations) -> ValidationReport:
    """Hold ``data`` to ``expectations`` and report every check."""
    frame = _frame(data, "data")
    if not isinstance(expectations, Expectations):
        raise InvalidInput(
            f"expectations must be an Expectations, got {type(expectations).__name__}; "
            "load stored ones with Expectations.from_json"
        )
    rows = len(frame)
    checks: list[Check] = []
    if expectations.row_count is not None:
        checks.append(_check_row_count(rows, expectations.row_count))
    for column, spec in expectations.columns.items():
        if column not in frame.columns:
            if spec.presence is not None:
                message = f"column {column!r} is missing"
                checks.append(
                    _check(message, column, "presence", spec.presence, False, "present", "missing")
                )
            continue
        if spec.presence is not None:
            message = f"column {column!r} is present"
            checks.append(
                _check(message, column, "presence", spec.presence, True, "present", "present")
            )
        checks.extend(_check_column(column, frame[column], spec, rows))
    if expectations.unexpected_columns is not None:
        rule = expectations.unexpected_columns
        for column in frame.columns:
            if column not in expectations.columns:
                message = f"column {column!r} is not in the expectations"
                checks.append(
                    _check(message, column, "unexpected_columns", rule, False, "absent", "present")
                )
    return ValidationReport(
        expectations=expectations.name, rows=rows, columns=len(frame.columns), checks=checks
    )


def _check(
    message: str,
    column: str | None,
    rule_name: RuleName,
    rule: Rule,
    passed: bool,
    expected: JsonValue,
    observed: JsonValue,
    **details: Any,
) -> Check:
    return Check(
        column=column,
        rule=rule_name,
        severity=rule.severity,
        passed=passed,
        expected=expected,
        observed=observed,
        message=message,
        **details,
    )


def _check_row_count(rows: int, rule: RowCountRule) -> Check:
    passed = rule.min <= rows and (rule.max is None or rows <= rule.max)
    upper = "" if rule.max is None else f" and {rule.max}"
    bounds = f"at least {rule.min}" if rule.max is None else f"between {rule.min}{upper}"
    message = f"dataset has {rows} rows, expected {bounds}"
    expected: JsonValue = {"min": rule.min, "max": rule.max}
    return _check(message, None, "row_count", rule, passed, expected, rows)


def _check_column(
    column: str, series: pd.Series[Any], spec: ColumnExpectations, rows: int
) -> list[Check]:
    checks = []
    dtype = _dtype_of(series)
    if spec.dtype is not None:
        passed = dtype == spec.dtype.dtype
        message = f"column {column!r} has dtype {dtype}" + (
            "" if passed else f", expected {spec.dtype.dtype}"
        )
        checks.append(_check(message, column, "dtype", spec.dtype, passed, spec.dtype.dtype, dtype))
    if spec.missing_rate is not None:
        rule = spec.missing_rate
        missing = int(series.isna().sum())
        rate = missing / rows if rows else 0.0
        passed = rate <= rule.max_rate
        message = f"column {column!r} is {rate:.2%} missing, at most {rule.max_rate:.2%} allowed"
        checks.append(
            _check(
                message,
                column,
                "missing_rate",
                rule,
                passed,
                rule.max_rate,
                rate,
                count=missing,
                fraction=rate,
            )
        )
    # Range, quantile and category rules only mean something for data of the right kind; a
    # column of the wrong kind has already failed its dtype check.
    if dtype in _NUMERIC and (spec.range is not None or spec.quantiles is not None):
        values = _floats(series)
        if spec.range is not None:
            checks.append(_check_range(column, values, dtype, spec.range, rows))
        if spec.quantiles is not None:
            checks.append(_check_quantiles(column, values, spec.quantiles))
    if dtype == "string" and spec.categories is not None:
        checks.append(_check_categories(column, series, spec.categories, rows))
    return checks


def _check_range(column: str, values: Floats, dtype: str, rule: RangeRule, rows: int) -> Check:
    # NaN compares false both ways, so missing values are never out of range; infinities are.
    outside = np.zeros(values.shape, dtype=bool)
    if rule.min is not None:
        outside |= values < rule.min
    if rule.max is not None:
        outside |= values > rule.max
    count = int(outside.sum())
    fraction = count / rows if rows else 0.0
    present = values[~np.isnan(values)]
    observed: JsonValue = {
        "min": _number(present.min(), dtype) if present.size else None,
        "max": _number(present.max(), dtype) if present.size else None,
    }
    examples: list[JsonValue] = [_number(v, dtype) for v in pd.unique(values[outside])[:_EXAMPLES]]
    bounds = f"[{_show(rule.min)}, {_show(rule.max)}]"
    message = (
        f"column {column!r} has {_count(count, 'value')} ({fraction:.2%}) outside {bounds}, "
        f"at most {rule.max_outside_fraction:.2%} allowed"
    )
    if examples:
        message += f"; e.g. {', '.join(_show(e) for e in examples)}"
    expected: JsonValue = {"min": rule.min, "max": rule.max}
    passed = fraction <= rule.max_outside_fraction
    return _check(
        message,
        column,
        "range",
        rule,
        passed,
        expected,
        observed,
        count=count,
        fraction=fraction,
        examples=examples,
    )


def _check_quantiles(column: str, values: Floats, rule: QuantilesRule) -> Check:
    present = _finite(values)
    probabilities = sorted(rule.reference)
    expected: JsonValue = {str(q): rule.reference[q] for q in probabilities}
    if not present.size:
        message = f"column {column!r} has no finite values to compare quantiles with"
        return _check(message, column, "quantiles", rule, False, expected, None)
    points = np.quantile(present, probabilities)
    observed: JsonValue = {str(q): float(v) for q, v in zip(probabilities, points, strict=True)}
    shifts = {
        q: abs(float(v) - rule.reference[q]) for q, v in zip(probabilities, points, strict=True)
    }
    worst = max(shifts, key=lambda q: shifts[q])
    passed = shifts[worst] <= rule.max_shift
    now = float(points[probabilities.index(worst)])
    message = (
        f"column {column!r} quantile {worst} moved by {_show(shifts[worst])} "
        f"(from {_show(rule.reference[worst])} to {_show(now)}), "
        f"at most {_show(rule.max_shift)} allowed"
    )
    return _check(message, column, "quantiles", rule, passed, expected, observed)


def _check_categories(
    column: str, series: pd.Series[Any], rule: CategoriesRule, rows: int
) -> Check:
    new = series.notna() & ~series.isin(rule.allowed)
    count = int(new.sum())
    fraction = count / rows if rows else 0.0
    counts = series[new].astype(object).value_counts() if count else pd.Series([], dtype=int)
    found: list[JsonValue] = [str(v) for v in counts.index]
    message = (
        f"column {column!r} has {_count(len(found), 'new category', 'new categories')} "
        f"in {_count(count, 'row')} ({fraction:.2%}), "
        f"at most {rule.max_new_fraction:.2%} of rows allowed"
    )
    if found:
        message += f": {', '.join(repr(v) for v in found[:_EXAMPLES])}"
        message += f" and {len(found) - _EXAMPLES} more" if len(found) > _EXAMPLES else ""
    passed = fraction <= rule.max_new_fraction
    allowed: list[JsonValue] = list(rule.allowed)
    return _check(
        message,
        column,
        "categories",
        rule,
        passed,
        allowed,
        found,
        count=count,
        fraction=fraction,
        examples=found[:_EXAMPLES],
    )


# --- Data helpers -------------------------------------------------------------------------


def _frame(data: object, what: str) -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        raise InvalidInput(f"{what} must be a pandas DataFrame, got {type(data).__name__}")
    if not data.columns.is_unique:
        repeated = sorted({str(c) for c in data.columns[data.columns.duplicated()]})
        raise InvalidInput(f"{what} has duplicate column names: {', '.join(repeated)}")
    for column in data.columns:
        if not isinstance(column, str):
            raise InvalidInput(
                f"{what} column names must be strings, got {column!r}; "
                "rename them, e.g. df.columns = df.columns.astype(str)"
            )
    return data


def _dtype_of(series: pd.Series[Any]) -> str:
    """Slipway's name for a column's dtype, read from the dtype rather than the values."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _dtype_of(pd.Series(dtype.categories))
    if isinstance(dtype, pd.StringDtype):
        return "string"
    if isinstance(dtype, pd.DatetimeTZDtype) or dtype.kind == "M":
        return "datetime64"
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_numeric_dtype(dtype):
        if isinstance(dtype, np.dtype):
            return dtype.name
        # Nullable and Arrow numbers name the numpy type they hold.
        return str(np.dtype(cast(Any, dtype).numpy_dtype).name)
    if isinstance(dtype, np.dtype) and dtype.kind == "O":
        # Only object columns need their values read to learn what they hold.
        return dtype_name(series.to_numpy())
    if pd.api.types.is_string_dtype(dtype):  # Arrow-backed strings
        return "string"
    return str(dtype)


def _floats(series: pd.Series[Any]) -> Floats:
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def _finite(values: Floats) -> Floats:
    return values[np.isfinite(values)]


def _number(value: Any, dtype: str) -> JsonValue:
    number = float(value)
    if dtype in INTS and math.isfinite(number):
        return int(number)
    return number if math.isfinite(number) else str(number)


def _count(number: int, singular: str, plural: str | None = None) -> str:
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


def _show(value: JsonValue) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        head = ", ".join(_show(v) for v in value[:8])
        return f"[{head}{f', ... (+{len(value) - 8})' if len(value) > 8 else ''}]"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_show(v)}" for k, v in value.items())
    return str(value)


# --- Rendering ----------------------------------------------------------------------------


def render(report: ValidationReport, *, show_passed: bool = True) -> Table:
    """The report as a Rich table, failed errors first, then failed warnings, then passes."""
    verdict = "[green]PASSED[/]" if report.passed else "[bold red]FAILED[/]"
    title = (
        f"Data validation{f' of {report.expectations}' if report.expectations else ''}: {verdict}"
    )
    table = Table(title=title, caption=report.summary().split(";")[0], show_lines=False)
    for header in ("", "Column", "Rule", "Severity", "Expected", "Observed", "Problem"):
        table.add_column(header, overflow="fold")
    ordered = sorted(report.checks, key=lambda c: (c.passed, c.severity != "error"))
    for check in ordered:
        if check.passed and not show_passed:
            continue
        if check.passed:
            mark = Text("ok", style="green")
        elif check.severity == "error":
            mark = Text("FAIL", style="bold red")
        else:
            mark = Text("WARN", style="yellow")
        table.add_row(
            mark,
            Text(check.column or "(dataset)"),
            check.rule,
            check.severity,
            # Text, not str: a list shown as "[a, b]" is not Rich markup.
            Text(_show(check.expected)),
            Text(_show(check.observed)),
            Text("" if check.passed else check.message),
        )
    return table
