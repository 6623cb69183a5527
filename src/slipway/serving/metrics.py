"""Prometheus metrics of one inference server (its own registry, served at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ["model", "version"]
        self.requests = Counter(
            "slipway_requests",
            "Inference requests answered, by model version, route and HTTP status.",
            [*labels, "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "slipway_request_latency_seconds",
            "Time from request received to response ready.",
            labels,
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "slipway_batch_size_rows",
            "Rows per predict call after adaptive batching.",
            labels,
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "slipway_queue_depth",
            "Requests waiting for their model's next batch.",
            labels,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "slipway_in_flight_requests",
            "Requests inside a model version right now.",
            labels,
            registry=self.registry,
        )
        self.load_seconds = Gauge(
            "slipway_model_load_seconds",
            "Time to load and warm up a model version.",
            labels,
            registry=self.registry,
        )
        self.ready = Gauge(
            "slipway_model_ready",
            "1 when a version is ready to serve.",
            labels,
            registry=self.registry,
        )
        self.log_dropped = Counter(
            "slipway_prediction_log_dropped",
            "Prediction records dropped because the log writer's queue was full.",
            registry=self.registry,
        )
        self.log_written = Counter(
            "slipway_prediction_log_written",
            "Prediction records written to Parquet.",
            registry=self.registry,
        )
        self.rejected = Counter(
            "slipway_rejected_requests",
            "Requests refused before reaching a model (bad body, unknown model, too large).",
            ["reason"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
