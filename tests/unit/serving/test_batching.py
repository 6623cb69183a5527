"""Adaptive batching: merged calls, exact split-back, bounds, errors to every caller."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import numpy as np
import pandas as pd
import pytest

from slipway.core.errors import InvalidInput
from slipway.serving.batching import AdaptiveBatcher, concat_inputs, count_rows, split_outputs


class Recorder:
    """A model that doubles its input and records the batch sizes it was called with."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[int] = []
        self.delay = delay
        self.release = threading.Event()
        self.release.set()

    def __call__(self, data: Any) -> Any:
        self.release.wait(5)
        self.calls.append(count_rows(data))
        return np.asarray(data) * 2


def test_one_request_is_answered_without_waiting() -> None:
    model = Recorder()

    async def main() -> np.ndarray:
        batcher = AdaptiveBatcher(model, max_batch_size=8, max_latency_ms=1000)
        try:
            return await asyncio.wait_for(batcher.submit(np.ones((1, 3))), 0.5)
        finally:
            await batcher.close()

    np.testing.assert_array_equal(asyncio.run(main()), np.full((1, 3), 2.0))
    assert model.calls == [1]


def test_concurrent_requests_are_merged_and_split_exactly() -> None:
    model = Recorder()
    model.release.clear()  # hold the first batch so the others queue up behind it

    async def main() -> list[np.ndarray]:
        batcher = AdaptiveBatcher(model, max_batch_size=16, max_latency_ms=0)
        inputs = [np.full((1 + i % 3, 2), float(i)) for i in range(20)]
        tasks = [asyncio.ensure_future(batcher.submit(x)) for x in inputs]
        await asyncio.sleep(0.05)
        model.release.set()
        try:
            return list(await asyncio.gather(*tasks))
        finally:
            await batcher.close()

    results = asyncio.run(main())
    for i, result in enumerate(results):
        np.testing.assert_array_equal(result, np.full((1 + i % 3, 2), 2.0 * i))
    assert max(model.calls) > 1  # batches formed
    assert max(model.calls) <= 16  # bounded by max_batch_size
    assert sum(model.calls) == sum(1 + i % 3 for i in range(20))


def test_a_failing_batch_fails_each_of_its_callers_and_the_batcher_goes_on() -> None:
    calls: list[int] = []

    def flaky(data: Any) -> Any:
        calls.append(len(data))
        if len(calls) == 1:
            raise ValueError("model exploded")
        return np.asarray(data)

    async def main() -> None:
        batcher = AdaptiveBatcher(flaky, max_batch_size=4, max_latency_ms=0)
        with pytest.raises(ValueError, match="exploded"):
            await batcher.submit(np.ones((1, 1)))
        assert (await batcher.submit(np.ones((2, 1)))).shape == (2, 1)
        await batcher.close()

    asyncio.run(main())


def test_one_bad_request_does_not_fail_the_others_in_its_batch() -> None:
    calls: list[int] = []

    def picky(data: Any) -> Any:
        calls.append(len(data))
        if np.isnan(data).any():
            raise ValueError("Input X contains NaN")
        return np.asarray(data) * 2

    async def main() -> list[Any]:
        batcher = AdaptiveBatcher(picky, max_batch_size=64, max_latency_ms=50)
        batcher.expect_more = lambda: 1  # hold the batch open so all three join it
        inputs = [np.ones((1, 1)), np.full((1, 1), np.nan), np.full((2, 1), 3.0)]
        results = await asyncio.gather(*(batcher.submit(x) for x in inputs), return_exceptions=True)
        await batcher.close()
        return results

    good, bad, other = asyncio.run(main())
    assert calls[0] == 4  # one batch of all three first
    assert isinstance(bad, ValueError)
    np.testing.assert_array_equal(good, [[2.0]])
    np.testing.assert_array_equal(other, [[6.0], [6.0]])


def test_bad_settings_are_refused() -> None:
    with pytest.raises(InvalidInput):
        AdaptiveBatcher(lambda x: x, max_batch_size=0)
    with pytest.raises(InvalidInput):
        AdaptiveBatcher(lambda x: x, max_latency_ms=-1)


def test_concat_and_split_keep_types() -> None:
    frames = [pd.DataFrame({"a": [1.0, 2.0]}), pd.DataFrame({"a": [3.0]})]
    merged = concat_inputs(frames)
    assert list(merged["a"]) == [1.0, 2.0, 3.0]
    columns = concat_inputs([{"a": np.array([1, 2])}, {"a": np.array([3])}])
    assert list(columns["a"]) == [1, 2, 3]
    parts = split_outputs({"label": np.arange(3), "p": np.ones((3, 2))}, [2, 1])
    assert list(parts[0]["label"]) == [0, 1]
    assert parts[1]["p"].shape == (1, 2)
    with pytest.raises(InvalidInput, match="cannot be batched"):
        split_outputs(np.arange(2), [2, 1])
