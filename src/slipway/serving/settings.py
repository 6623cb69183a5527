"""Inference server settings, from ``SLIPWAY_SERVE_*`` environment variables or CLI flags."""

from __future__ import annotations

import enum
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from slipway.core.errors import InvalidInput


class Mode(enum.StrEnum):
    CANARY = "canary"
    """A share of requests (``weight``) is answered by the challenger."""
    SHADOW = "shadow"
    """Every request is answered by the champion; a ``weight`` share is copied to the
    challenger, whose answer is only logged."""


def check_weight(weight: float) -> float:
    if not isinstance(weight, int | float) or not 0.0 <= float(weight) <= 1.0:
        raise InvalidInput(f"weight must be a number between 0 and 1, got {weight!r}")
    return float(weight)


class ServeSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SLIPWAY_SERVE_", extra="ignore", env_ignore_empty=True
    )

    host: str = Field(default="127.0.0.1", description="Address to listen on.")
    port: int = Field(default=8080, ge=0, le=65535, description="TCP port (0: any free port).")
    workers: int = Field(default=1, ge=1, le=64, description="Server processes.")
    deployment: str | None = Field(
        default=None, description="Deployment name in logs and metrics; default: the model name."
    )
    max_body_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, description="Largest request body accepted (413 above)."
    )
    max_batch_size: int = Field(
        default=64, ge=1, description="Most rows merged into one predict call."
    )
    max_latency_ms: float = Field(
        default=2.0,
        ge=0,
        description="Longest a request may wait for others to join its batch; only spent "
        "while more requests are already arriving.",
    )
    admin_token: SecretStr | None = Field(
        default=None,
        description="Bearer token for /admin endpoints; unset disables them (403).",
    )
    log_predictions: bool = Field(default=True, description="Write the prediction log.")
    log_dir: Path | None = Field(
        default=None, description="Prediction log root; default: <SLIPWAY_HOME>/logs."
    )
    log_queue_size: int = Field(
        default=10_000, ge=1, description="Records buffered for the log writer; more are dropped."
    )
    max_image_bytes: int = Field(
        default=20 * 1024 * 1024,
        ge=1,
        description="Detectors: largest encoded image accepted (413 above; the body limit "
        "applies too).",
    )
    max_image_pixels: int = Field(
        default=40_000_000, ge=1, description="Detectors: most pixels (width x height) per image."
    )
    log_images: bool = Field(
        default=False,
        description="Detectors: keep the encoded images (base64) in the prediction log; by "
        "default only their size, brightness, contrast and the detections are logged.",
    )
    drain_timeout_s: float = Field(
        default=30.0, ge=0, description="How long unloading or shutdown waits for in-flight work."
    )
