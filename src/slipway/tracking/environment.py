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
    # Both commands start at once: each costs a process start (several ms), and this runs
    # at every start_run.
    commands = (
        ["git", "rev-parse", "HEAD", "--show-toplevel"],
        ["git", "status", "--porcelain", "--untracked-files=no"],
    )
    try:
        procs = [
            subprocess.Popen(
                command,
                cwd=path,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            for command in commands
        ]
    except OSError:
        return None
    outputs: list[str] = []
    failed = False
    for proc in procs:
        try:
            out, _ = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            failed = True
            continue
        failed = failed or proc.returncode != 0
        outputs.append(out.strip())
    if failed:
        return None
    head = outputs[0].splitlines()
    if len(head) != 2:
        return None
    return GitState(commit=head[0], dirty=bool(outputs[1]), root=head[1])


@functools.cache
def installed_packages() -> str:
    """``name==version`` of every installed distribution, sorted, one a line.

    Read once per process: the set does not change under a running program (and MLflow
    spends seconds inferring requirements where this costs milliseconds).
    """
    seen: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name, version = _name_and_version(dist)
        if name and name.lower() not in seen:
            seen[name.lower()] = f"{name}=={version}"
    lines = sorted(seen.values(), key=str.lower)
    header = f"# python {sys.version.split()[0]} on {sys.platform}\n"
    return header + "\n".join(lines) + "\n"


def _name_and_version(dist: importlib.metadata.Distribution) -> tuple[str | None, str | None]:
    """``Name`` and ``Version`` from a distribution's metadata headers.

    ``dist.metadata`` runs the whole file (long descriptions included) through the email
    parser, which made listing a few hundred packages cost 0.1-0.2 s, most of a run's start.
    Both fields are plain single-line headers before the first blank line; anything less
    regular falls back to the parser.
    """
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO")
    if text:
        fields: dict[str, str] = {}
        field = ""
        for line in text.partition("\n\n")[0].splitlines():
            if line[:1].isspace():  # a folded header continues the previous one
                if field in ("name", "version"):
                    break
                continue
            field, colon, value = line.partition(":")
            if not colon:
                break
            field = field.lower()
            # As the email parser reads a header: leading blanks dropped, trailing ones kept.
            fields.setdefault(field, value.lstrip(" \t"))
        else:
            name, version = fields.get("name"), fields.get("version")
            if name and version:
                return name, version
    return dist.metadata["Name"], dist.version
