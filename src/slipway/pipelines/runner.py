"""Runners execute step invocations; the coordinator only ever calls ``submit``.

:class:`LocalRunner` starts one fresh Python process per step (``python -m
slipway.pipelines.worker``), at most one per core at a time. A fresh interpreter imports the
step's module as it is on disk now, needs no ``if __name__ == "__main__"`` guard in the
caller's script (as ``multiprocessing``'s spawn would), and exchanges only JSON files with the
coordinator. :class:`~slipway.pipelines.ray_runner.RayRunner` implements the same ``submit``
over Ray tasks that run this same worker; :func:`make_runner` picks one by name.
"""

from __future__ import annotations

import abc
import os
import subprocess
import sys
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Literal

from slipway.core.errors import InvalidInput
from slipway.pipelines.invocation import StepInvocation, StepOutcome

WORKER_MODULE = "slipway.pipelines.worker"
RunnerKind = Literal["local", "ray"]
RUNNER_KINDS: tuple[RunnerKind, ...] = ("local", "ray")


class Runner(abc.ABC):
    """Executes steps somewhere that sees the same workspace; results come back as futures."""

    @abc.abstractmethod
    def submit(self, invocation: StepInvocation) -> Future[StepOutcome]:
        """Start the step; the future's result is its outcome (a failed step is not raised)."""

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release workers; steps still queued are cancelled."""

    def __enter__(self) -> Runner:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class LocalRunner(Runner):
    """Each step in its own process on this machine, at most ``max_workers`` (≤ cores) at once."""

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = max_workers
        self._pool: ThreadPoolExecutor | None = None

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            cores = os.cpu_count() or 1
            workers = max(1, min(self.max_workers or cores, cores))
            self._pool = ThreadPoolExecutor(workers, thread_name_prefix="slipway-step")
        return self._pool

    def submit(self, invocation: StepInvocation) -> Future[StepOutcome]:
        return self._executor().submit(run_in_subprocess, invocation)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def make_runner(
    kind: str = "local", *, max_workers: int | None = None, ray_address: str | None = None
) -> Runner:
    """A runner by name: ``local`` (processes here) or ``ray`` (Ray tasks; Ray imported lazily)."""
    if kind == "local":
        if ray_address is not None:
            raise InvalidInput("--ray-address needs the Ray runner (--runner ray)")
        return LocalRunner(max_workers=max_workers)
    if kind == "ray":
        from slipway.pipelines.ray_runner import RayRunner

        return RayRunner(address=ray_address)
    raise InvalidInput(f"unknown runner {kind!r}: expected one of {', '.join(RUNNER_KINDS)}")


def run_in_subprocess(invocation: StepInvocation) -> StepOutcome:
    """Execute one step in a fresh interpreter and read back its outcome."""
    env = dict(os.environ)
    # The child sees what this process can import (tests and scripts extend sys.path).
    paths = [p for p in (*invocation.sys_path, *sys.path) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    with tempfile.TemporaryDirectory(prefix="slipway-invocation-") as tmp:
        request = Path(tmp) / "invocation.json"
        reply = Path(tmp) / "outcome.json"
        request.write_text(invocation.to_json(), encoding="utf-8")
        proc = subprocess.run(
            [sys.executable, "-m", WORKER_MODULE, str(request), str(reply)],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode == 0 and reply.is_file():
            return StepOutcome.from_json(reply.read_text(encoding="utf-8"))
    tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-5:]
    detail = " | ".join(tail) or "no output"
    return StepOutcome(
        step=invocation.step,
        run_id=invocation.run_id,
        ok=False,
        error=f"worker process exited with status {proc.returncode}: {detail}",
    )
