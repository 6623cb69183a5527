"""The ``slipway`` command as a user runs it: real processes, real SQLite under a temp home."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SLIPWAY = [sys.executable, "-m", "slipway.cli.main"]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home where the quick demo ran twice (two versions, champion on the second)."""
    path = tmp_path_factory.mktemp("home")
    for _ in range(2):
        result = _slipway(path, "demo", "--quick")
        assert result.returncode == 0, result.stderr
    return path


def _slipway(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
    env.update({"SLIPWAY_HOME": str(home / ".slipway"), "SLIPWAY_ACTOR": "cli-test"})
    env["COLUMNS"] = "200"
    return subprocess.run(
        [*SLIPWAY, *args], env=env, cwd=home, capture_output=True, text=True, timeout=300
    )


def _json(home: Path, *args: str) -> object:
    result = _slipway(home, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_demo_is_idempotent_and_registers_a_new_version(home: Path) -> None:
    models = _json(home, "models", "list")
    assert isinstance(models, list)
    (model,) = models
    assert model["name"] == "breast-cancer"
    assert model["latest_version"] == 2
    assert model["aliases"] == {"champion": 2}


def test_lineage_and_runs(home: Path) -> None:
    lineage = _json(home, "models", "lineage", "breast-cancer", "2")
    assert isinstance(lineage, dict)
    run = lineage["run"]
    assert run["info"]["status"] == "FINISHED"
    assert {d["name"] for d in lineage["datasets"]} == {
        "breast-cancer-train",
        "breast-cancer-test",
    }
    assert run["data"]["metrics"]["roc_auc"] > 0.95
    shown = _json(home, "runs", "show", run["info"]["run_id"])
    assert isinstance(shown, dict)
    assert shown["info"]["run_id"] == run["info"]["run_id"]
    table = _slipway(home, "models", "lineage", "breast-cancer", "2")
    assert table.returncode == 0
    assert "breast-cancer-train" in table.stdout
    experiments = _json(home, "experiments", "list")
    assert [e["name"] for e in experiments] == ["slipway-demo"]  # type: ignore[union-attr]


def test_alias_set_delete_and_history(home: Path) -> None:
    assert (
        _slipway(home, "models", "alias", "set", "breast-cancer", "challenger", "1").returncode == 0
    )
    version = _json(home, "models", "version", "breast-cancer", "1")
    assert version["aliases"] == ["challenger"]  # type: ignore[index]
    assert (
        _slipway(home, "models", "alias", "delete", "breast-cancer", "challenger").returncode == 0
    )
    history = _json(home, "models", "alias", "history", "breast-cancer", "challenger")
    assert [(h["from_version"], h["to_version"]) for h in history] == [(None, 1), (1, None)]  # type: ignore[union-attr]
    audit = _json(home, "models", "audit", "breast-cancer")
    assert [e["actor"] for e in audit] == ["cli-test"] * len(audit)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["models", "show", "ghost"], "registered model 'ghost' not found"),
        (["models", "alias", "set", "breast-cancer", "champion", "99"], "no version 99"),
        (["models", "alias", "set", "breast-cancer", "Bad Alias", "1"], "invalid alias"),
        (["models", "lineage", "breast-cancer", "x"], "positive integer"),
        (["runs", "show", "nope"], "invalid run id"),
        (["experiments", "show", "ghost"], "experiment 'ghost' not found"),
        (["--tracking-uri", "mysql://u:pw@h/db", "models", "list"], None),
    ],
)
def test_errors_are_one_line_without_traceback(
    home: Path, args: list[str], message: str | None
) -> None:
    if args[0] == "--tracking-uri":  # the option belongs to the sub-command
        args = [*args[2:], args[0], args[1]]
        message = "valid schemes are sqlite://"
    result = _slipway(home, *args)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "pw@" not in result.stderr
    # ... and nothing changed.
    assert _json(home, "models", "list")[0]["aliases"]["champion"] == 2  # type: ignore[index]


def test_help_everywhere(home: Path) -> None:
    for args in (
        [],
        ["models"],
        ["models", "alias"],
        ["models", "lineage"],
        ["runs", "list"],
        ["experiments"],
        ["db", "upgrade"],
        ["demo"],
        ["serve"],
        ["run"],
    ):
        result = _slipway(home, *args, "--help")
        assert result.returncode == 0, (args, result.stderr)
        assert "Usage" in result.stdout


def test_db_upgrade_on_an_empty_database(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'team.db'}"
    before = _slipway(tmp_path, "models", "list", "--tracking-uri", uri)
    assert before.returncode == 1
    assert "slipway db upgrade" in before.stderr
    upgraded = _json(tmp_path, "db", "upgrade", "--tracking-uri", uri)
    assert upgraded["from"] is None  # type: ignore[index]
    assert _json(tmp_path, "models", "list", "--tracking-uri", uri) == []
