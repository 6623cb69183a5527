"""The GitOps repository against real git: local and remote, concurrent writers, history."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from slipway.core.errors import InvalidInput
from slipway.deploy.spec import DeploymentFile, ModelPin
from slipway.gitops.commits import commit_manifest, record_rollback
from slipway.gitops.history import history, version_timeline
from slipway.gitops.repo import GitRepo


def manifest(version: int, strategy: str = "canary") -> DeploymentFile:
    pin = ModelPin(name="fraud", version=version, digest="sha256:" + str(version) * 64)
    return DeploymentFile.model_validate(
        {
            "metadata": {"name": "fraud"},
            "spec": {"model": pin.model_dump(), "strategy": {"type": strategy}},
        }
    )


@pytest.fixture
def bare(tmp_path: Path) -> str:
    subprocess.run(
        ["git", "init", "-q", "--bare", "-b", "main", str(tmp_path / "remote.git")], check=True
    )
    return (tmp_path / "remote.git").as_uri()


def test_local_repo_is_created_and_commits_are_atomic(tmp_path: Path) -> None:
    repo = GitRepo.default(tmp_path)
    assert repo.head() is None
    first = commit_manifest(repo, manifest(1, "recreate"), "first", author="Ann <ann@example.com>")
    assert repo.read_tree(first, "deployments") == {
        "deployments/fraud.yaml": manifest(1, "recreate").to_yaml().encode()
    }
    # The same content again is not a commit.
    assert commit_manifest(repo, manifest(1, "recreate"), "again", author="Ann") == first
    # The checked-out files follow, so people reading the folder see the committed state.
    assert (tmp_path / "gitops" / "deployments" / "fraud.yaml").read_text() == manifest(
        1, "recreate"
    ).to_yaml()
    log = repo.log(["deployments"])
    assert [c.author for c in log] == ["Ann"]
    assert log[0].trailers["Slipway-Model"] == "models:/fraud/1"


def test_local_edits_in_the_work_tree_are_never_committed_or_lost(tmp_path: Path) -> None:
    repo = GitRepo.default(tmp_path)
    commit_manifest(repo, manifest(1), "first", author="a")
    scratch = tmp_path / "gitops" / "notes.txt"
    scratch.write_text("work in progress")
    head = commit_manifest(repo, manifest(2), "second", author="a")
    assert "notes.txt" not in repo.read_tree(head, "")
    assert scratch.read_text() == "work in progress"


def test_remote_writers_never_overwrite_each_other(tmp_path: Path, bare: str) -> None:
    one = GitRepo(bare, mirrors=tmp_path / "m1")
    two = GitRepo(bare, mirrors=tmp_path / "m2")
    one.commit({"deployments/a.yaml": b"a"}, "a")
    two.commit({"deployments/b.yaml": b"b"}, "b")  # two's mirror is behind: it must rebase
    head = one.commit({"deployments/c.yaml": b"c"}, "c")
    assert sorted(one.read_tree(head, "deployments")) == [
        "deployments/a.yaml",
        "deployments/b.yaml",
        "deployments/c.yaml",
    ]
    remote_log = subprocess.run(
        ["git", f"--git-dir={bare.removeprefix('file://')}", "log", "--format=%s"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert remote_log == ["c", "b", "a"]


def test_bad_paths_are_refused(tmp_path: Path) -> None:
    repo = GitRepo.default(tmp_path)
    with pytest.raises(InvalidInput, match="invalid repository path"):
        repo.commit({"../escape": b"x"}, "no")
    assert repo.head() is None


def test_rollback_reverts_only_the_deployment_file(tmp_path: Path) -> None:
    repo = GitRepo.default(tmp_path)
    commit_manifest(repo, manifest(1), "v1", author="a")
    bad = commit_manifest(repo, manifest(2), "v2 because it scored better", author="a")
    repo.commit({"deployments/other.yaml": b"unrelated: true\n"}, "other", author="b")
    sha = record_rollback(repo, manifest(2), bad, "error rate 0.5 > 0.01", author="slipway-agent")
    assert sha is not None
    commit = repo.log(["deployments/fraud.yaml"], max_count=1)[0]
    assert commit.subject.startswith('Revert "deploy fraud')
    assert f"This reverts commit {bad}" in commit.body
    assert "error rate 0.5 > 0.01" in commit.body
    assert commit.trailers["Slipway-Action"] == "rollback"
    files = repo.read_tree(sha, "deployments")
    assert files["deployments/fraud.yaml"] == manifest(1).to_yaml().encode()
    assert "deployments/other.yaml" in files
    # Someone already moved on: the rollback does not fight their commit.
    commit_manifest(repo, manifest(3), "v3", author="a")
    assert record_rollback(repo, manifest(2), bad, "late", author="agent") is None


def test_history_and_version_timeline(tmp_path: Path) -> None:
    repo = GitRepo.default(tmp_path)
    commit_manifest(repo, manifest(1), "initial model", author="Ann <ann@example.com>")
    bad = commit_manifest(
        repo, manifest(2), "retrained on October data", author="CI <ci@example.com>"
    )
    record_rollback(repo, manifest(2), bad, "prediction drift 0.4 > 0.2", author="slipway-agent")
    entries = history(repo, environment="prod")
    assert [(e.action, e.model) for e in entries] == [
        ("rollback", "models:/fraud/1"),
        ("deploy", "models:/fraud/2"),
        ("deploy", "models:/fraud/1"),
    ]
    assert entries[1].reason == "retrained on October data"
    assert "prediction drift 0.4 > 0.2" in entries[0].reason  # not git's "This reverts …"
    assert entries[1].author == "CI <ci@example.com>"
    assert history(repo, environment="staging") == []
    timeline = version_timeline(entries, "fraud")
    assert [(i.version, i.end is None) for i in timeline] == [(1, False), (2, False), (1, True)]
