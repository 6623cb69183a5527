"""Routing tables: weighted canary, sticky keys, shadow, atomic changes."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from slipway.core.errors import InvalidInput, NotFound
from slipway.serving.batching import AdaptiveBatcher
from slipway.serving.pool import ModelState, ServedModel
from slipway.serving.routing import Router
from slipway.serving.settings import Mode


def _served(version: int) -> ServedModel:
    async def make() -> ServedModel:
        served = ServedModel(
            "m",
            version,
            f"models:/m/{version}",
            model=Any,
            batcher=AdaptiveBatcher(np.asarray),  # type: ignore[arg-type]
        )
        served.state = ModelState.READY
        return served

    return asyncio.run(make())


def test_champion_only() -> None:
    router = Router(_served(1))
    assert {router.plan().route for _ in range(100)} == {"champion"}
    with pytest.raises(InvalidInput, match="no challenger"):
        router.set_weight(0.5)


def test_canary_split_is_close_to_the_weight() -> None:
    router = Router(_served(1))
    router.set_challenger(_served(2), 0.2)
    n = 20_000
    share = sum(router.plan().primary.version == 2 for _ in range(n)) / n
    assert share == pytest.approx(0.2, abs=0.02)


def test_sticky_keys_always_land_the_same_way() -> None:
    router = Router(_served(1))
    router.set_challenger(_served(2), 0.5)
    first = {f"user-{i}": router.plan(f"user-{i}").primary.version for i in range(500)}
    for _ in range(3):
        assert {k: router.plan(k).primary.version for k in first} == first
    share = sum(v == 2 for v in first.values()) / len(first)
    assert 0.35 < share < 0.65
    assert router.plan("user-1").route.startswith("sticky-")


def test_shadow_never_answers() -> None:
    router = Router(_served(1))
    router.set_challenger(_served(2), 1.0, Mode.SHADOW)
    plans = [router.plan() for _ in range(50)]
    assert {p.primary.version for p in plans} == {1}
    assert {p.shadow.version for p in plans if p.shadow} == {2}


def test_challenger_not_ready_gets_no_traffic() -> None:
    router = Router(_served(1))
    challenger = _served(2)
    challenger.state = ModelState.DRAINING
    router.set_challenger(challenger, 1.0)
    assert router.plan().primary.version == 1


def test_promotion_and_lookup() -> None:
    router = Router(_served(1))
    challenger = _served(2)
    router.set_challenger(challenger, 0.1)
    old = router.set_champion(challenger)
    assert old.version == 1
    assert router.table.champion.version == 2
    assert router.table.challenger is None
    with pytest.raises(NotFound):
        router.get(1)
    with pytest.raises(InvalidInput, match="between 0 and 1"):
        router.set_challenger(_served(3), 1.5)
