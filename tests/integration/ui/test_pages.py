"""Every dashboard page over a seeded workspace, through the real app (TestClient): login and
roles, empty and error states, escaping of user text, and the rollback action's refusals."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

with warnings.catch_warnings():
    # Starlette asks for its httpx fork; the installed httpx works the same for these tests.
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from slipway.api.auth import SESSION_COOKIE
from slipway.workspace import Workspace

from .conftest import build_app
from .seed import HOSTILE, MODEL, Seeded


@pytest.fixture
def app_client(home: Path) -> Iterator[TestClient]:
    workspace = Workspace()
    with TestClient(build_app(workspace), follow_redirects=False) as client:
        yield client
    workspace.close()


def login(client: TestClient, token: str) -> None:
    response = client.post("/login", data={"token": token, "next": "/models"})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/models"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "samesite=strict" in cookie.lower()


def test_pages_redirect_to_login_until_a_token_is_given(
    app_client: TestClient, seeded: Seeded
) -> None:
    response = app_client.get("/models/fraud?x=1")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/models/fraud%3Fx%3D1"
    page = app_client.get("/login")
    assert page.status_code == 200
    assert 'name="token"' in page.text
    refused = app_client.post("/login", data={"token": "slw_nope", "next": "/"})
    assert refused.status_code == 401
    assert "not accepted" in refused.text
    assert "slw_nope" not in refused.text  # the secret is never echoed
    # An open redirect through ?next= is neutralised.
    response = app_client.post("/login", data={"token": seeded.viewer_token, "next": "//evil.com"})
    assert response.headers["location"] == "/"
    page = app_client.get("/")
    assert page.status_code == 200
    assert "vera" in page.text
    assert 'data-role="viewer"' in page.text
    out = app_client.post("/logout")
    assert out.status_code == 303
    assert app_client.get("/").status_code == 303


def test_every_page_renders_with_seeded_data(app_client: TestClient, seeded: Seeded) -> None:
    login(app_client, seeded.viewer_token)
    experiments = app_client.get("/experiments")
    assert "fraud-detection" in experiments.text
    exp_id = experiments.text.split('href="/experiments/')[1].split('"')[0]
    runs = app_client.get(f"/experiments/{exp_id}")
    assert "logreg-c1.0" in runs.text
    assert runs.text.count('name="run"') == 3
    run = app_client.get(f"/runs/{seeded.run_ids[0]}")
    for text in ("solver", "lbfgs", "accuracy", "transactions-2026-11", "notes.txt", "team"):
        assert text in run.text, text
    assert 'data-chart="metric-history"' in run.text  # loss has five steps
    assert f"/models/{MODEL}/versions/1" in run.text
    compare = app_client.get(
        "/compare", params=[("run", seeded.run_ids[0]), ("run", seeded.run_ids[1])]
    )
    assert compare.status_code == 200
    assert 'data-chart="compare-latest"' in compare.text
    assert 'data-chart="metric-history"' in compare.text
    assert '<script src="/_ui/plotly.min.js">' in compare.text
    models = app_client.get("/models")
    assert "champion → v2" in models.text
    model = app_client.get(f"/models/{MODEL}")
    assert model.text.count("<td>champion</td>") >= 2  # set by hand, and by each deploy
    version = app_client.get(f"/models/{MODEL}/versions/2")
    text = version.text
    assert 'data-testid="lineage"' in text
    assert 'data-kind="dataset"' in text
    assert 'data-kind="run"' in text
    assert "transactions-2026-11" in text
    assert "champion:accuracy" in text
    assert "PASS" in text
    assert "amount" in text
    assert "float64" in text
    assert "prod/fraud" in text  # in production since the second deploy
    deployments = app_client.get("/deployments")
    assert 'data-environment="prod"' in deployments.text
    assert "Ready=True" in deployments.text
    deployment = app_client.get("/deployments/prod/fraud")
    assert "better recall" in deployment.text
    assert "first release" in deployment.text
    assert 'data-testid="conditions"' in deployment.text
    assert "models:/fraud/2" in deployment.text
    assert 'id="rollback-button"' not in deployment.text  # a viewer
    assert "needs the deployer role" in deployment.text
    monitoring = app_client.get("/monitoring")
    assert 'href="/monitoring/fraud"' in monitoring.text
    monitor = app_client.get("/monitoring/fraud", params={"window": "1h"})
    for chart in ("drift-over-time", "drift-heatmap", "performance-over-time"):
        assert f'data-chart="{chart}"' in monitor.text, chart
    assert "fraud-drift" in monitor.text  # the alert state
    assert "labelled" in monitor.text  # label coverage
    audit = app_client.get("/audit", params={"model": MODEL})
    assert "alias.set" in audit.text
    filtered = app_client.get("/audit", params={"action": "token.create"})
    assert "alias.set" not in filtered.text.split('id="audit"')[1]


def test_user_text_is_escaped(app_client: TestClient, seeded: Seeded) -> None:
    login(app_client, seeded.viewer_token)
    for path in (f"/runs/{seeded.hostile_run_id}", "/", "/experiments/1"):
        page = app_client.get(path)
        assert HOSTILE not in page.text, path
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page.text, path
    compare = app_client.get(
        "/compare", params=[("run", seeded.hostile_run_id), ("run", seeded.run_ids[0])]
    )
    assert HOSTILE not in compare.text
    csp = compare.headers["content-security-policy"]
    assert "script-src 'self' 'nonce-" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]


def test_empty_states_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLIPWAY_HOME", str(tmp_path / "empty"))
    workspace = Workspace()
    token = workspace.store.tokens.create("eve", "viewer").secret
    with TestClient(build_app(workspace), follow_redirects=False) as client:
        client.post("/login", data={"token": token})
        assert "No runs yet" in client.get("/").text
        assert "slipway demo" in client.get("/experiments").text
        assert "No models registered yet" in client.get("/models").text
        assert "No deployments yet" in client.get("/deployments").text
        assert "No predictions logged yet" in client.get("/monitoring").text
        missing = client.get("/models/nope")
        assert missing.status_code == 404
        assert "nope" in missing.text
        assert "<html" in missing.text
        assert client.get("/runs/0123456789abcdef0123456789abcdef").status_code == 404
        bad = client.get("/monitoring/fraud", params={"window": "1s"})
        assert bad.status_code == 400
        assert "choose one of" in bad.text
        assert "No data yet" in client.get("/monitoring/fraud").text
    workspace.close()


def test_anonymous_reads_when_allowed(home: Path) -> None:
    workspace = Workspace()
    with TestClient(build_app(workspace, allow_anonymous_read=True)) as client:
        page = client.get("/models")
        assert page.status_code == 200
        assert "anonymous" in page.text
        assert 'id="rollback-button"' not in client.get("/deployments/prod/fraud").text
    workspace.close()


def test_rollback_is_refused_without_role_or_csrf_header(
    app_client: TestClient, seeded: Seeded
) -> None:
    url = "/deployments/prod/fraud/rollback"
    assert app_client.post(url, json={}, headers={"X-Slipway-CSRF": "1"}).status_code == 401
    login(app_client, seeded.viewer_token)
    as_viewer = app_client.post(url, json={}, headers={"X-Slipway-CSRF": "1"})
    assert as_viewer.status_code == 403
    assert as_viewer.json()["error"]["code"] == "forbidden"
    app_client.cookies.clear()
    login(app_client, seeded.deployer_token)
    page = app_client.get("/deployments/prod/fraud")
    assert 'id="rollback-button"' in page.text
    forged = app_client.post(url, json={"reason": "x"})  # a cross-site form: no header
    assert forged.status_code == 403
    assert "X-Slipway-CSRF" in forged.json()["error"]["message"]
    assert app_client.cookies.get(SESSION_COOKIE)


def test_plotly_is_served_locally(app_client: TestClient) -> None:
    response = app_client.get("/_ui/plotly.min.js", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert "plotly.js v" in response.text[:2000]
    again = app_client.get(
        "/_ui/plotly.min.js", headers={"If-None-Match": response.headers["etag"]}
    )
    assert again.status_code == 304
    assert app_client.get("/_ui/dashboard.css").status_code == 200
    assert app_client.get("/_ui/../../etc/passwd").status_code == 404
    assert app_client.get("/_ui/nothing.js").status_code == 404
