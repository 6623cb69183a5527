"""What only the local target does: supervise its processes, adopt strays, keep logs, roll
replicas, and serve every request while the routing changes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
import pytest

from slipway.deploy.local import LocalTarget, ReplicaFailed
from slipway.deploy.spec import ModelPin
from slipway.deploy.supervisor import MARKER, MARKER_STATE
from slipway.deploy.target import ObservedDeployment

from .conftest import DeploymentFactory, Registry, marked_processes

pytestmark = pytest.mark.timeout(120)


def wait_for(check: Callable[[], bool], timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def ready(local: LocalTarget, name: str) -> ObservedDeployment:
    """Waits until every replica serves the recorded routing."""
    seen: list[ObservedDeployment] = []

    def all_ready() -> bool:
        seen[:] = [o for o in [local.observe(name)] if o is not None]
        return bool(seen) and seen[0].ready_replicas == seen[0].replicas

    wait_for(all_ready, what=f"{name} to be ready")
    return seen[0]


def observe(local: LocalTarget, name: str) -> ObservedDeployment:
    seen = local.observe(name)
    assert seen is not None
    return seen


def pids(observed: ObservedDeployment) -> list[int]:
    replicas = observed.details["replicas"]
    assert isinstance(replicas, list)
    return [r["pid"] for r in replicas]


def kill(local: LocalTarget, name: str, pid: int) -> None:
    """SIGKILL one replica and wait until the target sees it gone."""
    os.kill(pid, signal.SIGKILL)

    def gone() -> bool:
        replicas = observe(local, name).details["replicas"]
        assert isinstance(replicas, list)
        return not any(r["alive"] for r in replicas if r["pid"] == pid)

    wait_for(gone, 10, f"pid {pid} to exit")


def test_a_killed_replica_is_restarted_with_backoff_and_its_routing(
    local: LocalTarget, deployment: DeploymentFactory, registry: Registry
) -> None:
    local.create(deployment("web"))
    local.load_challenger("web", registry.pins[2], 0.3)
    assert local.supervise("web") == []
    [first] = pids(ready(local, "web"))

    kill(local, "web", first)
    assert local.supervise("web") == ["replica 0 exited with code -9; restarted (restart 1)"]
    [second] = pids(observe(local, "web"))
    assert second != first

    # Dies again at once: the next start waits 2 s after the previous one.
    kill(local, "web", second)
    events = local.supervise("web")
    [event] = events
    assert "exited with code -9; restart in" in event
    assert local.supervise("web") == []  # still backing off: nothing to report
    restarted: list[str] = []

    def supervised() -> bool:
        restarted.extend(local.supervise("web"))
        return bool(restarted)

    wait_for(supervised, 5, "the backoff to end")
    assert restarted == ["replica 0 exited with code -9; restarted (restart 2)"]

    seen = ready(local, "web")  # ready means: serving the recorded routing again
    assert (seen.champion, seen.challenger, seen.weight) == (
        registry.pins[1],
        registry.pins[2],
        0.3,
    )
    replicas = seen.details["replicas"]
    assert isinstance(replicas, list)
    [replica] = replicas
    assert replica["restarts"] == 2

    # Logs: one file per replica, appended across restarts and kept after delete.
    log = Path(replica["log"])
    local.delete("web")
    text = log.read_text()  # the second start was killed before it could print anything
    assert text.count("Started server process") == 2, text
    assert text.rstrip().endswith("stopped by SIGTERM after a graceful shutdown")
    assert local.names() == []


def test_adopt_stops_marked_processes_the_state_does_not_list(
    local: LocalTarget, deployment: DeploymentFactory, target_home: Path
) -> None:
    local.create(deployment("web"))
    [recorded] = pids(observe(local, "web"))
    folder = str(local.folder("web"))
    sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
    # A replica spawned by an agent that died before writing its pid down …
    stray = subprocess.Popen(sleeper, env={MARKER: "test/web/0", MARKER_STATE: folder})
    # … and one owned by another Slipway home on this machine, which must be left alone.
    other = subprocess.Popen(sleeper, env={MARKER: "test/web/0", MARKER_STATE: "/elsewhere"})
    try:
        wait_for(lambda: len(marked_processes(target_home)) == 2, 10, "the stray to start")
        assert local.adopt("web") == [f"stopped stray server pid {stray.pid} (test/web/0)"]
        assert stray.wait(timeout=10) == -signal.SIGTERM
        assert other.poll() is None
        assert psutil.pid_exists(recorded)
        assert local.adopt("web") == []
    finally:
        for process in (stray, other):
            process.kill()
            process.wait(timeout=10)


def test_requests_never_fail_while_the_routing_changes(
    local: LocalTarget, deployment: DeploymentFactory, registry: Registry
) -> None:
    local.create(deployment("web"))
    [url] = observe(local, "web").endpoints
    rows = registry.data.head(1).to_dict(orient="records")
    versions: Counter[str] = Counter()
    failures: list[str] = []
    done = threading.Event()

    def send() -> None:  # sequential, as many as the rollout takes and at least 200
        with httpx.Client(base_url=url, timeout=10) as client:
            sent = 0
            while (sent < 200 or not done.is_set()) and sent < 5000:
                try:
                    response = client.post("/predict", json=rows)
                    if response.status_code != 200:
                        failures.append(f"{response.status_code}: {response.text}")
                    versions[response.headers.get("x-slipway-model-version", "?")] += 1
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                sent += 1

    sender = threading.Thread(target=send)
    sender.start()
    try:
        local.load_challenger("web", registry.pins[2], 0.0)
        local.set_weight("web", 0.5)
        assert local.smoke("web", 2, 3) > 0
        local.promote("web")
    finally:
        done.set()
        sender.join(timeout=60)
    assert not sender.is_alive()
    assert failures == []
    assert versions["1"] > 0, versions
    assert versions["2"] > 0, versions
    assert observe(local, "web").champion == registry.pins[2]


def test_reconfigure_starts_new_replicas_first_and_rolls_for_batching(
    local: LocalTarget, deployment: DeploymentFactory, registry: Registry, target_home: Path
) -> None:
    local.create(deployment("web"))
    local.load_challenger("web", registry.pins[2], 0.2)
    before = observe(local, "web")

    # One more replica and new batching: replica 1 starts, then replica 0 is rolled.
    local.reconfigure(deployment("web", replicas=2, max_batch_size=8))
    rolled = ready(local, "web")
    assert rolled.replicas == 2
    assert pids(before)[0] not in pids(rolled)
    assert (rolled.challenger, rolled.weight) == (registry.pins[2], 0.2)  # same routing
    assert rolled.config != before.config
    local.reconfigure(deployment("web", replicas=2, max_batch_size=8))  # twice: no restart
    assert pids(local.observe("web")) == pids(rolled)  # type: ignore[arg-type]

    local.reconfigure(deployment("web", replicas=1, max_batch_size=8))
    assert ready(local, "web").replicas == 1
    assert [p.pid for p in marked_processes(target_home)] == pids(rolled)[:1]

    local.delete("web")
    assert marked_processes(target_home) == []
    assert not any(psutil.pid_exists(p) for p in pids(rolled))


def test_a_server_that_cannot_start_fails_create_with_its_log(
    local: LocalTarget, deployment: DeploymentFactory, registry: Registry, target_home: Path
) -> None:
    missing = ModelPin(name="no-such-model", version=1, digest=registry.pins[1].digest)
    broken = deployment("web").model_copy(
        update={"spec": deployment("web").spec.model_copy(update={"model": missing})}
    )
    with pytest.raises(ReplicaFailed, match=r"replica 0 .* exited while starting") as failure:
        local.create(broken)
    assert "no-such-model" in str(failure.value)  # the tail of the server's log
    assert local.observe("web") is None
    assert local.names() == []
    assert marked_processes(target_home) == []
