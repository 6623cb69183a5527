"""The lineage graph's layout: inputs on the left, the run in the middle, the version right."""

from __future__ import annotations

from slipway.core.entities import (
    Dataset,
    Lineage,
    ModelVersion,
    Run,
    RunData,
    RunInfo,
    RunStatus,
)
from slipway.ui.lineage import COLUMN_X, lineage_graph


def _version(version: int, parent: int | None = None) -> ModelVersion:
    return ModelVersion(
        "m", version, 0, "ann", "runs:/r/model", "d" * 64, "sklearn", "r", parent_version=parent
    )


def _run() -> Run:
    return Run(RunInfo("r" * 32, "1", "train", RunStatus.FINISHED, 0, 1, "ann"), RunData())


def test_datasets_and_parent_feed_the_run_and_the_version() -> None:
    datasets = (Dataset("a", "1" * 64), Dataset("b", "2" * 64))
    graph = lineage_graph(Lineage(_version(2, 1), _run(), datasets, _version(1), ()))
    kinds = [n.kind for n in graph.nodes]
    assert kinds == ["dataset", "dataset", "parent", "run", "version"]
    by_kind = {n.kind: n for n in graph.nodes}
    assert by_kind["run"].x == COLUMN_X[1]
    assert by_kind["version"].x == COLUMN_X[2]
    assert by_kind["run"].href == f"/runs/{'r' * 32}"
    assert by_kind["parent"].href == "/models/m/versions/1"
    assert len(graph.edges) == 4  # two datasets → run, run → version, parent → version
    assert all(e.x2 > e.x1 for e in graph.edges)
    assert graph.height >= max(n.y for n in graph.nodes)


def test_a_version_without_its_run_still_has_a_node() -> None:
    graph = lineage_graph(Lineage(_version(1), None, (), None, ()))
    assert [n.kind for n in graph.nodes] == ["version"]
    assert graph.edges == []
