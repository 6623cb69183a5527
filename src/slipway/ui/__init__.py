"""The web dashboard: server-rendered pages mounted on the control plane's FastAPI app.

Pages read the stores directly (through the server's workspace, the GitOps repository and the
monitoring modules); the one action, rolling back a deployment, is a JSON POST from the
dashboard's script carrying the session cookie and the CSRF header.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from slipway.api.context import ServerContext


def mount_dashboard(app: FastAPI, ctx: ServerContext) -> None:
    """Add the dashboard's pages and static assets to ``app`` (the REST API's application)."""
    from slipway.ui import (
        assets,
        audit,
        deployments,
        experiments,
        home,
        models,
        monitoring,
        session,
    )

    app.state.ctx = ctx
    for part in (assets, session, home, experiments, models, deployments, monitoring, audit):
        app.include_router(part.router)
    app.include_router(deployments.actions)
    app.add_exception_handler(session.LoginRequired, session.login_redirect)
