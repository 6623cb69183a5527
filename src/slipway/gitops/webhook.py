"""Push webhooks from GitHub and GitLab: verify, then wake the reconciler at once.

GitHub signs the raw body with the shared secret (``X-Hub-Signature-256: sha256=<hmac>``);
GitLab sends the secret itself (``X-Gitlab-Token``). Both are compared in constant time.
A request that fails verification is refused with 401 and changes nothing; a verified push
to another branch is acknowledged and ignored. The payload is only a nudge: the agent fetches
and reads the repository itself, so a forged body could at worst cause one extra poll.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

logger = logging.getLogger("slipway.gitops")
MAX_BODY = 5 * 1024 * 1024  # GitHub caps payloads at 25 MB; pushes are far smaller
WEBHOOK_PATH = "/hooks/git"


@dataclass(frozen=True, slots=True)
class PushEvent:
    provider: str
    ref: str
    after: str


class WebhookRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


def github_signature(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, headers: dict[str, str]) -> str:
    """Which provider sent a correctly signed request; raises :class:`WebhookRefused`."""
    signature = headers.get("x-hub-signature-256")
    if signature is not None:
        if hmac.compare_digest(signature.encode(), github_signature(secret, body).encode()):
            return "github"
        raise WebhookRefused(401, "X-Hub-Signature-256 does not match the body and secret")
    token = headers.get("x-gitlab-token")
    if token is not None:
        if hmac.compare_digest(token.encode(), secret.encode()):
            return "gitlab"
        raise WebhookRefused(401, "X-Gitlab-Token does not match the secret")
    raise WebhookRefused(401, "missing X-Hub-Signature-256 (GitHub) or X-Gitlab-Token (GitLab)")


def parse_push(provider: str, body: bytes, headers: dict[str, str]) -> PushEvent | None:
    """The push a verified payload describes; None for other events (ping, issues…)."""
    event = headers.get("x-github-event") or headers.get("x-gitlab-event") or ""
    if event.lower() not in ("push", "push hook"):
        return None
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise WebhookRefused(400, f"payload is not JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("ref"), str):
        raise WebhookRefused(400, "push payload has no 'ref'")
    return PushEvent(provider, doc["ref"], str(doc.get("after", "")))


def webhook_app(secret: str, branch: str, on_push: Callable[[PushEvent], None]) -> Starlette:
    """A Starlette app answering ``POST /hooks/git``; ``on_push`` runs for the watched branch."""

    async def receive(request: Request) -> JSONResponse:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY:
            return JSONResponse({"error": "payload too large"}, status_code=413)
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            provider = verify(secret, body, headers)
            push = parse_push(provider, body, headers)
        except WebhookRefused as exc:
            logger.warning("webhook refused from %s: %s", request.client, exc)
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        if push is None:
            return JSONResponse({"status": "ignored", "reason": "not a push event"})
        if push.ref != f"refs/heads/{branch}":
            return JSONResponse({"status": "ignored", "reason": f"{push.ref} is not watched"})
        on_push(push)
        return JSONResponse({"status": "accepted", "ref": push.ref, "after": push.after}, 202)

    return Starlette(routes=[Route(WEBHOOK_PATH, receive, methods=["POST"])])
