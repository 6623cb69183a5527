"""Models written as Python code, referenced by import path instead of pickled.

A saved python-function model is the import path of its code (``package.module:QualName``)
plus a JSON config and optional files. Loading imports that code from the current environment,
so the code must be installed wherever the model is loaded, and a saved model never carries
executable bytes. Loading still runs installed code named by the stored metadata: import paths
into the standard library are refused, a class must subclass :class:`PythonModel`, and a
function must be defined in the module it is named by.
"""

from __future__ import annotations

import importlib
import inspect
import json
import shutil
import sys
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from slipway.core.errors import InvalidInput
from slipway.core.names import check_relative_path
from slipway.flavors.base import NEEDS_FILES_KEY, LoadOptions, Predictor, check_serialization

ARTIFACTS_DIR = "artifacts"


class PythonModel:
    """Base class for models written in Python.

    Subclasses take their settings as keyword arguments (stored by this ``__init__`` and
    returned by :meth:`get_config`, which must be JSON-able), implement :meth:`predict`, and
    may read files in :meth:`load_context`. Files to ship with the model are named in
    ``artifacts``: a mapping of artifact name (a relative path) to a local file or directory,
    copied into the saved model under the same name.
    """

    artifacts: Mapping[str, str] = types.MappingProxyType({})

    def __init__(self, **config: Any) -> None:
        self.config = dict(config)

    def get_config(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this model; saved as JSON."""
        return dict(self.config)

    def load_context(self, artifacts_dir: Path) -> None:
        """Called once after loading, with the directory holding the saved artifacts."""

    def predict(self, data: Any) -> Any:
        """Predictions for ``data``; subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__qualname__} does not implement predict")


class FunctionPredictor:
    """A module-level function used as a model."""

    def __init__(self, function: Callable[[Any], Any]) -> None:
        self.function = function

    def predict(self, data: Any) -> Any:
        """Call the function on ``data``."""
        return self.function(data)


def _entry_point(obj: Any, what: str) -> str:
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", "")
    if qualname == "<lambda>":
        raise InvalidInput(f"cannot save a lambda as a {what}: define a module-level function")
    if "<locals>" in qualname:
        raise InvalidInput(
            f"cannot save {qualname}: it is defined inside a function and cannot be imported "
            "back; move it to module level"
        )
    if not module or module == "__main__":
        raise InvalidInput(
            f"cannot save {qualname}: it is defined in __main__ and cannot be imported back; "
            "move it into an importable module"
        )
    entry_point = f"{module}:{qualname}"
    if _resolve(entry_point) is not obj:
        raise InvalidInput(f"cannot save {qualname}: {entry_point} does not import back to it")
    return entry_point


def _resolve(entry_point: str) -> Any:
    module_name, _, qualname = entry_point.partition(":")
    if not module_name or not qualname:
        raise InvalidInput(f"invalid entry point {entry_point!r}: expected 'module:QualName'")
    if module_name.split(".")[0] in sys.stdlib_module_names:
        raise InvalidInput(f"refusing entry point {entry_point!r} in the standard library")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidInput(
            f"cannot import {module_name} for entry point {entry_point}: {exc}"
        ) from exc
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        # Walking only through classes keeps a path from reaching into other modules
        # (``pkg:os.system``) or builtins.
        if obj is None or isinstance(obj, types.ModuleType):
            break
    if getattr(obj, "__module__", None) != module_name or (
        getattr(obj, "__qualname__", None) != qualname
    ):
        raise InvalidInput(
            f"entry point {entry_point} does not name a class or function defined in {module_name}"
        )
    return obj


def _copy_artifacts(model: PythonModel, directory: Path) -> list[str]:
    artifacts = model.artifacts
    if not isinstance(artifacts, Mapping):
        raise InvalidInput("PythonModel.artifacts must map artifact names to local paths")
    names = []
    for name, source in sorted(artifacts.items()):
        check_relative_path(name)
        path = Path(source)
        target = directory / ARTIFACTS_DIR / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            shutil.copytree(path, target)
        elif path.is_file():
            shutil.copyfile(path, target)
        else:
            raise InvalidInput(f"artifact {name!r}: no such file or directory {source}")
        names.append(name)
    return names


class PythonFunctionFlavor:
    """:class:`PythonModel` instances and plain module-level ``predict(data)`` functions."""

    name = "python_function"

    def accepts(self, model: object) -> bool:
        """True for a PythonModel or any Python function (save rejects unimportable ones)."""
        return isinstance(model, PythonModel) or inspect.isfunction(model)

    def save(
        self,
        model: object,
        directory: Path,
        *,
        input_example: Any | None,
        serialization: str | None = None,
    ) -> dict[str, Any]:
        """Record the model's import path and config, and copy its artifacts."""
        check_serialization(self.name, serialization, ("import_path",))
        if inspect.isfunction(model):
            entry_point = _entry_point(model, "model")
            return {"serialization": "import_path", "entry_point": entry_point, "kind": "function"}
        if not isinstance(model, PythonModel):
            raise InvalidInput(
                f"python_function saves a PythonModel or a function, got {type(model)!r}"
            )
        entry_point = _entry_point(type(model), "model class")
        config = model.get_config()
        try:
            json.dumps(config, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"{entry_point}.get_config() is not JSON-able: {exc}") from None
        artifacts = _copy_artifacts(model, directory)
        return {
            "serialization": "import_path",
            "entry_point": entry_point,
            "kind": "class",
            "config": config,
            "artifacts": artifacts,
            NEEDS_FILES_KEY: bool(artifacts),
        }

    def load(self, directory: Path, metadata: dict[str, Any], options: LoadOptions) -> Predictor:
        """Import the entry point; instantiate a class with its config and load its context."""
        entry_point = metadata.get("entry_point")
        if not isinstance(entry_point, str):
            raise InvalidInput("python_function metadata: 'entry_point' must be a string")
        kind = metadata.get("kind")
        target = _resolve(entry_point)
        if kind == "function":
            if not inspect.isfunction(target):
                raise InvalidInput(f"entry point {entry_point} is not a function")
            return FunctionPredictor(target)
        if kind != "class":
            raise InvalidInput(f"python_function metadata: unknown kind {kind!r}")
        if not (isinstance(target, type) and issubclass(target, PythonModel)):
            raise InvalidInput(f"entry point {entry_point} is not a PythonModel subclass")
        config = metadata.get("config", {})
        if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
            raise InvalidInput("python_function metadata: 'config' must be an object")
        model = target(**config)
        model.load_context(directory / ARTIFACTS_DIR)
        return model
