"""``make demo``'s whole loop, as a newcomer runs it: real pipeline processes, real servers
started from GitOps commits, traffic, a shift, labels, continuous training, a canary."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from slipway.gitops.history import history
from slipway.gitops.repo import GitRepo
from slipway.gitops.targets import make_targets

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tabular"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_the_whole_loop_closes(tmp_path: Path) -> None:
    home = tmp_path / ".slipway"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
    env.update({"SLIPWAY_HOME": str(home), "COLUMNS": "200"})
    result = subprocess.run(
        [sys.executable, "-m", "slipway.cli.main", "demo", "--project", str(EXAMPLE)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=840,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    out = result.stdout
    for stage in ("train", "gates", "register", "deploy", "serve", "shift", "drift", "labels"):
        assert f" {stage} " in out, stage
    # The nine size measurements drift after the shift; before it, at most the odd false
    # alarm of 30 tests at p < 0.05 on 150 rows.
    before = re.search(r"before the shift: (\d+) of 30 features drifted", out)
    after = re.search(r"after the shift: (\d+) of 30 features drifted", out)
    assert before is not None
    assert after is not None
    assert int(before[1]) <= 2
    assert int(after[1]) >= 9
    assert "fired: performance: accuracy on" in out
    assert "rollout promoted; champion is now v2" in out
    assert "0 failed requests" in out
    assert (home / "demo-report.html").stat().st_size > 100_000  # plotly.js embedded
    entries = history(GitRepo.default(home), environment="demo")
    assert [(e.author.split(" <")[0], e.action) for e in entries] == [
        ("slipway-demo", "delete"),
        ("slipway-ct", "deploy"),
        ("slipway-demo", "deploy"),
    ]
    assert "performance: accuracy" in entries[1].reason
    # Everything it started has stopped: the local target runs nothing any more.
    assert make_targets(home, "demo", GitRepo.default(home))["local"].names() == []
    assert "slipway history --env demo" in out
