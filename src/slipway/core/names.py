"""Validation of the names users choose; one rule per kind of name."""

from __future__ import annotations

import re

from slipway.core.errors import InvalidInput

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,254}$")
_KEY = re.compile(r"^[A-Za-z0-9_.\-/ :]{1,250}$")
_ALIAS = re.compile(r"^[a-z][a-z0-9_\-]{0,62}$")
_RESERVED_ALIASES = {"latest"}


def check_name(kind: str, name: object) -> str:
    """Model and experiment names: letters, digits, ``_ . -``; no slashes (they end up in URIs)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInput(
            f"invalid {kind} name {name!r}: use 1-255 letters, digits, '_', '.', '-', "
            "starting with a letter or digit"
        )
    return name


def check_key(kind: str, key: object) -> str:
    """Param, metric and tag keys."""
    if not isinstance(key, str) or not _KEY.match(key) or ".." in key.split("/"):
        raise InvalidInput(
            f"invalid {kind} key {key!r}: use 1-250 letters, digits, spaces or '_ . - / :'"
        )
    return key


def check_alias(alias: object) -> str:
    if not isinstance(alias, str) or not _ALIAS.match(alias):
        raise InvalidInput(
            f"invalid alias {alias!r}: use a lowercase letter, then lowercase letters, "
            "digits, '_' or '-' (at most 63)"
        )
    if alias in _RESERVED_ALIASES:
        raise InvalidInput(f"alias {alias!r} is reserved")
    return alias


def check_relative_path(path: object) -> str:
    """An artifact name inside a run or model: relative, no traversal, forward slashes."""
    if not isinstance(path, str) or not path or len(path) > 1024:
        raise InvalidInput(f"invalid artifact path {path!r}: must be a non-empty string")
    if "\\" in path or "\x00" in path:
        raise InvalidInput(f"invalid artifact path {path!r}: backslashes and NUL are not allowed")
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        raise InvalidInput(f"invalid artifact path {path!r}: must be relative")
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise InvalidInput(
            f"invalid artifact path {path!r}: empty, '.' or '..' segments are not allowed"
        )
    return path
