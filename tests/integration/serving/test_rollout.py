"""Champion/challenger in one real server: canary split, shadow, weight changes under load,
prediction log in DuckDB, and graceful shutdown (SIGTERM) that loses no accepted request."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from slipway.serving.predlog import read_log
from tests.integration.serving.conftest import ADMIN_TOKEN, MODEL, Registry, Server

ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}


def _records(registry: Registry, i: int) -> list[dict[str, float]]:
    return registry.data.iloc[[i % len(registry.data)]].to_dict(orient="records")  # type: ignore[return-value]


def test_canary_split_and_runtime_weight_change(
    serve: Callable[..., Server], registry: Registry
) -> None:
    server = serve(
        f"models:/{MODEL}@champion", "--challenger", f"models:/{MODEL}/2", "--weight", "0.25"
    )
    with server.client() as c:
        versions = Counter(
            c.post("/predict", json=_records(registry, i)).headers["x-slipway-model-version"]
            for i in range(400)
        )
        assert versions["2"] / 400 == pytest.approx(0.25, abs=0.08)
        table = c.put("/admin/routing", json={"weight": 1.0}, headers=ADMIN)
        assert table.status_code == 200, table.text
        assert table.json()["weight"] == 1.0
        assert {
            c.post("/predict", json=_records(registry, i)).headers["x-slipway-model-version"]
            for i in range(30)
        } == {"2"}
        sticky = {
            c.post(
                "/predict",
                json=_records(registry, 0),
                headers={"x-slipway-route-key": "user-42"},
            ).headers["x-slipway-route"]
            for _ in range(10)
        }
        assert len(sticky) == 1
        bad = c.put("/admin/routing", json={"weight": 3}, headers=ADMIN)
        assert bad.status_code == 400
        assert "between 0 and 1" in bad.json()["error"]


def test_weight_changes_under_load_fail_no_request(
    serve: Callable[..., Server], registry: Registry
) -> None:
    server = serve(f"models:/{MODEL}@champion", "--challenger", f"models:/{MODEL}/2")
    stop = threading.Event()
    failures: list[str] = []
    answered = Counter[str]()

    def load() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            for i in range(2000):  # bounded, and stops when told
                if stop.is_set():
                    return
                r = c.post("/predict", json=_records(registry, i))
                if r.status_code != 200:
                    failures.append(r.text)
                else:
                    answered[r.headers["x-slipway-model-version"]] += 1

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(load) for _ in range(4)]
        with server.client() as c:
            for weight in (0.0, 0.3, 0.7, 1.0, 0.5, 0.0, 1.0):
                assert c.put("/admin/routing", json={"weight": weight}, headers=ADMIN).is_success
                time.sleep(0.2)
        stop.set()
        for f in futures:
            f.result(timeout=120)
    assert failures == []
    assert answered["1"] > 0
    assert answered["2"] > 0


def test_shadow_answers_never_reach_the_caller_and_are_logged(
    serve: Callable[..., Server], registry: Registry
) -> None:
    server = serve(
        f"models:/{MODEL}@champion",
        "--challenger",
        f"models:/{MODEL}/2",
        "--weight",
        "1.0",
        "--mode",
        "shadow",
    )
    with server.client() as c:
        versions = {
            c.post("/predict", json=_records(registry, i)).headers["x-slipway-model-version"]
            for i in range(50)
        }
    assert versions == {"1"}
    assert server.stop() == 0
    log = read_log(server.log_dir, MODEL)
    assert set(log[log["route"] == "shadow"]["model_version"]) == {2}
    assert (log["route"] == "shadow").sum() == 50
    assert (log["route"] == "champion").sum() == 50


def test_load_and_promote_through_admin(serve: Callable[..., Server], registry: Registry) -> None:
    server = serve(f"models:/{MODEL}@champion")
    with server.client() as c:
        loaded = c.post(
            "/admin/models",
            json={"uri": f"models:/{MODEL}/2", "role": "challenger", "weight": 0.0},
            headers=ADMIN,
        )
        assert loaded.status_code == 200, loaded.text
        assert loaded.json()["challenger"]["version"] == 2
        assert c.get(f"/v2/models/{MODEL}/versions/2/ready").status_code == 200
        promoted = c.post(
            "/admin/models", json={"uri": f"models:/{MODEL}/2", "role": "champion"}, headers=ADMIN
        )
        assert promoted.json()["champion"]["version"] == 2
        r = c.post("/predict", json=_records(registry, 0))
        assert r.headers["x-slipway-model-version"] == "2"
        assert c.get(f"/v2/models/{MODEL}/versions/1/ready").status_code == 404
        wrong = c.post("/admin/models", json={"uri": "models:/ghost/1"}, headers=ADMIN)
        assert wrong.status_code == 404
        assert c.delete("/admin/models/2", headers=ADMIN).status_code == 400  # the champion


def test_sigterm_loses_no_accepted_request(
    serve: Callable[..., Server], registry: Registry
) -> None:
    server = serve(f"models:/{MODEL}@champion")
    ok = 0
    lock = threading.Lock()

    def burst(worker: int) -> None:
        nonlocal ok
        with httpx.Client(base_url=server.url, timeout=30) as c:
            for i in range(100):
                try:
                    r = c.post("/predict", json=_records(registry, worker * 100 + i))
                except httpx.TransportError:
                    return  # the server stopped accepting: expected after SIGTERM
                if r.status_code == 200:
                    with lock:
                        ok += 1

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(burst, w) for w in range(4)]
        time.sleep(0.5)
        assert server.stop() == 0
        for f in futures:
            f.result(timeout=60)
    log = read_log(server.log_dir, MODEL)
    assert ok > 0
    assert len(log[log["status"] == 200]) == ok


def test_two_workers_share_the_port_with_the_cli_settings(
    serve: Callable[..., Server], registry: Registry
) -> None:
    server = serve(f"models:/{MODEL}@champion", "--workers", "2", "--max-batch-size", "1")
    expected = registry.models[1].predict(registry.data.iloc[:40]).tolist()

    def call(i: int) -> int:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            r = c.post("/predict", json=_records(registry, i))
            r.raise_for_status()
            return int(r.json()["predictions"][0])

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(call, range(40))) == expected
    with server.client() as c:
        metrics = c.get("/metrics").text
    # --max-batch-size reached the workers: no batch of more than one row but the warm-up
    # (the 3-row input example) in the worker that answered.
    for line in metrics.splitlines():
        if line.startswith("slipway_batch_size_rows_bucket") and 'le="1.0"' in line:
            below = float(line.rsplit(" ", 1)[1])
        if line.startswith("slipway_batch_size_rows_count"):
            count = float(line.rsplit(" ", 1)[1])
    assert count > 0
    assert count - below == 1
    server.stop()
    assert len(read_log(server.log_dir, MODEL)) == 40
