"""Tracking, artifacts, registry and deployments through a real server process."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from slipway.store import open_metadata_store
from tests.integration.api.conftest import ApiServer, migrated_sqlite, start_server


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def ds(api: ApiServer) -> Iterator[httpx.Client]:
    with api.client("data-scientist") as client:
        yield client


@pytest.fixture(scope="module")
def run_id(ds: httpx.Client) -> str:
    exp = ds.post("/experiments", json={"name": unique("endpoints"), "tags": {"team": "a"}})
    run = ds.post("/runs", json={"experiment_id": exp.json()["experiment_id"], "run_name": "r1"})
    assert run.status_code == 201, run.text
    return str(run.json()["run_id"])


def test_run_lifecycle(ds: httpx.Client, run_id: str) -> None:
    logged = ds.post(
        f"/runs/{run_id}/log-batch",
        json={
            "metrics": [
                {"key": "loss", "value": v, "step": s, "timestamp": 1000 + s}
                for s, v in enumerate([0.9, 0.5, None])
            ],
            "params": [{"key": "lr", "value": "0.1"}],
            "tags": {"stage": "dev"},
        },
    )
    assert logged.status_code == 204, logged.text
    conflict = ds.post(f"/runs/{run_id}/log-batch", json={"params": [{"key": "lr", "value": "9"}]})
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "conflict"
    run = ds.get(f"/runs/{run_id}").json()
    assert run["params"] == {"lr": "0.1"}
    assert run["tags"]["stage"] == "dev"
    assert run["metrics"] == {"loss": None}  # the latest step is NaN
    history = ds.get(f"/runs/{run_id}/metric-history", params={"key": "loss", "limit": 2})
    page = history.json()
    assert [m["value"] for m in page["items"]] == [0.9, 0.5]
    rest = ds.get(
        f"/runs/{run_id}/metric-history",
        params={"key": "loss", "page_token": page["next_page_token"]},
    ).json()
    assert rest["items"][0]["is_nan"] is True
    assert rest["next_page_token"] is None
    ended = ds.post(f"/runs/{run_id}/end", json={"status": "FAILED"})
    assert ended.json()["status"] == "FAILED"
    assert ended.json()["end_time"] is not None
    found = ds.get("/runs", params={"status": "FAILED", "user": "data-scientist"}).json()
    assert run_id in [r["run_id"] for r in found["items"]]


def test_list_pagination_and_sorting(ds: httpx.Client) -> None:
    prefix = unique("page")
    for i in range(5):
        assert ds.post("/experiments", json={"name": f"{prefix}-{i}"}).status_code == 201
    names, token = [], None
    while True:
        params = {"name_contains": prefix, "limit": 2, "order_by": "name desc"}
        page = ds.get("/experiments", params=params | ({"page_token": token} if token else {}))
        names += [e["name"] for e in page.json()["items"]]
        token = page.json()["next_page_token"]
        if token is None:
            break
    assert names == [f"{prefix}-{i}" for i in reversed(range(5))]
    bad = ds.get("/experiments", params={"page_token": "!!"})
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "page_token"
    bad = ds.get("/experiments", params={"order_by": "secret"})
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "order_by"
    invalid = ds.get("/experiments", params={"limit": 0})
    assert invalid.status_code == 422
    assert invalid.json()["error"]["field"] == "limit"


def test_artifact_upload_is_verified_and_download_resumes(
    api: ApiServer, ds: httpx.Client, run_id: str
) -> None:
    data = os.urandom(300_000)
    digest = hashlib.sha256(data).hexdigest()
    wrong = ds.put(
        f"/runs/{run_id}/artifacts/data/bad.bin",
        content=data,
        headers={"X-Slipway-Sha256": "0" * 64},
    )
    assert wrong.status_code == 400
    assert wrong.json()["error"]["code"] == "digest_mismatch"
    assert ds.get(f"/runs/{run_id}/artifacts", params={"prefix": "data/"}).json()["items"] == []
    assert ds.get(f"/blobs/{digest}").status_code == 404  # nothing stored

    stored = ds.put(
        f"/runs/{run_id}/artifacts/data/good.bin",
        content=data,
        headers={"X-Slipway-Sha256": digest},
    )
    assert stored.status_code == 201, stored.text
    assert stored.json() == {
        "path": "data/good.bin",
        "digest": digest,
        "size": 300_000,
        "kind": "file",
    }

    full = ds.get(f"/runs/{run_id}/artifacts/data/good.bin")
    assert full.content == data
    assert full.headers["etag"] == f'"{digest}"'
    assert full.headers["digest"] == "sha-256=" + base64.b64encode(bytes.fromhex(digest)).decode()
    part = ds.get(f"/runs/{run_id}/artifacts/data/good.bin", headers={"Range": "bytes=100000-"})
    assert part.status_code == 206
    assert part.content == data[100_000:]
    assert part.headers["content-range"] == "bytes 100000-299999/300000"

    missing = ds.get(f"/runs/{run_id}/artifacts/data/none.bin")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_resumable_upload_session(api: ApiServer, ds: httpx.Client) -> None:
    data = os.urandom(250_000)
    digest = hashlib.sha256(data).hexdigest()
    upload = ds.post("/uploads").json()["upload_id"]
    first = ds.put(
        f"/uploads/{upload}", content=data[:100_000], headers={"Content-Range": "bytes 0-99999/*"}
    )
    assert first.json()["received"] == 100_000
    # A retried chunk that is already there is refused with where to resume.
    again = ds.put(
        f"/uploads/{upload}", content=data[:100_000], headers={"Content-Range": "bytes 0-99999/*"}
    )
    assert again.status_code == 409
    assert "100000" in again.json()["error"]["message"]
    assert ds.get(f"/uploads/{upload}").json()["received"] == 100_000
    rest = ds.put(
        f"/uploads/{upload}",
        content=data[100_000:],
        headers={"Content-Range": f"bytes 100000-{len(data) - 1}/{len(data)}"},
    )
    assert rest.json()["received"] == len(data)
    done = ds.post(f"/uploads/{upload}/complete", json={"sha256": digest})
    assert done.json() == {"digest": digest, "size": len(data)}
    assert ds.get(f"/blobs/{digest}").content == data
    # Someone else's session does not exist for them.
    with api.client("admin") as admin:
        other = admin.post("/uploads").json()["upload_id"]
    assert ds.get(f"/uploads/{other}").status_code == 404


def test_registry_reads_lineage_and_gate_report(
    api: ApiServer, ds: httpx.Client, run_id: str
) -> None:
    name = unique("model")
    report = {"passed": True, "checks": [{"name": "auc", "value": 0.93}]}
    blob = json.dumps(report).encode()
    blob_digest = hashlib.sha256(blob).hexdigest()
    assert ds.put(f"/blobs/{blob_digest}", content=blob).status_code == 200
    store = open_metadata_store(api.tracking_uri, actor="gate")
    try:
        store.models.create_version(
            name, source=f"runs:/{run_id}/model", manifest_digest=blob_digest, flavor="sklearn",
            run_id=run_id, tags={"slipway.gate_report": blob_digest},
        )  # fmt: skip
        store.models.create_version(
            name, source="x", manifest_digest=blob_digest, flavor="sklearn", parent_version=1
        )
    finally:
        store.close()
    versions = ds.get(f"/models/{name}/versions").json()["items"]
    assert [v["version"] for v in versions] == [2, 1]
    lineage = ds.get(f"/models/{name}/versions/2/lineage").json()
    assert lineage["parent"]["version"] == 1
    first = ds.get(f"/models/{name}/versions/1/lineage").json()
    assert first["run"]["info"]["run_id"] == run_id
    assert ds.get(f"/models/{name}/versions/1/gate-report").json() == report
    assert ds.get(f"/models/{name}/versions/2/gate-report").status_code == 404
    assert ds.get(f"/models/{name}/versions/3").status_code == 404
    listed = ds.get("/models", params={"name_contains": name}).json()["items"]
    assert listed[0]["latest_version"] == 2


def test_deploy_and_rollback_are_commits_by_the_owner(api: ApiServer) -> None:
    name = unique("svc")
    model = unique("served")
    store = open_metadata_store(api.tracking_uri, actor="setup")
    try:
        for _ in range(2):
            store.models.create_version(model, source="x", manifest_digest="ab" * 32, flavor="t")
    finally:
        store.close()
    with api.client("deployer") as deployer:
        for version in (1, 2):
            change = deployer.post(
                f"/deployments/prod/{name}/deploy",
                json={"model_uri": f"models:/{model}/{version}", "apply": False,
                      "reason": f"ship v{version}"},
            )  # fmt: skip
            assert change.status_code == 201, change.text
            assert change.json()["applied_by"] == "nobody"
        back = deployer.post(
            f"/deployments/prod/{name}/rollback", json={"apply": False, "reason": "bad v2"}
        )
        assert back.status_code == 201, back.text
        history = deployer.get("/deployments/history", params={"deployment": name}).json()
        missing = deployer.get(f"/deployments/prod/{name}")
    entries = history["items"]
    assert [e["action"] for e in entries] == ["rollback", "deploy", "deploy"]
    assert entries[0]["sha"] == back.json()["commit"]
    assert entries[0]["model"] == f"models:/{model}/1"
    assert all(e["author"].startswith("deployer") for e in entries)
    assert missing.status_code == 404  # no agent has reconciled it: no status yet
    with api.client("viewer") as viewer:
        timeline = viewer.get(f"/models/{model}/timeline").json()["items"]
    assert [i["version"] for i in timeline] == [1, 2, 1]


def test_monitoring_endpoints_answer_without_data(api: ApiServer) -> None:
    with api.client("viewer") as viewer:
        assert viewer.get("/monitoring/none/drift").json()["items"] == []
        assert viewer.get("/monitoring/alerts").json() == {"items": [], "next_page_token": None}
        assert viewer.get("/monitoring/none/drift", params={"window": "1 h"}).status_code == 422


def test_blob_existence_check(ds: httpx.Client) -> None:
    data = b"exists?"
    digest = hashlib.sha256(data).hexdigest()
    assert ds.head(f"/blobs/{digest}").status_code == 404
    assert ds.put(f"/blobs/{digest}", content=data).json() == {"digest": digest, "size": 7}
    assert ds.head(f"/blobs/{digest}").status_code == 200


def test_git_webhook_is_mounted_with_a_secret(tmp_path: Path) -> None:
    home = tmp_path / "hooks"
    server = start_server(home, migrated_sqlite(home), "--webhook-secret", "s3cret")
    try:
        body = json.dumps({"ref": "refs/heads/main", "after": "ab" * 20}).encode()
        signature = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            push = {"X-GitHub-Event": "push", "Content-Type": "application/json"}
            accepted = client.post(
                "/hooks/git", content=body, headers=push | {"X-Hub-Signature-256": signature}
            )
            forged = client.post(
                "/hooks/git", content=body, headers=push | {"X-Hub-Signature-256": "sha256=00"}
            )
        assert accepted.status_code == 202, accepted.text
        assert forged.status_code == 401
        assert "s3cret" not in server.output()
    finally:
        server.stop()
