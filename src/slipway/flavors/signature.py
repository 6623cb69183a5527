"""A model's signature: the names, types and shapes of what it takes and returns.

Two kinds of schema exist. *Columns* describe tabular input (a DataFrame, a dict of columns, a
list of records): each column has a name, a dtype and shape ``[-1]``. *Tensors* describe array
input: each tensor has a name, a dtype and a shape whose first dimension, the batch, is ``-1``.
A signature is inferred from an input example and stored as JSON with the model; at predict
time :func:`check_input` holds requests to it and hands the model data in the form it was
trained on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from slipway.core.errors import InvalidInput, SignatureMismatch
from slipway.flavors.dtypes import DTYPES, as_array, coerce, dtype_name

SchemaKind = Literal["columns", "tensors"]
_KINDS: tuple[SchemaKind, ...] = ("columns", "tensors")


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One column or tensor: ``shape`` uses -1 for a dimension of any size."""

    name: str
    dtype: str
    shape: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}


@dataclass(frozen=True, slots=True)
class Schema:
    """The fields of one side of a signature, and whether they are columns or tensors."""

    kind: SchemaKind
    fields: tuple[FieldSpec, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "fields": [f.to_dict() for f in self.fields]}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


@dataclass(frozen=True, slots=True)
class Signature:
    """What a model takes (``inputs``) and, when known, what it returns (``outputs``)."""

    inputs: Schema
    outputs: Schema | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored with the model."""
        return {
            "inputs": self.inputs.to_dict(),
            "outputs": None if self.outputs is None else self.outputs.to_dict(),
        }

    @classmethod
    def from_dict(cls, doc: object) -> Signature:
        """Parse a stored signature; anything malformed raises InvalidInput."""
        if not isinstance(doc, Mapping) or set(doc) != {"inputs", "outputs"}:
            raise InvalidInput("malformed signature: expected an object with inputs and outputs")
        outputs = doc["outputs"]
        return cls(
            inputs=_schema_from_dict(doc["inputs"], "inputs"),
            outputs=None if outputs is None else _schema_from_dict(outputs, "outputs"),
        )


def _schema_from_dict(doc: object, side: str) -> Schema:
    where = f"malformed signature {side}"
    if not isinstance(doc, Mapping) or set(doc) != {"kind", "fields"}:
        raise InvalidInput(f"{where}: expected an object with kind and fields")
    kind, items = doc["kind"], doc["fields"]
    if kind not in _KINDS:
        raise InvalidInput(f"{where}: kind must be one of {', '.join(_KINDS)}, got {kind!r}")
    if not isinstance(items, list) or not items:
        raise InvalidInput(f"{where}: fields must be a non-empty list")
    fields = []
    for item in items:
        if not isinstance(item, Mapping) or set(item) != {"name", "dtype", "shape"}:
            raise InvalidInput(f"{where}: each field needs exactly name, dtype and shape")
        name, dtype, shape = item["name"], item["dtype"], item["shape"]
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"{where}: field name must be a non-empty string, got {name!r}")
        if dtype not in DTYPES:
            raise InvalidInput(f"{where}: field {name!r} has unknown dtype {dtype!r}")
        if (
            not isinstance(shape, list)
            or not shape
            or not all(type(d) is int and d >= -1 for d in shape)
            or (kind == "columns" and shape != [-1])
        ):
            raise InvalidInput(f"{where}: field {name!r} has invalid shape {shape!r}")
        fields.append(FieldSpec(name, dtype, tuple(shape)))
    if len({f.name for f in fields}) != len(fields):
        raise InvalidInput(f"{where}: field names repeat")
    return Schema(kind, tuple(fields))


def _signature_dtype(values: np.ndarray[Any, Any], name: str) -> str:
    dtype = dtype_name(values)
    if dtype == "empty":
        raise InvalidInput(f"cannot infer a type for {name!r}: every example value is missing")
    if dtype not in DTYPES:
        raise InvalidInput(f"cannot infer a type for {name!r}: values are {dtype}")
    return dtype


def _is_records(data: object) -> bool:
    return isinstance(data, list) and bool(data) and all(isinstance(r, Mapping) for r in data)


def _columns(mapping: Mapping[Any, Any]) -> dict[str, np.ndarray[Any, Any]]:
    columns = {}
    for name, values in mapping.items():
        if not isinstance(name, str):
            raise InvalidInput(f"column names must be strings, got {name!r}")
        columns[name] = as_array(values)
    return columns


def infer_schema(data: Any, *, default_name: str = "input") -> Schema:
    """Describe ``data``: columns for tabular data, tensors for arrays (batch dim first)."""
    if isinstance(data, pd.DataFrame):
        if not data.columns.is_unique:
            raise InvalidInput("cannot infer a signature: DataFrame column names repeat")
        data = {name: data[name] for name in data.columns}
    elif _is_records(data):
        data = {str(k): v for k, v in pd.DataFrame.from_records(data).items()}
    if isinstance(data, Mapping):
        if data and all(np.ndim(v) == 0 for v in data.values()):
            data = {name: [value] for name, value in data.items()}
        columns = _columns(data)
        if not columns:
            raise InvalidInput("cannot infer a signature from an empty mapping")
        if all(values.ndim == 1 for values in columns.values()):
            return Schema(
                "columns",
                tuple(FieldSpec(n, _signature_dtype(v, n), (-1,)) for n, v in columns.items()),
            )
        return Schema("tensors", tuple(_tensor_spec(n, v) for n, v in columns.items()))
    array = as_array(data)
    if array.ndim == 0:
        raise InvalidInput(f"cannot infer a signature from a scalar {type(data).__name__}")
    return Schema("tensors", (_tensor_spec(default_name, array),))


def _tensor_spec(name: str, array: np.ndarray[Any, Any]) -> FieldSpec:
    if array.ndim == 0:
        raise InvalidInput(f"cannot infer a signature for {name!r}: it is a scalar")
    return FieldSpec(name, _signature_dtype(array, name), (-1, *array.shape[1:]))


def infer_signature(input_example: Any, output_example: Any | None = None) -> Signature:
    """Infer a signature from an example input and, optionally, the model's output for it."""
    outputs = None
    if output_example is not None:
        outputs = infer_schema(output_example, default_name="output")
    return Signature(infer_schema(input_example), outputs)


def check_input(signature: Signature, data: Any) -> Any:
    """Hold ``data`` to ``signature.inputs`` and return it in the form the model takes.

    Column signatures accept a DataFrame, a dict of columns (or of single values, for one row),
    a list of records, or a 2-D array whose columns follow the signature's order; they return a
    DataFrame with the signature's columns in order. Tensor signatures accept an array (or
    nested lists) for a single tensor, or a dict of arrays by name; they return an ndarray for
    one tensor, else a dict. Mismatches raise SignatureMismatch naming the field.
    """
    schema = signature.inputs
    if schema.kind == "columns":
        return _check_columns(schema, data)
    return _check_tensors(schema, data)


def _column_source(schema: Schema, data: Any) -> dict[str, np.ndarray[Any, Any]]:
    if isinstance(data, pd.DataFrame):
        if not data.columns.is_unique:
            raise SignatureMismatch("input", "column names repeat")
        return {str(name): as_array(data[name]) for name in data.columns}
    if _is_records(data):
        return _records_to_columns(schema, data)
    if isinstance(data, Mapping):
        if data and all(np.ndim(v) == 0 for v in data.values()):
            data = {name: [value] for name, value in data.items()}
        return {str(name): as_array(values) for name, values in data.items()}
    if isinstance(data, np.ndarray | list):
        array = as_array(data)
        width = len(schema.fields)
        if array.ndim != 2 or array.shape[1] != width:
            raise SignatureMismatch(
                "input",
                f"expected shape [-1, {width}] (columns {', '.join(schema.names)}), "
                f"got {list(array.shape)}",
            )
        return {f.name: array[:, i] for i, f in enumerate(schema.fields)}
    raise SignatureMismatch(
        "input",
        "expected a DataFrame, a dict of columns, a list of records or a 2-D array, "
        f"got {type(data).__name__}",
    )


def _records_to_columns(schema: Schema, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    expected = set(schema.names)
    for i, record in enumerate(records):
        keys = set(record)
        if keys != expected:
            _raise_name_mismatch(schema, keys, where=f" in record {i}")
    return {name: as_array([r[name] for r in records]) for name in schema.names}


def _raise_name_mismatch(schema: Schema, given: set[str], *, where: str = "") -> None:
    for name in schema.names:
        if name not in given:
            raise SignatureMismatch(name, f"missing required field{where}")
    extra = sorted(given - set(schema.names))
    if extra:
        raise SignatureMismatch(
            extra[0], f"unexpected field{where}; expected {', '.join(schema.names)}"
        )


def _check_columns(schema: Schema, data: Any) -> pd.DataFrame:
    columns = _column_source(schema, data)
    if set(columns) != set(schema.names):
        _raise_name_mismatch(schema, set(columns))
    checked: dict[str, np.ndarray[Any, Any]] = {}
    rows: int | None = None
    for spec in schema.fields:
        values = columns[spec.name]
        if values.ndim != 1:
            raise SignatureMismatch(spec.name, f"expected shape [-1], got {list(values.shape)}")
        if rows is not None and len(values) != rows:
            raise SignatureMismatch(spec.name, f"expected {rows} values, got {len(values)}")
        rows = len(values)
        checked[spec.name] = coerce(values, spec.dtype, spec.name)
    return pd.DataFrame(checked, columns=list(schema.names))


def _check_tensors(schema: Schema, data: Any) -> Any:
    if isinstance(data, Mapping):
        tensors = {str(name): as_array(values) for name, values in data.items()}
        if set(tensors) != set(schema.names):
            _raise_name_mismatch(schema, set(tensors))
    elif len(schema.fields) == 1:
        if isinstance(data, pd.DataFrame):
            data = data.to_numpy()
        elif _is_records(data):
            raise SignatureMismatch(schema.fields[0].name, "expected an array, got records")
        tensors = {schema.fields[0].name: as_array(data)}
    else:
        raise SignatureMismatch(
            "input", f"expected a dict of tensors named {', '.join(schema.names)}"
        )
    checked = {}
    for spec in schema.fields:
        values = tensors[spec.name]
        shape = list(values.shape)
        fits = len(shape) == len(spec.shape) and all(
            want in (-1, got) for want, got in zip(spec.shape, shape, strict=True)
        )
        if not fits:
            raise SignatureMismatch(spec.name, f"expected shape {list(spec.shape)}, got {shape}")
        checked[spec.name] = coerce(values, spec.dtype, spec.name)
    if len(checked) == 1:
        return next(iter(checked.values()))
    return checked
