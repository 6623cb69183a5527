"""Desired-state files: valid ones parse canonically, invalid ones name file, field and reason."""

from __future__ import annotations

import pytest

from slipway.deploy.spec import InvalidManifest, parse_duration, parse_manifest

DIGEST = "sha256:" + "a" * 64
GOOD = f"""
apiVersion: slipway.dev/v1
kind: Deployment
metadata: {{name: fraud, environment: prod}}
spec:
  model: {{name: fraud, version: 3, digest: "{DIGEST}"}}
  replicas: 2
  strategy:
    type: canary
    steps: [0.1, 0.5, 1.0]
    analysis: {{interval: 2m, min_samples: 20, checks: {{max_error_rate: 0.02}}}}
"""


def test_a_valid_file_parses_with_defaults() -> None:
    manifest = parse_manifest("deployments/fraud.yaml", GOOD)
    assert manifest.spec.model.uri == "models:/fraud/3"
    assert manifest.spec.strategy.type == "canary"
    assert manifest.spec.strategy.analysis.interval == 120.0  # type: ignore[union-attr]
    assert manifest.spec.target.kind == "local"
    again = parse_manifest("deployments/fraud.yaml", manifest.to_yaml())
    assert again == manifest
    assert again.to_yaml() == manifest.to_yaml()


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        ("{{{", "", "not valid YAML"),
        ("- a list", "", "YAML mapping"),
        (GOOD.replace("slipway.dev/v1", "slipway.dev/v9"), "apiVersion", "unsupported"),
        (GOOD.replace("replicas: 2", "replicas: 0"), "spec.replicas", "greater than or equal"),
        (GOOD.replace("replicas: 2", "replcas: 2"), "spec.replcas", "Extra inputs"),
        (GOOD.replace(DIGEST, "sha256:abc"), "spec.model.digest", "64 lowercase hex"),
        (
            GOOD.replace("[0.1, 0.5, 1.0]", "[0.5, 0.1, 1.0]"),
            "spec.strategy.canary.steps",
            "increase",
        ),
        (GOOD.replace("[0.1, 0.5, 1.0]", "[0.1, 0.5]"), "spec.strategy.canary.steps", "last step"),
        (GOOD.replace("type: canary", "type: rainbow"), "spec.strategy", "tag"),
        (
            GOOD.replace("interval: 2m", "interval: soon"),
            "spec.strategy.canary.analysis.interval",
            "duration",
        ),
        (
            GOOD.replace("name: fraud, environment", "name: other, environment"),
            "metadata.name",
            "must live in",
        ),
    ],
)
def test_invalid_files_name_the_field(text: str, field: str, reason: str) -> None:
    with pytest.raises(InvalidManifest) as caught:
        parse_manifest("deployments/fraud.yaml", text)
    assert caught.value.path == "deployments/fraud.yaml"
    assert caught.value.field == field
    assert reason in str(caught.value)
    assert str(caught.value).startswith("deployments/fraud.yaml: ")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30", 30.0), ("30s", 30.0), ("500ms", 0.5), ("2m", 120.0), ("1h", 3600.0), (5, 5.0)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["-1s", "soon", True, "1d"])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)
