"""The append-only audit log. Events are written in the caller's transaction, never alone."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import Connection, Engine, Row, insert, select

from slipway.core.entities import AliasChange, AuditEvent
from slipway.store.engine import read_transaction, write_transaction
from slipway.store.schema import audit_events


def now_ms() -> int:
    return int(time.time() * 1000)


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)


def record(
    conn: Connection,
    *,
    actor: str,
    action: str,
    entity_type: str,
    entity_key: str,
    before: Any = None,
    after: Any = None,
    time_ms: int | None = None,
) -> None:
    """Append one event inside the transaction that makes the change it describes."""
    conn.execute(
        insert(audit_events).values(
            time=time_ms if time_ms is not None else now_ms(),
            actor=actor,
            action=action,
            entity_type=entity_type,
            entity_key=entity_key,
            before_json=_dump(before),
            after_json=_dump(after),
        )
    )


def _to_event(row: Row[Any]) -> AuditEvent:
    return AuditEvent(
        event_id=row.event_id,
        time=row.time,
        actor=row.actor,
        action=row.action,
        entity_type=row.entity_type,
        entity_key=row.entity_key,
        before=None if row.before_json is None else json.loads(row.before_json),
        after=None if row.after_json is None else json.loads(row.after_json),
    )


class AuditLog:
    """Reads the audit log; writing happens only through :func:`record`."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def search(
        self,
        *,
        entity_type: str | None = None,
        entity_key: str | None = None,
        key_prefix: str | None = None,
        action: str | None = None,
        actor: str | None = None,
        since: int | None = None,
        until: int | None = None,
        newest_first: bool = False,
        limit: int = 1000,
    ) -> list[AuditEvent]:
        """Events oldest first (or newest first), filtered by entity, action, actor and time
        (``since`` inclusive, ``until`` exclusive, ms)."""
        order = audit_events.c.event_id.desc() if newest_first else audit_events.c.event_id
        query = select(audit_events).order_by(order).limit(limit)
        if actor is not None:
            query = query.where(audit_events.c.actor == actor)
        if since is not None:
            query = query.where(audit_events.c.time >= since)
        if until is not None:
            query = query.where(audit_events.c.time < until)
        if entity_type is not None:
            query = query.where(audit_events.c.entity_type == entity_type)
        if entity_key is not None:
            query = query.where(audit_events.c.entity_key == entity_key)
        if key_prefix is not None:
            query = query.where(audit_events.c.entity_key.startswith(key_prefix, autoescape=True))
        if action is not None:
            query = query.where(audit_events.c.action == action)
        with read_transaction(self._engine) as conn:
            return [_to_event(r) for r in conn.execute(query)]

    def append(
        self, *, actor: str, action: str, entity_type: str, entity_key: str, after: Any = None
    ) -> None:
        """Record an event that is itself the change, with nothing else to write alongside
        (a continuous-training decision: triggered, retrained, held back by its cooldown)."""
        with write_transaction(self._engine) as conn:
            record(
                conn,
                actor=actor,
                action=action,
                entity_type=entity_type,
                entity_key=entity_key,
                after=after,
            )

    def alias_history(self, model_name: str, alias: str) -> list[AliasChange]:
        """Every move of one alias, oldest first."""
        events = self.search(entity_type="alias", entity_key=alias_key(model_name, alias))
        return [
            AliasChange(
                model_name=model_name,
                alias=alias,
                from_version=(e.before or {}).get("version"),
                to_version=(e.after or {}).get("version"),
                time=e.time,
                actor=e.actor,
            )
            for e in events
        ]


def alias_key(model_name: str, alias: str) -> str:
    return f"{model_name}@{alias}"
