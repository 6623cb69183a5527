"""The registry SDK: versions, aliases, tags, lineage, and loading models by URI."""

from __future__ import annotations

from typing import Any

from slipway.artifacts.manifest import fetch_manifest
from slipway.core.entities import (
    Alias,
    AliasChange,
    AuditEvent,
    Lineage,
    ModelVersion,
    RegisteredModel,
    Run,
)
from slipway.core.errors import InvalidInput, NotFound
from slipway.flavors import LoadedModel, load_model
from slipway.registry.uris import ModelRef, RunRef, parse_model_uri
from slipway.store.models import ModelRepository
from slipway.tracking.fluent import TAG_GIT_COMMIT, TAG_GIT_DIRTY, TAG_PARENT_MODEL
from slipway.workspace import Workspace


class RegistryClient:
    """Registered models and their versions, against one :class:`Workspace`."""

    def __init__(self, workspace: Workspace | None = None) -> None:
        self.workspace = workspace or Workspace()

    @property
    def _models(self) -> ModelRepository:
        return self.workspace.store.models

    # registration
    def register_model(
        self,
        model_uri: str,
        name: str,
        *,
        parent_version: int | None = None,
        description: str = "",
        tags: dict[str, str] | None = None,
    ) -> ModelVersion:
        """Register the model at ``runs:/<run_id>/<path>`` as the next version of ``name``.

        Lineage recorded with it: the run, the content hashes of the run's datasets, the git
        commit (and dirty flag) of the run's code, and the parent version: ``parent_version``
        if given, else the version of ``name`` that the run itself loaded, if any.
        """
        ref = parse_model_uri(model_uri)
        if not isinstance(ref, RunRef):
            raise InvalidInput(
                f"register_model needs a runs:/<run_id>/<path> URI, got {model_uri!r}"
            )
        run = self.workspace.store.runs.get(ref.run_id)
        artifact = self.workspace.store.runs.get_artifact(ref.run_id, ref.path)
        if artifact.kind != "model":
            raise InvalidInput(f"{model_uri} is a plain file, not a logged model")
        manifest = fetch_manifest(self.workspace.artifacts, artifact.digest)
        if parent_version is None:
            parent_version = _parent_from_run(run, name)
        dirty = run.data.tags.get(TAG_GIT_DIRTY)
        return self._models.create_version(
            name,
            source=model_uri,
            manifest_digest=artifact.digest,
            flavor=str(manifest.metadata.get("flavor", "unknown")),
            run_id=ref.run_id,
            signature=manifest.metadata.get("signature"),
            code_version=run.data.tags.get(TAG_GIT_COMMIT),
            code_dirty=None if dirty is None else dirty == "true",
            parent_version=parent_version,
            dataset_digests=tuple(i.dataset.digest for i in run.inputs),
            description=description,
            tags=tags,
        )

    # reading
    def get_registered_model(self, name: str) -> RegisteredModel:
        return self._models.get_model(name)

    def search_registered_models(self) -> list[RegisteredModel]:
        return self._models.list_models()

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        """One version; raises NotFound for an unknown model or version."""
        return self._models.get_version(name, version)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return self._models.get_version_by_alias(name, alias)

    def search_model_versions(
        self,
        name: str | None = None,
        *,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> list[ModelVersion]:
        """Versions newest first, filtered by model name, run and exact tag values."""
        return self._models.search_versions(name, run_id=run_id, tags=tags)

    def resolve(self, model_uri: str) -> tuple[str, ModelVersion | None]:
        """The manifest digest behind a model URI, and the version if it is a registry URI."""
        ref = parse_model_uri(model_uri)
        if isinstance(ref, RunRef):
            artifact = self.workspace.store.runs.get_artifact(ref.run_id, ref.path)
            if artifact.kind != "model":
                raise InvalidInput(f"{model_uri} is a plain file, not a logged model")
            return artifact.digest, None
        version = self._version_for(ref)
        return version.manifest_digest, version

    def _version_for(self, ref: ModelRef) -> ModelVersion:
        if ref.alias is not None:
            return self.get_model_version_by_alias(ref.name, ref.alias)
        if ref.latest:
            latest = self.get_registered_model(ref.name).latest_version
            if latest is None:
                raise NotFound(f"registered model {ref.name!r} has no versions")
            return self.get_model_version(ref.name, latest)
        assert ref.version is not None
        return self.get_model_version(ref.name, ref.version)

    def load_model(
        self,
        model_uri: str,
        *,
        allow_pickle: bool = False,
        trusted_types: tuple[str, ...] | list[str] = (),
    ) -> LoadedModel:
        """Load a model by URI; every blob is verified against its sha256 on the way."""
        digest, _ = self.resolve(model_uri)
        return load_model(
            self.workspace.artifacts,
            digest,
            allow_pickle=allow_pickle,
            trusted_types=tuple(trusted_types),
        )

    # mutation
    def set_alias(self, name: str, alias: str, version: int | str) -> Alias:
        """Move ``alias`` to ``version`` atomically (one holder at a time; history kept)."""
        return self._models.set_alias(name, alias, version)

    def delete_alias(self, name: str, alias: str) -> None:
        self._models.delete_alias(name, alias)

    def get_alias_history(self, name: str, alias: str) -> list[AliasChange]:
        return self.workspace.store.audit.alias_history(name, alias)

    def set_model_version_tag(self, name: str, version: int, key: str, value: str) -> None:
        self._models.set_version_tag(name, version, key, value)

    def delete_model_version_tag(self, name: str, version: int, key: str) -> None:
        self._models.set_version_tag(name, version, key, None)

    def update_model_version(self, name: str, version: int, description: str) -> None:
        self._models.update_version_description(name, version, description)

    def create_registered_model(
        self, name: str, *, description: str = "", tags: dict[str, str] | None = None
    ) -> RegisteredModel:
        return self._models.create_model(name, description=description, tags=tags)

    def update_registered_model(self, name: str, description: str) -> RegisteredModel:
        return self._models.update_model_description(name, description)

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        self._models.set_model_tag(name, key, value)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self._models.set_model_tag(name, key, None)

    # lineage and audit
    def get_lineage(self, name: str, version: int | str) -> Lineage:
        """The run, datasets, code version, parent version and history of one version."""
        mv = self.get_model_version(name, version)
        run: Run | None = None
        if mv.run_id is not None:
            try:
                run = self.workspace.store.runs.get(mv.run_id)
            except NotFound:
                run = None
        datasets = tuple(i.dataset for i in run.inputs) if run else ()
        parent = (
            self.get_model_version(name, mv.parent_version)
            if mv.parent_version is not None
            else None
        )
        history = self.audit_events(entity_type="model_version", entity_key=f"{name}/{mv.version}")
        return Lineage(mv, run, datasets, parent, tuple(history))

    def audit_events(self, **filters: Any) -> list[AuditEvent]:
        """Audit events oldest first (filters: entity_type, entity_key, key_prefix, action)."""
        return self.workspace.store.audit.search(**filters)


def _parent_from_run(run: Run, name: str) -> int | None:
    loaded = run.data.tags.get(TAG_PARENT_MODEL, "")
    model, _, version = loaded.rpartition("/")
    return int(version) if model == name and version.isdigit() else None
