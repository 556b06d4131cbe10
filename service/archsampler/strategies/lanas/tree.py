"""The LaNAS tree: a ridge regressor per node, split at the node mean, regions as half-spaces.

A node's regressor `f(x) = w . x + b0` and the mean `m` of the values in the node define
one latent action: `f(x) >= m` goes LEFT (the good side), otherwise RIGHT. The same rule
routes samples and defines regions, so the region of a node is exactly the feature box
intersected with the half-spaces of its path:

* left child adds  `-w . x <= b0 - m`
* right child adds ` w . x <= m - b0`
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Iterator

import numpy as np

from archsampler.polytope import Polytope
from archsampler.spaces.base import LinearConstraints

CHUNK = 8192
"""Rows routed through a split per step of `LaTree.build_steps`."""


def ridge_fit(X: np.ndarray, y: np.ndarray, lam: float) -> tuple[np.ndarray, float]:
    """Closed-form ridge least squares with an unpenalised intercept; returns (w, b0)."""
    x_mean = X.mean(axis=0)
    y_mean = float(y.mean())
    Xc = X - x_mean
    gram = Xc.T @ Xc
    gram.flat[:: gram.shape[0] + 1] += lam  # the diagonal
    w = np.linalg.solve(gram, Xc.T @ (y - y_mean))
    return w, y_mean - float(x_mean @ w)


@dataclass(eq=False)
class Node:
    """One region of the tree.

    Attributes:
        path: "" for the root, then one "L"/"R" per level ("LLR").
        A, c: the path's half-spaces `A x <= c` (box and user constraints not included).
        w, b0: the node's regressor (None when it had too few samples to fit one).
        threshold: the mean value used to split (only meaningful when the node has children).
        fit_n: number of samples the regressor was fitted on.
        count, total: observed (non-failed) samples routed here and the sum of their values.
        centre: cached interior point of the region (see `LaNASStrategy`); `centre_known`
            says whether it was computed (the centre is None for an empty region).
        dry: no new architecture could be found in the region (see `mark_dry`).
    """

    path: str
    A: np.ndarray
    c: np.ndarray
    w: np.ndarray | None = None
    b0: float = 0.0
    threshold: float = 0.0
    fit_n: int = 0
    left: Node | None = None
    right: Node | None = None
    count: int = 0
    total: float = 0.0
    parent: Node | None = field(default=None, repr=False)
    centre: np.ndarray | None = field(default=None, repr=False)
    centre_known: bool = False
    dry: bool = False

    @property
    def is_leaf(self) -> bool:
        return self.left is None

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Regressor prediction for rows of `X` (requires a fitted regressor)."""
        assert self.w is not None
        return X @ self.w + self.b0

    def goes_left(self, X: np.ndarray) -> np.ndarray:
        """The routing rule: True where the predicted value is >= the node's split mean."""
        return self.predict(X) >= self.threshold

    def mark_dry(self) -> None:
        """Mark this node dry, and every ancestor whose children are both dry.

        A dry node yields nothing new for the rest of this tree's life (a rebuild makes new
        nodes), so UCB selection skips it.
        """
        self.dry = True
        node = self.parent
        while node is not None and node.left.dry and node.right.dry:  # type: ignore[union-attr]
            node.dry = True
            node = node.parent

    def contains(self, X: np.ndarray) -> np.ndarray:
        """Rows of `X` (n, dim) that `LaTree.route` sends into this node's subtree.

        Uses the routing rule itself (ties go left), so membership and routing never
        disagree; the feature box and user constraints are not checked here.
        """
        inside = np.ones(len(X), dtype=bool)
        node, child = self.parent, self
        while node is not None:
            inside &= node.goes_left(X) == (child is node.left)
            node, child = node.parent, node
        return inside

    def path_nodes(self) -> list[Node]:
        """Nodes from the root down to this one."""
        nodes: list[Node] = []
        node: Node | None = self
        while node is not None:
            nodes.append(node)
            node = node.parent
        return nodes[::-1]


class LaTree:
    """A tree of linear regressors over feature vectors, rebuilt from data by `build`.

    Args:
        dim: feature dimension.
        height: maximum depth of a leaf (the root has depth 0).
        min_samples: a node splits only if both children get at least this many samples.
        ridge: ridge penalty of the regressors.
        max_fit: regressors are fitted on at most this many samples of a node (an even
            subsample), which keeps a rebuild cheap with many observations.
    """

    def __init__(
        self, dim: int, *, height: int, min_samples: int, ridge: float, max_fit: int
    ) -> None:
        self.dim = dim
        self.height = height
        self.min_samples = min_samples
        self.ridge = ridge
        self.max_fit = max_fit
        self.root = self._node("", np.zeros((0, dim)), np.zeros(0), None)

    def _node(self, path: str, A: np.ndarray, c: np.ndarray, parent: Node | None) -> Node:
        return Node(path=path, A=A, c=c, parent=parent)

    def build(self, X: np.ndarray, y: np.ndarray, target: np.ndarray | None = None) -> None:
        """Rebuild the whole tree from samples `X` (n, dim) with values `y` (n,).

        `target` (default `y`) is what the regressors fit and the split means are taken
        of, e.g. ranks of `y`; node statistics always use `y`.
        """
        for _ in self.build_steps(X, y, target):
            pass

    def build_steps(
        self, X: np.ndarray, y: np.ndarray, target: np.ndarray | None = None
    ) -> Iterator[None]:
        """`build` in small steps: a generator that yields after each unit of work (one
        regressor fit, or routing at most `CHUNK` rows through a split) and puts the new
        tree in place when exhausted. The tree is the same however the steps are spread."""
        t = y if target is None else target
        root = self._node("", np.zeros((0, self.dim)), np.zeros(0), None)
        stack = [(root, np.arange(len(y)))]
        while stack:
            node, rows = stack.pop()
            yield from self._grow(node, X, y, t, rows, stack)
        self.root = root

    def _grow(
        self,
        node: Node,
        X: np.ndarray,
        y: np.ndarray,
        t: np.ndarray,
        rows: np.ndarray,
        stack: list[tuple[Node, np.ndarray]],
    ) -> Iterator[None]:
        """Fit `node` on `rows` and, when it splits, push its children with their rows."""
        n = len(rows)
        node.count = n
        node.total = float(y[rows].sum())
        if n < 2:
            return
        fit = rows if n <= self.max_fit else rows[np.linspace(0, n - 1, self.max_fit).astype(int)]
        node.w, node.b0 = ridge_fit(X[fit], t[fit], self.ridge)
        node.fit_n = min(n, self.max_fit)
        node.threshold = float(t[rows].mean())
        if len(node.path) >= self.height or n < 2 * self.min_samples:
            return
        yield
        left = np.empty(n, dtype=bool)
        for i in range(0, n, CHUNK):
            left[i : i + CHUNK] = node.goes_left(X[rows[i : i + CHUNK]])
            if n > CHUNK:
                yield
        n_left = int(left.sum())
        if min(n_left, n - n_left) < self.min_samples:
            return
        w, off = node.w, node.threshold - node.b0
        node.left = self._node(
            node.path + "L", np.vstack([node.A, -w]), np.append(node.c, -off), node
        )
        node.right = self._node(
            node.path + "R", np.vstack([node.A, w]), np.append(node.c, off), node
        )
        stack.append((node.right, rows[~left]))
        stack.append((node.left, rows[left]))

    # -- routing --------------------------------------------------------------------------
    def route(self, x: np.ndarray) -> Node:
        """The leaf whose region holds feature vector `x`."""
        node = self.root
        xr = x[None, :]
        while not node.is_leaf:
            node = node.left if node.goes_left(xr)[0] else node.right  # type: ignore[assignment]
        return node

    def add(self, x: np.ndarray, value: float) -> Node:
        """Route a new observation and add it to the statistics along its path."""
        leaf = self.route(x)
        for node in leaf.path_nodes():
            node.count += 1
            node.total += value
        return leaf

    def nodes(self) -> list[Node]:
        """Every node, depth first, left before right."""
        out: list[Node] = []
        stack = [self.root]
        while stack:
            node = stack.pop()
            out.append(node)
            if not node.is_leaf:
                stack.extend((node.right, node.left))  # type: ignore[arg-type]
        return out

    def leaves(self) -> list[Node]:
        """Leaves from left (good) to right (bad)."""
        return [n for n in self.nodes() if n.is_leaf]

    def find(self, path: str) -> Node:
        """The node with path string `path`; KeyError when the tree has none."""
        node = self.root
        for step in path:
            if node.is_leaf:
                raise KeyError(path)
            node = node.left if step == "L" else node.right  # type: ignore[assignment]
        return node


def region(
    node: Node, lower: np.ndarray, upper: np.ndarray, user: LinearConstraints | None
) -> Polytope:
    """The node's polytope: feature box, the path's half-spaces and the user constraints."""
    A, c = node.A, node.c
    if user is not None and len(user.b):
        A = np.vstack([A, np.asarray(user.A, dtype=float)])
        c = np.concatenate([c, np.asarray(user.b, dtype=float)])
    return Polytope(lower, upper, A, c)
