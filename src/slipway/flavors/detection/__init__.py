"""Object detection on top of the ``tflite`` flavor: MediaPipe's pre-trained SSD detectors
(face, hand, person) decoded in numpy and combined into one multi-label ``detector`` model.

Not COCO: these models find faces, hands (palms) and people, nothing else. Names are imported
on first use, so registering the flavor does not import Pillow or LiteRT.
"""

from slipway.core.lazy import lazy_exports

_DETECTOR = "slipway.flavors.detection.detector"
_IMAGE = "slipway.flavors.detection.limits"
_EXPORTS = {
    "DEFAULT_COMPONENTS": "slipway.flavors.detection.specs",
    "MEDIAPIPE_DETECTORS": "slipway.flavors.detection.specs",
    "ComponentSpec": "slipway.flavors.detection.specs",
    "TASK": "slipway.flavors.detection.flavor",
    "DetectorFlavor": "slipway.flavors.detection.flavor",
    "DetectorPackage": "slipway.flavors.detection.flavor",
    "Detection": _DETECTOR,
    "Detector": _DETECTOR,
    "ImageResult": _DETECTOR,
    "Request": _DETECTOR,
    "EmptyImage": _IMAGE,
    "ImageLimits": _IMAGE,
    "ImageTooLarge": _IMAGE,
    "InvalidImage": _IMAGE,
    "NotAnImage": _IMAGE,
    "TruncatedImage": _IMAGE,
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
