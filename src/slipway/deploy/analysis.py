"""One look at a rollout step: read the servers and the prediction log, run the checks.

The statistics live in :mod:`slipway.deploy.stats`, the readers in :mod:`slipway.deploy.scrape`;
this module decides which checks a step runs and when the fixed-sample decision replaces the
sequential one (the step's interval has passed with the evidence still unclear). A step with
too few samples keeps waiting however long the interval — at low traffic a rollout slows
down, it never passes or fails on no data.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from slipway.deploy.scrape import (
    Snapshot,
    VersionCounters,
    VersionKey,
    delta,
    fetch_snapshot,
    prediction_samples,
)
from slipway.deploy.spec import Analysis
from slipway.deploy.stats import (
    CheckResult,
    Verdict,
    combine,
    error_rate_sprt,
    fixed_error_rate,
    fixed_prediction_distance,
    p99_check,
    prediction_distance,
)
from slipway.deploy.target import ObservedDeployment
from slipway.serving.predlog import read_sql_glob

__all__ = ["StepReport", "Verdict", "analyze_step", "take_baseline"]


@dataclass(frozen=True, slots=True)
class StepReport:
    verdict: Verdict
    checks: tuple[CheckResult, ...]
    summary: str
    agreement: float | None = None
    """Shadow only: share of requests where challenger and champion predicted the same."""


def check_doc(check: CheckResult) -> dict[str, Any]:
    doc = asdict(check)
    doc["verdict"] = check.verdict.value
    return doc


# -- snapshots as JSON (the baseline is persisted with the rollout) ----------------------------


def snapshot_doc(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "taken_at": snapshot.taken_at,
        "sources": {
            url: [
                {"model": key.model, "version": key.version, **asdict(counters)}
                for key, counters in per_version.items()
            ]
            for url, per_version in snapshot.sources.items()
        },
    }


def snapshot_from_doc(doc: dict[str, Any]) -> Snapshot:
    sources = {}
    for url, rows in doc.get("sources", {}).items():
        per_version = {}
        for row in rows:
            fields = dict(row)
            key = VersionKey(fields.pop("model"), int(fields.pop("version")))
            fields["latency_buckets"] = tuple(
                (float(le), int(n)) for le, n in fields.get("latency_buckets", ())
            )
            per_version[key] = VersionCounters(**fields)
        sources[url] = per_version
    return Snapshot(float(doc.get("taken_at", 0.0)), sources)


def take_baseline(observed: ObservedDeployment | None) -> dict[str, Any]:
    """The servers' counters now: the start of a step's window."""
    if observed is None or not observed.endpoints:
        return {"taken_at": time.time(), "sources": {}}
    return snapshot_doc(fetch_snapshot(list(observed.endpoints)))


# -- one look ----------------------------------------------------------------------------------


def analyze_step(
    *,
    analysis: Analysis,
    deployment: str,
    observed: ObservedDeployment,
    baseline: dict[str, Any],
    since: float,
    now: float,
    log_root: Path,
    reference_since: float | None = None,
) -> tuple[StepReport, dict[str, Any]]:
    """Judge the challenger over ``[since, now)``; returns the report and the snapshot now
    (the next window's baseline).

    The champion's predictions are read from ``reference_since`` (default ``since``): at
    100 % weight the champion answers nothing in the step's own window, so the rollout
    compares with what the champion answered since the rollout began.
    """
    challenger = observed.challenger
    if challenger is None:
        raise ValueError(f"{deployment} has no challenger to analyse")
    if not observed.endpoints:
        current = take_baseline(observed)
        report = StepReport(
            Verdict.WAIT,
            (),
            f"no server endpoint of {deployment} is reachable from here: the analysis needs "
            "the servers' /metrics",
        )
        return report, current
    snapshot = fetch_snapshot(list(observed.endpoints))
    window = delta(snapshot_from_doc(baseline), snapshot)
    counters = window.get(challenger.name, challenger.version)
    final = now - since >= analysis.interval
    settings = analysis.checks
    n = analysis.min_samples
    checks: list[CheckResult] = []
    if settings.max_error_rate is not None:
        result = error_rate_sprt(
            counters.errors, counters.requests, settings.max_error_rate, settings.alpha, n
        )
        if final and result.verdict is Verdict.INCONCLUSIVE:
            result = fixed_error_rate(
                counters.errors, counters.requests, settings.max_error_rate, n
            )
        checks.append(result)
    if settings.max_p99_latency_ms is not None:
        checks.append(
            p99_check(
                counters.latency_quantile_ms(0.99),
                counters.latency_count,
                settings.max_p99_latency_ms,
                n,
            )
        )
    if settings.max_prediction_drift is not None:
        champion = prediction_samples(
            log_root,
            deployment,
            observed.champion.version,
            since if reference_since is None else min(reference_since, since),
            now,
        )
        mine = prediction_samples(log_root, deployment, challenger.version, since, now)
        result = prediction_distance(
            champion, mine, settings.max_prediction_drift, settings.alpha, n
        )
        if final and result.verdict is Verdict.INCONCLUSIVE:
            result = fixed_prediction_distance(champion, mine, settings.max_prediction_drift, n)
        checks.append(result)
    agreement = None
    if observed.mode == "shadow":
        agreement = agreement_rate(
            log_root, deployment, observed.champion.version, challenger.version, since, now
        )
    verdict = combine(checks)
    summary = "; ".join(c.message for c in checks) or "no checks configured"
    if agreement is not None:
        summary += f"; agreement with the champion {agreement[0]:.1%} over {agreement[1]} rows"
    report = StepReport(
        verdict, tuple(checks), summary, None if agreement is None else agreement[0]
    )
    return report, snapshot_doc(snapshot)


def agreement_rate(
    log_root: Path,
    deployment: str,
    champion: int,
    challenger: int,
    since: float,
    until: float,
) -> tuple[float, int] | None:
    """Share of shadowed rows where the challenger's first output equals the champion's.

    Rows are matched by request id and row number (a shadow answers a copy of the same
    request). None before any shadowed row is logged.
    """
    pattern = read_sql_glob(log_root, deployment)
    relative = Path(pattern).relative_to(log_root)
    if next(log_root.glob(str(relative)), None) is None:
        return None
    start = datetime.fromtimestamp(since, UTC)
    end = datetime.fromtimestamp(until, UTC)
    source = "read_parquet(?, hive_partitioning = true, union_by_name = true)"
    with duckdb.connect() as connection:
        described = connection.execute(f"describe select * from {source}", [pattern]).fetchall()
        outputs = sorted(
            str(r[0]) for r in described if str(r[0]).startswith("out_") and "[]" not in str(r[1])
        )
        if not outputs:
            return None
        column = '"' + outputs[0].replace('"', '""') + '"'
        query = f"""
            with rows as (
                select request_id, "row", model_version, route, {column} as value
                from {source}
                where status < 300 and time >= ? and time < ? and date >= ?
            )
            select count(*), coalesce(sum(case when a.value = b.value then 1 else 0 end), 0)
            from rows a join rows b using (request_id, "row")
            where a.model_version = ? and a.route <> 'shadow'
              and b.model_version = ? and b.route = 'shadow'
        """
        total, same = connection.execute(
            query, [pattern, start, end, start.date(), champion, challenger]
        ).fetchone() or (0, 0)
    if not total:
        return None
    return float(np.float64(same) / total), int(total)
