"""Model URIs: ``models:/name/3``, ``models:/name@alias``, ``models:/name/latest`` and
``runs:/<run_id>/<path>``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from slipway.core.errors import InvalidInput

_MODELS = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>[^/@]+)|@(?P<alias>[^/@]+))$")
_RUNS = re.compile(r"^runs:/(?P<run_id>[0-9a-f]{32})/(?P<path>.+)$")


@dataclass(frozen=True, slots=True)
class ModelRef:
    name: str
    version: int | None = None
    alias: str | None = None
    latest: bool = False


@dataclass(frozen=True, slots=True)
class RunRef:
    run_id: str
    path: str


def parse_model_uri(uri: str) -> ModelRef | RunRef:
    """Parse a model URI; anything else is an InvalidInput naming the accepted forms."""
    if m := _MODELS.match(uri):
        if m["alias"]:
            return ModelRef(m["name"], alias=m["alias"])
        if m["version"] == "latest":
            return ModelRef(m["name"], latest=True)
        if m["version"].isdigit() and int(m["version"]) > 0:
            return ModelRef(m["name"], version=int(m["version"]))
    elif m := _RUNS.match(uri):
        return RunRef(m["run_id"], m["path"].strip("/"))
    raise InvalidInput(
        f"invalid model URI {uri!r}: expected models:/<name>/<version>, models:/<name>@<alias>, "
        "models:/<name>/latest or runs:/<run_id>/<path>"
    )
