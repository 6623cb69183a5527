"""The gate report: every check with its value, what it was compared with, and its verdict."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

CheckKind = Literal["threshold", "champion", "slice", "signature", "infra"]
REPORT_FORMAT = "slipway.gate_report/v1"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check: ``name`` is unique in a report (``threshold:roc_auc``, ``slice:north:f1``)."""

    kind: CheckKind
    name: str
    passed: bool
    value: float | None = None
    comparison: str = ""
    """What the value was held to, e.g. ``>= 0.9`` or ``>= 0.93 (champion v2 0.94 - 0.01)``."""
    threshold: float | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class GateReport:
    model_name: str
    candidate_version: int
    candidate_digest: str
    champion_version: int | None
    checks: tuple[CheckResult, ...]
    metrics: dict[str, float | None] = field(default_factory=dict)
    """The candidate's metrics on the whole evaluation data."""
    run_id: str = ""

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if not c.passed)

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["checks"] = [asdict(c) for c in self.checks]
        return {"format": REPORT_FORMAT, "passed": self.passed, **doc}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=2, allow_nan=False)

    def summary(self) -> str:
        """One line: the verdict and, when it failed, each failed check with its reason."""
        head = f"gate {'passed' if self.passed else 'failed'} for {self.model_name} " + (
            f"v{self.candidate_version}"
        )
        if self.passed:
            return head
        reasons = "; ".join(f"{c.name}: {_describe(c)}" for c in self.failed)
        return f"{head}: {reasons}"

    def render(self) -> str:
        """A plain-text table for the step's log."""
        rows = [("check", "value", "comparison", "verdict", "note")]
        for c in self.checks:
            value = "-" if c.value is None else f"{c.value:.6g}"
            rows.append((c.name, value, c.comparison, "PASS" if c.passed else "FAIL", c.note))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(r[:4], widths, strict=True)) + "  " + r[4]
            for r in rows
        ]
        return "\n".join([self.summary(), *lines])


def _describe(check: CheckResult) -> str:
    if check.value is None:
        return check.note or "no value"
    text = f"{check.value:.6g} not {check.comparison}".rstrip()
    return f"{text} ({check.note})" if check.note else text
