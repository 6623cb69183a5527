"""The ``local`` target: supervised ``slipway serve`` processes on this machine.

State lives under ``<home>/deploy/<environment>/<name>/``:

- ``state.json``: the routing every replica must serve (champion, challenger, weight, mode,
  pinned with their digests, since a server reports URIs only), the runtime settings, and per
  replica its port, pid, process start time, restart count and next allowed restart. Written
  atomically (temporary file, then ``os.replace``).
- ``admin-token``: the servers' admin bearer token (mode 0600); it reaches the servers through
  their environment, never their command line, and is never logged.
- ``replica-<i>.log``: each replica's stdout and stderr, appended across restarts and kept
  after :meth:`LocalTarget.delete`, for the post-mortem of a deployment that was removed.

The servers run in their own sessions and outlive the agent: an agent that dies or restarts
takes nothing down. The routing verbs compute the new routing, bring every ready replica to it
through the admin API, and only then write ``state.json``. A verb that fails half-way leaves
``state.json`` as it was; :meth:`LocalTarget.supervise` then brings the replicas that moved
back to it, and the next reconcile runs the verb again. Replicas that are down or still
starting are skipped: they start with the routing from ``state.json``.

Each server is marked in its environment (``SLIPWAY_DEPLOYMENT_ID=<environment>/<name>/<i>``
and the owning state folder), so :meth:`LocalTarget.adopt` finds and stops one whose pid was
never recorded. A restarted replica keeps its port, so its endpoint stays the same. Settings
reach the servers as ``SLIPWAY_SERVE_*`` variables (the CLI has no ``--deployment`` flag).

One agent process owns an environment's state; the methods of one :class:`LocalTarget` are
serialized by a lock, not coordinated across processes.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from slipway.core.errors import AlreadyExists, InvalidInput, NotFound, SlipwayError
from slipway.core.names import check_name
from slipway.deploy import supervisor
from slipway.deploy.spec import DeploymentFile, ModelPin
from slipway.deploy.supervisor import (
    HOST,
    Replica,
    ReplicaFailed,
    ReplicaUnavailable,
    Routing,
    ServerAdmin,
    live_key,
)
from slipway.deploy.target import ObservedDeployment, RoutingMode, runtime_config

__all__ = ["LocalTarget", "ReplicaFailed", "ReplicaUnavailable"]

STATE_FILE = "state.json"
TOKEN_FILE = "admin-token"  # noqa: S105 - a file name, not a secret


class _State(BaseModel):
    """``state.json``: what every replica must serve, and how each one runs."""

    environment: str
    name: str
    config: str
    port: int | None
    max_batch_size: int
    max_latency_ms: float
    champion: ModelPin
    challenger: ModelPin | None = None
    weight: float = 0.0
    mode: RoutingMode = "canary"
    servers: list[Replica] = []

    def routing(self) -> Routing:
        return Routing(self.champion, self.challenger, self.weight, self.mode)


class LocalTarget:
    """Deployments as ``slipway serve`` processes on 127.0.0.1, one per replica.

    ``env`` is the environment the servers start with (default: this process's), which must
    point at the same registry (``SLIPWAY_HOME``, ``SLIPWAY_TRACKING_URI`` …) as the agent.
    """

    kind = "local"

    def __init__(
        self,
        home: Path,
        environment: str,
        *,
        env: Mapping[str, str] | None = None,
        ready_timeout_s: float = 60.0,
        stop_timeout_s: float = 30.0,
    ) -> None:
        self.root = Path(home).resolve() / "deploy" / environment
        self.environment = environment
        self.env = env
        self.ready_timeout_s = ready_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self._lock = threading.RLock()
        self._adopted: set[str] = set()

    # -- state -----------------------------------------------------------------------------

    def folder(self, name: str) -> Path:
        """Where ``name``'s state and logs live."""
        return self.root / check_name("deployment", name)

    def log_path(self, name: str, replica: int) -> Path:
        """The log of one replica (stdout and stderr, appended across restarts)."""
        return self.folder(name) / f"replica-{replica}.log"

    def _load(self, name: str) -> _State | None:
        try:
            text = (self.folder(name) / STATE_FILE).read_text()
        except FileNotFoundError:
            return None
        return _State.model_validate_json(text)

    def _require(self, name: str) -> _State:
        state = self._load(name)
        if state is None:
            raise NotFound(
                f"local deployment {self.environment}/{name} does not exist; "
                f"create it first (commit deployments/{name}.yaml)"
            )
        return state

    def _save(self, state: _State) -> None:
        folder = self.folder(state.name)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = folder / f".{STATE_FILE}.{os.getpid()}.tmp"
        temporary.write_text(state.model_dump_json(indent=2))
        os.replace(temporary, folder / STATE_FILE)

    def _token(self, name: str) -> str:
        path = self.folder(name) / TOKEN_FILE
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        token = secrets.token_urlsafe(32)
        # Created 0600 from the start: never readable by others, not even for a moment.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token)
        return token

    def names(self) -> list[str]:
        """Deployments with a state file in this environment."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / STATE_FILE).is_file())

    # -- processes -------------------------------------------------------------------------

    def _marker(self, name: str, replica: int | None = None) -> str:
        return f"{self.environment}/{name}/" + ("" if replica is None else str(replica))

    def _spawn(self, state: _State, replica: Replica) -> None:
        """Start one replica with the routing and settings in ``state``; returns at once.

        The intent (port, start time, no pid) is saved before the spawn and the pid right
        after: an agent killed in between leaves a marked process that :meth:`adopt` finds.
        """
        replica.started(None, time.time())
        self._save(state)
        argv = [sys.executable, "-m", "slipway.cli.main", "serve", state.champion.uri]
        argv += ["--host", HOST, "--port", str(replica.port)]
        if state.challenger is not None:
            argv += ["--challenger", state.challenger.uri, "--weight", str(state.weight)]
            argv += ["--mode", state.mode]
        env = dict(os.environ if self.env is None else self.env)
        env.update(
            SLIPWAY_SERVE_ADMIN_TOKEN=self._token(state.name),
            SLIPWAY_SERVE_DEPLOYMENT=state.name,
            SLIPWAY_SERVE_WORKERS="1",
            SLIPWAY_SERVE_MAX_BATCH_SIZE=str(state.max_batch_size),
            SLIPWAY_SERVE_MAX_LATENCY_MS=str(state.max_latency_ms),
        )
        env[supervisor.MARKER] = self._marker(state.name, replica.index)
        env[supervisor.MARKER_STATE] = str(self.folder(state.name))
        ref = supervisor.spawn(argv, env, self.log_path(state.name, replica.index))
        replica.started(ref, replica.started_at)
        self._save(state)

    def _wait_ready(self, state: _State, replicas: list[Replica]) -> None:
        servers = {}
        for r in replicas:
            ref = r.ref()
            assert ref is not None  # set by _spawn
            servers[r.index] = (r.url, ref)
        try:
            supervisor.wait_ready(servers, self.ready_timeout_s)
        except supervisor.NotStarted as exc:
            what = "exited" if exc.exited else f"was not ready after {self.ready_timeout_s:.0f} s"
            log = self.log_path(state.name, exc.key)
            raise ReplicaFailed(
                f"local deployment {self.environment}/{state.name}: replica {exc.key} "
                f"(port {state.servers[exc.key].port}) {what} while starting "
                f"{state.champion.uri}; see {log}. Last lines:\n{supervisor.log_tail(log)}"
            ) from None

    def _stop(self, replicas: list[Replica]) -> None:
        refs = [ref for r in replicas if (ref := r.ref()) is not None]
        supervisor.stop(refs, self.stop_timeout_s)

    # -- admin API -------------------------------------------------------------------------

    def _admin(self, name: str) -> ServerAdmin:
        return ServerAdmin(self._token(name), f"local deployment {self.environment}/{name}")

    def _apply(self, state: _State) -> None:
        """Bring every ready replica to ``state``'s routing, then save it."""
        with self._admin(state.name) as admin:
            for replica in state.servers:
                live = admin.routing(replica)
                if live is not None:
                    admin.converge(replica, state.routing(), live)
        self._save(state)

    # -- the verbs -------------------------------------------------------------------------

    def observe(self, name: str) -> ObservedDeployment | None:
        """The routing from ``state.json``; a replica counts as ready when its process is
        ours, alive, and serves exactly that routing."""
        state = self._load(name)
        if state is None:
            return None
        wanted = state.routing().key()
        replicas: list[dict[str, object]] = []
        ready = 0
        with self._admin(name) as admin:
            for r in state.servers:
                live = admin.routing(r)
                serving = None if live is None else live_key(live)
                ready += serving == wanted
                replicas.append(
                    {
                        "index": r.index,
                        "port": r.port,
                        "pid": r.pid,
                        "alive": r.running(),
                        "ready": serving == wanted,
                        "routing": None if serving is None else list(serving),
                        "restarts": r.restarts,
                        "next_restart_at": r.next_restart_at,
                        "log": str(self.log_path(name, r.index)),
                    }
                )
        return ObservedDeployment(
            name=name,
            champion=state.champion,
            challenger=state.challenger,
            weight=state.weight if state.challenger is not None else 0.0,
            mode=state.mode,
            replicas=len(state.servers),
            ready_replicas=ready,
            config=state.config,
            endpoints=tuple(r.url for r in state.servers),
            details={"state": str(self.folder(name)), "replicas": replicas},
        )

    def _check(self, deployment: DeploymentFile) -> None:
        if deployment.environment != self.environment:
            raise InvalidInput(
                f"deployment {deployment.name} is for environment {deployment.environment!r}; "
                f"this local target runs {self.environment!r}"
            )
        if deployment.spec.target.kind != "local":
            raise InvalidInput(
                f"deployment {deployment.name} targets {deployment.spec.target.kind!r}, not local"
            )

    def _ports(self, deployment: DeploymentFile, indexes: range) -> list[int]:
        first = deployment.spec.target.port
        if first is None:
            return supervisor.free_ports(len(indexes), HOST)
        if first + indexes.stop - 1 > 65535:
            raise InvalidInput(
                f"deployment {deployment.name}: ports {first}..{first + indexes.stop - 1} "
                "run past 65535; choose a lower target.port"
            )
        return [first + i for i in indexes]

    def create(self, deployment: DeploymentFile) -> None:
        """Start every replica with the deployment's model as champion; returns once all are
        ready. Again with the same deployment: starts only replicas that are down."""
        self._check(deployment)
        name, spec = deployment.name, deployment.spec
        with self._lock:
            existing = self._load(name)
            if existing is not None:
                if existing.champion != spec.model or existing.config != runtime_config(deployment):
                    raise AlreadyExists(
                        f"local deployment {self.environment}/{name} already runs "
                        f"{existing.champion.uri} with other settings; reconfigure or "
                        "replace its champion, or delete it first"
                    )
                down = [r for r in existing.servers if not r.running()]
                for r in down:
                    self._spawn(existing, r)
                self._wait_ready(existing, down)
                return
            self.adopt(name)  # strays of an earlier create that crashed before recording
            indexes = range(spec.replicas)
            state = _State(
                environment=self.environment,
                name=name,
                config=runtime_config(deployment),
                port=spec.target.port,
                max_batch_size=spec.batching.max_batch_size,
                max_latency_ms=spec.batching.max_latency_ms,
                champion=spec.model,
                servers=[
                    Replica(index=i, port=p)
                    for i, p in zip(indexes, self._ports(deployment, indexes), strict=True)
                ],
            )
            try:
                for r in state.servers:
                    self._spawn(state, r)
                self._wait_ready(state, state.servers)
            except BaseException:
                # All or nothing: the next reconcile tries a clean create again.
                self._stop(state.servers)
                (self.folder(name) / STATE_FILE).unlink(missing_ok=True)
                raise

    def reconfigure(self, deployment: DeploymentFile) -> None:
        """Apply new replicas, batching or port settings, keeping the routing.

        New replicas start (and are ready) before surplus ones stop. Replicas whose batching
        or fixed port changes are restarted one at a time: the replacement starts on a new
        port before the old process stops where it can (a changed ``target.port``, or no
        fixed port at all); with the same fixed port the old one must stop first, so a
        single-replica deployment with a fixed port has a short gap here. Strategy changes
        never come this way: they only move routing.
        """
        self._check(deployment)
        name, spec = deployment.name, deployment.spec
        with self._lock:
            state = self._require(name)
            config = runtime_config(deployment)
            if state.config == config and len(state.servers) == spec.replicas:
                return
            batching = (spec.batching.max_batch_size, spec.batching.max_latency_ms)
            restart_all = batching != (state.max_batch_size, state.max_latency_ms)
            state.max_batch_size, state.max_latency_ms = batching
            state.port = spec.target.port
            kept = state.servers[: spec.replicas]
            surplus = state.servers[spec.replicas :]
            added = range(len(kept), spec.replicas)
            fresh = [
                Replica(index=i, port=p)
                for i, p in zip(added, self._ports(deployment, added), strict=True)
            ]
            state.servers = kept + fresh
            for r in fresh:
                self._spawn(state, r)
            self._wait_ready(state, fresh)
            for r in kept:
                wanted = None if spec.target.port is None else spec.target.port + r.index
                if restart_all or (wanted is not None and wanted != r.port):
                    self._roll(state, r, wanted)
            # Forget the surplus before stopping it: an agent killed in between leaves
            # orphans, which adopt() stops, never replicas that supervise() would restart.
            state.config = config
            self._save(state)
            self._stop(surplus)

    def _roll(self, state: _State, replica: Replica, port: int | None) -> None:
        """Restart one replica with ``state``'s settings, on ``port`` (None: any free one)."""
        old = replica.model_copy()
        new_port = port if port is not None else supervisor.free_ports(1, HOST)[0]
        if new_port == replica.port:  # the port is taken until the old process is gone
            self._stop([old])
            self._spawn(state, replica)
            self._wait_ready(state, [replica])
            return
        replica.port = new_port
        self._spawn(state, replica)  # the old pid is now unrecorded: adopt() would stop it
        try:
            self._wait_ready(state, [replica])
        except ReplicaFailed:
            self._stop([replica])
            state.servers[replica.index] = old
            self._save(state)
            raise
        self._stop([old])

    def _reroute(self, name: str, **routing: Any) -> None:
        with self._lock:
            self._apply(self._require(name).model_copy(update=routing))

    def load_challenger(
        self, name: str, model: ModelPin, weight: float = 0.0, mode: RoutingMode = "canary"
    ) -> None:
        """Load ``model`` beside the champion on every replica, then give it ``weight``."""
        _check_weight(weight)
        if model.version == self._require(name).champion.version:
            raise InvalidInput(f"{model.uri} is already the champion of {self.environment}/{name}")
        self._reroute(name, challenger=model, weight=weight, mode=mode)

    def set_weight(self, name: str, weight: float, mode: RoutingMode = "canary") -> None:
        """Give ``weight`` of the requests to the loaded challenger on every replica."""
        _check_weight(weight)
        with self._lock:
            if self._require(name).challenger is None:
                raise InvalidInput(
                    f"local deployment {self.environment}/{name} has no challenger to give "
                    "traffic to; load one first"
                )
            self._reroute(name, weight=weight, mode=mode)

    def promote(self, name: str) -> None:
        """The challenger becomes the champion on every replica; the old champion drains."""
        with self._lock:
            state = self._require(name)
            if state.challenger is None:
                return  # promoted already (idempotent), or nothing ever loaded
            routing = {"champion": state.challenger, "challenger": None, "weight": 0.0}
            self._apply(state.model_copy(update=routing))

    def drop_challenger(self, name: str) -> None:
        """All traffic back to the champion; the challenger drains and unloads everywhere."""
        self._reroute(name, challenger=None, weight=0.0, mode="canary")

    def replace_champion(self, name: str, model: ModelPin) -> None:
        """Load ``model`` on every replica and swap it in as champion (recreate strategy)."""
        with self._lock:
            state = self._require(name)
            update: dict[str, object] = {"champion": model}
            if state.challenger is not None and state.challenger.version == model.version:
                update |= {"challenger": None, "weight": 0.0}
            self._apply(state.model_copy(update=update))

    def smoke(self, name: str, version: int, requests: int) -> float:
        """Send ``requests`` predictions of its input example to ``version`` on every ready
        replica; returns the mean latency in ms. Raises with the server's message."""
        state = self._require(name)
        means = []
        with self._admin(name) as admin:
            for r in state.servers:
                if admin.routing(r) is None:
                    continue
                body = {"requests": requests}
                doc = admin.call(r, "POST", f"/admin/models/{version}/smoke", body)
                means.append(float(doc["mean_ms"]))
        if not means:
            raise ReplicaUnavailable(
                f"local deployment {self.environment}/{name}: no replica is ready to smoke "
                f"version {version}; retry once they are up"
            )
        return sum(means) / len(means)

    def delete(self, name: str) -> None:
        """Stop every replica (SIGTERM: they drain; SIGKILL after ``stop_timeout_s``), then
        remove the state. The replica logs stay, for a post-mortem."""
        with self._lock:
            state = self._load(name)
            folder = self.folder(name)
            refs = [ref for ref, _ in supervisor.find_marked(folder, self._marker(name))]
            if state is not None:
                refs += [ref for r in state.servers if (ref := r.ref()) is not None]
            supervisor.stop(list(set(refs)), self.stop_timeout_s)
            # Stopped first, then forgotten: a crash in between leaves a state to retry with.
            (folder / STATE_FILE).unlink(missing_ok=True)
            (folder / TOKEN_FILE).unlink(missing_ok=True)
            self._adopted.discard(name)
            if folder.is_dir() and not any(folder.iterdir()):
                shutil.rmtree(folder)

    # -- supervision -----------------------------------------------------------------------

    def adopt(self, name: str) -> list[str]:
        """Stop processes marked as ``name``'s replicas that ``state.json`` does not list
        (started by an agent that died before recording them), so none run twice."""
        with self._lock:
            state = self._load(name)
            known = set() if state is None else {r.ref() for r in state.servers}
            strays = [
                (ref, marker)
                for ref, marker in supervisor.find_marked(self.folder(name), self._marker(name))
                if not any(k is not None and _same(k, ref) for k in known)
            ]
            supervisor.stop([ref for ref, _ in strays], self.stop_timeout_s)
            return [f"stopped stray server pid {ref.pid} ({marker})" for ref, marker in strays]

    def supervise(self, name: str) -> list[str]:
        """Restart replicas that died, with exponential backoff, and bring replicas whose
        routing drifted back to ``state.json``'s. Returns what was done, for the events."""
        with self._lock:
            state = self._load(name)
            if state is None:
                return []
            events = []
            if name not in self._adopted:  # once per agent process: strays of its crash
                events += self.adopt(name)
                self._adopted.add(name)
            now = time.time()
            down = {r.index for r in state.servers if not r.running()}
            for r in state.servers:
                if r.index in down:
                    events += self._restart(state, r, now)
            # A verb that failed half-way, or a replica started before the last change, left
            # a replica serving other versions than state.json says: bring it back.
            with self._admin(name) as admin:
                for r in state.servers:
                    live = None if r.index in down else admin.routing(r)
                    if live is None or live_key(live) == state.routing().key():
                        continue
                    try:
                        admin.converge(r, state.routing(), live)
                        events.append(f"replica {r.index}: routing restored")
                    except SlipwayError as exc:  # reported; the next tick tries again
                        events.append(f"replica {r.index}: routing not restored: {exc}")
            return events

    def _restart(self, state: _State, replica: Replica, now: float) -> list[str]:
        if replica.next_restart_at is None:  # first seen down
            replica.schedule_restart(now)
            self._save(state)
            if replica.next_restart_at is not None and replica.next_restart_at > now:
                wait = replica.next_restart_at - now
                return [f"replica {replica.index} {replica.last_exit}; restart in {wait:.1f} s"]
        elif replica.next_restart_at > now:
            return []
        replica.restarts += 1
        self._spawn(state, replica)
        return [
            f"replica {replica.index} {replica.last_exit}; restarted (restart {replica.restarts})"
        ]


def _same(a: supervisor.ProcessRef, b: supervisor.ProcessRef) -> bool:
    return a.pid == b.pid and abs(a.create_time - b.create_time) < 0.05


def _check_weight(weight: float) -> None:
    if not 0.0 <= weight <= 1.0:
        raise InvalidInput(f"weight must be between 0 and 1, got {weight!r}")
