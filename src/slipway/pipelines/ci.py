"""CI for a Slipway project: the stages, the GitHub Actions workflow that runs them, a local run.

One list of :class:`Stage` is the source of truth. :func:`build_workflow` turns it into a GitHub
Actions workflow (a plain mapping, dumped with PyYAML, so the file is always valid YAML);
:func:`run_stages` runs the same commands on a laptop and stops at the first failure with that
command's exit code, so ``slipway ci run`` fails where and as CI would.

The workflow follows GitHub's hardening guidance: read-only ``permissions`` at the top, actions
pinned by full commit SHA, no ``${{ }}`` expression inside a ``run:`` script (values reach
scripts through ``env:``), secrets only through ``secrets.*``, a ``concurrency`` group and a
``timeout-minutes``.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import yaml

from slipway.core.errors import AlreadyExists, InvalidInput

WORKFLOW_PATH: Final = Path(".github/workflows/slipway.yml")
DEPLOY_FLAG: Final = "SLIPWAY_CI_DEPLOY"
PYTHON_VERSION: Final = "3.11"
TIMEOUT_MINUTES: Final = 30

# Full commit SHAs of the release tags in the comments; a tag can be moved, a commit cannot.
# Upgrade both together (Dependabot's "github-actions" ecosystem does so for SHA pins).
CHECKOUT: Final = ("actions/checkout", "11bd71901bbe5b1630ceea73d27597364c9af683", "v4.2.2")
SETUP_PYTHON: Final = ("actions/setup-python", "a26af69be951a213d495a4c3e4e4022e16d87065", "v5.6.0")

# Store locations come from repository secrets; an unset secret reaches the step as an empty
# string, which is not the same as unset for Slipway's settings, so scripts drop empty ones.
_STORE_SECRETS: Final = ("SLIPWAY_TRACKING_URI", "SLIPWAY_ARTIFACT_URI")
_DROP_EMPTY: Final = "".join(f'[ -n "${n}" ] || unset {n}\n' for n in _STORE_SECRETS)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TRUE = frozenset(("1", "true", "yes", "on"))
GATE_ENTRY: Final = "slipway.pipelines.gates:gate"
# Where the deploy step commits and whether it also applies: repository secret and variables.
_DEPLOY_ENV: Final = {
    "SLIPWAY_GITOPS_REPO": "${{ secrets.SLIPWAY_GITOPS_REPO }}",
    "SLIPWAY_ENV": "${{ vars.SLIPWAY_ENV || 'prod' }}",
    "SLIPWAY_DEPLOY_APPLY": "${{ vars.SLIPWAY_DEPLOY_APPLY || 'false' }}",
    "SLIPWAY_ACTOR": "${{ github.actor }}",
    "SLIPWAY_DEPLOY_REASON": (
        "gates passed in CI run ${{ github.run_id }} on ${{ github.sha }} (${{ github.ref_name }})"
    ),
}


class StageStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class Stage:
    """One CI stage: a command, run the same way by the workflow and by ``slipway ci run``.

    ``local`` is False for stages that only make sense on a fresh CI machine (installing);
    ``skip_reason`` set means the stage is shown but not run.
    """

    name: str
    title: str
    command: tuple[str, ...]
    local: bool = True
    skip_reason: str | None = None

    @property
    def script(self) -> str:
        return shlex.join(self.command)


@dataclass(frozen=True, slots=True)
class StageResult:
    stage: Stage
    status: StageStatus
    exit_code: int = 0
    note: str | None = None


@dataclass(slots=True)
class CiResult:
    """What :func:`run_stages` did; ``exit_code`` is the first failing stage's, else 0."""

    stages: list[StageResult] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return next((r.exit_code for r in self.stages if r.status is StageStatus.FAILED), 0)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def check_pipeline_name(pipeline: str) -> str:
    """A pipeline name as ``slipway run`` takes it; no spaces or shell characters."""
    if not _NAME.match(pipeline):
        raise InvalidInput(
            f"invalid pipeline name {pipeline!r}: use letters, digits and '_', '.', '-'"
        )
    return pipeline


def find_pipeline(root: Path) -> str:
    """The project's only pipeline (``pipelines/<name>.yaml``), for when none is named."""
    found = sorted(p.stem for p in (root / "pipelines").glob("*.y*ml"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise InvalidInput(f"no pipelines/<name>.yaml under {root}; name one with --pipeline")
    raise InvalidInput(
        f"several pipelines under {root} ({', '.join(found)}); pick one with --pipeline"
    )


def deploy_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """True when ``SLIPWAY_CI_DEPLOY`` is set to 1/true/yes/on."""
    value = (os.environ if environ is None else environ).get(DEPLOY_FLAG, "")
    return value.strip().lower() in _TRUE


def default_install(root: Path) -> tuple[str, ...]:
    """How CI installs the project: its own package (with a ``dev`` extra if it declares one),
    pinned by ``requirements/lock.txt`` when the project has one; else Slipway and pytest."""
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return ("python", "-m", "pip", "install", "slipway", "pytest")
    target = ".[dev]" if _declares_dev_extra(pyproject) else "."
    command = ["python", "-m", "pip", "install"]
    if (root / "requirements" / "lock.txt").is_file():
        command += ["-c", "requirements/lock.txt"]
    return (*command, "-e", target)


def _declares_dev_extra(pyproject: Path) -> bool:
    import tomllib

    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return False
    extras = data.get("project", {}).get("optional-dependencies", {})
    return isinstance(extras, dict) and "dev" in extras


def gate_model(root: Path, pipeline: str) -> str:
    """The model the pipeline's gate registers (its ``model_name``), else the pipeline name."""
    for path in (root / "pipelines" / f"{pipeline}.yaml", root / "pipelines" / f"{pipeline}.yml"):
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        for step in (doc or {}).get("steps", []) if isinstance(doc, dict) else []:
            params = step.get("params") if isinstance(step, dict) else None
            if step.get("entry") == GATE_ENTRY and isinstance(params, dict):
                name = params.get("model_name")
                if isinstance(name, str) and _NAME.match(name):
                    return name
    return pipeline


def deploy_command(model: str, deployment: str | None = None) -> tuple[str, ...]:
    """The deploy stage: commit a canary of the gate's ``challenger`` to the GitOps repository
    (and apply it when ``SLIPWAY_DEPLOY_APPLY`` is true; else the environment's agent does)."""
    return (
        "slipway",
        "deploy",
        deployment or model,
        "--model",
        f"models:/{model}@challenger",
        "--strategy",
        "canary",
    )


def default_tests(root: Path) -> tuple[str, ...] | None:
    """``pytest -q`` when the project has a ``tests`` directory, else no test stage."""
    return ("pytest", "-q") if (root / "tests").is_dir() else None


def stages(
    root: Path,
    pipeline: str,
    *,
    install: Sequence[str] | None = None,
    tests: Sequence[str] | None = None,
    deploy: bool = False,
    deployment: str | None = None,
) -> list[Stage]:
    """The CI stages of the project at ``root``, in order.

    ``install`` and ``tests`` default to :func:`default_install` and :func:`default_tests`;
    an empty ``tests`` leaves the test stage out. The pipeline stage runs the pipeline with
    its gates, which register the candidate. The deploy stage commits a canary of the
    candidate (see :func:`deploy_command`), skipped unless ``deploy``.
    """
    check_pipeline_name(pipeline)
    test_command = default_tests(root) if tests is None else tuple(tests)
    result = [
        Stage(
            "install",
            "Install",
            tuple(install) if install is not None else default_install(root),
            local=False,
        )
    ]
    if test_command:
        result.append(Stage("tests", "Run tests", test_command))
    result.append(
        Stage("pipeline", "Run pipeline, gates and register", ("slipway", "run", pipeline))
    )
    result.append(
        Stage(
            "deploy",
            "Deploy (GitOps commit)",
            deploy_command(gate_model(root, pipeline), deployment),
            skip_reason=None if deploy else f"{DEPLOY_FLAG} is off",
        )
    )
    return result


# --- The workflow -------------------------------------------------------------------------


def _uses(action: tuple[str, str, str]) -> str:
    name, sha, _ = action
    return f"{name}@{sha}"


def build_workflow(
    pipeline: str,
    stage_list: Sequence[Stage],
    *,
    python_version: str = PYTHON_VERSION,
    branches: Sequence[str] = ("main",),
) -> dict[str, Any]:
    """The GitHub Actions workflow running ``stage_list``, as a mapping ready for YAML."""
    check_pipeline_name(pipeline)
    steps: list[dict[str, Any]] = [
        {
            "name": "Check out",
            "uses": _uses(CHECKOUT),
            # The job needs no git push; don't leave the token in .git/config for later steps.
            "with": {"persist-credentials": False},
        },
        {
            "name": "Set up Python",
            "uses": _uses(SETUP_PYTHON),
            "with": {"python-version": python_version},
        },
    ]
    for stage in stage_list:
        step: dict[str, Any] = {"name": stage.title, "id": stage.name}
        if stage.name == "pipeline":
            step["env"] = {n: f"${{{{ secrets.{n} }}}}" for n in _STORE_SECRETS}
            step["run"] = _DROP_EMPTY + stage.script
        elif stage.name == "deploy":
            # Step-level `if:` may use expressions; only `run:` scripts must not.
            step["if"] = f"env.{DEPLOY_FLAG} == 'true'"
            step["env"] = {
                **{n: f"${{{{ secrets.{n} }}}}" for n in _STORE_SECRETS},
                **_DEPLOY_ENV,
            }
            step["run"] = _DROP_EMPTY + stage.script
        else:
            step["run"] = stage.script
        steps.append(step)
    return {
        "name": "slipway",
        "on": {
            "push": {"branches": list(branches)},
            "pull_request": {"branches": list(branches)},
            "workflow_dispatch": {
                "inputs": {
                    "deploy": {
                        "description": "Commit a canary of the candidate after the gates pass.",
                        "type": "boolean",
                        "default": False,
                    }
                }
            },
        },
        "permissions": {"contents": "read"},
        "concurrency": {
            "group": "slipway-${{ github.workflow }}-${{ github.ref }}",
            "cancel-in-progress": True,
        },
        "env": {
            # On by a manual run's input or the repository variable; off otherwise.
            DEPLOY_FLAG: (
                f"${{{{ (inputs.deploy == true || vars.{DEPLOY_FLAG} == 'true') && 'true' "
                "|| 'false' }}"
            ),
            "PYTHONUNBUFFERED": "1",
        },
        "jobs": {
            "pipeline": {
                "name": f"pipeline {pipeline}",
                "runs-on": "ubuntu-latest",
                "timeout-minutes": TIMEOUT_MINUTES,
                "steps": steps,
            }
        },
    }


class _WorkflowDumper(yaml.SafeDumper):
    """Block scalars for multi-line strings: scripts read as they run."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_WorkflowDumper.add_representer(str, _str)


def render_workflow(workflow: Mapping[str, Any]) -> str:
    """The workflow as YAML, each pinned ``uses:`` followed by its release tag as a comment."""
    body = yaml.dump(dict(workflow), Dumper=_WorkflowDumper, sort_keys=False, width=1000)
    # PyYAML writes no comments; a `uses:` value is a plain scalar ending its line, so the tag
    # can follow it, as Dependabot and people expect to read it.
    for name, sha, tag in (CHECKOUT, SETUP_PYTHON):
        body = body.replace(f"uses: {name}@{sha}\n", f"uses: {name}@{sha}  # {tag}\n")
    return "# Generated by `slipway ci init` (docs/ci.md); regenerate with --force.\n" + body


def write_workflow(
    root: Path,
    pipeline: str,
    *,
    force: bool = False,
    install: Sequence[str] | None = None,
    tests: Sequence[str] | None = None,
) -> Path:
    """Write ``.github/workflows/slipway.yml`` under ``root``; never overwrite unless ``force``."""
    target = root / WORKFLOW_PATH
    if target.exists() and not force:
        raise AlreadyExists(f"{target} already exists; pass --force to overwrite it")
    stage_list = stages(root, pipeline, install=install, tests=tests, deploy=True)
    text = render_workflow(build_workflow(pipeline, stage_list))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target


# --- Running the stages locally -----------------------------------------------------------

StageRunner = Callable[[Stage], int]
OnStage = Callable[[StageResult | Stage], None]


def run_stages(
    stage_list: Sequence[Stage],
    *,
    cwd: Path,
    on_stage: OnStage | None = None,
    runner: StageRunner | None = None,
) -> CiResult:
    """Run each local stage in order; stop at the first that fails.

    ``on_stage`` gets each :class:`Stage` as it starts and its :class:`StageResult` when it
    ends. ``runner`` runs one stage's command and returns its exit code (a subprocess in
    ``cwd`` by default).
    """

    def in_subprocess(stage: Stage) -> int:
        try:
            return subprocess.run(_local(stage.command), cwd=cwd, check=False).returncode
        except FileNotFoundError:
            return 127  # what a shell answers for a missing command, as CI would see it

    execute = runner or in_subprocess
    result = CiResult()
    for stage in stage_list:
        if not stage.local or stage.skip_reason is not None:
            note = stage.skip_reason or "CI only; this environment is already installed"
            outcome = StageResult(stage, StageStatus.SKIPPED, note=note)
        else:
            if on_stage is not None:
                on_stage(stage)
            code = execute(stage)
            status = StageStatus.PASSED if code == 0 else StageStatus.FAILED
            outcome = StageResult(stage, status, exit_code=code)
        result.stages.append(outcome)
        if on_stage is not None:
            on_stage(outcome)
        if outcome.status is StageStatus.FAILED:
            break
    return result


def _local(command: Sequence[str]) -> list[str]:
    """Prefer the running environment's own scripts (``slipway``, ``pytest``): a virtual
    environment need not be activated for ``slipway ci run`` to use its tools."""
    own = Path(sys.executable).parent / command[0]
    return [str(own), *command[1:]] if own.is_file() else list(command)
