"""What a step function receives: its params, input paths, output paths, a logger, metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from slipway.core.entities import Metric
from slipway.core.errors import InvalidInput
from slipway.core.names import check_key

if TYPE_CHECKING:
    from slipway.workspace import Workspace


@dataclass
class StepContext:
    """The one argument of a step function: ``def train(ctx: StepContext) -> None``.

    - ``ctx.params``: the step's params, ``${params.…}`` already substituted;
    - ``ctx.input(name)`` / ``ctx.inputs``: local paths of the inputs (verified copies);
    - ``ctx.output(name)``: the path to write the output ``name`` to, as a file or a directory;
    - ``ctx.logger``: a logger whose records go to the step's log artifact;
    - ``ctx.log_metric(key, value)``: a metric of the step's run;
    - ``ctx.workspace``: the workspace the pipeline runs against (built-in steps such as gates
      use it to read and write the registry), ``None`` when a step is called directly.
    """

    step: str
    run_id: str
    params: Mapping[str, object]
    inputs: Mapping[str, Path]
    output_dir: Path
    output_names: tuple[str, ...]
    logger: logging.Logger
    metrics: list[Metric] = field(default_factory=list)
    workspace: Workspace | None = None

    def input(self, name: str) -> Path:
        """The local path of input ``name``."""
        try:
            return self.inputs[name]
        except KeyError:
            declared = ", ".join(sorted(self.inputs)) or "none"
            raise InvalidInput(
                f"step {self.step!r} has no input {name!r} (declared: {declared})"
            ) from None

    def output(self, name: str) -> Path:
        """Where to write output ``name``: create a file or a directory at this path."""
        if name not in self.output_names:
            declared = ", ".join(self.output_names) or "none"
            raise InvalidInput(f"step {self.step!r} has no output {name!r} (declared: {declared})")
        return self.output_dir / name

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        """Record a metric point on the step's run (written when the step ends)."""
        check_key("metric", key)
        number = float(value)
        index = step if step is not None else sum(1 for m in self.metrics if m.key == key)
        self.metrics.append(Metric(key, number, int(time.time() * 1000), index))

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        for key, value in metrics.items():
            self.log_metric(key, value, step)
