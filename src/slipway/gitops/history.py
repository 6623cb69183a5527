"""Production history, read from ``git log`` of the desired state — no second record to drift.

``history`` lists every change to ``deployments/*.yaml`` (who, when, which version, why);
``version_timeline`` turns the same list into each model version's time in production, which
the registry shows per version.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from slipway.deploy.spec import DEPLOYMENTS_DIR, InvalidManifest, parse_manifest
from slipway.gitops.repo import Commit, GitRepo

_OWN_TRAILER = "Slipway-"


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    sha: str
    time: int
    author: str
    deployment: str
    environment: str
    action: str
    """deploy, rollback, promote, delete, or edit (a hand-written commit)."""
    model: str | None
    """``models:/name/version`` the deployment serves after this commit (None: removed)."""
    strategy: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Interval:
    deployment: str
    environment: str
    version: int
    start: int
    end: int | None
    """None while the version still serves."""
    sha: str
    reason: str


def _reason(commit: Commit) -> str:
    """The first paragraph of the body that says why: not our trailers, and not git's
    "This reverts commit <sha>." line of a revert (the rollback's reason follows it)."""
    body = "\n".join(
        line for line in commit.body.splitlines() if not line.startswith(_OWN_TRAILER)
    ).strip()
    for paragraph in body.split("\n\n"):
        if paragraph.strip() and not paragraph.startswith("This reverts commit"):
            return paragraph.strip()
    return commit.subject


def history(
    repo: GitRepo,
    *,
    environment: str | None = None,
    deployment: str | None = None,
    max_count: int = 200,
) -> list[HistoryEntry]:
    """Changes to the desired state, newest first."""
    entries = []
    paths = [f"{DEPLOYMENTS_DIR}/{deployment}.yaml"] if deployment else [DEPLOYMENTS_DIR]
    for commit in repo.log(paths, max_count=max_count):
        for path in commit.paths:
            pure = PurePosixPath(path)
            if pure.parent != PurePosixPath(DEPLOYMENTS_DIR) or pure.suffix != ".yaml":
                continue
            entry = _entry(repo, commit, path, pure.stem)
            if environment is not None and entry.environment != environment:
                continue
            entries.append(entry)
    return entries


def _entry(repo: GitRepo, commit: Commit, path: str, name: str) -> HistoryEntry:
    content = repo.show(commit.sha, path)
    action = commit.trailers.get("Slipway-Action", "edit")
    env = commit.trailers.get("Slipway-Environment", "")
    model = strategy = None
    if content is None:
        action = "delete" if action == "edit" else action
    else:
        try:
            manifest = parse_manifest(path, content)
        except InvalidManifest:
            action = "invalid"
        else:
            model, strategy = manifest.spec.model.uri, manifest.spec.strategy.type
            env = manifest.environment
    return HistoryEntry(
        sha=commit.sha,
        time=commit.time,
        author=f"{commit.author} <{commit.email}>",
        deployment=name,
        environment=env or "prod",
        action=action,
        model=model,
        strategy=strategy,
        reason=_reason(commit),
    )


def version_timeline(entries: list[HistoryEntry], model_name: str) -> list[Interval]:
    """When each version of ``model_name`` was the desired production model, oldest first.

    ``entries`` as :func:`history` returns them (newest first).

    Built from the desired state's history; the rollout itself (a canary that failed and was
    reverted) shows as a short interval ended by the rollback commit.
    """
    intervals: list[Interval] = []
    open_by_key: dict[tuple[str, str], Interval] = {}
    for entry in reversed(entries):  # git log order: newest first, exact even within a second
        key = (entry.deployment, entry.environment)
        current = open_by_key.pop(key, None)
        if current is not None:
            intervals.append(_close(current, entry.time))
        if entry.model is None or not entry.model.startswith(f"models:/{model_name}/"):
            continue
        version = int(entry.model.rsplit("/", 1)[1])
        if current is not None and current.version == version:
            open_by_key[key] = current  # an edit that kept the version: one interval
            intervals.pop()
            continue
        open_by_key[key] = Interval(
            entry.deployment, entry.environment, version, entry.time, None, entry.sha, entry.reason
        )
    intervals.extend(open_by_key.values())
    return intervals


def _close(interval: Interval, end: int) -> Interval:
    return Interval(
        interval.deployment,
        interval.environment,
        interval.version,
        interval.start,
        end,
        interval.sha,
        interval.reason,
    )
