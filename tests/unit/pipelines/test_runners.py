"""Choosing a runner by name, and the message when Ray is not installed."""

from __future__ import annotations

import sys

import pytest

from slipway.core.errors import InvalidInput
from slipway.pipelines.ray_runner import RayRunner, import_ray
from slipway.pipelines.runner import LocalRunner, make_runner


def test_runners_by_name() -> None:
    assert isinstance(make_runner("local", max_workers=2), LocalRunner)
    ray_runner = make_runner("ray", ray_address="ray://head:10001")
    assert isinstance(ray_runner, RayRunner)
    assert ray_runner.address == "ray://head:10001"
    ray_runner.close()  # never started: nothing to shut down, Ray not even imported


def test_unknown_runner_or_stray_ray_address() -> None:
    with pytest.raises(InvalidInput, match="unknown runner 'spark': expected one of local, ray"):
        make_runner("spark")
    with pytest.raises(InvalidInput, match="--ray-address needs the Ray runner"):
        make_runner("local", ray_address="auto")


def test_missing_ray_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(InvalidInput, match=r"pip install 'slipway\[ray\]'"):
        import_ray()
