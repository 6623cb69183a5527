"""The commits Slipway writes: deploys, rollbacks and reverts, with machine-readable trailers.

Every commit that changes what serves carries git trailers (``Slipway-Deployment``,
``Slipway-Environment``, ``Slipway-Action``, ``Slipway-Model``, ``Slipway-Digest``) so that
``slipway history`` and the registry's production timeline read ``git log`` instead of a
second database; commits written by hand without them are still understood from the files.
"""

from __future__ import annotations

from slipway.core.errors import NotFound
from slipway.deploy.spec import DeploymentFile, parse_manifest, path_for
from slipway.gitops.repo import GitRepo


def trailers(action: str, manifest: DeploymentFile | None, name: str, environment: str) -> str:
    lines = [
        f"Slipway-Deployment: {name}",
        f"Slipway-Environment: {environment}",
        f"Slipway-Action: {action}",
    ]
    if manifest is not None:
        lines += [
            f"Slipway-Model: {manifest.spec.model.uri}",
            f"Slipway-Digest: {manifest.spec.model.digest}",
            f"Slipway-Strategy: {manifest.spec.strategy.type}",
        ]
    return "\n".join(lines)


def deploy_message(manifest: DeploymentFile, reason: str, action: str = "deploy") -> str:
    model = manifest.spec.model
    subject = (
        f"{action} {manifest.name} ({manifest.environment}): {model.uri} "
        f"[{manifest.spec.strategy.type}]"
    )
    body = reason.strip() or "no reason given"
    tail = trailers(action, manifest, manifest.name, manifest.environment)
    return f"{subject}\n\n{body}\n\n{tail}\n"


def commit_manifest(repo: GitRepo, manifest: DeploymentFile, reason: str, *, author: str) -> str:
    """Write ``deployments/<name>.yaml``; returns the head (unchanged if nothing changed)."""
    path = path_for(manifest.name)
    sha = repo.commit(
        {path: manifest.to_yaml().encode()}, deploy_message(manifest, reason), author=author
    )
    assert sha is not None
    return sha


def record_rollback(
    repo: GitRepo, failed: DeploymentFile, revision: str, reason: str, *, author: str
) -> str | None:
    """Revert the commit that introduced ``failed`` (only its deployment file).

    Returns the revert's sha; None when the file no longer holds the failed state (someone
    already moved on, and their commit wins).
    """
    path = path_for(failed.name)
    changes = repo.log([path], rev=revision, max_count=1)
    if not changes:
        return None
    culprit = changes[0]
    previous = repo.show(f"{culprit.sha}^", path) if _has_parent(repo, culprit.sha) else None
    failed_text = failed.to_yaml().encode()
    message = (
        f'Revert "{culprit.subject}"\n\n'
        f"This reverts commit {culprit.sha}.\n\n"
        f"Automatic rollback of {failed.name} in {failed.environment}: {reason}\n\n"
        f"{trailers('rollback', None, failed.name, failed.environment)}\n"
        f"Slipway-Reverts: {culprit.sha}\n"
        f"Slipway-Failed-Model: {failed.spec.model.uri}\n"
    )

    def revert(head: str | None) -> dict[str, bytes | None]:
        current = None if head is None else repo.show(head, path)
        if current is None or _canonical(path, current) != failed_text:
            return {}
        return {path: previous}

    before = repo.head()
    sha = repo.commit(revert, message, author=author)
    return None if sha == before else sha


def _has_parent(repo: GitRepo, sha: str) -> bool:
    try:
        repo.resolve(f"{sha}^")
    except NotFound:  # a root commit
        return False
    return True


def _canonical(path: str, text: bytes) -> bytes:
    """A file's canonical form (hand-written YAML compares by meaning, not bytes)."""
    try:
        return parse_manifest(path, text).to_yaml().encode()
    except Exception:  # noqa: BLE001 - an invalid file compares as itself
        return text
