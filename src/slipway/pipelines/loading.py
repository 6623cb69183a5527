"""Finding and reading pipeline files: ``pipelines/<name>.yaml``, ``slipway.yaml`` or a path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from slipway.core.errors import InvalidInput, NotFound
from slipway.pipelines.spec import PipelineSpec, parse_pipeline

PROJECT_FILE = "slipway.yaml"
PIPELINES_DIR = "pipelines"


@dataclass(frozen=True, slots=True)
class PipelineSource:
    spec: PipelineSpec
    source: str
    """The file it came from, or ``<python>`` for a pipeline built in code."""


def load_pipeline(reference: str | Path, project_dir: Path | None = None) -> PipelineSource:
    """Read a pipeline by file path or by name.

    A name is looked up as ``<project_dir>/pipelines/<name>.yaml`` (or ``.yml``), then among
    the ``pipelines:`` of ``<project_dir>/slipway.yaml``.
    """
    base = project_dir or Path.cwd()
    path = Path(reference)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise NotFound(f"no pipeline file {path}")
        return _from_file(path, name=None)
    name = str(reference)
    for suffix in (".yaml", ".yml"):
        candidate = base / PIPELINES_DIR / f"{name}{suffix}"
        if candidate.is_file():
            return _from_file(candidate, name=name)
    project = base / PROJECT_FILE
    if project.is_file():
        return _from_file(project, name=name)
    raise NotFound(
        f"no pipeline {name!r}: looked for {PIPELINES_DIR}/{name}.yaml and {PROJECT_FILE} in {base}"
    )


def _from_file(path: Path, name: str | None) -> PipelineSource:
    source = str(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidInput(f"{source}: expected a mapping with name, params and steps")
    if "pipelines" in doc:
        # The project file: other top-level keys belong to other features (CI, gates).
        return _pick(doc["pipelines"], name, source)
    spec = parse_pipeline(doc, source)
    if name is not None and spec.name != name:
        raise InvalidInput(f"{source}: declares pipeline {spec.name!r}, expected {name!r}")
    return PipelineSource(spec, source)


def _pick(entries: object, name: str | None, source: str) -> PipelineSource:
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise InvalidInput(f"{source}: 'pipelines' must be a list of pipelines")
    names = [e.get("name") for e in entries]
    if name is None:
        if len(entries) != 1:
            raise InvalidInput(
                f"{source} declares {len(entries)} pipelines: run one by name "
                f"({', '.join(map(str, names))})"
            )
        return PipelineSource(parse_pipeline(entries[0], source), source)
    matches = [e for e in entries if e.get("name") == name]
    if not matches:
        raise NotFound(
            f"{source} declares no pipeline {name!r} (declared: {', '.join(map(str, names))})"
        )
    if len(matches) > 1:
        raise InvalidInput(f"{source} declares pipeline {name!r} more than once")
    return PipelineSource(parse_pipeline(matches[0], source), source)
