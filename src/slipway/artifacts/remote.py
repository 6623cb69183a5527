"""The artifact store over a Slipway server's blob endpoints (remote mode).

sha256 is checked end to end. Uploads declare the digest the client computed
(``PUT /blobs/{sha256}``, or ``POST /uploads/{id}/complete`` for an upload session) and the
server stores nothing unless the bytes it received hash to it. Downloads hash what arrives
and raise :class:`IntegrityError` on a mismatch, before anything is visible at the target.

Large files never sit whole in memory: uploads above :data:`SINGLE_PUT_LIMIT` go through an
upload session in :data:`CHUNK` requests streamed from the file (after a dropped connection
the client asks how much arrived and continues from there); downloads stream to a temporary
file and, after a dropped connection, resume with ``Range: bytes=<received>-``.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import httpx

from slipway.artifacts.store import BlobRef, _hash_file, check_digest
from slipway.core.errors import Conflict, IntegrityError, InvalidInput, NotFound, SlipwayError
from slipway.core.http import ApiSession

SINGLE_PUT_LIMIT = 1 << 20
"""Blobs up to this size go in one ``PUT`` from memory; larger ones through an upload
session, read from their file as they are sent."""
CHUNK = 16 << 20
"""Bytes per upload-session request: what is sent again at worst after a dropped
connection (never held in memory at once)."""
_READ = 1 << 20


class RemoteArtifactStore:
    """:class:`~slipway.artifacts.store.ArtifactStore` on a Slipway server."""

    def __init__(
        self,
        session: ApiSession,
        *,
        single_put_limit: int = SINGLE_PUT_LIMIT,
        chunk_size: int = CHUNK,
    ) -> None:
        self.url = session.url
        self._session = session
        self._single_put_limit = single_put_limit
        self._chunk_size = chunk_size

    def __repr__(self) -> str:
        return f"RemoteArtifactStore({self.url!r})"

    # -- writing ---------------------------------------------------------------------------

    def exists(self, digest: str) -> bool:
        check_digest(digest)
        try:
            self._session.request("HEAD", f"/blobs/{digest}")
        except NotFound:
            return False
        return True

    def put_bytes(self, data: bytes) -> BlobRef:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidInput(f"put_bytes takes bytes, got {type(data).__name__}")
        data = bytes(data)
        ref = BlobRef(hashlib.sha256(data).hexdigest(), len(data))
        if ref.size <= self._single_put_limit:
            self._put(ref, data)
        elif not self.exists(ref.digest):
            self._upload(io.BytesIO(data), ref, "the given bytes")
        return ref

    def put_file(self, path: Path) -> BlobRef:
        path = Path(path)
        if not path.is_file():
            raise NotFound(f"no such file to store: {path}")
        ref = _hash_file(path)
        if self.exists(ref.digest):
            return ref
        if ref.size <= self._single_put_limit:
            data = path.read_bytes()
            if len(data) != ref.size:
                raise IntegrityError(f"{path} changed while it was being stored")
            self._put(ref, data)
        else:
            with path.open("rb") as f:
                self._upload(f, ref, str(path))
        return ref

    def _put(self, ref: BlobRef, data: bytes) -> None:
        # Content-addressed, so a repeated PUT stores nothing new: retried like any PUT.
        self._session.request(
            "PUT",
            f"/blobs/{ref.digest}",
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )

    def _upload(self, source: BinaryIO, ref: BlobRef, what: str) -> None:
        """An upload session in chunks, continued from what arrived after a broken request."""
        upload_id = self._session.request("POST", "/uploads", idempotent=False).json()["upload_id"]
        path = f"/uploads/{upload_id}"
        offset = 0
        failures = 0
        while offset < ref.size:
            length = min(self._chunk_size, ref.size - offset)
            end = offset + length - 1
            try:
                response = self._session.client.put(
                    path,
                    content=_piece(source, offset, length, what),
                    headers={
                        "Content-Range": f"bytes {offset}-{end}/{ref.size}",
                        "Content-Length": str(length),
                        "Content-Type": "application/octet-stream",
                    },
                )
                if response.status_code >= 400:
                    raise self._session.error_for(response)
                offset = int(response.json()["received"])
                failures = 0
            except (httpx.TransportError, Conflict) as exc:
                # Lost connection, or the chunk did arrive and only the answer was lost: ask
                # the server how much it holds and go on from there.
                failures += 1
                if failures > self._session.retries:
                    if isinstance(exc, httpx.TransportError):
                        raise self._session.unreachable(exc) from None
                    raise
                self._session.pause(failures)
                offset = int(self._session.request("GET", path).json()["received"])
        try:
            self._session.request(
                "POST", f"{path}/complete", json={"sha256": ref.digest}, idempotent=False
            )
        except SlipwayError:
            # The answer to a completed upload may be lost; the blob then exists.
            if not self.exists(ref.digest):
                raise

    # -- reading ---------------------------------------------------------------------------

    def get_bytes(self, digest: str) -> bytes:
        check_digest(digest)
        sink = io.BytesIO()
        self._fetch(digest, sink)
        return sink.getvalue()

    def download(self, digest: str, dest: Path) -> None:
        check_digest(digest)
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=".slipway-", suffix=".part")
        try:
            with os.fdopen(fd, "w+b") as out:
                self._fetch(digest, out)
            os.replace(tmp_name, dest)
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)

    def _fetch(self, digest: str, sink: BinaryIO) -> None:
        """Stream ``/blobs/{digest}`` into ``sink``, resuming after a dropped connection;
        raises IntegrityError unless what arrived hashes to ``digest``."""
        hasher = hashlib.sha256()
        received = 0
        failures = 0
        while True:
            headers = {"Range": f"bytes={received}-"} if received else {}
            try:
                with self._session.client.stream(
                    "GET", f"/blobs/{digest}", headers=headers
                ) as response:
                    if received and response.status_code == 416:
                        break  # everything had arrived before the connection dropped
                    if response.status_code >= 400:
                        response.read()
                        raise self._session.error_for(response)
                    self._check_etag(response, digest)
                    if received and not _resumes_at(response, received):
                        hasher, received = hashlib.sha256(), 0  # range ignored: start over
                        sink.seek(0)
                        sink.truncate()
                    for chunk in response.iter_bytes():
                        hasher.update(chunk)
                        sink.write(chunk)
                        received += len(chunk)
                break
            except httpx.TransportError as exc:
                failures += 1
                if failures > self._session.retries:
                    raise self._session.unreachable(exc) from None
                self._session.pause(failures)
        if hasher.hexdigest() != digest:
            raise IntegrityError(
                f"blob {digest} from {self._session.where} does not match its sha256 "
                "(corrupted in transit or on the server); nothing was kept"
            )

    def _check_etag(self, response: httpx.Response, digest: str) -> None:
        etag = response.headers.get("ETag", "").strip('"')
        if etag and etag != digest:
            raise IntegrityError(
                f"{self._session.where} answered blob {etag} when asked for {digest}"
            )


def _piece(source: BinaryIO, offset: int, length: int, what: str) -> Iterator[bytes]:
    """``length`` bytes of ``source`` from ``offset``, read as they are sent."""
    source.seek(offset)
    left = length
    while left > 0:
        block = source.read(min(_READ, left))
        if not block:
            raise IntegrityError(f"{what} changed while it was being stored")
        left -= len(block)
        yield block


def _resumes_at(response: httpx.Response, offset: int) -> bool:
    """Whether a ranged answer starts exactly at ``offset`` (``206`` with a Content-Range)."""
    if response.status_code != 206:
        return False
    content_range = response.headers.get("Content-Range", "")
    unit, _, spec = content_range.partition(" ")
    start = spec.split("-", 1)[0]
    return unit == "bytes" and start.isdigit() and int(start) == offset
