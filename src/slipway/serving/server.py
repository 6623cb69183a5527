"""Running an inference server: load versions from the registry, serve them with uvicorn.

``slipway serve models:/name@champion`` builds an :class:`InferenceServer`. The port opens at
once (liveness answers) while the champion loads and warms up in the background; readiness
turns true only after. SIGTERM stops accepting connections, lets in-flight requests finish
(uvicorn), then the lifespan drains the batchers and flushes the prediction log.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import signal
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import uvicorn
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import Multiprocess

from slipway.core.errors import InvalidInput
from slipway.flavors import LoadedModel, load_model
from slipway.flavors.detection.limits import ImageLimits
from slipway.registry import RegistryClient
from slipway.serving.app import FeedbackSink, InferenceApp
from slipway.serving.dataplane import DataPlane
from slipway.serving.metrics import ServerMetrics
from slipway.serving.pool import ServedModel, load_served_model
from slipway.serving.predlog import PredictionLog
from slipway.serving.routing import Router
from slipway.serving.settings import Mode, ServeSettings
from slipway.workspace import Workspace

logger = logging.getLogger("slipway.serving")


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    """Sets TCP_NODELAY on every connection.

    Without it, small responses wait for the client's delayed ACK (~40 ms a request) in
    set-ups where the listening socket is shared between worker processes.
    """

    def connection_made(self, transport: Any) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


class InferenceServer:
    """One deployment: a champion, optionally a challenger, behind one ASGI app."""

    def __init__(
        self,
        model_uri: str,
        *,
        settings: ServeSettings | None = None,
        workspace: Workspace | None = None,
        challenger_uri: str | None = None,
        challenger_weight: float = 0.0,
        mode: Mode = Mode.CANARY,
        feedback: Callable[[Path, Path], FeedbackSink] | None = None,
    ) -> None:
        """``feedback(home, log_root)`` makes the sink of ``POST /v2/feedback`` (the layer
        above passes ``slipway.monitoring.labels.feedback_sink``); None disables it."""
        self.model_uri = model_uri
        self.settings = settings or ServeSettings()
        self.workspace = workspace or Workspace()
        self.challenger_uri = challenger_uri
        self.challenger_weight = challenger_weight
        self.mode = mode
        self.metrics = ServerMetrics()
        self.prediction_log: PredictionLog | None = None
        self.load_error: BaseException | None = None
        token = self.settings.admin_token
        home = self.workspace.settings.home
        self.log_root = Path(self.settings.log_dir or (home / "logs"))
        self.inference = InferenceApp(
            max_body_bytes=self.settings.max_body_bytes,
            admin_token=None if token is None else token.get_secret_value(),
            load_version=self.load_version,
            drain_timeout_s=self.settings.drain_timeout_s,
            on_feedback=None if feedback is None else feedback(home, self.log_root),
        )
        self._startup: asyncio.Task[None] | None = None
        self.on_fatal: Callable[[], None] | None = None
        """Called when the champion cannot be loaded (the CLI stops the server)."""
        self.load_before_accept = False
        """Load the champion before taking connections. Set for worker processes sharing a
        port: one answering "ready" must not mean another, still loading, gets requests."""

    def _load_blocking(self, uri: str) -> tuple[LoadedModel, str, int, str]:
        client = RegistryClient(self.workspace)
        digest, version = client.resolve(uri)
        if version is None:
            raise InvalidInput(f"serve a registry URI (models:/name@alias or /version), not {uri}")
        model = load_model(self.workspace.artifacts, digest)
        return model, version.name, version.version, f"models:/{version.name}/{version.version}"

    async def load_version(self, uri: str) -> ServedModel:
        """Load, verify, warm up and mark ready one version (not routed to yet)."""
        served = await load_served_model(
            lambda: self._load_blocking(uri),
            max_batch_size=self.settings.max_batch_size,
            max_latency_ms=self.settings.max_latency_ms,
            metrics=self.metrics,
            image_limits=ImageLimits(
                max_bytes=self.settings.max_image_bytes,
                max_pixels=self.settings.max_image_pixels,
            ),
            log_images=self.settings.log_images,
        )
        logger.info("loaded %s in %.2fs", served.uri, served.load_seconds)
        return served

    async def _start(self) -> None:
        try:
            champion = await self.load_version(self.model_uri)
            router = Router(champion)
            deployment = self.settings.deployment or champion.name
            plane = DataPlane(
                deployment=deployment,
                router=router,
                metrics=self.metrics,
                prediction_log=self.prediction_log,
            )
            plane.attach(champion)
            if self.challenger_uri is not None:
                challenger = await self.load_version(self.challenger_uri)
                plane.attach(challenger)
                router.set_challenger(challenger, self.challenger_weight, self.mode)
            self.inference.plane_or_none = plane
            logger.info("ready: %s", router.table.describe())
        except Exception as exc:  # noqa: BLE001 - reported; the server stops or stays not-ready
            self.load_error = exc
            logger.error("could not load %s: %s", self.model_uri, exc)
            if self.on_fatal is not None:
                self.on_fatal()

    @asynccontextmanager
    async def lifespan(self, _: Starlette) -> AsyncIterator[None]:
        if self.settings.log_predictions:
            self.prediction_log = PredictionLog(
                self.log_root,
                max_queue=self.settings.log_queue_size,
                on_written=self.metrics.log_written.inc,
            )
            self.prediction_log.start()
        if self.load_before_accept:
            await self._start()
            if self.load_error is not None:
                raise self.load_error
        else:
            self._startup = asyncio.get_running_loop().create_task(self._start())
        try:
            yield
        finally:
            await self._shutdown()

    async def _shutdown(self) -> None:
        if self._startup is not None and not self._startup.done():
            self._startup.cancel()
        plane = self.inference.plane_or_none
        if plane is not None:
            plane.accepting = False
            await plane.wait_background(self.settings.drain_timeout_s)
            for served in plane.router.served():
                await served.drain(self.settings.drain_timeout_s)
                await served.batcher.close()
                served.model.close()
        if self.prediction_log is not None:
            await asyncio.to_thread(self.prediction_log.close, self.settings.drain_timeout_s)
        self.workspace.close()

    def app(self) -> ASGIApp:
        return self.inference.asgi(self.inference.build(lifespan=self.lifespan))


def uvicorn_config(app: Any, settings: ServeSettings, **kwargs: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=NoDelayHttpToolsProtocol,
        loop="uvloop",
        lifespan="on",
        access_log=False,
        timeout_graceful_shutdown=int(settings.drain_timeout_s) or None,
        **kwargs,
    )


_ENV_URI = "SLIPWAY_SERVE_MODEL_URI"
_ENV_CHALLENGER = "SLIPWAY_SERVE_CHALLENGER_URI"
_ENV_WEIGHT = "SLIPWAY_SERVE_CHALLENGER_WEIGHT"
_ENV_MODE = "SLIPWAY_SERVE_MODE"
_ENV_FEEDBACK = "SLIPWAY_SERVE_FEEDBACK_FACTORY"
"""``module:function`` making the feedback sink (a function above this layer, by name)."""


def app_from_env() -> ASGIApp:
    """App factory for worker processes (``--workers N``): configuration comes by environment."""
    factory = os.environ.get(_ENV_FEEDBACK)
    server = InferenceServer(
        os.environ[_ENV_URI],
        challenger_uri=os.environ.get(_ENV_CHALLENGER) or None,
        challenger_weight=float(os.environ.get(_ENV_WEIGHT, "0")),
        mode=Mode(os.environ.get(_ENV_MODE, Mode.CANARY.value)),
        feedback=_by_name(factory) if factory else None,
    )
    server.load_before_accept = True
    return server.app()


def _by_name(target: str) -> Callable[[Path, Path], FeedbackSink]:
    module, _, name = target.partition(":")
    found: Callable[[Path, Path], FeedbackSink] = getattr(importlib.import_module(module), name)
    return found


def _stopped(signum: int, _: object) -> None:
    logger.info("stopped by %s after a graceful shutdown", signal.Signals(signum).name)


def run_server(
    model_uri: str,
    settings: ServeSettings,
    *,
    challenger_uri: str | None = None,
    challenger_weight: float = 0.0,
    mode: Mode = Mode.CANARY,
    feedback: Callable[[Path, Path], FeedbackSink] | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT. Several workers share the port, each with its own models.

    ``feedback``: see :class:`InferenceServer`; worker processes import it by name, so it
    must be a module-level function."""
    if settings.workers == 1:
        server = InferenceServer(
            model_uri,
            settings=settings,
            challenger_uri=challenger_uri,
            challenger_weight=challenger_weight,
            mode=mode,
            feedback=feedback,
        )
        runner = uvicorn.Server(uvicorn_config(server.app(), settings))
        server.on_fatal = lambda: setattr(runner, "should_exit", True)
        # uvicorn re-raises the stop signal once it has shut down gracefully, after putting
        # back the handlers found at start: these let the process then exit 0, not -15.
        for stop in (signal.SIGTERM, signal.SIGINT):
            signal.signal(stop, _stopped)
        runner.run()
        if server.load_error is not None:
            raise server.load_error
        return
    if feedback is not None:
        os.environ[_ENV_FEEDBACK] = f"{feedback.__module__}:{feedback.__qualname__}"
    # Worker processes rebuild everything from the environment: hand them every setting,
    # CLI flags included.
    for key, value in settings.model_dump().items():
        if value is not None:
            secret = value.get_secret_value() if isinstance(value, SecretStr) else value
            os.environ[f"SLIPWAY_SERVE_{key.upper()}"] = str(secret)
    os.environ[_ENV_URI] = model_uri
    os.environ[_ENV_WEIGHT] = str(challenger_weight)
    os.environ[_ENV_MODE] = mode.value
    if challenger_uri:
        os.environ[_ENV_CHALLENGER] = challenger_uri
    config = uvicorn_config(
        "slipway.serving.server:app_from_env", settings, factory=True, workers=settings.workers
    )
    Multiprocess(config, sockets=[config.bind_socket()]).run()
