"""Data types as a signature names them, and the casts allowed between them.

Signatures use numpy's names (``float64``, ``int32``, ``bool``) plus ``string`` for text and
``datetime64`` for timestamps, so a signature reads the same whether the data arrived as a
DataFrame, a dict of lists or JSON.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype

from slipway.core.errors import SignatureMismatch

FLOATS = ("float16", "float32", "float64")
INTS = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
DTYPES = ("bool", *INTS, *FLOATS, "string", "datetime64")

# What pandas' infer_dtype reports for object arrays, in signature terms. Anything absent
# (mixed, bytes, decimal, ...) has no signature type.
_INFERRED = {
    "string": "string",
    "integer": "int64",
    "floating": "float64",
    "mixed-integer-float": "float64",
    "boolean": "bool",
    "datetime": "datetime64",
    "datetime64": "datetime64",
    "empty": "empty",
}


def as_array(values: Any) -> np.ndarray[Any, Any]:
    """A column or tensor as a numpy array; pandas extension types become numpy ones."""
    if isinstance(values, pd.Series | pd.Index):
        dtype = values.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            return np.asarray(values.astype(dtype.categories.dtype).to_numpy())
        return np.asarray(values.to_numpy())
    if isinstance(values, np.ndarray):
        return values
    if isinstance(values, list | tuple):
        # Object first so that [1, "a"] stays mixed instead of silently becoming strings.
        array = np.asarray(values, dtype=object)
        kind = infer_dtype(array.ravel(), skipna=True) if array.size else "empty"
        if kind in ("integer", "floating", "boolean"):
            return np.asarray(values)
        return array
    return np.asarray(values)


def dtype_name(values: np.ndarray[Any, Any]) -> str:
    """The signature name of an array's element type (``empty`` when every value is missing).

    Returns a descriptive non-signature name (``mixed``, ``bytes``, ...) for data no signature
    type describes; callers decide whether that is an error.
    """
    kind = values.dtype.kind
    if kind == "b":
        return "bool"
    if kind in "iuf":
        return str(values.dtype.name)
    if kind == "U":
        return "string"
    if kind == "M":
        return "datetime64"
    if kind == "O":
        if values.size == 0:
            return "empty"
        inferred = infer_dtype(values.ravel(), skipna=True)
        return _INFERRED.get(inferred, inferred)
    return str(values.dtype.name)


def _has_missing(values: np.ndarray[Any, Any]) -> bool:
    return bool(pd.isna(values.ravel()).any()) if values.dtype.kind in "OfM" else False


def coerce(values: np.ndarray[Any, Any], expected: str, field: str) -> np.ndarray[Any, Any]:
    """Cast ``values`` to ``expected`` when that is safe, else raise SignatureMismatch.

    Safe: any int or float to a float type, float to int when every value is integral and in
    range, between int types within range, ISO strings to datetime64. Nothing else crosses
    kinds: a string never becomes a number.
    """
    if values.size == 0 and expected in DTYPES:
        # No values, nothing to contradict the signature: an empty batch of the right type.
        numpy_type = {"string": "object", "datetime64": "datetime64[ns]"}.get(expected, expected)
        return np.empty(values.shape, dtype=numpy_type)
    actual = dtype_name(values)

    def mismatch(detail: str = "") -> SignatureMismatch:
        return SignatureMismatch(field, f"expected {expected}, got {actual}{detail}")

    if expected in FLOATS:
        if actual in FLOATS or actual in INTS or actual == "empty":
            return values.astype(expected)
        raise mismatch()
    if expected in INTS:
        if actual not in INTS and actual not in FLOATS:
            raise mismatch()
        if _has_missing(values):
            raise mismatch(" with missing values")
        numbers = values.astype(np.float64) if actual in FLOATS else values
        if actual in FLOATS and not bool(np.all(np.mod(numbers, 1) == 0)):
            raise mismatch(" with non-integral values")
        info = np.iinfo(expected)
        if numbers.size and (numbers.min() < info.min or numbers.max() > info.max):
            raise mismatch(f" with values outside the range of {expected}")
        return numbers.astype(expected)
    if expected == "bool":
        if actual != "bool":
            raise mismatch()
        if _has_missing(values):
            raise mismatch(" with missing values")
        return values.astype(bool)
    if expected == "string":
        if actual not in ("string", "empty"):
            raise mismatch()
        return values.astype(object)
    if expected == "datetime64":
        if actual == "datetime64":
            return np.asarray(pd.to_datetime(values.ravel())).reshape(values.shape)
        if actual == "string":
            try:
                parsed = pd.to_datetime(values.ravel(), format="ISO8601")
            except (ValueError, TypeError):
                raise mismatch(" that is not an ISO 8601 timestamp") from None
            return np.asarray(parsed).reshape(values.shape)
        raise mismatch()
    raise SignatureMismatch(field, f"signature names unknown dtype {expected!r}")
