"""Roles, the failed-attempt limiter and the authenticator's rules."""

from __future__ import annotations

import pytest

from slipway.api.auth import ANONYMOUS_PRINCIPAL, Authenticator, FailureLimiter, Principal, Role
from slipway.core.errors import TooManyAttempts, Unauthenticated
from slipway.store.tokens import ApiToken


def test_roles_are_ordered() -> None:
    assert Role.ADMIN.allows(Role.DEPLOYER)
    assert Role.DEPLOYER.allows(Role.DATA_SCIENTIST)
    assert Role.DATA_SCIENTIST.allows(Role.VIEWER)
    assert Role.VIEWER.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.DATA_SCIENTIST)
    assert not Role.DEPLOYER.allows(Role.ADMIN)
    assert Role("data-scientist") is Role.DATA_SCIENTIST


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limiter_blocks_after_max_failures_until_they_age_out() -> None:
    clock = Clock()
    limiter = FailureLimiter(max_failures=3, window=60, clock=clock)
    for _ in range(3):
        limiter.check("10.0.0.1")
        limiter.failed("10.0.0.1")
        clock.now += 1
    with pytest.raises(TooManyAttempts) as err:
        limiter.check("10.0.0.1")
    assert err.value.retry_after == 57  # the first failure ages out at 1060
    limiter.check("10.0.0.2")  # others are not affected
    clock.now += 57
    limiter.check("10.0.0.1")


class FakeTokens:
    def __init__(self) -> None:
        self.tokens = {
            "good": ApiToken("a" * 16, "alice", "deployer", "", 0, "root", None, None),
            "odd": ApiToken("b" * 16, "bob", "superuser", "", 0, "root", None, None),
        }

    def verify(self, secret: str) -> ApiToken:
        if secret not in self.tokens:
            raise Unauthenticated("invalid API token")
        return self.tokens[secret]


def authenticator(anonymous: bool = False) -> Authenticator:
    limiter = FailureLimiter(max_failures=2, window=60)
    return Authenticator(FakeTokens(), allow_anonymous_read=anonymous, limiter=limiter)  # type: ignore[arg-type]


def test_a_token_becomes_its_owner_and_role() -> None:
    assert authenticator().authenticate("good", "c") == Principal("alice", Role.DEPLOYER, "a" * 16)


def test_no_token_is_anonymous_only_when_allowed() -> None:
    with pytest.raises(Unauthenticated):
        authenticator().authenticate(None, "c")
    assert authenticator(anonymous=True).authenticate(None, "c") == ANONYMOUS_PRINCIPAL
    with pytest.raises(Unauthenticated):
        authenticator(anonymous=True).authenticate("wrong", "c")


def test_failures_count_towards_the_limit_and_missing_tokens_do_not() -> None:
    auth = authenticator()
    for _ in range(5):
        with pytest.raises(Unauthenticated):
            auth.authenticate(None, "c")
    for secret in ("wrong", "odd"):  # an unknown role counts as a failure too
        with pytest.raises(Unauthenticated):
            auth.authenticate(secret, "c")
    with pytest.raises(TooManyAttempts):
        auth.authenticate("good", "c")
