"""The push webhook over real HTTP on 127.0.0.1: signed pushes wake the agent, others do not."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from slipway.gitops.webhook import PushEvent, github_signature, webhook_app

SECRET = "s3cret-for-tests"


@pytest.fixture
def hook() -> Iterator[tuple[str, list[PushEvent]]]:
    received: list[PushEvent] = []
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            webhook_app(SECRET, "main", received.append),
            host="127.0.0.1",
            port=port,
            log_level="error",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "webhook server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/hooks/git", received
    server.should_exit = True
    thread.join(10)


def push(ref: str = "refs/heads/main") -> bytes:
    return json.dumps(
        {"ref": ref, "after": "a" * 40, "repository": {"full_name": "acme/gitops"}}
    ).encode()


def test_github_push_with_a_valid_signature_wakes_the_agent(
    hook: tuple[str, list[PushEvent]],
) -> None:
    url, received = hook
    body = push()
    headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": github_signature(SECRET, body)}
    response = httpx.post(url, content=body, headers=headers)
    assert response.status_code == 202
    assert received == [PushEvent("github", "refs/heads/main", "a" * 40)]


@pytest.mark.parametrize(
    "headers",
    [
        {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + "0" * 64},
        {"X-GitHub-Event": "push", "X-Hub-Signature-256": github_signature("wrong", push())},
        {"X-GitHub-Event": "push"},
        {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "wrong"},
    ],
    ids=["forged", "other-secret", "unsigned", "gitlab-wrong-token"],
)
def test_bad_signatures_are_refused(
    hook: tuple[str, list[PushEvent]], headers: dict[str, str]
) -> None:
    url, received = hook
    response = httpx.post(url, content=push(), headers=headers)
    assert response.status_code == 401
    assert "error" in response.json()
    assert SECRET not in response.text
    assert received == []


def test_a_tampered_body_fails_its_signature(hook: tuple[str, list[PushEvent]]) -> None:
    url, received = hook
    signature = github_signature(SECRET, push())
    response = httpx.post(
        url,
        content=push("refs/heads/evil"),
        headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": signature},
    )
    assert response.status_code == 401
    assert received == []


def test_gitlab_token_and_other_branches(hook: tuple[str, list[PushEvent]]) -> None:
    url, received = hook
    gitlab = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRET}
    assert (
        httpx.post(url, content=push("refs/heads/dev"), headers=gitlab).json()["status"]
        == "ignored"
    )
    assert httpx.post(url, content=push(), headers=gitlab).status_code == 202
    ping = {"X-GitHub-Event": "ping", "X-Hub-Signature-256": github_signature(SECRET, b"{}")}
    assert httpx.post(url, content=b"{}", headers=ping).json()["status"] == "ignored"
    assert [e.provider for e in received] == ["gitlab"]
