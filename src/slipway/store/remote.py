"""The metadata store over a Slipway server's REST API (remote mode).

Each remote repository subclasses its SQL counterpart so that every caller typed against
the store (``TrackingClient``, ``RegistryClient``, the CLI) accepts it unchanged, and
overrides every public method with requests to ``/api/v1``. None of them touches a database:
the engine they hold is a sentinel that raises :class:`NotAvailableRemotely` on any use.

Arguments are validated here with the same rules (and messages) as the local store before a
request is sent. What the local store does in one transaction the API does in one call
(a version with its lineage and audit event, an alias move, a batch of metrics), except a
``log_batch`` of more than :data:`MAX_BATCH` metrics, which is sent as several requests.
The actor recorded by the server is the token's owner, whatever ``actor`` says here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NoReturn, cast
from urllib.parse import quote

from sqlalchemy import Engine

from slipway.core.entities import (
    Alias,
    AuditEvent,
    Experiment,
    Metric,
    ModelVersion,
    Param,
    RegisteredModel,
    Run,
    RunArtifact,
    RunInfo,
    RunInput,
    RunStatus,
)
from slipway.core.errors import InvalidInput, NotFound
from slipway.core.http import ApiSession, NotAvailableRemotely
from slipway.core.names import check_alias, check_key, check_name, check_relative_path
from slipway.store import MetadataStore, bodies
from slipway.store.audit import AuditLog
from slipway.store.deployments import AuditEntry, DeploymentStatusRepository, StatusRow
from slipway.store.experiments import ExperimentRepository, _experiment_id
from slipway.store.models import ModelRepository, _version_number
from slipway.store.runs import RunRepository, _check_run_id, _metric_rows, _param_rows
from slipway.store.tokens import ApiToken, IssuedToken, TokenRepository

MAX_BATCH = 10_000
"""Metrics per ``log-batch`` request (the server's limit)."""
MAX_DATASETS = 100


class _NoEngine:
    """Stands in for the SQL engine of a remote store: any use says what is unavailable."""

    def __init__(self, url: str) -> None:
        self._url = url

    def __getattr__(self, name: str) -> NoReturn:
        raise NotAvailableRemotely(
            "direct database access", f"the store is the Slipway server at {self._url}"
        )

    def __repr__(self) -> str:
        return f"<no database: remote store {self._url}>"


def _seg(text: str, safe: str = "") -> str:
    return quote(str(text), safe=safe)


class RemoteExperimentRepository(ExperimentRepository):
    def __init__(self, session: ApiSession, actor: str) -> None:
        self._session = session
        self._actor = actor
        self._engine = cast(Engine, _NoEngine(session.url))

    def create(self, name: str, tags: dict[str, str] | None = None) -> Experiment:
        check_name("experiment", name)
        tags = {check_key("tag", k): str(v) for k, v in (tags or {}).items()}
        body = self._session.request(
            "POST", "/experiments", json={"name": name, "tags": tags}, idempotent=False
        ).json()
        return bodies.experiment(body)

    def get(self, experiment_id: str | int) -> Experiment:
        number = _experiment_id(experiment_id)
        if number < 0:
            raise NotFound(f"experiment id {experiment_id} not found")
        return bodies.experiment(self._session.get_json(f"/experiments/{number}"))

    def get_by_name(self, name: str) -> Experiment:
        return bodies.experiment(self._session.get_json(f"/experiments/by-name/{_seg(name)}"))

    def search(self) -> list[Experiment]:
        items = self._session.pages("/experiments", {"order_by": "experiment_id"})
        return [bodies.experiment(e) for e in items]

    def set_tag(self, experiment_id: str, key: str, value: str) -> None:
        check_key("tag", key)
        number = _experiment_id(experiment_id)
        self._session.request(
            "PUT", f"/experiments/{number}/tags/{_seg(key, '/')}", json={"value": str(value)}
        )


class RemoteRunRepository(RunRepository):
    def __init__(self, session: ApiSession, actor: str) -> None:
        self._session = session
        self._actor = actor
        self._engine = cast(Engine, _NoEngine(session.url))
        self._metric_insert = None

    def create(
        self,
        experiment_id: str,
        *,
        run_name: str | None = None,
        tags: dict[str, str] | None = None,
        start_time: int | None = None,
    ) -> RunInfo:
        if start_time is not None:
            raise NotAvailableRemotely("creating a run with an explicit start_time")
        body = {
            "experiment_id": str(_experiment_id(experiment_id)),
            "run_name": run_name,
            "tags": {check_key("tag", k): str(v) for k, v in (tags or {}).items()},
        }
        return bodies.run_info(
            self._session.request("POST", "/runs", json=body, idempotent=False).json()
        )

    def set_terminated(
        self, run_id: str, status: RunStatus, end_time: int | None = None
    ) -> RunInfo:
        if not status.is_terminal:
            raise InvalidInput(f"{status} is not a terminal run status")
        if end_time is not None:
            raise NotAvailableRemotely("ending a run with an explicit end_time")
        path = f"/runs/{_check_run_id(run_id)}/end"
        # Ending twice with the same status changes nothing: safe to retry.
        answer = self._session.request("POST", path, json={"status": status.value}, idempotent=True)
        return bodies.run_info(answer.json())

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: dict[str, str] | None = None,
    ) -> None:
        """One request per :data:`MAX_BATCH` metrics; params and tags go with the first."""
        _check_run_id(run_id)
        rows = _metric_rows(run_id, metrics)
        param_rows = _param_rows(run_id, params)
        tag_map = {check_key("tag", k): str(v) for k, v in (tags or {}).items()}
        points = [
            {"key": key, "value": None if nan else value, "timestamp": ts, "step": step}
            for _, key, value, nan, ts, step in rows
        ]
        first = True
        for start in range(0, max(len(points), 1), MAX_BATCH):
            body: dict[str, Any] = {"metrics": points[start : start + MAX_BATCH]}
            if first:
                body["params"] = [{"key": p["key"], "value": p["value"]} for p in param_rows]
                body["tags"] = tag_map
                first = False
            self._session.request("POST", f"/runs/{run_id}/log-batch", json=body, idempotent=False)

    def log_inputs(self, run_id: str, inputs: Sequence[RunInput]) -> None:
        """Datasets are deduplicated by the server, so a repeated request is harmless."""
        _check_run_id(run_id)
        by_context: dict[str, list[dict[str, Any]]] = {}
        for item in inputs:
            ds = item.dataset
            by_context.setdefault(item.context, []).append(
                {
                    "name": ds.name,
                    "digest": ds.digest,
                    "source": ds.source,
                    "num_rows": ds.num_rows,
                    "schema": ds.schema,
                }
            )
        for context, datasets in by_context.items():
            for start in range(0, len(datasets), MAX_DATASETS):
                body = {"datasets": datasets[start : start + MAX_DATASETS], "context": context}
                self._session.request("POST", f"/runs/{run_id}/inputs", json=body, idempotent=True)

    def add_artifact(self, run_id: str, artifact: RunArtifact) -> None:
        """Record a blob the server already stores (its size is the server's)."""
        check_relative_path(artifact.path)
        _check_run_id(run_id)
        body = {"path": artifact.path, "digest": artifact.digest, "kind": artifact.kind}
        # Paths are write-once and the same record twice is accepted: safe to retry.
        self._session.request("POST", f"/runs/{run_id}/artifacts", json=body, idempotent=True)

    def get(self, run_id: str) -> Run:
        return bodies.run(self._session.get_json(f"/runs/{_check_run_id(run_id)}"))

    def get_artifact(self, run_id: str, path: str) -> RunArtifact:
        _check_run_id(run_id)
        for item in self._session.pages(f"/runs/{run_id}/artifacts", {"prefix": path}):
            if item["path"] == path:
                return bodies.artifact(item)
        raise NotFound(f"run {run_id} has no artifact {path!r}")

    def search(
        self,
        experiment_id: str | None = None,
        *,
        status: RunStatus | None = None,
        limit: int = 100,
    ) -> list[RunInfo]:
        """Runs newest first."""
        params = {
            "experiment_id": None if experiment_id is None else _experiment_id(experiment_id),
            "status": None if status is None else status.value,
        }
        return [bodies.run_info(r) for r in self._session.pages("/runs", params, limit)]

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        items = self._session.pages(f"/runs/{_check_run_id(run_id)}/metric-history", {"key": key})
        return [bodies.metric(m) for m in items]


class RemoteModelRepository(ModelRepository):
    def __init__(self, session: ApiSession, actor: str) -> None:
        self._session = session
        self._actor = actor
        self._engine = cast(Engine, _NoEngine(session.url))

    def create_model(
        self, name: str, *, description: str = "", tags: dict[str, str] | None = None
    ) -> RegisteredModel:
        check_name("model", name)
        tags = {check_key("tag", k): str(v) for k, v in (tags or {}).items()}
        body = {"name": name, "description": description, "tags": tags}
        return bodies.model(self._session.request("POST", "/models", json=body).json())

    def get_model(self, name: str) -> RegisteredModel:
        return bodies.model(self._session.get_json(f"/models/{_seg(name)}"))

    def list_models(self) -> list[RegisteredModel]:
        return [bodies.model(m) for m in self._session.pages("/models", {"order_by": "name"})]

    def update_model_description(self, name: str, description: str) -> RegisteredModel:
        body = {"description": description}
        return bodies.model(
            self._session.request("PATCH", f"/models/{_seg(name)}", json=body).json()
        )

    def set_model_tag(self, name: str, key: str, value: str | None) -> None:
        check_key("tag", key)
        path = f"/models/{_seg(name)}/tags/{_seg(key, '/')}"
        if value is None:
            self._session.request("DELETE", path)
        else:
            self._session.request("PUT", path, json={"value": str(value)})

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
        """Register the logged model at ``source`` (``runs:/<run_id>/<path>``) in one call.

        The server reads the lineage (flavor, signature, git commit, datasets) from the same
        run and manifest the caller read; a version whose manifest differs from
        ``manifest_digest`` means the run changed in between and is reported as a conflict.
        """
        check_name("model", name)
        if not source.startswith("runs:/"):
            raise NotAvailableRemotely(
                f"registering a version from {source!r}",
                "only logged models (runs:/<run_id>/<path>) can be registered remotely",
            )
        body = {
            "source": source,
            "description": description,
            "tags": {check_key("tag", k): str(v) for k, v in (tags or {}).items()},
            "parent_version": parent_version,
        }
        path = f"/models/{_seg(name)}/versions"
        version = bodies.version(self._session.request("POST", path, json=body).json())
        if version.manifest_digest != manifest_digest:
            raise InvalidInput(
                f"{version.uri} was registered from {source} with manifest "
                f"{version.manifest_digest}, not the expected {manifest_digest}"
            )
        return version

    def get_version(self, name: str, version: int | str) -> ModelVersion:
        number = _version_number(version)
        return bodies.version(self._session.get_json(f"/models/{_seg(name)}/versions/{number}"))

    def get_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return bodies.version(self._session.get_json(f"/models/{_seg(name)}/aliases/{_seg(alias)}"))

    def search_versions(
        self,
        name: str | None = None,
        *,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
        limit: int = 1000,
    ) -> list[ModelVersion]:
        """Versions newest first per model (models by name), filtered by run and tags."""
        names = [name] if name is not None else [m.name for m in self.list_models()]
        query: list[tuple[str, Any]] = [("run_id", run_id), ("order_by", "version desc")]
        query += [("tag", f"{k}={v}") for k, v in (tags or {}).items()]
        found: list[ModelVersion] = []
        for model in names:
            try:
                items = list(
                    self._session.pages(
                        f"/models/{_seg(model)}/versions", query, limit - len(found)
                    )
                )
            except NotFound:
                continue  # no such model: no versions, as locally
            found.extend(bodies.version(v) for v in items)
            if len(found) >= limit:
                break
        return found[:limit]

    def update_version_description(self, name: str, version: int, description: str) -> None:
        path = f"/models/{_seg(name)}/versions/{_version_number(version)}"
        self._session.request("PATCH", path, json={"description": description})

    def set_version_tag(self, name: str, version: int, key: str, value: str | None) -> None:
        check_key("tag", key)
        number = _version_number(version)
        path = f"/models/{_seg(name)}/versions/{number}/tags/{_seg(key, '/')}"
        if value is None:
            self._session.request("DELETE", path)
        else:
            self._session.request("PUT", path, json={"value": str(value)})

    def set_alias(self, name: str, alias: str, version: int | str) -> Alias:
        check_alias(alias)
        body = {"version": _version_number(version)}
        answer = self._session.request(
            "PUT", f"/models/{_seg(name)}/aliases/{_seg(alias)}", json=body
        ).json()
        return Alias(
            answer["model_name"],
            answer["alias"],
            answer["version"],
            answer["updated_at"],
            answer["updated_by"],
        )

    def delete_alias(self, name: str, alias: str) -> None:
        check_alias(alias)
        # Not retried: a second DELETE after a lost answer would report a missing alias.
        self._session.request(
            "DELETE", f"/models/{_seg(name)}/aliases/{_seg(alias)}", idempotent=False
        )

    def list_aliases(self, name: str) -> list[Alias]:
        model = self.get_model(name)
        found = []
        for alias, version in sorted(model.aliases.items()):
            moves = self._session.pages(
                "/audit",
                {"entity_type": "alias", "entity_key": f"{name}@{alias}", "order_by": "time desc"},
                limit=1,
            )
            last = next(iter(moves), None)
            updated_at = last["time"] if last else model.updated_at
            found.append(Alias(name, alias, version, updated_at, last["actor"] if last else ""))
        return found


class RemoteAuditLog(AuditLog):
    def __init__(self, session: ApiSession) -> None:
        self._session = session
        self._engine = cast(Engine, _NoEngine(session.url))

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
        params = {
            "entity_type": entity_type,
            "entity_key": entity_key,
            "key_prefix": key_prefix,
            "action": action,
            "actor": actor,
            "since": since,
            "until": until,
            "order_by": "time desc" if newest_first else "time asc",
        }
        return [bodies.event(e) for e in self._session.pages("/audit", params, limit)]

    def append(
        self, *, actor: str, action: str, entity_type: str, entity_key: str, after: Any = None
    ) -> None:
        raise NotAvailableRemotely(f"appending the audit event {action!r}")


class RemoteDeploymentStatusRepository(DeploymentStatusRepository):
    """Reads what the reconcilers wrote; writing status is the agents' job, not the SDK's."""

    def __init__(self, session: ApiSession, actor: str) -> None:
        self._session = session
        self._actor = actor
        self._engine = cast(Engine, _NoEngine(session.url))

    def get(self, environment: str, name: str) -> StatusRow | None:
        try:
            body = self._session.get_json(f"/deployments/{_seg(environment)}/{_seg(name)}")
        except NotFound:
            return None
        return bodies.status_row(body)

    def list(self, environment: str | None = None) -> list[StatusRow]:
        items = self._session.pages("/deployments", {"environment": environment})
        return [bodies.status_row(d) for d in items]

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
        raise NotAvailableRemotely("writing deployment status", "run the agent on the server side")

    def delete(self, environment: str, name: str) -> None:
        raise NotAvailableRemotely("deleting deployment status", "run the agent on the server side")


class RemoteTokenRepository(TokenRepository):
    """Tokens are managed next to the database (``slipway tokens``) or via ``/api/v1/tokens``."""

    def __init__(self, session: ApiSession, actor: str) -> None:
        self._session = session
        self._actor = actor
        self._engine = cast(Engine, _NoEngine(session.url))

    def _unavailable(self, operation: str) -> NoReturn:
        raise NotAvailableRemotely(
            f"tokens.{operation} through the SDK",
            "use `slipway tokens` where the server's database is, or /api/v1/tokens",
        )

    def create(
        self,
        owner: str,
        role: str,
        *,
        expires_at: int | None = None,
        description: str = "",
        actor: str | None = None,
    ) -> IssuedToken:
        self._unavailable("create")

    def verify(self, secret: str, *, at_ms: int | None = None) -> ApiToken:
        self._unavailable("verify")

    def get(self, token_id: str) -> ApiToken:
        self._unavailable("get")

    def list(self, *, owner: str | None = None, include_revoked: bool = True) -> list[ApiToken]:
        self._unavailable("list")

    def revoke(self, token_id: str, *, actor: str | None = None) -> ApiToken:
        self._unavailable("revoke")


class RemoteMetadataStore(MetadataStore):
    """:class:`MetadataStore` whose repositories are requests to a Slipway server."""

    def __init__(self, session: ApiSession, actor: str) -> None:
        self.session = session
        self.uri = session.url
        self.actor = actor
        self.engine = cast(Engine, _NoEngine(session.url))
        self.experiments = RemoteExperimentRepository(session, actor)
        self.runs = RemoteRunRepository(session, actor)
        self.models = RemoteModelRepository(session, actor)
        self.audit = RemoteAuditLog(session)
        self.deployments = RemoteDeploymentStatusRepository(session, actor)
        self.tokens = RemoteTokenRepository(session, actor)

    def __repr__(self) -> str:
        return f"RemoteMetadataStore({self.uri!r})"

    def upgrade(self) -> None:
        raise NotAvailableRemotely(
            "migrating the database", "run `slipway db upgrade` where the server's database is"
        )

    def check_schema(self) -> None:
        """The server checks its own schema at start and answers 503 when it is behind."""

    def close(self) -> None:
        self.session.close()
