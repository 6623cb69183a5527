"""``slipway models``: registered models, versions, aliases, lineage, history."""

from __future__ import annotations

from typing import Annotated

import typer

from slipway.cli.context import Json, TrackingUri, open_workspace
from slipway.cli.output import console, print_fields, print_json, print_table, when
from slipway.registry import RegistryClient

app = typer.Typer(help="Model registry: models, versions, aliases, lineage.", no_args_is_help=True)
alias_app = typer.Typer(help="Move or remove aliases such as champion.", no_args_is_help=True)
app.add_typer(alias_app, name="alias")
import_app = typer.Typer(
    help="Register pre-trained models from installed packages.", no_args_is_help=True
)
app.add_typer(import_app, name="import")

Name = Annotated[str, typer.Argument(help="Registered model name.")]
Version = Annotated[str, typer.Argument(help="Version number.")]


def _client(tracking_uri: str | None) -> RegistryClient:
    return RegistryClient(open_workspace(tracking_uri))


@app.command("list")
def list_models(tracking_uri: TrackingUri = None, json_out: Json = False) -> None:
    """List registered models with their latest version and aliases."""
    models = _client(tracking_uri).search_registered_models()
    if json_out:
        print_json(models)
        return
    print_table(
        "Registered models",
        ["name", "latest", "aliases", "updated"],
        [
            (
                m.name,
                m.latest_version,
                ", ".join(f"{a}→{v}" for a, v in sorted(m.aliases.items())),
                when(m.updated_at),
            )
            for m in models
        ],
    )


@app.command("show")
def show(name: Name, tracking_uri: TrackingUri = None, json_out: Json = False) -> None:
    """Show a registered model and its versions."""
    client = _client(tracking_uri)
    model = client.get_registered_model(name)
    versions = client.search_model_versions(name)
    if json_out:
        print_json({"model": model, "versions": versions})
        return
    print_fields(
        f"Model {model.name}",
        [
            ("description", model.description),
            ("created", when(model.created_at)),
            ("aliases", ", ".join(f"{a}→{v}" for a, v in sorted(model.aliases.items()))),
            ("tags", model.tags or None),
        ],
    )
    print_table(
        "Versions",
        ["version", "flavor", "aliases", "run", "created", "by"],
        [
            (v.version, v.flavor, ", ".join(v.aliases), v.run_id, when(v.created_at), v.created_by)
            for v in versions
        ],
    )


@app.command("version")
def show_version(
    name: Name, version: Version, tracking_uri: TrackingUri = None, json_out: Json = False
) -> None:
    """Show one model version."""
    mv = _client(tracking_uri).get_model_version(name, version)
    if json_out:
        print_json(mv)
        return
    print_fields(
        f"{mv.name} version {mv.version}",
        [
            ("flavor", mv.flavor),
            ("aliases", ", ".join(mv.aliases)),
            ("source", mv.source),
            ("manifest sha256", mv.manifest_digest),
            ("signature", mv.signature),
            ("description", mv.description),
            ("tags", mv.tags or None),
        ],
    )


@alias_app.command("set")
def alias_set(
    name: Name,
    alias: Annotated[str, typer.Argument(help="Alias, e.g. champion.")],
    version: Version,
    tracking_uri: TrackingUri = None,
    json_out: Json = False,
) -> None:
    """Point ALIAS at VERSION (moving it from its previous holder)."""
    result = _client(tracking_uri).set_alias(name, alias, version)
    if json_out:
        print_json(result)
    else:
        console.print(f"{name}@{alias} -> version {result.version}")


@alias_app.command("delete")
def alias_delete(
    name: Name,
    alias: Annotated[str, typer.Argument(help="Alias to remove.")],
    tracking_uri: TrackingUri = None,
    json_out: Json = False,
) -> None:
    """Remove ALIAS from the model."""
    _client(tracking_uri).delete_alias(name, alias)
    if json_out:
        print_json({"name": name, "alias": alias, "deleted": True})
    else:
        console.print(f"{name}@{alias} deleted")


@alias_app.command("history")
def alias_history(
    name: Name,
    alias: Annotated[str, typer.Argument(help="Alias.")],
    tracking_uri: TrackingUri = None,
    json_out: Json = False,
) -> None:
    """Every move of ALIAS, oldest first."""
    changes = _client(tracking_uri).get_alias_history(name, alias)
    if json_out:
        print_json(changes)
        return
    print_table(
        f"{name}@{alias}",
        ["time", "from", "to", "by"],
        [(when(c.time), c.from_version, c.to_version, c.actor) for c in changes],
    )


@app.command("lineage")
def lineage(
    name: Name, version: Version, tracking_uri: TrackingUri = None, json_out: Json = False
) -> None:
    """What produced VERSION: run, datasets, code version, parent version, history."""
    result = _client(tracking_uri).get_lineage(name, version)
    if json_out:
        print_json(result)
        return
    mv, run = result.version, result.run
    code = mv.code_version or "-"
    if mv.code_dirty:
        code += " (uncommitted changes)"
    print_fields(
        f"Lineage of {mv.name} version {mv.version}",
        [
            ("source", mv.source),
            (
                "run",
                f"{run.info.run_id} ({run.info.run_name}, {run.info.status.value})"
                if run
                else mv.run_id,
            ),
            ("code version", code),
            ("parent version", mv.parent_version),
            ("flavor", mv.flavor),
            ("manifest sha256", mv.manifest_digest),
        ],
    )
    print_table(
        "Datasets",
        ["name", "rows", "sha256", "source"],
        [(d.name, d.num_rows, d.digest, d.source) for d in result.datasets],
    )
    if run:
        print_table("Params", ["key", "value"], sorted(run.data.params.items()))
        print_table("Metrics", ["key", "value"], sorted(run.data.metrics.items()))
    print_table(
        "History",
        ["time", "action", "by"],
        [(when(e.time), e.action, e.actor) for e in result.history],
    )


@app.command("audit")
def audit(name: Name, tracking_uri: TrackingUri = None, json_out: Json = False) -> None:
    """Every recorded change to the model, its versions and aliases, oldest first."""
    client = _client(tracking_uri)
    client.get_registered_model(name)
    events = client.audit_events(entity_type="model", entity_key=name)
    events += client.audit_events(entity_type="model_version", key_prefix=f"{name}/")
    events += client.audit_events(entity_type="alias", key_prefix=f"{name}@")
    events.sort(key=lambda e: e.event_id)
    if json_out:
        print_json(events)
        return
    print_table(
        f"Audit log of {name}",
        ["time", "actor", "action", "entity", "before", "after"],
        [(when(e.time), e.actor, e.action, e.entity_key, e.before, e.after) for e in events],
    )


@app.command("timeline")
def timeline(
    name: Name,
    env: Annotated[str | None, typer.Option("--env", "-e", help="Only this environment.")] = None,
    repo: Annotated[
        str | None,
        typer.Option(envvar="SLIPWAY_GITOPS_REPO", help="GitOps repository (path or URL)."),
    ] = None,
    branch: Annotated[str, typer.Option(envvar="SLIPWAY_GITOPS_BRANCH")] = "main",
    tracking_uri: TrackingUri = None,
    json_out: Json = False,
) -> None:
    """Each version's time in production, read from the GitOps history (git log); in remote
    mode, from the server's."""
    from slipway.cli.gitops import open_repo, remote_session
    from slipway.gitops.history import Interval, history, version_timeline

    session = remote_session(
        open_workspace(tracking_uri), repo=repo, branch=None if branch == "main" else branch
    )
    if session is not None:
        from slipway.store import remote_ops

        intervals = [Interval(**d) for d in remote_ops.timeline(session, name, environment=env)]
    else:
        git, _ = open_repo(repo, branch)
        intervals = version_timeline(history(git, environment=env, max_count=1000), name)
    if json_out:
        print_json(intervals)
        return
    print_table(
        f"production timeline of {name}",
        ["version", "deployment", "environment", "from (UTC)", "until (UTC)", "commit", "why"],
        (
            (
                i.version,
                i.deployment,
                i.environment,
                when(i.start * 1000),
                "serving" if i.end is None else when(i.end * 1000),
                i.sha[:12],
                i.reason,
            )
            for i in intervals
        ),
    )


@import_app.command("mediapipe-detector")
def import_mediapipe(
    name: Annotated[str, typer.Option("--name", help="Registered model name.")] = "detector",
    models: Annotated[
        str,
        typer.Option(
            "--models",
            help="Comma-separated detectors: face-short, face-full, palm, palm-lite, pose.",
        ),
    ] = "face-short,palm,pose",
    tracking_uri: TrackingUri = None,
    json_out: Json = False,
) -> None:
    """Register MediaPipe's pre-trained face/hand/person detectors as one detector version.

    Needs the weights: pip install --no-deps mediapipe==0.10.21 (its code is never imported).
    """
    from slipway.registry.importers import import_mediapipe_detector

    keys = [k.strip() for k in models.split(",") if k.strip()]
    mv = import_mediapipe_detector(name, models=keys, workspace=open_workspace(tracking_uri))
    if json_out:
        print_json(mv)
        return
    console.print(
        f"registered {mv.name} version {mv.version} ({mv.flavor}, {mv.tags.get('slipway.labels')})"
        f" from {mv.source}"
    )
