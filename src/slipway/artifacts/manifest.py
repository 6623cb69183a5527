"""A directory stored as a manifest of blobs.

A model version (or any multi-file artifact) is one JSON manifest listing each file's relative
path, sha256 and size, plus free metadata. The manifest is itself a blob, so one digest pins the
whole tree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slipway.artifacts.store import ArtifactStore, check_digest
from slipway.core.errors import IntegrityError, InvalidInput
from slipway.core.names import check_relative_path

MANIFEST_FORMAT = "slipway.manifest/v1"


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    path: str
    digest: str
    size: int


@dataclass(frozen=True, slots=True)
class Manifest:
    entries: tuple[ManifestEntry, ...]
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        doc = {
            "format": MANIFEST_FORMAT,
            "files": [{"path": e.path, "sha256": e.digest, "size": e.size} for e in self.entries],
            "metadata": self.metadata,
        }
        # Canonical JSON: the same tree and metadata always give the same digest.
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        try:
            doc = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise IntegrityError(f"manifest is not valid JSON: {exc}") from None
        if not isinstance(doc, dict) or doc.get("format") != MANIFEST_FORMAT:
            raise InvalidInput(f"not a Slipway manifest (expected format {MANIFEST_FORMAT})")
        entries = []
        for item in doc.get("files", []):
            if not isinstance(item, dict):
                raise InvalidInput("manifest file entry is not an object")
            entries.append(
                ManifestEntry(
                    path=check_relative_path(item.get("path")),
                    digest=check_digest(item.get("sha256")),
                    size=int(item.get("size", -1)),
                )
            )
        metadata = doc.get("metadata", {})
        if not isinstance(metadata, dict):
            raise InvalidInput("manifest metadata is not an object")
        return cls(tuple(entries), metadata)


def store_directory(
    store: ArtifactStore, directory: Path, metadata: dict[str, Any]
) -> tuple[str, Manifest]:
    """Store every file under ``directory`` and a manifest of them; return the manifest digest."""
    directory = Path(directory)
    entries = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        rel = check_relative_path(path.relative_to(directory).as_posix())
        ref = store.put_file(path)
        entries.append(ManifestEntry(rel, ref.digest, ref.size))
    manifest = Manifest(tuple(entries), metadata)
    return store.put_bytes(manifest.to_bytes()).digest, manifest


def fetch_manifest(store: ArtifactStore, digest: str) -> Manifest:
    """Read and verify a manifest blob."""
    return Manifest.from_bytes(store.get_bytes(digest))


def materialize(store: ArtifactStore, manifest: Manifest, dest: Path) -> None:
    """Write every file of ``manifest`` under ``dest``, each verified against its sha256."""
    dest = Path(dest).resolve()
    for entry in manifest.entries:
        target = (dest / check_relative_path(entry.path)).resolve()
        if not target.is_relative_to(dest):
            raise InvalidInput(f"manifest path {entry.path!r} escapes the target directory")
        store.download(entry.digest, target)
