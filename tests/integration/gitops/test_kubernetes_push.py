"""Push mode to a remote repository with the kubernetes target: the desired state and the
rendered manifests land in the remote, where Argo CD or Flux would read them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import kubernetes_validate
import yaml

from slipway.gitops.push import deploy
from slipway.gitops.repo import GitRepo
from slipway.workspace import Workspace

from .conftest import MODEL, Models


def clone(url: str, where: Path) -> Path:
    subprocess.run(["git", "clone", "-q", url, str(where)], check=True)
    return where


def test_deploys_render_manifests_into_the_remote(
    models: Models, home: Path, tmp_path: Path
) -> None:
    bare = tmp_path / "gitops.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    url = bare.as_uri()
    ws, repo = Workspace(), GitRepo(url, mirrors=home / "gitops-mirrors")
    first = deploy(
        ws, repo, home, name=MODEL, model_uri=f"models:/{MODEL}/1", environment="prod",
        reason="first", author="Ann <ann@example.com>", target="kubernetes",
    )  # fmt: skip
    assert first.status is not None
    assert first.status.condition("Ready").status == "True"  # type: ignore[union-attr]
    second = deploy(
        ws, repo, home, name=MODEL, model_uri=f"models:/{MODEL}/2", environment="prod",
        reason="switch", author="Ann <ann@example.com>", strategy="blue-green",
    )  # fmt: skip
    assert second.status is not None
    assert second.status.observed["champion"] == f"models:/{MODEL}/2", second.status

    checkout = clone(url, tmp_path / "checkout")
    folder = checkout / "deploy" / "kubernetes" / "prod" / MODEL
    rendered = {p.name: yaml.safe_load(p.read_text()) for p in folder.glob("*.yaml")}
    assert {"deployment.yaml", "service.yaml", "kustomization.yaml"} <= set(rendered)
    for name, obj in rendered.items():
        if name != "kustomization.yaml":
            kubernetes_validate.validate(obj, "1.30.0", strict=True)
    container = rendered["deployment.yaml"]["spec"]["template"]["spec"]["containers"][0]
    assert f"models:/{MODEL}/2" in " ".join(
        container.get("args", []) + container.get("command", [])
    )
    apps = list((checkout / "deploy" / "kubernetes" / "prod" / "_gitops").glob("*.yaml"))
    assert any(url in p.read_text() for p in apps), "the Argo CD / Flux objects name the repo"
    desired = yaml.safe_load((checkout / "deployments" / f"{MODEL}.yaml").read_text())
    assert desired["spec"]["model"]["version"] == 2
    subjects = subprocess.run(
        ["git", "-C", str(checkout), "log", "--format=%s"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert subjects[-1].startswith("deploy bc (prod): models:/bc/1")
    assert any(s.startswith("deploy bc (prod): models:/bc/2") for s in subjects)
    assert any(s.startswith("kubernetes:") for s in subjects), subjects
