"""A tiny HTTP proxy in front of a real server that can misbehave on purpose, once per fault:
flip a byte of a response body (``corrupt``), send half a body and hang up (``cut``), or
forward a request and hang up before answering (``drop``)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

import httpx

Fault = Literal["corrupt", "cut", "drop"]
_HOP = {"host", "connection", "content-length", "transfer-encoding", "keep-alive"}


@dataclass
class Seen:
    method: str
    path: str
    range: str | None


@dataclass
class FaultyProxy:
    upstream: str
    faults: list[tuple[str, str, Fault]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def fail_once(self, method: str, path_part: str, fault: Fault) -> None:
        with self._lock:
            self.faults.append((method, path_part, fault))

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for i, (m, part, fault) in enumerate(self.faults):
                if m == method and part in path:
                    del self.faults[i]
                    return fault
        return None

    def start(self) -> FaultyProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                proxy.seen.append(Seen(self.command, self.path, self.headers.get("Range")))
                answer = httpx.request(
                    self.command, proxy.upstream + self.path, headers=headers, content=body
                )
                data = answer.content
                fault = proxy.take(self.command, self.path)
                if fault == "drop":
                    self.close_connection = True
                    return
                if fault == "corrupt" and data:
                    flipped = bytearray(data)
                    flipped[len(flipped) // 2] ^= 0xFF
                    data = bytes(flipped)
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in _HOP | {"content-encoding", "date", "server"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command == "HEAD":
                    return
                if fault == "cut":
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
