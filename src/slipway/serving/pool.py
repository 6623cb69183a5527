"""The model versions one server holds: load, warm up, serve, drain, unload."""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slipway.core.errors import InvalidInput
from slipway.flavors import LoadedModel, Signature
from slipway.serving.batching import AdaptiveBatcher
from slipway.serving.metrics import ServerMetrics


class ModelState(enum.StrEnum):
    LOADING = "loading"
    READY = "ready"
    DRAINING = "draining"
    UNLOADED = "unloaded"


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

    def check(self, data: Any) -> Any:
        """``data`` validated against the signature (SignatureMismatch names the field)."""
        return self.model.check(data)

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
) -> ServedModel:
    """Load a version off the event loop, warm it up on its input example, mark it ready.

    ``load`` returns the model, its registered name, its version number and its pinned URI (it
    runs in a thread: loading reads and verifies blobs).
    """
    started = time.perf_counter()
    model, name, version, uri = await asyncio.to_thread(load)
    labels = (name, str(version))
    batcher = AdaptiveBatcher(
        model.raw.predict,
        max_batch_size=max_batch_size,
        max_latency_ms=max_latency_ms,
        on_batch=metrics.batch_size.labels(*labels).observe,
    )
    served = ServedModel(name, version, uri, model, batcher)
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
