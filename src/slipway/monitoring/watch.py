"""One look of the monitor: compute each alert rule's value, evaluate, notify.

The agent calls :func:`check_alerts` on its ticks. Values come from the same places the CLI
reads: drift of the latest complete-or-current window against the version's stored profile,
realised performance where enough labels joined, and the service objectives from the
prediction log itself (status and latency of every answer). State (pending, firing, when last
notified) persists between looks, so a restarted agent neither forgets a firing alert nor
notifies it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from slipway.core.errors import InvalidInput
from slipway.monitoring.alerts import (
    AlertRule,
    AlertRulesFile,
    Observation,
    evaluate,
    load_rules,
    load_state,
    save_state,
)
from slipway.monitoring.monitor import drift_over_time
from slipway.monitoring.notify import DeliveryResult, RetryPolicy, notify
from slipway.monitoring.performance import compute_performance
from slipway.serving.predlog import read_sql_glob
from slipway.workspace import Workspace

logger = logging.getLogger("slipway.monitoring")


def _local_only(workspace: Workspace, function: str) -> None:
    if workspace.is_remote:
        from slipway.core.http import NotAvailableRemotely

        raise NotAvailableRemotely(
            f"slipway.monitoring.watch.{function}",
            "it reads the prediction log and writes the alert state where it runs: run the "
            "alert agent on the server side",
        )


def _span(seconds: float) -> str:
    return f"{max(1, round(seconds))}s"


def observe(workspace: Workspace, rule: AlertRule, now: datetime) -> Observation:
    """The rule's current value; ``Observation(None, why)`` when there is no data.

    Local files only (the agent runs beside the prediction log): refused in remote mode."""
    _local_only(workspace, "observe")
    home = workspace.settings.home
    since = now - timedelta(seconds=rule.window)
    try:
        if rule.kind in ("drift_share", "feature_drift"):
            found = drift_over_time(
                workspace, rule.deployment, window=_span(rule.window), since=since, until=now
            )
            if not found:
                return Observation(None, "no predictions in the window")
            latest = found[-1]
            if rule.kind == "drift_share":
                drifted = [c.column for c in latest.features.columns if c.drifted]
                detail = f"{len(drifted)} drifted: {', '.join(drifted) or 'none'}"
                return Observation(latest.features.share_drifted, detail, latest.rows)
            column = next((c for c in latest.features.columns if c.column == rule.feature), None)
            if column is None:
                return Observation(None, f"feature {rule.feature!r} is not monitored")
            detail = f"{column.method} score {column.score:.4g}"
            return Observation(column.score, detail, latest.rows)
        if rule.kind == "performance":
            report = compute_performance(
                home / "logs", home / "labels", rule.deployment, window=_span(rule.window),
                since=since, until=now,
            )  # fmt: skip
            if not report.windows:
                return Observation(None, "no predictions in the window")
            last = report.windows[-1]
            value = last.metrics.get(rule.metric or "accuracy")
            detail = f"{last.labelled} labelled of {last.predictions} ({last.coverage:.0%})"
            return Observation(value, detail, last.labelled)
        return _slo(home / "logs", rule, since, now)
    except InvalidInput as exc:
        return Observation(None, str(exc))


def _slo(log_root: Path, rule: AlertRule, since: datetime, now: datetime) -> Observation:
    """Error rate (5xx and 422 among answered requests), latency quantiles and throughput
    from the prediction log's own records."""
    pattern = read_sql_glob(log_root, rule.deployment)
    relative = Path(pattern).relative_to(log_root)
    if next(log_root.glob(str(relative)), None) is None:
        return Observation(None, "no predictions logged")
    query = """
        with requests as (
            select request_id, any_value(status) as status, any_value(latency_ms) as latency
            from read_parquet(?, hive_partitioning = true, union_by_name = true)
            where route <> 'shadow' and time >= ? and time < ? and date >= ?
            group by request_id
        )
        select count(*),
               count(*) filter (where status >= 500 or status = 422),
               count(*) filter (where status < 400 or status >= 500 or status = 422),
               quantile_cont(latency, 0.5), quantile_cont(latency, 0.99)
        from requests
    """
    with duckdb.connect() as connection:
        row = connection.execute(query, [pattern, since, now, since.date()]).fetchone()
    total, errors, counted, p50, p99 = row if row is not None else (0, 0, 0, None, None)
    if not total:
        return Observation(None, "no requests in the window")
    seconds = (now - since).total_seconds()
    values = {
        "error_rate": errors / counted if counted else None,
        "p50_latency_ms": p50,
        "p99_latency_ms": p99,
        "throughput_rps": total / seconds,
    }
    value = values[rule.slo or "error_rate"]
    return Observation(
        None if value is None else float(value), f"{total} requests, {errors} errors", total
    )


def check_alerts(
    workspace: Workspace,
    rules: AlertRulesFile | Path,
    *,
    now: datetime | None = None,
    policy: RetryPolicy | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[DeliveryResult]:
    """Evaluate every rule once and deliver the transitions (firing, resolved).

    State lives in ``<SLIPWAY_HOME>/alerts/state.json`` and undeliverable notifications in
    ``<SLIPWAY_HOME>/alerts/dead-letters.jsonl``. Local files only: refused in remote mode
    (run the alert agent on the server side).
    """
    _local_only(workspace, "check_alerts")
    rules_file = load_rules(rules) if isinstance(rules, Path) else rules
    now = now or datetime.now(UTC)
    folder = workspace.settings.home / "alerts"
    folder.mkdir(parents=True, exist_ok=True)
    state_path = folder / "state.json"
    observations = {rule.name: observe(workspace, rule, now) for rule in rules_file.rules}
    state, transitions = evaluate(rules_file.rules, observations, now, load_state(state_path))
    results = notify(transitions, rules_file, folder, policy=policy, environ=environ)
    # Saved after delivery: a crash in between re-sends (at least once), never drops.
    save_state(state_path, state)
    for result in results:
        logger.info(
            "alert %s to %s: %s", result.status, result.receiver,
            "delivered" if result.delivered else "dead-lettered",
        )  # fmt: skip
    return results
