"""Who is looking: the session cookie set by the login page, read on every page.

The cookie holds the API token itself (HttpOnly, SameSite=Strict), so the dashboard and the
REST API authenticate a browser the same way, through the server's one ``Authenticator``.
A page without a valid session redirects to the login page, unless the server allows
anonymous reads (then the visitor is a viewer).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from slipway.api.auth import CSRF_HEADER, SESSION_COOKIE, Principal
from slipway.api.context import ServerContext
from slipway.core.errors import TooManyAttempts, Unauthenticated
from slipway.ui.templating import render

__all__ = ["CSRF_HEADER", "Viewer", "context", "session_principal", "viewer"]


class LoginRequired(Exception):
    """Raised by a page dependency; the dashboard's handler redirects to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def context(request: Request) -> ServerContext:
    ctx: ServerContext = request.app.state.ctx
    return ctx


def client_of(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def session_principal(request: Request) -> Principal | None:
    """The principal of the session cookie (anonymous without one, where the server allows
    anonymous reads); None when nobody is logged in or the cookie's token no longer works."""
    token = request.cookies.get(SESSION_COOKIE) or None
    try:
        return context(request).authenticator.authenticate(token, client_of(request))
    except (Unauthenticated, TooManyAttempts):
        return None


def viewer(request: Request) -> Principal:
    """Page dependency: the logged-in principal (or an anonymous viewer where allowed)."""
    principal = session_principal(request)
    if principal is not None:
        return principal
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    raise LoginRequired(target)


Viewer = Annotated[Principal, Depends(viewer)]


def login_redirect(request: Request, exc: Exception) -> Response:
    next_path = exc.next_path if isinstance(exc, LoginRequired) else "/"
    return RedirectResponse(f"/login?next={quote(next_path, safe='/')}", status_code=303)


def _safe_next(next_path: str) -> str:
    # Only a path on this server: "//host" or "https://…" would make the login an open redirect.
    if not next_path.startswith("/") or next_path.startswith("//") or "\\" in next_path:
        return "/"
    return next_path


router = APIRouter(include_in_schema=False)


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", session_principal(request), next=_safe_next(next))


@router.post("/login")
def login(
    request: Request,
    token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    target = _safe_next(next)
    secret = token.strip()
    try:
        if not secret:
            raise Unauthenticated("paste an API token")
        context(request).authenticator.authenticate(secret, client_of(request))
    except TooManyAttempts as exc:
        return render(request, "login.html", None, status_code=429, next=target, error=str(exc))
    except Unauthenticated:
        message = (
            "That token was not accepted: it may be mistyped, revoked or expired. "
            "Create one with `slipway tokens create`."
        )
        if not secret:
            message = "Paste an API token to log in."
        return render(request, "login.html", None, status_code=401, next=target, error=message)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
