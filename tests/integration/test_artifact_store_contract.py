"""One contract suite for the artifact store: file://, memory://, s3:// (a real local
S3-compatible server: moto in server mode on 127.0.0.1) and remote mode (a real
``slipway server``'s blob endpoints)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from slipway.artifacts import ArtifactStore, FsspecArtifactStore, open_artifact_store
from slipway.artifacts.manifest import Manifest, fetch_manifest, materialize, store_directory
from slipway.artifacts.remote import RemoteArtifactStore
from slipway.core.errors import IntegrityError, InvalidInput, NotFound
from slipway.core.http import ApiSession
from tests.integration.remote.server import blobs_of

BUCKET = "slipway-test"
CREDENTIALS = {"key": "testing", "secret": "testing"}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture(params=["file", "memory", "s3", "remote"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArtifactStore]:
    if request.param == "remote":
        server = request.getfixturevalue("remote_server")
        session = ApiSession(server.url, server.tokens["tester"])
        yield RemoteArtifactStore(session)
        session.close()
    elif request.param == "file":
        yield open_artifact_store((tmp_path / "blobs").as_uri())
    elif request.param == "memory":
        yield open_artifact_store(f"memory://{uuid.uuid4().hex}")
    else:
        endpoint = request.getfixturevalue("s3_endpoint")
        yield open_artifact_store(
            f"s3://{BUCKET}/{uuid.uuid4().hex}", endpoint_url=endpoint, **CREDENTIALS
        )


def _overwrite_blob(store: ArtifactStore, digest: str, data: bytes) -> None:
    blobs = blobs_of(store)
    blobs.fs.pipe_file(blobs._blob_path(digest), data)


def _stored(store: ArtifactStore) -> set[str]:
    blobs = blobs_of(store)
    if not blobs.fs.exists(blobs._root):
        return set()
    return {p for p in blobs.fs.find(blobs._root) if "/sha256/" in p}


def test_round_trip_and_dedup(store: ArtifactStore, tmp_path: Path) -> None:
    data = b"weights" * 1000 + uuid.uuid4().bytes
    before = _stored(store)
    ref = store.put_bytes(data)
    assert ref.digest == hashlib.sha256(data).hexdigest()
    assert ref.size == len(data)
    assert store.exists(ref.digest)
    assert store.get_bytes(ref.digest) == data
    src = tmp_path / "w.bin"
    src.write_bytes(data)
    assert store.put_file(src) == ref  # identical content: same blob, stored once
    assert len(_stored(store) - before) == 1
    store.download(ref.digest, tmp_path / "out" / "w.bin")
    assert (tmp_path / "out" / "w.bin").read_bytes() == data


def test_tampered_blob_raises_and_returns_nothing(store: ArtifactStore, tmp_path: Path) -> None:
    ref = store.put_bytes(b"honest bytes")
    _overwrite_blob(store, ref.digest, b"evil bytes!!")
    with pytest.raises(IntegrityError, match=ref.digest):
        store.get_bytes(ref.digest)
    dest = tmp_path / "dest.bin"
    with pytest.raises(IntegrityError):
        store.download(ref.digest, dest)
    assert not dest.exists()
    assert list(tmp_path.glob("*.part")) == []


def test_missing_blob(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        store.get_bytes("0" * 64)
    with pytest.raises(NotFound):
        store.download("0" * 64, tmp_path / "x")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("bad", ["../../etc/passwd", "AB" * 32, "abc", ""])
def test_digest_must_be_a_sha256(store: ArtifactStore, bad: str) -> None:
    with pytest.raises(InvalidInput, match="digest"):
        store.get_bytes(bad)


def test_failed_write_leaves_no_visible_blob(
    store: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not isinstance(store, FsspecArtifactStore):
        pytest.skip("a remote store publishes inside the server's own store, tested here")

    def crash(*_: Any, **__: Any) -> None:
        raise OSError("disk pulled out mid-publish")

    monkeypatch.setattr(store.fs, "mv", crash)
    data = b"half-written"
    with pytest.raises(OSError, match="disk pulled"):
        store.put_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    assert not store.exists(digest)
    with pytest.raises(NotFound):
        store.get_bytes(digest)


def test_directory_manifest_round_trip(store: ArtifactStore, tmp_path: Path) -> None:
    src = tmp_path / "model"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("a")
    (src / "sub" / "b.bin").write_bytes(b"\x00\x01")
    digest, manifest = store_directory(store, src, {"flavor": "x"})
    assert [e.path for e in manifest.entries] == ["a.txt", "sub/b.bin"]
    again = fetch_manifest(store, digest)
    assert again == manifest
    dest = tmp_path / "copy"
    materialize(store, again, dest)
    assert (dest / "sub" / "b.bin").read_bytes() == b"\x00\x01"
    assert store_directory(store, src, {"flavor": "x"})[0] == digest


def test_manifest_with_traversal_is_refused(store: ArtifactStore, tmp_path: Path) -> None:
    blob = store.put_bytes(b"payload")
    doc = {
        "format": "slipway.manifest/v1",
        "files": [{"path": "../../outside.txt", "sha256": blob.digest, "size": 7}],
        "metadata": {},
    }
    ref = store.put_bytes(json.dumps(doc).encode())
    with pytest.raises(InvalidInput, match="artifact path"):
        fetch_manifest(store, ref.digest)
    assert not (tmp_path.parent / "outside.txt").exists()


def test_manifest_that_is_not_json(store: ArtifactStore) -> None:
    ref = store.put_bytes(b"\xff\xfe not json")
    with pytest.raises(IntegrityError, match="not valid JSON"):
        fetch_manifest(store, ref.digest)
    with pytest.raises(InvalidInput, match="not a Slipway manifest"):
        Manifest.from_bytes(b'{"format": "other"}')


def test_unknown_scheme_lists_valid_ones() -> None:
    with pytest.raises(InvalidInput, match=r"file://, memory://, s3://"):
        open_artifact_store("ftp://example/x")
