"""Step inputs and outputs in the artifact store: a file is a blob, a directory a manifest."""

from __future__ import annotations

import shutil
from pathlib import Path

from slipway.artifacts import ArtifactStore
from slipway.artifacts.manifest import fetch_manifest, materialize, store_directory
from slipway.core.errors import InvalidInput, NotFound
from slipway.pipelines.invocation import OutputRef

FILE = "file"
DIRECTORY = "directory"


def store_path(store: ArtifactStore, path: Path) -> OutputRef:
    """Store a file or a directory tree; identical content gives the identical digest."""
    if path.is_file():
        ref = store.put_file(path)
        return OutputRef(ref.digest, FILE, ref.size)
    if path.is_dir():
        # Empty metadata: the digest depends on the files only, wherever they came from.
        digest, manifest = store_directory(store, path, {})
        return OutputRef(digest, DIRECTORY, sum(e.size for e in manifest.entries))
    raise NotFound(f"no such file or directory: {path}")


def materialize_ref(store: ArtifactStore, ref: OutputRef, dest: Path) -> Path:
    """Write the content of ``ref`` at ``dest`` (a file, or a directory), verified by sha256."""
    if dest.exists():
        if dest.is_dir():
            shutil.rmtree(dest)
        else:
            dest.unlink()
    if ref.kind == FILE:
        store.download(ref.digest, dest)
    elif ref.kind == DIRECTORY:
        dest.mkdir(parents=True)
        materialize(store, fetch_manifest(store, ref.digest), dest)
    else:
        raise InvalidInput(f"unknown output kind {ref.kind!r}")
    return dest


def ref_exists(store: ArtifactStore, ref: OutputRef) -> bool:
    """True when every blob of ``ref`` is still in the store (a cache hit needs them all)."""
    if not store.exists(ref.digest):
        return False
    if ref.kind == DIRECTORY:
        return all(store.exists(e.digest) for e in fetch_manifest(store, ref.digest).entries)
    return True
