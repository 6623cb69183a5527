"""Experiments: named groups of runs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, Row, delete, insert, select
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from slipway.core.entities import Experiment
from slipway.core.errors import AlreadyExists, InvalidInput, NotFound
from slipway.core.names import check_key, check_name
from slipway.store.audit import now_ms, record
from slipway.store.engine import read_transaction, write_transaction
from slipway.store.schema import experiment_tags, experiments


def _experiment_id(value: str | int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"invalid experiment id {value!r}: expected an integer") from None


class ExperimentRepository:
    def __init__(self, engine: Engine, actor: str) -> None:
        self._engine = engine
        self._actor = actor

    def create(self, name: str, tags: dict[str, str] | None = None) -> Experiment:
        check_name("experiment", name)
        tags = {check_key("tag", k): str(v) for k, v in (tags or {}).items()}
        try:
            with write_transaction(self._engine) as conn:
                created = now_ms()
                exp_id = conn.execute(
                    insert(experiments).values(name=name, created_at=created)
                ).inserted_primary_key[0]  # type: ignore[index]
                if tags:
                    conn.execute(
                        insert(experiment_tags),
                        [{"experiment_id": exp_id, "key": k, "value": v} for k, v in tags.items()],
                    )
                record(
                    conn,
                    actor=self._actor,
                    action="experiment.create",
                    entity_type="experiment",
                    entity_key=name,
                    after={"experiment_id": str(exp_id), "tags": tags},
                    time_ms=created,
                )
        except SqlIntegrityError:
            raise AlreadyExists(f"experiment {name!r} already exists") from None
        return Experiment(str(exp_id), name, created, tags)

    def get(self, experiment_id: str | int) -> Experiment:
        row_filter = experiments.c.experiment_id == _experiment_id(experiment_id)
        return self._one(row_filter, f"experiment id {experiment_id}")

    def get_by_name(self, name: str) -> Experiment:
        return self._one(experiments.c.name == name, f"experiment {name!r}")

    def get_or_create(self, name: str) -> Experiment:
        try:
            return self.get_by_name(name)
        except NotFound:
            pass
        try:
            return self.create(name)
        except AlreadyExists:  # created by someone else in between
            return self.get_by_name(name)

    def search(self) -> list[Experiment]:
        with read_transaction(self._engine) as conn:
            rows = conn.execute(select(experiments).order_by(experiments.c.experiment_id)).all()
            tags = self._tags(conn, [r.experiment_id for r in rows])
        return [_to_experiment(r, tags.get(r.experiment_id, {})) for r in rows]

    def set_tag(self, experiment_id: str, key: str, value: str) -> None:
        exp = self.get(experiment_id)
        check_key("tag", key)
        with write_transaction(self._engine) as conn:
            conn.execute(
                delete(experiment_tags).where(
                    experiment_tags.c.experiment_id == int(exp.experiment_id),
                    experiment_tags.c.key == key,
                )
            )
            conn.execute(
                insert(experiment_tags).values(
                    experiment_id=int(exp.experiment_id), key=key, value=str(value)
                )
            )

    def _one(self, where: Any, what: str) -> Experiment:
        with read_transaction(self._engine) as conn:
            row = conn.execute(select(experiments).where(where)).first()
            if row is None:
                raise NotFound(f"{what} not found")
            tags = self._tags(conn, [row.experiment_id])
        return _to_experiment(row, tags.get(row.experiment_id, {}))

    @staticmethod
    def _tags(conn: Any, ids: list[int]) -> dict[int, dict[str, str]]:
        out: dict[int, dict[str, str]] = {}
        if not ids:
            return out
        query = select(experiment_tags).where(experiment_tags.c.experiment_id.in_(ids))
        for r in conn.execute(query):
            out.setdefault(r.experiment_id, {})[r.key] = r.value
        return out


def _to_experiment(row: Row[Any], tags: dict[str, str]) -> Experiment:
    return Experiment(str(row.experiment_id), row.name, row.created_at, tags)
