"""TFLite models, run with LiteRT (``ai-edge-litert``) on the CPU.

LiteRT is an optional extra (``pip install 'slipway[vision]'``), imported only when a TFLite
model is saved or loaded. A LiteRT interpreter is not thread-safe, so every thread that
predicts gets its own interpreter over the same model bytes (the server predicts on one
thread per model version, so that is one interpreter in practice).
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from slipway.core.errors import InvalidInput, SignatureMismatch
from slipway.core.names import check_relative_path
from slipway.flavors.base import LoadOptions, check_serialization, metadata_str

_FILE = "model.tflite"
_INSTALL = "pip install 'slipway[vision]'"
_MAGIC = b"TFL3"  # the FlatBuffer file identifier at offset 4


def require_litert() -> ModuleType:
    """LiteRT's interpreter module, or InvalidInput saying how to install it."""
    try:
        return importlib.import_module("ai_edge_litert.interpreter")
    except ImportError:
        raise InvalidInput(f"TFLite support needs the ai-edge-litert package: {_INSTALL}") from None


def check_tflite_bytes(content: bytes, what: str) -> None:
    """Refuse bytes that are not a TFLite FlatBuffer (checked by its file identifier)."""
    if len(content) < 8 or content[4:8] != _MAGIC:
        raise InvalidInput(f"{what} is not a TFLite model (no 'TFL3' file identifier)")


@dataclass(frozen=True, slots=True)
class TfliteModel:
    """A ``.tflite`` file's bytes, ready to be saved with the ``tflite`` flavor."""

    content: bytes

    @classmethod
    def from_file(cls, path: Path | str) -> TfliteModel:
        """Read a ``.tflite`` file; anything else is refused."""
        content = Path(path).read_bytes()
        check_tflite_bytes(content, str(path))
        return cls(content)


@dataclass(frozen=True, slots=True)
class TensorDetail:
    """One input or output tensor as the interpreter describes it (batch axis first)."""

    name: str
    index: int
    shape: tuple[int, ...]
    dtype: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


def _details(raw: list[dict[str, Any]]) -> list[TensorDetail]:
    return [
        TensorDetail(
            str(d["name"]), int(d["index"]), tuple(int(n) for n in d["shape"]), d["dtype"].__name__
        )
        for d in raw
    ]


class TflitePredictor:
    """A TFLite model with one LiteRT interpreter per predicting thread.

    ``predict`` takes one array (single-input models) or a dict of arrays by input name; the
    first axis is the batch. A batch size other than the model's is applied by resizing the
    input tensors (each thread keeps its interpreter at the last size it ran). It returns the
    single output's array, or a dict of output name to array when there are several.
    """

    def __init__(self, content: bytes, *, num_threads: int = 1) -> None:
        self._content = content
        self._num_threads = num_threads
        self._local = threading.local()
        probe = self._interpreter()
        self.inputs = _details(probe.get_input_details())
        self.outputs = _details(probe.get_output_details())
        self.batchable: bool | None = None
        """Whether one invoke can run a whole batch; None until a batch has been tried."""

    def _interpreter(self) -> Any:
        interpreter = getattr(self._local, "interpreter", None)
        if interpreter is None:
            litert = require_litert()
            try:
                interpreter = litert.Interpreter(
                    model_content=self._content, num_threads=self._num_threads
                )
                interpreter.allocate_tensors()
            except (ValueError, RuntimeError) as exc:
                raise InvalidInput(f"LiteRT cannot load the model: {exc}") from None
            self._local.interpreter = interpreter
            self._local.batch = None
        return interpreter

    def run(self, feed: dict[str, np.ndarray[Any, Any]]) -> dict[str, np.ndarray[Any, Any]]:
        """Invoke the model on arrays by input name (batch axis first); outputs by name.

        A batch is run as one invoke when the model follows a resized batch axis. Models that
        reshape to a fixed leading 1 inside the graph (most SSD detectors) would mix the
        images of a batch together; for them every item is invoked on its own.
        """
        batch = next(iter(feed.values())).shape[0]
        if batch == 0:
            raise InvalidInput("nothing to predict: the batch is empty")
        if batch > 1 and self.batchable is not False:
            outputs = self._invoke(feed, batch)
            self.batchable = all(v.shape[:1] == (batch,) for v in outputs.values())
            if self.batchable:
                return outputs
        if batch == 1:
            return self._invoke(feed, 1)
        items = [self._invoke({k: v[i : i + 1] for k, v in feed.items()}, 1) for i in range(batch)]
        return {d.name: np.concatenate([item[d.name] for item in items]) for d in self.outputs}

    def _invoke(
        self, feed: dict[str, np.ndarray[Any, Any]], batch: int
    ) -> dict[str, np.ndarray[Any, Any]]:
        interpreter = self._interpreter()
        if batch != self._local.batch:
            for detail in self.inputs:
                interpreter.resize_tensor_input(detail.index, [batch, *detail.shape[1:]])
            interpreter.allocate_tensors()
            self._local.batch = batch
        for detail in self.inputs:
            interpreter.set_tensor(detail.index, feed[detail.name])
        interpreter.invoke()
        return {d.name: np.array(interpreter.get_tensor(d.index)) for d in self.outputs}

    def predict(self, data: Any) -> Any:
        """Run the model on ``data`` (an array, or a dict of arrays by input name)."""
        outputs = self.run(self._feed(data))
        if len(outputs) == 1:
            return next(iter(outputs.values()))
        return outputs

    def _feed(self, data: Any) -> dict[str, np.ndarray[Any, Any]]:
        names = [d.name for d in self.inputs]
        if isinstance(data, dict):
            given = {str(k): v for k, v in data.items()}
        elif len(names) == 1:
            given = {names[0]: data}
        else:
            raise SignatureMismatch("input", f"the model takes inputs {', '.join(names)}")
        if set(given) != set(names):
            raise SignatureMismatch(
                "input", f"expected inputs {', '.join(names)}, got {', '.join(sorted(given))}"
            )
        feed = {}
        for detail in self.inputs:
            array = np.asarray(given[detail.name])
            if array.ndim != len(detail.shape) or array.shape[1:] != detail.shape[1:]:
                raise SignatureMismatch(
                    detail.name,
                    f"expected shape [-1, {', '.join(map(str, detail.shape[1:]))}], "
                    f"got {list(array.shape)}",
                )
            feed[detail.name] = np.ascontiguousarray(array, dtype=detail.dtype)
        return feed


class TfliteFlavor:
    """Any ``.tflite`` model, wrapped as a :class:`TfliteModel`."""

    name = "tflite"

    def accepts(self, model: object) -> bool:
        """True for a :class:`TfliteModel`."""
        return isinstance(model, TfliteModel)

    def save(
        self,
        model: object,
        directory: Path,
        *,
        input_example: Any | None,
        serialization: str | None = None,
    ) -> dict[str, Any]:
        """Write the model as ``model.tflite``, with its tensor details in the metadata."""
        check_serialization(self.name, serialization, ("tflite",))
        if not isinstance(model, TfliteModel):
            raise InvalidInput(f"the tflite flavor saves TfliteModel, got {type(model)!r}")
        check_tflite_bytes(model.content, "the model")
        predictor = TflitePredictor(model.content)
        (directory / _FILE).write_bytes(model.content)
        return {
            "serialization": "tflite",
            "file": _FILE,
            "inputs": [d.to_dict() for d in predictor.inputs],
            "outputs": [d.to_dict() for d in predictor.outputs],
        }

    def load(
        self, directory: Path, metadata: dict[str, Any], options: LoadOptions
    ) -> TflitePredictor:
        """Read the file's bytes; interpreters are created per thread on first use."""
        file = check_relative_path(metadata_str(self.name, metadata, "file"))
        path = directory / file
        if not path.is_file():
            raise InvalidInput(f"TFLite model file {file} is missing from the saved model")
        content = path.read_bytes()
        check_tflite_bytes(content, file)
        return TflitePredictor(content)
