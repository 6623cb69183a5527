"""The detector's desired-state example parses and renders valid Kubernetes objects."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate

from slipway.deploy.kubernetes import render_dockerfile
from slipway.deploy.manifests import Routing, render_objects
from slipway.deploy.spec import ModelPin, parse_manifest

EXAMPLE = Path(__file__).parents[3] / "examples/detection/deployments/detector.yaml"
BUILT_IN = {"ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"}


def test_example_parses_as_a_canary_of_version_2() -> None:
    manifest = parse_manifest("deployments/detector.yaml", EXAMPLE.read_text())
    assert manifest.spec.model.uri == "models:/detector/2"
    assert manifest.spec.strategy.type == "canary"


def test_rendered_objects_and_dockerfile_are_valid() -> None:
    manifest = parse_manifest("deployments/detector.yaml", EXAMPLE.read_text())
    champion = ModelPin(name="detector", version=1, digest="sha256:" + "1" * 64)
    routing = Routing(champion, manifest.spec.model, weight=0.1)
    rendered = render_objects(manifest, routing)
    kinds = set()
    for obj in rendered.values():
        if obj.get("kind") in BUILT_IN:
            kubernetes_validate.validate(obj, "1.30.0", strict=True)
            kinds.add(obj["kind"])
    assert {"Deployment", "Service", "ConfigMap"} <= kinds
    dockerfile = render_dockerfile(version="0.1.0", extras=("vision",))
    assert "slipway[vision]==${SLIPWAY_VERSION}" in dockerfile  # LiteRT + Pillow; no weights
    assert "USER" in dockerfile
