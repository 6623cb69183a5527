"""Datasets as runs record them: a name, a content hash, a schema and a row count."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from slipway.core.entities import Dataset
from slipway.core.errors import InvalidInput
from slipway.core.names import check_name


def dataset_from(data: Any, *, name: str, source: str = "") -> Dataset:
    """Describe ``data`` (DataFrame, ndarray or mapping of columns) by a sha256 of its content.

    Two data sets with the same values, column names and dtypes get the same digest however
    they were loaded, so a model's lineage can say exactly which data trained it.
    """
    check_name("dataset", name)
    if isinstance(data, Dataset):
        return data
    if isinstance(data, Mapping):
        try:
            data = pd.DataFrame({str(k): np.asarray(v) for k, v in data.items()})
        except ValueError as exc:
            raise InvalidInput(f"dataset {name!r}: columns are not of one length: {exc}") from None
    if isinstance(data, pd.Series):
        data = data.to_frame()
    if isinstance(data, pd.DataFrame):
        return Dataset(name, _frame_digest(data), source, len(data), _frame_schema(data))
    if isinstance(data, np.ndarray | list | tuple):
        arr = np.ascontiguousarray(np.asarray(data))
        if arr.dtype == object:
            return dataset_from(pd.DataFrame(arr.reshape(len(arr), -1)), name=name, source=source)
        h = hashlib.sha256(f"ndarray:{arr.dtype.str}:{arr.shape}".encode())
        h.update(arr.tobytes())
        rows = int(arr.shape[0]) if arr.ndim else 1
        shape = ",".join(["-1", *map(str, arr.shape[1:])])
        return Dataset(name, h.hexdigest(), source, rows, {"tensor": f"{arr.dtype}[{shape}]"})
    raise InvalidInput(
        f"dataset {name!r}: cannot hash a {type(data).__name__}; "
        "pass a pandas DataFrame, a numpy array or a mapping of column name to values"
    )


def _frame_schema(frame: pd.DataFrame) -> dict[str, str]:
    return {str(c): str(t) for c, t in frame.dtypes.items()}


def _frame_digest(frame: pd.DataFrame) -> str:
    h = hashlib.sha256(b"dataframe:")
    for column, dtype in _frame_schema(frame).items():
        h.update(f"{column}\x00{dtype}\x01".encode())
    row_hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    h.update(row_hashes.tobytes())
    return h.hexdigest()
