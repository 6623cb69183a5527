"""The ``detector`` flavor: a multi-label detector's TFLite files plus their settings.

Saved as one file per component (its original name) and metadata that lists each component's
:class:`ComponentSpec`, the label map and the defaults. Loading needs LiteRT and Pillow
(``pip install 'slipway[vision]'``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slipway.core.errors import InvalidInput
from slipway.core.names import check_relative_path
from slipway.flavors.base import LoadOptions, check_serialization
from slipway.flavors.detection.specs import DEFAULT_MAX_DETECTIONS, ComponentSpec
from slipway.flavors.tflite import TflitePredictor, check_tflite_bytes

if TYPE_CHECKING:
    from slipway.flavors.detection.detector import Detector

TASK = "object-detection"


@dataclass(frozen=True, slots=True)
class DetectorPackage:
    """The files and settings of a multi-label detector, ready for :func:`save_model`."""

    components: tuple[tuple[ComponentSpec, bytes], ...]
    max_detections: int = DEFAULT_MAX_DETECTIONS

    @property
    def labels(self) -> list[str]:
        """The classes it detects, in component order."""
        return list(dict.fromkeys(spec.label for spec, _ in self.components))


def label_map(specs: list[ComponentSpec]) -> list[dict[str, Any]]:
    """Class id, name and the component that produces it."""
    names = list(dict.fromkeys(s.label for s in specs))
    return [
        {"id": names.index(s.label), "name": s.label, "component": s.key, "file": s.file}
        for s in specs
    ]


class DetectorFlavor:
    """Multi-label detectors (:class:`DetectorPackage`)."""

    name = "detector"

    def accepts(self, model: object) -> bool:
        """True for a :class:`DetectorPackage`."""
        return isinstance(model, DetectorPackage)

    def save(
        self,
        model: object,
        directory: Path,
        *,
        input_example: Any | None,
        serialization: str | None = None,
    ) -> dict[str, Any]:
        """Write each component's TFLite file and the settings that decode its outputs."""
        check_serialization(self.name, serialization, ("tflite",))
        if not isinstance(model, DetectorPackage) or not model.components:
            raise InvalidInput("the detector flavor saves a DetectorPackage with components")
        from slipway.flavors.detection.detector import Component  # Pillow: only when used

        specs = [spec for spec, _ in model.components]
        if len({s.file for s in specs}) != len(specs):
            raise InvalidInput("each detector component needs its own model file")
        for spec, content in model.components:
            check_tflite_bytes(content, spec.file)
            Component(spec, TflitePredictor(content))  # refuses anchors that do not fit
            (directory / spec.file).write_bytes(content)
        return {
            "serialization": "tflite",
            "task": TASK,
            "components": [s.to_dict() for s in specs],
            "labels": model.labels,
            "label_map": label_map(specs),
            "max_detections": model.max_detections,
        }

    def load(self, directory: Path, metadata: dict[str, Any], options: LoadOptions) -> Detector:
        """Load every component's file and rebuild its anchors."""
        from slipway.flavors.detection.detector import Component, Detector

        raw_specs = metadata.get("components")
        if not isinstance(raw_specs, list) or not raw_specs:
            raise InvalidInput("detector metadata: 'components' must be a non-empty list")
        components = []
        for raw in raw_specs:
            spec = ComponentSpec.from_dict(raw)
            path = directory / check_relative_path(spec.file)
            if not path.is_file():
                raise InvalidInput(f"detector file {spec.file} is missing from the saved model")
            content = path.read_bytes()
            check_tflite_bytes(content, spec.file)
            components.append(Component(spec, TflitePredictor(content)))
        max_detections = metadata.get("max_detections", DEFAULT_MAX_DETECTIONS)
        if not isinstance(max_detections, int) or max_detections < 1:
            raise InvalidInput("detector metadata: 'max_detections' must be a positive integer")
        return Detector(components, max_detections=max_detections)
