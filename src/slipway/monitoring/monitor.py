"""Drift over time: each window of the prediction log against its version's reference profile.

The SDK behind ``slipway monitor drift``. The reference is the profile stored with the model
version at registration (:func:`slipway.monitoring.profile.attach_profile`), so monitoring
never needs the training data again; a DataFrame can be given instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from slipway.core.errors import InvalidInput
from slipway.monitoring.drift import (
    ColumnDrift,
    DatasetDrift,
    DriftOptions,
    column_drift_from_profile,
    dataset_drift_from_profile,
)
from slipway.monitoring.profile import ReferenceProfile, compute_profile, load_profile
from slipway.monitoring.windows import Window, windows
from slipway.workspace import Workspace


@dataclass(frozen=True, slots=True)
class WindowDrift:
    start: datetime
    end: datetime
    version: int
    rows: int
    features: DatasetDrift
    prediction: ColumnDrift | None
    """The prediction distribution against the reference's; None without a stored one."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: what ``slipway monitor drift --json`` prints and the API answers."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "version": self.version,
            "rows": self.rows,
            "features": self.features.model_dump(mode="json"),
            "prediction": None
            if self.prediction is None
            else self.prediction.model_dump(mode="json"),
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> WindowDrift:
        """The inverse of :meth:`as_dict` (also reads a window of the API's drift answer)."""
        prediction = doc.get("prediction")
        return cls(
            start=datetime.fromisoformat(doc["start"]),
            end=datetime.fromisoformat(doc["end"]),
            version=doc["version"],
            rows=doc["rows"],
            features=DatasetDrift.model_validate(doc["features"]),
            prediction=None if prediction is None else ColumnDrift.model_validate(prediction),
        )


def drift_over_time(
    workspace: Workspace,
    deployment: str,
    *,
    window: str = "1h",
    every_n: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    version: int | None = None,
    options: DriftOptions | None = None,
    reference: pd.DataFrame | None = None,
) -> list[WindowDrift]:
    """Data and prediction drift of every window of ``deployment``'s log, oldest first.

    Each window is compared with the reference profile of the version that answered it;
    ``reference`` (raw reference data) replaces the stored profiles.

    In remote mode (``workspace.is_remote``) the server computes it over its own prediction
    log (``GET /monitoring/{deployment}/drift``); there only ``options.drift_share`` can be
    chosen and ``reference`` cannot be given (attach a profile to the version instead).
    """
    options = options or DriftOptions()
    if workspace.is_remote:
        return _remote_drift(
            workspace, deployment, window, every_n, since, until, version, options, reference
        )
    given = None if reference is None else compute_profile(reference)
    profiles: dict[tuple[str, int], ReferenceProfile] = {}
    found = []
    log_root = workspace.settings.home / "logs"
    for part in windows(
        log_root,
        deployment,
        window=None if every_n else window,
        every_n=every_n,
        version=version,
        since=since,
        until=until,
    ):
        profile = given or _profile(workspace, profiles, part)
        found.append(_window_drift(profile, part, options))
    return found


def _remote_drift(
    workspace: Workspace,
    deployment: str,
    window: str,
    every_n: int | None,
    since: datetime | None,
    until: datetime | None,
    version: int | None,
    options: DriftOptions,
    reference: pd.DataFrame | None,
) -> list[WindowDrift]:
    from slipway.core.http import NotAvailableRemotely
    from slipway.store.remote_ops import api_session
    from slipway.store.remote_ops import drift as remote_drift

    if reference is not None:
        raise NotAvailableRemotely(
            "drift_over_time(reference=…)",
            "the server compares with the version's stored profile: attach one "
            "(slipway.monitoring.profile.attach_profile)",
        )
    if options.model_dump(exclude={"drift_share"}) != DriftOptions().model_dump(
        exclude={"drift_share"}
    ):
        raise NotAvailableRemotely(
            "drift_over_time with DriftOptions other than drift_share",
            "the server uses its default tests",
        )
    session = api_session(workspace.store)
    assert session is not None
    docs = remote_drift(
        session,
        deployment,
        window=window,
        every_n=every_n,
        version=version,
        since=since,
        until=until,
        drift_share=options.drift_share,
    )
    return [WindowDrift.from_dict(d) for d in docs]


def _profile(
    workspace: Workspace, cache: dict[tuple[str, int], ReferenceProfile], part: Window
) -> ReferenceProfile:
    key = (part.model_name, part.version)
    if key not in cache:
        profile = load_profile(workspace, part.model_name, part.version)
        if profile is None:
            raise InvalidInput(
                f"models:/{part.model_name}/{part.version} has no reference profile: attach "
                "one (slipway.monitoring.profile.attach_profile, or the pipeline gate does it "
                "on registration) or pass reference data"
            )
        cache[key] = profile
    return cache[key]


def _window_drift(profile: ReferenceProfile, part: Window, options: DriftOptions) -> WindowDrift:
    features = [f for f in profile.features if f in part.features.columns]
    if not features:
        raise InvalidInput(
            f"the log of version {part.version} has none of the profile's features "
            f"({', '.join(sorted(profile.features)[:5])}…)"
        )
    current = part.features[features]
    data = dataset_drift_from_profile(
        profile, current, options.model_copy(update={"columns": features})
    )
    prediction = None
    column = profile.prediction_column
    outputs = part.outputs
    if profile.prediction is not None and column is not None and not outputs.empty:
        name = f"out_{column}" if f"out_{column}" in outputs.columns else outputs.columns[0]
        frame = pd.DataFrame({column: outputs[name].to_numpy()})
        results = column_drift_from_profile(
            profile, frame, options.model_copy(update={"columns": [column]})
        )
        prediction = results[0] if results else None
    return WindowDrift(part.start, part.end, part.version, part.rows, data, prediction)
