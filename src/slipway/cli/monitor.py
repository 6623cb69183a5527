"""``slipway monitor …`` and ``slipway labels …``: drift, performance, SLO exports, labels."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from slipway.cli.context import TrackingUri, open_workspace
from slipway.cli.output import console

if TYPE_CHECKING:
    from slipway.core.http import ApiSession
    from slipway.monitoring.performance import PerformanceReport

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


def _remote(tracking_uri: str | None) -> ApiSession | None:
    """The API session in remote mode (the server's prediction log and labels); None when
    local."""
    workspace = open_workspace(tracking_uri)
    if not workspace.is_remote:
        return None
    from slipway.store.remote_ops import api_session

    return api_session(workspace.store)


LABELS_PER_REQUEST = 100_000
"""Label records sent in one request (the server's limit); a bigger file takes several."""


def _ingest_remote(session: ApiSession, deployment: str, path: Path) -> dict[str, Any]:
    """Read the label file here, send its records to the server, and answer one report (the
    sum of the requests' reports when the file takes several)."""
    import json

    from slipway.core.errors import InvalidInput
    from slipway.monitoring.labels import MAX_LISTED, _read_file
    from slipway.store.remote_ops import ingest_labels

    fields = ("request_id", "row", "label", "label_time", "source")
    frame = _read_file(path)
    for name in ("request_id", "label"):
        if name not in frame.columns:
            raise InvalidInput(f"column {name!r} is required (columns: {list(frame.columns)})")
    if frame.empty:
        raise InvalidInput("no labels given")
    ignored = sorted(str(c) for c in frame.columns if c not in fields)
    frame = frame[[c for c in frame.columns if c in fields]].copy()
    if "source" not in frame.columns:
        frame["source"] = str(path)
    total: dict[str, Any] | None = None
    for start in range(0, len(frame), LABELS_PER_REQUEST):
        chunk = frame.iloc[start : start + LABELS_PER_REQUEST]
        records = json.loads(
            chunk.to_json(orient="records", date_format="iso", double_precision=15)
        )
        report = ingest_labels(session, deployment, records)
        if total is None:
            total = report
            continue
        for key in ("received", "stored", "unchanged", "duplicates", "out_of_order", "unknown"):
            total[key] += report[key]
        ids = sorted({*total["unknown_request_ids"], *report["unknown_request_ids"]})
        total["unknown_request_ids"] = ids[:MAX_LISTED]
        total["path"] = report["path"] or total["path"]
    assert total is not None
    total["ignored_columns"] = ignored
    return total


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
    tracking_uri: TrackingUri = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Store ground truth for earlier predictions, keyed by request id (latest label wins).

    In remote mode the file is read here and its labels stored on the server."""
    from slipway.cli.output import print_fields, print_json
    from slipway.monitoring.labels import IngestReport, ingest_labels

    session = _remote(tracking_uri)
    if session is not None:
        report = IngestReport(**_ingest_remote(session, deployment, path))
    else:
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
    tracking_uri: TrackingUri = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Realised performance where labels joined, estimated (CBPE) where they have not yet."""
    from slipway.cli.output import print_json, print_table
    from slipway.monitoring.performance import compute_performance

    session = _remote(tracking_uri)
    if session is not None:
        from slipway.store.remote_ops import performance as remote_performance

        report = _performance_report(
            remote_performance(session, deployment, window=window, every_n=every_n, version=version)
        )
    else:
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


def _performance_report(doc: dict[str, Any]) -> PerformanceReport:
    """The server's performance answer as the report ``compute_performance`` returns."""
    from slipway.monitoring.performance import PerformanceReport, WindowPerformance

    windows = [
        WindowPerformance(
            window_start=datetime.fromisoformat(w["window_start"]),
            window_end=datetime.fromisoformat(w["window_end"]),
            version=w["version"],
            predictions=w["predictions"],
            labelled=w["labelled"],
            coverage=w["coverage"],
            metrics=w["metrics"],
            estimated=w["estimated"],
            reasons=w["reasons"],
        )
        for w in doc["items"]
    ]
    return PerformanceReport(
        deployment=doc["deployment"],
        task=doc["task"],
        prediction=doc["prediction"],
        score=doc["score"],
        positive_class=doc["positive_class"],
        classes=doc["classes"],
        calibration=doc["calibration"],
        reference_calibration_error=doc["reference_calibration_error"],
        windows=windows,
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

    workspace = open_workspace(tracking_uri)
    # In remote mode the server computes it over its own prediction log.
    results = drift_over_time(
        workspace,
        deployment,
        window=window,
        every_n=every_n,
        version=version,
        options=DriftOptions(drift_share=drift_share),
    )
    if workspace.is_remote and not results and not json_out:
        console.print(
            f"no predictions of {deployment!r} in the server's prediction log "
            "(nothing to compare yet)"
        )
        return
    if json_out:
        print_json([r.as_dict() for r in results])
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


@app.command("report")
def report(
    deployment: Deployment,
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.")] = Path(
        "report.html"
    ),
    window: Annotated[str, typer.Option(help="Tumbling window, e.g. 1h or 1d.")] = "1h",
    tracking_uri: TrackingUri = None,
) -> None:
    """A self-contained HTML report: distributions, drift and performance over time, alerts.

    In remote mode the server builds it (its prediction log, labels and alert state)."""
    from slipway.monitoring.report import write_report

    workspace = open_workspace(tracking_uri)
    state = workspace.settings.home / "alerts" / "state.json"
    local_state = not workspace.is_remote and state.exists()
    path = write_report(
        workspace,
        deployment,
        output=output,
        window=window,
        alerts_state=state if local_state else None,
    )
    console.print(f"wrote {path} (opens offline in any browser)")


def _moment(text: str | None, name: str) -> datetime | None:
    """ISO 8601 (UTC when no offset is given) or a span ago (``2h``: two hours ago)."""
    from datetime import UTC

    from slipway.core.errors import InvalidInput
    from slipway.monitoring.windows import parse_span

    if text is None:
        return None
    if text.strip()[-1:] in ("s", "m", "h", "d") and text.strip()[:-1].isdigit():
        return datetime.now(UTC) - parse_span(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{name} {text!r} is neither an ISO 8601 time nor a span ago (e.g. 2h)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@app.command("images")
def images(
    deployment: Deployment,
    reference_until: Annotated[
        str,
        typer.Option(
            help="End of the reference span of the log: ISO 8601 time or a span ago (e.g. 1d)."
        ),
    ],
    reference_since: Annotated[
        str | None,
        typer.Option(help="Start of the reference span (default: the start of the log)."),
    ] = None,
    window: Annotated[str, typer.Option(help="Tumbling window, e.g. 15m, 1h, 1d.")] = "1h",
    every_n: Annotated[int | None, typer.Option(min=1, help="Windows of N images.")] = None,
    version: Annotated[int | None, typer.Option(min=1)] = None,
    drift_share: Annotated[
        float, typer.Option(min=0, max=1, help="Share of drifted properties that is drift.")
    ] = 0.5,
    log_dir: Annotated[
        Path | None,
        typer.Option(help="Prediction log root (default: <SLIPWAY_HOME>/logs; local mode only)."),
    ] = None,
    tracking_uri: TrackingUri = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Drift of a detector's images (brightness, contrast, size, aspect) and detections
    (per image, scores, labels), each window against a reference span of the same log.

    In remote mode the server compares over its own prediction log."""
    from slipway.cli.output import print_json, print_table
    from slipway.core.errors import InvalidInput
    from slipway.core.settings import is_remote_uri
    from slipway.monitoring.drift import DriftOptions
    from slipway.monitoring.images import (
        SUMMARY_COLUMNS,
        ImageDriftReport,
        image_drift_over_time,
    )

    until = _moment(reference_until, "--reference-until")
    assert until is not None
    since = _moment(reference_since, "--reference-since")
    if is_remote_uri(tracking_uri or ""):
        workspace = open_workspace(tracking_uri)
        if log_dir is not None:
            raise InvalidInput(
                f"--log-dir works only with a local prediction log; in remote mode "
                f"({workspace.tracking_uri}) the server reads its own: leave --log-dir unset"
            )
        from slipway.store.remote_ops import api_session
        from slipway.store.remote_ops import images as remote_images

        session = api_session(workspace.store)
        assert session is not None
        report = ImageDriftReport.from_dict(
            remote_images(
                session,
                deployment,
                reference_until=until,
                reference_since=since,
                window=window,
                every_n=every_n,
                version=version,
                drift_share=drift_share,
            )
        )
    else:
        report = image_drift_over_time(
            log_dir or _roots()[0],
            deployment,
            reference_since=since,
            reference_until=until,
            window=window,
            every_n=every_n,
            version=version,
            options=DriftOptions(drift_share=drift_share),
        )
    if json_out:
        print_json(report.as_dict())
        return
    console.print(
        f"reference: {report.reference_images} images, {report.reference_detections} "
        f"detections, until {until:%Y-%m-%d %H:%M:%S} UTC"
    )
    print_table(
        f"image drift of {deployment}",
        ["window start (UTC)", "version", "images", "drift", "drifted properties"]
        + [f"{c} (ref → cur)" for c in SUMMARY_COLUMNS],
        (
            (
                w.start.strftime("%Y-%m-%d %H:%M"),
                w.version,
                w.images,
                "DRIFT" if w.drift.drifted else "ok",
                ", ".join(w.drift.drifted_columns) or "-",
                *(
                    f"{w.drift.reference_means[c]:.3g} → {w.drift.current_means[c]:.3g}"
                    for c in SUMMARY_COLUMNS
                ),
            )
            for w in report.windows
        ),
    )
