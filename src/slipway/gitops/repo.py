"""The GitOps repository: read desired state at a revision, write it as commits.

Two kinds of source, one interface:

* a **local** repository (the default, ``<SLIPWAY_HOME>/gitops``; or any path), read and
  written in place;
* a **remote** one (``file://``, ``ssh://``, ``git@…``, ``https://``), mirrored into a bare
  clone under ``<SLIPWAY_HOME>/gitops-mirrors/``, fetched on every poll and pushed to after
  every commit.

Commits are built with git's plumbing on a private index (``hash-object``, ``update-index``,
``write-tree``, ``commit-tree``) and published with a compare-and-swap ``update-ref`` (or a
non-forced push): a commit never picks up someone's uncommitted edits, and two writers (CI
deploying while the agent records a rollback) never overwrite each other — the loser rebuilds
its change on the new head and tries again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from slipway.core.errors import Conflict, InvalidInput, NotFound, SlipwayError

logger = logging.getLogger("slipway.gitops")
_REMOTE = re.compile(r"^(file|ssh|https?|git)://|^[\w.-]+@[\w.-]+:")
_ATTEMPTS = 5
ZERO = "0" * 40


class GitError(SlipwayError):
    """A git command failed; the message carries git's own words."""


@dataclass(frozen=True, slots=True)
class Commit:
    sha: str
    author: str
    email: str
    time: int
    """Author time, seconds since the epoch."""
    subject: str
    body: str
    trailers: Mapping[str, str]
    paths: tuple[str, ...]
    """Files the commit changed (within the path filter it was listed with)."""


def _author_env(author: str) -> dict[str, str]:
    match = re.match(r"^\s*(?P<name>[^<]+?)\s*<(?P<email>[^>]+)>\s*$", author)
    if match:
        name, email = match["name"], match["email"]
    else:
        name = author.strip() or "slipway"
        email = f"{re.sub(r'[^A-Za-z0-9._-]', '-', name)}@slipway.local"
    return {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }


class GitRepo:
    """Desired state in git, on one branch."""

    def __init__(self, source: str | Path, *, branch: str = "main", mirrors: Path) -> None:
        text = str(source)
        self.branch = branch
        self.remote = bool(_REMOTE.match(text))
        self.source = text
        if self.remote:
            key = hashlib.sha256(text.encode()).hexdigest()[:16]
            self.git_dir = mirrors / f"{key}.git"
            self.work_tree: Path | None = None
        else:
            root = Path(text).expanduser().resolve()
            self.work_tree = root
            self.git_dir = root / ".git"
        self._ready = False

    @classmethod
    def default(cls, home: Path, *, branch: str = "main") -> GitRepo:
        """The embedded default: a plain repository at ``<home>/gitops``."""
        return cls(home / "gitops", branch=branch, mirrors=home / "gitops-mirrors")

    def describe(self) -> str:
        return self.source if self.remote else str(self.work_tree)

    # -- plumbing --------------------------------------------------------------------------

    def _git(
        self,
        *args: str,
        input: bytes | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[bytes]:
        full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", **(env or {})}
        command = ["git", f"--git-dir={self.git_dir}"]
        if self.work_tree is not None:
            command.append(f"--work-tree={self.work_tree}")
        result = subprocess.run(
            [*command, *args], input=input, env=full_env, capture_output=True, check=False
        )
        if check and result.returncode != 0:
            message = result.stderr.decode(errors="replace").strip()
            raise GitError(f"git {args[0]} failed in {self.describe()}: {message}")
        return result

    def _out(self, *args: str, **kwargs: object) -> str:
        return self._git(*args, **kwargs).stdout.decode().strip()  # type: ignore[arg-type]

    def ensure(self) -> None:
        """Create the local repository, or the mirror of a remote one, if missing."""
        if self._ready:
            return
        if self.remote:
            if not (self.git_dir / "HEAD").exists():
                self.git_dir.parent.mkdir(parents=True, exist_ok=True)
                result = subprocess.run(
                    ["git", "clone", "--bare", "--quiet", self.source, str(self.git_dir)],
                    capture_output=True,
                    check=False,
                    env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
                )
                if result.returncode != 0:
                    message = result.stderr.decode(errors="replace").strip()
                    raise GitError(f"cannot clone {self.source}: {message}")
        elif not self.git_dir.exists():
            assert self.work_tree is not None
            self.work_tree.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                ["git", "init", "--quiet", "-b", self.branch, str(self.work_tree)],
                capture_output=True,
                check=True,
            )
            logger.info("created GitOps repository %s", self.work_tree)
        self._ready = True

    def head(self) -> str | None:
        """The branch's current commit, or None while the branch has no commits."""
        self.ensure()
        result = self._git(
            "rev-parse", "--verify", "-q", f"refs/heads/{self.branch}^{{commit}}", check=False
        )
        return result.stdout.decode().strip() or None

    def fetch(self) -> str | None:
        """Bring the branch up to date (remote: from the origin) and return its head."""
        self.ensure()
        if self.remote:
            spec = f"+refs/heads/{self.branch}:refs/heads/{self.branch}"
            result = self._git("fetch", "--quiet", "origin", spec, check=False)
            if result.returncode != 0:
                message = result.stderr.decode(errors="replace").strip()
                if "couldn't find remote ref" not in message:
                    raise GitError(f"cannot fetch {self.source}: {message}")
        return self.head()

    # -- reading ---------------------------------------------------------------------------

    def read_tree(self, rev: str | None, prefix: str) -> dict[str, bytes]:
        """Every file under ``prefix`` at ``rev`` (None: the empty tree), path to bytes."""
        if rev is None:
            return {}
        pathspec = ["--", prefix] if prefix else []
        listing = self._git("ls-tree", "-r", "-z", "--full-tree", rev, *pathspec).stdout
        entries = []
        for line in listing.decode().split("\0"):
            if not line:
                continue
            meta, path = line.split("\t", 1)
            _, kind, sha = meta.split()
            if kind == "blob":
                entries.append((path, sha))
        return dict(zip((p for p, _ in entries), self._blobs([s for _, s in entries]), strict=True))

    def _blobs(self, shas: Sequence[str]) -> list[bytes]:
        if not shas:
            return []
        out = self._git(
            "cat-file", "--batch", input="".join(f"{s}\n" for s in shas).encode()
        ).stdout
        blobs, pos = [], 0
        for _ in shas:
            header_end = out.index(b"\n", pos)
            size = int(out[pos:header_end].split()[2])
            start = header_end + 1
            blobs.append(out[start : start + size])
            pos = start + size + 1
        return blobs

    def show(self, rev: str, path: str) -> bytes | None:
        result = self._git("show", f"{rev}:{path}", check=False)
        return result.stdout if result.returncode == 0 else None

    def resolve(self, rev: str) -> str:
        self.ensure()
        result = self._git("rev-parse", "--verify", "-q", f"{rev}^{{commit}}", check=False)
        sha = result.stdout.decode().strip()
        if not sha:
            raise NotFound(f"no commit {rev!r} in {self.describe()}")
        return sha

    def log(
        self, paths: Sequence[str], *, rev: str | None = None, max_count: int = 100
    ) -> list[Commit]:
        """Commits that changed ``paths``, newest first."""
        head = rev or self.head()
        if head is None:
            return []
        fmt = "%x1e%H%x1f%an%x1f%ae%x1f%at%x1f%s%x1f%b%x1f%(trailers:only,unfold)%x1f"
        out = self._out(
            "log", f"--max-count={max_count}", f"--format={fmt}", "--name-only", head, "--", *paths
        )
        commits = []
        for record in out.split("\x1e"):
            if not record.strip():
                continue
            sha, name, email, when, subject, body, trailers, files = record.split("\x1f")
            parsed = {}
            for line in trailers.splitlines():
                key, sep, value = line.partition(":")
                if sep:
                    parsed[key.strip()] = value.strip()
            commits.append(
                Commit(
                    sha=sha.strip(),
                    author=name,
                    email=email,
                    time=int(when),
                    subject=subject,
                    body=body.strip(),
                    trailers=parsed,
                    paths=tuple(p for p in files.split("\n") if p.strip()),
                )
            )
        return commits

    # -- writing ---------------------------------------------------------------------------

    def commit(
        self,
        changes: Mapping[str, bytes | None] | Callable[[str | None], Mapping[str, bytes | None]],
        message: str,
        *,
        author: str = "slipway",
    ) -> str | None:
        """Commit file changes (None deletes) on the branch; returns the new head.

        ``changes`` may be a function of the current head, called again if another writer
        moved the branch first. Returns the unchanged head (no commit) when the files already
        hold that content; None only when the repository is still empty and nothing changed.
        """
        self.ensure()
        for _ in range(_ATTEMPTS):
            parent = self.fetch()
            wanted = changes(parent) if callable(changes) else changes
            sha = self._build(parent, wanted, message, author)
            if sha == parent:
                return parent
            if self._publish(parent, sha):
                return sha
            logger.info("branch %s moved while committing; retrying on the new head", self.branch)
        raise Conflict(f"could not commit to {self.describe()}: the branch kept moving")

    def _build(
        self, parent: str | None, changes: Mapping[str, bytes | None], message: str, author: str
    ) -> str | None:
        for path in changes:
            if path.startswith("/") or ".." in path.split("/") or not path:
                raise InvalidInput(f"invalid repository path {path!r}")
        with tempfile.TemporaryDirectory(prefix="slipway-index-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            if parent is not None:
                self._git("read-tree", parent, env=env)
            entries = []
            for path, content in changes.items():
                if content is None:
                    entries.append(f"0 {ZERO}\t{path}\n")  # mode 0: remove the entry
                else:
                    blob = self._out("hash-object", "-w", "--stdin", input=content)
                    entries.append(f"100644 {blob}\t{path}\n")
            # --index-info works in bare mirrors too (--force-remove wants a work tree).
            self._git("update-index", "--index-info", input="".join(entries).encode(), env=env)
            tree = self._out("write-tree", env=env)
        if parent is not None and tree == self._out("rev-parse", f"{parent}^{{tree}}"):
            return parent
        if parent is None and not changes:
            return None
        args = ["commit-tree", tree] + (["-p", parent] if parent else [])
        return self._out(*args, input=message.encode(), env=_author_env(author))

    def _publish(self, parent: str | None, sha: str | None) -> bool:
        assert sha is not None
        ref = f"refs/heads/{self.branch}"
        if self.remote:
            push = self._git("push", "--quiet", "origin", f"{sha}:{ref}", check=False)
            if push.returncode != 0:
                text = push.stderr.decode(errors="replace")
                if "rejected" in text or "fetch first" in text or "non-fast-forward" in text:
                    return False
                raise GitError(f"cannot push to {self.source}: {text.strip()}")
            self._git("update-ref", ref, sha)
            return True
        moved = self._git("update-ref", ref, sha, parent or ZERO, check=False)
        if moved.returncode != 0:
            return False
        self._sync_work_tree(parent, sha)
        return True

    def _sync_work_tree(self, old: str | None, new: str) -> None:
        """Move the checked-out files along, if they are clean; never touch local edits."""
        if self.work_tree is None:
            return
        current = self._git("symbolic-ref", "-q", "HEAD", check=False).stdout.decode().strip()
        if current != f"refs/heads/{self.branch}":
            return
        args = ["read-tree", "-m", "-u", old, new] if old else ["read-tree", "-u", "--reset", new]
        result = self._git(*args, check=False)
        if result.returncode != 0:
            logger.warning(
                "the work tree of %s has local edits; left as is (committed state moved to %s)",
                self.work_tree,
                new[:12],
            )
