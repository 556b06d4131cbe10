"""Graph utilities of NAS-Bench-101 cells: pruning to live nodes and the module hash.

The module hash is the NAS-Bench-101 fingerprint (Ying et al., 2019): a Weisfeiler-Lehman
style iteration where every node starts from the md5 of (out-degree, in-degree, label) and is
refined, once per node, from the sorted hashes of its in- and out-neighbours. The exact
serialisation matters: it reproduces the hashes stored in the benchmark.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

Matrix = tuple[tuple[int, ...], ...]


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def module_hash(matrix: Sequence[Sequence[int]], labels: Sequence[int]) -> str:
    """The NAS-Bench-101 module hash of a DAG.

    Args:
        matrix: V x V 0/1 adjacency matrix; `matrix[i][j] == 1` is an edge i -> j.
        labels: V integer node labels (NB101: -1 input, -2 output, op index otherwise).

    Returns:
        32 hex characters, invariant under any relabelling of the nodes.
    """
    n = len(labels)
    preds = [[u for u in range(n) if matrix[u][v]] for v in range(n)]
    succs = [[w for w in range(n) if matrix[v][w]] for v in range(n)]
    # str() of a Python tuple of ints, e.g. "(1, 0, -1)": the benchmark hashed exactly that.
    hashes = [_md5(str((len(succs[v]), len(preds[v]), int(labels[v])))) for v in range(n)]
    for _ in range(n):
        hashes = [
            _md5(
                "".join(sorted(hashes[u] for u in preds[v]))
                + "|"
                + "".join(sorted(hashes[w] for w in succs[v]))
                + "|"
                + hashes[v]
            )
            for v in range(n)
        ]
    return _md5(str(sorted(hashes)))


def live_nodes(matrix: Sequence[Sequence[int]]) -> list[int]:
    """Nodes on some path from node 0 (input) to node V-1 (output), in order.

    Empty when the output is not reachable from the input.
    """
    n = len(matrix)
    if n == 0:
        return []
    forward = _reach(0, lambda v: (w for w in range(n) if matrix[v][w]))
    backward = _reach(n - 1, lambda v: (u for u in range(n) if matrix[u][v]))
    if n - 1 not in forward:
        return []
    return sorted(forward & backward)


def _reach(start: int, neighbours) -> set[int]:
    seen = {start}
    stack = [start]
    while stack:
        for w in neighbours(stack.pop()):
            if w not in seen:
                seen.add(w)
                stack.append(w)
    return seen


def induced(matrix: Sequence[Sequence[int]], nodes: Sequence[int]) -> Matrix:
    """The sub-matrix on `nodes` (kept in the given order)."""
    return tuple(tuple(int(matrix[i][j]) for j in nodes) for i in nodes)


def live_dags(n: int, max_edges: int) -> np.ndarray:
    """Every n-node upper-triangular DAG with at most `max_edges` edges and no dangling node.

    A node is on an input -> output path exactly when every node but the input has an
    in-edge and every node but the output has an out-edge, so a degree test suffices.

    Returns:
        uint32 bitmasks; bit k is the k-th slot (i, j), i < j, in row-major order.
    """
    slots = [(i, j) for i in range(n) for j in range(i + 1, n)]
    masks = np.arange(2 ** len(slots), dtype=np.uint32)
    bits = [((masks >> k) & 1).astype(bool) for k in range(len(slots))]
    count = np.zeros(len(masks), dtype=np.uint8)
    for b in bits:
        count += b
    ok = count <= max_edges
    for v in range(n):
        if v > 0:
            ok &= np.logical_or.reduce([bits[k] for k, (_, j) in enumerate(slots) if j == v])
        if v < n - 1:
            ok &= np.logical_or.reduce([bits[k] for k, (i, _) in enumerate(slots) if i == v])
    return masks[ok]
