"""NAS-Bench-101 cell: a DAG of at most 7 nodes and 9 edges, 3 operations per inner node.

Nodes that lie on no input -> output path are pruned (as NAS-Bench-101 does) before a cell
is validated, hashed, printed or encoded, so every architecture this space returns is pruned.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any
from typing import Sequence

import numpy as np

from archsampler.errors import InvalidArchitectureError
from archsampler.errors import InvalidArgumentError
from archsampler.spaces.base import ParamValue
from archsampler.spaces.base import SearchSpace
from archsampler.spaces.base import TokenSpec
from archsampler.spaces.graph_hash import Matrix
from archsampler.spaces.graph_hash import induced
from archsampler.spaces.graph_hash import live_dags
from archsampler.spaces.graph_hash import live_nodes
from archsampler.spaces.graph_hash import module_hash

INPUT = "input"
OUTPUT = "output"
OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
MAX_NODES = 7
MAX_EDGES = 9
NUM_CELLS = 423_624
"""Distinct (non-isomorphic) cells, as counted by NAS-Bench-101."""

# Upper-triangle slots of the padded 7x7 matrix, row-major: (0,1), (0,2), ..., (5,6).
EDGE_SLOTS: tuple[tuple[int, int], ...] = tuple(
    (i, j) for i in range(MAX_NODES) for j in range(i + 1, MAX_NODES)
)
_INNER = MAX_NODES - 2
_NO_EDGE, _EDGE, _OP0 = 0, 1, 2
_WIRE = "'matrix=<V*V 0/1 chars, row-major>|ops=<V comma-separated node labels>'"


@dataclass(frozen=True)
class NB101Arch:
    """A cell: `matrix[i][j] == 1` is an edge i -> j; `ops[0]` is input, `ops[-1]` output.

    Use `NB101Arch.of(matrix, ops)` to build one from lists or numpy arrays.
    """

    matrix: Matrix
    ops: tuple[str, ...]

    @classmethod
    def of(cls, matrix: Sequence[Sequence[int]] | np.ndarray, ops: Sequence[str]) -> NB101Arch:
        """Build from any nested sequence of 0/1 values and a sequence of op labels."""
        return cls(tuple(tuple(int(v) for v in row) for row in matrix), tuple(ops))

    @property
    def num_vertices(self) -> int:
        return len(self.ops)

    @property
    def num_edges(self) -> int:
        return sum(map(sum, self.matrix))


def prune(arch: Any) -> NB101Arch:
    """Validate `arch` and drop the nodes on no input -> output path.

    Raises:
        InvalidArchitectureError: what is wrong (shape, entries, ops, connectivity, limits).
    """
    if not isinstance(arch, NB101Arch):
        raise InvalidArchitectureError(
            f"an nb101 architecture is an NB101Arch(matrix, ops), got {type(arch).__name__}"
        )
    ops, matrix, n = arch.ops, arch.matrix, len(arch.ops)
    if (
        not isinstance(ops, tuple)
        or not isinstance(matrix, tuple)
        or not all(isinstance(r, tuple) for r in matrix)
    ):
        raise InvalidArchitectureError("NB101Arch holds tuples; build it with NB101Arch.of")
    if n < 2:
        raise InvalidArchitectureError(f"a cell needs at least input and output nodes, got {n}")
    if n > MAX_NODES:
        raise InvalidArchitectureError(f"a cell has at most {MAX_NODES} nodes, got {n}")
    if len(matrix) != n or any(len(r) != n for r in matrix):
        shape = f"{len(matrix)} rows of lengths {[len(r) for r in matrix]}"
        raise InvalidArchitectureError(f"{n} ops need a {n}x{n} matrix, got {shape}")
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            if type(v) is not int or v not in (0, 1):
                raise InvalidArchitectureError(f"matrix[{i}][{j}] is {v!r}; entries are 0 or 1")
            if v and j <= i:
                raise InvalidArchitectureError(
                    f"matrix[{i}][{j}] = 1 is on or below the diagonal; the matrix must be "
                    "strictly upper-triangular (edges go from a lower to a higher node)"
                )
    if ops[0] != INPUT or ops[-1] != OUTPUT:
        raise InvalidArchitectureError(
            f"the first op must be {INPUT!r} and the last {OUTPUT!r}, got {ops[0]!r}, {ops[-1]!r}"
        )
    for k, op in enumerate(ops[1:-1], start=1):
        if op not in OPS:
            raise InvalidArchitectureError(f"node {k}: unknown op {op!r}; ops are {list(OPS)}")
    live = live_nodes(matrix)
    if not live:
        raise InvalidArchitectureError(
            f"input and output are disconnected: no path from node 0 to node {n - 1}"
        )
    pruned = NB101Arch(induced(matrix, live), tuple(ops[k] for k in live))
    if pruned.num_edges > MAX_EDGES:
        dropped = f" (after pruning {n - len(live)} dangling nodes)" if len(live) < n else ""
        raise InvalidArchitectureError(
            f"a cell has at most {MAX_EDGES} edges, got {pruned.num_edges}{dropped}"
        )
    return pruned


def _padded_index(node: int, n: int) -> int:
    """Position of `node` of an n-node cell in the 7-node padding (output moves to 6)."""
    return MAX_NODES - 1 if node == n - 1 else node


def _padded(arch: NB101Arch) -> tuple[np.ndarray, list[int]]:
    """7x7 matrix and 5 inner op indices of a pruned cell; padding nodes are isolated."""
    n = arch.num_vertices
    full = np.zeros((MAX_NODES, MAX_NODES), dtype=np.int64)
    for i in range(n):
        for j in range(i + 1, n):
            full[_padded_index(i, n), _padded_index(j, n)] = arch.matrix[i][j]
    ops = [OPS.index(op) for op in arch.ops[1:-1]] + [0] * (MAX_NODES - n)
    return full, ops


def _from_padded(full: np.ndarray, ops: Sequence[int]) -> NB101Arch:
    labels = (INPUT, *(OPS[int(o)] for o in ops), OUTPUT)
    return prune(NB101Arch.of(full, labels))


def _token_spec() -> TokenSpec:
    vocab = _OP0 + len(OPS)
    rows = []
    for j in range(1, MAX_NODES):
        rows += [[t in (_NO_EDGE, _EDGE) for t in range(vocab)]] * j
        if j < MAX_NODES - 1:
            rows.append([t >= _OP0 for t in range(vocab)])
    masks = np.array(rows, dtype=bool)
    masks.flags.writeable = False
    return TokenSpec(len(rows), vocab, masks)


_TOKEN_SPEC = _token_spec()


def sample_generative(rng: np.random.Generator) -> NB101Arch:
    """NAS-Bench-101's own sampler: a random 7-node upper-triangular matrix and random ops,
    redrawn until valid after pruning. Strongly biased to small cells (see the space docs)."""
    while True:
        full = np.zeros((MAX_NODES, MAX_NODES), dtype=np.int64)
        full[np.triu_indices(MAX_NODES, k=1)] = rng.integers(0, 2, size=len(EDGE_SLOTS))
        try:
            return _from_padded(full, rng.integers(0, len(OPS), size=_INNER))
        except InvalidArchitectureError:
            continue


@functools.cache
def _shapes() -> tuple[list[tuple[int, int]], np.ndarray]:
    """(nodes, edge bitmask) of every pruned valid DAG, and cumulative sampling probabilities."""
    shapes = [(n, int(m)) for n in range(2, MAX_NODES + 1) for m in live_dags(n, MAX_EDGES)]
    weights = np.array([len(OPS) ** (n - 2) for n, _ in shapes], dtype=float)
    return shapes, np.cumsum(weights) / weights.sum()


def _round_edges(values: np.ndarray) -> np.ndarray:
    """Padded 7x7 matrix from edge scores; see `NB101Space.decode`."""
    full = np.zeros((MAX_NODES, MAX_NODES), dtype=np.int64)
    for k, (i, j) in enumerate(EDGE_SLOTS):
        full[i, j] = values[k] > 0.5
    for k in np.argsort(-values, kind="stable"):
        if live_nodes(full):
            break
        full[EDGE_SLOTS[k]] = 1
    # Dropping an edge can strand others; drop the one that loses the least score.
    score = 2.0 * values - 1.0
    live = _live_slots(full)
    while len(live) > MAX_EDGES:
        best: tuple[float, int] | None = None
        for k in live:
            full[EDGE_SLOTS[k]] = 0
            rest = _live_slots(full)
            full[EDGE_SLOTS[k]] = 1
            if rest:
                lost = float(score[live].sum() - score[rest].sum())
                best = min(best, (lost, k)) if best else (lost, k)
        if best is None:  # unreachable: > 9 edges on 7 nodes always include a non-bridge
            break
        full[EDGE_SLOTS[best[1]]] = 0
        live = _live_slots(full)
    return full


def _live_slots(full: np.ndarray) -> list[int]:
    """Indices into `EDGE_SLOTS` of the edges on input -> output paths of a padded matrix."""
    live = set(live_nodes(full))
    return [k for k, (i, j) in enumerate(EDGE_SLOTS) if full[i, j] and i in live and j in live]


class NB101Space(SearchSpace):
    """The NAS-Bench-101 space; architectures are pruned `NB101Arch` values.

    Features (LaNAS): the 21 upper-triangle edge bits of the cell padded to 7 nodes (output
    at node 6) then a one-hot over `OPS` for each of the 5 inner nodes (zeros for padding);
    36 values in [0, 1]. Tokens (NAO): for each node j = 1..6, its incoming edge bits from
    nodes 0..j-1 (tokens 0 = none, 1 = edge), then for inner nodes its op (tokens 2..4);
    26 positions.
    """

    name = "nb101"

    def spec(self) -> dict[str, Any]:
        return {"builtin": "nb101"}

    def size(self) -> int:
        return NUM_CELLS

    def sample(self, rng: np.random.Generator) -> NB101Arch:
        """Uniform over pruned (matrix, ops) pairs: every valid upper-triangular cell with no
        dangling node, and any ops, is equally likely (see `sample_generative` for NB101's)."""
        shapes, cumulative = _shapes()
        n, mask = shapes[
            int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
        ]
        matrix = np.zeros((n, n), dtype=np.int64)
        rows, cols = np.triu_indices(n, k=1)
        bits = (mask >> np.arange(len(rows))) & 1
        matrix[rows, cols] = bits
        ops = [OPS[int(o)] for o in rng.integers(0, len(OPS), size=n - 2)]
        return prune(NB101Arch.of(matrix, [INPUT, *ops, OUTPUT]))

    def validate(self, arch: Any) -> None:
        prune(arch)

    def canonical_hash(self, arch: NB101Arch) -> str:
        pruned = prune(arch)
        labels = [-1] + [OPS.index(op) for op in pruned.ops[1:-1]] + [-2]
        return module_hash(pruned.matrix, labels)

    # -- wire forms ---------------------------------------------------------------------
    def to_string(self, arch: NB101Arch) -> str:
        params = self.to_params(arch)
        return f"matrix={params['matrix']}|ops={params['ops']}"

    def from_string(self, text: str) -> NB101Arch:
        if not isinstance(text, str) or not text:
            raise InvalidArchitectureError("nb101 architecture string is empty")
        parts = text.split("|")
        if (
            len(parts) != 2
            or not parts[0].startswith("matrix=")
            or not parts[1].startswith("ops=")
        ):
            raise InvalidArchitectureError(f"nb101 string must be {_WIRE}, got {text[:120]!r}")
        return self._from_wire(parts[0][len("matrix=") :], parts[1][len("ops=") :])

    def to_params(self, arch: NB101Arch) -> dict[str, ParamValue]:
        pruned = prune(arch)
        bits = "".join(str(v) for row in pruned.matrix for v in row)
        return {"matrix": bits, "ops": ",".join(pruned.ops)}

    def from_params(self, params: dict[str, ParamValue]) -> NB101Arch:
        unknown = sorted(set(params) - {"matrix", "ops"})
        missing = [p for p in ("matrix", "ops") if p not in params]
        if unknown or missing:
            raise InvalidArchitectureError(
                f"nb101 params must be exactly ['matrix', 'ops']; "
                f"unknown {unknown}, missing {missing}"
            )
        for key in ("matrix", "ops"):
            if not isinstance(params[key], str):
                raise InvalidArchitectureError(
                    f"nb101 param {key!r} must be a string, got {type(params[key]).__name__}"
                )
        return self._from_wire(str(params["matrix"]), str(params["ops"]))

    def _from_wire(self, bits: str, ops_text: str) -> NB101Arch:
        ops = ops_text.split(",")
        n = len(ops)
        if n > MAX_NODES:
            raise InvalidArchitectureError(f"a cell has at most {MAX_NODES} nodes, got {n} ops")
        if len(bits) != n * n:
            raise InvalidArchitectureError(
                f"matrix has {len(bits)} characters; {n} ops need {n * n} ({n}x{n}, row-major)"
            )
        for k, c in enumerate(bits):
            if c not in "01":
                raise InvalidArchitectureError(
                    f"matrix character {k} (row {k // n}, column {k % n}) is {c!r}; "
                    "only '0' and '1' are allowed"
                )
        return prune(
            NB101Arch.of([[int(c) for c in bits[i * n : (i + 1) * n]] for i in range(n)], ops)
        )

    # -- real-vector features (LaNAS) ---------------------------------------------------
    @property
    def dim(self) -> int:
        return len(EDGE_SLOTS) + _INNER * len(OPS)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(self.dim), np.ones(self.dim)

    def encode(self, arch: NB101Arch) -> np.ndarray:
        pruned = prune(arch)
        full, ops = _padded(pruned)
        onehot = np.zeros((_INNER, len(OPS)))
        inner = pruned.num_vertices - 2
        onehot[np.arange(inner), ops[:inner]] = 1.0
        return np.concatenate(
            [full[np.triu_indices(MAX_NODES, k=1)].astype(float), onehot.ravel()]
        )

    def decode(self, x: np.ndarray) -> NB101Arch | None:
        """Edges above 0.5, made valid at the least cost; each op is its largest one-hot entry.

        If input and output are disconnected, the largest edges below 0.5 are added until
        they connect. While more than 9 edges are live, the live edge is dropped whose removal
        keeps them connected and loses the least score (2x - 1 summed over the edges it cuts
        off).
        """
        x = np.asarray(x, dtype=float)
        if x.shape != (self.dim,):
            raise InvalidArgumentError(
                f"nb101 feature vector must have shape ({self.dim},), got {x.shape}"
            )
        if not np.isfinite(x).all():
            return None
        full = _round_edges(x[: len(EDGE_SLOTS)])
        ops = x[len(EDGE_SLOTS) :].reshape(_INNER, len(OPS)).argmax(axis=1)
        try:
            return _from_padded(full, ops)
        except InvalidArchitectureError:
            return None

    # -- token sequences (NAO) ----------------------------------------------------------
    def token_spec(self) -> TokenSpec:
        return _TOKEN_SPEC

    def to_tokens(self, arch: NB101Arch) -> list[int]:
        full, ops = _padded(prune(arch))
        tokens: list[int] = []
        for j in range(1, MAX_NODES):
            tokens += [int(full[i, j]) for i in range(j)]
            if j < MAX_NODES - 1:
                tokens.append(_OP0 + ops[j - 1])
        return tokens

    def from_tokens(self, tokens: Sequence[int]) -> NB101Arch | None:
        spec = _TOKEN_SPEC
        toks = [int(t) for t in tokens]
        if len(toks) != spec.length:
            return None
        if any(not 0 <= t < spec.vocab_size or not spec.masks[k, t] for k, t in enumerate(toks)):
            return None
        full = np.zeros((MAX_NODES, MAX_NODES), dtype=np.int64)
        ops: list[int] = []
        it = iter(toks)
        for j in range(1, MAX_NODES):
            for i in range(j):
                full[i, j] = next(it)
            if j < MAX_NODES - 1:
                ops.append(next(it) - _OP0)
        try:
            return _from_padded(full, ops)
        except InvalidArchitectureError:
            return None
