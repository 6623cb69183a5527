"""Errors on dashboard pages: a domain error becomes a page saying what went wrong, with the
status the REST API would answer."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from fastapi.routing import APIRoute

from slipway.api.errors import status_for
from slipway.core.errors import SlipwayError


class DashboardRoute(APIRoute):
    """A page route whose domain errors render the error page (not the API's JSON body)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except SlipwayError as exc:
                from slipway.ui.session import session_principal
                from slipway.ui.templating import render

                status, _ = status_for(exc)
                return render(
                    request,
                    "error.html",
                    session_principal(request),
                    status_code=status,
                    message=str(exc),
                    status=status,
                )

        return handle
