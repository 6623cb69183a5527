"""``slipway serve`` processes on this machine: start them detached, tell ours from recycled
pids, restart them with backoff, steer them through their admin API, stop them.

Knows one replica at a time; :mod:`slipway.deploy.local` turns replicas into deployments. Each
process is identified by its pid *and* its start time (``psutil.Process.create_time``): a pid
alone may have been handed to an unrelated process after ours died. Each child also carries
marker variables in its environment, so a process whose pid was never written down (the agent
crashed between spawn and record) can still be found and stopped.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from pydantic import BaseModel

from slipway.core.errors import InvalidInput, NotFound, SlipwayError
from slipway.deploy.spec import ModelPin
from slipway.deploy.target import RoutingMode

MARKER = "SLIPWAY_DEPLOYMENT_ID"
"""``<environment>/<name>/<replica>``: which replica a process serves."""
MARKER_STATE = "SLIPWAY_DEPLOYMENT_STATE"
"""The state folder that owns the process: two Slipway homes on one machine (a test run beside
a real agent) may both run ``prod/fraud``, and neither must stop the other's servers."""

HOST = "127.0.0.1"
MAX_BACKOFF_S = 60.0
STABLE_AFTER_S = 60.0
"""A replica that stayed up this long counts as healthy: its next crash restarts it at once."""
LOAD_TIMEOUT_S = 120.0  # an admin load reads, verifies and warms up a whole model
_CREATE_TIME_SLACK_S = 0.05
# Popen handles of the children this process started, by pid: keeping them (not the target
# instance) alive means a dropped handle never warns "still running", and exits are reaped
# with their real exit code instead of lingering as zombies.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@atexit.register
def _let_servers_outlive_us() -> None:
    """Servers are meant to outlive the agent that started them (it may be restarted at any
    time). Tell ``Popen`` so, or it warns "still running" for each at interpreter exit."""
    for process in _CHILDREN.values():
        if process.poll() is None:
            process.returncode = 0  # not ours to wait for any more; nothing reads this


@dataclass(frozen=True, slots=True)
class ProcessRef:
    """One process we started: its pid and when it started."""

    pid: int
    create_time: float


class ReplicaFailed(SlipwayError):
    """A server process would not start, or its admin API failed; the message has the
    reason (the server's own words or the tail of its log)."""


class ReplicaUnavailable(ReplicaFailed):
    """No replica could take the call now (down or starting); retrying later may work."""


def free_ports(count: int, host: str = HOST) -> list[int]:
    """``count`` distinct ports nobody listens on now (all bound at once, so no repeats)."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket())
            sock.bind((host, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def spawn(argv: Sequence[str], env: Mapping[str, str], log_path: Path) -> ProcessRef:
    """Start ``argv`` in its own session, stdout and stderr appended to ``log_path``.

    Its own session: a signal sent to the agent's process group (Ctrl-C, a service manager
    stopping the agent) must not reach the servers, which keep serving without it.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as sink:  # a file, not a pipe: a full pipe would block the server
        process = subprocess.Popen(
            list(argv),
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    _CHILDREN[process.pid] = process
    try:
        created = psutil.Process(process.pid).create_time()
    except psutil.NoSuchProcess:  # died at once; the caller sees it as not running
        created = 0.0
    return ProcessRef(process.pid, created)


def _psutil_process(ref: ProcessRef) -> psutil.Process | None:
    """The live process behind ``ref``, or None if it exited or the pid now belongs to
    another process."""
    child = _CHILDREN.get(ref.pid)
    if child is not None and child.poll() is not None:
        return None
    try:
        process = psutil.Process(ref.pid)
        if abs(process.create_time() - ref.create_time) > _CREATE_TIME_SLACK_S:
            return None
        # Our own child is running until reaped: while its other threads still tear down
        # (sockets included) the main thread already shows as a zombie. Another agent's
        # child can only be judged by that zombie state.
        if child is None and process.status() == psutil.STATUS_ZOMBIE:
            return None
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return process


def is_running(ref: ProcessRef) -> bool:
    """Whether the process ``ref`` recorded is still alive (and is still ours)."""
    return _psutil_process(ref) is not None


def exit_code(ref: ProcessRef) -> int | None:
    """How our own child exited (negative: killed by that signal); None if it still runs or
    was started by another agent process, whose exit status only its parent could read."""
    child = _CHILDREN.get(ref.pid)
    if child is None:
        return None
    code = child.poll()
    if code is not None:
        del _CHILDREN[ref.pid]
    return code


def stop(refs: Sequence[ProcessRef], timeout_s: float) -> list[ProcessRef]:
    """SIGTERM (the server drains in-flight requests), then SIGKILL whatever still runs after
    ``timeout_s``. Returns the processes that had to be killed."""
    alive = [(ref, p) for ref in refs if (p := _psutil_process(ref)) is not None]
    for _, process in alive:
        with suppress(psutil.NoSuchProcess):
            process.send_signal(signal.SIGTERM)
    left = _wait_gone([ref for ref, _ in alive], timeout_s)
    for ref in left:
        straggler = _psutil_process(ref)
        if straggler is not None:
            with suppress(psutil.NoSuchProcess):
                straggler.kill()
    _wait_gone(left, 5.0)
    return left


def _wait_gone(refs: Sequence[ProcessRef], timeout_s: float) -> list[ProcessRef]:
    deadline = time.monotonic() + timeout_s
    left = list(refs)
    while left:
        left = [ref for ref in left if is_running(ref)]
        if not left or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    for ref in refs:
        if not is_running(ref):
            exit_code(ref)  # reap our own children
    return left


def find_marked(state_dir: Path, prefix: str) -> Iterator[tuple[ProcessRef, str]]:
    """Running processes owned by ``state_dir`` whose marker starts with ``prefix``, with the
    marker. Processes of other users (environment not readable) are skipped."""
    owner = str(state_dir)
    for process in psutil.process_iter(["pid", "create_time"]):
        try:
            environ = process.environ()
            if environ.get(MARKER_STATE) != owner:
                continue
            marker = environ.get(MARKER, "")
            if not marker.startswith(prefix) or process.status() == psutil.STATUS_ZOMBIE:
                continue
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        yield ProcessRef(process.info["pid"], process.info["create_time"]), marker


class NotStarted(Exception):
    """A server did not become ready: ``exited`` says whether it died or ran out of time."""

    def __init__(self, key: int, exited: bool) -> None:
        self.key, self.exited = key, exited
        super().__init__(f"server {key} {'exited' if exited else 'timed out'} before ready")


def wait_ready(servers: Mapping[int, tuple[str, ProcessRef]], timeout_s: float) -> None:
    """Wait until every server (base URL, process) answers 200 on ``/v2/health/ready``.

    Raises :class:`NotStarted` for the first one that exits (at once, rather than waiting out
    the timeout) or is still not ready after ``timeout_s``.
    """
    waiting = dict(servers)
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=2.0) as client:
        while waiting:
            for key, (url, ref) in list(waiting.items()):
                with suppress(httpx.HTTPError):
                    if client.get(f"{url}/v2/health/ready").status_code == 200:
                        del waiting[key]
                        continue
                if not is_running(ref):
                    raise NotStarted(key, exited=True)
            if waiting and time.monotonic() >= deadline:
                raise NotStarted(next(iter(waiting)), exited=False)
            if waiting:
                time.sleep(0.1)


def log_tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a server log (for error messages)."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16 * 1024))
            text = f.read().decode(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


# -- one replica: its record and restart policy ----------------------------------------------


class Replica(BaseModel):
    """One server process of a deployment as recorded in its state file."""

    index: int
    port: int
    pid: int | None = None
    create_time: float | None = None
    started_at: float = 0.0
    """Wall-clock time of the latest start (backoff, and the reset after STABLE_AFTER_S)."""
    restarts: int = 0
    streak: int = 0
    """Consecutive runs shorter than STABLE_AFTER_S: the exponent of the backoff."""
    next_restart_at: float | None = None
    """Set once seen down: the earliest time it may start again."""
    last_exit: str | None = None

    def ref(self) -> ProcessRef | None:
        if self.pid is None or self.create_time is None:
            return None
        return ProcessRef(self.pid, self.create_time)

    def running(self) -> bool:
        ref = self.ref()
        return ref is not None and is_running(ref)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def started(self, ref: ProcessRef | None, now: float) -> None:
        """Record a start: intent first (``ref`` None), then the process."""
        self.pid, self.create_time = (None, None) if ref is None else (ref.pid, ref.create_time)
        self.started_at, self.next_restart_at = now, None

    def schedule_restart(self, now: float) -> None:
        """Seen down for the first time: note how it ended and when it may start again.

        A replica that had stayed up STABLE_AFTER_S restarts at once; one that keeps dying
        waits 1 s, 2 s, 4 s … (at most MAX_BACKOFF_S) after its previous start.
        """
        ref = self.ref()
        code = None if ref is None else exit_code(ref)
        self.last_exit = (
            "was never started"
            if ref is None
            else "exited" + ("" if code is None else f" with code {code}")
        )
        self.streak = 0 if now - self.started_at >= STABLE_AFTER_S else self.streak + 1
        delay = 0.0 if self.streak == 0 else min(MAX_BACKOFF_S, 2.0 ** (self.streak - 1))
        self.next_restart_at = self.started_at + delay


# -- one replica's admin API ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Routing:
    """Which versions a server serves and how it splits requests between them."""

    champion: ModelPin
    challenger: ModelPin | None = None
    weight: float = 0.0
    mode: RoutingMode = "canary"

    def key(self) -> tuple[object, ...]:
        """What must match a server's ``GET /admin/routing`` (see :func:`live_key`)."""
        if self.challenger is None:
            return (self.champion.version, None, None, None)
        return (self.champion.version, self.challenger.version, self.weight, self.mode)


def live_key(doc: Mapping[str, Any]) -> tuple[object, ...]:
    """A server's routing (``GET /admin/routing``) in the form of :meth:`Routing.key`."""
    challenger = doc.get("challenger")
    if challenger is None:
        return (doc["champion"]["version"], None, None, None)
    return (doc["champion"]["version"], challenger["version"], doc["weight"], doc["mode"])


class ServerAdmin:
    """Admin calls to the servers of one deployment (``where`` names it in errors)."""

    def __init__(self, token: str, where: str) -> None:
        self.where = where
        self.client = httpx.Client(
            headers={"authorization": f"Bearer {token}"}, timeout=LOAD_TIMEOUT_S
        )

    def __enter__(self) -> ServerAdmin:
        return self

    def __exit__(self, *_: object) -> None:
        self.client.close()

    def call(
        self,
        replica: Replica,
        method: str,
        path: str,
        body: Mapping[str, object] | None = None,
        timeout: float = LOAD_TIMEOUT_S,
    ) -> dict[str, Any]:
        """One admin call; the server's error message becomes a typed error."""
        where = f"{self.where} replica {replica.index}: {method} {path}"
        try:
            response = self.client.request(
                method, f"{replica.url}{path}", json=body, timeout=timeout
            )
        except httpx.HTTPError as exc:
            raise ReplicaUnavailable(f"{where} failed: {exc}") from None
        try:
            doc: Any = response.json()
        except ValueError:
            doc = {"error": response.text[:500]}
        if response.status_code < 400:
            return dict(doc)
        message = f"{where}: {doc.get('error', doc)}"
        if response.status_code == 404:
            raise NotFound(message)
        if response.status_code == 503:
            raise ReplicaUnavailable(f"{message} (still starting; retry shortly)")
        if response.status_code < 500:
            raise InvalidInput(message)
        raise ReplicaFailed(message)

    def routing(self, replica: Replica) -> dict[str, Any] | None:
        """The replica's live routing, or None when it is down or still loading."""
        if not replica.running():
            return None
        try:
            return self.call(replica, "GET", "/admin/routing", timeout=2.0)
        except ReplicaUnavailable:
            return None

    def converge(self, replica: Replica, routing: Routing, live: Mapping[str, Any]) -> None:
        """Bring one replica from ``live`` to ``routing`` with as few calls as possible.

        Every routing verb of the local target is this applied to a new routing, which is
        what makes them idempotent: a replica already there gets no call at all.
        """
        champion, wanted = routing.champion, routing.challenger
        body: dict[str, object]
        if live["champion"]["version"] != champion.version:
            current = live.get("challenger")
            if current is not None and current["version"] == champion.version:
                body = {"version": champion.version}
                live = self.call(replica, "POST", "/admin/promote", body)
            else:  # the server loads it before swapping: no request sees a gap
                body = {"uri": champion.uri, "role": "champion"}
                live = self.call(replica, "POST", "/admin/models", body)
        current = live.get("challenger")
        if wanted is None:
            if current is not None:
                self.call(replica, "DELETE", f"/admin/models/{current['version']}")
        elif current is None or current["version"] != wanted.version:
            body = {"uri": wanted.uri, "role": "challenger", "weight": routing.weight}
            body["mode"] = routing.mode
            self.call(replica, "POST", "/admin/models", body)
        elif (live.get("weight"), live.get("mode")) != (routing.weight, routing.mode):
            body = {"weight": routing.weight, "mode": routing.mode}
            self.call(replica, "PUT", "/admin/routing", body)
