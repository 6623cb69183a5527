"""The inference server's ASGI app: Open Inference Protocol v2, plain JSON, metrics, admin.

Endpoints are thin: they read and parse the body, call the :class:`DataPlane`, and encode.
Domain errors become HTTP statuses in one place (:func:`_error_response`); no input reaches a
500, because anything the model itself raises is a ``ModelFailed`` (422).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from slipway import __version__
from slipway.core.errors import InvalidInput, NotFound, SlipwayError
from slipway.serving.dataplane import DataPlane
from slipway.serving.errors import (
    Forbidden,
    NotReady,
    PayloadTooLarge,
    Unauthorized,
    status_for,
)
from slipway.serving.images import encode_detections, from_json, from_multipart, from_oip
from slipway.serving.metrics import CONTENT_TYPE
from slipway.serving.page import detector_page
from slipway.serving.pool import ModelState, ServedModel
from slipway.serving.protocol import (
    encode_infer_response,
    encode_json_predictions,
    error_body,
    model_metadata,
    parse_infer_request,
    parse_json_records,
    to_model_input,
)
from slipway.serving.settings import Mode, check_weight

logger = logging.getLogger("slipway.serving")
JSON = "application/json"
ROUTE_KEY_HEADER = "x-slipway-route-key"

Endpoint = Callable[[Request], Awaitable[Response]]
HeaderGetter = Callable[[str], str | None]
Lifespan = Callable[[Starlette], Any]
FeedbackSink = Callable[[str, list[dict[str, Any]]], dict[str, Any]]
"""Stores label records for a deployment and describes what it did (blocking; run in a
thread). Injected by a higher layer (slipway.monitoring.labels.feedback_sink)."""


def _json(content: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type=JSON)


def _status_logged(exc: SlipwayError) -> int:
    status = status_for(exc)
    if status >= 500 and not isinstance(exc, NotReady):
        logger.error("request failed: %s", exc)
    return status


def _error_response(exc: SlipwayError) -> Response:
    status = _status_logged(exc)
    return Response(error_body(str(exc)), status_code=status, media_type=JSON)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing more than ``limit`` bytes whatever Content-Length claims."""
    return await _receive_body(request.receive, request.headers.get("content-length"), limit)


async def _receive_body(receive: Receive, declared: str | None, limit: int) -> bytes:
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body is {declared} bytes, the limit is {limit}")
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            raise InvalidInput("the client disconnected before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _version(request: Request) -> int | None:
    return _parse_version(request.path_params.get("version"))


def _parse_version(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidInput(f"invalid model version {raw!r}: expected a positive integer")
    return int(raw)


class InferenceApp:
    """Builds the Starlette app around one :class:`DataPlane`."""

    def __init__(
        self,
        *,
        max_body_bytes: int,
        admin_token: str | None,
        load_version: Callable[[str], Awaitable[ServedModel]],
        drain_timeout_s: float,
        on_feedback: FeedbackSink | None = None,
    ) -> None:
        self.plane_or_none: DataPlane | None = None
        """Set once the champion is loaded and warm; until then only liveness answers."""
        self.max_body_bytes = max_body_bytes
        self.admin_token = admin_token
        self.load_version = load_version
        self.drain_timeout_s = drain_timeout_s
        self.on_feedback = on_feedback
        """Where ``POST /v2/feedback`` sends labels; None disables it (403)."""

    def build(self, lifespan: Lifespan | None = None) -> Starlette:
        h = self._handle
        model = "/v2/models/{name}"
        version = "/v2/models/{name}/versions/{version}"
        routes = [  # the inference endpoints are served by the lane (see asgi)
            Route("/", h(self.index)),
            Route("/v2", h(self.server_metadata)),
            Route("/v2/health/live", h(self.live)),
            Route("/v2/health/ready", h(self.ready)),
            Route(model, h(self.model_metadata)),
            Route(version, h(self.model_metadata)),
            Route(f"{model}/ready", h(self.model_ready)),
            Route(f"{version}/ready", h(self.model_ready)),
            Route("/metrics", h(self.metrics)),
            Route("/admin/routing", h(self.get_routing)),
            Route("/admin/routing", h(self.set_routing), methods=["PUT"]),
            Route("/admin/models", h(self.load_model), methods=["POST"]),
            Route("/admin/models/{version}", h(self.unload_model), methods=["DELETE"]),
            Route("/admin/models/{version}/smoke", h(self.smoke), methods=["POST"]),
            Route("/admin/promote", h(self.promote), methods=["POST"]),
            Route("/v2/feedback", h(self.feedback), methods=["POST"]),
        ]
        return Starlette(routes=routes, lifespan=lifespan)

    @staticmethod
    def _handle(endpoint: Endpoint) -> Endpoint:
        async def handler(request: Request) -> Response:
            try:
                return await endpoint(request)
            except SlipwayError as exc:
                return _error_response(exc)

        return handler

    @property
    def plane(self) -> DataPlane:
        if self.plane_or_none is None:
            raise NotReady("the model is still loading")
        return self.plane_or_none

    # -- detector page ---------------------------------------------------------------------

    async def index(self, _: Request) -> Response:
        """The detection page, when the champion is a detector (upload, boxes, latency)."""
        if self.plane.router.table.champion.images is None:
            raise NotFound("no page here: this server serves a model that is not a detector")
        return Response(detector_page(), media_type="text/html; charset=utf-8")

    # -- protocol metadata and health ------------------------------------------------------

    async def server_metadata(self, _: Request) -> Response:
        return _json({"name": "slipway", "version": __version__, "extensions": []})

    async def live(self, _: Request) -> Response:
        return _json({"live": True})

    async def ready(self, _: Request) -> Response:
        # OIP: 200 means true, a 4xx means false.
        ready = self.plane_or_none is not None and self.plane_or_none.ready()
        return _json({"ready": ready}, 200 if ready else 400)

    def _check_name(self, request: Request) -> DataPlane:
        return self._plane_for(request.path_params["name"])

    def _plane_for(self, name: str) -> DataPlane:
        plane = self.plane
        if name != plane.model_name:
            plane.metrics.rejected.labels("unknown_model").inc()
            raise NotFound(f"model {name!r} not found; this server serves {plane.model_name!r}")
        return plane

    def _served(self, request: Request) -> ServedModel:
        plane = self._check_name(request)
        version = _version(request)
        if version is None:
            return plane.router.table.champion
        return plane.router.get(version)

    async def model_metadata(self, request: Request) -> Response:
        served = self._served(request)
        versions = [str(s.version) for s in self.plane.router.served()]
        doc = model_metadata(served.name, versions, served.signature, served.model.flavor)
        return _json(doc)

    async def model_ready(self, request: Request) -> Response:
        plane = self.plane_or_none
        if plane is None:
            return _json({"name": request.path_params["name"], "ready": False}, 400)
        served = self._served(request)
        ready = plane.accepting and served.state is ModelState.READY
        return _json({"name": served.name, "ready": ready}, 200 if ready else 400)

    # -- inference -------------------------------------------------------------------------

    async def _infer(
        self, name: str, version_text: str | None, body: bytes, header: HeaderGetter
    ) -> tuple[bytes, dict[str, str]]:
        plane = self._plane_for(name)
        version = _parse_version(version_text)
        if header("inference-header-content-length") is not None:
            raise InvalidInput(
                "the binary tensor data extension (Inference-Header-Content-Length) is not "
                "supported; send tensors as JSON (tritonclient: binary_data=False)"
            )
        parsed = parse_infer_request(body)
        result = await plane.infer(
            lambda served: (
                from_oip(parsed)
                if served.images is not None
                else to_model_input(parsed, served.signature)
            ),
            version=version,
            route_key=header(ROUTE_KEY_HEADER),
            request_id=parsed.id,
        )
        content = encode_infer_response(
            model_name=result.served.name,
            model_version=str(result.served.version),
            request_id=parsed.id,
            outputs=result.outputs,
            requested=parsed.outputs,
        )
        return content, self._headers(result.served, result.route)

    async def _predict(self, body: bytes, header: HeaderGetter) -> tuple[bytes, dict[str, str]]:
        data = parse_json_records(body)
        result = await self.plane.infer(
            lambda _: data, route_key=header(ROUTE_KEY_HEADER), request_id=header("x-request-id")
        )
        return encode_json_predictions(result.outputs), self._headers(result.served, result.route)

    async def _detect(
        self, scope: Scope, body: bytes, header: HeaderGetter
    ) -> tuple[bytes, dict[str, str]]:
        """``/predict`` for a detector: multipart upload or JSON with base64 images."""
        started = time.perf_counter()
        content_type = header("content-type") or ""
        if content_type.startswith("multipart/form-data"):
            batch = await from_multipart(scope, body)
        else:
            batch = from_json(body)
        result = await self.plane.infer(
            lambda _: batch, route_key=header(ROUTE_KEY_HEADER), request_id=header("x-request-id")
        )
        latency_ms = (time.perf_counter() - started) * 1000
        content = encode_detections(
            result.outputs, version=result.served.version, latency_ms=latency_ms
        )
        return content, self._headers(result.served, result.route)

    def asgi(self, app: Starlette) -> ASGIApp:
        """``app`` behind a lean lane that alone serves the inference paths.

        ``/predict`` and ``/v2/models/…/infer`` skip Starlette's routing, middleware, Request
        and Response objects, which cost more than the rest of a one-row request; everything
        else goes to ``app``.
        """

        async def lane(scope: Scope, receive: Receive, send: Send) -> None:
            target = _inference_target(scope["path"]) if scope["type"] == "http" else False
            if target is False:
                return await app(scope, receive, send)
            if scope["method"] != "POST":
                body = error_body(f"{scope['method']} is not allowed here: use POST")
                return await _send(send, 405, body, {"allow": "POST"})
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            try:
                body = await _receive_body(
                    receive, headers.get("content-length"), self.max_body_bytes
                )
                if target is None and self.plane.router.table.champion.images is not None:
                    content, extra = await self._detect(scope, body, headers.get)
                elif target is None:  # /predict
                    content, extra = await self._predict(body, headers.get)
                else:
                    name, version = target
                    content, extra = await self._infer(name, version, body, headers.get)
                status = 200
            except SlipwayError as exc:
                status = _status_logged(exc)
                content, extra = error_body(str(exc)), {}
            return await _send(send, status, content, extra)

        return lane

    @staticmethod
    def _headers(served: ServedModel, route: str) -> dict[str, str]:
        return {"x-slipway-model-version": str(served.version), "x-slipway-route": route}

    async def metrics(self, _: Request) -> Response:
        metrics = self.plane.metrics
        for served in self.plane.router.served():
            labels = (served.name, str(served.version))
            metrics.queue_depth.labels(*labels).set(served.batcher.queue_depth)
            metrics.in_flight.labels(*labels).set(served.in_flight)
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    # -- admin (bearer token) --------------------------------------------------------------

    def _authorize(self, request: Request) -> None:
        if self.admin_token is None:
            raise Forbidden("admin API disabled: start the server with SLIPWAY_SERVE_ADMIN_TOKEN")
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token, self.admin_token):
            raise Unauthorized("admin calls need 'Authorization: Bearer <token>'")

    async def _admin_json(self, request: Request, limit: int = 64 * 1024) -> dict[str, Any]:
        self._authorize(request)
        body = await read_body(request, limit)
        try:
            doc = orjson.loads(body or b"{}")
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"request body is not valid JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise InvalidInput("request body must be a JSON object")
        return doc

    async def get_routing(self, request: Request) -> Response:
        self._authorize(request)
        return _json(self.plane.router.table.describe())

    async def set_routing(self, request: Request) -> Response:
        doc = await self._admin_json(request)
        unknown = set(doc) - {"weight", "mode"}
        if unknown:
            raise InvalidInput(f"unknown routing fields: {', '.join(sorted(unknown))}")
        table = self.plane.router.table
        weight = check_weight(doc.get("weight", table.weight))
        table = self.plane.router.set_weight(weight, _mode(doc.get("mode")))
        logger.info("routing changed: %s", table.describe())
        return _json(table.describe())

    async def load_model(self, request: Request) -> Response:
        """Load a version (load, warm up, ready), then give it its role and traffic."""
        doc = await self._admin_json(request)
        uri, role = doc.get("uri"), doc.get("role", "challenger")
        if not isinstance(uri, str):
            raise InvalidInput("'uri' is required, e.g. models:/name/3")
        if role not in ("challenger", "champion"):
            raise InvalidInput(f"'role' must be 'challenger' or 'champion', got {role!r}")
        weight = check_weight(doc.get("weight", 0.0))
        served = await self.load_version(uri)
        if served.name != self.plane.model_name:
            await served.batcher.close()
            raise InvalidInput(
                f"{uri} is a version of {served.name!r}; "
                f"this server serves {self.plane.model_name!r}"
            )
        self.plane.attach(served)
        router = self.plane.router
        if role == "challenger":
            old = router.set_challenger(served, weight, _mode(doc.get("mode")))
        else:
            old = router.set_champion(served)
        if old is not None and old is not served and old not in router.served():
            await self._retire(old)
        return _json(router.table.describe())

    async def unload_model(self, request: Request) -> Response:
        self._authorize(request)
        version = _version(request)
        router = self.plane.router
        if version == router.table.champion.version:
            raise InvalidInput("the champion cannot be unloaded; promote another version first")
        served = router.get(version or 0)
        router.set_challenger(None)
        await self._retire(served)
        return _json(router.table.describe())

    async def promote(self, request: Request) -> Response:
        """The loaded challenger becomes the champion in one swap; the old champion drains.

        Idempotent: ``{"version": v}`` when ``v`` is already the champion changes nothing.
        """
        doc = await self._admin_json(request)
        router = self.plane.router
        wanted = doc.get("version")
        if wanted is not None and wanted == router.table.champion.version:
            return _json(router.table.describe())
        challenger = router.table.challenger
        if challenger is None:
            raise InvalidInput("no challenger is loaded: nothing to promote")
        if wanted is not None and wanted != challenger.version:
            raise InvalidInput(
                f"the loaded challenger is version {challenger.version}, not {wanted}"
            )
        old = router.set_champion(challenger)
        logger.info("promoted %s (was %s)", challenger.uri, old.uri)
        await self._retire(old)
        return _json(router.table.describe())

    async def smoke(self, request: Request) -> Response:
        """Predict a loaded version's input example ``requests`` times through its batcher."""
        doc = await self._admin_json(request)
        served = self.plane.router.get(_version(request) or 0)
        example = served.model.descriptor.get("input_example")
        if example is None:
            raise InvalidInput(f"{served.uri} has no input example to smoke-test with")
        count = doc.get("requests", 3)
        if not isinstance(count, int) or not 1 <= count <= 100:
            raise InvalidInput("'requests' must be an integer from 1 to 100")
        started = time.perf_counter()
        for _ in range(count):
            await served.predict(served.check(example))
        mean_ms = (time.perf_counter() - started) * 1000 / count
        return _json({"version": served.version, "requests": count, "mean_ms": mean_ms})

    async def feedback(self, request: Request) -> Response:
        """Ground-truth labels for logged predictions: ``{"labels": [{"request_id", "row",
        "label"}, ...]}`` or one such object. Admin token: it writes stored state."""
        doc = await self._admin_json(request, self.max_body_bytes)
        if self.on_feedback is None:
            raise Forbidden("feedback disabled: this server has no label store")
        records = doc.get("labels", [doc])
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise InvalidInput("'labels' must be a list of objects")
        report = await asyncio.to_thread(self.on_feedback, self.plane.deployment, records)
        return _json(report)

    async def _retire(self, served: ServedModel) -> None:
        """Drain a version no longer routed to, then release it."""
        drained = await served.drain(self.drain_timeout_s)
        if not drained:
            logger.warning("%s v%s still busy after drain timeout", served.name, served.version)
        await served.batcher.close()
        served.model.close()
        self.plane.metrics.ready.labels(served.name, str(served.version)).set(0)


def _inference_target(path: str) -> tuple[str, str | None] | Literal[False] | None:
    """What an inference path names: None for ``/predict``, ``(model, version or None)`` for
    ``/v2/models/{name}[/versions/{v}]/infer``, False for any other path."""
    if path == "/predict":
        return None
    if path.startswith("/v2/models/") and path.endswith("/infer"):
        parts = path.split("/")  # '', v2, models, name[, versions, v], infer
        if len(parts) == 5 and parts[3]:
            return parts[3], None
        if len(parts) == 7 and parts[4] == "versions" and parts[3] and parts[5]:
            return parts[3], parts[5]
    return False


async def _send(send: Send, status: int, content: bytes, headers: dict[str, str]) -> None:
    raw = [(b"content-type", b"application/json")]
    raw += [(k.encode(), v.encode()) for k, v in headers.items()]
    raw.append((b"content-length", str(len(content)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": content})


def _mode(value: object) -> Mode | None:
    if value is None:
        return None
    try:
        return Mode(str(value))
    except ValueError:
        raise InvalidInput(f"mode must be 'canary' or 'shadow', got {value!r}") from None
