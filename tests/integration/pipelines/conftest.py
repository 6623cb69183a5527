"""A throwaway project: a step module (unique name, so each test imports its own) and data."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

STEP_MODULE = """
import json
import os
import time


def prepare(ctx):
    rows = ctx.input("raw").read_text().split()
    print("prepare: read", len(rows), "rows")
    ctx.output("data").write_text(json.dumps([int(r) * ctx.params["scale"] for r in rows]))


def train(ctx):
    data = json.loads(ctx.input("data").read_text())
    ctx.logger.info("training on %d rows", len(data))
    ctx.log_metric("total", float(sum(data)))
    model = ctx.output("model")
    model.mkdir()
    (model / "weights.json").write_text(json.dumps({"w": sum(data) / len(data)}))
    (model / "meta").mkdir()
    (model / "meta" / "pid.txt").write_text("worker")


def evaluate(ctx):
    weights = json.loads((ctx.input("model") / "weights.json").read_text())
    if os.environ.get("FAIL_EVALUATE") or ctx.params.get("fail"):
        raise RuntimeError("evaluation data missing")
    ctx.output("report").write_text(json.dumps(weights))


def slow(ctx):
    start = time.time()
    time.sleep(ctx.params["seconds"])
    ctx.output("times").write_text(json.dumps([start, time.time()]))
"""

PIPELINE = """
name: {name}
params: {{scale: 2, fail: false}}
steps:
  - name: prepare
    entry: {module}:prepare
    params: {{scale: "${{params.scale}}"}}
    inputs: {{raw: ./data/raw.txt}}
    outputs: [data]
  - name: train
    entry: {module}:train
    inputs: {{data: prepare.data}}
    outputs: [model]
  - name: evaluate
    entry: {module}:evaluate
    params: {{fail: "${{params.fail}}"}}
    inputs: {{model: train.model}}
    outputs: [report]
"""


@dataclass
class Project:
    root: Path
    module: str
    name: str

    @property
    def module_path(self) -> Path:
        return self.root / f"{self.module}.py"

    @property
    def pipeline_path(self) -> Path:
        return self.root / "pipelines" / f"{self.name}.yaml"

    def edit_module(self, old: str, new: str) -> None:
        text = self.module_path.read_text()
        assert old in text
        self.module_path.write_text(text.replace(old, new))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    (root / "pipelines").mkdir()
    module = f"steps_{uuid.uuid4().hex[:12]}"
    (root / f"{module}.py").write_text(STEP_MODULE)
    (root / "data" / "raw.txt").write_text("1 2 3 4\n")
    project = Project(root, module, "demo")
    project.pipeline_path.write_text(PIPELINE.format(name=project.name, module=module))
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.chdir(root)
    return project
