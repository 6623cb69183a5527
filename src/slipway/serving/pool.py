"""The model versions one server holds: load, warm up, serve, drain, unload."""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from slipway.core.errors import InvalidInput
from slipway.flavors import LoadedModel, Signature
from slipway.flavors.detection.limits import ImageLimits
from slipway.flavors.dtypes import FLOATS
from slipway.serving.batching import AdaptiveBatcher
from slipway.serving.images import ImagePlan
from slipway.serving.metrics import ServerMetrics
from slipway.serving.predlog import ColumnBlock

DETECTOR_FLAVOR = "detector"


class ModelState(enum.StrEnum):
    LOADING = "loading"
    READY = "ready"
    DRAINING = "draining"
    UNLOADED = "unloaded"


class MatrixPlan:
    """The fast path for tabular models whose columns all share one float type.

    Most tabular models take only numbers. For them a request's rows become one 2-D array in
    the signature's column order, built in one numpy call instead of a DataFrame per request;
    the batcher stacks those arrays and one DataFrame is built per batch, on the predict
    thread. Anything the fast path is not sure about (missing values, booleans, strings,
    missing or extra fields, single values) goes through the signature check as before, and
    its result is turned into the same array, so both paths agree exactly.
    """

    def __init__(self, names: tuple[str, ...], dtype: str) -> None:
        self.names = names
        self.dtype = np.dtype(dtype)
        self.columns = pd.Index(names)
        self._keys = frozenset(names)

    @classmethod
    def for_signature(cls, signature: Signature | None) -> MatrixPlan | None:
        if signature is None or signature.inputs.kind != "columns":
            return None
        dtypes = {f.dtype for f in signature.inputs.fields}
        if len(dtypes) != 1 or next(iter(dtypes)) not in FLOATS:
            return None
        return cls(signature.inputs.names, dtypes.pop())

    def fast(self, data: Any) -> np.ndarray[Any, Any] | None:
        """``data`` as an (n, k) array, or None when the full check must decide."""
        names, keys = self.names, self._keys
        if type(data) is list and data:
            rows = []
            for record in data:
                if type(record) is not dict or record.keys() != keys:
                    return None
                rows.append([record[name] for name in names])
        elif type(data) is dict and data.keys() == keys:
            columns = [data[name] for name in names]
            if not all(type(c) is list for c in columns):
                return None
            rows = columns  # transposed below
        else:
            return None
        if any(type(v) is bool for row in rows for v in row):
            return None
        try:
            matrix = np.array(rows)
        except ValueError:  # ragged
            return None
        if matrix.ndim != 2 or matrix.dtype.kind not in "if" or matrix.shape[0] == 0:
            return None
        if type(data) is dict:
            matrix = matrix.T
        return matrix.astype(self.dtype, copy=False)

    def from_checked(self, frame: pd.DataFrame) -> np.ndarray[Any, Any]:
        return frame.to_numpy(dtype=self.dtype)

    def frame(self, matrix: np.ndarray[Any, Any]) -> pd.DataFrame:
        return pd.DataFrame(matrix, columns=self.columns, copy=False)


@dataclass
class ServedModel:
    """One loaded model version with its batcher and live counters."""

    name: str
    version: int
    uri: str
    model: LoadedModel
    batcher: AdaptiveBatcher
    state: ModelState = ModelState.LOADING
    in_flight: int = 0
    load_seconds: float = 0.0
    _idle: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def signature(self) -> Signature | None:
        return self.model.signature

    @property
    def key(self) -> tuple[str, int]:
        return self.name, self.version

    plan: MatrixPlan | None = None
    images: ImagePlan | None = None
    """Set for detectors: image requests are checked by it instead of the signature."""

    def check(self, data: Any) -> Any:
        """``data`` validated against the signature (SignatureMismatch names the field).

        With a :class:`MatrixPlan`, checked input is an (n, k) array in column order.
        """
        if self.images is not None:
            return self.images.check(data)
        plan = self.plan
        if plan is None:
            return self.model.check(data)
        matrix = plan.fast(data)
        return plan.from_checked(self.model.check(data)) if matrix is None else matrix

    def loggable(self, checked: Any) -> Any:
        """Checked input in a form the prediction log splits into named columns."""
        if self.images is not None:
            return self.images.loggable(checked)
        plan = self.plan
        if plan is None or not isinstance(checked, np.ndarray):
            return checked
        return ColumnBlock(plan.names, checked)

    async def predict(self, checked: Any) -> Any:
        """Predict already-checked input through the batcher, counting it as in flight."""
        self.in_flight += 1
        self._idle.clear()
        try:
            return await self.batcher.submit(checked)
        finally:
            self.in_flight -= 1
            if self.in_flight == 0:
                self._idle.set()

    async def drain(self, timeout: float) -> bool:
        """Stop taking new work and wait until in-flight requests finished."""
        self.state = ModelState.DRAINING
        if self.in_flight == 0:
            return True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


async def load_served_model(
    load: Callable[[], tuple[LoadedModel, str, int, str]],
    *,
    max_batch_size: int,
    max_latency_ms: float,
    metrics: ServerMetrics,
    image_limits: ImageLimits | None = None,
    log_images: bool = False,
) -> ServedModel:
    """Load a version off the event loop, warm it up on its input example, mark it ready.

    ``load`` returns the model, its registered name, its version number and its pinned URI (it
    runs in a thread: loading reads and verifies blobs).
    """
    started = time.perf_counter()
    model, name, version, uri = await asyncio.to_thread(load)
    labels = (name, str(version))
    plan = MatrixPlan.for_signature(model.signature)
    raw_predict = model.raw.predict
    predict_array = getattr(model.raw, "predict_array", None)
    predict: Callable[[Any], Any]
    if plan is None:
        predict = raw_predict
    elif callable(predict_array):  # the flavor takes the array as is (sklearn)
        predict = lambda m: predict_array(m, plan.names)  # noqa: E731
    else:
        predict = lambda m: raw_predict(plan.frame(m))  # noqa: E731
    batcher = AdaptiveBatcher(
        predict,
        max_batch_size=max_batch_size,
        max_latency_ms=max_latency_ms,
        on_batch=metrics.batch_size.labels(*labels).observe,
    )
    served = ServedModel(name, version, uri, model, batcher, plan=plan)
    if model.flavor == DETECTOR_FLAVOR:
        limits = image_limits or ImageLimits()
        served.images = ImagePlan(limits, log_images=log_images)
        if hasattr(model.raw, "limits"):  # the Detector decodes under the same limits
            model.raw.limits = limits
    served._idle.set()
    example = model.descriptor.get("input_example")
    if example is not None:
        try:
            await served.predict(served.check(example))
        except Exception as exc:
            await batcher.close()
            raise InvalidInput(f"{uri} failed its warm-up prediction: {exc}") from exc
    served.load_seconds = time.perf_counter() - started
    metrics.load_seconds.labels(*labels).set(served.load_seconds)
    served.state = ModelState.READY
    metrics.ready.labels(*labels).set(1)
    return served
