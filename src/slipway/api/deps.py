"""FastAPI dependencies: the server context, the caller and their role, list parameters.

Credentials are ``Authorization: Bearer <token>`` or the dashboard's session cookie. A
mutating request authenticated by the cookie must also send ``X-Slipway-CSRF: 1``: a browser
attaches cookies to cross-site form posts, but a cross-site page cannot add a custom header
without a CORS preflight, which this server never grants.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from slipway.api.auth import CSRF_HEADER, SESSION_COOKIE, Principal, Role
from slipway.api.context import ServerContext
from slipway.core.errors import Forbidden, Unauthenticated
from slipway.workspace import Workspace

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="slw_<id>_<secret>",
    description="An API token (`slipway tokens create`).",
)


def server_context(request: Request) -> ServerContext:
    ctx = request.app.state.ctx
    assert isinstance(ctx, ServerContext)
    return ctx


def require(role: Role) -> Callable[..., Principal]:
    """A dependency that authenticates the caller and checks that their role allows ``role``."""

    def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        ctx = server_context(request)
        secret = credentials.credentials if credentials is not None else None
        via_cookie = False
        if secret is None:
            if request.headers.get("authorization"):
                raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
            cookie = request.cookies.get(SESSION_COOKIE)
            if cookie:
                secret, via_cookie = cookie, True
        unsafe = request.method not in SAFE_METHODS
        if via_cookie and unsafe and request.headers.get(CSRF_HEADER) != "1":
            raise Forbidden(
                f"a change made with the session cookie must send the header "
                f"{CSRF_HEADER}: 1 (refused as a possible cross-site request)"
            )
        client = request.client.host if request.client is not None else "unknown"
        principal = ctx.authenticator.authenticate(secret, client)
        if not principal.role.allows(role):
            if principal.is_anonymous:
                raise Unauthenticated(f"authentication required: this needs the {role} role")
            raise Forbidden(
                f"{principal.owner}'s token has the {principal.role} role; this needs {role}"
            )
        return principal

    dependency.__name__ = f"require_{role.name.lower()}"
    dependency.slipway_role = role  # type: ignore[attr-defined]  # read by app.annotate_roles
    return dependency


Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
DataScientist = Annotated[Principal, Depends(require(Role.DATA_SCIENTIST))]
Deployer = Annotated[Principal, Depends(require(Role.DEPLOYER))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
Context = Annotated[ServerContext, Depends(server_context)]


def acting_workspace(ctx: ServerContext, principal: Principal) -> Workspace:
    """The workspace whose audit events name the caller."""
    return ctx.workspace_as(principal.owner)
