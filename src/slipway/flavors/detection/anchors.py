"""SSD anchors, generated the way MediaPipe's ``SsdAnchorsCalculator`` does.

MediaPipe's detectors output one box regression and one score per anchor; the anchors are not
in the model file, so they are rebuilt here from the calculator's options (taken from each
model's graph configuration, see :mod:`slipway.flavors.detection.specs`). Each anchor is
``(x_center, y_center, width, height)`` in normalised input coordinates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class AnchorOptions:
    """The ``SsdAnchorsCalculatorOptions`` fields these detectors use (same defaults)."""

    input_size: tuple[int, int]
    """Model input (height, width)."""
    strides: tuple[int, ...]
    min_scale: float = 0.1484375
    max_scale: float = 0.75
    anchor_offset: float = 0.5
    aspect_ratios: tuple[float, ...] = (1.0,)
    interpolated_scale_aspect_ratio: float = 1.0
    fixed_anchor_size: bool = True

    @property
    def num_layers(self) -> int:
        return len(self.strides)


def _scale(options: AnchorOptions, index: int) -> float:
    if options.num_layers == 1:
        return (options.min_scale + options.max_scale) / 2
    step = (options.max_scale - options.min_scale) / (options.num_layers - 1)
    return options.min_scale + step * index


def _layer_sizes(options: AnchorOptions, first: int, last: int) -> list[tuple[float, float]]:
    """(width, height) of the anchors of every cell for the layers first..last (same stride)."""
    sizes = []
    for layer in range(first, last):
        scale = _scale(options, layer)
        for ratio in options.aspect_ratios:
            sizes.append((scale * math.sqrt(ratio), scale / math.sqrt(ratio)))
        if options.interpolated_scale_aspect_ratio > 0:
            following = 1.0 if layer == options.num_layers - 1 else _scale(options, layer + 1)
            interpolated = math.sqrt(scale * following)
            ratio = math.sqrt(options.interpolated_scale_aspect_ratio)
            sizes.append((interpolated * ratio, interpolated / ratio))
    return sizes


def _grid(
    options: AnchorOptions, stride: int, sizes: list[tuple[float, float]]
) -> np.ndarray[Any, Any]:
    rows = math.ceil(options.input_size[0] / stride)
    cols = math.ceil(options.input_size[1] / stride)
    y = (np.arange(rows, dtype=np.float32) + options.anchor_offset) / rows
    x = (np.arange(cols, dtype=np.float32) + options.anchor_offset) / cols
    per_cell = len(sizes)
    # Row-major over (y, x, anchor), as MediaPipe emits them.
    centers_y = np.repeat(y, cols * per_cell)
    centers_x = np.tile(np.repeat(x, per_cell), rows)
    if options.fixed_anchor_size:
        wh = np.ones((rows * cols * per_cell, 2), dtype=np.float32)
    else:
        wh = np.tile(np.asarray(sizes, dtype=np.float32), (rows * cols, 1))
    return np.column_stack([centers_x, centers_y, wh]).astype(np.float32)


def generate_anchors(options: AnchorOptions) -> np.ndarray[Any, Any]:
    """All anchors as an (N, 4) float32 array of (x_center, y_center, width, height)."""
    layers = []
    layer = 0
    while layer < options.num_layers:
        last = layer
        while last < options.num_layers and options.strides[last] == options.strides[layer]:
            last += 1
        layers.append(_grid(options, options.strides[layer], _layer_sizes(options, layer, last)))
        layer = last
    return np.concatenate(layers)
