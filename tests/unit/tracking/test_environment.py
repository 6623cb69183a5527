"""What a run records about where it ran: package list and git state."""

from __future__ import annotations

import importlib.metadata
import subprocess
from pathlib import Path

import pytest

from slipway.tracking import environment
from slipway.tracking.environment import git_state, installed_packages


def test_installed_packages_match_the_metadata_parser() -> None:
    # The fast header scan must list exactly what the email parser would.
    expected: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name and name.lower() not in expected:
            expected[name.lower()] = f"{name}=={dist.version}"
    lines = installed_packages().splitlines()
    assert lines[0].startswith("# python ")
    assert lines[1:] == sorted(expected.values(), key=str.lower)


class _FakeDist(importlib.metadata.Distribution):
    def __init__(self, text: str) -> None:
        self._text = text

    def read_text(self, filename: str) -> str | None:
        return self._text if filename == "METADATA" else None

    def locate_file(self, path: str | importlib.metadata.PackagePath) -> Path:
        raise NotImplementedError


@pytest.mark.parametrize(
    "text",
    [
        "Metadata-Version: 2.1\nName: Foo-Bar\nVersion: 1.2.3\n\nName: not-a-header\n",
        "Metadata-Version: 2.1\nName: Foo-Bar\nLicense: MIT\n  more license\nVersion: 1.2.3\n",
        "Metadata-Version: 2.1\nName: Foo-Bar\n  folded\nVersion: 1.2.3\n",
        "Metadata-Version: 2.1\r\nName: Foo-Bar\r\nVersion: 1.2.3\r\n\r\nbody\r\n",
        "Name:   spaced \nVersion: 1\n",
        "no headers at all",
    ],
)
def test_name_and_version_agree_with_the_email_parser(text: str) -> None:
    dist = _FakeDist(text)
    assert environment._name_and_version(dist) == (dist.metadata["Name"], dist.version)


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def test_git_state_reports_commit_dirty_flag_and_root(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "sub").mkdir(parents=True)
    _git(repo, "init", "-q")
    assert git_state(repo / "sub") is None  # no commit yet
    (repo / "train.py").write_text("print(1)\n")
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-q", "-m", "first")
    commit = _git(repo, "rev-parse", "HEAD")

    clean = git_state(repo / "sub")
    assert clean is not None
    assert (clean.commit, clean.dirty, Path(clean.root)) == (commit, False, repo.resolve())

    (repo / "untracked.txt").write_text("ignored\n")
    assert git_state(repo).dirty is False  # type: ignore[union-attr]
    (repo / "train.py").write_text("print(2)\n")
    assert git_state(repo).dirty is True  # type: ignore[union-attr]


def test_git_state_outside_a_repository_is_none(tmp_path: Path) -> None:
    assert git_state(tmp_path) is None
