"""Checks on a pipeline before anything runs, and the order its steps can run in.

Every problem is reported at once, each naming its step and the file, as one
:class:`InvalidInput`: unknown step or output referenced, a missing input file, duplicate step
or output names, unknown params, cycles, and entry points that do not import or are not
callable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from slipway.core.errors import InvalidInput
from slipway.pipelines.entrypoints import resolve_entry
from slipway.pipelines.spec import (
    STEP_REF,
    PipelineSpec,
    StepSpec,
    is_path_input,
    param_references,
)


@dataclass(frozen=True, slots=True)
class CheckedPipeline:
    """A pipeline whose DAG holds: steps in a runnable order, each with its upstream steps."""

    spec: PipelineSpec
    source: str
    order: tuple[str, ...]
    upstream: dict[str, frozenset[str]]
    base_dir: Path
    """Where relative input paths are resolved."""

    def downstream(self, name: str) -> set[str]:
        """Every step that depends on ``name``, directly or not."""
        found: set[str] = set()
        frontier = {name}
        while frontier:
            current = frontier.pop()
            for step, deps in self.upstream.items():
                if current in deps and step not in found:
                    found.add(step)
                    frontier.add(step)
        return found


def check_pipeline(spec: PipelineSpec, source: str, base_dir: Path) -> CheckedPipeline:
    """Validate the DAG and the entry points; raise one InvalidInput listing every problem."""
    problems: list[str] = []
    names = [s.name for s in spec.steps]
    steps: dict[str, StepSpec] = {}
    for step in spec.steps:
        if step.name in steps:
            problems.append(f"step {step.name!r}: duplicate step name")
        steps[step.name] = step
    upstream: dict[str, set[str]] = {name: set() for name in names}
    for step in spec.steps:
        problems.extend(_check_outputs(step))
        problems.extend(_check_params(step, spec))
        for local, reference in step.inputs.items():
            problem = _check_input(step, local, reference, steps, base_dir)
            if problem:
                problems.append(problem)
            elif not is_path_input(reference):
                upstream[step.name].add(reference.split(".", 1)[0])
        problem = _check_entry(step)
        if problem:
            problems.append(problem)
    cycle = _find_cycle(names, upstream)
    if cycle:
        problems.append(f"cycle between steps: {' -> '.join(cycle)}")
    if problems:
        raise InvalidInput(f"{source}: pipeline {spec.name!r}: " + "; ".join(problems))
    return CheckedPipeline(
        spec=spec,
        source=source,
        order=_topological(names, upstream),
        upstream={k: frozenset(v) for k, v in upstream.items()},
        base_dir=base_dir,
    )


def _check_outputs(step: StepSpec) -> list[str]:
    seen: set[str] = set()
    problems = []
    for output in step.outputs:
        if output in seen:
            problems.append(f"step {step.name!r}: duplicate output name {output!r}")
        seen.add(output)
    return problems


def _check_params(step: StepSpec, spec: PipelineSpec) -> list[str]:
    unknown = set().union(*(param_references(v) for v in step.params.values())) - set(spec.params)
    return [
        f"step {step.name!r}: param refers to unknown pipeline param {name!r}"
        for name in sorted(unknown)
    ]


def _check_input(
    step: StepSpec, local: str, reference: str, steps: dict[str, StepSpec], base_dir: Path
) -> str | None:
    where = f"step {step.name!r} input {local!r}"
    if is_path_input(reference):
        if not (base_dir / reference).exists():
            return f"{where}: no such file or directory {reference!r} (in {base_dir})"
        return None
    match = STEP_REF.match(reference)
    if not match:
        return (
            f"{where}: {reference!r} is neither '<step>.<output>' nor a path "
            "(a path contains '/': write ./data.csv)"
        )
    source_step, output = match.groups()
    if source_step not in steps:
        return (
            f"{where}: unknown step {source_step!r} in {reference!r} "
            "(for a file in this directory, write ./" + reference + ")"
        )
    if source_step == step.name:
        return f"{where}: a step cannot consume its own output {reference!r}"
    if output not in steps[source_step].outputs:
        declared = ", ".join(steps[source_step].outputs) or "none"
        return f"{where}: step {source_step!r} has no output {output!r} (declared: {declared})"
    return None


def _check_entry(step: StepSpec) -> str | None:
    try:
        resolve_entry(step.entry)
    except InvalidInput as exc:
        return f"step {step.name!r}: {exc}"
    return None


def _find_cycle(names: list[str], upstream: dict[str, set[str]]) -> list[str] | None:
    # Iterative colouring DFS; the grey path when a grey node is met again is the cycle.
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(names, white)
    for start in names:
        if colour[start] != white:
            continue
        path: list[str] = [start]
        stack = [iter(sorted(upstream.get(start, ())))]
        colour[start] = grey
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                colour[path.pop()] = black
                stack.pop()
                continue
            if colour.get(nxt) == grey:
                cycle = [*path[path.index(nxt) :], nxt]
                return list(reversed(cycle))
            if colour.get(nxt) == white:
                colour[nxt] = grey
                path.append(nxt)
                stack.append(iter(sorted(upstream.get(nxt, ()))))
    return None


def _topological(names: list[str], upstream: dict[str, set[str]]) -> tuple[str, ...]:
    order: list[str] = []
    placed: set[str] = set()
    while len(order) < len(names):
        for name in names:
            if name not in placed and upstream[name] <= placed:
                order.append(name)
                placed.add(name)
    return tuple(order)
