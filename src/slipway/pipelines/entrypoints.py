"""Step entry points: ``package.module:function`` imported and checked to be callable.

Kept free of pydantic and the store, so a worker process imports little before the step runs.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from slipway.core.errors import InvalidInput


def resolve_entry(entry: str) -> Callable[..., Any]:
    """Import ``module:qualified.name`` and return the callable; InvalidInput otherwise."""
    module_name, _, qualname = entry.partition(":")
    module = import_entry_module(module_name, entry)
    target: Any = module
    for part in qualname.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise InvalidInput(
                f"entry point {entry!r}: module {module_name!r} has no attribute {qualname!r}"
            ) from None
    if not callable(target):
        raise InvalidInput(f"entry point {entry!r} is a {type(target).__name__}, not a function")
    return target  # type: ignore[no-any-return]


def import_entry_module(module_name: str, entry: str) -> ModuleType:
    if module_name == "__main__":
        return sys.modules["__main__"]
    try:
        importlib.invalidate_caches()
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise InvalidInput(f"entry point {entry!r}: cannot import {exc.name!r}") from None
    except Exception as exc:  # noqa: BLE001 - any error in user code at import time
        raise InvalidInput(
            f"entry point {entry!r}: importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from None
