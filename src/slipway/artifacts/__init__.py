"""Content-addressed artifact store over fsspec (``file://``, ``memory://``, ``s3://``)."""

from slipway.artifacts.store import (
    ArtifactStore,
    BlobRef,
    FsspecArtifactStore,
    open_artifact_store,
)

__all__ = ["ArtifactStore", "BlobRef", "FsspecArtifactStore", "open_artifact_store"]
