"""The HTML monitoring report, built from a real registry, prediction log and label store, and
rendered in a real headless Chromium with every network request blocked."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from slipway.monitoring.alerts import AlertState, AlertStatus, RuleState, save_state
from slipway.monitoring.labels import ingest_labels
from slipway.monitoring.report import build_report, write_report
from slipway.serving.predlog import PredictionLog, PredictionRecord
from slipway.workspace import Workspace

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
EXPECTED_CHARTS = 5  # two distributions, drift share, drift heatmap, performance
HOSTILE = "<script>alert('x')</script> & co"


def _register(profile: bool) -> tuple[Path, int]:
    """A fraud classifier (with a reference profile unless told) and two hours of its log:
    the second hour shifted, with a country never seen in training."""
    from sklearn.linear_model import LogisticRegression

    import slipway as sw
    from slipway.monitoring.profile import attach_profile, compute_profile

    home = Path(os.environ["SLIPWAY_HOME"])
    rng = np.random.default_rng(1)
    train = pd.DataFrame(
        {"amount": rng.normal(50, 10, 3000), "country": rng.choice(["fr", "de"], 3000)}
    )
    y = (train["amount"] > 50).astype(int).to_numpy()
    with sw.start_run():
        model = LogisticRegression().fit(train[["amount"]], y)
        logged = sw.log_model(model, "model")
    version = sw.register_model(logged.model_uri, "fraud").version
    if profile:
        attach_profile(Workspace(), "fraud", version, compute_profile(train, prediction=y))
    shifted = np.arange(1200) >= 600
    amounts = np.where(shifted, rng.normal(80, 10, 1200), rng.normal(50, 10, 1200))
    scores = model.predict_proba(pd.DataFrame({"amount": amounts}))[:, 1]
    log = PredictionLog(home / "logs")
    log.start()
    for i in range(1200):
        country = str(rng.choice(["fr", "de", "us"] if shifted[i] else ["fr", "de"]))
        log.submit(
            PredictionRecord(
                f"r{i}",
                int((T0 + timedelta(seconds=6 * i)).timestamp() * 1000),
                "fraud",
                "fraud",
                version,
                "champion",
                1.0,
                200,
                {"amount": [float(amounts[i])], "country": [country]},
                {"label": [int(scores[i] > 0.5)], "score": [float(scores[i])]},
            )
        )
    log.close()
    return home, version


@pytest.fixture
def monitored() -> Path:
    """The fraud deployment with a profile, labels for every tenth request and an alert
    state with one rule firing and one resolved; returns SLIPWAY_HOME."""
    home, _ = _register(profile=True)
    truth = pd.DataFrame(
        {"request_id": [f"r{i}" for i in range(0, 1200, 10)], "label": [1, 0] * 60}
    )
    ingest_labels(home / "labels", "fraud", truth, log_root=home / "logs")
    at = T0 + timedelta(hours=2)
    state = AlertState(
        {
            "fraud-drift": RuleState(
                AlertStatus.FIRING, since=at, last_notified=at, notifications=1, value=0.5
            ),
            "fraud-accuracy": RuleState(value=0.93),
        }
    )
    save_state(home / "alerts" / "state.json", state)
    return home


class _Tags(HTMLParser):
    """Every script and link tag's src/href, and every chart container."""

    def __init__(self) -> None:
        super().__init__()
        self.references: list[str] = []
        self.charts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in ("script", "link", "img", "iframe"):
            self.references += [v for k, v in attrs if k in ("src", "href") and v]
        if "slipway-chart" in (found.get("class") or "").split():
            self.charts.append(found.get("data-chart") or "")


def _parse(document: str) -> _Tags:
    tags = _Tags()
    tags.feed(document)
    return tags


def test_report_has_every_section_offline_and_escaped(monitored: Path) -> None:
    document = build_report(
        Workspace(),
        "fraud",
        window="1h",
        alerts_state=monitored / "alerts" / "state.json",
        title=HOSTILE,
    )
    tags = _parse(document)
    assert not [r for r in tags.references if r.lower().startswith(("http:", "https:", "//"))]
    assert "<link" not in document.lower()  # no stylesheets, no web fonts
    assert HOSTILE not in document
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co" in document
    assert sorted(tags.charts) == [
        "distribution",
        "distribution",
        "drift-heatmap",
        "drift-over-time",
        "performance-over-time",
    ]
    assert document.count("* plotly.js v") == 1  # the library inlined once, for all charts
    assert "models:/fraud/1" in document
    assert "2026-11-20 10:00 UTC to 2026-11-20 12:00 UTC" in document
    assert '<div class="feature drifted"><h3>amount (drifted' in document
    assert '<div class="feature drifted"><h3>country (drifted' in document
    assert "us (new)" in document
    assert "120 of 1200 predictions labelled" in document
    assert '<tr class="firing"><td>fraud-drift</td><td>firing</td>' in document
    assert "<td>fraud-accuracy</td><td>ok</td>" in document


def test_unknown_deployment_says_there_is_no_data(tmp_path: Path) -> None:
    document = build_report(Workspace(), "nobody", alerts_state=tmp_path / "missing.json")
    assert "No data yet" in document
    assert "no predictions" in document
    assert "No alert rule has been evaluated yet." in document
    assert _parse(document).charts == []
    corrupt = tmp_path / "state.json"
    corrupt.write_text("{not json")
    document = build_report(Workspace(), "nobody", alerts_state=corrupt)
    assert "cannot read alert state" in document


def test_version_without_profile_explains_how_to_attach_one() -> None:
    _register(profile=False)
    document = build_report(Workspace(), "fraud")
    assert "has no reference profile" in document
    assert "attach_profile(" in document
    assert "No alert state file given." in document
    assert "No labels yet" in document
    charts = _parse(document).charts
    assert "distribution" not in charts
    assert "drift-over-time" not in charts
    assert "performance-over-time" in charts  # CBPE estimates need no labels nor profile


@pytest.mark.timeout(120)
def test_report_renders_in_headless_chromium_without_network(
    monitored: Path, tmp_path: Path
) -> None:
    executable = shutil.which("chromium")
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed in CI: run scripts/chromium-up.sh")
        pytest.skip("chromium not installed (scripts/chromium-up.sh installs Debian's)")
    from playwright.sync_api import Route, sync_playwright

    report = write_report(
        Workspace(),
        "fraud",
        output=tmp_path / "out" / "report.html",
        alerts_state=monitored / "alerts" / "state.json",
    )
    blocked: list[str] = []
    errors: list[str] = []

    def only_files(route: Route) -> None:
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.route("**/*", only_files)
            page.goto(report.as_uri(), wait_until="load", timeout=60_000)
            try:
                page.wait_for_function(
                    f"document.querySelectorAll('.slipway-chart .plotly svg.main-svg')"
                    f".length >= {EXPECTED_CHARTS}",
                    timeout=30_000,
                )
                rendered = page.eval_on_selector_all(
                    ".slipway-chart",
                    "els => els.map(e => [e.dataset.chart, "
                    "e.querySelectorAll('.plotly svg.main-svg').length])",
                )
                assert len(rendered) == EXPECTED_CHARTS
                assert all(count >= 1 for _, count in rendered), rendered
                points = page.locator(
                    '.slipway-chart[data-chart="drift-over-time"] .scatterlayer path.point'
                ).count()
                assert points == 2  # one marker per hour
                cells = page.locator(
                    '.slipway-chart[data-chart="drift-heatmap"] .heatmaplayer image'
                ).count()
                assert cells >= 1
                bars = page.locator(
                    '.slipway-chart[data-chart="distribution"] .barlayer path'
                ).count()
                assert bars > 0
                assert blocked == []
                assert errors == []
            except BaseException:
                page.screenshot(path=str(tmp_path / "report-failure.png"), full_page=True)
                raise
        finally:
            browser.close()
