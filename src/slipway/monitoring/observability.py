"""Operational monitoring of inference servers from their Prometheus metrics.

Three things, all derived from the metrics :mod:`slipway.serving.metrics` exposes:

* :func:`prometheus_rules`: a Prometheus alerting rules file with the SLOs of each deployment
  (error rate, p99 latency, model not ready, prediction log drops);
* :func:`grafana_dashboard`: a Grafana dashboard over the same metrics;
* :func:`slo_status`: the same SLOs computed here, from two scrapes of a server's ``/metrics``
  (for an agent or a CLI without a Prometheus server).

Errors are counted as the canary analysis counts them: 5xx and 422 (the model failed or could
not take production's input) over the requests the model saw (2xx, 5xx, 422); other 4xx are the
client's fault and in neither. Output is deterministic: same arguments, same bytes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

REQUESTS = "slipway_requests_total"
LATENCY_BUCKET = "slipway_request_latency_seconds_bucket"
ERROR_STATUS = "5..|422"
SEEN_STATUS = "2..|5..|422"


@dataclass(frozen=True, slots=True)
class SloThresholds:
    """Objectives of one deployment and how long a breach must last to alert."""

    max_error_rate: float = 0.01
    max_p99_latency_ms: float = 250.0
    rate_window: str = "5m"
    """PromQL range of the ``rate()`` the error rate and latency are computed over."""
    error_for: str = "5m"
    latency_for: str = "5m"
    not_ready_for: str = "2m"
    log_drop_window: str = "10m"
    severity: str = "critical"


@dataclass(frozen=True, slots=True)
class SloTarget:
    """One deployment to watch."""

    deployment: str
    model: str | None = None
    """The ``model`` label its servers report (the registered model); unset: the deployment."""
    selector: str = ""
    """Extra PromQL label matchers for its series, e.g. ``namespace="prod"``; needed to tell
    deployments apart in ``slipway_prediction_log_dropped_total``, which has no model label."""
    thresholds: SloThresholds = field(default_factory=SloThresholds)

    @property
    def model_label(self) -> str:
        return self.model or self.deployment


def prometheus_rules(targets: Sequence[SloTarget | str]) -> str:
    """A Prometheus rules file (YAML): one group ``slipway-<deployment>`` per target.

    Rules: ``SlipwayHighErrorRate``, ``SlipwayHighLatencyP99`` (per version),
    ``SlipwayModelNotReady`` and ``SlipwayPredictionLogDropped``; the last one is scoped by
    the target's ``selector``, and, for targets without one, emitted once in a shared group
    ``slipway-serving`` (the counter cannot tell deployments apart by itself)."""
    resolved = [SloTarget(t) if isinstance(t, str) else t for t in targets]
    names = [t.deployment for t in resolved]
    if len(set(names)) != len(names):
        raise ValueError(f"deployments listed more than once: {names}")
    groups = [{"name": f"slipway-{t.deployment}", "rules": _target_rules(t)} for t in resolved]
    unscoped = [t for t in resolved if not t.selector]
    if unscoped:
        window = unscoped[0].thresholds.log_drop_window
        rule = _log_drop_rule("", window, {"severity": "warning"})
        groups.append({"name": "slipway-serving", "rules": [rule]})
    # A wide line keeps each expr on one line; fresh dicts per rule keep YAML anchors out.
    return yaml.safe_dump(
        {"groups": groups}, sort_keys=False, default_flow_style=False, width=1_000
    )


def _target_rules(target: SloTarget) -> list[dict[str, Any]]:
    t = target.thresholds
    model = f'model="{_escape(target.model_label)}"'
    scope = ", ".join(m for m in (model, target.selector) if m)
    labels = {"severity": t.severity, "deployment": target.deployment}
    errors = _requests_rate(scope, ERROR_STATUS, t.rate_window)
    seen = _requests_rate(scope, SEEN_STATUS, t.rate_window)
    latency = (
        f"histogram_quantile(0.99, sum by (le, model, version) "
        f"(rate({LATENCY_BUCKET}{{{scope}}}[{t.rate_window}])))"
    )
    rules: list[dict[str, Any]] = [
        {
            "alert": "SlipwayHighErrorRate",
            "expr": f"({errors}) / ({seen}) > {_number(t.max_error_rate)}",
            "for": t.error_for,
            "labels": dict(labels),
            "annotations": {
                "summary": f"{target.deployment}: error rate above {t.max_error_rate:g}",
                "description": "{{ $labels.model }} version {{ $labels.version }} answers "
                "{{ $value | humanizePercentage }} of requests with 5xx or 422.",
            },
        },
        {
            "alert": "SlipwayHighLatencyP99",
            "expr": f"{latency} > {_number(t.max_p99_latency_ms / 1000)}",
            "for": t.latency_for,
            "labels": dict(labels),
            "annotations": {
                "summary": f"{target.deployment}: p99 latency above {t.max_p99_latency_ms:g} ms",
                "description": "{{ $labels.model }} version {{ $labels.version }} p99 latency "
                "is {{ $value | humanizeDuration }}.",
            },
        },
        {
            "alert": "SlipwayModelNotReady",
            "expr": f"max by (model, version) (slipway_model_ready{{{scope}}}) < 1",
            "for": t.not_ready_for,
            "labels": dict(labels),
            "annotations": {
                "summary": f"{target.deployment}: a model version is not ready",
                "description": "{{ $labels.model }} version {{ $labels.version }} is loaded "
                "but not ready to serve.",
            },
        },
    ]
    if target.selector:
        rules.append(_log_drop_rule(target.selector, t.log_drop_window, labels))
    return rules


def _log_drop_rule(selector: str, window: str, labels: Mapping[str, str]) -> dict[str, Any]:
    matchers = f"{{{selector}}}" if selector else ""
    return {
        "alert": "SlipwayPredictionLogDropped",
        "expr": f"sum by (job, instance) "
        f"(increase(slipway_prediction_log_dropped_total{matchers}[{window}])) > 0",
        "for": "0m",
        "labels": dict(labels),
        "annotations": {
            "summary": "prediction log records dropped",
            "description": "{{ $labels.instance }} dropped {{ $value }} prediction records "
            f"in {window}: the log writer cannot keep up; drift and performance monitoring "
            "miss them.",
        },
    }


def _requests_rate(scope: str, statuses: str, window: str) -> str:
    matchers = f'{scope}, status=~"{statuses}"'
    return f"sum by (model, version) (rate({REQUESTS}{{{matchers}}}[{window}]))"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _number(value: float) -> str:
    return repr(float(value))


# -- Grafana ----------------------------------------------------------------------------------

_DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
_SELECT = 'model=~"$model"'


def grafana_dashboard(
    title: str = "Slipway serving", uid: str = "slipway-serving"
) -> dict[str, Any]:
    """A Grafana dashboard (schemaVersion 39) with a Prometheus datasource variable and a
    ``model`` variable; panels: request rate by version, error rate, p50/p99 latency, batch
    size, queue depth, ready models and prediction log drops."""
    rate = "$__rate_interval"
    by = "sum by (model, version)"
    errors = _requests_rate(_SELECT, ERROR_STATUS, rate)
    seen = _requests_rate(_SELECT, SEEN_STATUS, rate)

    def quantile(q: float, metric: str) -> str:
        return (
            f"histogram_quantile({q}, sum by (le, model, version) "
            f"(rate({metric}{{{_SELECT}}}[{rate}])))"
        )

    legend = "{{model}} v{{version}}"
    panels = [
        _panel(
            "Request rate by version",
            "reqps",
            [(f"{by} (rate({REQUESTS}{{{_SELECT}}}[{rate}]))", legend)],
        ),
        _panel("Error rate (5xx + 422)", "percentunit", [(f"({errors}) / ({seen})", legend)]),
        _panel(
            "Latency p50 / p99",
            "s",
            [
                (quantile(0.5, LATENCY_BUCKET), legend + " p50"),
                (quantile(0.99, LATENCY_BUCKET), legend + " p99"),
            ],
        ),
        _panel(
            "Batch size (rows)",
            "short",
            [
                (quantile(0.5, "slipway_batch_size_rows_bucket"), legend + " p50"),
                (quantile(0.99, "slipway_batch_size_rows_bucket"), legend + " p99"),
            ],
        ),
        _panel("Queue depth", "short", [(f"{by} (slipway_queue_depth{{{_SELECT}}})", legend)]),
        _panel(
            "Ready models",
            "short",
            [(f"sum(slipway_model_ready{{{_SELECT}}})", "ready versions")],
            kind="stat",
        ),
        _panel(
            "Prediction log drops",
            "short",
            [
                (
                    f"sum by (instance) (rate(slipway_prediction_log_dropped_total[{rate}]))",
                    "{{instance}}",
                )
            ],
        ),
    ]
    for index, panel in enumerate(panels):
        panel["id"] = index + 1
        panel["gridPos"] = {"h": 8, "w": 12, "x": (index % 2) * 12, "y": (index // 2) * 8}
    return {
        "title": title,
        "uid": uid,
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "tags": ["slipway"],
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "timezone": "browser",
        "annotations": {"list": []},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                },
                {
                    "name": "model",
                    "label": "Model",
                    "type": "query",
                    "datasource": _DATASOURCE,
                    "query": {"query": f"label_values({REQUESTS}, model)", "refId": "model"},
                    "definition": f"label_values({REQUESTS}, model)",
                    "refresh": 2,
                    "multi": True,
                    "includeAll": True,
                    "allValue": ".*",
                    "current": {},
                    "hide": 0,
                    "sort": 1,
                },
            ]
        },
        "panels": panels,
    }


def render_grafana_dashboard(title: str = "Slipway serving", uid: str = "slipway-serving") -> str:
    """:func:`grafana_dashboard` as canonical JSON (sorted keys), ready to import."""
    return json.dumps(grafana_dashboard(title, uid), indent=2, sort_keys=True) + "\n"


def _panel(
    title: str, unit: str, queries: Sequence[tuple[str, str]], *, kind: str = "timeseries"
) -> dict[str, Any]:
    targets = [
        {"datasource": _DATASOURCE, "expr": expr, "legendFormat": legend, "refId": chr(65 + i)}
        for i, (expr, legend) in enumerate(queries)
    ]
    return {
        "type": kind,
        "title": title,
        "datasource": _DATASOURCE,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
        "targets": targets,
    }


# -- SLOs from /metrics -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VersionTotals:
    """One version's cumulative counters in one scrape."""

    requests: int = 0
    """2xx, 5xx and 422 answers: what the model saw."""
    errors: int = 0
    client_errors: int = 0
    latency_buckets: tuple[tuple[float, int], ...] = ()
    """Cumulative (upper bound in seconds, count), ascending, ending with +inf."""


Totals = Mapping[tuple[str, str], VersionTotals]
"""Per (model, version label), the counters of one scrape."""


@dataclass(frozen=True, slots=True)
class SloResult:
    """One version's SLOs over a window."""

    model: str
    version: str
    requests: int
    errors: int
    error_rate: float | None
    """None without requests."""
    p50_latency_ms: float | None
    """None without latency observations."""
    p99_latency_ms: float | None
    throughput_rps: float | None
    """requests / window; None when the window's length is unknown."""
    breaches: tuple[str, ...]
    """Which objectives are broken: ``error_rate``, ``p99_latency_ms``."""

    @property
    def ok(self) -> bool:
        return not self.breaches


def parse_metrics(text: str | bytes) -> dict[tuple[str, str], VersionTotals]:
    """Per (model, version), the request counters and latency histogram of a server's
    Prometheus text; ValueError when it does not parse or a status label is not a number."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    counts: dict[tuple[str, str], list[int]] = {}
    buckets: dict[tuple[str, str], dict[float, int]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name not in (REQUESTS, LATENCY_BUCKET):
                continue
            key = (sample.labels.get("model", ""), sample.labels.get("version", ""))
            if sample.name == REQUESTS:
                slot = _outcome(sample.labels.get("status", ""))
                counts.setdefault(key, [0, 0, 0])[slot] += round(sample.value)
            else:
                buckets.setdefault(key, {})[float(sample.labels["le"])] = round(sample.value)
    result = {}
    for key in sorted({*counts, *buckets}):
        ok, errors, client = counts.get(key, [0, 0, 0])
        result[key] = VersionTotals(
            requests=ok + errors,
            errors=errors,
            client_errors=client,
            latency_buckets=tuple(sorted(buckets.get(key, {}).items())),
        )
    return result


def slo_status(
    current: str | bytes | Totals,
    thresholds: SloThresholds | None = None,
    *,
    previous: str | bytes | Totals | None = None,
    window_seconds: float | None = None,
) -> list[SloResult]:
    """Error rate, p99 latency and throughput per version between two scrapes.

    ``previous`` unset: since the server started. A version whose counts went down between
    the scrapes (the server restarted) counts ``current`` alone, as Prometheus' ``rate()``.
    Results are sorted by model and version."""
    thresholds = thresholds or SloThresholds()
    after = parse_metrics(current) if isinstance(current, str | bytes) else current
    before: Totals = {}
    if previous is not None:
        before = parse_metrics(previous) if isinstance(previous, str | bytes) else previous
    results = []
    for key in sorted(after):
        window = _window(before.get(key, VersionTotals()), after[key])
        rate = window.errors / window.requests if window.requests else None
        p50, p99 = (_quantile(q, window.latency_buckets) for q in (0.5, 0.99))
        p50_ms = None if p50 is None else p50 * 1000
        p99_ms = None if p99 is None else p99 * 1000
        throughput = None
        if window_seconds is not None and window_seconds > 0:
            throughput = window.requests / window_seconds
        breaches = []
        if rate is not None and rate > thresholds.max_error_rate:
            breaches.append("error_rate")
        if p99_ms is not None and p99_ms > thresholds.max_p99_latency_ms:
            breaches.append("p99_latency_ms")
        results.append(
            SloResult(
                model=key[0],
                version=key[1],
                requests=window.requests,
                errors=window.errors,
                error_rate=rate,
                p50_latency_ms=p50_ms,
                p99_latency_ms=p99_ms,
                throughput_rps=throughput,
                breaches=tuple(breaches),
            )
        )
    return results


def _outcome(status: str) -> int:
    """0: answered, 1: error (5xx, 422), 2: client error (other 4xx)."""
    try:
        code = int(status)
    except ValueError:
        raise ValueError(f"expected an HTTP status label, got {status!r}") from None
    if code >= 500 or code == 422:
        return 1
    return 2 if code >= 400 else 0


def _window(before: VersionTotals, after: VersionTotals) -> VersionTotals:
    old = dict(before.latency_buckets)
    new = dict(after.latency_buckets)
    reset = (
        after.requests < before.requests
        or after.errors < before.errors
        or after.client_errors < before.client_errors
        or any(new.get(le, 0) < n for le, n in old.items())
    )
    if reset:
        return after
    return VersionTotals(
        requests=after.requests - before.requests,
        errors=after.errors - before.errors,
        client_errors=after.client_errors - before.client_errors,
        latency_buckets=tuple((le, n - old.get(le, 0)) for le, n in after.latency_buckets),
    )


def _quantile(q: float, buckets: Sequence[tuple[float, int]]) -> float | None:
    """Prometheus' ``histogram_quantile`` on one cumulative histogram (linear interpolation
    within the bucket; a rank in +inf gives the highest finite bound)."""
    if len(buckets) < 2 or not math.isinf(buckets[-1][0]):
        return None
    total = buckets[-1][1]
    if total <= 0:
        return None
    rank = q * total
    below_le, below_n = 0.0, 0
    for index, (le, n) in enumerate(buckets):
        if n >= rank:
            if math.isinf(le):
                return buckets[index - 1][0]
            if n == below_n:
                return below_le
            return below_le + (le - below_le) * (rank - below_n) / (n - below_n)
        below_le, below_n = le, n
    return buckets[-2][0]
