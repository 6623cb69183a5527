"""The dashboard in a real headless Chromium against a real ``slipway server`` on 127.0.0.1,
with every request that is not to that server blocked (nothing may come from a CDN).

``UPDATE_DOCS_SCREENSHOTS=1`` also copies the page screenshots to ``docs/img/``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .seed import MODEL, Seeded

DOCS_IMG = Path(__file__).resolve().parents[3] / "docs" / "img"
pytestmark = pytest.mark.slow


def _chromium() -> str:
    executable = shutil.which("chromium")
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed in CI: run scripts/chromium-up.sh")
        pytest.skip("chromium not installed (scripts/chromium-up.sh installs Debian's)")
    return executable


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(seeded: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``slipway server`` over the seeded home; its output goes to a file shown on failure."""
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
    env |= {"SLIPWAY_HOME": str(seeded.home), "SLIPWAY_ACTOR": "server"}
    command = [sys.executable, "-m", "slipway.cli.main", "server", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"slipway server did not start:\n{log.read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.timeout(240)
def test_dashboard_end_to_end_in_chromium(seeded: Seeded, server: str, tmp_path: Path) -> None:
    from playwright.sync_api import Page, Route, sync_playwright

    executable = _chromium()
    blocked: list[str] = []
    errors: list[str] = []
    shots: list[Path] = []

    def local_only(route: Route) -> None:
        if route.request.url.startswith(server + "/"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    def new_page(browser_context: object) -> Page:
        page: Page = browser_context.new_page()  # type: ignore[attr-defined]
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.route("**/*", local_only)
        return page

    def log_in(page: Page, token: str, then: str) -> None:
        page.goto(f"{server}{then}")
        assert "/login" in page.url  # not logged in yet: redirected
        page.fill("#token", token)
        page.click("button[type=submit]")
        page.wait_for_url(f"{server}{then}")

    def shot(page: Page, name: str) -> None:
        path = tmp_path / f"dashboard-{name}.png"
        page.screenshot(path=str(path))
        shots.append(path)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        page = None
        try:
            deployer = browser.new_context(viewport={"width": 1280, "height": 800})
            page = new_page(deployer)
            page.on("dialog", lambda dialog: dialog.accept())

            # Log in with a token, then a model version's lineage.
            log_in(page, seeded.deployer_token, f"/models/{MODEL}/versions/2")
            assert page.locator("[data-testid=who]").inner_text().startswith("dan")
            lineage = page.locator("svg[data-testid=lineage]")
            lineage.wait_for()
            assert lineage.locator("g[data-kind=dataset]").count() == 1
            assert lineage.locator("g[data-kind=run]").count() == 1
            assert lineage.locator("g[data-kind=version]").count() == 1
            assert lineage.locator("line.edge").count() == 2
            shot(page, "version")

            # Roll back as a deployer: the new commit tops the production timeline.
            page.goto(f"{server}/deployments/prod/{MODEL}")
            timeline = page.locator("[data-testid=timeline] > li")
            before = timeline.count()
            top_before = timeline.first.get_attribute("data-sha")
            page.fill("#rollback-reason", "recall dropped in the canary")
            page.click("#rollback-button")
            page.wait_for_function(
                "sha => document.querySelector('[data-testid=timeline] > li')?.dataset.sha !== sha",
                arg=top_before,
                timeout=60_000,
            )
            assert timeline.count() == before + 1
            top = timeline.first
            assert "action-rollback" in (top.get_attribute("class") or "")
            # The reason the deployer typed, not git's "This reverts commit …" line.
            assert "recall dropped in the canary" in top.inner_text()
            assert "models:/fraud/1" in top.inner_text()
            assert "Ready" in page.locator("[data-testid=conditions]").inner_text()
            shot(page, "deployment")

            # Drift charts render (plotly SVG present) from the locally served plotly.js.
            page.goto(f"{server}/monitoring/{MODEL}?window=1h")
            page.wait_for_function(
                "document.querySelectorAll('.slipway-chart .plotly svg.main-svg').length >= 3",
                timeout=30_000,
            )
            for chart in ("drift-over-time", "drift-heatmap", "performance-over-time"):
                assert page.locator(f'.slipway-chart[data-chart="{chart}"] svg.main-svg').count()
            shot(page, "monitoring")

            # Compare two runs with charts.
            page.goto(f"{server}/compare?run={seeded.run_ids[0]}&run={seeded.run_ids[1]}")
            page.wait_for_selector('.slipway-chart[data-chart="compare-latest"] svg.main-svg')
            shot(page, "compare")

            # A forged request (no CSRF header) is refused even with a deployer's cookie.
            forged = page.evaluate(
                "url => fetch(url, {method: 'POST', headers: {'Content-Type': "
                "'application/json'}, body: '{}'}).then(r => r.status)",
                f"{server}/deployments/prod/{MODEL}/rollback",
            )
            assert forged == 403

            # A viewer sees no rollback button, and the request is refused with the header too.
            viewer_context = browser.new_context(viewport={"width": 1280, "height": 800})
            page = new_page(viewer_context)
            log_in(page, seeded.viewer_token, f"/deployments/prod/{MODEL}")
            assert page.locator("[data-testid=who]").inner_text().startswith("vera")
            assert page.locator("#rollback-button").count() == 0
            statuses = page.evaluate(
                """async url => {
                    const post = headers => fetch(url, {method: 'POST', body: '{}',
                        headers: {'Content-Type': 'application/json', ...headers}});
                    return [(await post({})).status,
                            (await post({'X-Slipway-CSRF': '1'})).status];
                }""",
                f"{server}/deployments/prod/{MODEL}/rollback",
            )
            assert statuses == [403, 403]
            api = page.evaluate(
                "url => fetch(url, {method: 'PUT', body: '{\"version\": 1}', headers: "
                "{'X-Slipway-CSRF': '1', 'Content-Type': 'application/json'}})"
                ".then(r => r.status)",
                f"{server}/api/v1/models/{MODEL}/aliases/champion",
            )
            assert api == 403  # the REST API holds the viewer to the same rule
            page.goto(f"{server}/audit?model={MODEL}")
            assert page.locator("#audit tbody tr").count() > 0
            shot(page, "audit")

            assert blocked == []
            # The refused requests above log "Failed to load resource … 403"; nothing else may.
            assert [e for e in errors if "status of 403" not in e] == []
        except BaseException:
            if page is not None:
                page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS"):
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        for path in shots:
            shutil.copyfile(path, DOCS_IMG / path.name)
