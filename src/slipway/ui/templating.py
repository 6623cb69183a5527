"""Jinja2 templates of the dashboard: autoescaped, loaded from the package, with time filters."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from slipway.api.auth import Principal, Role

_env = Environment(
    loader=PackageLoader("slipway.ui", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _ms(value: int | None) -> str:
    """Milliseconds since the epoch (the stores' unit) as a UTC timestamp."""
    if value is None:
        return ""
    return datetime.fromtimestamp(value / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _seconds(value: float | None) -> str:
    if not value:
        return ""
    return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(start: int | None, end: int | None) -> str:
    if start is None or end is None:
        return ""
    seconds = max(0, end - start) // 1000
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60}m"


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


_env.filters["ms"] = _ms
_env.filters["seconds"] = _seconds
_env.filters["number"] = _number
_env.globals["duration"] = _duration


def nonce(request: Request) -> str:
    """This response's script nonce: only scripts carrying it run (see the CSP below)."""
    found: str | None = getattr(request.state, "script_nonce", None)
    if found is None:
        found = secrets.token_urlsafe(16)
        request.state.script_nonce = found
    return found


def with_nonce(html: str, value: str) -> str:
    """Let the inline scripts of plotly's ``to_html`` output run under the page's CSP.

    Only trusted fragments (figures, the monitoring report's sections) pass through here; any
    user text in them is already escaped, so it cannot contain a ``<script>`` tag.
    """
    return html.replace("<script>", f'<script nonce="{value}">')


def render(
    request: Request,
    template: str,
    principal: Principal | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """One page: ``template`` with the logged-in principal and the navigation's active part."""
    value = nonce(request)
    html = _env.get_template(template).render(
        request=request,
        principal=principal,
        can_deploy=principal is not None and principal.role.allows(Role.DEPLOYER),
        path=request.url.path,
        nonce=value,
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=security_headers(value))


def security_headers(script_nonce: str) -> dict[str, str]:
    # Everything comes from this process: no script, style or image from anywhere else, and
    # no inline script but ours (plotly injects inline styles, hence 'unsafe-inline' there).
    policy = (
        f"default-src 'self'; script-src 'self' 'nonce-{script_nonce}'; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }
