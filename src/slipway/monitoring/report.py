"""A self-contained HTML monitoring report of one deployment.

One file that opens anywhere with no network: plotly.js is inlined once in ``<head>``, every
chart is a plotly figure in a ``<div class="slipway-chart" data-chart="…">``, and the numbers
behind each chart are also in a plain HTML table, so the report still reads without
JavaScript. Sections: summary cards, the latest window's per-feature distributions against the
version's stored reference profile, drift over time, performance over time (realised where
labels joined, CBPE estimates beside them) and the alert state. A section without data says
so; an error in one section (no profile, a bad state file) is shown there and the rest of the
report is still built.
"""

from __future__ import annotations

import html
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from slipway.core.errors import SlipwayError
from slipway.monitoring.alerts import AlertState, AlertStatus, load_state
from slipway.monitoring.drift import (
    ColumnDrift,
    DriftOptions,
    bin_counts,
    category_counts,
    numeric_values,
)
from slipway.monitoring.monitor import WindowDrift, drift_over_time
from slipway.monitoring.performance import PerformanceReport, compute_performance
from slipway.monitoring.profile import OTHER, FeatureProfile, ReferenceProfile, load_profile
from slipway.monitoring.windows import Window, windows
from slipway.workspace import Workspace

MAX_CATEGORIES_SHOWN = 20
"""Categories beyond the most frequent ones are summed into one bar."""
_REFERENCE, _CURRENT = "#636efa", "#ef553b"
_CONFIG = {"displaylogo": False, "responsive": True}
_STATUS_ORDER = {AlertStatus.FIRING: 0, AlertStatus.PENDING: 1, AlertStatus.INACTIVE: 2}


@dataclass(frozen=True, slots=True)
class _Facts:
    """Everything the report shows, gathered before any HTML is written."""

    deployment: str
    window: str
    since: datetime | None
    until: datetime | None
    spans: list[tuple[str, int, datetime, datetime, int]]
    """(model name, version, start, end, rows) of every window."""
    latest: Window | None
    drift: list[WindowDrift]
    drift_error: str | None
    profile: ReferenceProfile | None
    profile_error: str | None
    performance: PerformanceReport | None
    performance_error: str | None
    alerts: AlertState | None
    alerts_error: str | None


@dataclass(frozen=True, slots=True)
class ReportSections:
    """The report's sections as HTML fragments, for pages that embed them (the dashboard);
    plotly.js is not included: the embedding page serves it."""

    spans: list[tuple[str, int, datetime, datetime, int]]
    """(model name, version, start, end, rows) of every window."""
    has_data: bool
    """Whether any prediction was logged in the span asked for."""
    summary: str
    distributions: str
    drift: str
    performance: str
    alerts: str


def report_sections(
    workspace: Workspace,
    deployment: str,
    *,
    window: str = "1h",
    since: datetime | None = None,
    until: datetime | None = None,
    alerts_state: Path | None = None,
) -> ReportSections:
    """Gather once, render each section (see :func:`build_report` for the arguments).

    Local files only: in remote mode use :func:`build_report` (the server builds it)."""
    if workspace.is_remote:
        from slipway.core.http import NotAvailableRemotely

        raise NotAvailableRemotely("report_sections", "use build_report (the server builds it)")
    facts = _gather(workspace, deployment, window, since, until, alerts_state)
    return ReportSections(
        spans=facts.spans,
        has_data=facts.latest is not None,
        summary=_summary(facts),
        distributions=_distributions(facts),
        drift=_drift_section(facts),
        performance=_performance_section(facts),
        alerts=_alerts_section(facts),
    )


def build_report(
    workspace: Workspace,
    deployment: str,
    *,
    window: str = "1h",
    since: datetime | None = None,
    until: datetime | None = None,
    alerts_state: Path | None = None,
    title: str | None = None,
) -> str:
    """The monitoring report of ``deployment`` as one self-contained HTML document.

    ``window`` cuts the prediction log into tumbling windows (``15m``, ``1h``, ``1d``);
    ``since``/``until`` (timezone-aware) bound it. ``alerts_state`` is the JSON file the alert
    agent saves; without it the alerts section says none was given. Never needs the network,
    except in remote mode (``workspace.is_remote``): there the server builds it from its own
    prediction log, labels and alert state (``GET /monitoring/{deployment}/report``), so
    ``alerts_state`` cannot be given.
    """
    if workspace.is_remote:
        return _remote_report(workspace, deployment, window, since, until, alerts_state, title)
    facts = _gather(workspace, deployment, window, since, until, alerts_state)
    heading = title or f"Monitoring report: {deployment}"
    body = "\n".join(
        [
            _header(facts, heading),
            _summary(facts),
            _distributions(facts),
            _drift_section(facts),
            _performance_section(facts),
            _alerts_section(facts),
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(heading)}</title>\n<style>{_CSS}</style>\n"
        f"<script>{get_plotlyjs()}</script>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def write_report(
    workspace: Workspace,
    deployment: str,
    *,
    output: Path,
    window: str = "1h",
    since: datetime | None = None,
    until: datetime | None = None,
    alerts_state: Path | None = None,
    title: str | None = None,
) -> Path:
    """Write :func:`build_report` to ``output`` atomically (a reader never sees half a file)."""
    document = build_report(
        workspace,
        deployment,
        window=window,
        since=since,
        until=until,
        alerts_state=alerts_state,
        title=title,
    )
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(document)
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return output


def _remote_report(
    workspace: Workspace,
    deployment: str,
    window: str,
    since: datetime | None,
    until: datetime | None,
    alerts_state: Path | None,
    title: str | None,
) -> str:
    from slipway.core.http import NotAvailableRemotely
    from slipway.store.remote_ops import api_session
    from slipway.store.remote_ops import report as remote_report

    if alerts_state is not None:
        raise NotAvailableRemotely(
            "build_report(alerts_state=…)", "the server reports its own alert state"
        )
    session = api_session(workspace.store)
    assert session is not None
    return remote_report(session, deployment, window=window, since=since, until=until, title=title)


# -- gathering --------------------------------------------------------------------------------


def _gather(
    workspace: Workspace,
    deployment: str,
    window: str,
    since: datetime | None,
    until: datetime | None,
    alerts_state: Path | None,
) -> _Facts:
    home = workspace.settings.home
    spans: list[tuple[str, int, datetime, datetime, int]] = []
    latest: Window | None = None
    for part in windows(home / "logs", deployment, window=window, since=since, until=until):
        spans.append((part.model_name, part.version, part.start, part.end, part.rows))
        if latest is None or (part.start, part.version) >= (latest.start, latest.version):
            latest = part
    drift: list[WindowDrift] = []
    drift_error = profile_error = performance_error = alerts_error = None
    profile = performance = alerts = None
    if latest is not None:
        try:
            drift = drift_over_time(workspace, deployment, window=window, since=since, until=until)
        except SlipwayError as exc:
            drift_error = str(exc)
        try:
            profile = load_profile(workspace, latest.model_name, latest.version)
        except SlipwayError as exc:
            profile_error = str(exc)
        try:
            performance = compute_performance(
                home / "logs", home / "labels", deployment, window=window, since=since, until=until
            )
        except SlipwayError as exc:
            performance_error = str(exc)
    if alerts_state is not None:
        try:
            alerts = load_state(alerts_state)
        except SlipwayError as exc:
            alerts_error = str(exc)
    return _Facts(
        deployment,
        window,
        since,
        until,
        spans,
        latest,
        drift,
        drift_error,
        profile,
        profile_error,
        performance,
        performance_error,
        alerts,
        alerts_error,
    )


def _latest_drift(facts: _Facts) -> WindowDrift | None:
    if facts.latest is None:
        return None
    key = (facts.latest.start, facts.latest.version)
    return next((d for d in facts.drift if (d.start, d.version) == key), None)


# -- header and summary -----------------------------------------------------------------------


def _header(facts: _Facts, heading: str) -> str:
    versions = sorted({(name, version) for name, version, *_ in facts.spans})
    shown = ", ".join(f"models:/{name}/{version}" for name, version in versions) or "none"
    if facts.spans:
        span = f"{_when(min(s[2] for s in facts.spans))} to {_when(max(s[3] for s in facts.spans))}"
    else:
        span = "no predictions"
    bounds = [f"since {_when(facts.since)}"] if facts.since else []
    bounds += [f"until {_when(facts.until)}"] if facts.until else []
    rows = [
        ("Deployment", facts.deployment),
        ("Versions", shown),
        ("Time range", span + (f" ({', '.join(bounds)})" if bounds else "")),
        ("Window", facts.window),
        ("Generated at", _when(datetime.now(UTC), seconds=True)),
    ]
    table = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    notice = ""
    if facts.latest is None:
        notice = _empty(
            f"No data yet: no predictions have been logged for {facts.deployment!r} in this "
            "range. Serve the deployment with its prediction log on and build the report again."
        )
    return f'<header><h1>{_e(heading)}</h1><table class="meta">{table}</table>{notice}</header>'


def _summary(facts: _Facts) -> str:
    latest = _latest_drift(facts)
    cards: list[tuple[str, str, str, str]] = []  # label, value, detail, tone
    if latest is None:
        cards += [("Dataset drift", "n/a", facts.drift_error or "no drift computed", "none")]
    else:
        drifted = [c.column for c in latest.features.columns if c.drifted]
        cards += [
            (
                "Dataset drift",
                f"{latest.features.share_drifted:.0%}",
                f"of features drifted, {_when(latest.start)} v{latest.version}",
                "bad" if latest.features.drifted else "ok",
            ),
            (
                "Drifted features",
                f"{len(drifted)} of {len(latest.features.columns)}",
                ", ".join(drifted[:5]) + ("…" if len(drifted) > 5 else "") or "none",
                "warn" if drifted else "ok",
            ),
        ]
        pred = latest.prediction
        cards.append(
            ("Prediction drift", "n/a", "no prediction in the profile", "none")
            if pred is None
            else (
                "Prediction drift",
                "drifted" if pred.drifted else "stable",
                f"{pred.method} {pred.score:.3g} (threshold {pred.threshold:g})",
                "bad" if pred.drifted else "ok",
            )
        )
    cards += _performance_cards(facts.performance)
    if facts.alerts is None:
        detail = facts.alerts_error or "no alert state file given"
        cards.append(("Firing alerts", "n/a", detail, "none"))
    else:
        firing = facts.alerts.firing()
        cards.append(
            (
                "Firing alerts",
                str(len(firing)),
                ", ".join(firing) or "none",
                "bad" if firing else "ok",
            )
        )
    html_cards = "".join(
        f'<div class="card {tone}"><div class="label">{_e(label)}</div>'
        f'<div class="value">{_e(value)}</div><div class="detail">{_e(detail)}</div></div>'
        for label, value, detail, tone in cards
    )
    return f'<section id="summary"><h2>Summary</h2><div class="cards">{html_cards}</div></section>'


def _performance_cards(report: PerformanceReport | None) -> list[tuple[str, str, str, str]]:
    if report is None or not report.windows:
        return [("Label coverage", "n/a", "no performance data", "none")]
    labelled = sum(w.labelled for w in report.windows)
    total = sum(w.predictions for w in report.windows)
    cards = [
        (
            "Label coverage",
            f"{labelled / total:.0%}",
            f"{labelled} of {total} predictions labelled" + ("" if labelled else ": no labels yet"),
            "ok" if labelled else "none",
        )
    ]
    metric = "accuracy" if report.task == "classification" else "mae"
    realised = next((w.metrics.get(metric) for w in reversed(report.windows) if w.labelled), None)
    estimated = next(
        (w.estimated.get(metric) for w in reversed(report.windows) if w.estimated), None
    )
    if realised is not None or estimated is not None:
        value = f"{_num(realised)} / {_num(estimated)}"
        cards.append((metric.capitalize(), value, "realised / estimated (CBPE), latest", "ok"))
    return cards


# -- distributions ----------------------------------------------------------------------------


def _distributions(facts: _Facts) -> str:
    head = '<section id="distributions"><h2>Feature distributions</h2>'
    latest = facts.latest
    if latest is None:
        return head + _empty("No data yet: no window to compare with the reference.") + "</section>"
    where = f"models:/{latest.model_name}/{latest.version}"
    if facts.profile is None:
        reason = facts.profile_error or facts.drift_error or f"{where} has no reference profile."
        how = (
            "Attach a reference profile to the version to compare distributions: "
            "<code>attach_profile(workspace, name, version, compute_profile(train_df, "
            "prediction=model.predict(train_df)))</code> from "
            "<code>slipway.monitoring.profile</code> (the pipeline gate attaches one on "
            "registration)."
        )
        return head + _empty(reason) + f"<p>{how}</p></section>"
    intro = (
        f"<p>The latest window ({_e(_when(latest.start))} to {_e(_when(latest.end))}, "
        f"{latest.rows} rows, {_e(where)}) against the reference profile stored with the "
        "version. Numerical features use the reference's quantile bins.</p>"
    )
    drift = _latest_drift(facts)
    results = {c.column: c for c in drift.features.columns} if drift else {}
    blocks = []
    for index, (name, feature) in enumerate(facts.profile.features.items()):
        result = results.get(name)
        mark = ""
        if result is not None:
            verdict = "drifted" if result.drifted else "no drift"
            mark = f" ({verdict}: {result.method} {result.score:.3g}, "
            mark += f"threshold {result.threshold:g})"
        css = "feature drifted" if result is not None and result.drifted else "feature"
        title = f"<h3>{_e(name)}{_e(mark)}</h3>"
        if name not in latest.features.columns:
            blocks.append(f'<div class="{css}">{title}{_empty("not in the log")}</div>')
            continue
        try:
            labels, ref, cur = _compare(feature, latest.features[name])
        except SlipwayError as exc:
            blocks.append(f'<div class="{css}">{title}{_empty(str(exc))}</div>')
            continue
        chart = _bars(labels, ref, cur, name)
        missing = (
            f"<p>Missing: reference {feature.missing_rate:.1%}, current "
            f"{float(latest.features[name].isna().mean()):.1%}.</p>"
        )
        table = _table(
            ["bin" if feature.kind == "numerical" else "category", "reference", "current"],
            [[label, f"{r:.1%}", f"{c:.1%}"] for label, r, c in zip(labels, ref, cur, strict=True)],
        )
        blocks.append(
            f'<div class="{css}">{title}'
            + _chart(f"distribution-{index}", "distribution", chart, {"feature": name})
            + f"{missing}<details><summary>table</summary>{table}</details></div>"
        )
    return head + intro + "".join(blocks) + "</section>"


def _compare(feature: FeatureProfile, series: Any) -> tuple[list[str], list[float], list[float]]:
    """Bin labels and the reference's and current's share of rows in each."""
    if feature.kind == "numerical":
        num = feature.numerical
        assert num is not None
        values, _ = numeric_values(series, str(series.name), "the latest window")
        if num.values is not None and num.value_counts is not None:
            ref_table = {f"{v:g}": c for v, c in zip(num.values, num.value_counts, strict=True)}
            distinct, seen = np.unique(values, return_counts=True)
            cur_table = {f"{v:g}": int(c) for v, c in zip(distinct, seen, strict=True)}
            return _shares(ref_table, cur_table)
        edges = np.asarray(num.bin_edges, dtype=np.float64)
        current = bin_counts(values, edges).tolist()
        k = len(num.bin_counts)
        labels = [_bin_label(edges, i, k) for i in range(k)]
        return labels, _normalise(num.bin_counts), _normalise(current)
    table = feature.categories
    assert table is not None
    counts, _ = category_counts(series, str(series.name), "the latest window")
    if table.truncated:
        folded: dict[str, int] = {}
        for key, count in counts.items():
            name = key if key in table.counts else OTHER
            folded[name] = folded.get(name, 0) + count
        counts = folded
    return _shares(table.counts, counts)


def _shares(ref: dict[str, int], cur: dict[str, int]) -> tuple[list[str], list[float], list[float]]:
    ref_total, cur_total = sum(ref.values()) or 1, sum(cur.values()) or 1
    keys = sorted(ref.keys() | cur.keys(), key=lambda k: -(ref.get(k, 0) / ref_total))
    shown, rest = keys[:MAX_CATEGORIES_SHOWN], keys[MAX_CATEGORIES_SHOWN:]
    labels = [k if k in ref else f"{k} (new)" for k in shown]
    r = [ref.get(k, 0) / ref_total for k in shown]
    c = [cur.get(k, 0) / cur_total for k in shown]
    if rest:
        labels.append(f"{len(rest)} more")
        r.append(sum(ref.get(k, 0) for k in rest) / ref_total)
        c.append(sum(cur.get(k, 0) for k in rest) / cur_total)
    return labels, r, c


def _bin_label(edges: np.ndarray[Any, Any], i: int, k: int) -> str:
    if k == 1:
        return "all values"
    if i == 0:
        return f"< {edges[1]:.4g}"
    if i == k - 1:
        return f"≥ {edges[i]:.4g}"
    return f"{edges[i]:.4g} to {edges[i + 1]:.4g}"


def _normalise(counts: Sequence[int]) -> list[float]:
    total = sum(counts) or 1
    return [c / total for c in counts]


def _bars(labels: list[str], ref: list[float], cur: list[float], name: str) -> Any:
    fig = go.Figure(
        [
            go.Bar(x=labels, y=ref, name="reference", marker_color=_REFERENCE),
            go.Bar(x=labels, y=cur, name="latest window", marker_color=_CURRENT),
        ]
    )
    return _layout(fig, "share of rows", barmode="group", height=300, xaxis_title=name)


# -- drift over time --------------------------------------------------------------------------


def _drift_section(facts: _Facts) -> str:
    head = '<section id="drift"><h2>Drift over time</h2>'
    if facts.latest is None:
        return head + _empty("No data yet: nothing logged.") + "</section>"
    if not facts.drift:
        return head + _empty(facts.drift_error or "No drift computed.") + "</section>"
    share = DriftOptions().drift_share
    fig = go.Figure()
    for version in sorted({d.version for d in facts.drift}):
        points = [d for d in facts.drift if d.version == version]
        fig.add_trace(
            go.Scatter(
                x=[d.start.isoformat() for d in points],
                y=[d.features.share_drifted for d in points],
                mode="lines+markers",
                name=f"v{version}",
            )
        )
    fig.add_hline(y=share, line_dash="dash", annotation_text=f"dataset drift at {share:.0%}")
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%")
    share_chart = _chart(
        "drift-over-time", "drift-over-time", _layout(fig, "share of features drifted")
    )
    features = list(dict.fromkeys(c.column for d in facts.drift for c in d.features.columns))
    columns = [f"{_when(d.start)} v{d.version}" for d in facts.drift]
    by_window = [{c.column: c for c in d.features.columns} for d in facts.drift]
    z = [[_flag(w.get(f)) for w in by_window] for f in features]
    text = [[_score(w.get(f)) for w in by_window] for f in features]
    heat = go.Figure(
        go.Heatmap(
            z=z,
            x=columns,
            y=features,
            text=text,
            texttemplate="%{text}",
            zmin=0,
            zmax=1,
            showscale=False,
            colorscale=[[0, "#d9f0d3"], [1, "#d73027"]],
            hovertemplate="%{y} at %{x}: %{text}<extra></extra>",
        )
    )
    heat_chart = _chart(
        "drift-heatmap",
        "drift-heatmap",
        _layout(heat, "", height=max(220, 60 + 30 * len(features))),
    )
    rows = [
        [
            f"{_when(d.start)} v{d.version}",
            str(d.rows),
            f"{d.features.share_drifted:.0%}",
            ", ".join(c.column for c in d.features.columns if c.drifted) or "none",
            "n/a" if d.prediction is None else ("drifted" if d.prediction.drifted else "stable"),
        ]
        for d in facts.drift
    ]
    table = _table(["window", "rows", "drifted share", "drifted features", "prediction"], rows)
    note = (
        "<p>Each cell is a feature's test score in a window (a p-value for ks, chisquare and "
        "z: drift below the threshold; a distance otherwise: drift at or above it); red cells "
        "drifted.</p>"
    )
    return head + share_chart + note + heat_chart + table + "</section>"


def _flag(result: ColumnDrift | None) -> float | None:
    return None if result is None else float(result.drifted)


def _score(result: ColumnDrift | None) -> str:
    return "" if result is None else f"{result.method} {result.score:.3g}"


# -- performance ------------------------------------------------------------------------------


def _performance_section(facts: _Facts) -> str:
    head = '<section id="performance"><h2>Performance over time</h2>'
    report = facts.performance
    if facts.performance_error is not None:
        return head + _empty(facts.performance_error) + "</section>"
    if report is None or not report.windows:
        return head + _empty("No data yet: no predictions to evaluate.") + "</section>"
    labelled = any(w.labelled for w in report.windows)
    estimated = any(any(v is not None for v in w.estimated.values()) for w in report.windows)
    notes = [f"Task: {report.task}; estimates: {report.calibration}."]
    if not labelled:
        notes.append("No labels yet: realised metrics appear once labels are ingested.")
    parts = [head, "".join(f"<p>{_e(n)}</p>" for n in notes)]
    if labelled or estimated:
        parts.append(_chart("performance-over-time", "performance-over-time", _perf_figure(report)))
    names = list(dict.fromkeys(n for w in report.windows for n in w.metrics))
    rows = [
        [
            f"{_when(w.window_start)} v{w.version}",
            str(w.predictions),
            str(w.labelled),
            f"{w.coverage:.0%}",
            *(f"{_num(w.metrics.get(n))} / {_num(w.estimated.get(n))}" for n in names),
        ]
        for w in report.windows
    ]
    parts.append(
        _table(["window", "predictions", "labelled", "coverage", *names], rows)
        + "<p>Metric cells: realised / estimated (CBPE); n/a where it cannot be computed.</p>"
        + "</section>"
    )
    return "".join(parts)


def _perf_figure(report: PerformanceReport) -> Any:
    fig = go.Figure()
    names = list(dict.fromkeys(n for w in report.windows for n in w.metrics))
    versions = sorted({w.version for w in report.windows})
    for version in versions:
        rows = [w for w in report.windows if w.version == version]
        x = [w.window_start.isoformat() for w in rows]
        suffix = f" v{version}" if len(versions) > 1 else ""
        for rank, name in enumerate(names):
            visible = True if rank == 0 else "legendonly"
            for kind, values, dash in (
                ("realised", [w.metrics.get(name) for w in rows], "solid"),
                ("estimated", [w.estimated.get(name) for w in rows], "dash"),
            ):
                if any(v is not None for v in values):
                    fig.add_trace(
                        go.Scatter(
                            x=x,
                            y=values,
                            name=f"{name} ({kind}){suffix}",
                            mode="lines+markers",
                            line={"dash": dash},
                            visible=visible,
                        )
                    )
        fig.add_trace(
            go.Bar(
                x=x,
                y=[w.coverage for w in rows],
                name=f"label coverage{suffix}",
                yaxis="y2",
                opacity=0.3,
            )
        )
    coverage = {"overlaying": "y", "side": "right", "range": [0, 1.05], "tickformat": ".0%"}
    fig.update_layout(yaxis2={**coverage, "title": "label coverage", "showgrid": False})
    if report.task == "classification":  # every metric is a ratio: share the coverage scale
        fig.update_layout(yaxis={"range": [0, 1.05]})
    return _layout(fig, "metric")


# -- alerts -----------------------------------------------------------------------------------


def _alerts_section(facts: _Facts) -> str:
    head = '<section id="alerts"><h2>Alerts</h2>'
    if facts.alerts_error is not None:
        return head + _empty(facts.alerts_error) + "</section>"
    if facts.alerts is None:
        return head + _empty("No alert state file given.") + "</section>"
    if not facts.alerts.rules:
        return head + _empty("No alert rule has been evaluated yet.") + "</section>"
    rules = facts.alerts.rules
    ordered = sorted(rules.items(), key=lambda kv: (_STATUS_ORDER[kv[1].status], kv[0]))
    rows = [
        [
            name,
            "ok" if state.status is AlertStatus.INACTIVE else state.status.value,
            _when(state.since) if state.since else "",
            _when(state.last_notified) if state.last_notified else "",
            str(state.notifications),
            _num(state.value),
        ]
        for name, state in ordered
    ]
    table = _table(
        ["rule", "status", "since", "last notified", "notifications", "last value"],
        rows,
        row_class=[str(facts.alerts.rules[name].status.value) for name, _ in ordered],
    )
    return head + table + "<p>ok: not breached at the last evaluation (or resolved).</p></section>"


# -- HTML helpers -----------------------------------------------------------------------------


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _empty(message: str) -> str:
    return f'<p class="empty">{_e(message)}</p>'


def _when(moment: datetime | None, *, seconds: bool = False) -> str:
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else "") + " UTC")


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _table(
    header: Sequence[str], rows: Iterable[Sequence[str]], row_class: Sequence[str] | None = None
) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        css = f' class="{_e(row_class[i])}"' if row_class else ""
        body.append(f"<tr{css}>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>")
    rows_html = "".join(body)
    return f'<table class="data"><thead><tr>{head}</tr></thead><tbody>{rows_html}</tbody></table>'


def _layout(fig: Any, y_title: str, *, height: int = 320, **extra: Any) -> Any:
    fig.update_layout(
        template="plotly_white",
        height=height,
        margin={"l": 60, "r": 60, "t": 30, "b": 60},
        yaxis_title=y_title,
        legend={"orientation": "h", "y": -0.25},
        **extra,
    )
    return fig


def _chart(div_id: str, kind: str, fig: Any, data: dict[str, str] | None = None) -> str:
    """A figure in a container tests and styles can find; plotly.js is already in <head>."""
    attributes = "".join(f' data-{k}="{_e(v)}"' for k, v in (data or {}).items())
    inner = fig.to_html(
        full_html=False, include_plotlyjs=False, div_id=f"chart-{div_id}", config=_CONFIG
    )
    return f'<div class="slipway-chart" data-chart="{_e(kind)}"{attributes}>{inner}</div>'


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1100px;
color:#222;padding:0 1rem}
h1{margin-bottom:.5rem}h2{border-bottom:1px solid #ddd;padding-bottom:.3rem;margin-top:2.5rem}
table{border-collapse:collapse;margin:.5rem 0}th,td{padding:.25rem .6rem;text-align:left;
border-bottom:1px solid #eee;font-size:.9rem}table.meta th{color:#666;font-weight:normal}
.cards{display:flex;flex-wrap:wrap;gap:.8rem}.card{border:1px solid #ddd;border-radius:6px;
padding:.7rem 1rem;min-width:170px;flex:1}.card .label{color:#666;font-size:.85rem}
.card .value{font-size:1.6rem;font-weight:600}.card .detail{color:#555;font-size:.8rem}
.card.bad{border-left:5px solid #d73027}.card.warn{border-left:5px solid #fc8d59}
.card.ok{border-left:5px solid #1a9850}.card.none{border-left:5px solid #bbb}
.feature{margin:1.2rem 0}.feature.drifted h3{color:#b2182b}.empty{color:#666;font-style:italic}
tr.firing td{background:#fde0dc}tr.pending td{background:#fff3cd}
"""
