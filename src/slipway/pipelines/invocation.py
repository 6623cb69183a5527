"""What crosses the boundary between the coordinator and a runner: plain values as JSON.

Only these dataclasses of strings, numbers and digests travel between processes (as JSON, never
pickles); the step's outputs themselves travel as files through the artifact store.
"""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, field
from typing import Any


class StepStatus(enum.StrEnum):
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    CACHED = "CACHED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"


@dataclass(frozen=True, slots=True)
class OutputRef:
    """A stored output (or input): a blob (``file``) or a directory manifest (``directory``)."""

    digest: str
    kind: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"digest": self.digest, "kind": self.kind, "size": self.size}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> OutputRef:
        return cls(str(doc["digest"]), str(doc["kind"]), int(doc["size"]))


@dataclass(frozen=True, slots=True)
class StepInvocation:
    """Everything a runner needs to execute one step somewhere, given the same workspace."""

    pipeline: str
    step: str
    entry: str
    run_id: str
    params: dict[str, Any]
    inputs: dict[str, OutputRef]
    outputs: tuple[str, ...]
    tracking_uri: str
    artifact_uri: str
    sys_path: tuple[str, ...] = ()
    """Prepended to the worker's import path (the coordinator's project directory)."""
    cache_key: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> StepInvocation:
        doc = json.loads(text)
        doc["inputs"] = {k: OutputRef.from_json(v) for k, v in doc["inputs"].items()}
        doc["outputs"] = tuple(doc["outputs"])
        doc["sys_path"] = tuple(doc["sys_path"])
        return cls(**doc)


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What a worker reports back; the error is text, never a pickled exception."""

    step: str
    run_id: str
    ok: bool
    outputs: dict[str, OutputRef] = field(default_factory=dict)
    error: str | None = None
    started_at: float = 0.0
    ended_at: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> StepOutcome:
        doc = json.loads(text)
        doc["outputs"] = {k: OutputRef.from_json(v) for k, v in doc["outputs"].items()}
        return cls(**doc)
