"""Serving's error types and their one mapping to HTTP status codes."""

from __future__ import annotations

from slipway.core.errors import (
    AlreadyExists,
    Conflict,
    IntegrityError,
    InvalidInput,
    NotFound,
    SignatureMismatch,
    SlipwayError,
)
from slipway.flavors.detection.limits import ImageTooLarge


class PayloadTooLarge(InvalidInput):
    """The request body is over the configured limit."""


class Unauthorized(SlipwayError):
    """A mutating call without a valid bearer token."""


class Forbidden(SlipwayError):
    """The endpoint is disabled by configuration."""


class NotReady(SlipwayError):
    """The model (or the server) cannot take requests right now."""


class ModelFailed(SlipwayError):
    """The model raised while predicting on input that passed the signature check."""


# Most specific first: the first matching class wins.
_STATUS: tuple[tuple[type[SlipwayError], int], ...] = (
    (PayloadTooLarge, 413),
    (ImageTooLarge, 413),
    (SignatureMismatch, 422),
    (ModelFailed, 422),
    (InvalidInput, 400),
    (NotFound, 404),
    (Unauthorized, 401),
    (Forbidden, 403),
    (AlreadyExists, 409),
    (Conflict, 409),
    (NotReady, 503),
    (IntegrityError, 500),
)


def status_for(error: SlipwayError) -> int:
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 500
