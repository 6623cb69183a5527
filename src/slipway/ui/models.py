"""Registered models and versions: signature, lineage graph, gate report, alias history, and
each version's time in production (from the GitOps history)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from slipway.core.entities import AliasChange, ModelVersion
from slipway.core.errors import SlipwayError
from slipway.gitops.history import Interval, history, version_timeline
from slipway.registry import RegistryClient
from slipway.ui.errors import DashboardRoute
from slipway.ui.lineage import NODE_H, NODE_W, lineage_graph
from slipway.ui.session import Viewer, context
from slipway.ui.templating import render

router = APIRouter(include_in_schema=False, route_class=DashboardRoute)
TAG_GATE_REPORT = "slipway.gate_report"
"""The version tag holding the gate report's blob digest (``pipelines.gates.step``)."""


@router.get("/models")
def models(request: Request, principal: Viewer) -> Response:
    found = context(request).workspace.store.models.list_models()
    return render(request, "models.html", principal, models=found)


@router.get("/models/{name}")
def model(request: Request, principal: Viewer, name: str) -> Response:
    store = context(request).workspace.store
    registered = store.models.get_model(name)
    versions = store.models.search_versions(name)
    return render(
        request,
        "model.html",
        principal,
        model=registered,
        versions=versions,
        alias_history=_alias_history(request, name, list(registered.aliases)),
    )


@router.get("/models/{name}/versions/{version}")
def model_version(request: Request, principal: Viewer, name: str, version: int) -> Response:
    ctx = context(request)
    lineage = RegistryClient(ctx.workspace).get_lineage(name, version)
    mv = lineage.version
    registered = ctx.workspace.store.models.get_model(name)
    report, report_error = _gate_report(request, mv)
    production, production_error = _production(request, mv)
    return render(
        request,
        "version.html",
        principal,
        version=mv,
        lineage=lineage,
        graph=lineage_graph(lineage),
        node_w=NODE_W,
        node_h=NODE_H,
        gate=report,
        gate_error=report_error,
        alias_history=[
            change
            for change in _alias_history(request, name, _aliases_seen(request, name, registered))
            if version in (change.from_version, change.to_version)
        ],
        production=production,
        production_error=production_error,
    )


def _aliases_seen(request: Request, name: str, registered: Any) -> list[str]:
    """Current aliases and every alias that ever moved (a deleted alias keeps its history)."""
    events = context(request).workspace.store.audit.search(
        entity_type="alias", key_prefix=f"{name}@"
    )
    seen = [e.entity_key.split("@", 1)[1] for e in events]
    return list(dict.fromkeys([*registered.aliases, *seen]))


def _alias_history(request: Request, name: str, aliases: list[str]) -> list[AliasChange]:
    audit = context(request).workspace.store.audit
    changes = [c for alias in aliases for c in audit.alias_history(name, alias)]
    return sorted(changes, key=lambda c: c.time, reverse=True)


def _gate_report(request: Request, mv: ModelVersion) -> tuple[dict[str, Any] | None, str | None]:
    digest = mv.tags.get(TAG_GATE_REPORT)
    if not digest:
        return None, None
    try:
        doc = json.loads(context(request).workspace.artifacts.get_bytes(digest))
    except (SlipwayError, OSError, ValueError) as exc:
        return None, f"the gate report {digest[:12]} cannot be read: {exc}"
    if not isinstance(doc, dict):
        return None, f"the gate report {digest[:12]} is not a JSON object"
    return doc, None


def _production(request: Request, mv: ModelVersion) -> tuple[list[Interval], str | None]:
    try:
        entries = history(context(request).gitops())
    except SlipwayError as exc:
        return [], f"the GitOps history cannot be read: {exc}"
    return [i for i in version_timeline(entries, mv.name) if i.version == mv.version], None
