"""The step cache: a step whose code, params and inputs are unchanged is not run again.

Key: sha256 of canonical JSON holding the entry point, the sha256 of the bytes of the file
that defines it, the resolved params, the content digest of every input and the declared
output names. Code the module imports is not part of the key: a change there needs
``--no-cache`` (or a change in the step's own module).

Entries are small JSON files under ``<SLIPWAY_HOME>/pipeline-cache/<workspace>/``, one per key,
naming the run that produced the outputs and the outputs' digests. ``<workspace>`` is a hash of
the tracking and artifact URIs, so switching stores never reuses digests the other store lacks.
A file per key needs no schema migration, is written atomically (temp file + rename) by
concurrent pipelines without locks, and is safe to delete at any time: the worst case is a miss.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slipway.artifacts.store import check_digest
from slipway.core.errors import InvalidInput
from slipway.pipelines.entrypoints import import_entry_module
from slipway.pipelines.invocation import OutputRef

KEY_VERSION = 1


def code_digest(entry: str) -> str:
    """sha256 of the source file defining the entry point's module."""
    module_name = entry.partition(":")[0]
    module = sys.modules.get(module_name) or import_entry_module(module_name, entry)
    filename = getattr(module, "__file__", None)
    if not filename or not Path(filename).is_file():
        raise InvalidInput(f"entry point {entry!r}: module {module_name!r} has no source file")
    return hashlib.sha256(Path(filename).read_bytes()).hexdigest()


def cache_key(
    *,
    entry: str,
    code: str,
    params: dict[str, Any],
    inputs: dict[str, OutputRef],
    outputs: tuple[str, ...],
) -> str:
    doc = {
        "version": KEY_VERSION,
        "entry": entry,
        "code": code,
        "params": params,
        "inputs": {name: [ref.kind, ref.digest] for name, ref in sorted(inputs.items())},
        "outputs": sorted(outputs),
    }
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class CacheEntry:
    run_id: str
    outputs: dict[str, OutputRef]


class StepCache:
    """Cache entries of one workspace, as JSON files under ``root``."""

    def __init__(self, root: Path, tracking_uri: str, artifact_uri: str) -> None:
        space = hashlib.sha256(f"{tracking_uri}\n{artifact_uri}".encode()).hexdigest()[:16]
        self.root = root / space

    def _path(self, key: str) -> Path:
        check_digest(key)
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> CacheEntry | None:
        """The entry for ``key``; None when absent or unreadable (a miss, never an error)."""
        try:
            doc = json.loads(self._path(key).read_text(encoding="utf-8"))
            outputs = {
                str(name): OutputRef(check_digest(o["digest"]), str(o["kind"]), int(o["size"]))
                for name, o in doc["outputs"].items()
            }
            return CacheEntry(str(doc["run_id"]), outputs)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def put(self, key: str, entry: CacheEntry) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "run_id": entry.run_id,
            "outputs": {name: ref.to_json() for name, ref in entry.outputs.items()},
        }
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".entry-", suffix=".part")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f, sort_keys=True)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
