"""The gate step: register the candidate, run every check, store the report, decide the alias.

Order matters only for the outcome: the candidate is registered first (without an alias) so
that it can be served and audited whatever the checks say; the report is stored on the step's
run and referenced from the version (tags ``slipway.gate_report`` = the report's blob digest,
``slipway.gate_run_id``, ``slipway.gate_passed``) before the verdict is acted on: the alias
``challenger`` when every check passed, else an error that fails the step and the pipeline.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from slipway.core.entities import ModelVersion, RunArtifact
from slipway.core.errors import NotFound, SlipwayError
from slipway.flavors import LoadedModel, Signature
from slipway.monitoring.profile import attach_profile, compute_profile
from slipway.pipelines.context import StepContext
from slipway.pipelines.gates.candidate import log_candidate
from slipway.pipelines.gates.config import LOWER_IS_BETTER, GateParams, Threshold, parse_gate_params
from slipway.pipelines.gates.evaluation import (
    Metrics,
    evaluate,
    features_for,
    read_table,
    slice_mask,
)
from slipway.pipelines.gates.infra import validate_serving
from slipway.pipelines.gates.report import CheckResult, GateReport
from slipway.pipelines.gates.signatures import breaking_changes
from slipway.registry import RegistryClient
from slipway.workspace import Workspace

REPORT_ARTIFACT = "gate/report.json"
TAG_REPORT = "slipway.gate_report"
TAG_RUN = "slipway.gate_run_id"
TAG_PASSED = "slipway.gate_passed"


class GateFailed(SlipwayError):
    """A candidate did not pass its gate; the message names each failed check."""

    def __init__(self, report: GateReport) -> None:
        super().__init__(report.summary())
        self.report = report


class _Model:
    """A loaded model with its predictions' inputs on the evaluation data."""

    def __init__(self, loaded: LoadedModel, data: pd.DataFrame, params: GateParams) -> None:
        self.loaded = loaded
        self.features = features_for(loaded, data, params.label)
        self.labels = data[params.label]
        self.task = params.task

    def metrics(self, mask: pd.Series | None = None) -> Metrics:
        if mask is None:
            return evaluate(self.loaded, self.features, self.labels, self.task)
        return evaluate(self.loaded, self.features[mask], self.labels[mask], self.task)


def gate_step(ctx: StepContext) -> None:
    """Built-in step ``slipway.pipelines.gates:gate``; see docs/gates.md."""
    params = parse_gate_params(dict(ctx.params), ctx.step)
    workspace = ctx.workspace or Workspace()
    report = run_gate(workspace, ctx, params)
    ctx.logger.info("%s", report.render())
    if not report.passed:
        raise GateFailed(report)


def run_gate(workspace: Workspace, ctx: StepContext, params: GateParams) -> GateReport:
    registry = RegistryClient(workspace)
    data = read_table(ctx.input("eval_data"))
    version = _candidate_version(registry, workspace, ctx, params)
    champion_version = _champion(registry, params)
    candidate = _Model(_load(registry, version, params), data, params)
    _attach_reference(workspace, version, candidate, ctx)
    overall = candidate.metrics()
    ctx.log_metrics({k: v for k, v in overall.items() if v is not None})
    champion = None
    if champion_version is not None and params.champion.enabled:
        champion = _Model(_load(registry, champion_version, params), data, params)

    checks: list[CheckResult] = []
    checks += _thresholds("threshold", "", overall, params.thresholds)
    checks += _against_champion("", overall, champion, champion_version, params)
    for spec in params.slices:
        mask = slice_mask(data, spec)
        rows = int(mask.sum())
        if rows < spec.min_rows:
            checks.append(
                CheckResult(
                    "slice",
                    f"slice:{spec.name}",
                    False,
                    float(rows),
                    f">= {spec.min_rows} rows",
                    float(spec.min_rows),
                    f"{spec.describe()} selects {rows} rows",
                )
            )
            continue
        values = candidate.metrics(mask)
        prefix = f"slice:{spec.name}:"
        checks += _thresholds("slice", prefix, values, spec.thresholds)
        checks += _against_champion(prefix, values, champion, champion_version, params, mask)
    checks.append(_signature(candidate.loaded, champion_version, params))
    if params.infra is not None:
        checks.append(_infra(workspace, version, candidate, params))

    report = GateReport(
        model_name=params.model_name,
        candidate_version=version.version,
        candidate_digest=version.manifest_digest,
        champion_version=None if champion_version is None else champion_version.version,
        checks=tuple(checks),
        metrics=overall,
        run_id=ctx.run_id,
    )
    _store(workspace, registry, ctx, version, report)
    if report.passed:
        registry.set_alias(params.model_name, params.challenger_alias, version.version)
    return report


def _attach_reference(
    workspace: Workspace, version: ModelVersion, candidate: _Model, ctx: StepContext
) -> None:
    """Store the evaluation data's profile (features and the candidate's predictions) with
    the version: the reference monitoring compares production with, without the raw data."""
    try:
        predicted = candidate.loaded.predict(candidate.features)
        if isinstance(predicted, dict):
            name, values = next(iter(predicted.items()))
        elif isinstance(predicted, pd.DataFrame):
            name, values = str(predicted.columns[0]), predicted.iloc[:, 0]
        else:
            name, values = "prediction", predicted
        profile = compute_profile(
            candidate.features, prediction=pd.Series(np.asarray(values).ravel(), name=str(name))
        )
        attach_profile(workspace, version.name, version.version, profile)
    except (SlipwayError, ValueError, TypeError) as exc:
        ctx.logger.warning(
            "no reference profile for %s v%s: %s", version.name, version.version, exc
        )


def _candidate_version(
    registry: RegistryClient, workspace: Workspace, ctx: StepContext, params: GateParams
) -> ModelVersion:
    if params.candidate is not None and params.candidate.startswith("models:/"):
        _, version = registry.resolve(params.candidate)
        assert version is not None
        return version
    uri = params.candidate or log_candidate(workspace, ctx.run_id, ctx.input("model"))
    return registry.register_model(
        uri, params.model_name, description=f"candidate gated by run {ctx.run_id}"
    )


def _champion(registry: RegistryClient, params: GateParams) -> ModelVersion | None:
    try:
        return registry.get_model_version_by_alias(params.model_name, params.champion.alias)
    except NotFound:
        return None


def _load(registry: RegistryClient, version: ModelVersion, params: GateParams) -> LoadedModel:
    return registry.load_model(version.uri, trusted_types=tuple(params.trusted_types))


def _thresholds(
    kind: Any, prefix: str, values: Metrics, thresholds: Iterable[Threshold]
) -> list[CheckResult]:
    results = []
    for t in thresholds:
        value = values.get(t.metric)
        comparison = f"{t.op} {t.value:g}"
        if value is None:
            note = f"{t.metric} is undefined for this model or data"
            results.append(
                CheckResult(kind, f"{prefix}{t.metric}", False, None, comparison, t.value, note)
            )
        else:
            results.append(
                CheckResult(kind, f"{prefix}{t.metric}", t.holds(value), value, comparison, t.value)
            )
    return results


def _against_champion(
    prefix: str,
    values: Metrics,
    champion: _Model | None,
    champion_version: ModelVersion | None,
    params: GateParams,
    mask: pd.Series | None = None,
) -> list[CheckResult]:
    kind: Any = "slice" if prefix else "champion"
    if not params.champion.enabled:
        return []
    if champion is None or champion_version is None:
        if prefix:
            return []
        note = (
            f"no {params.champion.alias!r} for {params.model_name!r} yet: nothing to regress from"
        )
        return [CheckResult("champion", "champion", True, None, "", None, note)]
    theirs = champion.metrics(mask)
    tolerance = params.champion.tolerance
    results = []
    for metric in params.champion_metrics():
        name = f"{prefix}vs_champion:{metric}"
        ours, base = values.get(metric), theirs.get(metric)
        if base is None:
            note = f"champion v{champion_version.version} has no {metric} here"
            results.append(CheckResult(kind, name, True, ours, "", None, note))
            continue
        allowed = tolerance.allowed(base)
        lower = metric in LOWER_IS_BETTER
        bound = base + allowed if lower else base - allowed
        comparison = f"{'<=' if lower else '>='} {bound:.6g}"
        note = f"champion v{champion_version.version} {base:.6g}, tolerance {tolerance}"
        passed = ours is not None and (ours <= bound if lower else ours >= bound)
        results.append(CheckResult(kind, name, passed, ours, comparison, bound, note))
    return results


def _signature(
    candidate: LoadedModel, champion_version: ModelVersion | None, params: GateParams
) -> CheckResult:
    if champion_version is None or champion_version.signature is None:
        return CheckResult("signature", "signature", True, note="no champion signature to compare")
    if candidate.signature is None:
        problems = ["the candidate has no signature"]
    else:
        champion_signature = Signature.from_dict(champion_version.signature)
        problems = breaking_changes(champion_signature, candidate.signature)
    if not problems:
        note = f"accepts what champion v{champion_version.version} accepted"
        return CheckResult("signature", "signature", True, note=note)
    detail = "; ".join(problems)
    if params.allow_breaking_signature:
        return CheckResult("signature", "signature", True, note=f"breaking, allowed: {detail}")
    return CheckResult(
        "signature",
        "signature",
        False,
        comparison="compatible with champion",
        note=f"breaking change (set allow_breaking_signature: true to accept): {detail}",
    )


def _infra(
    workspace: Workspace, version: ModelVersion, candidate: _Model, params: GateParams
) -> CheckResult:
    assert params.infra is not None
    budget = params.infra.p95_ms
    rows = candidate.features.head(params.infra.requests)
    expected = candidate.loaded.predict(rows)
    result = validate_serving(workspace, version.uri, rows, expected, params.infra)
    passed = result.ok and result.p95_ms is not None and result.p95_ms <= budget
    note = result.note or f"{result.requests} requests to slipway serve, p95 latency in ms"
    return CheckResult("infra", "infra", passed, result.p95_ms, f"<= {budget:g} ms", budget, note)


def _store(
    workspace: Workspace,
    registry: RegistryClient,
    ctx: StepContext,
    version: ModelVersion,
    report: GateReport,
) -> None:
    text = report.to_json()
    blob = workspace.artifacts.put_bytes(text.encode())
    workspace.store.runs.add_artifact(
        ctx.run_id, RunArtifact(REPORT_ARTIFACT, blob.digest, blob.size)
    )
    if "report" in ctx.output_names:
        ctx.output("report").write_text(text, encoding="utf-8")
    tags = {TAG_REPORT: blob.digest, TAG_RUN: ctx.run_id, TAG_PASSED: str(report.passed).lower()}
    for key, value in tags.items():
        registry.set_model_version_tag(report.model_name, version.version, key, value)
