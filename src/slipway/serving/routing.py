"""Champion/challenger routing: weighted canary, sticky keys, and shadow traffic.

The routing table is an immutable value replaced in one assignment, so a request sees either
the old table or the new one, never a mix: weights change under load without failing
requests.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, replace

from slipway.core.errors import InvalidInput, NotFound
from slipway.serving.pool import ModelState, ServedModel
from slipway.serving.settings import Mode, check_weight


@dataclass(frozen=True, slots=True)
class RoutingTable:
    champion: ServedModel
    challenger: ServedModel | None = None
    weight: float = 0.0
    mode: Mode = Mode.CANARY

    def describe(self) -> dict[str, object]:
        return {
            "champion": {"version": self.champion.version, "uri": self.champion.uri},
            "challenger": None
            if self.challenger is None
            else {"version": self.challenger.version, "uri": self.challenger.uri},
            "weight": self.weight,
            "mode": self.mode.value,
        }


@dataclass(frozen=True, slots=True)
class RoutePlan:
    primary: ServedModel
    route: str
    shadow: ServedModel | None = None


def _bucket(key: str) -> float:
    """A stable number in [0, 1) for a routing key: the same user always lands the same way."""
    return zlib.crc32(key.encode()) / 2**32


class Router:
    def __init__(self, champion: ServedModel) -> None:
        self.table = RoutingTable(champion)
        self._random = random.Random()  # noqa: S311 - traffic splitting, not cryptography

    def plan(self, key: str | None = None) -> RoutePlan:
        """Where one request goes. ``key`` (e.g. a user id) makes the choice sticky."""
        table = self.table
        challenger = table.challenger
        if challenger is None or table.weight <= 0 or challenger.state is not ModelState.READY:
            return RoutePlan(table.champion, "champion")
        draw = _bucket(key) if key is not None else self._random.random()
        chosen = draw < table.weight
        if table.mode is Mode.SHADOW:
            return RoutePlan(table.champion, "champion", challenger if chosen else None)
        if chosen:
            return RoutePlan(challenger, "challenger" if key is None else "sticky-challenger")
        return RoutePlan(table.champion, "champion" if key is None else "sticky-champion")

    def served(self) -> list[ServedModel]:
        table = self.table
        return [table.champion] + ([table.challenger] if table.challenger else [])

    def get(self, version: int) -> ServedModel:
        for served in self.served():
            if served.version == version:
                return served
        raise NotFound(f"version {version} of {self.table.champion.name!r} is not loaded here")

    def set_weight(self, weight: float, mode: Mode | None = None) -> RoutingTable:
        check_weight(weight)
        if self.table.challenger is None and weight > 0:
            raise InvalidInput("no challenger is loaded: load one before giving it traffic")
        self.table = replace(self.table, weight=weight, mode=mode or self.table.mode)
        return self.table

    def set_challenger(
        self, challenger: ServedModel | None, weight: float = 0.0, mode: Mode | None = None
    ) -> ServedModel | None:
        """Install (or remove) the challenger; returns the one it replaced, to drain."""
        check_weight(weight)
        old = self.table.challenger
        self.table = replace(
            self.table, challenger=challenger, weight=weight, mode=mode or self.table.mode
        )
        return old

    def set_champion(self, champion: ServedModel) -> ServedModel:
        """Replace the champion; returns the old one, to drain."""
        old = self.table.champion
        challenger = self.table.challenger
        if challenger is not None and challenger.version == champion.version:
            self.table = RoutingTable(champion, mode=self.table.mode)  # promotion
        else:
            self.table = replace(self.table, champion=champion)
        return old
