"""Executing one step inside a worker process.

The coordinator has already created the step's run (params, inputs, tags); the worker
materialises the inputs (verified), calls the step function with a :class:`StepContext` while
everything written to stdout/stderr (file descriptors 1 and 2, so subprocesses and C
extensions too) goes to the step's log, then stores the outputs and the log as artifacts,
writes the metrics and ends the run.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from slipway.core.entities import RunArtifact, RunStatus
from slipway.core.errors import SlipwayError
from slipway.pipelines.context import StepContext
from slipway.pipelines.entrypoints import resolve_entry
from slipway.pipelines.invocation import OutputRef, StepInvocation, StepOutcome
from slipway.pipelines.storage import materialize_ref, store_path
from slipway.workspace import Workspace

LOG_ARTIFACT = "logs/step.log"
OUTPUT_PREFIX = "outputs"

_workspaces: dict[tuple[str, str], Workspace] = {}
_lock = threading.Lock()


def _workspace(tracking_uri: str, artifact_uri: str) -> Workspace:
    # One per worker process and store: opening an engine per step would cost connections.
    with _lock:
        key = (tracking_uri, artifact_uri)
        if key not in _workspaces:
            _workspaces[key] = Workspace(tracking_uri, artifact_uri)
        return _workspaces[key]


def execute_step(invocation: StepInvocation) -> StepOutcome:
    """Run one step to completion; a failure of the step is reported, not raised."""
    for entry in reversed(invocation.sys_path):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    workspace = _workspace(invocation.tracking_uri, invocation.artifact_uri)
    with tempfile.TemporaryDirectory(prefix=f"slipway-step-{invocation.step}-") as tmp:
        work = Path(tmp)
        log_path = work / "step.log"
        context = StepContext(
            step=invocation.step,
            run_id=invocation.run_id,
            params=dict(invocation.params),
            inputs={},
            output_dir=work / "outputs",
            output_names=invocation.outputs,
            logger=logging.getLogger(f"slipway.step.{invocation.step}"),
            workspace=workspace,
        )
        context.output_dir.mkdir()
        error: str | None = None
        outputs: dict[str, OutputRef] = {}
        started = time.time()
        with _captured_output(log_path, context.logger):
            try:
                context.inputs = {
                    name: materialize_ref(workspace.artifacts, ref, work / "inputs" / name)
                    for name, ref in invocation.inputs.items()
                }
                function = resolve_entry(invocation.entry)
                context.logger.info("step %s: running %s", invocation.step, invocation.entry)
                function(context)
                ended = time.time()
                outputs = _store_outputs(workspace, context)
            except Exception as exc:  # noqa: BLE001 - any failure of user code is the step's
                ended = time.time()
                traceback.print_exc()
                error = _describe(exc)
        _record(workspace, invocation, context, outputs, log_path, error)
    return StepOutcome(
        step=invocation.step,
        run_id=invocation.run_id,
        ok=error is None,
        outputs=outputs,
        error=error,
        started_at=started,
        ended_at=ended,
    )


def _store_outputs(workspace: Workspace, context: StepContext) -> dict[str, OutputRef]:
    missing = [n for n in context.output_names if not context.output(n).exists()]
    if missing:
        raise _StepContractError(
            f"the step did not write its output(s) {', '.join(map(repr, missing))} "
            "(write each to ctx.output(name))"
        )
    return {
        name: store_path(workspace.artifacts, context.output(name)) for name in context.output_names
    }


class _StepContractError(SlipwayError):
    """The step returned but broke its contract (an output is missing)."""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, _StepContractError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _record(
    workspace: Workspace,
    invocation: StepInvocation,
    context: StepContext,
    outputs: dict[str, OutputRef],
    log_path: Path,
    error: str | None,
) -> None:
    runs = workspace.store.runs
    run_id = invocation.run_id
    try:
        if context.metrics:
            runs.log_batch(run_id, metrics=context.metrics)
        for name, ref in outputs.items():
            runs.add_artifact(
                run_id, RunArtifact(f"{OUTPUT_PREFIX}/{name}", ref.digest, ref.size, ref.kind)
            )
        log = workspace.artifacts.put_file(log_path)
        runs.add_artifact(run_id, RunArtifact(LOG_ARTIFACT, log.digest, log.size))
        if error is not None:
            runs.log_batch(run_id, tags={"slipway.pipeline.error": error[:4000]})
    finally:
        status = RunStatus.FINISHED if error is None else RunStatus.FAILED
        runs.set_terminated(run_id, status)


@contextmanager
def _captured_output(path: Path, logger: logging.Logger) -> Iterator[None]:
    """Send fds 1 and 2 (and ``logger``) to ``path``; restore them afterwards."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, log_fd):
            os.close(fd)
        logger.handlers = []


def main(argv: list[str] | None = None) -> int:
    """``python -m slipway.pipelines.worker INVOCATION.json OUTCOME.json``."""
    request, reply = argv if argv is not None else sys.argv[1:]
    invocation = StepInvocation.from_json(Path(request).read_text(encoding="utf-8"))
    outcome = execute_step(invocation)
    Path(reply).write_text(outcome.to_json(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
