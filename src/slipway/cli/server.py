"""``slipway server`` (control plane: API, dashboard, webhook) and ``slipway tokens …``."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Annotated

import typer

from slipway.api.auth import Role
from slipway.cli.context import Json, TrackingUri, open_workspace
from slipway.cli.gitops import Branch, Repo
from slipway.cli.output import console, err_console, print_json, print_table
from slipway.core.errors import InvalidInput

tokens_app = typer.Typer(help="API tokens of the control-plane server.", no_args_is_help=True)

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([hdw]?)$")
_UNIT_MS = {"h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000, "": 86_400_000}


def server(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 5000,
    allow_anonymous_read: Annotated[
        bool,
        typer.Option(
            "--allow-anonymous-read",
            help="Let requests without a token read (viewer); changes still need a token.",
        ),
    ] = False,
    repo: Repo = None,
    branch: Branch = "main",
    webhook_secret: Annotated[
        str | None,
        typer.Option(
            envvar="SLIPWAY_WEBHOOK_SECRET",
            help="Shared secret of POST /hooks/git (GitHub/GitLab push webhook).",
        ),
    ] = None,
    max_auth_failures: Annotated[
        int, typer.Option(min=1, help="Failed authentications per client and minute.")
    ] = 10,
    tracking_uri: TrackingUri = None,
) -> None:
    """Run the control plane: REST API (/api/v1, /docs), dashboard and git webhook."""
    import uvicorn

    from slipway.api.app import create_app
    from slipway.api.auth import Authenticator, FailureLimiter
    from slipway.api.context import ServerContext
    from slipway.ui import mount_dashboard

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    workspace = open_workspace(tracking_uri)
    if workspace.is_remote:
        raise InvalidInput(
            f"the server needs a database, not another server: the tracking URI is "
            f"{workspace.tracking_uri} (remote mode); point --tracking-uri / "
            "SLIPWAY_TRACKING_URI at sqlite:///… or postgresql+psycopg://…, or unset it"
        )
    store = workspace.store  # fail now, not at the first request, if the schema is behind
    authenticator = Authenticator(
        store.tokens,
        allow_anonymous_read=allow_anonymous_read,
        limiter=FailureLimiter(max_failures=max_auth_failures),
    )
    ctx = ServerContext(
        workspace=workspace,
        authenticator=authenticator,
        gitops_repo=repo,
        gitops_branch=branch,
        webhook_secret=webhook_secret,
    )
    app = create_app(ctx)
    mount_dashboard(app, ctx)
    if not store.tokens.list(include_revoked=False) and not allow_anonymous_read:
        err_console.print(
            "[yellow]no API tokens yet:[/yellow] create one with "
            "`slipway tokens create --owner <you> --role admin`",
            highlight=False,
        )
    try:
        uvicorn.run(app, host=host, port=port, log_level="info", server_header=False)
    finally:
        workspace.close()


def parse_expiry(text: str, now: datetime | None = None) -> int:
    """``30d``, ``12h``, ``2w``, ``30`` (days) or an ISO 8601 time: expiry in ms."""
    now = now or datetime.now(UTC)
    match = _DURATION.match(text.strip())
    if match is not None:
        amount = float(match.group(1))
        if amount <= 0:
            raise InvalidInput(f"--expires-in must be positive, got {text!r}")
        return int(now.timestamp() * 1000 + amount * _UNIT_MS[match.group(2)])
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"--expires-in takes 30d, 12h, 2w or an ISO 8601 time, got {text!r}"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def _time(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


@tokens_app.command("create")
def create(
    owner: Annotated[str, typer.Option(help="Whose token: recorded as the actor of changes.")],
    role: Annotated[Role, typer.Option(help="viewer, data-scientist, deployer or admin.")],
    expires_in: Annotated[
        str | None, typer.Option(help="30d, 12h, 2w, or an ISO 8601 time; default: never.")
    ] = None,
    description: Annotated[str, typer.Option(help="What the token is for.")] = "",
    tracking_uri: TrackingUri = None,
    json: Json = False,
) -> None:
    """Issue a token directly in the metadata store; its secret is printed this once."""
    workspace = open_workspace(tracking_uri)
    try:
        issued = workspace.store.tokens.create(
            owner,
            role.value,
            expires_at=None if expires_in is None else parse_expiry(expires_in),
            description=description,
        )
    finally:
        workspace.close()
    token = issued.token
    if json:
        print_json(
            {"token_id": token.token_id, "owner": owner, "role": role.value,
             "expires_at": token.expires_at, "secret": issued.secret}
        )  # fmt: skip
        return
    err_console.print(
        f"token {token.token_id} for {owner} ({role.value}), expires {_time(token.expires_at)}; "
        "the secret below is shown only now:",
        highlight=False,
    )
    console.print(issued.secret, highlight=False, soft_wrap=True)


@tokens_app.command("list")
def list_tokens(
    owner: Annotated[str | None, typer.Option(help="Only this owner's tokens.")] = None,
    all_tokens: Annotated[bool, typer.Option("--all", help="Include revoked tokens.")] = False,
    tracking_uri: TrackingUri = None,
    json: Json = False,
) -> None:
    """Tokens (never their secrets, which are not stored)."""
    workspace = open_workspace(tracking_uri)
    try:
        tokens = workspace.store.tokens.list(owner=owner, include_revoked=all_tokens)
    finally:
        workspace.close()
    if json:
        print_json(tokens)
        return
    print_table(
        "API tokens",
        ["id", "owner", "role", "created (UTC)", "expires (UTC)", "revoked (UTC)", "description"],
        (
            (
                t.token_id,
                t.owner,
                t.role,
                _time(t.created_at),
                _time(t.expires_at),
                _time(t.revoked_at),
                t.description,
            )
            for t in tokens
        ),
    )


@tokens_app.command("revoke")
def revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (from `slipway tokens list`).")],
    tracking_uri: TrackingUri = None,
) -> None:
    """Revoke a token: it stops working at once."""
    workspace = open_workspace(tracking_uri)
    try:
        token = workspace.store.tokens.revoke(token_id)
    finally:
        workspace.close()
    console.print(f"revoked {token.token_id} ({token.owner}, {token.role})")
