"""The deployment targets of one environment, wired to this GitOps repository."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from slipway.deploy.kubernetes import KubernetesTarget
from slipway.deploy.local import LocalTarget
from slipway.deploy.target import DeploymentTarget
from slipway.gitops.repo import GitRepo


class RepoManifestStore:
    """Rendered manifests live in the GitOps repository itself, beside the desired state,
    so Argo CD or Flux apply exactly what the history shows."""

    def __init__(self, repo: GitRepo, author: str = "slipway-agent") -> None:
        self.repo = repo
        self.author = author

    def read(self, prefix: str) -> dict[str, bytes]:
        return self.repo.read_tree(self.repo.fetch(), prefix)

    def write(self, changes: Mapping[str, bytes | None], message: str) -> None:
        self.repo.commit(changes, message, author=self.author)


def make_targets(home: Path, environment: str, repo: GitRepo) -> dict[str, DeploymentTarget]:
    """Every target kind a desired-state file may name, for ``environment``."""
    url = repo.source if repo.remote else ""
    return {
        "local": LocalTarget(home, environment),
        "kubernetes": KubernetesTarget(
            RepoManifestStore(repo), environment, repo_url=url, branch=repo.branch
        ),
    }
