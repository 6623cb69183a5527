"""The model registry: registered models, versions, tags and aliases.

Every mutation locks the registered model's row first (``SELECT … FOR UPDATE`` on PostgreSQL;
``BEGIN IMMEDIATE`` already serialises writers on SQLite), so version numbers and alias moves
of one model are serialised, and writes its audit event in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError as SqlIntegrityError
from sqlalchemy.exc import OperationalError

from slipway.core.entities import Alias, ModelVersion, RegisteredModel
from slipway.core.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from slipway.core.names import check_alias, check_key, check_name
from slipway.store.audit import alias_key, now_ms, record
from slipway.store.engine import read_transaction, write_transaction
from slipway.store.schema import (
    aliases,
    model_tags,
    model_version_tags,
    model_versions,
    registered_models,
)

T = TypeVar("T")
_RETRIES = 5


class ModelRepository:
    def __init__(self, engine: Engine, actor: str) -> None:
        self._engine = engine
        self._actor = actor

    # -- registered models -----------------------------------------------------------------

    def create_model(
        self, name: str, *, description: str = "", tags: dict[str, str] | None = None
    ) -> RegisteredModel:
        check_name("model", name)
        tags = {check_key("tag", k): str(v) for k, v in (tags or {}).items()}
        try:
            with write_transaction(self._engine) as conn:
                self._insert_model(conn, name, description, tags)
        except SqlIntegrityError:
            raise AlreadyExists(f"registered model {name!r} already exists") from None
        return self.get_model(name)

    def _insert_model(
        self, conn: Connection, name: str, description: str, tags: dict[str, str]
    ) -> None:
        created = now_ms()
        conn.execute(
            insert(registered_models).values(
                name=name, description=description, created_at=created, updated_at=created
            )
        )
        if tags:
            conn.execute(
                insert(model_tags), [{"name": name, "key": k, "value": v} for k, v in tags.items()]
            )
        record(
            conn,
            actor=self._actor,
            action="model.create",
            entity_type="model",
            entity_key=name,
            after={"description": description, "tags": tags},
            time_ms=created,
        )

    def get_model(self, name: str) -> RegisteredModel:
        with read_transaction(self._engine) as conn:
            row = conn.execute(
                select(registered_models).where(registered_models.c.name == name)
            ).first()
            if row is None:
                raise NotFound(f"registered model {name!r} not found")
            return self._to_model(conn, row)

    def list_models(self) -> list[RegisteredModel]:
        with read_transaction(self._engine) as conn:
            rows = conn.execute(select(registered_models).order_by(registered_models.c.name))
            return [self._to_model(conn, r) for r in rows.all()]

    def update_model_description(self, name: str, description: str) -> RegisteredModel:
        with write_transaction(self._engine) as conn:
            before = self._lock_model(conn, name)
            conn.execute(
                update(registered_models)
                .where(registered_models.c.name == name)
                .values(description=description, updated_at=now_ms())
            )
            record(
                conn,
                actor=self._actor,
                action="model.update",
                entity_type="model",
                entity_key=name,
                before={"description": before.description},
                after={"description": description},
            )
        return self.get_model(name)

    def set_model_tag(self, name: str, key: str, value: str | None) -> None:
        """Set a tag; ``value=None`` deletes it."""
        check_key("tag", key)
        with write_transaction(self._engine) as conn:
            self._lock_model(conn, name)
            where = (model_tags.c.name == name, model_tags.c.key == key)
            old = conn.execute(select(model_tags.c.value).where(*where)).scalar()
            conn.execute(delete(model_tags).where(*where))
            if value is not None:
                conn.execute(insert(model_tags).values(name=name, key=key, value=str(value)))
            record(
                conn,
                actor=self._actor,
                action="model.tag" if value is not None else "model.untag",
                entity_type="model",
                entity_key=name,
                before={key: old},
                after={key: value},
            )

    # -- versions --------------------------------------------------------------------------

    def create_version(
        self,
        name: str,
        *,
        source: str,
        manifest_digest: str,
        flavor: str,
        run_id: str | None = None,
        signature: dict[str, Any] | None = None,
        code_version: str | None = None,
        code_dirty: bool | None = None,
        parent_version: int | None = None,
        dataset_digests: tuple[str, ...] = (),
        description: str = "",
        tags: dict[str, str] | None = None,
    ) -> ModelVersion:
        """Add the next version of ``name``, creating the registered model if needed."""
        check_name("model", name)
        tags = {check_key("tag", k): str(v) for k, v in (tags or {}).items()}

        def attempt() -> int:
            with write_transaction(self._engine) as conn:
                exists = conn.execute(
                    select(registered_models.c.name).where(registered_models.c.name == name)
                ).first()
                if exists is None:
                    self._insert_model(conn, name, "", {})
                self._lock_model(conn, name)
                if parent_version is not None:
                    self._version_row(conn, name, parent_version)
                number = (
                    conn.execute(
                        select(func.max(model_versions.c.version)).where(
                            model_versions.c.name == name
                        )
                    ).scalar()
                    or 0
                ) + 1
                created = now_ms()
                row = {
                    "name": name,
                    "version": number,
                    "created_at": created,
                    "created_by": self._actor,
                    "source": source,
                    "manifest_digest": manifest_digest,
                    "flavor": flavor,
                    "run_id": run_id,
                    "description": description,
                    "signature_json": None if signature is None else json.dumps(signature),
                    "code_version": code_version,
                    "code_dirty": code_dirty,
                    "parent_version": parent_version,
                    "dataset_digests": json.dumps(list(dataset_digests)),
                }
                conn.execute(insert(model_versions).values(**row))
                if tags:
                    conn.execute(
                        insert(model_version_tags),
                        [
                            {"name": name, "version": number, "key": k, "value": v}
                            for k, v in tags.items()
                        ],
                    )
                conn.execute(
                    update(registered_models)
                    .where(registered_models.c.name == name)
                    .values(updated_at=created)
                )
                record(
                    conn,
                    actor=self._actor,
                    action="model_version.create",
                    entity_type="model_version",
                    entity_key=f"{name}/{number}",
                    after={k: v for k, v in row.items() if k not in ("signature_json",)},
                    time_ms=created,
                )
                return number

        # Two first registrations of one name race on the INSERT; the loser retries.
        return self.get_version(name, _retry(attempt))

    def get_version(self, name: str, version: int | str) -> ModelVersion:
        with read_transaction(self._engine) as conn:
            return self._to_version(conn, self._version_row(conn, name, version))

    def get_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        with read_transaction(self._engine) as conn:
            number = conn.execute(
                select(aliases.c.version).where(aliases.c.name == name, aliases.c.alias == alias)
            ).scalar()
            if number is None:
                self._model_row(conn, name)
                raise NotFound(f"model {name!r} has no alias {alias!r}")
            return self._to_version(conn, self._version_row(conn, name, number))

    def search_versions(
        self,
        name: str | None = None,
        *,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
        limit: int = 1000,
    ) -> list[ModelVersion]:
        """Versions newest first, filtered by model name, source run and exact tag values."""
        query = (
            select(model_versions)
            .order_by(model_versions.c.name, model_versions.c.version.desc())
            .limit(limit)
        )
        if name is not None:
            query = query.where(model_versions.c.name == name)
        if run_id is not None:
            query = query.where(model_versions.c.run_id == run_id)
        for key, value in (tags or {}).items():
            tagged = select(model_version_tags.c.name).where(
                model_version_tags.c.name == model_versions.c.name,
                model_version_tags.c.version == model_versions.c.version,
                model_version_tags.c.key == key,
                model_version_tags.c.value == value,
            )
            query = query.where(tagged.exists())
        with read_transaction(self._engine) as conn:
            return [self._to_version(conn, r) for r in conn.execute(query).all()]

    def update_version_description(self, name: str, version: int, description: str) -> None:
        with write_transaction(self._engine) as conn:
            self._lock_model(conn, name)
            before = self._version_row(conn, name, version)
            conn.execute(
                update(model_versions)
                .where(model_versions.c.name == name, model_versions.c.version == int(version))
                .values(description=description)
            )
            record(
                conn,
                actor=self._actor,
                action="model_version.update",
                entity_type="model_version",
                entity_key=f"{name}/{version}",
                before={"description": before.description},
                after={"description": description},
            )

    def set_version_tag(self, name: str, version: int, key: str, value: str | None) -> None:
        """Set a version tag; ``value=None`` deletes it."""
        check_key("tag", key)
        with write_transaction(self._engine) as conn:
            self._lock_model(conn, name)
            self._version_row(conn, name, version)
            where = (
                model_version_tags.c.name == name,
                model_version_tags.c.version == int(version),
                model_version_tags.c.key == key,
            )
            old = conn.execute(select(model_version_tags.c.value).where(*where)).scalar()
            conn.execute(delete(model_version_tags).where(*where))
            if value is not None:
                conn.execute(
                    insert(model_version_tags).values(
                        name=name, version=int(version), key=key, value=str(value)
                    )
                )
            record(
                conn,
                actor=self._actor,
                action="model_version.tag" if value is not None else "model_version.untag",
                entity_type="model_version",
                entity_key=f"{name}/{version}",
                before={key: old},
                after={key: value},
            )

    # -- aliases ---------------------------------------------------------------------------

    def set_alias(self, name: str, alias: str, version: int | str) -> Alias:
        """Point ``alias`` at ``version``, atomically moving it from its previous holder."""
        check_alias(alias)

        def attempt() -> Alias:
            with write_transaction(self._engine) as conn:
                self._lock_model(conn, name)
                number = self._version_row(conn, name, version).version
                where = (aliases.c.name == name, aliases.c.alias == alias)
                previous = conn.execute(select(aliases.c.version).where(*where)).scalar()
                now = now_ms()
                if previous is None:
                    conn.execute(
                        insert(aliases).values(
                            name=name,
                            alias=alias,
                            version=number,
                            updated_at=now,
                            updated_by=self._actor,
                        )
                    )
                else:
                    conn.execute(
                        update(aliases)
                        .where(*where)
                        .values(version=number, updated_at=now, updated_by=self._actor)
                    )
                record(
                    conn,
                    actor=self._actor,
                    action="alias.set",
                    entity_type="alias",
                    entity_key=alias_key(name, alias),
                    before=None if previous is None else {"version": previous},
                    after={"version": number},
                    time_ms=now,
                )
                return Alias(name, alias, number, now, self._actor)

        return _retry(attempt)

    def delete_alias(self, name: str, alias: str) -> None:
        check_alias(alias)
        with write_transaction(self._engine) as conn:
            self._lock_model(conn, name)
            where = (aliases.c.name == name, aliases.c.alias == alias)
            previous = conn.execute(select(aliases.c.version).where(*where)).scalar()
            if previous is None:
                raise NotFound(f"model {name!r} has no alias {alias!r}")
            conn.execute(delete(aliases).where(*where))
            record(
                conn,
                actor=self._actor,
                action="alias.delete",
                entity_type="alias",
                entity_key=alias_key(name, alias),
                before={"version": previous},
                after=None,
            )

    def list_aliases(self, name: str) -> list[Alias]:
        with read_transaction(self._engine) as conn:
            self._model_row(conn, name)
            rows = conn.execute(
                select(aliases).where(aliases.c.name == name).order_by(aliases.c.alias)
            )
            return [Alias(r.name, r.alias, r.version, r.updated_at, r.updated_by) for r in rows]

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _model_row(conn: Connection, name: str) -> Row[Any]:
        row = conn.execute(
            select(registered_models).where(registered_models.c.name == name)
        ).first()
        if row is None:
            raise NotFound(f"registered model {name!r} not found")
        return row

    def _lock_model(self, conn: Connection, name: str) -> Row[Any]:
        row = conn.execute(
            select(registered_models).where(registered_models.c.name == name).with_for_update()
        ).first()
        if row is None:
            raise NotFound(f"registered model {name!r} not found")
        return row

    def _version_row(self, conn: Connection, name: str, version: int | str) -> Row[Any]:
        number = _version_number(version)
        row = conn.execute(
            select(model_versions).where(
                model_versions.c.name == name, model_versions.c.version == number
            )
        ).first()
        if row is None:
            self._model_row(conn, name)
            raise NotFound(f"model {name!r} has no version {number}")
        return row

    @staticmethod
    def _to_model(conn: Connection, row: Row[Any]) -> RegisteredModel:
        tags = {
            r.key: r.value
            for r in conn.execute(select(model_tags).where(model_tags.c.name == row.name))
        }
        alias_map = {
            r.alias: r.version
            for r in conn.execute(select(aliases).where(aliases.c.name == row.name))
        }
        latest = conn.execute(
            select(func.max(model_versions.c.version)).where(model_versions.c.name == row.name)
        ).scalar()
        return RegisteredModel(
            name=row.name,
            created_at=row.created_at,
            updated_at=row.updated_at,
            description=row.description,
            tags=tags,
            aliases=alias_map,
            latest_version=latest,
        )

    @staticmethod
    def _to_version(conn: Connection, row: Row[Any]) -> ModelVersion:
        tags = {
            r.key: r.value
            for r in conn.execute(
                select(model_version_tags).where(
                    model_version_tags.c.name == row.name,
                    model_version_tags.c.version == row.version,
                )
            )
        }
        alias_names = tuple(
            conn.execute(
                select(aliases.c.alias)
                .where(aliases.c.name == row.name, aliases.c.version == row.version)
                .order_by(aliases.c.alias)
            ).scalars()
        )
        return ModelVersion(
            name=row.name,
            version=row.version,
            created_at=row.created_at,
            created_by=row.created_by,
            source=row.source,
            manifest_digest=row.manifest_digest,
            flavor=row.flavor,
            run_id=row.run_id,
            description=row.description,
            signature=None if row.signature_json is None else json.loads(row.signature_json),
            code_version=row.code_version,
            code_dirty=row.code_dirty,
            parent_version=row.parent_version,
            dataset_digests=tuple(json.loads(row.dataset_digests)),
            tags=tags,
            aliases=alias_names,
        )


def _version_number(version: int | str) -> int:
    try:
        number = int(version)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"invalid model version {version!r}: expected a positive integer"
        ) from None
    if number < 1:
        raise InvalidInput(f"invalid model version {version!r}: expected a positive integer")
    return number


def _retry(attempt: Callable[[], T]) -> T:
    """Run a write transaction again when it lost a race (unique violation or deadlock)."""
    for i in range(_RETRIES):
        try:
            return attempt()
        except (SqlIntegrityError, OperationalError) as exc:
            if i == _RETRIES - 1:
                raise Conflict(
                    f"write kept conflicting with concurrent writers: {exc.orig}"
                ) from None
    raise AssertionError("unreachable")
