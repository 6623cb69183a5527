"""Static assets, all served by this process: the stylesheet, the script, and plotly.js (taken
from the installed plotly package, so no page ever loads anything from a CDN)."""

from __future__ import annotations

import gzip
import hashlib
import threading
from importlib.resources import files

from fastapi import APIRouter, Request
from fastapi.responses import Response

from slipway.core.errors import NotFound

PREFIX = "/_ui"
_TYPES = {"css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8"}
_OWN = ("dashboard.css", "dashboard.js")


class _Asset:
    def __init__(self, body: bytes, media_type: str) -> None:
        self.body = body
        self.gzipped = gzip.compress(body, compresslevel=6)
        self.media_type = media_type
        self.etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


_cache: dict[str, _Asset] = {}
_lock = threading.Lock()


def _load(name: str) -> _Asset:
    with _lock:
        found = _cache.get(name)
        if found is None:
            if name == "plotly.min.js":
                from plotly.offline import get_plotlyjs

                body = get_plotlyjs().encode()
            elif name in _OWN:
                body = files("slipway.ui").joinpath("static", name).read_bytes()
            else:
                raise NotFound(f"no asset {name!r}")
            found = _cache[name] = _Asset(body, _TYPES[name.rsplit(".", 1)[1]])
        return found


router = APIRouter(include_in_schema=False)


@router.get(PREFIX + "/{name}")
def asset(request: Request, name: str) -> Response:
    try:
        found = _load(name)
    except NotFound:
        return Response("not found", status_code=404, media_type="text/plain")
    headers = {
        "ETag": found.etag,
        "Cache-Control": "public, max-age=3600",
        "X-Content-Type-Options": "nosniff",
        "Vary": "Accept-Encoding",
    }
    if request.headers.get("if-none-match") == found.etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(found.gzipped, media_type=found.media_type, headers=headers)
    return Response(found.body, media_type=found.media_type, headers=headers)
