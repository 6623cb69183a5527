"""Settings from the environment: an empty variable means "not set" (CI passes unset secrets
as empty strings), so the embedded default still applies and migrates itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from slipway.core.settings import Settings
from slipway.serving.settings import ServeSettings


def test_empty_variables_mean_unset(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SLIPWAY_HOME", str(tmp_path))
    monkeypatch.setenv("SLIPWAY_TRACKING_URI", "")
    monkeypatch.setenv("SLIPWAY_ARTIFACT_URI", "")
    settings = Settings()
    assert settings.tracking_uri is None
    assert settings.is_embedded_default
    assert settings.resolved_tracking_uri().startswith("sqlite:///")
    monkeypatch.setenv("SLIPWAY_SERVE_ADMIN_TOKEN", "")
    monkeypatch.setenv("SLIPWAY_SERVE_PORT", "")
    serve = ServeSettings()
    assert serve.admin_token is None
    assert serve.port == 8080
