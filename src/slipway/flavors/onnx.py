"""ONNX models, run with onnxruntime on the CPU.

onnx, onnxruntime and skl2onnx are an optional extra (``pip install 'slipway[onnx]'``), so this
module imports them only when an ONNX model is saved, loaded or converted.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from slipway.core.errors import InvalidInput, SignatureMismatch
from slipway.core.names import check_relative_path
from slipway.flavors.base import LoadOptions, check_serialization, metadata_str

_FILE = "model.onnx"
_INSTALL = "pip install 'slipway[onnx]'"
_LOAD_ERRORS = ("Fail", "InvalidGraph", "InvalidProtobuf", "NoModel", "NotImplemented")
# onnxruntime's element type names, as numpy dtypes; strings travel as object arrays.
_ORT_TYPES: dict[str, Any] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int8)": np.int8,
    "tensor(int16)": np.int16,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(uint8)": np.uint8,
    "tensor(uint16)": np.uint16,
    "tensor(uint32)": np.uint32,
    "tensor(uint64)": np.uint64,
    "tensor(bool)": np.bool_,
    "tensor(string)": object,
}


def _ort_errors(names: tuple[str, ...]) -> tuple[type[Exception], ...]:
    # onnxruntime's errors derive from Exception directly and live in its compiled module.
    state = _require("onnxruntime.capi.onnxruntime_pybind11_state")
    return tuple(getattr(state, name) for name in names if hasattr(state, name))


def _require(module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise InvalidInput(f"ONNX support needs the {module} package: {_INSTALL}") from None


class OnnxPredictor:
    """An onnxruntime session fed by input name.

    ``predict`` returns the single output's array when the model has one output, and a dict
    of output name to array when it has several (a converted classifier gives ``label`` and
    ``probabilities``).
    """

    def __init__(self, session: Any) -> None:
        self.session = session
        self.inputs = [(i.name, i.type, list(i.shape)) for i in session.get_inputs()]
        self.output_names = [o.name for o in session.get_outputs()]

    def predict(self, data: Any) -> Any:
        """Run the model on ``data`` (array, dict of arrays by input name, or DataFrame)."""
        feed = self._feed(data)
        try:
            outputs = self.session.run(None, feed)
        except _ort_errors(("InvalidArgument",)) as exc:
            raise InvalidInput(f"onnxruntime rejected the input: {exc}") from None
        if len(outputs) == 1:
            return outputs[0]
        return dict(zip(self.output_names, outputs, strict=True))

    def _feed(self, data: Any) -> dict[str, Any]:
        names = [name for name, _, _ in self.inputs]
        if isinstance(data, dict):
            given = data
        elif isinstance(data, pd.DataFrame) and len(names) > 1:
            # Per-column inputs, as skl2onnx makes for a DataFrame with mixed types.
            given = {str(c): data[c].to_numpy() for c in data.columns}
        elif len(names) == 1:
            given = {names[0]: data.to_numpy() if isinstance(data, pd.DataFrame) else data}
        else:
            raise SignatureMismatch(
                "input", f"the model takes several inputs ({', '.join(names)}); pass a dict"
            )
        for name in names:
            if name not in given:
                raise SignatureMismatch(name, "missing model input")
        for name in given:
            if name not in names:
                raise SignatureMismatch(str(name), f"unexpected input; expected {', '.join(names)}")
        return {
            name: self._tensor(name, kind, shape, given[name]) for name, kind, shape in self.inputs
        }

    @staticmethod
    def _tensor(name: str, kind: str, shape: list[Any], values: Any) -> Any:
        array = np.asarray(values)
        if len(shape) == 2 and array.ndim == 1:
            array = array.reshape(-1, 1)
        dtype = _ORT_TYPES.get(kind)
        if dtype is None:
            raise InvalidInput(f"ONNX input {name!r} has unsupported type {kind}")
        try:
            return array.astype(dtype) if dtype is not object else array.astype(str).astype(object)
        except (ValueError, TypeError):
            raise SignatureMismatch(name, f"cannot convert {array.dtype} to {kind}") from None


def _is_model_proto(model: object) -> bool:
    # An onnx.ModelProto can only exist once onnx is imported, so look without importing it.
    onnx = sys.modules.get("onnx")
    return onnx is not None and isinstance(model, onnx.ModelProto)


class OnnxFlavor:
    """``onnx.ModelProto`` models; see :func:`to_onnx` to convert scikit-learn ones."""

    name = "onnx"

    def accepts(self, model: object) -> bool:
        """True for an ``onnx.ModelProto``."""
        return _is_model_proto(model)

    def save(
        self,
        model: object,
        directory: Path,
        *,
        input_example: Any | None,
        serialization: str | None = None,
    ) -> dict[str, Any]:
        """Check the model with onnx's checker and write it as ``model.onnx``."""
        check_serialization(self.name, serialization, ("onnx",))
        onnx = _require("onnx")
        if not isinstance(model, onnx.ModelProto):
            raise InvalidInput(f"the onnx flavor saves onnx.ModelProto, got {type(model)!r}")
        try:
            onnx.checker.check_model(model)
        except onnx.checker.ValidationError as exc:
            raise InvalidInput(f"invalid ONNX model: {exc}") from None
        (directory / _FILE).write_bytes(model.SerializeToString())
        return {
            "serialization": "onnx",
            "file": _FILE,
            "inputs": [i.name for i in model.graph.input],
            "outputs": [o.name for o in model.graph.output],
            "opsets": {imp.domain or "ai.onnx": imp.version for imp in model.opset_import},
            "onnx_version": onnx.__version__,
        }

    def load(
        self, directory: Path, metadata: dict[str, Any], options: LoadOptions
    ) -> OnnxPredictor:
        """Start an onnxruntime CPU session from the file's bytes (no file is kept open)."""
        ort = _require("onnxruntime")
        file = check_relative_path(metadata_str(self.name, metadata, "file"))
        path = directory / file
        if not path.is_file():
            raise InvalidInput(f"ONNX model file {file} is missing from the saved model")
        errors: tuple[type[Exception], ...] = (RuntimeError, *_ort_errors(_LOAD_ERRORS))
        try:
            session = ort.InferenceSession(path.read_bytes(), providers=["CPUExecutionProvider"])
        except errors as exc:
            raise InvalidInput(f"onnxruntime cannot load {file}: {exc}") from None
        return OnnxPredictor(session)


def to_onnx(model: Any, input_example: Any, *, target_opset: int | None = None) -> Any:
    """Convert a fitted scikit-learn model to an ``onnx.ModelProto`` with skl2onnx.

    ``input_example`` fixes the input types: an array becomes one tensor input named ``X``
    (float64 is narrowed to float32, as ONNX's tree and linear operators compute in float32);
    a DataFrame of numbers is treated the same way unless the model selects columns by name,
    and any other DataFrame becomes one input per column. Classifiers output plain arrays
    (``label``, ``probabilities``) instead of skl2onnx's default list of dicts.
    """
    skl2onnx = _require("skl2onnx")
    from sklearn.base import BaseEstimator, is_classifier

    if not isinstance(model, BaseEstimator):
        raise InvalidInput(f"to_onnx converts scikit-learn estimators, got {type(model)!r}")
    candidates: list[Any] = []
    if isinstance(input_example, pd.DataFrame):
        if all(pd.api.types.is_numeric_dtype(t) for t in input_example.dtypes):
            candidates.append(input_example.to_numpy(dtype=np.float32))
        # Per-column inputs also serve models (ColumnTransformer) that pick columns by name.
        candidates.append(input_example)
    else:
        example = np.asarray(input_example)
        candidates.append(example.astype(np.float32) if example.dtype == np.float64 else example)
    options = {id(model): {"zipmap": False}} if is_classifier(model) else None
    failure: Exception | None = None
    for example in candidates:
        try:
            return skl2onnx.to_onnx(model, example[:1], options=options, target_opset=target_opset)
        except (RuntimeError, ValueError, TypeError, NotImplementedError) as exc:
            failure = exc
    raise InvalidInput(f"skl2onnx cannot convert {type(model).__name__}: {failure}")
