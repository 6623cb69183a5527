"""Artifacts and blobs, streamed both ways with sha256 checked end to end.

Uploads: the client declares the sha256 (``X-Slipway-Sha256``); the server hashes the body as
it streams to a temporary file and stores nothing unless the two agree (400
``digest_mismatch``). Large files can be sent in pieces through an upload session
(``POST /uploads``, ``PUT /uploads/{id}`` with ``Content-Range``, ``GET`` to learn how much
arrived after a broken connection, ``POST …/complete`` with the sha256).

Downloads: the blob is fetched (and verified) from the artifact store, then streamed with
``ETag: "<sha256>"``, ``Digest: sha-256=<base64>`` and ``Accept-Ranges: bytes``; a ``Range``
request resumes a broken download (206).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
from pathlib import Path as FsPath
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from slipway.api.auth import Principal
from slipway.api.context import ServerContext
from slipway.api.deps import Context, DataScientist, Viewer, acting_workspace
from slipway.api.pagination import Paging, paginate
from slipway.api.schemas import ArtifactOut, ArtifactPage
from slipway.core.entities import RunArtifact
from slipway.core.errors import Conflict, DigestMismatch, InvalidInput, NotFound
from slipway.core.names import check_relative_path

router = APIRouter(tags=["artifacts"])
RunId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
Digest = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="sha256, hex.")]
UploadId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
ArtifactPath = Annotated[str, Path(max_length=1024, description="Relative path in the run.")]
ExpectedSha = Annotated[
    str,
    Header(
        alias="X-Slipway-Sha256",
        pattern=r"^[0-9a-f]{64}$",
        description="sha256 of the body; the upload is refused if it differs.",
    ),
]
_CHUNK = 1 << 20
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
BINARY = {"content": {"application/octet-stream": {"schema": {"type": "string"}}}}
BINARY_BODY = {"requestBody": {"required": True, **BINARY}}


class BlobOut(BaseModel):
    digest: str
    size: int


class RecordArtifact(BaseModel):
    path: str = Field(min_length=1, max_length=1024)
    digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    kind: str = Field(default="file", pattern=r"^(file|model)$")


class UploadOut(BaseModel):
    upload_id: str
    received: int
    """Bytes stored so far: the next chunk starts here."""


class CompleteUpload(BaseModel):
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


def _tmp_dir(ctx: ServerContext) -> FsPath:
    path = ctx.home / "api" / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


async def _receive(request: Request, ctx: ServerContext) -> tuple[FsPath, str, int]:
    """The request body in a temporary file, with its sha256 and size."""
    fd, name = tempfile.mkstemp(dir=_tmp_dir(ctx), suffix=".upload")
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
    except BaseException:
        os.unlink(name)
        raise
    return FsPath(name), digest.hexdigest(), size


async def _store_verified(request: Request, ctx: ServerContext, expected: str) -> BlobOut:
    path, actual, _ = await _receive(request, ctx)
    try:
        if actual != expected:
            raise DigestMismatch(expected, actual)
        ref = await run_in_threadpool(ctx.workspace.artifacts.put_file, path)
    finally:
        path.unlink(missing_ok=True)
    return BlobOut(digest=ref.digest, size=ref.size)


def _download(ctx: ServerContext, digest: str, filename: str | None = None) -> FileResponse:
    """Fetch and verify the blob into a temporary file, then stream it (Range-capable)."""
    folder = FsPath(tempfile.mkdtemp(dir=_tmp_dir(ctx), prefix="download-"))
    target = folder / "blob"
    try:
        ctx.workspace.artifacts.download(digest, target)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    b64 = base64.b64encode(bytes.fromhex(digest)).decode()
    return FileResponse(
        target,
        media_type="application/octet-stream",
        filename=filename,
        headers={"ETag": f'"{digest}"', "Digest": f"sha-256={b64}"},
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )


# -- blobs ----------------------------------------------------------------------------------


@router.put(
    "/blobs/{digest}",
    response_model=BlobOut,
    summary="Store a blob under its sha256 (idempotent)",
    openapi_extra=BINARY_BODY,
)
async def put_blob(
    digest: Digest, request: Request, principal: DataScientist, ctx: Context
) -> BlobOut:
    if await run_in_threadpool(ctx.workspace.artifacts.exists, digest):
        async for _ in request.stream():  # drain: the client may already be sending
            pass
        return BlobOut(digest=digest, size=await run_in_threadpool(_blob_size, ctx, digest))
    return await _store_verified(request, ctx, digest)


def _blob_size(ctx: ServerContext, digest: str) -> int:
    folder = FsPath(tempfile.mkdtemp(dir=_tmp_dir(ctx), prefix="size-"))
    try:
        ctx.workspace.artifacts.download(digest, folder / "blob")
        return (folder / "blob").stat().st_size
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@router.head(
    "/blobs/{digest}",
    status_code=200,
    response_class=Response,
    summary="Whether a blob is stored (200) or not (404): skip uploading what is there",
)
def has_blob(digest: Digest, principal: Viewer, ctx: Context) -> Response:
    if not ctx.workspace.artifacts.exists(digest):
        raise NotFound(f"blob {digest} is not stored")
    return Response(status_code=200)


@router.get(
    "/blobs/{digest}",
    response_class=FileResponse,
    summary="Download a blob (verified; Range supported)",
    responses={200: BINARY, 206: BINARY},
)
def get_blob(digest: Digest, principal: Viewer, ctx: Context) -> FileResponse:
    return _download(ctx, digest)


# -- run artifacts --------------------------------------------------------------------------


@router.get("/runs/{run_id}/artifacts", response_model=ArtifactPage, summary="A run's artifacts")
def list_artifacts(
    run_id: RunId,
    principal: Viewer,
    ctx: Context,
    page: Paging,
    prefix: Annotated[str | None, Query(max_length=1024)] = None,
) -> ArtifactPage:
    run = ctx.workspace.store.runs.get(run_id)
    found = [a for a in run.artifacts if prefix is None or a.path.startswith(prefix)]
    items, token = paginate(
        found,
        page,
        {"path": lambda a: a.path, "size": lambda a: a.size, "kind": lambda a: a.kind},
        "path",
    )
    return ArtifactPage(items=[ArtifactOut.of(a) for a in items], next_page_token=token)


@router.put(
    "/runs/{run_id}/artifacts/{path:path}",
    response_model=ArtifactOut,
    status_code=201,
    summary="Upload a file as a run artifact (sha256 checked)",
    openapi_extra=BINARY_BODY,
)
async def upload_artifact(
    run_id: RunId,
    path: ArtifactPath,
    expected: ExpectedSha,
    request: Request,
    principal: DataScientist,
    ctx: Context,
) -> ArtifactOut:
    check_relative_path(path)
    store = acting_workspace(ctx, principal).store
    await run_in_threadpool(store.runs.get, run_id)  # 404 before reading the body
    blob = await _store_verified(request, ctx, expected)
    artifact = RunArtifact(path, blob.digest, blob.size, "file")
    await run_in_threadpool(store.runs.add_artifact, run_id, artifact)
    return ArtifactOut.of(artifact)


@router.post(
    "/runs/{run_id}/artifacts",
    response_model=ArtifactOut,
    status_code=201,
    summary="Record a stored blob (e.g. a model manifest) under a path of the run",
)
def record_artifact(
    run_id: RunId, body: RecordArtifact, principal: DataScientist, ctx: Context
) -> ArtifactOut:
    check_relative_path(body.path)
    size = _blob_size(ctx, body.digest) if ctx.workspace.artifacts.exists(body.digest) else None
    if size is None:
        raise InvalidInput(f"blob {body.digest} is not stored: PUT /blobs/{body.digest} first")
    artifact = RunArtifact(body.path, body.digest, size, body.kind)
    acting_workspace(ctx, principal).store.runs.add_artifact(run_id, artifact)
    return ArtifactOut.of(artifact)


@router.get(
    "/runs/{run_id}/artifacts/{path:path}",
    response_class=FileResponse,
    summary="Download a run artifact (verified; Range supported)",
    responses={200: BINARY, 206: BINARY},
)
def download_artifact(
    run_id: RunId, path: ArtifactPath, principal: Viewer, ctx: Context
) -> FileResponse:
    artifact = ctx.workspace.store.runs.get_artifact(run_id, path)
    return _download(ctx, artifact.digest, filename=path.rsplit("/", 1)[-1])


# -- resumable uploads ----------------------------------------------------------------------


def _session_dir(ctx: ServerContext, upload_id: str, principal: Principal) -> FsPath:
    folder = ctx.home / "api" / "uploads" / upload_id
    try:
        owner = json.loads((folder / "session.json").read_text())["owner"]
    except (OSError, ValueError, KeyError):
        raise NotFound(f"upload {upload_id} not found") from None
    if owner != principal.owner:
        raise NotFound(f"upload {upload_id} not found")
    return folder


def _received(folder: FsPath) -> int:
    part = folder / "data"
    return part.stat().st_size if part.exists() else 0


@router.post("/uploads", response_model=UploadOut, status_code=201, summary="Start an upload")
def start_upload(principal: DataScientist, ctx: Context) -> UploadOut:
    upload_id = secrets.token_hex(16)
    folder = ctx.home / "api" / "uploads" / upload_id
    folder.mkdir(parents=True)
    (folder / "session.json").write_text(json.dumps({"owner": principal.owner}))
    (folder / "data").touch()
    return UploadOut(upload_id=upload_id, received=0)


@router.get("/uploads/{upload_id}", response_model=UploadOut, summary="How much has arrived")
def upload_status(upload_id: UploadId, principal: DataScientist, ctx: Context) -> UploadOut:
    folder = _session_dir(ctx, upload_id, principal)
    return UploadOut(upload_id=upload_id, received=_received(folder))


@router.put(
    "/uploads/{upload_id}",
    response_model=UploadOut,
    summary="Append a chunk (Content-Range: bytes start-end/total; start = received)",
    openapi_extra=BINARY_BODY,
)
async def upload_chunk(
    upload_id: UploadId,
    request: Request,
    principal: DataScientist,
    ctx: Context,
    content_range: Annotated[str, Header(alias="Content-Range", max_length=100)],
) -> UploadOut:
    folder = _session_dir(ctx, upload_id, principal)
    match = _RANGE.match(content_range)
    if match is None or int(match.group(2)) < int(match.group(1)):
        raise InvalidInput("Content-Range must read 'bytes <start>-<end>/<total or *>'")
    start, end = int(match.group(1)), int(match.group(2))
    received = _received(folder)
    if start != received:
        raise Conflict(f"upload {upload_id} has {received} bytes: send from byte {received}")
    path, _, size = await _receive(request, ctx)
    try:
        if size != end - start + 1:
            raise InvalidInput(f"Content-Range announces {end - start + 1} bytes, body has {size}")
        with (folder / "data").open("ab") as out, path.open("rb") as src:
            shutil.copyfileobj(src, out, _CHUNK)
    finally:
        path.unlink(missing_ok=True)
    return UploadOut(upload_id=upload_id, received=_received(folder))


@router.post(
    "/uploads/{upload_id}/complete",
    response_model=BlobOut,
    summary="Finish an upload: verify the sha256 and store the blob",
)
def complete_upload(
    upload_id: UploadId, body: CompleteUpload, principal: DataScientist, ctx: Context
) -> BlobOut:
    folder = _session_dir(ctx, upload_id, principal)
    data = folder / "data"
    digest = hashlib.sha256()
    with data.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    try:
        if digest.hexdigest() != body.sha256:
            raise DigestMismatch(body.sha256, digest.hexdigest())
        ref = ctx.workspace.artifacts.put_file(data)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return BlobOut(digest=ref.digest, size=ref.size)
