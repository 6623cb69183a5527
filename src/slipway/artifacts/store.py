"""A content-addressed blob store over fsspec.

Layout: ``<root>/sha256/<first two hex digits>/<digest>``. A blob's name is the sha256 of its
bytes, so identical content is stored once and every read can be verified: a blob whose bytes
no longer hash to its name raises :class:`IntegrityError` and is never returned.

Writes go to ``<root>/incoming/<random>`` first and are moved into place, so no reader ever sees a
partial blob (on object stores a single PUT is already all-or-nothing).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import fsspec

from slipway.core.errors import IntegrityError, InvalidInput, NotFound

_CHUNK = 1 << 20
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
SCHEMES = ("file", "memory", "s3", "http", "https")


@dataclass(frozen=True, slots=True)
class BlobRef:
    digest: str
    size: int


@runtime_checkable
class ArtifactStore(Protocol):
    """Immutable blobs named by their sha256."""

    url: str

    def put_bytes(self, data: bytes) -> BlobRef: ...

    def put_file(self, path: Path) -> BlobRef: ...

    def get_bytes(self, digest: str) -> bytes: ...

    def download(self, digest: str, dest: Path) -> None: ...

    def exists(self, digest: str) -> bool: ...


def check_digest(digest: object) -> str:
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise InvalidInput(f"invalid sha256 digest {digest!r}: expected 64 lowercase hex digits")
    return digest


def _hash_file(path: Path) -> BlobRef:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return BlobRef(h.hexdigest(), size)


class FsspecArtifactStore:
    """:class:`ArtifactStore` on any fsspec filesystem."""

    def __init__(self, url: str, **storage_options: Any) -> None:
        self.url = url.rstrip("/")
        self._storage_options = storage_options
        self._fs: fsspec.AbstractFileSystem | None = None
        protocol = self.url.split("://", 1)[0]
        self._root: str = fsspec.get_filesystem_class(protocol)._strip_protocol(self.url)
        self._root = self._root.rstrip("/")

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        # Connecting lazily keeps constructors free of I/O (and of network errors).
        if self._fs is None:
            self._fs, _ = fsspec.core.url_to_fs(self.url, **self._storage_options)
        return self._fs

    def _blob_path(self, digest: str) -> str:
        check_digest(digest)
        return f"{self._root}/sha256/{digest[:2]}/{digest}"

    def _tmp_path(self) -> str:
        return f"{self._root}/incoming/{uuid.uuid4().hex}"

    def exists(self, digest: str) -> bool:
        return bool(self.fs.exists(self._blob_path(digest)))

    def put_bytes(self, data: bytes) -> BlobRef:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidInput(f"put_bytes takes bytes, got {type(data).__name__}")
        data = bytes(data)
        ref = BlobRef(hashlib.sha256(data).hexdigest(), len(data))
        final = self._blob_path(ref.digest)
        if self.fs.exists(final):
            return ref
        tmp = self._tmp_path()
        self.fs.makedirs(self.fs._parent(tmp), exist_ok=True)
        self.fs.pipe_file(tmp, data)
        self._publish(tmp, final)
        return ref

    def put_file(self, path: Path) -> BlobRef:
        path = Path(path)
        if not path.is_file():
            raise NotFound(f"no such file to store: {path}")
        ref = _hash_file(path)
        final = self._blob_path(ref.digest)
        if self.fs.exists(final):
            return ref
        tmp = self._tmp_path()
        self.fs.makedirs(self.fs._parent(tmp), exist_ok=True)
        self.fs.put_file(str(path), tmp)
        # The file may have changed between hashing and upload: re-check what landed.
        if self.fs.size(tmp) != ref.size:
            self.fs.rm_file(tmp)
            raise IntegrityError(f"{path} changed while it was being stored")
        self._publish(tmp, final)
        return ref

    def _publish(self, tmp: str, final: str) -> None:
        self.fs.makedirs(self.fs._parent(final), exist_ok=True)
        try:
            self.fs.mv(tmp, final)
        except FileNotFoundError:
            # A concurrent writer published the same content first; ours is redundant.
            if not self.fs.exists(final):
                raise
        finally:
            if self.fs.exists(tmp):
                self.fs.rm_file(tmp)

    def get_bytes(self, digest: str) -> bytes:
        path = self._blob_path(digest)
        try:
            data = self.fs.cat_file(path)
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found in {self.url}") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise IntegrityError(f"blob {digest} in {self.url} does not match its sha256")
        return bytes(data)

    def download(self, digest: str, dest: Path) -> None:
        dest = Path(dest)
        path = self._blob_path(digest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=".slipway-", suffix=".part")
        h = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out:
                try:
                    src = self.fs.open(path, "rb")
                except FileNotFoundError:
                    raise NotFound(f"blob {digest} not found in {self.url}") from None
                with src:
                    while chunk := src.read(_CHUNK):
                        h.update(chunk)
                        out.write(chunk)
            if h.hexdigest() != digest:
                raise IntegrityError(f"blob {digest} in {self.url} does not match its sha256")
            os.replace(tmp_name, dest)
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)


def open_artifact_store(url: str, **storage_options: Any) -> ArtifactStore:
    """Open the artifact store at ``url``; the scheme picks the backend.

    ``http(s)://host:port`` is a Slipway server's blob store, over its REST API, with
    ``token=`` or ``SLIPWAY_TOKEN``.

    ``s3://bucket/prefix`` honours ``SLIPWAY_S3_ENDPOINT_URL`` (or ``endpoint_url=``) for
    S3-compatible servers such as MinIO.
    """
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in SCHEMES:
        raise InvalidInput(
            f"unsupported artifact store URL {url!r}: valid schemes are "
            + ", ".join(f"{s}://" for s in SCHEMES)
        )
    if scheme in ("http", "https"):
        return _remote_store(url, storage_options.pop("token", None))
    if scheme == "s3":
        endpoint = storage_options.pop("endpoint_url", None) or os.environ.get(
            "SLIPWAY_S3_ENDPOINT_URL"
        )
        if endpoint:
            client_kwargs = dict(storage_options.pop("client_kwargs", {}))
            client_kwargs.setdefault("endpoint_url", endpoint)
            storage_options["client_kwargs"] = client_kwargs
    return FsspecArtifactStore(url, **storage_options)


def _remote_store(url: str, token: Any) -> ArtifactStore:
    from slipway.artifacts.remote import RemoteArtifactStore
    from slipway.core.http import ApiSession
    from slipway.core.settings import Settings

    return RemoteArtifactStore(ApiSession(url, token if token is not None else Settings().token))
