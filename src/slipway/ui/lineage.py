"""The lineage graph of one model version as positioned nodes and edges (drawn as inline SVG).

Three columns, left to right: what went in (the datasets the run consumed, the parent model
version it started from), the run that trained it, and the version itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from slipway.core.entities import Lineage

NODE_W, NODE_H = 220, 46
COLUMN_X = (20, 300, 580)
ROW_GAP = 70
TOP = 20


@dataclass(frozen=True, slots=True)
class Node:
    kind: str
    """dataset, parent, run or version: the CSS class and the test hook."""
    title: str
    detail: str
    x: int
    y: int
    href: str | None = None


@dataclass(frozen=True, slots=True)
class Edge:
    x1: int
    y1: int
    x2: int
    y2: int


@dataclass(frozen=True, slots=True)
class Graph:
    nodes: list[Node]
    edges: list[Edge]
    width: int
    height: int


def lineage_graph(lineage: Lineage) -> Graph:
    mv = lineage.version
    inputs: list[tuple[str, str, str, str | None]] = [
        ("dataset", d.name or "dataset", f"sha256:{d.digest[:12]}", None) for d in lineage.datasets
    ]
    if lineage.parent is not None:
        parent = lineage.parent
        inputs.append(
            (
                "parent",
                f"{parent.name} v{parent.version}",
                "parent model",
                f"/models/{parent.name}/versions/{parent.version}",
            )
        )
    rows = max(1, len(inputs))
    height = TOP * 2 + rows * NODE_H + (rows - 1) * (ROW_GAP - NODE_H)
    middle = (height - NODE_H) // 2
    nodes = [
        Node(kind, title, detail, COLUMN_X[0], TOP + i * ROW_GAP, href)
        for i, (kind, title, detail, href) in enumerate(inputs)
    ]
    version = Node("version", f"{mv.name} v{mv.version}", mv.flavor, COLUMN_X[2], middle, None)
    edges: list[Edge] = []
    run = lineage.run
    if run is not None:
        label = run.info.run_name or run.info.run_id[:12]
        href = f"/runs/{run.info.run_id}"
        run_node = Node("run", f"run {label}", run.info.run_id[:12], COLUMN_X[1], middle, href)
        nodes.append(run_node)
        edges += [_edge(n, run_node) for n in nodes if n.kind == "dataset"]
        edges.append(_edge(run_node, version))
        edges += [_edge(n, version) for n in nodes if n.kind == "parent"]
    else:
        edges += [_edge(n, version) for n in nodes]
    nodes.append(version)
    return Graph(nodes, edges, COLUMN_X[2] + NODE_W + 20, height)


def _edge(source: Node, target: Node) -> Edge:
    return Edge(source.x + NODE_W, source.y + NODE_H // 2, target.x, target.y + NODE_H // 2)
