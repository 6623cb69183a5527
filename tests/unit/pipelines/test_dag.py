"""DAG checks before anything runs: every error names its step and the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from slipway.core.errors import InvalidInput
from slipway.pipelines import Pipeline, StepContext, step
from slipway.pipelines.dag import check_pipeline
from slipway.pipelines.spec import parse_pipeline
from tests.unit.pipelines import steps_for_tests

STEPS = "tests.unit.pipelines.steps_for_tests"


def _step(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "entry": f"{STEPS}:prepare", "outputs": ["data"], **fields}


def _check(steps: list[dict[str, Any]], tmp_path: Path, params: dict[str, Any] | None = None):  # type: ignore[no-untyped-def]
    spec = parse_pipeline({"name": "p", "params": params or {}, "steps": steps}, "p.yaml")
    return check_pipeline(spec, "p.yaml", tmp_path)


def test_valid_pipeline_orders_steps(tmp_path: Path) -> None:
    checked = _check(
        [
            _step("c", inputs={"x": "b.data", "y": "a.data"}),
            _step("b", inputs={"x": "a.data"}),
            _step("a"),
        ],
        tmp_path,
    )
    assert checked.order == ("a", "b", "c")
    assert checked.upstream["c"] == {"a", "b"}
    assert checked.downstream("a") == {"b", "c"}


def test_cycle_names_the_steps(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as err:
        _check(
            [
                _step("a", inputs={"x": "c.data"}),
                _step("b", inputs={"x": "a.data"}),
                _step("c", inputs={"x": "b.data"}),
                _step("d"),
            ],
            tmp_path,
        )
    message = str(err.value)
    assert message.startswith("p.yaml: pipeline 'p':")
    assert "cycle between steps" in message
    cycle = message.split("cycle between steps: ")[1].split(" -> ")
    assert set(cycle) == {"a", "b", "c"}
    assert cycle[0] == cycle[-1]
    assert "d" not in cycle


def test_unknown_step_in_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"step 'b' input 'x': unknown step 'nope'"):
        _check([_step("a"), _step("b", inputs={"x": "nope.data"})], tmp_path)


def test_a_bare_file_name_is_not_a_path(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("a\n")
    with pytest.raises(InvalidInput, match=r"write \./data\.csv"):
        _check([_step("a", inputs={"x": "data.csv"})], tmp_path)
    assert _check([_step("a", inputs={"x": "./data.csv"})], tmp_path).order == ("a",)


def test_unknown_output_in_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"step 'a' has no output 'model' \(declared: data\)"):
        _check([_step("a"), _step("b", inputs={"x": "a.model"})], tmp_path)


def test_missing_input_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"step 'a' input 'x': no such file or directory"):
        _check([_step("a", inputs={"x": "./missing.csv"})], tmp_path)


def test_own_output_as_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot consume its own output"):
        _check([_step("a", inputs={"x": "a.data"})], tmp_path)


def test_duplicate_output_name(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="step 'a': duplicate output name 'data'"):
        _check([_step("a", outputs=["data", "data"])], tmp_path)


def test_duplicate_step_name(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="step 'a': duplicate step name"):
        _check([_step("a"), _step("a")], tmp_path)


def test_unknown_param_reference(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="step 'a': param refers to unknown pipeline param 'n'"):
        _check([_step("a", params={"n": "${params.n}"})], tmp_path)


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("no_such_module_xyz:f", "cannot import 'no_such_module_xyz'"),
        (f"{STEPS}:missing", "has no attribute 'missing'"),
        (f"{STEPS}:NOT_A_FUNCTION", "is a int, not a function"),
    ],
)
def test_bad_entry_point(tmp_path: Path, entry: str, problem: str) -> None:
    with pytest.raises(InvalidInput) as err:
        _check([_step("a", entry=entry)], tmp_path)
    assert "step 'a': entry point" in str(err.value)
    assert problem in str(err.value)


def test_entry_module_failing_at_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "broken_step_module_q.py").write_text("raise RuntimeError('no config')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(InvalidInput, match="RuntimeError: no config"):
        _check([_step("a", entry="broken_step_module_q:f")], tmp_path)


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as err:
        _check([_step("a", outputs=["x", "x"]), _step("b", inputs={"i": "zz.data"})], tmp_path)
    assert "duplicate output name" in str(err.value)
    assert "unknown step 'zz'" in str(err.value)


def test_decorator_api_gives_the_same_spec(tmp_path: Path) -> None:
    built = Pipeline(
        "p", steps=[steps_for_tests.make_data, steps_for_tests.fit], params={"n": 2}
    ).to_spec()
    declared = parse_pipeline(
        {
            "name": "p",
            "params": {"n": 2},
            "steps": [
                {
                    "name": "make_data",
                    "entry": f"{STEPS}:make_data",
                    "params": {"n": "${params.n}"},
                    "outputs": ["data"],
                },
                {
                    "name": "fit",
                    "entry": f"{STEPS}:fit",
                    "inputs": {"data": "make_data.data"},
                    "outputs": ["model"],
                },
            ],
        },
        "p.yaml",
    )
    assert built == declared
    assert check_pipeline(built, "<python>", tmp_path).order == ("make_data", "fit")


def test_decorated_nested_function_is_refused() -> None:
    @step(outputs=["x"])
    def inner(ctx: StepContext) -> None:
        del ctx

    with pytest.raises(InvalidInput, match="define step functions at module level"):
        Pipeline("p", steps=[inner]).to_spec()
