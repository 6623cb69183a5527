"""Deployment status rows: what each environment's reconciler last observed and decided."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from slipway.store.audit import now_ms, record
from slipway.store.engine import read_transaction, write_transaction
from slipway.store.schema import deployment_status


@dataclass(frozen=True, slots=True)
class StatusRow:
    environment: str
    name: str
    desired_revision: str | None
    observed_revision: str | None
    status: dict[str, Any]
    updated_at: int


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """An audit event written in the same transaction as the status change it explains."""

    action: str
    before: Any = None
    after: Any = None


class DeploymentStatusRepository:
    def __init__(self, engine: Engine, actor: str) -> None:
        self._engine = engine
        self._actor = actor

    def get(self, environment: str, name: str) -> StatusRow | None:
        query = select(deployment_status).where(
            deployment_status.c.environment == environment, deployment_status.c.name == name
        )
        with read_transaction(self._engine) as conn:
            row = conn.execute(query).first()
        return None if row is None else _to_row(row)

    def list(self, environment: str | None = None) -> list[StatusRow]:
        query = select(deployment_status).order_by(
            deployment_status.c.environment, deployment_status.c.name
        )
        if environment is not None:
            query = query.where(deployment_status.c.environment == environment)
        with read_transaction(self._engine) as conn:
            return [_to_row(r) for r in conn.execute(query)]

    def put(
        self,
        environment: str,
        name: str,
        *,
        desired_revision: str | None,
        observed_revision: str | None,
        status: dict[str, Any],
        audit: AuditEntry | None = None,
        actor: str | None = None,
    ) -> None:
        """Insert or replace the row (and append ``audit`` in the same transaction)."""
        values = {
            "desired_revision": desired_revision,
            "observed_revision": observed_revision,
            "status_json": json.dumps(status, sort_keys=True, default=str),
            "updated_at": now_ms(),
        }
        where = (deployment_status.c.environment == environment) & (
            deployment_status.c.name == name
        )
        with write_transaction(self._engine) as conn:
            changed = conn.execute(update(deployment_status).where(where).values(**values))
            if changed.rowcount == 0:
                conn.execute(
                    insert(deployment_status).values(environment=environment, name=name, **values)
                )
            if audit is not None:
                record(
                    conn,
                    actor=actor or self._actor,
                    action=audit.action,
                    entity_type="deployment",
                    entity_key=f"{environment}/{name}",
                    before=audit.before,
                    after=audit.after,
                )

    def delete(self, environment: str, name: str) -> None:
        with write_transaction(self._engine) as conn:
            conn.execute(
                delete(deployment_status).where(
                    deployment_status.c.environment == environment,
                    deployment_status.c.name == name,
                )
            )


def _to_row(row: Any) -> StatusRow:
    return StatusRow(
        environment=row.environment,
        name=row.name,
        desired_revision=row.desired_revision,
        observed_revision=row.observed_revision,
        status=json.loads(row.status_json),
        updated_at=row.updated_at,
    )
