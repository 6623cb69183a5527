"""The control plane's FastAPI application: REST API under ``/api/v1``, OpenAPI, webhook.

``slipway server`` builds a :class:`~slipway.api.context.ServerContext`, calls
:func:`create_app`, mounts the dashboard on the same app and runs it with uvicorn.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.routing import Route

from slipway import __version__
from slipway.api.context import ServerContext
from slipway.api.errors import ERROR_RESPONSES, install_error_handlers
from slipway.api.routes import artifacts, audit, deployments, monitoring, registry, tokens, tracking
from slipway.gitops.webhook import webhook_app

API_PREFIX = "/api/v1"

DESCRIPTION = """\
The Slipway control plane: tracking, registry, deployments, monitoring and audit.

Authenticate with `Authorization: Bearer <token>` (tokens come from `slipway tokens create`).
Roles are ordered: viewer (read) < data-scientist (runs, versions) < deployer (aliases,
deployments) < admin (tokens). Every error body is
`{"error": {"code": ..., "message": ..., "field": ...}}`. List endpoints take `limit`,
`page_token` (the previous page's `next_page_token`) and `order_by` (`field [asc|desc]`).
Times are milliseconds since the epoch unless a field is an ISO 8601 date-time.
"""


class Health(BaseModel):
    status: str
    version: str


def create_app(ctx: ServerContext) -> FastAPI:
    """The API application over ``ctx`` (the dashboard is mounted on it separately)."""
    app = FastAPI(
        title="Slipway",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.ctx = ctx
    install_error_handlers(app)

    api = APIRouter(prefix=API_PREFIX, responses=ERROR_RESPONSES)

    @api.get("/health", response_model=Health, tags=["server"], summary="Liveness")
    def health() -> Health:
        return Health(status="ok", version=__version__)

    for module in (tokens, tracking, artifacts, registry, deployments, monitoring, audit):
        annotate_roles(module.router)
        api.include_router(module.router)
    app.include_router(api)

    if ctx.webhook_secret:
        hooks = webhook_app(ctx.webhook_secret, ctx.gitops_branch, ctx.on_push)
        for route in hooks.routes:
            assert isinstance(route, Route)
            app.router.routes.append(route)
    return app


def _role_of(dependant: Dependant) -> str | None:
    for sub in dependant.dependencies:
        role = getattr(sub.call, "slipway_role", None)
        if role is not None:
            return str(role)
        found = _role_of(sub)
        if found is not None:
            return found
    return None


def annotate_roles(router: APIRouter) -> None:
    """Record each operation's minimal role in OpenAPI (``x-slipway-role``) and its text.

    Idempotent: routers are module-level, and a process may create several apps."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        role = _role_of(route.dependant)
        if role is None or (route.openapi_extra or {}).get("x-slipway-role") == role:
            continue
        route.openapi_extra = {**(route.openapi_extra or {}), "x-slipway-role": role}
        note = f"Requires the `{role}` role (or higher)."
        route.description = f"{route.description}\n\n{note}".strip()
