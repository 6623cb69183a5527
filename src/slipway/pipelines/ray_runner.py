"""Steps as Ray tasks: ``slipway run --runner ray [--ray-address ADDR]``.

Each step is one Ray task. The task runs the same worker as :class:`LocalRunner` (``python -m
slipway.pipelines.worker``, a fresh interpreter on the Ray node, so a step module edited since
the last run is imported as it is now): the invocation goes in as JSON, the outcome comes back
as JSON, and the outputs travel through the artifact store. The coordinator keeps the
metadata and the step cache, so a pipeline gives the same results, and the same cache hits,
under either runner.

Without an address the runner starts a local Ray (one CPU per core, no dashboard) and shuts it
down when closed. With an address (``ray://host:10001``, ``host:6379`` or ``auto``) it
connects to that cluster, whose nodes must have ``slipway`` and the step modules installed and
reach the same tracking and artifact stores. Ray is imported only when a step is submitted.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import Future
from typing import Any

from slipway.core.errors import InvalidInput
from slipway.pipelines.invocation import StepInvocation, StepOutcome
from slipway.pipelines.runner import Runner, run_in_subprocess

INSTALL_HINT = "the Ray runner needs Ray: pip install 'slipway[ray]'"


def run_step_json(invocation_json: str) -> str:
    """The body of the Ray task: invocation JSON in, outcome JSON out (as the local worker)."""
    invocation = StepInvocation.from_json(invocation_json)
    return run_in_subprocess(invocation).to_json()


def import_ray() -> Any:
    """``ray``, or InvalidInput telling how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise InvalidInput(INSTALL_HINT) from exc
    return ray


class RayRunner(Runner):
    """Each step a Ray task, on a local Ray this runner starts or on the cluster at ``address``."""

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self._ray: Any = None
        self._task: Any = None
        self._owns_ray = False
        self._lock = threading.Lock()

    def start(self) -> RayRunner:
        """Start (or connect to) Ray now rather than at the first step; returns the runner."""
        self._remote()
        return self

    @property
    def address_in_use(self) -> str | None:
        """The address of the Ray cluster in use (for other drivers to join), once started."""
        if self._ray is None:
            return None
        return str(self._ray.get_runtime_context().gcs_address)

    def _remote(self) -> Any:
        with self._lock:
            if self._task is None:
                ray = import_ray()
                if not ray.is_initialized():
                    self._init(ray)
                    self._owns_ray = True
                self._ray = ray
                # One CPU per step, as the local runner runs one step per core at most.
                self._task = ray.remote(num_cpus=1, max_retries=0)(run_step_json)
            return self._task

    def _init(self, ray: Any) -> None:
        options: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
        if self.address is None:
            options["num_cpus"] = self.num_cpus or os.cpu_count() or 1
            options["include_dashboard"] = False
        else:
            options["address"] = self.address
        try:
            ray.init(**options)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            where = f"the Ray cluster at {self.address!r}" if self.address else "a local Ray"
            raise InvalidInput(f"could not start or reach {where}: {exc}") from exc

    def submit(self, invocation: StepInvocation) -> Future[StepOutcome]:
        task = self._remote()
        ref = task.remote(invocation.to_json())
        ray_future: Future[str] = ref.future()
        result: Future[StepOutcome] = Future()
        result.set_running_or_notify_cancel()

        def relay(done: Future[str]) -> None:
            try:
                result.set_result(StepOutcome.from_json(done.result()))
            except Exception as exc:  # noqa: BLE001 - a lost task fails its step, via the future
                result.set_exception(exc)

        ray_future.add_done_callback(relay)
        return result

    def close(self) -> None:
        with self._lock:
            if self._owns_ray and self._ray is not None:
                self._ray.shutdown()
            self._ray = None
            self._task = None
            self._owns_ray = False
