"""Read a drawing back with a real DOT parser (pygraphviz): clusters as a tree, node and edge
attributes, label text without the HTML markup."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

import pygraphviz


def text(label: str | None) -> str:
    """The visible text of an HTML-like label: tags dropped, entities decoded, '\\\\' read as one
    backslash (Graphviz's escapes apply inside HTML labels too), lines joined by '|'."""
    if not label:
        return ""
    label = re.sub(r"<BR\s*/?>", "|", label, flags=re.IGNORECASE)
    return html.unescape(re.sub(r"<[^>]*>", "", label)).replace("\\\\", "\\")


@dataclass
class Cluster:
    name: str
    label: str
    parent: Cluster | None
    nodes: set = field(default_factory=set)   # every node inside, nested clusters included

    def ancestors(self) -> list[Cluster]:
        found, cluster = [], self.parent
        while cluster is not None:
            found.append(cluster)
            cluster = cluster.parent
        return found


class Parsed:
    """A drawing parsed back: `clusters`, `labels` (node -> text), `attrs` (node -> dict), `edges`."""

    def __init__(self, drawing) -> None:
        self.graph = pygraphviz.AGraph(string=drawing.source)
        self.clusters: list[Cluster] = []
        stack = [(sub, None) for sub in self.graph.subgraphs()]
        while stack:
            sub, parent = stack.pop()
            cluster = Cluster(sub.name, text(sub.graph_attr.get("label")), parent, set(sub.nodes()))
            self.clusters.append(cluster)
            stack.extend((child, cluster) for child in sub.subgraphs())
        node_defaults, edge_defaults = dict(self.graph.node_attr), dict(self.graph.edge_attr)
        self.attrs = {name: {**node_defaults, **self.graph.get_node(name).attr} for name in self.graph.nodes()}
        self.labels = {name: text(attrs.get("label")) for name, attrs in self.attrs.items()}
        self.edges = [(edge[0], edge[1], {**edge_defaults, **edge.attr}) for edge in self.graph.edges_iter()]
        self.legend = text(self.graph.graph_attr.get("label"))

    def visible_edges(self):
        return [(tail, head, attrs) for tail, head, attrs in self.edges if attrs.get("style") != "invis"]

    def innermost_cluster(self, node: str) -> Cluster | None:
        holding = [cluster for cluster in self.clusters if node in cluster.nodes]
        return max(holding, key=lambda cluster: len(cluster.ancestors()), default=None)

    def nodes_labelled(self, pattern: str) -> list[str]:
        return [name for name, label in self.labels.items() if re.search(pattern, label)]

    def step_clusters(self) -> list[Cluster]:
        return [cluster for cluster in self.clusters if re.search(r"\bstep \d+$", cluster.label)]
