"""One contract suite for the metadata store, run against real SQLite, real PostgreSQL and,
in remote mode, a real ``slipway server`` (over SQLite) through its REST API."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from slipway.artifacts.manifest import Manifest
from slipway.artifacts.remote import RemoteArtifactStore
from slipway.core.entities import Dataset, Metric, Param, RunArtifact, RunInput, RunStatus
from slipway.core.errors import (
    AlreadyExists,
    Conflict,
    InvalidInput,
    NotFound,
    SchemaOutOfDate,
)
from slipway.store import MetadataStore, open_metadata_store
from slipway.store.engine import create_sql_engine
from slipway.store.remote import RemoteMetadataStore
from slipway.store.schema import metadata
from tests.conftest import CONTRACT_BACKENDS, migrated_store_uri

DIGEST = "ab" * 32


@pytest.fixture(params=CONTRACT_BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataStore]:
    if request.param == "remote":
        server = request.getfixturevalue("remote_server")
        server.reset()
        s = open_metadata_store(server.url, actor="alice", token=server.tokens["alice"])
    else:
        s = open_metadata_store(migrated_store_uri(request.param, request, tmp_path), actor="alice")
    yield s
    s.close()


def _blob(store: MetadataStore, data: bytes) -> str:
    """The digest of ``data``, stored where the store needs it: a server records only
    artifacts whose blobs it holds, a database records any digest."""
    if isinstance(store, RemoteMetadataStore):
        return RemoteArtifactStore(store.session).put_bytes(data).digest
    return hashlib.sha256(data).hexdigest()


def test_migrations_match_the_schema_module(store: MetadataStore) -> None:
    if isinstance(store, RemoteMetadataStore):
        pytest.skip("the server's database is not the client's to inspect")
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_unmigrated_database_is_refused_with_the_fix(tmp_path: object) -> None:
    uri = f"sqlite:///{tmp_path}/empty.db"
    with pytest.raises(SchemaOutOfDate, match="slipway db upgrade"):
        open_metadata_store(uri, actor="a")


def test_unknown_scheme_lists_valid_ones() -> None:
    with pytest.raises(InvalidInput, match=r"sqlite://, postgresql://, postgresql\+psycopg://"):
        create_sql_engine("mysql://u:secret@host/db")


def test_password_never_appears_in_errors() -> None:
    with pytest.raises(InvalidInput) as err:
        create_sql_engine("oracle://user:hunter2@db/x")
    assert "hunter2" not in str(err.value)


# -- experiments ---------------------------------------------------------------------------


def test_experiment_create_get_and_duplicates(store: MetadataStore) -> None:
    exp = store.experiments.create("churn", {"team": "risk"})
    assert store.experiments.get(exp.experiment_id) == exp
    assert store.experiments.get_by_name("churn").tags == {"team": "risk"}
    with pytest.raises(AlreadyExists, match="churn"):
        store.experiments.create("churn")
    assert [e.name for e in store.experiments.search()] == ["churn"]


@pytest.mark.parametrize("bad", ["", "a/b", "../x", " lead", "x" * 300, 5])
def test_experiment_invalid_names(store: MetadataStore, bad: object) -> None:
    with pytest.raises(InvalidInput, match="invalid experiment name"):
        store.experiments.create(bad)  # type: ignore[arg-type]
    assert store.experiments.search() == []


def test_unknown_experiment(store: MetadataStore) -> None:
    with pytest.raises(NotFound):
        store.experiments.get_by_name("nope")
    with pytest.raises(NotFound):
        store.experiments.get("999")
    with pytest.raises(InvalidInput):
        store.experiments.get("abc")


# -- runs ----------------------------------------------------------------------------------


def _run(store: MetadataStore) -> str:
    exp = store.experiments.get_or_create("e")
    return store.runs.create(exp.experiment_id, run_name="r", tags={"k": "v"}).run_id


def test_run_logging_and_latest_metrics(store: MetadataStore) -> None:
    run_id = _run(store)
    points = [Metric("loss", 1.0 / (i + 1), 1000 + i, i) for i in range(50)]
    points.append(Metric("loss", 9.0, 5000, 3))  # late write for an old step: not the latest
    points.append(Metric("diverged", math.nan, 1, 0))
    store.runs.log_batch(run_id, points, [Param("lr", "0.1")], {"stage": "dev"})
    run = store.runs.get(run_id)
    assert run.data.metrics["loss"] == pytest.approx(1 / 50)
    assert math.isnan(run.data.metrics["diverged"])
    assert run.data.params == {"lr": "0.1"}
    assert run.data.tags == {"k": "v", "stage": "dev"}
    history = store.runs.metric_history(run_id, "loss")
    assert [m.step for m in history] == sorted(m.step for m in history)
    assert len(history) == 51
    assert run.info.status is RunStatus.RUNNING
    ended = store.runs.set_terminated(run_id, RunStatus.FINISHED)
    assert ended.status is RunStatus.FINISHED
    assert ended.end_time is not None


def test_param_is_immutable_and_nothing_is_lost(store: MetadataStore) -> None:
    run_id = _run(store)
    store.runs.log_batch(run_id, [Metric("m", 1.0, 1, 0)], [Param("lr", "0.1")])
    store.runs.log_batch(run_id, params=[Param("lr", "0.1")])  # same value: fine
    with pytest.raises(Conflict, match="lr"):
        store.runs.log_batch(run_id, [Metric("m", 2.0, 2, 1)], [Param("lr", "0.2")])
    run = store.runs.get(run_id)
    assert run.data.params == {"lr": "0.1"}
    # The failed batch wrote nothing, not even its metric.
    assert [m.value for m in store.runs.metric_history(run_id, "m")] == [1.0]


@pytest.mark.parametrize(
    ("metric", "error"),
    [
        (Metric("", 1.0, 1, 0), "invalid metric key"),
        (Metric("a/../b", 1.0, 1, 0), "invalid metric key"),
        (Metric("ok", "abc", 1, 0), "not a number"),  # type: ignore[arg-type]
    ],
)
def test_bad_metrics_are_refused(store: MetadataStore, metric: Metric, error: str) -> None:
    run_id = _run(store)
    with pytest.raises(InvalidInput, match=error):
        store.runs.log_batch(run_id, [metric])


def test_unknown_and_malformed_run_ids(store: MetadataStore) -> None:
    with pytest.raises(NotFound):
        store.runs.get("0" * 32)
    with pytest.raises(InvalidInput, match="run id"):
        store.runs.get("../../etc")
    with pytest.raises(NotFound):
        store.runs.log_batch("f" * 32, [Metric("m", 1.0, 1, 0)])


def test_inputs_are_deduplicated(store: MetadataStore) -> None:
    run_id = _run(store)
    ds = Dataset("train", DIGEST, "s3://x", 10, {"a": "float64"})
    store.runs.log_inputs(run_id, [RunInput(ds, "training"), RunInput(ds, "training")])
    store.runs.log_inputs(run_id, [RunInput(ds, "evaluation")])
    inputs = store.runs.get(run_id).inputs
    assert sorted(i.context for i in inputs) == ["evaluation", "training"]
    assert inputs[0].dataset == ds


def test_artifact_paths_are_write_once(store: MetadataStore) -> None:
    run_id = _run(store)
    first, second = _blob(store, b"abc"), _blob(store, b"xyz")
    store.runs.add_artifact(run_id, RunArtifact("a/b.txt", first, 3))
    store.runs.add_artifact(run_id, RunArtifact("a/b.txt", first, 3))
    with pytest.raises(Conflict):
        store.runs.add_artifact(run_id, RunArtifact("a/b.txt", second, 3))
    with pytest.raises(InvalidInput, match="artifact path"):
        store.runs.add_artifact(run_id, RunArtifact("../evil", first, 3))
    assert store.runs.get_artifact(run_id, "a/b.txt").digest == first


# -- registry ------------------------------------------------------------------------------


def _logged_model(store: MetadataStore) -> tuple[str, str]:
    """(source, manifest digest) of a model: any strings for a database; for a server, a
    real run with a real manifest, which is what it registers from."""
    if not isinstance(store, RemoteMetadataStore):
        return "runs:/x/model", DIGEST
    run_id = _run(store)
    manifest = Manifest((), {"flavor": "sklearn"}).to_bytes()
    digest = _blob(store, manifest)
    store.runs.add_artifact(run_id, RunArtifact("model", digest, len(manifest), "model"))
    return f"runs:/{run_id}/model", digest


def _version(store: MetadataStore, name: str = "m", **kwargs: object) -> int:
    source, digest = _logged_model(store)
    mv = store.models.create_version(
        name,
        source=source,
        manifest_digest=digest,
        flavor="sklearn",
        **kwargs,  # type: ignore[arg-type]
    )
    return mv.version


def test_versions_number_up_and_create_the_model(store: MetadataStore) -> None:
    assert [_version(store) for _ in range(3)] == [1, 2, 3]
    model = store.models.get_model("m")
    assert model.latest_version == 3
    with pytest.raises(AlreadyExists):
        store.models.create_model("m")
    assert [v.version for v in store.models.search_versions("m")] == [3, 2, 1]


def test_version_lookup_errors(store: MetadataStore) -> None:
    _version(store)
    with pytest.raises(NotFound, match="no version 7"):
        store.models.get_version("m", 7)
    with pytest.raises(NotFound, match="'ghost' not found"):
        store.models.get_version("ghost", 1)
    with pytest.raises(InvalidInput, match="positive integer"):
        store.models.get_version("m", "abc")
    with pytest.raises(NotFound):
        _version(store, parent_version=42)
    assert store.models.get_model("m").latest_version == 1


def test_alias_has_one_holder_and_a_history(store: MetadataStore) -> None:
    for _ in range(3):
        _version(store)
    store.models.set_alias("m", "champion", 1)
    store.models.set_alias("m", "challenger", 2)
    store.models.set_alias("m", "champion", 3)
    assert store.models.get_version_by_alias("m", "champion").version == 3
    assert store.models.get_version("m", 1).aliases == ()
    assert store.models.get_model("m").aliases == {"champion": 3, "challenger": 2}
    history = store.audit.alias_history("m", "champion")
    assert [(h.from_version, h.to_version) for h in history] == [(None, 1), (1, 3)]
    assert all(h.actor == "alice" for h in history)
    store.models.delete_alias("m", "champion")
    with pytest.raises(NotFound, match="no alias 'champion'"):
        store.models.get_version_by_alias("m", "champion")
    assert store.audit.alias_history("m", "champion")[-1].to_version is None


def test_bad_alias_moves_change_nothing(store: MetadataStore) -> None:
    _version(store)
    store.models.set_alias("m", "champion", 1)
    with pytest.raises(NotFound):
        store.models.set_alias("m", "champion", 9)
    with pytest.raises(InvalidInput, match="invalid alias"):
        store.models.set_alias("m", "Champion!", 1)
    with pytest.raises(InvalidInput, match="reserved"):
        store.models.set_alias("m", "latest", 1)
    with pytest.raises(NotFound):
        store.models.delete_alias("m", "nobody")
    assert store.models.get_version_by_alias("m", "champion").version == 1
    assert len(store.audit.alias_history("m", "champion")) == 1


def test_every_registry_mutation_is_audited(store: MetadataStore) -> None:
    _version(store)
    store.models.set_version_tag("m", 1, "stage", "qa")
    store.models.update_version_description("m", 1, "first")
    store.models.set_model_tag("m", "owner", "risk")
    store.models.update_model_description("m", "churn model")
    store.models.set_alias("m", "champion", 1)
    store.models.set_version_tag("m", 1, "stage", None)
    actions = [e.action for e in store.audit.search(entity_type="model")]
    actions += [e.action for e in store.audit.search(entity_type="model_version")]
    actions += [e.action for e in store.audit.search(entity_type="alias")]
    assert actions == [
        "model.create",
        "model.tag",
        "model.update",
        "model_version.create",
        "model_version.tag",
        "model_version.update",
        "model_version.untag",
        "alias.set",
    ]
    events = store.audit.search()
    assert [e.event_id for e in events] == sorted(e.event_id for e in events)
    update = store.audit.search(action="model_version.update")[0]
    assert update.before == {"description": ""}
    assert update.after == {"description": "first"}
    assert update.actor == "alice"


def test_search_versions_by_tag_and_run(store: MetadataStore) -> None:
    for _ in range(3):
        _version(store)
    store.models.set_version_tag("m", 2, "validated", "true")
    assert [v.version for v in store.models.search_versions(tags={"validated": "true"})] == [2]
    assert store.models.search_versions(run_id="0" * 32) == []


@pytest.mark.parametrize("bad", ["", "has space", "a/b", "m@x"])
def test_invalid_model_names(store: MetadataStore, bad: str) -> None:
    with pytest.raises(InvalidInput, match="invalid model name"):
        _version(store, name=bad)
    assert store.models.list_models() == []
