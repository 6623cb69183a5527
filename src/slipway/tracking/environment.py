"""What a run records about where it ran: the git commit and the installed packages."""

from __future__ import annotations

import functools
import importlib.metadata
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class GitState:
    commit: str
    dirty: bool
    root: str


def source_directory() -> Path:
    """The folder of the script being run, or the working directory in a REPL/notebook."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return Path(path).resolve().parent if path else Path.cwd()


def git_state(path: Path) -> GitState | None:
    """Commit and dirty flag of the git work tree containing ``path``; None outside git."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=path, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        root = git("rev-parse", "--show-toplevel")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return GitState(commit, dirty, root)


@functools.cache
def installed_packages() -> str:
    """``name==version`` of every installed distribution, sorted, one a line.

    Read once per process: the set does not change under a running program, and listing it
    costs tens of milliseconds (where MLflow spends seconds inferring requirements).
    """
    seen: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name and name.lower() not in seen:
            seen[name.lower()] = f"{name}=={dist.version}"
    lines = sorted(seen.values(), key=str.lower)
    header = f"# python {sys.version.split()[0]} on {sys.platform}\n"
    return header + "\n".join(lines) + "\n"
