"""NAS-Bench-101 space: benchmark hashes, pruning, wire forms, features, tokens, errors."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest

from archsampler.errors import InvalidArchitectureError
from archsampler.spaces import make_space
from archsampler.spaces.graph_hash import module_hash
from archsampler.spaces.nb101 import MAX_EDGES
from archsampler.spaces.nb101 import OPS
from archsampler.spaces.nb101 import NB101Arch
from archsampler.spaces.nb101 import NB101Space
from archsampler.spaces.nb101 import sample_generative

SPACE = NB101Space()
C3, C1, MP = OPS


def _rows(benchmarks: Path) -> list[dict[str, str]]:
    with open(benchmarks / "nb101" / "nb101_subset.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _arch(bits: str, inner: list[str]) -> NB101Arch:
    ops = ["input", *inner, "output"]
    n = len(ops)
    return NB101Arch.of([[int(c) for c in bits[i * n : (i + 1) * n]] for i in range(n)], ops)


def _edges(n: int, edges: list[tuple[int, int]], inner: list[str]) -> NB101Arch:
    m = np.zeros((n, n), dtype=int)
    for i, j in edges:
        m[i, j] = 1
    return NB101Arch.of(m, ["input", *inner, "output"])


def _random_topological_relabel(arch: NB101Arch, rng: np.random.Generator) -> NB101Arch:
    """The same DAG with nodes renumbered along a random topological order."""
    m = np.array(arch.matrix)
    n = len(m)
    indeg = m.sum(axis=0)
    ready = [v for v in range(n) if indeg[v] == 0]
    order = []
    while ready:
        v = ready.pop(int(rng.integers(len(ready))))
        order.append(v)
        for w in np.flatnonzero(m[v]):
            indeg[w] -= 1
            if indeg[w] == 0:
                ready.append(int(w))
    return NB101Arch.of(m[np.ix_(order, order)], [arch.ops[v] for v in order])


@pytest.fixture(scope="module")
def table(benchmarks: Path) -> list[tuple[dict[str, str], NB101Arch]]:
    rows = _rows(benchmarks)
    return [(r, SPACE.from_params({"matrix": r["matrix"], "ops": r["ops"]})) for r in rows]


def test_all_table_hashes_reproduce(table) -> None:
    assert len(table) == 1000
    mismatches = [r["hash"] for r, a in table if SPACE.canonical_hash(a) != r["hash"]]
    assert mismatches == []


def test_table_rows_are_already_pruned_and_round_trip_through_params(table) -> None:
    for row, arch in table:
        assert SPACE.to_params(arch) == {"matrix": row["matrix"], "ops": row["ops"]}
        assert arch.num_vertices == int(row["num_vertices"])


def test_hash_is_invariant_under_isomorphism(table) -> None:
    rng = np.random.default_rng(0)
    changed = 0
    for row, arch in table[:300]:
        other = _random_topological_relabel(arch, rng)
        changed += other != arch
        assert SPACE.canonical_hash(other) == row["hash"]
        # The raw graph hash does not need a topological order at all.
        perm = rng.permutation(arch.num_vertices)
        m = np.array(arch.matrix)[np.ix_(perm, perm)]
        labels = [-1] + [OPS.index(op) for op in arch.ops[1:-1]] + [-2]
        assert module_hash(m, [labels[p] for p in perm]) == row["hash"]
    assert changed > 100  # the relabelling really moved nodes


def test_hash_distinguishes_ops_and_edges() -> None:
    a = _edges(4, [(0, 1), (1, 2), (2, 3)], [C3, C1])
    assert SPACE.canonical_hash(a) != SPACE.canonical_hash(
        _edges(4, [(0, 1), (1, 2), (2, 3)], [C3, MP])
    )
    assert SPACE.canonical_hash(a) != SPACE.canonical_hash(
        _edges(4, [(0, 1), (1, 2), (2, 3), (0, 3)], [C3, C1])
    )
    # A chain conv3x3 -> conv1x1 is not the chain conv1x1 -> conv3x3.
    assert SPACE.canonical_hash(a) != SPACE.canonical_hash(
        _edges(4, [(0, 1), (1, 2), (2, 3)], [C1, C3])
    )


def test_pruning_drops_dangling_nodes_without_changing_the_hash() -> None:
    core = _edges(4, [(0, 1), (1, 2), (2, 3), (0, 3)], [C3, MP])
    # Node 3 hangs off the input (no way out), node 4 feeds the output (no way in).
    padded = _edges(6, [(0, 1), (1, 2), (2, 5), (0, 5), (0, 3), (1, 3), (4, 5)], [C3, MP, C1, C1])
    assert SPACE.canonical_hash(padded) == SPACE.canonical_hash(core)
    assert SPACE.from_string(SPACE.to_string(padded)) == core
    assert SPACE.to_string(padded) == SPACE.to_string(core)
    np.testing.assert_array_equal(SPACE.encode(padded), SPACE.encode(core))


def test_string_round_trip_and_format(table) -> None:
    for _, arch in table:
        text = SPACE.to_string(arch)
        assert SPACE.from_string(text) == arch
    a = _edges(3, [(0, 1), (1, 2)], [MP])
    assert SPACE.to_string(a) == "matrix=010001000|ops=input,maxpool3x3,output"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("matrix=0100|ops=input,output|x", "must be 'matrix="),
        ("ops=input,output|matrix=0100", "must be 'matrix="),
        ("matrix=010|ops=input,output", "matrix has 3 characters; 2 ops need 4"),
        ("matrix=01x0|ops=input,output", "matrix character 2 (row 1, column 0) is 'x'"),
        ("matrix=0100|ops=input,outptu", "the last 'output'"),
        ("matrix=001000000|ops=input,conv5x5,output", "node 1: unknown op 'conv5x5'"),
    ],
)
def test_from_string_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=re.escape(message)):
        SPACE.from_string(text)


def test_params_errors() -> None:
    with pytest.raises(InvalidArchitectureError, match=r"unknown \['extra'\], missing \['ops'\]"):
        SPACE.from_params({"matrix": "0100", "extra": "1"})
    with pytest.raises(InvalidArchitectureError, match="'matrix' must be a string, got int"):
        SPACE.from_params({"matrix": 100, "ops": "input,output"})


def test_validity_errors_are_precise() -> None:
    def err(arch: object) -> str:
        with pytest.raises(InvalidArchitectureError) as info:
            SPACE.validate(arch)
        return str(info.value)

    # Ten live edges: a complete DAG on 5 nodes.
    complete5 = _edges(5, [(i, j) for i in range(5) for j in range(i + 1, 5)], [C3, C3, C3])
    assert err(complete5) == f"a cell has at most {MAX_EDGES} edges, got 10"
    assert "at most 7 nodes, got 8" in err(_edges(8, [(0, 7)], [C3] * 6))
    lower = NB101Arch.of([[0, 1, 0], [0, 0, 1], [0, 1, 0]], ["input", C3, "output"])
    assert "matrix[2][1] = 1 is on or below the diagonal" in err(lower)
    assert "node 2: unknown op 'conv5x5'" in err(_edges(4, [(0, 3)], [C3, "conv5x5"]))
    assert err(_edges(4, [(0, 1), (2, 3)], [C3, C3])) == (
        "input and output are disconnected: no path from node 0 to node 3"
    )
    assert "must be 'input'" in err(NB101Arch.of([[0, 1], [0, 0]], ["output", "input"]))
    assert "entries are 0 or 1" in err(NB101Arch(((0, 2), (0, 0)), ("input", "output")))
    assert "3 ops need a 3x3 matrix" in err(NB101Arch(((0, 1), (0, 0)), ("input", C3, "output")))
    assert "NB101Arch" in err(((0, 1), ("input", "output")))
    # Ten edges of which two dangle: valid once pruned, as in NAS-Bench-101.
    SPACE.validate(
        _edges(
            7,
            [(i, j) for i in range(5) for j in range(i + 1, 5) if j != 4] + [(3, 6), (0, 5)],
            [C3] * 5,
        )
    )


def test_samples_are_valid_pruned_and_distinct(table) -> None:
    rng = np.random.default_rng(1)
    archs = [SPACE.sample(rng) for _ in range(1000)]
    for a in archs[:200]:
        SPACE.validate(a)
        assert a.num_edges <= MAX_EDGES
        assert SPACE.from_string(SPACE.to_string(a)) == a  # already pruned
    assert len({SPACE.canonical_hash(a) for a in archs}) >= 0.97 * len(archs)
    # Close to uniform over cells: the table (a uniform sample of NB101) has 84 % 7-node cells.
    table_share = np.mean([a.num_vertices == 7 for _, a in table])
    sample_share = np.mean([a.num_vertices == 7 for a in archs])
    assert abs(sample_share - table_share) < 0.1
    assert {a.num_vertices for a in archs} >= {5, 6, 7}


def test_generative_sampler_is_valid_but_skewed_to_small_cells() -> None:
    rng = np.random.default_rng(5)
    archs = [sample_generative(rng) for _ in range(500)]
    for a in archs:
        SPACE.validate(a)
    assert np.mean([a.num_vertices == 7 for a in archs]) < 0.1


def test_encode_decode_round_trip(table) -> None:
    lo, hi = SPACE.bounds()
    assert lo.shape == hi.shape == (SPACE.dim,) == (36,)
    for _, arch in table:
        x = SPACE.encode(arch)
        assert x.shape == (SPACE.dim,) and np.all(x >= lo) and np.all(x <= hi)
        assert SPACE.decode(x) == arch
        noisy = np.clip(x + np.random.default_rng(2).uniform(-0.3, 0.3, x.shape), 0, 1)
        assert SPACE.decode(noisy) == arch


def test_decode_random_points_gives_valid_cells() -> None:
    rng = np.random.default_rng(3)
    decoded = [SPACE.decode(rng.uniform(0, 1, SPACE.dim)) for _ in range(500)]
    assert all(a is not None for a in decoded)
    for a in decoded:
        SPACE.validate(a)
    # Far from any cell with <= 9 edges: keeps the 9 best, still valid.
    crowded = SPACE.decode(np.ones(SPACE.dim))
    assert crowded is not None and crowded.num_edges == MAX_EDGES
    # All edges off: connects input and output through the best remaining edge.
    x = np.zeros(SPACE.dim)
    x[5] = 0.4  # slot (0, 6): input -> output
    assert SPACE.decode(x) == _edges(2, [(0, 1)], [])
    assert SPACE.decode(np.full(SPACE.dim, np.nan)) is None


def test_tokens_round_trip_and_masks(table) -> None:
    spec = SPACE.token_spec()
    assert spec.masks.shape == (spec.length, spec.vocab_size) == (26, 5)
    for _, arch in table:
        tokens = SPACE.to_tokens(arch)
        assert len(tokens) == spec.length
        assert all(spec.masks[k, t] for k, t in enumerate(tokens))
        assert SPACE.from_tokens(tokens) == arch


def test_from_tokens_rejects_invalid_sequences() -> None:
    spec = SPACE.token_spec()
    assert SPACE.from_tokens([0] * (spec.length - 1)) is None
    edge_positions = np.flatnonzero(spec.masks[:, 1])
    op_positions = np.flatnonzero(spec.masks[:, 2])
    tokens = [0] * spec.length
    for k in op_positions:
        tokens[k] = 2
    assert SPACE.from_tokens(tokens) is None  # no edges: disconnected
    tokens[edge_positions[0]] = 2  # an op token where an edge bit belongs
    assert SPACE.from_tokens(tokens) is None
    for k in edge_positions:
        tokens[k] = 1
    assert SPACE.from_tokens(tokens) is None  # 21 edges
    rng = np.random.default_rng(4)
    for _ in range(300):
        seq = [int(rng.choice(np.flatnonzero(row))) for row in spec.masks]
        arch = SPACE.from_tokens(seq)
        if arch is not None:
            SPACE.validate(arch)


def test_spec_rebuilds_the_space_and_size() -> None:
    space = make_space(SPACE.spec())
    assert isinstance(space, NB101Space) and space.name == "nb101"
    assert space.size() == 423_624
