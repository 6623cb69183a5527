"""Plotly figures of the dashboard, rendered as ``<div class="slipway-chart">`` fragments.

The monitoring page reuses the monitoring report's own sections (and so its figures); the
figures here are the ones only the dashboard has: run comparisons and metric histories.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
from markupsafe import Markup

from slipway.core.entities import Metric
from slipway.ui.templating import with_nonce

_CONFIG = {"displaylogo": False, "responsive": True}


def chart(div_id: str, kind: str, fig: Any, script_nonce: str) -> Markup:
    """A figure in a container the browser test and the stylesheet find by ``data-chart``."""
    fig.update_layout(
        template="plotly_white",
        margin={"l": 60, "r": 30, "t": 30, "b": 60},
        legend={"orientation": "h", "y": -0.25},
    )
    inner = fig.to_html(
        full_html=False, include_plotlyjs=False, div_id=f"chart-{div_id}", config=_CONFIG
    )
    kind_attr = html.escape(kind, quote=True)
    return Markup(  # noqa: S704 - plotly's output: JSON-encoded data, escaped labels
        f'<div class="slipway-chart" data-chart="{kind_attr}">'
        f"{with_nonce(inner, script_nonce)}</div>"
    )


def compare_bars(
    runs: Sequence[tuple[str, Mapping[str, float]]], keys: Sequence[str], script_nonce: str
) -> Markup:
    """One bar group per metric, one bar per run (``runs``: label and latest metrics)."""
    fig = go.Figure()
    for label, metrics in runs:
        fig.add_trace(go.Bar(x=list(keys), y=[metrics.get(k) for k in keys], name=label))
    fig.update_layout(barmode="group", height=360, yaxis_title="latest value")
    return chart("compare-latest", "compare-latest", fig, script_nonce)


def metric_history(
    key: str, series: Sequence[tuple[str, Sequence[Metric]]], script_nonce: str, index: int
) -> Markup:
    """One metric's values by step, one line per run."""
    fig = go.Figure()
    for label, points in series:
        fig.add_trace(
            go.Scatter(
                x=[p.step for p in points],
                y=[p.value for p in points],
                mode="lines+markers",
                name=label,
            )
        )
    fig.update_layout(height=300, xaxis_title="step", yaxis_title=key)
    return chart(f"history-{index}", "metric-history", fig, script_nonce)
