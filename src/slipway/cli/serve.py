"""``slipway serve``: an inference server for a registered model version."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import typer

from slipway.serving.settings import Mode, ServeSettings, check_weight


def serve(
    model_uri: Annotated[str, typer.Argument(help="models:/<name>@<alias> or models:/<name>/<v>.")],
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port.")] = None,
    workers: Annotated[int | None, typer.Option(min=1, max=64, help="Processes.")] = None,
    challenger: Annotated[
        str | None, typer.Option(help="A second version to load beside the champion.")
    ] = None,
    weight: Annotated[float, typer.Option(help="Share of traffic for the challenger (0-1).")] = 0.0,
    mode: Annotated[Mode, typer.Option(help="canary: answers; shadow: logged only.")] = Mode.CANARY,
    max_batch_size: Annotated[int | None, typer.Option(min=1, help="Rows per predict.")] = None,
    max_latency_ms: Annotated[
        float | None, typer.Option(min=0, help="Longest wait to grow a batch.")
    ] = None,
) -> None:
    """Serve a model over the Open Inference Protocol v2 and plain JSON.

    Other settings come from SLIPWAY_SERVE_* variables (see docs/serving.md), e.g.
    SLIPWAY_SERVE_ADMIN_TOKEN enables the /admin endpoints.
    """
    from slipway.monitoring.labels import feedback_sink  # POST /v2/feedback stores labels
    from slipway.serving.server import run_server  # uvicorn and the models load only here

    overrides: dict[str, Any] = {
        "host": host,
        "port": port,
        "workers": workers,
        "max_batch_size": max_batch_size,
        "max_latency_ms": max_latency_ms,
    }
    settings = ServeSettings(**{k: v for k, v in overrides.items() if v is not None})
    check_weight(weight)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    run_server(
        model_uri,
        settings,
        challenger_uri=challenger,
        challenger_weight=weight,
        mode=mode,
        feedback=feedback_sink,
    )
