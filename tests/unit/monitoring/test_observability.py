"""Prometheus rules, the Grafana dashboard and SLOs from a real server's /metrics text.

``promtool`` is not installed here, so the PromQL is checked structurally: balanced brackets,
well-formed selectors and ranges, known metric names and a comparison with a number."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from slipway.monitoring.observability import (
    SloTarget,
    SloThresholds,
    grafana_dashboard,
    parse_metrics,
    prometheus_rules,
    render_grafana_dashboard,
    slo_status,
)
from slipway.serving.metrics import ServerMetrics

METRICS = {
    "slipway_requests_total",
    "slipway_request_latency_seconds_bucket",
    "slipway_batch_size_rows_bucket",
    "slipway_queue_depth",
    "slipway_model_ready",
    "slipway_prediction_log_dropped_total",
}
FUNCTIONS = {"sum", "max", "rate", "increase", "histogram_quantile", "by", "label_values"}
_SELECTOR = re.compile(r'\{(\s*[a-z_]+\s*(=~|!=|!~|=)\s*"[^"]*"\s*,?)*\s*\}')
_RANGE = re.compile(r"\[(\d+[smhd]|\$__rate_interval)\]")


def check_promql(expr: str) -> None:
    """Structural plausibility of a PromQL expression (no promtool here)."""
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    in_string = False
    for char in expr:
        if char == '"':
            in_string = not in_string
        elif in_string:
            continue
        elif char in "([{":
            stack.append(char)
        elif char in pairs:
            assert stack, f"unbalanced {char!r} in {expr}"
            assert stack.pop() == pairs[char], f"mismatched {char!r} in {expr}"
    assert not stack, f"unclosed {stack} in {expr}"
    assert not in_string, f"unterminated string in {expr}"
    for selector in re.findall(r"\{[^{}]*\}", expr):
        assert _SELECTOR.fullmatch(selector), f"bad selector {selector} in {expr}"
    for window in re.findall(r"\[[^\]]*\]", expr):
        assert _RANGE.fullmatch(window), f"bad range {window} in {expr}"
    bare = re.sub(r'"[^"]*"', '""', expr).replace("$__rate_interval", "")
    words = set(re.findall(r"\b[a-z_][a-z0-9_]*\b", bare))
    labels = {"model", "version", "le", "status", "job", "instance", "namespace"}
    unknown = words - METRICS - FUNCTIONS - labels
    assert not unknown, f"unknown names {unknown} in {expr}"
    assert words & METRICS, f"no slipway metric in {expr}"


def test_promql_checker_catches_mistakes() -> None:
    for bad in (
        "rate(slipway_requests_total[5m]",
        'slipway_requests_total{model="a"',
        "rate(slipway_requests_total[5 minutes])",
        "rate(slipway_request_total[5m])",
    ):
        with pytest.raises(AssertionError):
            check_promql(bad)


def test_prometheus_rules_have_the_expected_structure() -> None:
    targets: list[SloTarget | str] = [
        "fraud",
        SloTarget(
            "churn",
            model="churn-clf",
            selector='namespace="prod"',
            thresholds=SloThresholds(max_error_rate=0.05, max_p99_latency_ms=100, error_for="1m"),
        ),
    ]
    text = prometheus_rules(targets)
    assert text == prometheus_rules(targets)  # deterministic
    assert "&id" not in text  # no YAML anchors: each rule reads alone
    doc = yaml.safe_load(text)
    groups = {g["name"]: g["rules"] for g in doc["groups"]}
    assert list(groups) == ["slipway-fraud", "slipway-churn", "slipway-serving"]
    fraud = {r["alert"]: r for r in groups["slipway-fraud"]}
    assert list(fraud) == ["SlipwayHighErrorRate", "SlipwayHighLatencyP99", "SlipwayModelNotReady"]
    churn = {r["alert"]: r for r in groups["slipway-churn"]}
    assert "SlipwayPredictionLogDropped" in churn
    assert [r["alert"] for r in groups["slipway-serving"]] == ["SlipwayPredictionLogDropped"]
    for rules in groups.values():
        for rule in rules:
            assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}
            assert re.fullmatch(r"\d+[smh]", rule["for"])
            assert {"summary", "description"} <= set(rule["annotations"])
            assert "severity" in rule["labels"]
            check_promql(rule["expr"])
    assert fraud["SlipwayHighErrorRate"]["expr"].endswith("> 0.01")
    assert 'status=~"5..|422"' in fraud["SlipwayHighErrorRate"]["expr"]
    assert fraud["SlipwayHighLatencyP99"]["expr"] == (
        "histogram_quantile(0.99, sum by (le, model, version) "
        '(rate(slipway_request_latency_seconds_bucket{model="fraud"}[5m]))) > 0.25'
    )
    assert fraud["SlipwayHighErrorRate"]["labels"] == {
        "severity": "critical",
        "deployment": "fraud",
    }
    assert churn["SlipwayHighErrorRate"]["expr"].endswith("> 0.05")
    assert churn["SlipwayHighErrorRate"]["for"] == "1m"
    assert churn["SlipwayHighLatencyP99"]["expr"].endswith("> 0.1")
    assert 'model="churn-clf", namespace="prod"' in churn["SlipwayModelNotReady"]["expr"]
    assert 'namespace="prod"' in churn["SlipwayPredictionLogDropped"]["expr"]


def test_deployments_are_listed_once() -> None:
    with pytest.raises(ValueError, match="more than once"):
        prometheus_rules(["fraud", "fraud"])


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_rules(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(prometheus_rules(["fraud", SloTarget("churn", selector='job="churn"')]))
    subprocess.run(["promtool", "check", "rules", str(path)], check=True, timeout=30)


def test_grafana_dashboard_panels_all_query_prometheus() -> None:
    text = render_grafana_dashboard()
    assert text == render_grafana_dashboard()
    dashboard = json.loads(text)
    assert dashboard == json.loads(json.dumps(grafana_dashboard()))
    assert dashboard["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    titles = [p["title"] for p in dashboard["panels"]]
    for wanted in ("Request rate", "Error rate", "Latency p50 / p99", "Batch size", "Queue"):
        assert any(title.startswith(wanted) for title in titles), wanted
    assert "Ready models" in titles
    assert len({p["id"] for p in dashboard["panels"]}) == len(titles)
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"]
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            check_promql(target["expr"])
    latency = next(p for p in dashboard["panels"] if p["title"].startswith("Latency"))
    assert [t["expr"][:25] for t in latency["targets"]] == [
        "histogram_quantile(0.5, s",
        "histogram_quantile(0.99, ",
    ]


# -- slo_status on a real server's metrics ----------------------------------------------------


def served(metrics: ServerMetrics, version: str, ok: int, errors: int, latency: float) -> None:
    for _ in range(ok):
        metrics.requests.labels("fraud", version, "predict", "200").inc()
        metrics.latency.labels("fraud", version).observe(latency)
    for _ in range(errors):
        metrics.requests.labels("fraud", version, "predict", "500").inc()
    metrics.requests.labels("fraud", version, "predict", "400").inc()  # client: not counted
    metrics.ready.labels("fraud", version).set(1)


def test_slo_status_from_two_scrapes() -> None:
    metrics = ServerMetrics()
    served(metrics, "1", ok=100, errors=0, latency=0.003)
    served(metrics, "2", ok=10, errors=0, latency=0.003)
    before = metrics.render()
    served(metrics, "1", ok=198, errors=2, latency=0.02)
    served(metrics, "2", ok=90, errors=10, latency=0.7)
    after = metrics.render()

    results = slo_status(after, SloThresholds(), previous=before, window_seconds=50)
    assert [(r.model, r.version) for r in results] == [("fraud", "1"), ("fraud", "2")]
    one, two = results
    assert (one.requests, one.errors) == (200, 2)
    assert one.error_rate == pytest.approx(0.01)
    assert one.throughput_rps == pytest.approx(4.0)
    assert one.p99_latency_ms is not None
    assert 10 <= one.p99_latency_ms <= 25  # within the 10-25 ms bucket, the old 3 ms gone
    assert one.p50_latency_ms is not None
    assert 10 <= one.p50_latency_ms <= 25
    assert one.ok  # 0.01 is the threshold itself
    assert (two.requests, two.errors) == (100, 10)
    assert two.error_rate == pytest.approx(0.1)
    assert two.p99_latency_ms is not None
    assert 500 <= two.p99_latency_ms <= 1000
    assert two.breaches == ("error_rate", "p99_latency_ms")
    assert not two.ok


def test_slo_status_since_start_and_after_a_restart() -> None:
    metrics = ServerMetrics()
    served(metrics, "1", ok=50, errors=50, latency=0.001)
    before = metrics.render()
    restarted = ServerMetrics()
    served(restarted, "1", ok=10, errors=0, latency=0.001)
    (since_start,) = slo_status(before)
    assert since_start.requests == 100
    assert since_start.throughput_rps is None
    (after_restart,) = slo_status(restarted.render(), previous=before, window_seconds=10)
    assert after_restart.requests == 10  # counters went down: the new process's counts
    assert after_restart.error_rate == 0
    assert after_restart.p99_latency_ms is not None
    assert after_restart.p99_latency_ms <= 1.0


def test_slo_status_without_traffic_has_no_rates() -> None:
    metrics = ServerMetrics()
    metrics.ready.labels("fraud", "1").set(1)
    assert slo_status(metrics.render()) == []
    served(metrics, "1", ok=0, errors=0, latency=0.0)
    (result,) = slo_status(metrics.render())
    assert result.requests == 0
    assert result.error_rate is None
    assert result.p99_latency_ms is None
    assert result.ok


def test_parse_metrics_refuses_a_bad_status_label() -> None:
    text = 'slipway_requests_total{model="a",version="1",route="r",status="ok"} 1\n'
    with pytest.raises(ValueError, match="HTTP status"):
        parse_metrics(text)
