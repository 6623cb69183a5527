"""What one control-plane server works against: stores, authentication, the GitOps repo."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from slipway.api.auth import Authenticator
from slipway.artifacts import ArtifactStore
from slipway.gitops.repo import GitRepo
from slipway.gitops.webhook import PushEvent
from slipway.store import MetadataStore
from slipway.workspace import Workspace

logger = logging.getLogger("slipway.api")


class ActorWorkspace(Workspace):
    """A view of a workspace whose writes are recorded as ``actor``.

    It shares the engine (connection pool) and the artifact store of its base; only the
    repositories, which carry the actor, are its own. One is made per request, so the audit
    actor is the caller's and never leaks between concurrent requests. Closing it is a no-op:
    the base owns the connections.
    """

    def __init__(self, base: Workspace, actor: str) -> None:
        super().__init__(settings=base.settings.model_copy(update={"actor": actor}))
        shared = base.store
        self._actor_store = MetadataStore(shared.uri, shared.engine, actor)
        self._base = base

    @property
    def store(self) -> MetadataStore:
        return self._actor_store

    @property
    def artifacts(self) -> ArtifactStore:
        return self._base.artifacts

    def close(self) -> None:
        """Nothing to release: the base workspace owns the engine."""


@dataclass
class ServerContext:
    """Everything the API's endpoints (and the dashboard) need, built once per server."""

    workspace: Workspace
    authenticator: Authenticator
    gitops_repo: str | None = None
    """GitOps repository path or URL; None: ``<SLIPWAY_HOME>/gitops`` as the CLI's default."""
    gitops_branch: str = "main"
    webhook_secret: str | None = None
    """Shared secret of ``POST /hooks/git``; None: the webhook receiver is not mounted."""
    git_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    """Serialises this process's fetches and commits of the GitOps repository (one mirror)."""

    @property
    def home(self) -> Path:
        return self.workspace.settings.home.resolve()

    def workspace_as(self, actor: str) -> Workspace:
        """The workspace with ``actor`` recorded on every write (the token's owner)."""
        return ActorWorkspace(self.workspace, actor)

    def gitops(self) -> GitRepo:
        """The GitOps repository, resolved as ``slipway deploy --repo`` resolves it."""
        home = self.home
        if self.gitops_repo is None:
            return GitRepo.default(home, branch=self.gitops_branch)
        return GitRepo(self.gitops_repo, branch=self.gitops_branch, mirrors=home / "gitops-mirrors")

    def gitops_head(self, repo: GitRepo) -> str | None:
        """Fetch (remote: from origin) and return the branch head; None for an empty repo."""
        with self.git_lock:
            return repo.fetch()

    def on_push(self, event: PushEvent) -> None:
        """A verified push: refresh the mirror now so history and rollbacks see the commit
        (an agent watching the environment gets its own webhook or polls)."""
        logger.info("push to %s (%s) from %s", event.ref, event.after[:12], event.provider)

        def refresh() -> None:
            try:
                with self.git_lock:
                    self.gitops().fetch()
            except Exception:  # a failed refresh is retried by the next request's fetch
                logger.exception("refreshing the GitOps repository after a push failed")

        threading.Thread(target=refresh, name="gitops-refresh", daemon=True).start()
