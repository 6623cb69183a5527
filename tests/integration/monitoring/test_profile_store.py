"""Reference profiles stored with a model version: real metadata store and artifact files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import slipway
from slipway.core.errors import IntegrityError, NotFound
from slipway.monitoring.profile import (
    PROFILE_TAG,
    attach_profile,
    compute_profile,
    load_profile,
)
from slipway.registry.client import RegistryClient
from slipway.workspace import Workspace


def _register(x: pd.DataFrame, y: np.ndarray) -> int:
    with slipway.start_run():
        model = LogisticRegression(max_iter=200).fit(x, y)
        logged = slipway.log_model(model, "model", input_example=x.head(3))
    return slipway.register_model(logged.model_uri, "churn").version


@pytest.fixture
def data() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"a": rng.normal(size=500), "b": rng.exponential(size=500)})


def test_attach_and_load(fluent_workspace: Workspace, data: pd.DataFrame) -> None:
    y = (data["a"] > 0).to_numpy().astype(int)
    version = _register(data, y)
    assert load_profile(fluent_workspace, "churn", version) is None
    profile = compute_profile(data, prediction=y)
    digest = attach_profile(fluent_workspace, "churn", version, profile)
    tags = RegistryClient(fluent_workspace).get_model_version("churn", version).tags
    assert tags[PROFILE_TAG] == digest
    assert load_profile(fluent_workspace, "churn", version) == profile
    assert attach_profile(fluent_workspace, "churn", version, profile) == digest


def test_tampered_blob_is_refused(fluent_workspace: Workspace, data: pd.DataFrame) -> None:
    version = _register(data, (data["b"] > 1).to_numpy().astype(int))
    digest = attach_profile(fluent_workspace, "churn", version, compute_profile(data))
    root = Path(fluent_workspace.settings.resolved_artifact_uri().removeprefix("file://"))
    blob = root / "sha256" / digest[:2] / digest
    blob.write_bytes(blob.read_bytes().replace(b'"rows":500', b'"rows":501'))
    with pytest.raises(IntegrityError):
        load_profile(fluent_workspace, "churn", version)


def test_unknown_version(fluent_workspace: Workspace, data: pd.DataFrame) -> None:
    with pytest.raises(NotFound):
        attach_profile(fluent_workspace, "nope", 1, compute_profile(data))
