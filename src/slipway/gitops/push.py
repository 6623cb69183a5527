"""Push mode: ``slipway deploy`` and ``slipway rollback`` from a laptop or CI.

Both write the commit first — so teams without an agent still get the history — and then,
unless an agent holds the environment, apply it directly by running the same reconciler the
agent runs, for that one deployment, until it settles (a canary walks its steps in the
foreground, with the same analysis and the same automatic rollback).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from slipway.core.errors import Conflict, InvalidInput, NotFound
from slipway.deploy.spec import (
    Analysis,
    BlueGreen,
    Canary,
    DeploymentFile,
    DeploymentSpec,
    Metadata,
    ModelPin,
    Recreate,
    Shadow,
    Target,
    parse_manifest,
    path_for,
)
from slipway.gitops.agent import Agent, environment_lock
from slipway.gitops.commits import commit_manifest, trailers
from slipway.gitops.repo import GitRepo
from slipway.gitops.status import DeploymentStatus
from slipway.registry import RegistryClient
from slipway.workspace import Workspace

STRATEGIES = ("recreate", "canary", "shadow", "blue-green")
_RETRIES = 3


@dataclass(frozen=True, slots=True)
class PushResult:
    commit: str
    manifest: DeploymentFile | None
    status: DeploymentStatus | None
    """None when an agent holds the environment and applies the commit itself."""
    applied_by_agent: bool = False


def pin_model(workspace: Workspace, model_uri: str) -> ModelPin:
    """Resolve a registry URI (alias, version, latest) to the exact version and digest."""
    digest, version = RegistryClient(workspace).resolve(model_uri)
    if version is None:
        raise InvalidInput(
            f"deploy a registry URI (models:/name@alias or /version), not {model_uri}"
        )
    return ModelPin(name=version.name, version=version.version, digest=f"sha256:{digest}")


def current_manifest(repo: GitRepo, name: str) -> DeploymentFile | None:
    head = repo.fetch()
    if head is None:
        return None
    text = repo.show(head, path_for(name))
    return None if text is None else parse_manifest(path_for(name), text)


def _strategy(kind: str, analysis: Analysis | None, steps: tuple[float, ...] | None) -> object:
    if kind == "recreate":
        return Recreate(type="recreate")
    if kind == "blue-green":
        return BlueGreen(type="blue-green")
    extra: dict[str, object] = {} if analysis is None else {"analysis": analysis}
    if kind == "canary":
        return Canary(type="canary", **({"steps": steps} if steps else {}), **extra)
    if kind == "shadow":
        return Shadow(type="shadow", **extra)
    raise InvalidInput(f"unknown strategy {kind!r}; choose one of {', '.join(STRATEGIES)}")


def build_manifest(
    existing: DeploymentFile | None,
    *,
    name: str,
    environment: str,
    model: ModelPin,
    strategy: str | None = None,
    analysis: Analysis | None = None,
    steps: tuple[float, ...] | None = None,
    target: str | None = None,
    replicas: int | None = None,
) -> DeploymentFile:
    """The new desired state: the existing file with the new model (and any overrides)."""
    if existing is not None and existing.environment != environment:
        raise Conflict(
            f"deployment {name!r} belongs to environment {existing.environment!r}, not "
            f"{environment!r}; deployment names are unique across environments"
        )
    try:
        spec = existing.spec if existing is not None else DeploymentSpec(model=model)
        updates: dict[str, object] = {"model": model}
        if strategy is not None or analysis is not None or steps is not None:
            kind = strategy or spec.strategy.type
            updates["strategy"] = _strategy(kind, analysis, steps)
        if target is not None:
            updates["target"] = Target(kind=target)
        if replicas is not None:
            updates["replicas"] = replicas
        new_spec = DeploymentSpec.model_validate({**spec.model_dump(), **_dumped(updates)})
        metadata = existing.metadata if existing else Metadata(name=name, environment=environment)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"])
        raise InvalidInput(f"invalid deployment {name!r}: {field}: {error['msg']}") from None
    return DeploymentFile(metadata=metadata, spec=new_spec)


def _dumped(updates: dict[str, object]) -> dict[str, object]:
    return {k: v.model_dump() if hasattr(v, "model_dump") else v for k, v in updates.items()}


def apply(
    agent: Agent,
    name: str,
    *,
    timeout: float,
    on_status: Callable[[DeploymentStatus], None] | None = None,
) -> DeploymentStatus | None:
    """Reconcile ``name`` until it settles (not Progressing) or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    status = None
    retries = 0
    while True:
        status = agent.run_once(only=name).get(name)
        if on_status is not None and status is not None:
            on_status(status)
        if status is None or time.monotonic() > deadline:
            return status
        progressing = status.condition("Progressing")
        ready = status.condition("Ready")
        failed = ready is not None and ready.reason == "ReconcileFailed"
        if failed and retries < _RETRIES:
            retries += 1  # transient (a server busy, a push race): try again shortly
        elif progressing is None or progressing.status != "True":
            return status
        time.sleep(0.5)


def _finish(
    workspace: Workspace,
    repo: GitRepo,
    home: Path,
    commit: str,
    manifest: DeploymentFile | None,
    *,
    name: str,
    environment: str,
    author: str,
    apply_now: bool,
    timeout: float,
    wait: bool = True,
    on_status: Callable[[DeploymentStatus], None] | None = None,
) -> PushResult:
    """After the commit: apply it now, unless told not to or an agent holds the environment
    (it then applies the commit itself)."""
    if not apply_now:
        return PushResult(commit, manifest, None, applied_by_agent=True)
    agent = Agent(environment, repo, workspace, home=home, actor=author)
    try:
        with environment_lock(home, environment):
            if wait:
                status = apply(agent, name, timeout=timeout, on_status=on_status)
            else:
                status = agent.run_once(only=name).get(name)
    except Conflict:
        return PushResult(commit, manifest, None, applied_by_agent=True)
    return PushResult(commit, manifest, status)


def deploy(
    workspace: Workspace,
    repo: GitRepo,
    home: Path,
    *,
    name: str,
    model_uri: str,
    environment: str,
    reason: str,
    author: str,
    strategy: str | None = None,
    analysis: Analysis | None = None,
    steps: tuple[float, ...] | None = None,
    target: str | None = None,
    replicas: int | None = None,
    apply_now: bool = True,
    wait: bool = True,
    timeout: float = 600.0,
    on_status: Callable[[DeploymentStatus], None] | None = None,
) -> PushResult:
    """Commit the new desired state for ``name``, then apply it (unless an agent will)."""
    pin = pin_model(workspace, model_uri)
    manifest = build_manifest(
        current_manifest(repo, name),
        name=name,
        environment=environment,
        model=pin,
        strategy=strategy,
        analysis=analysis,
        steps=steps,
        target=target,
        replicas=replicas,
    )
    sha = commit_manifest(repo, manifest, reason, author=author)
    return _finish(
        workspace, repo, home, sha, manifest, name=name, environment=environment,
        author=author, apply_now=apply_now, timeout=timeout, wait=wait, on_status=on_status,
    )  # fmt: skip


def rollback(
    workspace: Workspace,
    repo: GitRepo,
    home: Path,
    *,
    name: str,
    environment: str,
    to: str | None,
    reason: str,
    author: str,
    apply_now: bool = True,
    timeout: float = 600.0,
    on_status: Callable[[DeploymentStatus], None] | None = None,
) -> PushResult:
    """Revert ``name``'s last change (or restore it as of ``to``), commit, then apply."""
    path = path_for(name)
    head = repo.fetch()
    if head is None or repo.show(head, path) is None:
        raise NotFound(f"no deployment {name!r} in {repo.describe()}")
    if to is not None:
        rev = repo.resolve(to)
        restored = repo.show(rev, path)
        if restored is None:
            raise NotFound(f"deployment {name!r} did not exist at {to}")
        undone = f"restores {name} as of {rev}"
    else:
        changes = repo.log([path], rev=head, max_count=1)
        culprit = changes[0]
        try:
            restored = repo.show(repo.resolve(f"{culprit.sha}^"), path)
        except NotFound:
            restored = None
        if restored is None:
            raise InvalidInput(
                f"{culprit.sha[:12]} created {name!r}: there is no earlier state to roll back "
                "to (delete the file to remove the deployment)"
            )
        rev = culprit.sha
        undone = f'Revert "{culprit.subject}"\n\nThis reverts commit {culprit.sha}.'
    manifest = parse_manifest(path, restored)
    if manifest.environment != environment:
        raise Conflict(f"deployment {name!r} is in environment {manifest.environment!r}")
    message = (
        f"{undone}\n\nRollback of {name} in {environment} to {manifest.spec.model.uri}: "
        f"{reason.strip() or 'no reason given'}\n\n"
        f"{trailers('rollback', manifest, name, environment)}\nSlipway-Reverts: {rev}\n"
    )
    if to is not None:
        message = f"rollback {name} ({environment}) to {rev[:12]}\n\n" + message
    sha = repo.commit({path: restored}, message, author=author)
    assert sha is not None
    return _finish(
        workspace, repo, home, sha, manifest, name=name, environment=environment,
        author=author, apply_now=apply_now, timeout=timeout, on_status=on_status,
    )  # fmt: skip


def undeploy(
    workspace: Workspace,
    repo: GitRepo,
    home: Path,
    *,
    name: str,
    environment: str,
    reason: str,
    author: str,
    apply_now: bool = True,
    timeout: float = 120.0,
) -> PushResult:
    """Remove ``deployments/<name>.yaml`` (a commit), then stop what runs for it."""
    path = path_for(name)
    head = repo.fetch()
    text = None if head is None else repo.show(head, path)
    if text is None:
        raise NotFound(f"no deployment {name!r} in {repo.describe()}")
    manifest = parse_manifest(path, text)
    if manifest.environment != environment:
        raise Conflict(f"deployment {name!r} is in environment {manifest.environment!r}")
    message = (
        f"undeploy {name} ({environment})\n\n{reason.strip() or 'no reason given'}\n\n"
        f"{trailers('delete', None, name, environment)}\n"
    )
    sha = repo.commit({path: None}, message, author=author)
    assert sha is not None
    return _finish(
        workspace, repo, home, sha, None, name=name, environment=environment,
        author=author, apply_now=apply_now, timeout=timeout,
    )  # fmt: skip
