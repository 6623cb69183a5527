"""Packaging a model into the artifact store and loading it back.

A saved model is one manifest: the files its flavor wrote, plus a descriptor in the manifest's
metadata (flavor, flavor metadata, signature, a small input example, versions, user metadata).
One digest therefore pins the model's bytes and everything needed to load and check it. The
descriptor carries no timestamp, so saving the same model twice gives the same digest.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import shutil
import tempfile
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pandas as pd

from slipway.artifacts import ArtifactStore
from slipway.artifacts.manifest import Manifest, fetch_manifest, materialize, store_directory
from slipway.core.errors import InvalidInput
from slipway.flavors.base import (
    NEEDS_FILES_KEY,
    UNTRUSTED_TYPES_KEY,
    LoadOptions,
    Predictor,
    flavor_for,
    get_flavor,
)
from slipway.flavors.signature import Signature, check_input, infer_schema

DESCRIPTOR_FORMAT = "slipway.model/v1"
_EXAMPLE_ROWS = 5
_EXAMPLE_MAX_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class SavedModel:
    """What :func:`save_model` stored: the manifest digest names the model from now on."""

    manifest_digest: str
    flavor: str
    signature: Signature | None
    manifest: Manifest


def _slipway_version() -> str:
    try:
        return importlib.metadata.version("slipway")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _json_able(value: Any, what: str) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} must be JSON-able: {exc}") from None


def _example_json(example: Any) -> Any | None:
    """The first rows of ``example`` as JSON that :func:`check_input` accepts, if small."""
    if isinstance(example, pd.DataFrame):
        value = json.loads(example.head(_EXAMPLE_ROWS).to_json(orient="records", date_format="iso"))
    elif isinstance(example, dict):
        frame = pd.DataFrame({k: list(np.asarray(v)[:_EXAMPLE_ROWS]) for k, v in example.items()})
        value = json.loads(frame.to_json(orient="records", date_format="iso"))
    elif isinstance(example, list) and example and isinstance(example[0], dict):
        frame = pd.DataFrame.from_records(example[:_EXAMPLE_ROWS])
        value = json.loads(frame.to_json(orient="records", date_format="iso"))
    else:
        array = np.asarray(example)[:_EXAMPLE_ROWS]
        if array.dtype.kind == "f" and np.isnan(array).any():
            missing = np.isnan(array)
            array = array.astype(object)
            array[missing] = None
        value = array.tolist()
    try:
        text = json.dumps(value, allow_nan=False, default=str)
    except (TypeError, ValueError):
        return None
    return json.loads(text) if len(text) <= _EXAMPLE_MAX_BYTES else None


def _infer_signature(predictor: Predictor, input_example: Any) -> Signature:
    inputs_only = Signature(infer_schema(input_example))
    output = predictor.predict(check_input(inputs_only, input_example))
    try:
        outputs = infer_schema(output, default_name="output")
    except InvalidInput:
        # An output no schema describes (e.g. a list of dicts) leaves outputs unknown; inputs
        # are what requests are held to.
        return inputs_only
    return Signature(inputs_only.inputs, outputs)


def save_model(
    model: object,
    store: ArtifactStore,
    *,
    flavor: str | None = None,
    input_example: Any | None = None,
    metadata: dict[str, Any] | None = None,
    serialization: str | None = None,
    signature: Signature | None = None,
) -> SavedModel:
    """Save ``model`` into ``store`` as one manifest and return its digest.

    ``flavor`` defaults to the one :func:`flavor_for` picks from the model's type. With an
    ``input_example`` the model is loaded back from what was written and run on the example:
    that checks the round trip and infers the signature (inputs from the example, outputs
    from the prediction). ``metadata`` is free JSON kept with the model. ``serialization``
    picks a flavor's non-default format, e.g. ``"pickle"`` for sklearn. An explicit
    ``signature`` is stored as given instead of being inferred (for inputs no schema
    inference describes, such as encoded images); the example is then only stored.
    """
    chosen = get_flavor(flavor) if flavor is not None else flavor_for(model)
    if not chosen.accepts(model):
        raise InvalidInput(f"flavor {chosen.name!r} cannot save a {type(model).__qualname__}")
    user_metadata = dict(metadata or {})
    _json_able(user_metadata, "model metadata")
    with tempfile.TemporaryDirectory(prefix="slipway-save-") as tmp:
        directory = Path(tmp)
        flavor_metadata = chosen.save(
            model, directory, input_example=input_example, serialization=serialization
        )
        _json_able(flavor_metadata, f"{chosen.name} flavor metadata")
        if signature is None and input_example is not None:
            # The files were written a moment ago from the object in hand, so trusting them
            # here is no wider than trusting the object itself.
            options = LoadOptions(
                allow_pickle=True,
                trusted_types=tuple(flavor_metadata.get(UNTRUSTED_TYPES_KEY, ())),
            )
            predictor = chosen.load(directory, flavor_metadata, options)
            signature = _infer_signature(predictor, input_example)
        descriptor = {
            "format": DESCRIPTOR_FORMAT,
            "flavor": chosen.name,
            "flavor_metadata": flavor_metadata,
            "signature": None if signature is None else signature.to_dict(),
            "input_example": None if input_example is None else _example_json(input_example),
            "metadata": user_metadata,
            "slipway_version": _slipway_version(),
            "python_version": platform.python_version(),
        }
        digest, manifest = store_directory(store, directory, descriptor)
    return SavedModel(digest, chosen.name, signature, manifest)


class LoadedModel:
    """A model ready to predict, with its signature and descriptor.

    :meth:`predict` checks input against the signature first (SignatureMismatch names the
    offending field). Models whose flavor reads files after loading keep a private temporary
    directory until :meth:`close` (or garbage collection); use the model as a context manager
    to release it promptly.
    """

    def __init__(
        self,
        *,
        raw: Predictor,
        descriptor: dict[str, Any],
        signature: Signature | None,
        workdir: Path | None = None,
    ) -> None:
        self.raw = raw
        self.descriptor = descriptor
        self.signature = signature
        self.workdir = workdir
        self._cleanup = (
            weakref.finalize(self, shutil.rmtree, workdir, True) if workdir is not None else None
        )

    @property
    def flavor(self) -> str:
        """The flavor's name, e.g. ``"sklearn"``."""
        return str(self.descriptor["flavor"])

    @property
    def metadata(self) -> dict[str, Any]:
        """The free metadata given to :func:`save_model`."""
        value = self.descriptor.get("metadata")
        return dict(value) if isinstance(value, dict) else {}

    @property
    def methods(self) -> tuple[str, ...]:
        """Prediction methods offered: always ``predict``, plus e.g. ``predict_proba``."""
        methods = getattr(self.raw, "methods", ("predict",))
        return tuple(str(m) for m in methods)

    def check(self, data: Any) -> Any:
        """``data`` validated and normalized by the signature (unchanged when there is none)."""
        return data if self.signature is None else check_input(self.signature, data)

    def predict(self, data: Any) -> Any:
        """Predictions for ``data`` after checking it against the signature."""
        return self.raw.predict(self.check(data))

    def predict_proba(self, data: Any) -> Any:
        """Class probabilities, for models that offer them (see :attr:`methods`)."""
        if "predict_proba" not in self.methods:
            raise InvalidInput(f"this {self.flavor} model has no predict_proba")
        return getattr(self.raw, "predict_proba")(self.check(data))  # noqa: B009

    def close(self) -> None:
        """Delete the model's temporary files, if it kept any."""
        if self._cleanup is not None:
            self._cleanup()

    def __enter__(self) -> LoadedModel:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LoadedModel(flavor={self.flavor!r}, signature={self.signature is not None})"


def _parse_descriptor(metadata: dict[str, Any]) -> tuple[dict[str, Any], Signature | None]:
    if metadata.get("format") != DESCRIPTOR_FORMAT:
        raise InvalidInput(f"not a Slipway model (expected descriptor {DESCRIPTOR_FORMAT})")
    if not isinstance(metadata.get("flavor"), str):
        raise InvalidInput("model descriptor: 'flavor' must be a string")
    if not isinstance(metadata.get("flavor_metadata"), dict):
        raise InvalidInput("model descriptor: 'flavor_metadata' must be an object")
    stored = metadata.get("signature")
    return metadata, None if stored is None else Signature.from_dict(stored)


def load_model(
    store: ArtifactStore,
    manifest_digest: str,
    *,
    allow_pickle: bool = False,
    trusted_types: Iterable[str] = (),
) -> LoadedModel:
    """Load the model saved under ``manifest_digest``; every file is verified on the way.

    ``allow_pickle`` and ``trusted_types`` widen what may be loaded (see :class:`LoadOptions`);
    leave them at their defaults for models of unknown origin.
    """
    if isinstance(trusted_types, str):
        raise InvalidInput("trusted_types takes a list of type names, not a single string")
    options = LoadOptions(allow_pickle=allow_pickle, trusted_types=tuple(trusted_types))
    manifest = fetch_manifest(store, manifest_digest)
    descriptor, signature = _parse_descriptor(manifest.metadata)
    flavor = get_flavor(descriptor["flavor"])
    flavor_metadata: dict[str, Any] = descriptor["flavor_metadata"]
    workdir = Path(tempfile.mkdtemp(prefix="slipway-model-"))
    try:
        materialize(store, manifest, workdir)
        raw = flavor.load(workdir, flavor_metadata, options)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    if flavor_metadata.get(NEEDS_FILES_KEY) is not True:
        shutil.rmtree(workdir, ignore_errors=True)
        return LoadedModel(raw=raw, descriptor=descriptor, signature=signature)
    return LoadedModel(raw=raw, descriptor=descriptor, signature=signature, workdir=workdir)
