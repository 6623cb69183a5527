"""Tracking SDK: experiments, runs, params, metrics, tags, artifacts, datasets."""

from slipway.tracking.client import TrackingClient
from slipway.tracking.datasets import dataset_from

__all__ = ["TrackingClient", "dataset_from"]
