"""Whether a candidate accepts every request its champion accepted."""

from __future__ import annotations

import numpy as np

from slipway.flavors import Signature
from slipway.flavors.dtypes import FLOATS, INTS

_WIDER_SOURCES = {"datetime64": ("datetime64", "string"), "string": ("string",)}


def breaking_changes(champion: Signature, candidate: Signature) -> list[str]:
    """What the candidate would refuse that the champion took; empty when compatible.

    Requests are held to the signature's exact set of fields, so an added field breaks callers
    as much as a removed one. A dtype may widen (int32 to int64, any number to a float), never
    narrow or change kind.
    """
    old, new = champion.inputs, candidate.inputs
    if old.kind != new.kind:
        return [f"input kind changed from {old.kind} to {new.kind}"]
    problems = []
    new_fields = {f.name: f for f in new.fields}
    for field in old.fields:
        match = new_fields.get(field.name)
        if match is None:
            problems.append(f"field {field.name!r} removed")
            continue
        if not dtype_accepts(match.dtype, field.dtype):
            problems.append(f"field {field.name!r}: {field.dtype} -> {match.dtype}")
        if len(match.shape) != len(field.shape) or any(
            want not in (-1, got) for want, got in zip(match.shape, field.shape, strict=False)
        ):
            problems.append(
                f"field {field.name!r}: shape {list(field.shape)} -> {list(match.shape)}"
            )
    added = [f.name for f in new.fields if f.name not in {g.name for g in old.fields}]
    problems.extend(f"field {name!r} added (champion requests lack it)" for name in added)
    return problems


def dtype_accepts(new: str, old: str) -> bool:
    """True when every value valid as ``old`` is valid as ``new``."""
    if new == old:
        return True
    if new in FLOATS:
        return old in INTS or (old in FLOATS and np.dtype(new).itemsize >= np.dtype(old).itemsize)
    if new in INTS and old in INTS:
        lo, hi = np.iinfo(new), np.iinfo(old)
        return bool(lo.min <= hi.min and lo.max >= hi.max)
    return old in _WIDER_SOURCES.get(new, ())
