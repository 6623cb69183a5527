"""``slipway monitor …`` and ``slipway labels …``: drift, performance, SLO exports, labels."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from slipway.cli.context import TrackingUri, open_workspace
from slipway.cli.output import console

app = typer.Typer(help="Monitoring: drift, performance, SLO exports.", no_args_is_help=True)
labels_app = typer.Typer(
    help="Ground truth that arrives after the predictions.", no_args_is_help=True
)

Deployment = Annotated[str, typer.Argument(help="Deployment name (as in the prediction log).")]


@app.command("export")
def export(
    deployments: Annotated[list[str], typer.Argument(help="Deployments to watch.")],
    rules_path: Annotated[
        Path | None,
        typer.Option("--prometheus-rules", help="Write a Prometheus alerting rules file here."),
    ] = None,
    grafana: Annotated[Path | None, typer.Option(help="Write a Grafana dashboard here.")] = None,
    max_error_rate: Annotated[float, typer.Option(min=0, max=1)] = 0.01,
    max_p99_latency_ms: Annotated[float, typer.Option(min=0)] = 250.0,
    model: Annotated[
        str | None, typer.Option(help="Registered model the servers report, if not the name.")
    ] = None,
) -> None:
    """Render the SLO alert rules (Prometheus) and the serving dashboard (Grafana)."""
    from slipway.core.errors import InvalidInput
    from slipway.monitoring.observability import (
        SloTarget,
        SloThresholds,
        prometheus_rules,
        render_grafana_dashboard,
    )

    if rules_path is None and grafana is None:
        raise InvalidInput("nothing to write: give --prometheus-rules and/or --grafana")
    thresholds = SloThresholds(max_error_rate=max_error_rate, max_p99_latency_ms=max_p99_latency_ms)
    targets = [SloTarget(d, model=model, thresholds=thresholds) for d in deployments]
    if rules_path is not None:
        text = prometheus_rules(targets)
        rules_path.write_text(text)
        console.print(f"wrote {rules_path} ({text.count('alert:')} rules)")
    if grafana is not None:
        grafana.write_text(render_grafana_dashboard())
        console.print(f"wrote {grafana}")


def _roots() -> tuple[Path, Path]:
    from slipway.core.settings import Settings

    home = Settings().home.resolve()
    return home / "logs", home / "labels"


@labels_app.command("ingest")
def ingest(
    deployment: Deployment,
    path: Annotated[
        Path, typer.Argument(help="Parquet, CSV or JSON Lines: request_id, label[, row].")
    ],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Store ground truth for earlier predictions, keyed by request id (latest label wins)."""
    from slipway.cli.output import print_fields, print_json
    from slipway.monitoring.labels import ingest_labels

    log_root, labels_root = _roots()
    report = ingest_labels(labels_root, deployment, path, log_root=log_root, source=str(path))
    if json_out:
        print_json(report.as_dict())
        return
    doc = report.as_dict()
    print_fields(
        f"labels for {deployment}",
        [(k, v) for k, v in doc.items() if k != "unknown_request_ids"],
    )
    if report.unknown:
        shown = ", ".join(report.unknown_request_ids[:10])
        console.print(
            f"[yellow]{report.unknown} labels name request ids not in the prediction log[/yellow]"
            f" (stored and flagged; they join if the predictions appear): {shown}"
        )


@app.command("performance")
def performance(
    deployment: Deployment,
    window: Annotated[str, typer.Option(help="Tumbling window, e.g. 1h or 1d.")] = "1h",
    every_n: Annotated[int | None, typer.Option(min=1, help="Windows of N predictions.")] = None,
    version: Annotated[int | None, typer.Option(min=1)] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Realised performance where labels joined, estimated (CBPE) where they have not yet."""
    from slipway.cli.output import print_json, print_table
    from slipway.monitoring.performance import compute_performance

    log_root, labels_root = _roots()
    report = compute_performance(
        log_root, labels_root, deployment, window=window, every_n=every_n, version=version
    )
    if json_out:
        print_json(report)
        return
    names = sorted({k for w in report.windows for k in w.metrics})
    print_table(
        f"performance of {deployment} ({report.task})",
        ["window start (UTC)", "version", "predictions", "coverage"]
        + names
        + [f"est. {n}" for n in names],
        (
            (
                w.window_start.strftime("%Y-%m-%d %H:%M"),
                w.version,
                w.predictions,
                f"{w.coverage:.0%}",
                *(_fmt(w.metrics.get(n)) for n in names),
                *(_fmt(w.estimated.get(n)) for n in names),
            )
            for w in report.windows
        ),
    )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@app.command("drift")
def drift(
    deployment: Deployment,
    window: Annotated[str, typer.Option(help="Tumbling window, e.g. 15m, 1h, 1d.")] = "1h",
    every_n: Annotated[int | None, typer.Option(min=1, help="Windows of N predictions.")] = None,
    version: Annotated[int | None, typer.Option(min=1)] = None,
    drift_share: Annotated[
        float, typer.Option(min=0, max=1, help="Share of drifted features that is dataset drift.")
    ] = 0.5,
    tracking_uri: TrackingUri = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Data and prediction drift per window, against each version's stored reference profile."""
    from slipway.cli.output import print_json, print_table
    from slipway.monitoring.drift import DriftOptions
    from slipway.monitoring.monitor import drift_over_time

    results = drift_over_time(
        open_workspace(tracking_uri),
        deployment,
        window=window,
        every_n=every_n,
        version=version,
        options=DriftOptions(drift_share=drift_share),
    )
    if json_out:
        print_json([{**_window_doc(r)} for r in results])
        return
    print_table(
        f"drift of {deployment}",
        [
            "window start (UTC)",
            "version",
            "rows",
            "drifted share",
            "dataset drift",
            "drifted features",
            "prediction",
        ],
        (
            (
                r.start.strftime("%Y-%m-%d %H:%M"),
                r.version,
                r.rows,
                f"{r.features.share_drifted:.0%}",
                "DRIFT" if r.features.drifted else "ok",
                ", ".join(c.column for c in r.features.columns if c.drifted) or "-",
                "-"
                if r.prediction is None
                else f"{r.prediction.method} {r.prediction.score:.3g}"
                + (" DRIFT" if r.prediction.drifted else ""),
            )
            for r in results
        ),
    )


def _window_doc(result: object) -> dict[str, object]:
    from slipway.monitoring.monitor import WindowDrift

    assert isinstance(result, WindowDrift)
    return {
        "start": result.start.isoformat(),
        "end": result.end.isoformat(),
        "version": result.version,
        "rows": result.rows,
        "features": result.features.model_dump(mode="json"),
        "prediction": None
        if result.prediction is None
        else result.prediction.model_dump(mode="json"),
    }


@app.command("report")
def report(
    deployment: Deployment,
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.")] = Path(
        "report.html"
    ),
    window: Annotated[str, typer.Option(help="Tumbling window, e.g. 1h or 1d.")] = "1h",
    tracking_uri: TrackingUri = None,
) -> None:
    """A self-contained HTML report: distributions, drift and performance over time, alerts."""
    from slipway.monitoring.report import write_report

    workspace = open_workspace(tracking_uri)
    state = workspace.settings.home / "alerts" / "state.json"
    path = write_report(
        workspace,
        deployment,
        output=output,
        window=window,
        alerts_state=state if state.exists() else None,
    )
    console.print(f"wrote {path} (opens offline in any browser)")
