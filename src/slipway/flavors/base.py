"""The flavor contract: how one model format is saved, loaded and asked for predictions.

A flavor writes a model into a directory and returns JSON-able metadata describing what it
wrote; given the same directory and metadata it loads a :class:`Predictor` back. Packaging,
signatures and storage live in :mod:`slipway.flavors.model`, so a flavor only knows its format.

Two metadata keys have a meaning beyond the flavor that writes them:

* ``untrusted_types``: names the saved files reference beyond the loader's defaults. It is
  informational (a registry can show it before anyone loads); loaders still check the file.
* ``needs_files``: the loaded predictor reads files from the directory after ``load`` returns,
  so the directory must live as long as the predictor.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from slipway.core.errors import InvalidInput

UNTRUSTED_TYPES_KEY = "untrusted_types"
NEEDS_FILES_KEY = "needs_files"


@runtime_checkable
class Predictor(Protocol):
    """A loaded model: data in, predictions out."""

    def predict(self, data: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """What the caller trusts when loading.

    ``allow_pickle`` permits formats that run arbitrary code while loading (pickle); only set
    it for models whose origin you trust. ``trusted_types`` names extra types (fully qualified,
    as reported by :class:`~slipway.core.errors.UntrustedTypes`) that a skops file may contain.
    """

    allow_pickle: bool = False
    trusted_types: tuple[str, ...] = ()


class Flavor(Protocol):
    """One model format. Implementations are stateless; one instance serves every model."""

    name: str

    def accepts(self, model: object) -> bool:
        """Whether this flavor can save ``model``; must be cheap and import nothing heavy."""
        ...

    def save(
        self,
        model: object,
        directory: Path,
        *,
        input_example: Any | None,
        serialization: str | None = None,
    ) -> dict[str, Any]:
        """Write ``model`` under ``directory``; return JSON-able metadata for :meth:`load`.

        ``serialization`` picks among the flavor's formats (``None``: its safe default); a
        format the flavor does not support raises :class:`InvalidInput`.
        """
        ...

    def load(self, directory: Path, metadata: dict[str, Any], options: LoadOptions) -> Predictor:
        """Load what :meth:`save` wrote; ``metadata`` may come from an untrusted store."""
        ...


def check_serialization(flavor: str, serialization: str | None, supported: tuple[str, ...]) -> str:
    """Resolve ``serialization`` against the formats a flavor supports (first is default)."""
    if serialization is None:
        return supported[0]
    if serialization not in supported:
        raise InvalidInput(
            f"flavor {flavor!r} cannot save with serialization {serialization!r}; "
            f"supported: {', '.join(supported)}"
        )
    return serialization


def metadata_str(flavor: str, metadata: dict[str, Any], key: str) -> str:
    """A required string from stored flavor metadata; malformed metadata is InvalidInput."""
    value = metadata.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{flavor} flavor metadata: {key!r} must be a non-empty string")
    return value


@functools.cache
def _registry() -> tuple[Flavor, ...]:
    # Imported here because the flavor modules import this one for the contract.
    from slipway.flavors.detection.flavor import DetectorFlavor
    from slipway.flavors.onnx import OnnxFlavor
    from slipway.flavors.python_function import PythonFunctionFlavor
    from slipway.flavors.sklearn import SklearnFlavor
    from slipway.flavors.tflite import TfliteFlavor

    # Order matters: the first flavor that accepts a model wins.
    return (SklearnFlavor(), OnnxFlavor(), PythonFunctionFlavor(), TfliteFlavor(), DetectorFlavor())


def flavor_names() -> tuple[str, ...]:
    """Names of every built-in flavor, in the order :func:`flavor_for` tries them."""
    return tuple(f.name for f in _registry())


def get_flavor(name: str) -> Flavor:
    """The flavor called ``name``; an unknown name raises InvalidInput listing the valid ones."""
    for flavor in _registry():
        if flavor.name == name:
            return flavor
    raise InvalidInput(f"unknown flavor {name!r}; available flavors: {', '.join(flavor_names())}")


def flavor_for(model: object) -> Flavor:
    """The flavor that can save ``model``, chosen from its type."""
    for flavor in _registry():
        if flavor.accepts(model):
            return flavor
    kind = type(model)
    raise InvalidInput(
        f"no flavor can save a {kind.__module__}.{kind.__qualname__}; supported: "
        "sklearn (scikit-learn estimators), onnx (onnx.ModelProto), "
        "tflite (slipway.flavors.tflite.TfliteModel), "
        "detector (slipway.flavors.detection.DetectorPackage), "
        "python_function (a slipway.flavors.PythonModel or a module-level function)"
    )
