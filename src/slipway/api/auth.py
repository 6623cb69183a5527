"""Who is calling: API tokens with roles, anonymous reads, and a limit on failed attempts.

Roles are ordered, each allowing everything below it: ``viewer`` reads, ``data-scientist``
creates runs and registers versions, ``deployer`` moves aliases and changes deployments,
``admin`` manages tokens. Credentials come as ``Authorization: Bearer <token>`` or, for the
dashboard, the ``slipway_session`` cookie (see :mod:`slipway.api.deps` for its CSRF rule).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from slipway.core.errors import TooManyAttempts, Unauthenticated
from slipway.store.tokens import TokenRepository

SESSION_COOKIE = "slipway_session"
CSRF_HEADER = "X-Slipway-CSRF"
ANONYMOUS = "anonymous"


class Role(StrEnum):
    VIEWER = "viewer"
    DATA_SCIENTIST = "data-scientist"
    DEPLOYER = "deployer"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _ORDER.index(self)

    def allows(self, needed: Role) -> bool:
        """True when this role includes ``needed`` (roles are ordered viewer < … < admin)."""
        return self.rank >= needed.rank


_ORDER = (Role.VIEWER, Role.DATA_SCIENTIST, Role.DEPLOYER, Role.ADMIN)


@dataclass(frozen=True)
class Principal:
    """The caller of one request."""

    owner: str
    role: Role
    token_id: str | None
    """None for an anonymous reader."""

    @property
    def is_anonymous(self) -> bool:
        return self.token_id is None


ANONYMOUS_PRINCIPAL = Principal(ANONYMOUS, Role.VIEWER, None)


class FailureLimiter:
    """At most ``max_failures`` failed attempts per client in any ``window`` seconds.

    A client over the limit is refused, valid token or not, until its oldest failure in the
    window ages out: guessing stays slow without locking out anyone else. Memory is bounded:
    clients with no failure in the window are forgotten.
    """

    def __init__(
        self,
        max_failures: int = 10,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, client: str) -> None:
        """Raise TooManyAttempts when ``client`` is over the limit."""
        with self._lock:
            now = self._clock()
            recent = self._recent(client, now)
            if recent is not None and len(recent) >= self.max_failures:
                retry = max(1, math.ceil(recent[0] + self.window - now))
                raise TooManyAttempts(
                    f"too many failed authentication attempts; retry after {retry} s", retry
                )

    def failed(self, client: str) -> None:
        with self._lock:
            now = self._clock()
            self._failures.setdefault(client, deque()).append(now)
            if len(self._failures) > 10_000:
                for key in list(self._failures):
                    self._recent(key, now)

    def _recent(self, client: str, now: float) -> deque[float] | None:
        recent = self._failures.get(client)
        if recent is None:
            return None
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        if not recent:
            del self._failures[client]
            return None
        return recent


class Authenticator:
    """Turns a presented secret into a :class:`Principal`."""

    def __init__(
        self,
        tokens: TokenRepository,
        *,
        allow_anonymous_read: bool = False,
        limiter: FailureLimiter | None = None,
    ) -> None:
        self.tokens = tokens
        self.allow_anonymous_read = allow_anonymous_read
        self.limiter = limiter or FailureLimiter()

    def authenticate(self, secret: str | None, client: str) -> Principal:
        """The caller behind ``secret``; raises Unauthenticated or TooManyAttempts.

        No secret at all is an anonymous viewer when anonymous reads are allowed; a secret that
        does not check out is always refused (never downgraded to anonymous).
        """
        self.limiter.check(client)
        if not secret:
            if self.allow_anonymous_read:
                return ANONYMOUS_PRINCIPAL
            raise Unauthenticated("authentication required: send Authorization: Bearer <token>")
        try:
            token = self.tokens.verify(secret)
            role = Role(token.role)
        except Unauthenticated:
            self.limiter.failed(client)
            raise
        except ValueError:
            self.limiter.failed(client)
            raise Unauthenticated(f"API token {token.token_id} has an unknown role") from None
        return Principal(token.owner, role, token.token_id)
