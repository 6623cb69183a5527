"""Desired state of one environment at one revision: the valid files and the invalid ones."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import yaml

from slipway.deploy.spec import DEPLOYMENTS_DIR, DeploymentFile, InvalidManifest, parse_manifest
from slipway.gitops.repo import GitRepo


@dataclass(frozen=True, slots=True)
class DesiredState:
    revision: str | None
    deployments: dict[str, DeploymentFile] = field(default_factory=dict)
    invalid: dict[str, InvalidManifest] = field(default_factory=dict)
    """Files that failed to parse, by the deployment name their file name gives. Nothing of
    them is applied, and what runs for that name is left alone (never deleted)."""

    @property
    def names(self) -> set[str]:
        return set(self.deployments) | set(self.invalid)


def _environment_of(text: bytes) -> str | None:
    """The environment an unparseable file meant, if its YAML says; None if unreadable."""
    try:
        doc: Any = yaml.safe_load(text)
        env = doc["metadata"].get("environment", "prod")
    except Exception:  # noqa: BLE001 - any shape of broken file
        return None
    return env if isinstance(env, str) else None


def load_desired(repo: GitRepo, revision: str | None, environment: str) -> DesiredState:
    """Parse every ``deployments/*.yaml`` at ``revision`` that belongs to ``environment``."""
    state = DesiredState(revision)
    for path, text in sorted(repo.read_tree(revision, DEPLOYMENTS_DIR).items()):
        pure = PurePosixPath(path)
        if pure.suffix not in (".yaml", ".yml") or pure.parent != PurePosixPath(DEPLOYMENTS_DIR):
            continue
        try:
            manifest = parse_manifest(path, text)
        except InvalidManifest as exc:
            env = _environment_of(text)
            if env is None or env == environment:
                state.invalid[pure.stem] = exc
            continue
        if manifest.environment == environment:
            state.deployments[manifest.name] = manifest
    return state
