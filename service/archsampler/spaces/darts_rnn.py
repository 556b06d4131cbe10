"""The ENAS / DARTS recurrent cell: 8 nodes, each an activation of one earlier node.

Node 0 combines the input x_t with the previous hidden state h_{t-1}; node i = 1..8 picks
one predecessor p_i in 0..i-1 and an activation from `ACTIVATIONS`, and computes
`act(W_i s_{p_i})` (DARTS adds a highway gate per node). The cell's output is the
average of nodes 1..8, DARTS's `concat=range(1, 9)` (ENAS averages the loose ends only,
the nodes no other node reads; both are functions of the same tree, so the isomorphism
classes below hold for either reading).

Architecture type: a tuple of 8 `(activation, predecessor)` pairs, node 1 first (DARTS's
`Genotype.recurrent`). Wire string:
`Genotype(recurrent=[('sigmoid', 0), ('relu', 1), ...], concat=range(1, 9))`.

Canonical hash: the cell is a tree rooted at node 0 whose nodes carry activations; two
cells are one network exactly when the trees are equal up to the order of each node's
children (relabelling nodes keeps the network). The hash is that of the tree's canonical
string (children's strings sorted, as in the AHU tree-isomorphism algorithm).
Size: `tree_classes` counts the classes exactly (rooted trees with coloured nodes, by the
Euler transform).

Features (LaNAS): per node, a one-hot of its predecessor (i values for node i) and a
one-hot of its activation: 36 + 32 = 68 values in [0, 1]; `decode` takes each argmax.
Tokens (NAO): per node, its predecessor (tokens 0..7, masked to 0..i-1) then its
activation (tokens 8..11): 16 positions; every masked sequence is a valid cell.
"""

from __future__ import annotations

import functools
from math import comb
from typing import Any
from typing import Sequence

import numpy as np

from archsampler.errors import InvalidArchitectureError
from archsampler.errors import InvalidArgumentError
from archsampler.spaces.base import ParamValue
from archsampler.spaces.base import SearchSpace
from archsampler.spaces.base import TokenSpec
from archsampler.spaces.base import digest
from archsampler.spaces.genotype import format_edges
from archsampler.spaces.genotype import parse_genotype

ACTIVATIONS: tuple[str, ...] = ("tanh", "relu", "sigmoid", "identity")
NODES = 8

RNNArch = tuple[tuple[str, int], ...]
"""`(activation, predecessor)` of nodes 1..8."""


@functools.cache
def tree_classes(nodes: int = NODES, colours: int = len(ACTIVATIONS)) -> int:
    """Distinct cells: forests of `nodes` nodes, each coloured by one of `colours`.

    T(n) coloured rooted trees of n nodes = colours * F(n - 1); F(n) forests (multisets of
    trees) of n nodes by the Euler transform. The cell is node 0 over a forest of `nodes`.
    """
    trees = [0] * (nodes + 1)
    forests = [1] + [0] * nodes
    for n in range(1, nodes + 1):
        trees[n] = colours * forests[n - 1]
        # F(n) = coefficient of x^n in prod_k (1 - x^k)^(-T(k)), built term by term.
        forests[n] = _forests(trees, n)
    return forests[nodes]


def _forests(trees: list[int], n: int) -> int:
    """Multisets of trees with n nodes in all (trees[k] kinds of size k, k <= n)."""
    ways = [1] + [0] * n
    for k in range(1, n + 1):
        if not trees[k]:
            continue
        new = [0] * (n + 1)
        for total in range(n + 1):
            if not ways[total]:
                continue
            for m in range((n - total) // k + 1):  # m trees of size k, with repetition
                new[total + m * k] += ways[total] * comb(trees[k] + m - 1, m)
        ways = new
    return ways[n]


@functools.lru_cache(maxsize=1 << 16)
def _tree_string(cell: tuple[tuple[int, int], ...]) -> str:
    children: list[list[int]] = [[] for _ in range(len(cell) + 1)]
    for i, (_, p) in enumerate(cell, start=1):
        children[p].append(i)

    def canon(v: int) -> str:
        label = "x" if v == 0 else str(cell[v - 1][0])
        return label + "(" + ",".join(sorted(canon(c) for c in children[v])) + ")"

    return canon(0)


class DartsRNNSpace(SearchSpace):
    """The DARTS / ENAS recurrent cell space (see the module docstring)."""

    name = "darts_rnn"

    def __init__(self, nodes: int = NODES, activations: Sequence[str] = ACTIVATIONS) -> None:
        if not 1 <= nodes <= 16:
            raise InvalidArgumentError(f"darts_rnn nodes must be in 1..16, got {nodes}")
        self.nodes = nodes
        self.acts = tuple(activations)
        self._act_index = {a: i for i, a in enumerate(self.acts)}
        self._pred_offset = [sum(range(1, i)) for i in range(1, nodes + 2)]  # node i at [i-1]
        preds = self._pred_offset[-1]
        self._act_offset = preds
        vocab = nodes + len(self.acts)
        masks = np.zeros((2 * nodes, vocab), dtype=bool)
        for i in range(1, nodes + 1):
            masks[2 * (i - 1), :i] = True
            masks[2 * (i - 1) + 1, nodes:] = True
        masks.flags.writeable = False
        self._token_spec = TokenSpec(2 * nodes, vocab, masks)

    def spec(self) -> dict[str, Any]:
        return {"builtin": "darts_rnn"}

    def size(self) -> int:
        return tree_classes(self.nodes, len(self.acts))

    def sample(self, rng: np.random.Generator) -> RNNArch:
        """Each node: a uniformly random predecessor and activation."""
        return tuple(
            (self.acts[int(rng.integers(len(self.acts)))], int(rng.integers(i)))
            for i in range(1, self.nodes + 1)
        )

    def validate(self, arch: Any) -> None:
        if not isinstance(arch, tuple) or len(arch) != self.nodes:
            got = len(arch) if isinstance(arch, (tuple, list)) else type(arch).__name__
            raise InvalidArchitectureError(
                f"a darts_rnn cell lists {self.nodes} (activation, predecessor) pairs, got {got}"
            )
        for i, entry in enumerate(arch, start=1):
            if not isinstance(entry, tuple) or len(entry) != 2:
                raise InvalidArchitectureError(
                    f"recurrent[{i - 1}] is {entry!r:.60}; expected (activation, predecessor)"
                )
            act, p = entry
            if act not in self._act_index:
                raise InvalidArchitectureError(
                    f"recurrent[{i - 1}]: unknown activation {act!r:.40}; activations are "
                    f"{list(self.acts)}"
                )
            if type(p) is not int or not 0 <= p < i:
                raise InvalidArchitectureError(
                    f"recurrent[{i - 1}]: node {i} reads a node in 0..{i - 1}, got {p!r:.20}"
                )

    def canonical_hash(self, arch: RNNArch) -> str:
        """Equal exactly for cells whose trees are equal up to child order."""
        return digest(_tree_string(tuple((self._act_index[a], p) for a, p in arch)))

    # -- wire forms ---------------------------------------------------------------------
    def to_string(self, arch: RNNArch) -> str:
        return f"Genotype(recurrent={format_edges(arch)}, concat=range(1, {self.nodes + 1}))"

    def from_string(self, text: str) -> RNNArch:
        fields = parse_genotype(text, ("recurrent", "concat"), "darts_rnn")
        if fields["concat"] != list(range(1, self.nodes + 1)):
            raise InvalidArchitectureError(
                f"concat is {fields['concat']}; this space averages every node: "
                f"range(1, {self.nodes + 1})"
            )
        arch = tuple(fields["recurrent"])
        self.validate(arch)
        return arch

    def to_params(self, arch: RNNArch) -> dict[str, ParamValue]:
        """`node{i}_activation` and `node{i}_input` for nodes i = 1..8."""
        out: dict[str, ParamValue] = {}
        for i, (act, p) in enumerate(arch, start=1):
            out[f"node{i}_activation"] = act
            out[f"node{i}_input"] = p
        return out

    def from_params(self, params: dict[str, ParamValue]) -> RNNArch:
        names = [f"node{i}_{f}" for i in range(1, self.nodes + 1) for f in ("activation", "input")]
        unknown = sorted(set(params) - set(names))
        missing = [p for p in names if p not in params]
        if unknown or missing:
            raise InvalidArchitectureError(
                f"darts_rnn params are node{{i}}_activation and node{{i}}_input for i in "
                f"1..{self.nodes}; unknown {unknown[:5]}, missing {missing[:5]}"
            )
        arch = tuple(
            (params[f"node{i}_activation"], params[f"node{i}_input"])
            for i in range(1, self.nodes + 1)
        )
        self.validate(arch)
        return arch  # type: ignore[return-value]

    # -- features (LaNAS) ---------------------------------------------------------------
    @property
    def dim(self) -> int:
        return self._act_offset + self.nodes * len(self.acts)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(self.dim), np.ones(self.dim)

    def encode(self, arch: RNNArch) -> np.ndarray:
        x = np.zeros(self.dim)
        n_acts = len(self.acts)
        for i, (act, p) in enumerate(arch, start=1):
            x[self._pred_offset[i - 1] + p] = 1.0
            x[self._act_offset + (i - 1) * n_acts + self._act_index[act]] = 1.0
        return x

    def decode(self, x: np.ndarray) -> RNNArch | None:
        """Each node's largest predecessor and activation entries; None if not finite."""
        x = np.asarray(x, dtype=float)
        if x.shape != (self.dim,):
            raise InvalidArgumentError(
                f"darts_rnn feature vector must have shape ({self.dim},), got {x.shape}"
            )
        if not np.isfinite(x).all():
            return None
        n_acts = len(self.acts)
        acts = x[self._act_offset :].reshape(self.nodes, n_acts).argmax(axis=1)
        return tuple(
            (
                self.acts[int(acts[i - 1])],
                int(x[self._pred_offset[i - 1] : self._pred_offset[i - 1] + i].argmax()),
            )
            for i in range(1, self.nodes + 1)
        )

    # -- tokens (NAO) -------------------------------------------------------------------
    def token_spec(self) -> TokenSpec:
        return self._token_spec

    def to_tokens(self, arch: RNNArch) -> list[int]:
        tokens: list[int] = []
        for act, p in arch:
            tokens += [p, self.nodes + self._act_index[act]]
        return tokens

    def from_tokens(self, tokens: Sequence[int]) -> RNNArch | None:
        spec = self._token_spec
        toks = [int(t) for t in tokens]
        if len(toks) != spec.length or any(
            not 0 <= t < spec.vocab_size or not spec.masks[i, t] for i, t in enumerate(toks)
        ):
            return None
        return tuple(
            (self.acts[toks[2 * k + 1] - self.nodes], toks[2 * k]) for k in range(self.nodes)
        )
