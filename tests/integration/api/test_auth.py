"""Roles, tokens, anonymous reads, rate limiting, CSRF and audit actors, over real servers."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from slipway.store import open_metadata_store
from slipway.store.audit import now_ms
from tests.integration.api.conftest import ROLES, ApiServer, migrated_sqlite, start_server

DATA = b"role matrix artifact\n"
SHA = hashlib.sha256(DATA).hexdigest()
RANK = {role: i for i, role in enumerate(ROLES)}


@dataclass(frozen=True)
class Fixtures:
    experiment_id: str
    run_id: str


@pytest.fixture(scope="module")
def fixtures(api: ApiServer) -> Fixtures:
    with api.client("admin") as c:
        exp = c.post("/experiments", json={"name": f"matrix-{uuid.uuid4().hex[:8]}"})
        assert exp.status_code == 201, exp.text
        run = c.post("/runs", json={"experiment_id": exp.json()["experiment_id"]})
        assert run.status_code == 201, run.text
        blob = c.put(f"/blobs/{SHA}", content=DATA)
        assert blob.status_code == 200, blob.text
    return Fixtures(exp.json()["experiment_id"], run.json()["run_id"])


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# (name, minimal role, request) — every mutating endpoint of the API.
Call = Callable[[httpx.Client, Fixtures], httpx.Response]
MUTATIONS: list[tuple[str, str, Call]] = [
    ("create token", "admin",
     lambda c, f: c.post("/tokens", json={"owner": "someone", "role": "viewer"})),
    ("revoke token", "admin", lambda c, f: c.delete("/tokens/0123456789abcdef")),
    ("create experiment", "data-scientist",
     lambda c, f: c.post("/experiments", json={"name": unique("exp")})),
    ("create run", "data-scientist",
     lambda c, f: c.post("/runs", json={"experiment_id": f.experiment_id})),
    ("log batch", "data-scientist",
     lambda c, f: c.post(f"/runs/{f.run_id}/log-batch",
                         json={"metrics": [{"key": "m", "value": 1.0}]})),
    ("log inputs", "data-scientist",
     lambda c, f: c.post(f"/runs/{f.run_id}/inputs",
                         json={"datasets": [{"name": "d", "digest": SHA}]})),
    ("end run", "data-scientist",
     lambda c, f: c.post(f"/runs/{f.run_id}/end", json={"status": "FINISHED"})),
    ("upload artifact", "data-scientist",
     lambda c, f: c.put(f"/runs/{f.run_id}/artifacts/{unique('a')}.txt", content=DATA,
                        headers={"X-Slipway-Sha256": SHA})),
    ("record artifact", "data-scientist",
     lambda c, f: c.post(f"/runs/{f.run_id}/artifacts",
                         json={"path": unique("rec"), "digest": SHA})),
    ("put blob", "data-scientist", lambda c, f: c.put(f"/blobs/{SHA}", content=DATA)),
    ("start upload", "data-scientist", lambda c, f: c.post("/uploads")),
    ("create model", "data-scientist",
     lambda c, f: c.post("/models", json={"name": unique("model")})),
    ("register version", "data-scientist",
     lambda c, f: c.post("/models/m/versions", json={"source": f"runs:/{f.run_id}/model"})),
    ("set version tag", "data-scientist",
     lambda c, f: c.put("/models/m/versions/1/tags/k", json={"value": "v"})),
    ("delete version tag", "data-scientist",
     lambda c, f: c.delete("/models/m/versions/1/tags/k")),
    ("set alias", "deployer",
     lambda c, f: c.put("/models/m/aliases/champion", json={"version": 1})),
    ("delete alias", "deployer", lambda c, f: c.delete("/models/m/aliases/champion")),
    ("deploy", "deployer",
     lambda c, f: c.post("/deployments/prod/web/deploy",
                         json={"model_uri": "models:/m/1", "apply": False})),
    ("rollback", "deployer",
     lambda c, f: c.post("/deployments/prod/web/rollback", json={"apply": False})),
]  # fmt: skip


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("name", "needed", "call"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_role_matrix(
    api: ApiServer, fixtures: Fixtures, role: str, name: str, needed: str, call: Call
) -> None:
    with api.client(role) as client:
        response = call(client, fixtures)
    if RANK[role] >= RANK[needed]:
        assert response.status_code not in (401, 403), (name, role, response.text)
        assert response.status_code < 500, (name, role, response.text)
    else:
        assert response.status_code == 403, (name, role, response.text)
        assert response.json()["error"]["code"] == "forbidden"
        assert needed in response.json()["error"]["message"]


@pytest.mark.parametrize(("name", "needed", "call"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_mutations_without_a_token_are_401(
    api: ApiServer, fixtures: Fixtures, name: str, needed: str, call: Call
) -> None:
    with api.client() as client:
        response = call(client, fixtures)
    assert response.status_code == 401, (name, response.text)
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_reads_need_a_token_by_default(api: ApiServer) -> None:
    with api.client() as client:
        response = client.get("/experiments")
    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "unauthenticated",
        "message": "authentication required: send Authorization: Bearer <token>",
        "field": None,
    }
    with api.client("viewer") as client:
        assert client.get("/experiments").status_code == 200
        assert client.get("/whoami").json() == {
            "owner": "viewer",
            "role": "viewer",
            "token_id": client.get("/whoami").json()["token_id"],
            "anonymous": False,
        }


def test_expired_and_revoked_tokens_are_refused(api: ApiServer) -> None:
    _, expiring = api.issue("shortlived", "viewer", expires_at=now_ms() + 1500)
    token_id, revoked = api.issue("leaver", "viewer")
    with api.client(Authorization=f"Bearer {expiring}") as client:
        assert client.get("/experiments").status_code == 200
        time.sleep(1.6)
        response = client.get("/experiments")
    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]
    assert expiring not in response.text

    with api.client(Authorization=f"Bearer {revoked}") as client:
        assert client.get("/experiments").status_code == 200
        with api.client("admin") as admin:
            gone = admin.delete(f"/tokens/{token_id}")
        assert gone.status_code == 200
        assert gone.json()["revoked_at"] is not None
        assert gone.json()["active"] is False
        response = client.get("/experiments")
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]["message"]


def test_token_api_shows_the_secret_once_and_never_again(api: ApiServer) -> None:
    with api.client("admin") as admin:
        created = admin.post(
            "/tokens", json={"owner": "carol", "role": "deployer", "expires_in_days": 30}
        )
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        token_id = created.json()["token"]["token_id"]
        assert secret.startswith(f"slw_{token_id}_")
        listed = admin.get("/tokens", params={"owner": "carol"})
        one = admin.get(f"/tokens/{token_id}")
    assert secret not in listed.text
    assert secret not in one.text
    assert [t["token_id"] for t in listed.json()["items"]] == [token_id]
    assert listed.json()["items"][0]["expires_at"] > now_ms() + 29 * 86_400_000
    with api.client(Authorization=f"Bearer {secret}") as carol:
        assert carol.get("/whoami").json()["role"] == "deployer"


def test_malformed_authorization_is_refused(api: ApiServer) -> None:
    with api.client(Authorization="Basic dXNlcjpwYXNz") as client:
        response = client.get("/experiments")
    assert response.status_code == 401
    assert "Bearer" in response.json()["error"]["message"]


def test_session_cookie_needs_the_csrf_header_to_change_anything(api: ApiServer) -> None:
    secret = api.tokens["data-scientist"]
    cookies = {"slipway_session": secret}
    with httpx.Client(base_url=api.url + "/api/v1", cookies=cookies, timeout=30) as client:
        assert client.get("/whoami").json()["owner"] == "data-scientist"
        forged = client.post("/experiments", json={"name": unique("forged")})
        assert forged.status_code == 403
        assert "X-Slipway-CSRF" in forged.json()["error"]["message"]
        assert secret not in forged.text
        genuine = client.post(
            "/experiments", json={"name": unique("real")}, headers={"X-Slipway-CSRF": "1"}
        )
        assert genuine.status_code == 201, genuine.text


def test_audit_actor_is_the_token_owner(api: ApiServer) -> None:
    name = unique("audited")
    with api.client("data-scientist") as ds:
        assert ds.post("/experiments", json={"name": name}).status_code == 201
    # A version made directly in the store, then its alias moved through the API.
    store = open_metadata_store(api.tracking_uri, actor="test-setup")
    try:
        store.models.create_version(name, source="test", manifest_digest=SHA, flavor="test")
    finally:
        store.close()
    with api.client("deployer") as deployer:
        moved = deployer.put(f"/models/{name}/aliases/champion", json={"version": 1})
        assert moved.status_code == 200, moved.text
        assert moved.json()["updated_by"] == "deployer"
    with api.client("viewer") as viewer:
        created = viewer.get("/audit", params={"entity_type": "experiment", "entity_key": name})
        alias = viewer.get("/audit", params={"action": "alias.set", "actor": "deployer"})
        history = viewer.get(f"/models/{name}/aliases/champion/history")
    assert [e["actor"] for e in created.json()["items"]] == ["data-scientist"]
    assert any(e["entity_key"] == f"{name}@champion" for e in alias.json()["items"])
    assert history.json()["items"][-1]["actor"] == "deployer"


def test_no_secret_in_the_server_log_or_error_bodies(api: ApiServer) -> None:
    bogus = "slw_0123456789abcdef_" + "x" * 43
    with api.client(Authorization=f"Bearer {bogus}") as client:
        refused = client.post("/experiments", json={"name": unique("nope")})
    assert refused.status_code == 401
    assert bogus not in refused.text
    assert "x" * 43 not in refused.text
    log = api.output()
    for secret in [*api.tokens.values(), bogus]:
        assert secret not in log
        assert secret.split("_", 2)[2] not in log  # the secret half may itself contain "_"


def test_anonymous_reads_only_when_allowed(api: ApiServer) -> None:
    if "sqlite" not in api.tracking_uri:
        pytest.skip("one backend is enough for a flag of the server")
    server = start_server(api.home, api.tracking_uri, "--allow-anonymous-read")
    try:
        with httpx.Client(base_url=server.url + "/api/v1", timeout=30) as client:
            assert client.get("/experiments").status_code == 200
            assert client.get("/whoami").json()["anonymous"] is True
            write = client.post("/experiments", json={"name": unique("anon")})
            assert write.status_code == 401
            assert client.get("/tokens").status_code == 401
            bad = client.get("/experiments", headers={"Authorization": "Bearer slw_nope"})
            assert bad.status_code == 401  # a bad token is never downgraded to anonymous
    finally:
        server.stop()


def test_failed_attempts_are_rate_limited(tmp_path: Path) -> None:
    home = tmp_path / "limited"
    uri = migrated_sqlite(home)
    server = start_server(home, uri, "--max-auth-failures", "3")
    try:
        _, good = server.issue("alice", "viewer")
        with httpx.Client(base_url=server.url + "/api/v1", timeout=30) as client:
            for _ in range(3):
                bad = client.get("/experiments", headers={"Authorization": "Bearer slw_guess"})
                assert bad.status_code == 401
            limited = client.get("/experiments", headers={"Authorization": "Bearer slw_guess"})
            assert limited.status_code == 429
            assert limited.json()["error"]["code"] == "too_many_attempts"
            assert 1 <= int(limited.headers["retry-after"]) <= 60
            blocked = client.get("/experiments", headers={"Authorization": f"Bearer {good}"})
            assert blocked.status_code == 429
    finally:
        server.stop()
