"""The declared pipeline: pydantic models for a pipeline, its params and its steps.

A YAML file and the decorator API both produce a :class:`PipelineSpec`; everything after
(DAG checks, the cache, the runners) works on that one type.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, field_validator

from slipway.core.errors import InvalidInput
from slipway.core.names import check_key, check_name

IDENTIFIER = r"^[A-Za-z][A-Za-z0-9_\-]{0,99}$"
ENTRY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
PARAM_REF = re.compile(r"\$\{params\.([A-Za-z_][A-Za-z0-9_\-]*)\}")
STEP_REF = re.compile(r"^([A-Za-z_][A-Za-z0-9_\-]*)\.([A-Za-z_][A-Za-z0-9_\-]*)$")


class StepSpec(BaseModel):
    """One step: a Python function run with params, named input files and named outputs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=IDENTIFIER, description="Unique within the pipeline.")
    entry: str = Field(description="The step function, as ``package.module:function``.")
    params: dict[str, JsonValue] = Field(
        default_factory=dict,
        description="Values passed to the step; ``${params.NAME}`` takes a pipeline param.",
    )
    inputs: dict[str, str] = Field(
        default_factory=dict,
        description="Local name -> ``<step>.<output>``, or a path (anything with a '/').",
    )
    outputs: list[str] = Field(
        default_factory=list, description="Names of the files or directories the step writes."
    )

    @field_validator("entry")
    @classmethod
    def _entry_shape(cls, value: str) -> str:
        if not ENTRY.match(value):
            raise ValueError(f"{value!r} is not of the form 'package.module:function'")
        return value

    @field_validator("params")
    @classmethod
    def _param_keys(cls, value: dict[str, JsonValue]) -> dict[str, JsonValue]:
        return _check_param_keys(value)

    @field_validator("inputs")
    @classmethod
    def _input_names(cls, value: dict[str, str]) -> dict[str, str]:
        for local in value:
            if not re.match(IDENTIFIER, local):
                raise ValueError(
                    f"input name {local!r} must be a letter or '_', then [A-Za-z0-9_-]"
                )
        return value

    @field_validator("outputs")
    @classmethod
    def _output_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.match(IDENTIFIER, name):
                raise ValueError(
                    f"output name {name!r} must be a letter or '_', then [A-Za-z0-9_-]"
                )
        return value


class PipelineSpec(BaseModel):
    """A named DAG of steps with default params."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Also the name of the experiment its runs go to.")
    params: dict[str, JsonValue] = Field(default_factory=dict)
    steps: list[StepSpec] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        try:
            return check_name("pipeline", value)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None

    @field_validator("params")
    @classmethod
    def _param_keys(cls, value: dict[str, JsonValue]) -> dict[str, JsonValue]:
        return _check_param_keys(value)

    def step(self, name: str) -> StepSpec:
        for candidate in self.steps:
            if candidate.name == name:
                return candidate
        raise InvalidInput(f"pipeline {self.name!r} has no step {name!r}")


def _check_param_keys(value: dict[str, JsonValue]) -> dict[str, JsonValue]:
    for key in value:
        try:
            check_key("param", key)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None
    return value


def parse_pipeline(doc: object, source: str) -> PipelineSpec:
    """Validate a decoded document; errors name the ``source`` and the step."""
    try:
        return PipelineSpec.model_validate(doc)
    except ValidationError as exc:
        raise InvalidInput(f"{source}: {describe_errors(exc, doc)}") from None


def describe_errors(exc: ValidationError, doc: object) -> str:
    """One line per problem, with ``steps.<i>`` replaced by the step's name where it has one."""
    lines = []
    for error in exc.errors():
        loc = list(error["loc"])
        where = ".".join(str(part) for part in loc)
        if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
            step_name = _step_name(doc, loc[1])
            rest = ".".join(str(part) for part in loc[2:])
            where = f"step {step_name!r}" + (f" {rest}" if rest else "")
        lines.append(f"{where or 'pipeline'}: {error['msg']}")
    return "; ".join(lines)


def _step_name(doc: object, index: int) -> str:
    if isinstance(doc, dict):
        steps = doc.get("steps")
        if isinstance(steps, list) and index < len(steps) and isinstance(steps[index], dict):
            name = steps[index].get("name")
            if isinstance(name, str):
                return name
    return f"#{index + 1}"


def resolve_params(
    spec: PipelineSpec, overrides: dict[str, Any] | None = None
) -> dict[str, JsonValue]:
    """The pipeline's params: defaults, then ``overrides`` (unknown names are an error).

    Strings (as ``-p key=value`` gives them) are converted to the type of the default.
    """
    params: dict[str, JsonValue] = dict(spec.params)
    for key, value in (overrides or {}).items():
        if key not in spec.params:
            known = ", ".join(sorted(spec.params)) or "none"
            raise InvalidInput(f"pipeline {spec.name!r} has no param {key!r} (declared: {known})")
        params[key] = _coerce(key, value, spec.params[key])
    return params


def _coerce(key: str, value: Any, default: JsonValue) -> JsonValue:
    if not isinstance(value, str) or isinstance(default, str):
        return _check_json(key, value)
    try:
        if isinstance(default, bool):
            lowered = value.strip().lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return lowered in ("true", "1", "yes")
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        return _check_json(key, json.loads(value))
    except ValueError:
        kind = type(default).__name__ if default is not None else "JSON"
        raise InvalidInput(f"param {key!r}: {value!r} is not a valid {kind}") from None


def _check_json(key: str, value: Any) -> JsonValue:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"param {key!r}: {value!r} is not JSON-serialisable") from None
    return value  # type: ignore[no-any-return]


def substitute(value: JsonValue, params: dict[str, JsonValue], step: str) -> JsonValue:
    """Replace ``${params.NAME}``: a whole-string reference keeps the param's type."""
    if isinstance(value, str):
        whole = PARAM_REF.fullmatch(value)
        if whole:
            return _lookup(whole.group(1), params, step)
        return PARAM_REF.sub(lambda m: _as_text(_lookup(m.group(1), params, step)), value)
    if isinstance(value, list):
        return [substitute(item, params, step) for item in value]
    if isinstance(value, dict):
        return {k: substitute(v, params, step) for k, v in value.items()}
    return value


def param_references(value: JsonValue) -> set[str]:
    """Names of the pipeline params ``value`` refers to."""
    if isinstance(value, str):
        return set(PARAM_REF.findall(value))
    if isinstance(value, list):
        return set().union(*(param_references(v) for v in value)) if value else set()
    if isinstance(value, dict):
        return set().union(*(param_references(v) for v in value.values())) if value else set()
    return set()


def _lookup(name: str, params: dict[str, JsonValue], step: str) -> JsonValue:
    if name not in params:
        raise InvalidInput(f"step {step!r} refers to unknown pipeline param {name!r}")
    return params[name]


def _as_text(value: JsonValue) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def is_path_input(reference: str) -> bool:
    """An input is a file path when it contains a '/' (write ``./data.csv`` for a local file)."""
    return "/" in reference
