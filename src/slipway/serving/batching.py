"""Adaptive batching: concurrent requests to one model become one ``predict`` call.

One consumer task per model version takes what is queued (up to ``max_batch_size`` rows), runs
``predict`` on a dedicated thread, and splits the result back to each caller. While the model
works, new requests queue up, so the batch size follows the load by itself: one row at a
time when traffic is light (no added wait, unlike a fixed batching window), large batches
under load. ``max_latency_ms`` bounds how long the batcher may hold a request to grow a batch,
and it only holds when more requests are already on their way in (``expect_more``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from slipway.core.errors import InvalidInput

PredictFn = Callable[[Any], Any]


@dataclass(slots=True)
class _Item:
    data: Any
    rows: int
    future: asyncio.Future[Any]
    enqueued: float = field(default_factory=time.perf_counter)


def count_rows(data: Any) -> int:
    """Rows in a normalised model input (DataFrame, ndarray, or mapping of arrays)."""
    if isinstance(data, pd.DataFrame | np.ndarray):
        return int(data.shape[0]) if getattr(data, "ndim", 2) else 1
    if isinstance(data, dict):
        first = next(iter(data.values()), None)
        return 0 if first is None else len(first)
    return len(data)


def concat_inputs(parts: Sequence[Any]) -> Any:
    """Concatenate normalised inputs row-wise, keeping their type."""
    first = parts[0]
    if len(parts) == 1:
        return first
    if isinstance(first, pd.DataFrame):
        frames: list[pd.DataFrame] = list(parts)
        return pd.concat(frames, ignore_index=True)
    if isinstance(first, np.ndarray):
        return np.concatenate(parts)
    if isinstance(first, dict):
        return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in first}
    raise InvalidInput(f"cannot batch inputs of type {type(first).__name__}")


def split_outputs(result: Any, sizes: Sequence[int]) -> list[Any]:
    """Cut a batched prediction back into one piece per request, by row counts."""
    if len(sizes) == 1:
        return [result]
    bounds = np.cumsum([0, *sizes])
    if isinstance(result, dict):
        pieces = {k: split_outputs(v, sizes) for k, v in result.items()}
        return [{k: v[i] for k, v in pieces.items()} for i in range(len(sizes))]
    if isinstance(result, pd.DataFrame | pd.Series):
        return [result.iloc[a:b] for a, b in itertools.pairwise(bounds)]
    array = result if isinstance(result, np.ndarray) else np.asarray(result)
    if array.ndim == 0 or array.shape[0] != bounds[-1]:
        raise InvalidInput(
            f"model returned {array.shape[0] if array.ndim else 'a scalar'} rows for a batch of "
            f"{bounds[-1]}: it cannot be batched (set max_batch_size=1)"
        )
    return [array[a:b] for a, b in itertools.pairwise(bounds)]


def _settle(item: _Item, *, result: Any = None, error: BaseException | None = None) -> None:
    if item.future.done():  # the caller went away
        return
    if error is not None:
        item.future.set_exception(error)
    else:
        item.future.set_result(result)


class AdaptiveBatcher:
    """Merges concurrent ``submit`` calls into batched calls of ``predict``."""

    def __init__(
        self,
        predict: PredictFn,
        *,
        max_batch_size: int = 64,
        max_latency_ms: float = 5.0,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        if max_batch_size < 1:
            raise InvalidInput("max_batch_size must be at least 1")
        if max_latency_ms < 0:
            raise InvalidInput("max_latency_ms must not be negative")
        self._predict = predict
        self.max_batch_size = max_batch_size
        self.max_latency_s = max_latency_ms / 1000
        self._on_batch = on_batch
        self._queue: asyncio.Queue[_Item] | None = None
        self._task: asyncio.Task[None] | None = None
        self._carry: _Item | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="slipway-predict")
        self.expect_more: Callable[[], int] = lambda: 0
        """How many requests are arriving but not yet queued (set by the server)."""

    @property
    def queue_depth(self) -> int:
        return 0 if self._queue is None else self._queue.qsize()

    def start(self) -> None:
        if self._task is None:
            self._queue = asyncio.Queue()
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def submit(self, data: Any, rows: int | None = None) -> Any:
        """Predict ``data`` (already checked against the signature) as part of a batch."""
        self.start()
        assert self._queue is not None
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Item(data, count_rows(data) if rows is None else rows, future))
        return await future

    async def _collect(self, first: _Item) -> list[_Item]:
        assert self._queue is not None
        batch, rows = [first], first.rows
        deadline = first.enqueued + self.max_latency_s
        while rows < self.max_batch_size:
            if self._queue.empty():
                remaining = deadline - time.perf_counter()
                if remaining <= 0 or self.expect_more() <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            else:
                item = self._queue.get_nowait()
            if rows + item.rows > self.max_batch_size:
                self._carry = item  # too big to join: it starts the next batch
                break
            batch.append(item)
            rows += item.rows
        return batch

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            first, self._carry = self._carry, None
            batch = await self._collect(first or await self._queue.get())
            live = [i for i in batch if not i.future.done()]  # callers may have gone away
            if not live:
                continue
            try:
                merged = concat_inputs([i.data for i in live])
                result = await loop.run_in_executor(self._executor, self._predict, merged)
                pieces = split_outputs(result, [i.rows for i in live])
            except Exception as exc:  # noqa: BLE001 - handed to the callers below
                if len(live) == 1:
                    _settle(live[0], error=exc)
                else:
                    # One bad request must not fail the others: retry each on its own.
                    for item in live:
                        await self._predict_alone(item)
                continue
            if self._on_batch is not None:
                self._on_batch(sum(i.rows for i in live))
            for item, piece in zip(live, pieces, strict=True):
                _settle(item, result=piece)

    async def _predict_alone(self, item: _Item) -> None:
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self._executor, self._predict, item.data)
        except Exception as exc:  # noqa: BLE001 - the caller gets the error
            _settle(item, error=exc)
            return
        if self._on_batch is not None:
            self._on_batch(item.rows)
        _settle(item, result=result)

    async def close(self) -> None:
        """Stop the consumer; queued callers get an error. Call after draining."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._queue is not None:
            left = [self._carry] if self._carry else []
            while not self._queue.empty():
                left.append(self._queue.get_nowait())
            for item in left:
                if not item.future.done():
                    item.future.set_exception(RuntimeError("model unloaded"))
        self._executor.shutdown(wait=False)
