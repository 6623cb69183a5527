"""Deployments and monitoring over a Slipway server's REST API (remote mode of the CLI).

What ``slipway deploy | rollback | undeploy | history``, ``slipway models timeline``,
``slipway monitor drift | performance | report | images`` and ``slipway labels ingest`` (and
``slipway.monitoring.monitor.drift_over_time``, ``slipway.monitoring.report.build_report``)
do against local files
and a local git repository, these functions ask the server to do, through the workspace's
one :class:`ApiSession` (same token, same retries, same typed errors). They answer the
response bodies as plain JSON values: turning them into the domain objects of ``gitops`` and
``monitoring`` is the caller's business (those layers sit above this one).

A deploy, rollback or undeploy is a commit the server makes, authored by the token's owner.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from slipway.core.http import ApiSession
from slipway.store import MetadataStore

JsonDoc = dict[str, Any]


def api_session(store: MetadataStore) -> ApiSession | None:
    """The HTTP session of a remote store; None for a local (SQL) store."""
    from slipway.store.remote import RemoteMetadataStore

    return store.session if isinstance(store, RemoteMetadataStore) else None


def _seg(text: str) -> str:
    return quote(str(text), safe="")


def _deployment(environment: str, name: str) -> str:
    return f"/deployments/{_seg(environment)}/{_seg(name)}"


# -- deployments ------------------------------------------------------------------------------


def deploy(
    session: ApiSession,
    environment: str,
    name: str,
    *,
    model_uri: str,
    reason: str = "",
    strategy: str | None = None,
    steps: Sequence[float] | None = None,
    analysis: Mapping[str, Any] | None = None,
    target: str | None = None,
    replicas: int | None = None,
    apply: bool = True,
) -> JsonDoc:
    """Commit a new desired state; ``{"commit", "applied_by"}`` (server, agent or nobody)."""
    body: JsonDoc = {"model_uri": model_uri, "reason": reason, "apply": apply}
    optional = {
        "strategy": strategy,
        "steps": None if steps is None else list(steps),
        "analysis": None if analysis is None else dict(analysis),
        "target": target,
        "replicas": replicas,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    path = f"{_deployment(environment, name)}/deploy"
    result: JsonDoc = session.request("POST", path, json=body, idempotent=False).json()
    return result


def rollback(
    session: ApiSession,
    environment: str,
    name: str,
    *,
    to: str | None = None,
    reason: str = "",
    apply: bool = True,
) -> JsonDoc:
    """Revert the deployment's last change (or restore it as of ``to``): a commit."""
    body: JsonDoc = {"reason": reason, "apply": apply}
    if to is not None:
        body["to"] = to
    path = f"{_deployment(environment, name)}/rollback"
    result: JsonDoc = session.request("POST", path, json=body, idempotent=False).json()
    return result


def undeploy(
    session: ApiSession, environment: str, name: str, *, reason: str = "", apply: bool = True
) -> JsonDoc:
    """Remove the deployment (a commit deleting its file); its servers stop when applied."""
    params = {"reason": reason, "apply": "true" if apply else "false"}
    # Not retried: a repeat after a lost answer would find the file gone (404), not undo.
    result: JsonDoc = session.request(
        "DELETE", _deployment(environment, name), params=params, idempotent=False
    ).json()
    return result


def history(
    session: ApiSession,
    *,
    environment: str | None = None,
    deployment: str | None = None,
    limit: int = 50,
) -> list[JsonDoc]:
    """Changes to the desired state, newest first; ``time`` in ms since the epoch."""
    params = {"environment": environment, "deployment": deployment, "max_count": limit}
    return list(session.pages("/deployments/history", params, limit=limit))


def deployment_status(
    session: ApiSession, environment: str, name: str | None = None
) -> list[JsonDoc]:
    """What the reconcilers last wrote: one deployment's status, or all of ``environment``."""
    if name is not None:
        return [session.get_json(_deployment(environment, name))]
    return list(session.pages("/deployments", {"environment": environment}))


def timeline(session: ApiSession, model: str, *, environment: str | None = None) -> list[JsonDoc]:
    """When each version of ``model`` served production (start/end in seconds)."""
    path = f"/models/{_seg(model)}/timeline"
    return list(session.pages(path, {"environment": environment}))


# -- monitoring -------------------------------------------------------------------------------


def drift(
    session: ApiSession,
    deployment: str,
    *,
    window: str = "1h",
    every_n: int | None = None,
    version: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    drift_share: float = 0.5,
) -> list[JsonDoc]:
    """Drift per window against each version's reference profile, oldest window first."""
    params = {
        "window": window,
        "every_n": every_n,
        "version": version,
        "since": _time(since),
        "until": _time(until),
        "drift_share": drift_share,
    }
    return list(session.pages(f"/monitoring/{_seg(deployment)}/drift", params))


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _paged_report(session: ApiSession, path: str, params: Mapping[str, Any]) -> JsonDoc:
    """A report whose windows come in pages: the first page's fields, every page's
    ``items``."""
    query = [(k, v) for k, v in params.items() if v is not None]
    report: JsonDoc | None = None
    token: str | None = None
    while True:
        extra = [("limit", 1000)] + ([("page_token", token)] if token else [])
        page: JsonDoc = session.request("GET", path, params=query + extra).json()
        if report is None:
            report = page
        else:
            report["items"].extend(page["items"])
        token = page.get("next_page_token")
        if not token:
            report.pop("next_page_token", None)
            return report


def performance(
    session: ApiSession,
    deployment: str,
    *,
    window: str = "1h",
    every_n: int | None = None,
    version: int | None = None,
) -> JsonDoc:
    """The performance report: its fields, and every window under ``items``."""
    params = {"window": window, "every_n": every_n, "version": version}
    return _paged_report(session, f"/monitoring/{_seg(deployment)}/performance", params)


def report(
    session: ApiSession,
    deployment: str,
    *,
    window: str = "1h",
    since: datetime | None = None,
    until: datetime | None = None,
    title: str | None = None,
) -> str:
    """The self-contained HTML monitoring report, built by the server from its prediction
    log, labels and alert state."""
    params = {"window": window, "since": _time(since), "until": _time(until), "title": title}
    path = f"/monitoring/{_seg(deployment)}/report"
    query = {k: v for k, v in params.items() if v is not None}
    return session.request("GET", path, params=query).text


def images(
    session: ApiSession,
    deployment: str,
    *,
    reference_until: datetime,
    reference_since: datetime | None = None,
    window: str = "1h",
    every_n: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    version: int | None = None,
    drift_share: float = 0.5,
) -> JsonDoc:
    """Image drift against a reference span of the server's log: the report's fields, and
    every window under ``items``."""
    params = {
        "reference_until": _time(reference_until),
        "reference_since": _time(reference_since),
        "window": window,
        "every_n": every_n,
        "since": _time(since),
        "until": _time(until),
        "version": version,
        "drift_share": drift_share,
    }
    return _paged_report(session, f"/monitoring/{_seg(deployment)}/images", params)


def ingest_labels(
    session: ApiSession, deployment: str, records: Sequence[Mapping[str, Any]]
) -> JsonDoc:
    """Store label records (``request_id``, ``label``, optional ``row``, ``label_time``,
    ``source``) on the server; its ingest report. One request, so all or nothing."""
    path = f"/deployments/{_seg(deployment)}/labels"
    result: JsonDoc = session.request(
        "POST", path, json={"labels": [dict(r) for r in records]}, idempotent=False
    ).json()
    return result
