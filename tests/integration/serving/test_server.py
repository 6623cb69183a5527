"""A real ``slipway serve`` process on 127.0.0.1: protocol, errors, batching, metrics."""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.integration.serving.conftest import MODEL, Registry, Server

NAN_BODY = b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [NaN]}]}'


def oip_request(frame: pd.DataFrame, request_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "inputs": [
            {
                "name": str(column),
                "shape": [len(frame)],
                "datatype": "FP64",
                "data": frame[column].tolist(),
            }
            for column in frame.columns
        ]
    }
    if request_id is not None:
        body["id"] = request_id
    return body


@pytest.fixture(scope="module")
def server(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.integration.serving.conftest import start_server

    srv = start_server(
        registry,
        tmp_path_factory.mktemp("srv"),
        f"models:/{MODEL}@champion",
        env={"SLIPWAY_SERVE_MAX_BODY_BYTES": "200000"},
    )
    yield srv
    srv.stop()


def test_health_and_server_metadata(server: Server) -> None:
    with server.client() as c:
        assert c.get("/v2/health/live").json() == {"live": True}
        ready = c.get("/v2/health/ready")
        assert ready.status_code == 200
        meta = c.get("/v2").json()
        assert meta["name"] == "slipway"
        assert isinstance(meta["extensions"], list)


def test_model_metadata_and_readiness(server: Server, registry: Registry) -> None:
    with server.client() as c:
        for path in (f"/v2/models/{MODEL}", f"/v2/models/{MODEL}/versions/1"):
            meta = c.get(path).json()
            assert meta["name"] == MODEL
            assert "1" in meta["versions"]
            assert [i["name"] for i in meta["inputs"]] == list(registry.data.columns)
            assert {i["datatype"] for i in meta["inputs"]} == {"FP64"}
        assert c.get(f"/v2/models/{MODEL}/ready").status_code == 200
        assert c.get(f"/v2/models/{MODEL}/versions/1/ready").json()["ready"] is True
        missing = c.get("/v2/models/ghost")
        assert missing.status_code == 404
        assert "ghost" in missing.json()["error"]
        assert c.get(f"/v2/models/{MODEL}/versions/9/ready").status_code == 404


def test_oip_infer_matches_in_process_predict(server: Server, registry: Registry) -> None:
    rows = registry.data.iloc[10:42]
    expected = registry.models[1].predict(rows)
    with server.client() as c:
        response = c.post(f"/v2/models/{MODEL}/infer", json=oip_request(rows, "req-7"))
        assert response.status_code == 200, response.text
        doc = response.json()
        assert doc["id"] == "req-7"
        assert doc["model_name"] == MODEL
        assert doc["model_version"] == "1"
        (output,) = doc["outputs"]
        assert output["shape"][0] == len(rows)
        np.testing.assert_array_equal(np.asarray(output["data"]), expected)
        pinned = c.post(f"/v2/models/{MODEL}/versions/2/infer", json=oip_request(rows))
        assert pinned.status_code == 404  # version 2 is not loaded in this server
        bad_output = oip_request(rows) | {"outputs": [{"name": "nope"}]}
        selected = c.post(f"/v2/models/{MODEL}/infer", json=bad_output)
        assert selected.status_code == 400
        assert "nope" in selected.json()["error"]


def test_plain_json_records_and_columns(server: Server, registry: Registry) -> None:
    rows = registry.data.iloc[:5]
    expected = registry.models[1].predict(rows).tolist()
    with server.client() as c:
        records = c.post("/predict", json=rows.to_dict(orient="records"))
        assert records.status_code == 200, records.text
        assert records.json()["predictions"] == expected
        columns = c.post("/predict", json=rows.to_dict(orient="list"))
        assert columns.json()["predictions"] == expected
        assert records.headers["x-slipway-model-version"] == "1"
        wrong_method = c.get("/predict")
        assert wrong_method.status_code == 405
        assert wrong_method.headers["allow"] == "POST"
        assert "POST" in wrong_method.json()["error"]
        assert c.get(f"/v2/models/{MODEL}/infer").status_code == 405
        assert c.post("/v2/models//infer", json={}).status_code == 404


def _bad_requests(
    registry: Registry,
) -> list[tuple[str, Callable[[httpx.Client], httpx.Response], str]]:
    rows = registry.data.iloc[:2]
    first = str(rows.columns[0])

    def with_input(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        body = oip_request(rows)
        change(body["inputs"][0])
        return body

    infer = f"/v2/models/{MODEL}/infer"
    missing = oip_request(rows)
    missing["inputs"] = missing["inputs"][1:]
    extra = oip_request(rows)
    extra["inputs"].append({"name": "surprise", "shape": [2], "datatype": "FP64", "data": [1, 2]})
    records = rows.to_dict(orient="records")
    return [
        (
            "wrong dtype",
            lambda c: c.post(infer, json=with_input(lambda i: i.update(data=["a", "b"]))),
            first,
        ),
        (
            "wrong shape",
            lambda c: c.post(infer, json=with_input(lambda i: i.update(shape=[3]))),
            first,
        ),
        ("missing field", lambda c: c.post(infer, json=missing), first),
        ("extra field", lambda c: c.post(infer, json=extra), "surprise"),
        ("not json", lambda c: c.post(infer, content=b"{not json"), "JSON"),
        (
            "NaN literal",
            lambda c: c.post(
                infer,
                content=NAN_BODY,
            ),
            "JSON",
        ),
        (
            "null in a float column",
            lambda c: c.post("/predict", json=[records[0] | {first: None}, records[1]]),
            first,
        ),
        (
            "string in a float column",
            lambda c: c.post("/predict", json=[records[0] | {first: "big"}]),
            first,
        ),
        ("huge body", lambda c: c.post(infer, content=b"[" + b"1," * 150_000 + b"1]"), "limit"),
        (
            "unknown model",
            lambda c: c.post("/v2/models/ghost/infer", json=oip_request(rows)),
            "ghost",
        ),
        (
            "bad version",
            lambda c: c.post(f"/v2/models/{MODEL}/versions/x/infer", json=oip_request(rows)),
            "version",
        ),
        ("empty body", lambda c: c.post(infer, content=b""), "JSON"),
    ]


def test_bad_inputs_get_4xx_naming_the_problem(server: Server, registry: Registry) -> None:
    with server.client() as c:
        for label, send, needle in _bad_requests(registry):
            response = send(c)
            assert 400 <= response.status_code < 500, (label, response.status_code, response.text)
            assert needle.lower() in response.json()["error"].lower(), (label, response.text)
        # ... and the server keeps serving.
        ok = c.post("/predict", json=registry.data.iloc[:1].to_dict(orient="records"))
        assert ok.status_code == 200


def test_concurrent_requests_are_batched_and_exact(server: Server, registry: Registry) -> None:
    rows = [registry.data.iloc[[i]] for i in range(200)]
    expected = registry.models[1].predict(registry.data.iloc[:200])

    def call(frame: pd.DataFrame) -> int:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            response = c.post(f"/v2/models/{MODEL}/infer", json=oip_request(frame))
            response.raise_for_status()
            return int(response.json()["outputs"][0]["data"][0])

    with ThreadPoolExecutor(max_workers=32) as pool:
        got = list(pool.map(call, rows))
    assert got == expected.tolist()
    with server.client() as c:
        metrics = c.get("/metrics").text
    count = _sample(metrics, "slipway_batch_size_rows_count", version="1")
    total = _sample(metrics, "slipway_batch_size_rows_sum", version="1")
    assert total / count > 1.0, "no batch of more than one row was formed"
    assert _sample(metrics, "slipway_requests_total", version="1", status="200") >= 200
    assert _sample(metrics, "slipway_model_load_seconds", version="1") > 0


def _sample(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_admin_endpoints_need_the_token(server: Server) -> None:
    with server.client() as c:
        assert c.get("/admin/routing").status_code == 401
        assert c.put("/admin/routing", json={"weight": 0.5}).status_code == 401
        wrong = {"authorization": "Bearer nope"}
        assert c.put("/admin/routing", json={"weight": 0.5}, headers=wrong).status_code == 401


def test_a_stock_oip_client_works_unchanged(server: Server, registry: Registry) -> None:
    """Triton's own HTTP client (tritonclient), as a KServe/Triton user would call it."""
    import tritonclient.http as oip
    from tritonclient.utils import InferenceServerException

    rows = registry.data.iloc[50:57]
    client = oip.InferenceServerClient(server.url.removeprefix("http://"))
    try:
        assert client.is_server_live()
        assert client.is_server_ready()
        assert client.is_model_ready(MODEL)
        assert client.get_server_metadata()["name"] == "slipway"
        meta = client.get_model_metadata(MODEL)
        output_name = meta["outputs"][0]["name"]

        def inputs(binary: bool = False) -> list[Any]:
            tensors = []
            for column in rows.columns:
                tensor = oip.InferInput(str(column), [len(rows)], "FP64")
                tensor.set_data_from_numpy(rows[column].to_numpy(), binary_data=binary)
                tensors.append(tensor)
            return tensors

        wanted = [oip.InferRequestedOutput(output_name, binary_data=False)]
        result = client.infer(MODEL, inputs(), outputs=wanted, request_id="triton-1")
        assert result.get_response()["id"] == "triton-1"
        expected = registry.models[1].predict(rows)
        np.testing.assert_array_equal(result.as_numpy(output_name), expected)
        pinned = client.infer(MODEL, inputs(), model_version="1")  # client's default outputs
        np.testing.assert_array_equal(pinned.as_numpy(output_name), expected)
        with pytest.raises(InferenceServerException, match="binary tensor data extension"):
            client.infer(MODEL, inputs(binary=True))
        with pytest.raises(InferenceServerException, match="ghost"):
            client.infer("ghost", inputs())
    finally:
        client.close()
