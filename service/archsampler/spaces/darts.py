"""The DARTS / NASNet convolutional cell space: a normal and a reduction cell.

Each cell has two inputs, node 0 = c_{k-2} and node 1 = c_{k-1} (the outputs of the two
previous cells), and `nodes` intermediate nodes (DARTS: 4, labelled 2..5). Intermediate
node j sums two branches, each an operation from `OPS` applied to a distinct earlier node
(0..j-1), as DARTS's discretised cells do (the two strongest edges from distinct
predecessors). The cell's output concatenates every intermediate node (`range(2, 6)`).
NASNet, ENAS and NAO count B = 5 such nodes; this space follows DARTS, whose `Genotype`
it prints, and whose op set it uses without `none` (a discrete cell never picks it).

Architecture type: `DartsArch(normal, reduce)`, each cell a tuple of 2 x `nodes`
`(op, input)` pairs in DARTS genotype order (entries 2k and 2k+1 feed node k + 2).
Wire string: the DARTS genotype, e.g.
`Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...], normal_concat=range(2,
6), reduce=[...], reduce_concat=range(2, 6))`; `from_string` accepts any DARTS printout
(keyword or positional fields, `range(2, 6)` or `[2, 3, 4, 5]`).

Canonical hash: two cells are one network when they differ only by (a) the order of a
node's two branches (a sum) or (b) a relabelling of the intermediate nodes that keeps
every input earlier than its node (the concatenated output is the same set of tensors;
its channel order is absorbed by the 1x1 convolution that reads it). The hash is that of
the smallest relabelled form (all <= 4! relabellings are tried), per cell.
Size: `cell_classes` counts the classes exactly (orbit counting): 382,128,166 cells of the
1,037,664,180 labelled ones, so `cell_classes()**2` ~ 1.5e17 networks among ~1.1e18
genotypes (DARTS's "~10^18"); the space is never listed.

Features (LaNAS): for each cell, node and possible (predecessor, op) edge, 1.0 when the
edge is chosen, else 0 (DARTS's architecture weights, one-hot): 196 values in [0, 1].
`decode` discretises as DARTS does: per node the two predecessors whose best op scores
highest, each with that op.

Tokens (NAO): per cell and node, three positions: the pair of inputs (one token per
unordered pair of distinct predecessors), the op on the lower input, the op on the higher
input. Every masked sequence is a valid cell pair (24 positions, 17 tokens).
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from fractions import Fraction
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

OPS: tuple[str, ...] = (
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
"""DARTS's PRIMITIVES without `none`."""
NODES = 4
"""Intermediate nodes per cell (DARTS's `steps`)."""
CELLS = ("normal", "reduce")
INPUTS = 2
"""Cell inputs: node 0 = c_{k-2}, node 1 = c_{k-1}."""

Cell = tuple[tuple[str, int], ...]
_Coded = tuple[tuple[int, int], ...]
"""A cell as (op index, input) pairs."""


@dataclass(frozen=True)
class DartsArch:
    """A DARTS genotype: `normal` and `reduce` cells of `(op, input)` pairs."""

    normal: Cell
    reduce: Cell

    @classmethod
    def of(cls, normal: Sequence[Sequence[Any]], reduce: Sequence[Sequence[Any]]) -> DartsArch:
        """Build from lists such as DARTS's `Genotype.normal` / `.reduce`."""
        return cls(
            tuple((str(op), int(j)) for op, j in normal),
            tuple((str(op), int(j)) for op, j in reduce),
        )


def _pairs(nodes: int) -> list[tuple[int, int]]:
    """Unordered input pairs (a < b) ordered by b then a, so node k's are a prefix."""
    return [(a, b) for b in range(1, INPUTS + nodes - 1) for a in range(b)]


def _canonical(cell: _Coded, nodes: int) -> tuple[tuple[tuple[int, int], ...], ...]:
    """The smallest form of `cell` over valid relabellings of its intermediate nodes.

    Each node is written as its sorted (input, op) pairs; a relabelling is valid when
    every input of a node gets a smaller label than the node. Labels are given in order,
    each to a ready node (inputs labelled) whose pairs are smallest: that fixes the
    form's next element, so only such a node can come next in a smallest form; ready
    nodes with equal pairs (rare) are each tried. Far fewer steps than all nodes! orders.
    """
    best: list[Any] = [None]

    def extend(label: dict[int, int], left: tuple[int, ...], form: tuple[Any, ...]) -> None:
        if not left:
            if best[0] is None or form < best[0]:
                best[0] = form
            return
        reps = {}
        for old in left:
            branches = cell[2 * old : 2 * old + 2]
            if all(j in label for _, j in branches):
                reps[old] = tuple(sorted((label[j], op) for op, j in branches))
        low = min(reps.values())
        if best[0] is not None and form + (low,) > best[0][: len(form) + 1]:
            return
        for old, rep in reps.items():
            if rep == low:
                new = INPUTS + len(form)
                rest = tuple(o for o in left if o != old)
                extend({**label, INPUTS + old: new}, rest, (*form, rep))

    extend({j: j for j in range(INPUTS)}, tuple(range(nodes)), ())
    assert best[0] is not None  # some unlabelled node always has labelled inputs
    return best[0]


def _canonical_exhaustive(cell: _Coded, nodes: int) -> tuple[tuple[tuple[int, int], ...], ...]:
    """`_canonical` by trying every relabelling (a reference for tests)."""
    best = None
    for order in itertools.permutations(range(nodes)):  # order[new] = old node
        label = {j: j for j in range(INPUTS)}
        form = []
        for new, old in enumerate(order):
            branches = cell[2 * old : 2 * old + 2]
            if not all(j in label for _, j in branches):
                break
            form.append(tuple(sorted((label[j], op) for op, j in branches)))
            label[INPUTS + old] = INPUTS + new
        else:
            if best is None or tuple(form) < best:
                best = tuple(form)
    assert best is not None
    return best


@functools.lru_cache(maxsize=1 << 16)
def _cell_hash(cell: _Coded, nodes: int) -> str:
    return repr(_canonical(cell, nodes))


@functools.cache
def cell_classes(nodes: int = NODES, n_ops: int = len(OPS)) -> int:
    """Distinct cells (up to branch order and valid relabelling), counted exactly.

    For each shape (every node's unordered input pair): the cells of that shape number
    `n_ops ** (2 * nodes)`, and a cell's class holds `valid / |Aut|` labelled cells, where
    `valid` counts the relabellings that keep the shape topological and `Aut` those that
    map the cell onto itself. Summing `|Aut| / valid` over cells, an automorphism sigma of
    the shape fixes `n_ops ** cycles(sigma on the edges)` op assignments.
    """
    total = Fraction(0)
    choices = [list(itertools.combinations(range(INPUTS + k), 2)) for k in range(nodes)]
    for shape in itertools.product(*choices):
        valid, fixed = 0, 0
        for perm in itertools.permutations(range(nodes)):  # perm[old] = new
            label = [j if j < INPUTS else INPUTS + perm[j - INPUTS] for j in range(INPUTS + nodes)]
            if any(label[j] >= INPUTS + perm[k] for k in range(nodes) for j in shape[k]):
                continue
            valid += 1
            if all({label[j] for j in shape[k]} == set(shape[perm[k]]) for k in range(nodes)):
                edges = {(k, j): (perm[k], label[j]) for k in range(nodes) for j in shape[k]}
                fixed += n_ops ** _cycles(edges)
        total += Fraction(fixed, valid)
    assert total.denominator == 1
    return int(total)


def _cycles(mapping: dict[Any, Any]) -> int:
    seen: set[Any] = set()
    count = 0
    for start in mapping:
        if start in seen:
            continue
        count += 1
        x = start
        while x not in seen:
            seen.add(x)
            x = mapping[x]
    return count


class DartsSpace(SearchSpace):
    """The DARTS cell space (see the module docstring for every form it uses).

    Args:
        nodes: intermediate nodes per cell (DARTS: 4); other values exist for tests.
        ops: the op names (DARTS's without `none`).
    """

    name = "darts"

    def __init__(self, nodes: int = NODES, ops: Sequence[str] = OPS) -> None:
        if not 1 <= nodes <= 6:
            raise InvalidArgumentError(f"darts nodes must be in 1..6, got {nodes}")
        self.nodes = nodes
        self.ops = tuple(ops)
        self._op_index = {op: i for i, op in enumerate(self.ops)}
        self._pairs = _pairs(nodes)
        self._pair_index = {p: i for i, p in enumerate(self._pairs)}
        # Feature offsets: node k has INPUTS + k predecessors, each with len(ops) slots.
        self._edge_offset = [
            sum(INPUTS + i for i in range(k)) * len(self.ops) for k in range(nodes + 1)
        ]
        self._cell_dim = self._edge_offset[-1]
        self._token_spec = self._make_token_spec()

    def spec(self) -> dict[str, Any]:
        return {"builtin": "darts"}

    def size(self) -> int:
        """Distinct networks: `cell_classes() ** 2` (normal and reduce cells are independent)."""
        return cell_classes(self.nodes, len(self.ops)) ** 2

    # -- sampling and validity ----------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> DartsArch:
        """Each node: a uniformly random pair of distinct inputs and an op for each."""
        cells = []
        for _ in CELLS:
            cell: list[tuple[str, int]] = []
            for k in range(self.nodes):
                pair = self._pairs[int(rng.integers(len(self._pairs_of(k))))]
                ops = rng.integers(len(self.ops), size=2)
                cell += [(self.ops[int(ops[0])], pair[0]), (self.ops[int(ops[1])], pair[1])]
            cells.append(tuple(cell))
        return DartsArch(cells[0], cells[1])

    def _pairs_of(self, k: int) -> list[tuple[int, int]]:
        n = INPUTS + k
        return self._pairs[: n * (n - 1) // 2]

    def validate(self, arch: Any) -> None:
        if not isinstance(arch, DartsArch):
            raise InvalidArchitectureError(
                f"a darts architecture is a DartsArch(normal, reduce), got {type(arch).__name__}"
            )
        for name in CELLS:
            self._check_cell(name, getattr(arch, name))

    def _check_cell(self, name: str, cell: Any) -> None:
        n = 2 * self.nodes
        if not isinstance(cell, tuple) or len(cell) != n:
            got = len(cell) if isinstance(cell, (tuple, list)) else type(cell).__name__
            raise InvalidArchitectureError(
                f"{name}: a cell lists {n} (op, input) pairs ({self.nodes} nodes x 2), got {got}"
            )
        for i, entry in enumerate(cell):
            if not isinstance(entry, tuple) or len(entry) != 2:
                raise InvalidArchitectureError(
                    f"{name}[{i}] is {entry!r:.60}; expected (op, input)"
                )
            op, j = entry
            node = INPUTS + i // 2
            if op not in self._op_index:
                raise InvalidArchitectureError(
                    f"{name}[{i}]: unknown op {op!r:.40}; ops are {list(self.ops)}"
                )
            if type(j) is not int or not 0 <= j < node:
                raise InvalidArchitectureError(
                    f"{name}[{i}]: node {node} takes inputs from nodes 0..{node - 1}, "
                    f"got {j!r:.20}"
                )
            if i % 2 and j == cell[i - 1][1]:
                raise InvalidArchitectureError(
                    f"{name}[{i - 1}:{i + 1}]: node {node} takes both inputs from node {j}; "
                    "a DARTS node's two inputs are distinct nodes"
                )

    def _coded(self, cell: Cell) -> _Coded:
        return tuple((self._op_index[op], j) for op, j in cell)

    def canonical_hash(self, arch: DartsArch) -> str:
        """Equal exactly for cells equal up to branch order and node relabelling."""
        return digest(
            "|".join(_cell_hash(self._coded(getattr(arch, c)), self.nodes) for c in CELLS)
        )

    # -- wire forms ---------------------------------------------------------------------
    def _concat(self) -> str:
        return f"range({INPUTS}, {INPUTS + self.nodes})"

    def to_string(self, arch: DartsArch) -> str:
        concat = self._concat()
        return (
            f"Genotype(normal={format_edges(arch.normal)}, normal_concat={concat}, "
            f"reduce={format_edges(arch.reduce)}, reduce_concat={concat})"
        )

    def from_string(self, text: str) -> DartsArch:
        fields = parse_genotype(
            text, ("normal", "normal_concat", "reduce", "reduce_concat"), "darts"
        )
        want = list(range(INPUTS, INPUTS + self.nodes))
        for c in ("normal_concat", "reduce_concat"):
            if fields[c] != want:
                raise InvalidArchitectureError(
                    f"{c} is {fields[c]}; this space concatenates every intermediate node: "
                    f"{self._concat()}"
                )
        arch = DartsArch(tuple(fields["normal"]), tuple(fields["reduce"]))
        self.validate(arch)
        return arch

    def _param_names(self) -> list[tuple[str, int, str]]:
        return [(c, i, f) for c in CELLS for i in range(2 * self.nodes) for f in ("op", "input")]

    def to_params(self, arch: DartsArch) -> dict[str, ParamValue]:
        """`{cell}_{i}_op` / `{cell}_{i}_input` for entry i of each cell's genotype list."""
        out: dict[str, ParamValue] = {}
        for c in CELLS:
            for i, (op, j) in enumerate(getattr(arch, c)):
                out[f"{c}_{i}_op"] = op
                out[f"{c}_{i}_input"] = j
        return out

    def from_params(self, params: dict[str, ParamValue]) -> DartsArch:
        names = [f"{c}_{i}_{f}" for c, i, f in self._param_names()]
        unknown = sorted(set(params) - set(names))
        missing = [p for p in names if p not in params]
        if unknown or missing:
            raise InvalidArchitectureError(
                f"darts params are {{cell}}_{{i}}_op and {{cell}}_{{i}}_input for cell in "
                f"{list(CELLS)}, i in 0..{2 * self.nodes - 1}; unknown {unknown[:5]}, "
                f"missing {missing[:5]}"
            )
        cells = [
            tuple((params[f"{c}_{i}_op"], params[f"{c}_{i}_input"]) for i in range(2 * self.nodes))
            for c in CELLS
        ]
        arch = DartsArch(*cells)  # type: ignore[arg-type]
        self.validate(arch)
        return arch

    # -- features (LaNAS) ---------------------------------------------------------------
    @property
    def dim(self) -> int:
        return len(CELLS) * self._cell_dim

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(self.dim), np.ones(self.dim)

    def encode(self, arch: DartsArch) -> np.ndarray:
        x = np.zeros(self.dim)
        n_ops = len(self.ops)
        for c, name in enumerate(CELLS):
            for i, (op, j) in enumerate(getattr(arch, name)):
                k = i // 2
                x[c * self._cell_dim + self._edge_offset[k] + j * n_ops + self._op_index[op]] = 1
        return x

    def decode(self, x: np.ndarray) -> DartsArch | None:
        """Per node, the two predecessors with the highest best-op score, each with its
        best op (ties go to the lower index); None for a non-finite vector."""
        x = np.asarray(x, dtype=float)
        if x.shape != (self.dim,):
            raise InvalidArgumentError(
                f"darts feature vector must have shape ({self.dim},), got {x.shape}"
            )
        if not np.isfinite(x).all():
            return None
        n_ops = len(self.ops)
        cells = []
        for c in range(len(CELLS)):
            cell: list[tuple[str, int]] = []
            for k in range(self.nodes):
                start = c * self._cell_dim + self._edge_offset[k]
                block = x[start : start + (INPUTS + k) * n_ops].reshape(INPUTS + k, n_ops)
                best = block.max(axis=1)
                a, b = sorted(np.argsort(-best, kind="stable")[:2].tolist())
                cell += [
                    (self.ops[int(block[a].argmax())], a),
                    (self.ops[int(block[b].argmax())], b),
                ]
            cells.append(tuple(cell))
        return DartsArch(cells[0], cells[1])

    # -- tokens (NAO) -------------------------------------------------------------------
    def _make_token_spec(self) -> TokenSpec:
        n_ops = len(self.ops)
        vocab = n_ops + len(self._pairs)
        rows = []
        for _ in CELLS:
            for k in range(self.nodes):
                pair_row = np.zeros(vocab, dtype=bool)
                pair_row[n_ops : n_ops + len(self._pairs_of(k))] = True
                op_row = np.zeros(vocab, dtype=bool)
                op_row[:n_ops] = True
                rows += [pair_row, op_row, op_row]
        masks = np.array(rows)
        masks.flags.writeable = False
        return TokenSpec(len(rows), vocab, masks)

    def token_spec(self) -> TokenSpec:
        return self._token_spec

    def to_tokens(self, arch: DartsArch) -> list[int]:
        n_ops = len(self.ops)
        tokens: list[int] = []
        for name in CELLS:
            cell = getattr(arch, name)
            for k in range(self.nodes):
                lo, hi = sorted(cell[2 * k : 2 * k + 2], key=lambda e: e[1])
                tokens += [
                    n_ops + self._pair_index[(lo[1], hi[1])],
                    self._op_index[lo[0]],
                    self._op_index[hi[0]],
                ]
        return tokens

    def from_tokens(self, tokens: Sequence[int]) -> DartsArch | None:
        """The cells of a masked sequence (each node's lower input first), else None."""
        spec = self._token_spec
        toks = [int(t) for t in tokens]
        if len(toks) != spec.length or any(
            not 0 <= t < spec.vocab_size or not spec.masks[i, t] for i, t in enumerate(toks)
        ):
            return None
        n_ops = len(self.ops)
        cells = []
        it = iter(toks)
        for _ in CELLS:
            cell: list[tuple[str, int]] = []
            for _k in range(self.nodes):
                a, b = self._pairs[next(it) - n_ops]
                cell += [(self.ops[next(it)], a), (self.ops[next(it)], b)]
            cells.append(tuple(cell))
        return DartsArch(cells[0], cells[1])
