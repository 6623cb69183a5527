"""The flavor registry: picking a flavor by model type or by name."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier

from slipway.core.errors import InvalidInput
from slipway.flavors import flavor_for, get_flavor, to_onnx
from slipway.flavors.base import flavor_names
from tests.unit.flavors import sample_models


def test_flavor_is_picked_from_the_model_type(gbc: GradientBoostingClassifier) -> None:
    assert flavor_for(gbc).name == "sklearn"
    assert flavor_for(to_onnx(gbc, np.zeros((1, 30)))).name == "onnx"
    assert flavor_for(sample_models.row_sums).name == "python_function"
    model = sample_models.ThresholdModel(feature="f", threshold=1.0)
    assert flavor_for(model).name == "python_function"


@pytest.mark.parametrize("model", [object(), "a string", {"weights": [1, 2]}])
def test_an_unsupported_object_names_its_type_and_the_flavors(model: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        flavor_for(model)
    kind = type(model)
    assert f"{kind.__module__}.{kind.__qualname__}" in str(caught.value)
    for name in flavor_names():
        assert name in str(caught.value)


def test_flavors_are_found_by_name() -> None:
    assert flavor_names() == ("sklearn", "onnx", "python_function", "tflite", "detector")
    for name in flavor_names():
        assert get_flavor(name).name == name


def test_an_unknown_flavor_name_lists_the_valid_ones() -> None:
    with pytest.raises(InvalidInput, match="sklearn, onnx, python_function"):
        get_flavor("tensorflow")
