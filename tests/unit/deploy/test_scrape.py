"""Reading servers' metrics and the prediction log for the analysis."""

from __future__ import annotations

import math
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from slipway.deploy.scrape import (
    ScrapeError,
    Snapshot,
    VersionCounters,
    VersionKey,
    delta,
    fetch_snapshot,
    histogram_quantile,
    parse_counters,
    prediction_samples,
)
from slipway.serving.metrics import ServerMetrics
from slipway.serving.predlog import PredictionLog, PredictionRecord

INF = math.inf
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def serve(
    metrics: ServerMetrics,
    *,
    requests: Mapping[tuple[str, str, str, str], int] | None = None,
    latencies: Mapping[tuple[str, str], list[float]] | None = None,
) -> ServerMetrics:
    """Record what a server would after answering these requests."""
    for series, count in (requests or {}).items():
        metrics.requests.labels(*series).inc(count)
    for version, seconds in (latencies or {}).items():
        for value in seconds:
            metrics.latency.labels(*version).observe(value)
    return metrics


def test_parses_a_real_servers_metrics() -> None:
    metrics = serve(
        ServerMetrics(),
        requests={
            ("churn", "1", "champion", "200"): 90,
            ("churn", "2", "challenger", "200"): 7,
            ("churn", "2", "pinned", "200"): 1,
            ("churn", "2", "challenger", "500"): 2,
            ("churn", "2", "challenger", "422"): 1,
            ("churn", "2", "challenger", "400"): 5,
            ("churn", "2", "challenger", "413"): 1,
        },
        latencies={("churn", "2"): [0.003, 0.004, 0.02, 3.0]},
    )
    metrics.rejected.labels("unknown_model").inc()  # other metrics are ignored
    counters = parse_counters(metrics.render())
    assert set(counters) == {VersionKey("churn", 1), VersionKey("churn", 2)}
    challenger = counters[VersionKey("churn", 2)]
    assert (challenger.requests, challenger.errors, challenger.client_errors) == (11, 3, 6)
    assert challenger.error_rate == pytest.approx(3 / 11)
    assert challenger.latency_count == 4
    assert challenger.latency_sum == pytest.approx(3.027)
    assert dict(challenger.latency_buckets)[0.005] == 2
    assert dict(challenger.latency_buckets)[0.025] == 3
    assert dict(challenger.latency_buckets)[2.5] == 3
    assert challenger.latency_buckets[-1] == (INF, 4)
    assert challenger.created is not None
    champion = counters[VersionKey("churn", 1)]
    assert (champion.requests, champion.errors, champion.latency_buckets) == (90, 0, ())


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("slipway_requests_total{model=1 garbage", id="not-prometheus"),
        pytest.param(
            'slipway_requests_total{model="m",version="v2",route="r",status="200"} 1\n',
            id="version-not-an-int",
        ),
        pytest.param(
            'slipway_requests_total{model="m",version="2",route="r",status="ok"} 1\n',
            id="status-not-a-code",
        ),
    ],
)
def test_unexpected_text_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_counters(text)


def snapshot(at: float, **sources: ServerMetrics) -> Snapshot:
    return Snapshot(at, {url: parse_counters(m.render()) for url, m in sources.items()})


def test_snapshot_sums_replicas() -> None:
    a = serve(ServerMetrics(), requests={("m", "2", "challenger", "200"): 3})
    b = serve(
        ServerMetrics(),
        requests={("m", "2", "challenger", "503"): 1},
        latencies={("m", "2"): [0.001]},
    )
    total = snapshot(0.0, a=a, b=b).get("m", 2)
    assert (total.requests, total.errors, total.latency_count) == (4, 1, 1)
    assert snapshot(0.0, a=a, b=b).get("m", 9) == VersionCounters()
    assert list(snapshot(0.0, a=a, b=b).versions()) == [VersionKey("m", 2)]


def test_summed_histograms_keep_the_bounds_all_replicas_share() -> None:
    one = VersionCounters(latency_buckets=((0.1, 1), (0.2, 2), (INF, 3)), latency_count=3)
    two = VersionCounters(latency_buckets=((0.1, 5), (0.5, 6), (INF, 6)), latency_count=6)
    summed = Snapshot(0.0, {"a": {VersionKey("m", 1): one}, "b": {VersionKey("m", 1): two}})
    assert summed.get("m", 1).latency_buckets == ((0.1, 6), (INF, 9))


def test_delta_is_the_window() -> None:
    metrics = serve(ServerMetrics(), requests={("m", "2", "challenger", "200"): 10})
    before = snapshot(100.0, a=metrics)
    serve(
        metrics,
        requests={("m", "2", "challenger", "200"): 5, ("m", "2", "challenger", "500"): 1},
        latencies={("m", "2"): [0.002, 0.2]},
    )
    window = delta(before, snapshot(130.0, a=metrics))
    counters = window.get("m", 2)
    assert window.taken_at == 130.0
    assert (counters.requests, counters.errors, counters.latency_count) == (6, 1, 2)
    assert dict(counters.latency_buckets)[0.0025] == 1
    assert counters.latency_buckets[-1] == (INF, 2)


def test_delta_survives_a_replica_restart() -> None:
    steady = serve(ServerMetrics(), requests={("m", "2", "challenger", "200"): 100})
    restarting = serve(ServerMetrics(), requests={("m", "2", "challenger", "200"): 100})
    before = snapshot(0.0, a=steady, b=restarting)
    serve(steady, requests={("m", "2", "challenger", "200"): 10})
    restarted = serve(ServerMetrics(), requests={("m", "2", "challenger", "200"): 4})
    window = delta(before, snapshot(30.0, a=steady, b=restarted))
    assert window.get("m", 2).requests == 14  # 10 + the restarted replica's whole count


def test_delta_sees_a_restart_by_its_created_time_even_when_counts_grew() -> None:
    old = VersionCounters(requests=5, created=1000.0)
    new = VersionCounters(requests=8, created=2000.0)  # restarted, then answered 8
    window = delta(Snapshot(0.0, {"a": {VersionKey("m", 1): old}}),
                   Snapshot(1.0, {"a": {VersionKey("m", 1): new}}))  # fmt: skip
    assert window.get("m", 1).requests == 8
    same_process = replace(new, created=1000.0)
    window = delta(Snapshot(0.0, {"a": {VersionKey("m", 1): old}}),
                   Snapshot(1.0, {"a": {VersionKey("m", 1): same_process}}))  # fmt: skip
    assert window.get("m", 1).requests == 3


def test_delta_counts_new_versions_and_servers_from_zero() -> None:
    a = serve(ServerMetrics(), requests={("m", "1", "champion", "200"): 10})
    before = snapshot(0.0, a=a)
    serve(a, requests={("m", "2", "challenger", "200"): 3})
    b = serve(ServerMetrics(), requests={("m", "2", "challenger", "200"): 2})
    window = delta(before, snapshot(1.0, a=a, b=b))
    assert window.get("m", 2).requests == 5
    assert window.get("m", 1).requests == 0


BUCKETS = [(0.1, 10), (0.2, 30), (INF, 40)]


@pytest.mark.parametrize(
    ("q", "buckets", "expected"),
    [
        pytest.param(0.5, BUCKETS, 0.15, id="interpolates-in-bucket"),
        pytest.param(0.25, BUCKETS, 0.1, id="upper-edge-of-first-bucket"),
        pytest.param(0.1, BUCKETS, 0.04, id="first-bucket-starts-at-zero"),
        pytest.param(0.75, BUCKETS, 0.2, id="exactly-the-last-finite-bound"),
        pytest.param(0.99, BUCKETS, 0.2, id="inf-bucket-gives-highest-finite-bound"),
        pytest.param(0.5, list(reversed(BUCKETS)), 0.15, id="any-order"),
        pytest.param(0.5, [(0.1, 10), (0.2, 8), (INF, 20)], 0.1, id="non-monotonic-fixed"),
        pytest.param(0.0, BUCKETS, 0.0, id="q-zero"),
        pytest.param(0.0, [(0.1, 0), (0.2, 5), (INF, 5)], 0.0, id="q-zero-empty-first-bucket"),
        pytest.param(0.5, [(0.1, 0), (0.2, 0), (INF, 0)], None, id="no-observations"),
        pytest.param(0.5, [], None, id="no-buckets"),
        pytest.param(0.5, [(INF, 4)], None, id="only-inf"),
        pytest.param(0.5, [(0.1, 4), (0.2, 4)], None, id="no-inf-bucket"),
    ],
)
def test_histogram_quantile(
    q: float, buckets: list[tuple[float, float]], expected: float | None
) -> None:
    result = histogram_quantile(q, buckets)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)


def test_histogram_quantile_rejects_q_outside_zero_one() -> None:
    with pytest.raises(ValueError, match="q must be"):
        histogram_quantile(1.5, BUCKETS)


def test_p99_of_a_real_histogram_in_ms() -> None:
    # 100 observations: 98 at 3 ms (0.0025-0.005 bucket), 2 at 40 ms (0.025-0.05 bucket).
    metrics = serve(ServerMetrics(), latencies={("m", "1"): [0.003] * 98 + [0.04] * 2})
    counters = parse_counters(metrics.render())[VersionKey("m", 1)]
    # rank 99 falls in (0.025, 0.05] holding ranks 99-100: 25 + 25 * (99 - 98) / 2 ms.
    assert counters.latency_quantile_ms(0.99) == pytest.approx(37.5)
    assert VersionCounters().latency_quantile_ms(0.99) is None


# -- fetching over HTTP -----------------------------------------------------------------------


@pytest.fixture
def http_server() -> Iterator[Callable[[bytes, int], str]]:
    """Start servers on 127.0.0.1 that answer GET /metrics with a fixed body; yields a starter
    returning the base URL."""
    servers: list[ThreadingHTTPServer] = []
    threads: list[threading.Thread] = []

    def start(body: bytes, status: int = 200) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                code = status if self.path == "/metrics" else 404
                self.send_response(code)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        servers.append(server)
        threads.append(thread)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server, thread in zip(servers, threads, strict=True):
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_fetch_snapshot_sums_two_servers(http_server: Callable[..., str]) -> None:
    one = serve(
        ServerMetrics(),
        requests={("m", "2", "challenger", "200"): 40, ("m", "2", "challenger", "500"): 1},
        latencies={("m", "2"): [0.01] * 40},
    )
    two = serve(
        ServerMetrics(),
        requests={("m", "2", "challenger", "200"): 19},
        latencies={("m", "2"): [0.3] * 19},
    )
    urls = [http_server(one.render()), http_server(two.render()) + "/"]
    taken = fetch_snapshot(urls, timeout=5.0)
    assert sorted(taken.sources) == sorted(url.rstrip("/") for url in urls)
    counters = taken.get("m", 2)
    assert (counters.requests, counters.errors, counters.latency_count) == (60, 1, 59)
    assert taken.taken_at > 0


def test_unreachable_endpoint_is_named() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(ScrapeError, match=f"{url}/metrics") as caught:
        fetch_snapshot([url], timeout=1.0)
    assert caught.value.url == f"{url}/metrics"


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [(b"", 500, "HTTP 500"), (b"{not metrics", 200, "not Prometheus text")],
)
def test_bad_answers_are_scrape_errors(
    http_server: Callable[..., str], body: bytes, status: int, reason: str
) -> None:
    url = http_server(body, status)
    with pytest.raises(ScrapeError, match=reason):
        fetch_snapshot([url])


def test_an_endpoint_listed_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="more than once"):
        fetch_snapshot(["http://127.0.0.1:1", "http://127.0.0.1:1/"])


# -- prediction samples -----------------------------------------------------------------------


def record(i: int, at: datetime, version: int, outputs: Any, status: int = 200) -> PredictionRecord:
    return PredictionRecord(
        request_id=f"req-{i:04d}",
        time_ms=int(at.timestamp() * 1000),
        deployment="churn",
        model_name="churn-model",
        model_version=version,
        route="challenger" if version == 2 else "champion",
        latency_ms=2.0,
        status=status,
        inputs={"x": np.array([float(i)])},
        outputs=outputs,
        error=None if status == 200 else "model failed",
    )


@pytest.fixture
def log_root(tmp_path: Path) -> Path:
    """Two versions: v1 answers 0..9 at T0 + i s; v2 answers 100+i at T0 + i s (also a day
    later, in another partition), and fails request 3."""
    root = tmp_path / "predictions"
    log = PredictionLog(root, flush_interval_s=60)
    for i in range(10):
        at = T0 + timedelta(seconds=i)
        log.submit(record(i, at, 1, {"score": np.array([float(i)])}))
        if i == 3:
            log.submit(record(i, at, 2, None, status=422))
        else:
            log.submit(record(i, at, 2, {"score": np.array([100.0 + i])}))
    log.submit(record(99, T0 + timedelta(days=1), 2, {"score": np.array([999.0])}))
    log.close()
    return root


def test_prediction_samples_reads_one_version_in_a_window(log_root: Path) -> None:
    samples = prediction_samples(
        log_root, "churn", 2, T0 + timedelta(seconds=2), T0.timestamp() + 6
    )
    assert samples.tolist() == [102.0, 104.0, 105.0]  # 3 failed: no prediction
    assert prediction_samples(log_root, "churn", 1, T0, T0 + timedelta(seconds=3)).tolist() == [
        0.0,
        1.0,
        2.0,
    ]


def test_prediction_samples_without_end_reads_to_now(log_root: Path) -> None:
    samples = prediction_samples(log_root, "churn", 2, T0 + timedelta(seconds=8))
    assert samples.tolist() == [108.0, 109.0, 999.0]


def test_prediction_samples_of_nothing_logged_is_empty(tmp_path: Path, log_root: Path) -> None:
    assert prediction_samples(tmp_path / "nothing", "churn", 2, T0).shape == (0,)
    assert prediction_samples(log_root, "churn", 7, T0).shape == (0,)
    assert prediction_samples(log_root, "churn", 2, T0 + timedelta(days=3)).shape == (0,)


def test_prediction_samples_feed_the_distance_check(log_root: Path) -> None:
    from slipway.deploy.stats import Verdict, fixed_prediction_distance

    end = T0 + timedelta(seconds=10)
    champion = prediction_samples(log_root, "churn", 1, T0, end)
    challenger = prediction_samples(log_root, "churn", 2, T0, end)
    result = fixed_prediction_distance(champion, challenger, 0.2, min_samples=5)
    assert result.verdict is Verdict.FAIL  # 0..9 against 100..109: KS distance 1
    assert result.value == 1.0


@pytest.fixture
def multi_output_root(tmp_path: Path) -> Path:
    root = tmp_path / "predictions"
    log = PredictionLog(root, flush_interval_s=60)
    for i in range(4):
        outputs = {
            "label": np.array(["yes" if i % 2 else "no"]),
            "probabilities": np.array([[0.1 * i, 1 - 0.1 * i]]),
        }
        log.submit(record(i, T0 + timedelta(seconds=i), 2, outputs))
        log.submit(
            record(i, T0 + timedelta(seconds=i), 1, {"a": np.array([1.0]), "b": np.array([2.0])})
        )
    log.close()
    return root


def test_several_outputs_take_the_only_scalar_one(multi_output_root: Path) -> None:
    labels = prediction_samples(multi_output_root, "churn", 2, T0)
    assert labels.tolist() == ["no", "yes", "no", "yes"]


def test_a_list_output_is_a_2d_array(multi_output_root: Path) -> None:
    probabilities = prediction_samples(multi_output_root, "churn", 2, T0, output="probabilities")
    assert probabilities.shape == (4, 2)
    assert probabilities[1].tolist() == pytest.approx([0.1, 0.9])


def test_ambiguous_or_unknown_outputs_are_refused(multi_output_root: Path) -> None:
    with pytest.raises(ValueError, match=r"several outputs \(a, b\)"):
        prediction_samples(multi_output_root, "churn", 1, T0)
    with pytest.raises(ValueError, match="no output 'c'; it logs a, b"):
        prediction_samples(multi_output_root, "churn", 1, T0, output="c")
    assert prediction_samples(multi_output_root, "churn", 1, T0, output="b").tolist() == [2.0] * 4


@pytest.mark.parametrize(
    ("deployment", "since", "error"),
    [
        ("churn", datetime(2026, 1, 1), "naive datetime"),
        ("../etc", T0, "invalid deployment"),
    ],
)
def test_bad_arguments(log_root: Path, deployment: str, since: datetime, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        prediction_samples(log_root, deployment, 2, since)
