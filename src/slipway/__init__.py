"""Slipway: the whole MLOps loop in one package.

The fluent API mirrors MLflow's, so that ``import slipway`` reads like ``import mlflow``::

    import slipway

    slipway.set_experiment("churn")
    with slipway.start_run() as run:
        slipway.log_param("n_estimators", 100)
        slipway.log_metric("auc", 0.93)
        logged = slipway.log_model(model, "model", input_example=X[:5])
    mv = slipway.register_model(logged.model_uri, "churn")
    slipway.set_alias("churn", "champion", mv.version)
    slipway.load_model("models:/churn@champion").predict(X)

Names are imported on first use (PEP 562), so ``import slipway`` and the CLI start fast and a
worker that only needs the store does not pay for scikit-learn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from slipway.core.lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # errors and entities
    "AlreadyExists": "slipway.core.errors",
    "Conflict": "slipway.core.errors",
    "IntegrityError": "slipway.core.errors",
    "InvalidInput": "slipway.core.errors",
    "NotFound": "slipway.core.errors",
    "SignatureMismatch": "slipway.core.errors",
    "SlipwayError": "slipway.core.errors",
    "RunStatus": "slipway.core.entities",
    # clients
    "Workspace": "slipway.workspace",
    "TrackingClient": "slipway.tracking.client",
    "RegistryClient": "slipway.registry.client",
    "PythonModel": "slipway.flavors",
    # tracking, fluent
    "active_run": "slipway.tracking.fluent",
    "end_run": "slipway.tracking.fluent",
    "flush": "slipway.tracking.fluent",
    "get_tracking_uri": "slipway.tracking.fluent",
    "last_active_run_id": "slipway.tracking.fluent",
    "log_artifact": "slipway.tracking.fluent",
    "log_artifacts": "slipway.tracking.fluent",
    "log_input": "slipway.tracking.fluent",
    "log_metric": "slipway.tracking.fluent",
    "log_metrics": "slipway.tracking.fluent",
    "log_param": "slipway.tracking.fluent",
    "log_params": "slipway.tracking.fluent",
    "log_text": "slipway.tracking.fluent",
    "set_experiment": "slipway.tracking.fluent",
    "set_tag": "slipway.tracking.fluent",
    "set_tags": "slipway.tracking.fluent",
    "set_tracking_uri": "slipway.tracking.fluent",
    "start_run": "slipway.tracking.fluent",
    # registry, fluent
    "delete_alias": "slipway.registry.fluent",
    "get_alias_history": "slipway.registry.fluent",
    "get_lineage": "slipway.registry.fluent",
    "get_model_version": "slipway.registry.fluent",
    "get_model_version_by_alias": "slipway.registry.fluent",
    "load_model": "slipway.registry.fluent",
    "log_model": "slipway.registry.fluent",
    "register_model": "slipway.registry.fluent",
    "search_model_versions": "slipway.registry.fluent",
    "set_alias": "slipway.registry.fluent",
}

__all__ = [
    "AlreadyExists",
    "Conflict",
    "IntegrityError",
    "InvalidInput",
    "NotFound",
    "PythonModel",
    "RegistryClient",
    "RunStatus",
    "SignatureMismatch",
    "SlipwayError",
    "TrackingClient",
    "Workspace",
    "__version__",
    "active_run",
    "delete_alias",
    "end_run",
    "flush",
    "get_alias_history",
    "get_lineage",
    "get_model_version",
    "get_model_version_by_alias",
    "get_tracking_uri",
    "last_active_run_id",
    "load_model",
    "log_artifact",
    "log_artifacts",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "log_text",
    "register_model",
    "search_model_versions",
    "set_alias",
    "set_experiment",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)


if TYPE_CHECKING:
    from slipway.core.entities import RunStatus
    from slipway.core.errors import (
        AlreadyExists,
        Conflict,
        IntegrityError,
        InvalidInput,
        NotFound,
        SignatureMismatch,
        SlipwayError,
    )
    from slipway.flavors import PythonModel
    from slipway.registry.client import RegistryClient
    from slipway.registry.fluent import (
        delete_alias,
        get_alias_history,
        get_lineage,
        get_model_version,
        get_model_version_by_alias,
        load_model,
        log_model,
        register_model,
        search_model_versions,
        set_alias,
    )
    from slipway.tracking.client import TrackingClient
    from slipway.tracking.fluent import (
        active_run,
        end_run,
        flush,
        get_tracking_uri,
        last_active_run_id,
        log_artifact,
        log_artifacts,
        log_input,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        log_text,
        set_experiment,
        set_tag,
        set_tags,
        set_tracking_uri,
        start_run,
    )
    from slipway.workspace import Workspace
