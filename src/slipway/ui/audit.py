"""The audit log: newest first, filtered by actor, action, model and time, paged by event id."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from slipway.core.entities import AuditEvent
from slipway.core.errors import InvalidInput
from slipway.ui.errors import DashboardRoute
from slipway.ui.paging import limit_for, page_of
from slipway.ui.session import Viewer, context
from slipway.ui.templating import render

router = APIRouter(include_in_schema=False, route_class=DashboardRoute)
PER_PAGE = 50
MAX_PAGE = 100
"""Pages go back 5,000 events; narrow the filters (time, actor) to reach older ones."""


@router.get("/audit")
def audit(
    request: Request,
    principal: Viewer,
    actor: str = "",
    action: str = "",
    model: str = "",
    since: str = "",
    until: str = "",
    page: int = 1,
) -> Response:
    log = context(request).workspace.store.audit
    name = model.strip()
    wanted = limit_for(min(max(1, page), MAX_PAGE), PER_PAGE)
    rows = log.search(
        actor=actor.strip() or None,
        action=action.strip() or None,
        since=_ms(since, "since"),
        until=_ms(until, "until", end_of_day=True),
        key_prefix=name or None,
        newest_first=True,
        # The model filter is a prefix match refined here ("fraud" must not match "fraud2").
        limit=wanted if not name else wanted * 4,
    )
    if name:
        rows = [e for e in rows if _names_model(e, name)]
    query = {"actor": actor, "action": action, "model": model, "since": since, "until": until}
    events = page_of(rows, min(max(1, page), MAX_PAGE), PER_PAGE, sorted(query.items()))
    actions = sorted({e.action for e in log.search(newest_first=True, limit=500)})
    return render(
        request,
        "audit.html",
        principal,
        events=events.items,
        page=events,
        filters=query,
        actions=actions,
    )


def _names_model(event: AuditEvent, name: str) -> bool:
    """Whether the event's key is the model's: ``name``, ``name/3`` or ``name@champion``."""
    key = event.entity_key
    return key == name or key.startswith((f"{name}/", f"{name}@"))


def _ms(text: str, field: str, *, end_of_day: bool = False) -> int | None:
    """``YYYY-MM-DD`` (a whole day, UTC) or an ISO timestamp, as epoch milliseconds."""
    value = text.strip()
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{field}: {value!r} is not a date (YYYY-MM-DD) or time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    millis = int(moment.timestamp() * 1000)
    if end_of_day and len(value) == 10:
        millis += 86_400_000
    return millis
