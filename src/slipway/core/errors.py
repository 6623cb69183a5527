"""Typed domain errors.

Every error Slipway raises on purpose is a :class:`SlipwayError`. The transports (CLI, HTTP)
map these types to exit codes and status codes in one place each; nothing here knows about
them.
"""

from __future__ import annotations

from collections.abc import Iterable


class SlipwayError(Exception):
    """Base class of every error Slipway raises deliberately."""


class NotFound(SlipwayError):
    """The named thing does not exist."""


class AlreadyExists(SlipwayError):
    """Creating the thing would duplicate one that exists."""


class InvalidInput(SlipwayError, ValueError):
    """The caller passed something malformed; nothing was changed."""


class IntegrityError(SlipwayError):
    """Stored bytes do not match their recorded digest: tampered or corrupted."""


class Conflict(SlipwayError):
    """The request contradicts what is stored (e.g. a param logged twice with two values)."""


class SchemaOutOfDate(SlipwayError):
    """The metadata database is not at the revision this code expects."""


class UntrustedTypes(InvalidInput):
    """A serialized model references types nobody declared trusted."""

    def __init__(self, types: Iterable[str], source: str) -> None:
        self.types = sorted(set(types))
        super().__init__(
            f"{source} references untrusted types: {', '.join(self.types)}; "
            "load it only if you trust its origin, by passing "
            "trusted_types=[...] with these names"
        )


class PickleRefused(InvalidInput):
    """Loading would unpickle bytes and the caller did not opt in."""


class SignatureMismatch(InvalidInput):
    """Input given to a model does not match its signature."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"input field {field!r}: {problem}")


class DigestMismatch(InvalidInput):
    """Bytes received do not hash to the sha256 their sender declared; nothing was stored."""

    def __init__(self, expected: str, actual: str) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(f"content sha256 is {actual}, the request declared {expected}")


class Unauthenticated(SlipwayError):
    """No valid credentials: the token is missing, unknown, expired or revoked."""


class Forbidden(SlipwayError):
    """The credentials are valid but their role does not allow the action."""


class TooManyAttempts(SlipwayError):
    """Too many failed attempts from one client; retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(message)
