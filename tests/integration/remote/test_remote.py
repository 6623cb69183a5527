"""Remote mode beyond the shared contract suites: credentials, integrity in transit, resumed
transfers, large artifacts in bounded memory, what is not available, and the CLI."""

from __future__ import annotations

import hashlib
import inspect
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

import slipway
from slipway.artifacts.remote import RemoteArtifactStore
from slipway.core.errors import IntegrityError, NotFound, SlipwayError, Unauthenticated
from slipway.core.http import ApiSession, NotAvailableRemotely
from slipway.core.settings import Settings
from slipway.store import audit, deployments, experiments, models, runs
from slipway.store.remote import (
    RemoteAuditLog,
    RemoteDeploymentStatusRepository,
    RemoteExperimentRepository,
    RemoteMetadataStore,
    RemoteModelRepository,
    RemoteRunRepository,
)
from slipway.workspace import Workspace
from tests.integration.remote.proxy import FaultyProxy
from tests.integration.remote.server import RemoteServer, blobs_behind

MB = 1 << 20


@pytest.fixture
def proxy(remote_server: RemoteServer) -> Iterator[FaultyProxy]:
    p = FaultyProxy(remote_server.url).start()
    yield p
    p.stop()


@pytest.fixture
def via_proxy(proxy: FaultyProxy, remote_server: RemoteServer) -> Iterator[RemoteArtifactStore]:
    session = ApiSession(proxy.url, remote_server.tokens["tester"], backoff=0.01)
    yield RemoteArtifactStore(session, single_put_limit=MB, chunk_size=MB)
    session.close()


def _random_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for _ in range(size // MB):
            block = os.urandom(MB)
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


# -- credentials ----------------------------------------------------------------------------


def test_wrong_token_names_the_server_not_the_token(remote_server: RemoteServer) -> None:
    secret = "slw_0123456789abcdef_" + "x" * 40
    ws = Workspace(remote_server.url, settings=Settings(token=SecretStr(secret)))
    store = ws.store
    assert isinstance(store, RemoteMetadataStore)
    try:
        with pytest.raises(Unauthenticated) as err:
            store.experiments.search()
        shown = repr(store) + repr(store.session) + repr(ws.settings) + repr(ws.artifacts)
    finally:
        ws.close()
    message = str(err.value)
    assert remote_server.url in message
    assert "SLIPWAY_TOKEN" in message
    assert "x" * 40 not in message
    assert "x" * 40 not in shown


def test_missing_token_says_how_to_get_one(remote_server: RemoteServer) -> None:
    ws = Workspace(remote_server.url)
    try:
        with pytest.raises(Unauthenticated, match="needs an API token: set SLIPWAY_TOKEN"):
            ws.store.runs.search()
        with pytest.raises(Unauthenticated, match=remote_server.url):
            ws.artifacts.exists("0" * 64)
    finally:
        ws.close()


def test_unreachable_server_is_named(tmp_path: Path) -> None:
    session = ApiSession("http://127.0.0.1:9", "t", retries=1, backoff=0.01)
    store = RemoteMetadataStore(session, "me")
    with pytest.raises(SlipwayError, match=r"cannot reach the Slipway server at http://127\."):
        store.experiments.search()
    store.close()


# -- integrity and resumed transfers ----------------------------------------------------------


def test_bytes_corrupted_in_transit_raise_and_leave_nothing(
    proxy: FaultyProxy, via_proxy: RemoteArtifactStore, tmp_path: Path
) -> None:
    ref = via_proxy.put_bytes(b"honest bytes" * 1000)
    proxy.fail_once("GET", f"/blobs/{ref.digest}", "corrupt")
    with pytest.raises(IntegrityError, match=ref.digest):
        via_proxy.download(ref.digest, tmp_path / "out.bin")
    assert list(tmp_path.iterdir()) == []
    proxy.fail_once("GET", f"/blobs/{ref.digest}", "corrupt")
    with pytest.raises(IntegrityError, match="corrupted in transit"):
        via_proxy.get_bytes(ref.digest)
    assert via_proxy.get_bytes(ref.digest) == b"honest bytes" * 1000  # no fault left


def test_blob_corrupted_on_the_server_is_refused(
    remote_workspace: Workspace, tmp_path: Path
) -> None:
    ref = remote_workspace.artifacts.put_bytes(b"stored honestly")
    blobs = blobs_behind(remote_workspace)
    blobs.fs.pipe_file(blobs._blob_path(ref.digest), b"tampered later!")
    with pytest.raises(IntegrityError, match=ref.digest):
        remote_workspace.artifacts.download(ref.digest, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_download_resumes_with_range_after_a_cut(
    proxy: FaultyProxy, via_proxy: RemoteArtifactStore, tmp_path: Path
) -> None:
    src = tmp_path / "src.bin"
    digest = _random_file(src, 3 * MB)
    assert via_proxy.put_file(src).digest == digest
    proxy.fail_once("GET", f"/blobs/{digest}", "cut")
    via_proxy.download(digest, tmp_path / "out.bin")
    assert hashlib.sha256((tmp_path / "out.bin").read_bytes()).hexdigest() == digest
    gets = [s for s in proxy.seen if s.method == "GET" and digest in s.path]
    assert [s.range is None for s in gets] == [True, False]
    resumed_at = int(str(gets[1].range).removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= 3 * MB // 2  # the cut came half way: only the rest again


def test_upload_session_resumes_after_a_lost_answer(
    proxy: FaultyProxy, via_proxy: RemoteArtifactStore, tmp_path: Path
) -> None:
    src = tmp_path / "src.bin"
    digest = _random_file(src, 3 * MB)
    proxy.fail_once("PUT", "/uploads/", "drop")  # the first chunk lands, its answer is lost
    assert via_proxy.put_file(src).digest == digest
    chunks = [s for s in proxy.seen if s.method == "PUT" and "/uploads/" in s.path]
    assert len(chunks) == 3  # nothing sent twice: the client asked how much had arrived
    assert any(s.method == "GET" and "/uploads/" in s.path for s in proxy.seen)
    assert via_proxy.exists(digest)


def test_large_artifact_streams_both_ways_in_bounded_memory(
    remote_workspace: Workspace, tmp_path: Path
) -> None:
    size = 20 * MB
    src = tmp_path / "weights.bin"
    digest = _random_file(src, size)
    client = slipway.TrackingClient(remote_workspace)
    exp = client.create_experiment("big")
    run = client.create_run(exp.experiment_id)
    tracemalloc.start()
    try:
        artifact = client.log_artifact(run.run_id, src)
        _, upload_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        out = client.download_artifact(run.run_id, "weights.bin", tmp_path / "back.bin")
        _, download_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (artifact.digest, artifact.size) == (digest, size)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == digest
    assert upload_peak < 4 * MB, upload_peak  # read as sent, never the whole file
    assert download_peak < 4 * MB, download_peak


# -- what exists only locally ---------------------------------------------------------------


def test_operations_without_an_api_say_so(remote_workspace: Workspace) -> None:
    store = remote_workspace.store
    with pytest.raises(NotAvailableRemotely, match="not available over the API yet"):
        store.audit.append(actor="a", action="ct.triggered", entity_type="ct", entity_key="x")
    with pytest.raises(NotAvailableRemotely, match="deployment status"):
        store.deployments.put("prod", "d", desired_revision=None, observed_revision=None, status={})
    with pytest.raises(NotAvailableRemotely, match=r"tokens\.list"):
        store.tokens.list()
    with pytest.raises(NotAvailableRemotely, match="direct database access"):
        store.engine.connect()
    with pytest.raises(NotAvailableRemotely, match="start_time"):
        store.runs.create("1", start_time=5)
    assert store.deployments.get("prod", "nothing") is None
    assert store.deployments.list() == []


@pytest.mark.parametrize(
    ("local", "remote"),
    [
        (experiments.ExperimentRepository, RemoteExperimentRepository),
        (runs.RunRepository, RemoteRunRepository),
        (models.ModelRepository, RemoteModelRepository),
        (audit.AuditLog, RemoteAuditLog),
        (deployments.DeploymentStatusRepository, RemoteDeploymentStatusRepository),
    ],
)
def test_every_public_store_method_goes_over_http(local: type, remote: type) -> None:
    """A method inherited from the SQL repository would reach for a database that is not
    there; only compositions of overridden methods may be inherited."""
    composed = {"get_or_create", "alias_history"}
    for name, _ in inspect.getmembers(local, inspect.isfunction):
        if name.startswith("_") or name in composed:
            continue
        assert name in vars(remote), f"{remote.__name__} does not override {name}"


# -- SDK, experiments tags, CLI --------------------------------------------------------------


def test_registry_tags_and_descriptions_round_trip(remote_workspace: Workspace) -> None:
    store = remote_workspace.store
    exp = store.experiments.create("tagged")
    store.experiments.set_tag(exp.experiment_id, "team", "risk")
    assert store.experiments.get(exp.experiment_id).tags == {"team": "risk"}
    store.models.create_model("m", description="first")
    store.models.set_model_tag("m", "owner", "risk")
    assert store.models.update_model_description("m", "second").description == "second"
    store.models.set_model_tag("m", "owner", None)
    assert store.models.get_model("m").tags == {}
    assert store.models.search_versions("ghost") == []
    with pytest.raises(NotFound, match="'ghost' not found"):
        store.models.get_model("ghost")


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
    return subprocess.run(
        [sys.executable, "-m", "slipway.cli.main", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_works_remotely_and_the_server_refuses_to_call_itself(
    remote_workspace: Workspace, tmp_path: Path
) -> None:
    client = slipway.TrackingClient(remote_workspace)
    exp = client.create_experiment("from-the-sdk")
    run = client.create_run(exp.experiment_id, run_name="remote-run")
    env = {
        "SLIPWAY_TRACKING_URI": remote_workspace.tracking_uri,
        "SLIPWAY_TOKEN": os.environ["SLIPWAY_TOKEN"],
        "SLIPWAY_HOME": str(tmp_path / "client-home"),
    }
    listed = _cli(env, "runs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert run.run_id in listed.stdout
    assert not (tmp_path / "client-home").exists()  # nothing local was created
    refused = _cli(env, "server", "--port", "1")
    assert refused.returncode != 0
    assert "needs a database, not another server" in refused.stdout + refused.stderr
    assert os.environ["SLIPWAY_TOKEN"] not in refused.stdout + refused.stderr
