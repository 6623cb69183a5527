"""Model registry: versions, aliases, tags, lineage, audit, and loading models by URI."""

from slipway.registry.client import RegistryClient
from slipway.registry.uris import ModelRef, RunRef, parse_model_uri

__all__ = ["ModelRef", "RegistryClient", "RunRef", "parse_model_uri"]
