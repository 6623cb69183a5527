"""Wire formats: the Open Inference Protocol v2 (KServe/Triton REST) and plain JSON.

Everything here is pure: bytes in, parsed values out, and back. Every malformed request
raises :class:`InvalidInput` whose message names the offending input, field or key, so the
caller learns what to fix from the 400 alone.

OIP v2 tensors carry ``name``, ``shape``, ``datatype`` and ``data``; ``data`` holds the
elements in row-major order, flattened or nested (both are allowed by the spec). A declared
datatype is a promise about the data: strings in an ``FP64`` tensor, booleans in an ``INT32``
one or non-integral numbers in an integer tensor are refused here rather than converted (numpy
would happily turn ``"1.5"`` into 1.5). The binary-data extension is not supported and is
refused by name. Tensors map onto a model's signature by name: for a *columns* signature each
tensor is a column (shape ``[N]`` or ``[N, 1]``); a single tensor of shape ``[N, k]`` whose name
is not a column is taken as all ``k`` columns in the signature's order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pandas as pd

from slipway.core.errors import InvalidInput
from slipway.flavors import Signature
from slipway.flavors.signature import Schema

# OIP datatype -> numpy dtype; BYTES are text here (UTF-8 strings in JSON).
OIP_TO_NUMPY: dict[str, str] = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "BYTES": "object",
}
# Signature dtype -> OIP datatype (datetimes travel as ISO 8601 strings).
SIGNATURE_TO_OIP: dict[str, str] = {
    **{v: k for k, v in OIP_TO_NUMPY.items() if k != "BYTES"},
    "string": "BYTES",
    "datetime64": "BYTES",
}
_REQUEST_KEYS = frozenset({"id", "parameters", "inputs", "outputs"})
_TENSOR_KEYS = frozenset({"name", "shape", "datatype", "parameters", "data"})
_REQUIRED_TENSOR_KEYS = ("name", "shape", "datatype", "data")
_OUTPUT_KEYS = frozenset({"name", "parameters"})
_MLFLOW_ENVELOPES = frozenset({"dataframe_records", "dataframe_split", "instances", "inputs"})
_DUMPS_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
DEFAULT_OUTPUT = "output"


@dataclass(frozen=True, slots=True)
class InferRequest:
    """A parsed OIP v2 inference request: tensors by name, in request order."""

    id: str | None
    inputs: dict[str, np.ndarray[Any, Any]]
    outputs: tuple[str, ...] | None = None
    """Names of the outputs asked for; ``None`` means all."""
    parameters: dict[str, Any] = field(default_factory=dict)


def loads(body: bytes, what: str) -> Any:
    """JSON from a request body; empty or malformed bodies (NaN literals too) say so."""
    if not body.strip():
        raise InvalidInput(f"request body is empty: expected JSON ({what})")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"request body is not valid JSON ({what}): {exc}") from None


def error_body(message: str) -> bytes:
    """The OIP error object: ``{"error": "<message>"}``."""
    return orjson.dumps({"error": message})


# -- OIP v2 requests -----------------------------------------------------------------------


def parse_infer_request(body: bytes) -> InferRequest:
    """Parse and validate an OIP v2 inference request body."""
    doc = loads(body, "an OIP v2 inference request object")
    if not isinstance(doc, dict):
        raise InvalidInput("inference request must be a JSON object with 'inputs'")
    unknown = sorted(set(doc) - _REQUEST_KEYS)
    if unknown:
        raise InvalidInput(
            f"unknown inference request key {unknown[0]!r}; "
            "expected id, parameters, inputs, outputs"
        )
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidInput(f"request 'id' must be a string, got {type(request_id).__name__}")
    parameters = _parameters(doc.get("parameters"), "request")
    raw_inputs = doc.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise InvalidInput("request 'inputs' must be a non-empty list of tensors")
    inputs: dict[str, np.ndarray[Any, Any]] = {}
    for position, tensor in enumerate(raw_inputs):
        name, array = _parse_tensor(tensor, position)
        if name in inputs:
            raise InvalidInput(f"input {name!r} appears twice in the request")
        inputs[name] = array
    return InferRequest(request_id, inputs, _requested_outputs(doc.get("outputs")), parameters)


def _parameters(value: object, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{where} 'parameters' must be a JSON object")
    return value


def _requested_outputs(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidInput("request 'outputs' must be a list of {\"name\": ...} objects")
    names = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise InvalidInput("each requested output must be an object with a string 'name'")
        unknown = sorted(set(item) - _OUTPUT_KEYS)
        if unknown:
            raise InvalidInput(f"requested output {item['name']!r}: unknown key {unknown[0]!r}")
        _refuse_binary(_parameters(item.get("parameters"), f"output {item['name']!r}"), item)
        names.append(item["name"])
    return tuple(names)


def _refuse_binary(parameters: Mapping[str, Any], tensor: Mapping[str, Any]) -> None:
    if "binary_data_size" in parameters or parameters.get("binary_data"):
        raise InvalidInput(
            f"tensor {tensor.get('name')!r}: the binary data extension is not supported; "
            "send the data as JSON"
        )


def _parse_tensor(tensor: object, position: int) -> tuple[str, np.ndarray[Any, Any]]:
    if not isinstance(tensor, dict):
        raise InvalidInput(f"input {position} must be a tensor object")
    name = tensor.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"input {position}: 'name' must be a non-empty string")
    where = f"input {name!r}"
    for key in _REQUIRED_TENSOR_KEYS:
        if key not in tensor:
            raise InvalidInput(f"{where}: missing {key!r}")
    unknown = sorted(set(tensor) - _TENSOR_KEYS)
    if unknown:
        raise InvalidInput(f"{where}: unknown key {unknown[0]!r}")
    _refuse_binary(_parameters(tensor.get("parameters"), where), tensor)
    shape = tensor["shape"]
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise InvalidInput(f"{where}: 'shape' must be a list of non-negative integers")
    datatype = tensor["datatype"]
    if datatype not in OIP_TO_NUMPY:
        raise InvalidInput(
            f"{where}: unknown datatype {datatype!r}; expected one of {', '.join(OIP_TO_NUMPY)}"
        )
    data = tensor["data"]
    if not isinstance(data, list):
        raise InvalidInput(f"{where}: 'data' must be a list (flattened or nested, row-major)")
    array = _decode(data, datatype, where)
    expected = math.prod(shape)
    if array.size != expected:
        raise InvalidInput(
            f"{where}: shape {shape} needs {expected} values, 'data' holds {array.size}"
        )
    return name, array.reshape(shape)


def _decode(data: list[Any], datatype: str, where: str) -> np.ndarray[Any, Any]:
    """The elements of ``data`` as a flat array of ``datatype``, refusing anything else."""
    try:
        array = np.asarray(data)
    except ValueError:
        raise InvalidInput(
            f"{where}: 'data' is ragged (nested lists of different lengths)"
        ) from None
    array = array.ravel()
    kind = array.dtype.kind
    if array.size == 0:
        return np.empty(0, dtype=OIP_TO_NUMPY[datatype])
    if datatype == "BYTES":
        if kind != "U":
            raise InvalidInput(f"{where}: datatype BYTES needs strings, got {_describe(array)}")
        return array.astype(object)
    if datatype == "BOOL":
        if kind != "b":
            raise InvalidInput(f"{where}: datatype BOOL needs true/false, got {_describe(array)}")
        return array
    numpy_type = np.dtype(OIP_TO_NUMPY[datatype])
    if kind not in "iuf":
        raise InvalidInput(f"{where}: datatype {datatype} needs numbers, got {_describe(array)}")
    if numpy_type.kind == "f":
        return array.astype(numpy_type)
    if kind == "f" and not bool(np.all(np.mod(array, 1) == 0)):
        raise InvalidInput(f"{where}: datatype {datatype} needs integers, got fractions")
    info = np.iinfo(numpy_type)
    if array.min() < info.min or array.max() > info.max:
        raise InvalidInput(f"{where}: values outside the range of {datatype}")
    return array.astype(numpy_type)


def _describe(array: np.ndarray[Any, Any]) -> str:
    kind = array.dtype.kind
    if kind == "U":
        return "strings"
    if kind == "b":
        return "booleans"
    if kind in "iuf":
        return "numbers"
    if any(v is None for v in array.tolist()):
        return "null values"
    return "mixed values"


def to_model_input(request: InferRequest, signature: Signature | None) -> Any:
    """The request's tensors in the form the model's signature takes (checked later)."""
    inputs = request.inputs
    if signature is None:
        return next(iter(inputs.values())) if len(inputs) == 1 else dict(inputs)
    schema = signature.inputs
    if schema.kind == "tensors":
        if len(schema.fields) == 1 and len(inputs) == 1:
            return next(iter(inputs.values()))  # one tensor: its name does not matter
        return dict(inputs)
    if len(inputs) == 1:
        ((name, array),) = inputs.items()
        if name not in schema.names and array.ndim == 2:
            return array  # all columns at once, in the signature's order
    columns = {}
    for name, array in inputs.items():
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        elif array.ndim != 1:
            raise InvalidInput(
                f"input {name!r}: a column must have shape [N] or [N, 1], got {list(array.shape)}"
            )
        columns[name] = array
    return columns


# -- outputs ---------------------------------------------------------------------------------


def model_outputs(prediction: Any, signature: Signature | None) -> dict[str, np.ndarray[Any, Any]]:
    """A model's prediction as named arrays (names from the signature's outputs when known)."""
    outputs = None if signature is None else signature.outputs
    if isinstance(prediction, pd.DataFrame):
        return {str(name): np.asarray(prediction[name].to_numpy()) for name in prediction.columns}
    if isinstance(prediction, Mapping):
        return {str(name): np.asarray(value) for name, value in prediction.items()}
    if isinstance(prediction, pd.Series):
        name = prediction.name if isinstance(prediction.name, str) else _single_name(outputs)
        return {name: np.asarray(prediction.to_numpy())}
    return {_single_name(outputs): np.asarray(prediction)}


def _single_name(outputs: Schema | None) -> str:
    if outputs is not None and len(outputs.fields) == 1:
        return outputs.fields[0].name
    return DEFAULT_OUTPUT


def oip_datatype(array: np.ndarray[Any, Any]) -> str:
    kind = array.dtype.kind
    if kind == "b":
        return "BOOL"
    if kind in "iu" or array.dtype.name in ("float16", "float32", "float64"):
        return SIGNATURE_TO_OIP[array.dtype.name]
    if kind == "f":
        return "FP64"
    return "BYTES"


def _wire(array: np.ndarray[Any, Any]) -> Any:
    """Flat row-major data that orjson serialises (natively for numeric arrays)."""
    flat = np.ascontiguousarray(array).reshape(-1)
    kind = flat.dtype.kind
    if kind == "f" and flat.dtype.name not in ("float32", "float64"):
        return flat.astype(np.float64)
    if kind in "biuf":
        return flat
    if kind == "M":
        return [None if pd.isna(v) else pd.Timestamp(v).isoformat() for v in flat.tolist()]
    return [v if v is None or isinstance(v, str | int | float | bool) else str(v) for v in flat]


def encode_infer_response(
    *,
    model_name: str,
    model_version: str,
    request_id: str | None,
    outputs: Mapping[str, np.ndarray[Any, Any]],
    requested: Sequence[str] | None,
) -> bytes:
    """The OIP v2 inference response, with only the ``requested`` outputs when given."""
    names = list(outputs) if requested is None else list(requested)
    for name in names:
        if name not in outputs:
            raise InvalidInput(
                f"requested output {name!r} does not exist; this model returns {', '.join(outputs)}"
            )
    doc: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request_id is not None:
        doc["id"] = request_id
    doc["outputs"] = [
        {
            "name": name,
            "datatype": oip_datatype(outputs[name]),
            "shape": list(outputs[name].shape),
            "data": _wire(outputs[name]),
        }
        for name in names
    ]
    return orjson.dumps(doc, option=_DUMPS_OPTIONS)


# -- metadata -------------------------------------------------------------------------------


def _tensor_metadata(schema: Schema | None) -> list[dict[str, Any]]:
    if schema is None:
        return []
    return [
        {"name": f.name, "datatype": SIGNATURE_TO_OIP[f.dtype], "shape": list(f.shape)}
        for f in schema.fields
    ]


def model_metadata(
    name: str, versions: Sequence[str], signature: Signature | None, platform: str
) -> dict[str, Any]:
    """The OIP v2 model metadata object (inputs and outputs from the signature)."""
    return {
        "name": name,
        "versions": list(versions),
        "platform": f"slipway-{platform}",
        "inputs": _tensor_metadata(None if signature is None else signature.inputs),
        "outputs": _tensor_metadata(None if signature is None else signature.outputs),
    }


# -- plain JSON -----------------------------------------------------------------------------


def parse_json_records(body: bytes) -> Any:
    """Records (``[{...}, ...]``) or columns (``{"f1": [...], ...}``) from a ``/predict`` body.

    MLflow's envelopes (``dataframe_records``, ``dataframe_split``, ``instances``, ``inputs``)
    are accepted too when they are the object's only key, so MLflow clients can switch over.
    """
    doc = loads(body, "records [{...}] or columns {name: [...]}")
    if isinstance(doc, dict) and len(doc) == 1 and next(iter(doc)) in _MLFLOW_ENVELOPES:
        ((key, doc),) = doc.items()
        if key == "dataframe_split":
            doc = _split_to_columns(doc)
    if isinstance(doc, list):
        if not doc:
            raise InvalidInput("no records to predict: the list is empty")
        if isinstance(doc[0], dict):
            for i, record in enumerate(doc):
                if not isinstance(record, dict):
                    raise InvalidInput(f"record {i} is not an object like record 0")
        return doc
    if isinstance(doc, dict):
        if not doc:
            raise InvalidInput("no columns to predict: the object is empty")
        return doc
    raise InvalidInput("request body must be a list of records or an object of columns")


def _split_to_columns(doc: object) -> dict[str, list[Any]]:
    if not isinstance(doc, dict) or not isinstance(doc.get("columns"), list):
        raise InvalidInput("'dataframe_split' needs 'columns' and 'data'")
    columns, data = doc["columns"], doc.get("data")
    if not isinstance(data, list) or not all(
        isinstance(row, list) and len(row) == len(columns) for row in data
    ):
        raise InvalidInput(f"'dataframe_split' data must be rows of {len(columns)} values")
    return {str(name): [row[i] for row in data] for i, name in enumerate(columns)}


def encode_json_predictions(outputs: Mapping[str, np.ndarray[Any, Any]]) -> bytes:
    """``{"predictions": [...]}``; several outputs become ``{"predictions": {name: [...]}}``."""
    if len(outputs) == 1:
        predictions: Any = _nested(next(iter(outputs.values())))
    else:
        predictions = {name: _nested(array) for name, array in outputs.items()}
    return orjson.dumps({"predictions": predictions}, option=_DUMPS_OPTIONS)


def _nested(array: np.ndarray[Any, Any]) -> Any:
    if array.dtype.kind in "biu" or array.dtype.name in ("float32", "float64"):
        return np.ascontiguousarray(array)
    return np.asarray(_wire(array), dtype=object).reshape(array.shape).tolist()
