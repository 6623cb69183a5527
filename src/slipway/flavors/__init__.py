"""Model formats behind one small contract: save, load, predict, and a signature.

scikit-learn models are saved with skops (pickle only on request), ONNX models run on
onnxruntime, and Python code is referenced by import path. :func:`save_model` and
:func:`load_model` package any of them into the artifact store.
"""

from slipway.flavors.base import Flavor, LoadOptions, Predictor, flavor_for, get_flavor
from slipway.flavors.model import LoadedModel, SavedModel, load_model, save_model
from slipway.flavors.onnx import to_onnx
from slipway.flavors.python_function import PythonModel
from slipway.flavors.signature import Signature, check_input, infer_signature

__all__ = [
    "Flavor",
    "LoadOptions",
    "LoadedModel",
    "Predictor",
    "PythonModel",
    "SavedModel",
    "Signature",
    "check_input",
    "flavor_for",
    "get_flavor",
    "infer_signature",
    "load_model",
    "save_model",
    "to_onnx",
]
