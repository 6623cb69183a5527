"""Module-level registry functions (``slipway.register_model``, ``slipway.load_model``, …).

They share the tracking API's process-wide workspace, so a script that set a tracking URI
registers into the same store it logged to.
"""

from __future__ import annotations

from typing import Any

from slipway.core.entities import Alias, AliasChange, Lineage, ModelVersion
from slipway.flavors import LoadedModel
from slipway.registry.client import RegistryClient
from slipway.tracking import fluent as tracking


def client() -> RegistryClient:
    return RegistryClient(tracking.client().workspace)


def register_model(
    model_uri: str, name: str, *, parent_version: int | None = None, **kwargs: Any
) -> ModelVersion:
    """Register ``runs:/<run_id>/<path>`` as the next version of ``name`` (created if new)."""
    tracking.flush()
    return client().register_model(model_uri, name, parent_version=parent_version, **kwargs)


def log_model(
    model: object,
    name: str = "model",
    *,
    input_example: Any = None,
    flavor: str | None = None,
    serialization: str | None = None,
    registered_model_name: str | None = None,
) -> tracking.LoggedModel:
    """Save a model as an artifact of the active run, optionally registering it too."""
    logged = tracking.log_model(
        model, name, input_example=input_example, flavor=flavor, serialization=serialization
    )
    if registered_model_name is not None:
        register_model(logged.model_uri, registered_model_name)
    return logged


def load_model(
    model_uri: str,
    *,
    allow_pickle: bool = False,
    trusted_types: tuple[str, ...] | list[str] = (),
) -> LoadedModel:
    """Load ``models:/name@alias``, ``models:/name/3``, ``models:/name/latest`` or ``runs:/…``.

    Inside an active run, a registry version loaded here is recorded as the run's parent
    model, so a version registered from that run links back to it in its lineage.
    """
    c = client()
    model = c.load_model(model_uri, allow_pickle=allow_pickle, trusted_types=trusted_types)
    run = tracking.active_run()
    if run is not None:
        _, version = c.resolve(model_uri)
        if version is not None:
            tracking.set_tag(tracking.TAG_PARENT_MODEL, f"{version.name}/{version.version}")
    return model


def set_alias(name: str, alias: str, version: int | str) -> Alias:
    """Point ``alias`` (e.g. ``champion``) at ``version``; the previous holder loses it."""
    return client().set_alias(name, alias, version)


def delete_alias(name: str, alias: str) -> None:
    client().delete_alias(name, alias)


def get_model_version(name: str, version: int | str) -> ModelVersion:
    return client().get_model_version(name, version)


def get_model_version_by_alias(name: str, alias: str) -> ModelVersion:
    return client().get_model_version_by_alias(name, alias)


def search_model_versions(name: str | None = None, **filters: Any) -> list[ModelVersion]:
    return client().search_model_versions(name, **filters)


def get_alias_history(name: str, alias: str) -> list[AliasChange]:
    return client().get_alias_history(name, alias)


def get_lineage(name: str, version: int | str) -> Lineage:
    return client().get_lineage(name, version)
