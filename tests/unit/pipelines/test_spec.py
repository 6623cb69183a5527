"""Pipeline declaration: the pydantic schema, params and where pipeline files are found."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

from slipway.core.errors import InvalidInput, NotFound
from slipway.pipelines.loading import load_pipeline
from slipway.pipelines.spec import PipelineSpec, parse_pipeline, resolve_params, substitute

STEPS = "tests.unit.pipelines.steps_for_tests"
DOC = f"""
name: train
params: {{n: 3, rate: 0.5, flag: false, label: x}}
steps:
  - name: prepare
    entry: {STEPS}:prepare
    params: {{n: "${{params.n}}", text: "n=${{params.n}}"}}
    outputs: [data]
  - name: train
    entry: {STEPS}:train
    inputs: {{data: prepare.data}}
    outputs: [model]
"""


def test_yaml_file_by_name(tmp_path: Path) -> None:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "train.yaml").write_text(DOC)
    loaded = load_pipeline("train", tmp_path)
    assert loaded.spec.name == "train"
    assert [s.name for s in loaded.spec.steps] == ["prepare", "train"]
    assert loaded.source.endswith("train.yaml")


def test_project_file_holds_several_pipelines(tmp_path: Path) -> None:
    first = yaml.safe_load(DOC)
    second = {**first, "name": "other"}
    (tmp_path / "slipway.yaml").write_text(yaml.safe_dump({"pipelines": [first, second]}))
    assert load_pipeline("other", tmp_path).spec.name == "other"
    with pytest.raises(NotFound, match="no pipeline 'missing'"):
        load_pipeline("missing", tmp_path)
    with pytest.raises(InvalidInput, match="declares 2 pipelines"):
        load_pipeline(tmp_path / "slipway.yaml")


def test_unknown_pipeline_name(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"pipelines/nope\.yaml"):
        load_pipeline("nope", tmp_path)


def test_extra_keys_are_refused_naming_the_step(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(DOC.replace("outputs: [model]", "outputs: [model]\n    retries: 3"))
    with pytest.raises(InvalidInput, match=r"p\.yaml: step 'train' retries: Extra inputs"):
        load_pipeline(path)


def test_malformed_entry_and_names() -> None:
    doc = {"name": "p", "steps": [{"name": "s", "entry": "no_colon", "outputs": ["a b"]}]}
    with pytest.raises(InvalidInput) as err:
        parse_pipeline(doc, "p.yaml")
    assert "step 's' entry" in str(err.value)
    assert "output name 'a b'" in str(err.value)


def test_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("name: [unclosed")
    with pytest.raises(InvalidInput, match="not valid YAML"):
        load_pipeline(path)


def test_params_are_coerced_to_the_default_type() -> None:
    spec = PipelineSpec.model_validate(
        parse_pipeline(
            {
                "name": "p",
                "params": {"n": 3, "rate": 0.5, "flag": False, "label": "x", "cols": ["a"]},
                "steps": [{"name": "s", "entry": "m:f"}],
            },
            "p",
        )
    )
    params = resolve_params(
        spec, {"n": "10", "rate": "0.25", "flag": "true", "label": "7", "cols": '["b"]'}
    )
    assert params == {"n": 10, "rate": 0.25, "flag": True, "label": "7", "cols": ["b"]}
    with pytest.raises(InvalidInput, match="'n': 'ten' is not a valid int"):
        resolve_params(spec, {"n": "ten"})
    with pytest.raises(InvalidInput, match="no param 'other'"):
        resolve_params(spec, {"other": "1"})


def test_substitution_keeps_types_of_whole_references() -> None:
    params = {"n": 3, "names": ["a", "b"]}
    assert substitute("${params.n}", params, "s") == 3
    assert substitute("n=${params.n}", params, "s") == "n=3"
    assert substitute({"k": ["${params.names}"]}, params, "s") == {"k": [["a", "b"]]}
    with pytest.raises(InvalidInput, match="step 's' refers to unknown pipeline param 'x'"):
        substitute("${params.x}", params, "s")
