"""The protocol-independent inference path: route, check, batch, log, count.

Endpoints (OIP v2 or plain JSON) only parse and encode; everything between the parsed request
and the model's outputs happens here, once.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from slipway.core.errors import SlipwayError
from slipway.serving.errors import ModelFailed, NotReady, status_for
from slipway.serving.metrics import ServerMetrics
from slipway.serving.pool import ModelState, ServedModel
from slipway.serving.predlog import ColumnBlock, PredictionLog, PredictionRecord
from slipway.serving.protocol import model_outputs
from slipway.serving.routing import Router

logger = logging.getLogger("slipway.serving")

ToModelInput = Callable[[ServedModel], Any]
"""Turns the parsed request into model input for one version (signatures may differ)."""


def explain_failure(checked: Any, exc: BaseException) -> str:
    """Why the model failed, naming the first field with missing values when there is one.

    Models differ in whether they take missing values, so the signature check lets null/NaN
    through and the model decides; when it refuses, the caller learns which field to fix.
    """
    missing: list[str] = []
    if isinstance(checked, pd.DataFrame):
        missing = [str(c) for c in checked.columns[checked.isna().any().to_numpy()]]
    elif isinstance(checked, ColumnBlock):
        bad = np.isnan(checked.values).any(axis=0) if checked.values.dtype.kind == "f" else []
        missing = [name for name, nan in zip(checked.names, bad, strict=False) if nan]
    elif isinstance(checked, dict):
        missing = [str(n) for n, v in checked.items() if v.dtype.kind == "f" and np.isnan(v).any()]
    elif isinstance(checked, np.ndarray) and checked.dtype.kind == "f" and np.isnan(checked).any():
        missing = ["input"]
    if missing:
        return (
            f"input field {missing[0]!r} has missing values (null or NaN), which this model "
            f"does not accept: {exc}"
        )
    return f"model could not predict on this input: {exc}"


@dataclass(frozen=True, slots=True)
class InferenceResult:
    served: ServedModel
    route: str
    request_id: str
    outputs: dict[str, np.ndarray]


class DataPlane:
    def __init__(
        self,
        *,
        deployment: str,
        router: Router,
        metrics: ServerMetrics,
        prediction_log: PredictionLog | None,
    ) -> None:
        self.deployment = deployment
        self.router = router
        self.metrics = metrics
        self.prediction_log = prediction_log
        self.arriving = 0
        """Requests being checked, not yet queued: the batcher may wait for them (bounded)."""
        self.accepting = True
        self._background: set[asyncio.Task[None]] = set()
        self._id_prefix = uuid.uuid4().hex[:16]
        self._ids = itertools.count()
        self._series: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def _new_id(self) -> str:
        """A unique request id: a random per-process prefix and a counter (uuid4 per request
        cost a getrandom syscall, ~30 us here)."""
        return f"{self._id_prefix}{next(self._ids):08x}"

    def _children(self, labels: tuple[str, str], route: str) -> tuple[Any, Any]:
        """The latency and success-count series of one version and route, looked up once."""
        key = (*labels, route)
        found = self._series.get(key)
        if found is None:
            found = (
                self.metrics.latency.labels(*labels),
                self.metrics.requests.labels(*labels, route, "200"),
            )
            self._series[key] = found
        return found

    @property
    def model_name(self) -> str:
        return self.router.table.champion.name

    def ready(self) -> bool:
        return self.accepting and self.router.table.champion.state is ModelState.READY

    def attach(self, served: ServedModel) -> None:
        """Let a version's batcher know how many requests are on their way."""
        served.batcher.expect_more = lambda: self.arriving

    async def infer(
        self,
        to_model_input: ToModelInput,
        *,
        version: int | None = None,
        route_key: str | None = None,
        request_id: str | None = None,
    ) -> InferenceResult:
        """Answer one parsed request: route it, check it, predict in a batch, log it."""
        started = time.perf_counter()
        arrived_ms = int(time.time() * 1000)
        request_id = request_id or self._new_id()
        if not self.accepting:
            raise NotReady("server is shutting down")
        if version is None:
            plan = self.router.plan(route_key)
            served, route, shadow = plan.primary, plan.route, plan.shadow
        else:
            served, route, shadow = self.router.get(version), "pinned", None
        if served.state is not ModelState.READY:
            raise NotReady(f"{served.name} version {served.version} is {served.state.value}")
        labels = (served.name, str(served.version))
        self.arriving += 1
        try:
            try:
                raw = to_model_input(served)
                checked = served.check(raw)
            finally:
                self.arriving -= 1
            try:
                prediction = await served.predict(checked)
            except SlipwayError:
                raise
            except Exception as exc:
                raise ModelFailed(explain_failure(served.loggable(checked), exc)) from exc
            outputs = model_outputs(prediction, served.signature)
        except SlipwayError as exc:
            self._record(served, route, request_id, arrived_ms, started, None, None, exc)
            raise
        latency = time.perf_counter() - started
        latency_metric, ok_metric = self._children(labels, route)
        latency_metric.observe(latency)
        ok_metric.inc()
        logged = None if self.prediction_log is None else served.loggable(checked)
        self._record(served, route, request_id, arrived_ms, started, logged, outputs, None)
        if shadow is not None:
            self._spawn(self._shadow(shadow, to_model_input, request_id, arrived_ms))
        return InferenceResult(served, route, request_id, outputs)

    async def _shadow(
        self, shadow: ServedModel, to_model_input: ToModelInput, request_id: str, arrived_ms: int
    ) -> None:
        """The challenger's answer to a copy of the request: logged, never returned."""
        started = time.perf_counter()
        try:
            checked = shadow.check(to_model_input(shadow))
            outputs = model_outputs(await shadow.predict(checked), shadow.signature)
        except Exception as exc:  # noqa: BLE001 - a failing shadow must not disturb anything
            error = exc if isinstance(exc, SlipwayError) else ModelFailed(str(exc))
            self._record(shadow, "shadow", request_id, arrived_ms, started, None, None, error)
            return
        # The challenger's own latency: what a shadow comparison and its p99 check judge.
        latency_metric, ok_metric = self._children((shadow.name, str(shadow.version)), "shadow")
        latency_metric.observe(time.perf_counter() - started)
        ok_metric.inc()
        logged = shadow.loggable(checked)
        self._record(shadow, "shadow", request_id, arrived_ms, started, logged, outputs, None)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _record(
        self,
        served: ServedModel,
        route: str,
        request_id: str,
        arrived_ms: int,
        started: float,
        inputs: Any,
        outputs: dict[str, np.ndarray] | None,
        error: SlipwayError | None,
    ) -> None:
        status = 200 if error is None else status_for(error)
        if error is not None:
            self.metrics.requests.labels(served.name, str(served.version), route, str(status)).inc()
        if self.prediction_log is None:
            return
        accepted = self.prediction_log.submit(
            PredictionRecord(
                request_id=request_id,
                time_ms=arrived_ms,
                deployment=self.deployment,
                model_name=served.name,
                model_version=served.version,
                route=route,
                latency_ms=(time.perf_counter() - started) * 1000,
                status=status,
                inputs=inputs,
                outputs=outputs,
                error=None if error is None else str(error),
            )
        )
        if not accepted:
            self.metrics.log_dropped.inc()

    async def wait_background(self, timeout: float) -> None:
        """Let shadow calls still running finish (at shutdown)."""
        if self._background:
            await asyncio.wait(set(self._background), timeout=timeout)
