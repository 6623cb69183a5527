"""The audit log (viewer): who changed what and when, filterable, newest first by default."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from slipway.api.deps import Context, Viewer
from slipway.api.pagination import MAX_SCAN, Paging, encode_token, sort_spec
from slipway.api.schemas import AuditEventOut, AuditPage

router = APIRouter(tags=["audit"])
Millis = Annotated[int | None, Query(ge=0, le=2**53, description="ms since the epoch.")]


@router.get("/audit", response_model=AuditPage, summary="Audit events")
def audit_events(
    principal: Viewer,
    ctx: Context,
    page: Paging,
    actor: Annotated[str | None, Query(max_length=255)] = None,
    action: Annotated[str | None, Query(max_length=64, description="e.g. alias.set")] = None,
    entity_type: Annotated[str | None, Query(max_length=32, description="e.g. model")] = None,
    entity_key: Annotated[str | None, Query(max_length=512)] = None,
    key_prefix: Annotated[str | None, Query(max_length=512)] = None,
    since: Millis = None,
    until: Millis = None,
) -> AuditPage:
    _, descending = sort_spec(page.order_by, ["time"], "time desc")
    offset = page.offset
    events = ctx.workspace.store.audit.search(
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_key=entity_key,
        key_prefix=key_prefix,
        since=since,
        until=until,
        newest_first=descending,
        limit=min(offset + page.limit + 1, MAX_SCAN),
    )
    chunk = events[offset : offset + page.limit]
    more = len(events) > offset + page.limit
    return AuditPage(
        items=[AuditEventOut.of(e) for e in chunk],
        next_page_token=encode_token(offset + page.limit) if more else None,
    )
