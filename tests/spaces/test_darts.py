"""DARTS cell space: DARTS's own genotype strings round-trip, isomorphic cells share a hash
(branch order, intermediate nodes relabelled), the class count matches brute force, and
every sampled / decoded / token-built architecture is valid."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

from archsampler.errors import InvalidArchitectureError
from archsampler.spaces import make_space
from archsampler.spaces.darts import OPS
from archsampler.spaces.darts import DartsArch
from archsampler.spaces.darts import DartsSpace
from archsampler.spaces.darts import _canonical
from archsampler.spaces.darts import _canonical_exhaustive
from archsampler.spaces.darts import cell_classes

SPACE = DartsSpace()

# DARTS (second order) CIFAR-10 cells, as the DARTS paper's code prints them.
DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
    "('dil_conv_3x3', 2)], normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=range(2, 6))"
)
REDUCE = DARTS_V2[DARTS_V2.index("reduce=") :]


def cell(text: str) -> str:
    """A genotype with `text` as the normal cell and DARTS_V2's reduction cell."""
    return f"Genotype(normal=[{text}], normal_concat=range(2, 6), {REDUCE}"


def test_darts_genotype_round_trips_exactly() -> None:
    arch = SPACE.from_string(DARTS_V2)
    assert arch.normal[7] == ("dil_conv_3x3", 2)
    assert SPACE.to_string(arch) == DARTS_V2
    assert make_space({"builtin": "darts"}).from_string(DARTS_V2) == arch
    # positional fields and list concats are DARTS printouts too
    positional = DARTS_V2.replace("normal=", "").replace("normal_concat=", "")
    positional = positional.replace("reduce=", "").replace(
        "reduce_concat=range(2, 6)", "[2,3,4,5]"
    )
    assert SPACE.from_string(positional) == arch


@pytest.mark.parametrize(
    "a, b, same",
    [
        # the two branches of node 4 swapped
        (
            "('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)",
            "('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
            "('skip_connect', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('dil_conv_3x3', 2)",
            True,
        ),
        # nodes 2 and 3 exchanged (node 5 now reads node 3, the same tensor)
        (
            "('max_pool_3x3', 0), ('sep_conv_5x5', 1), ('avg_pool_3x3', 0), ('dil_conv_5x5', 1), "
            "('sep_conv_3x3', 2), ('skip_connect', 3), ('skip_connect', 0), ('dil_conv_3x3', 2)",
            "('avg_pool_3x3', 0), ('dil_conv_5x5', 1), ('max_pool_3x3', 0), ('sep_conv_5x5', 1), "
            "('skip_connect', 2), ('sep_conv_3x3', 3), ('skip_connect', 0), ('dil_conv_3x3', 3)",
            True,
        ),
        # node 3 (independent of node 2) moved last: labels 3, 4, 5 -> 5, 3, 4
        (
            "('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('max_pool_3x3', 1), ('skip_connect', 0), "
            "('dil_conv_3x3', 2), ('avg_pool_3x3', 0), ('sep_conv_5x5', 4), ('skip_connect', 2)",
            "('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('dil_conv_3x3', 2), ('avg_pool_3x3', 0), "
            "('sep_conv_5x5', 3), ('skip_connect', 2), ('max_pool_3x3', 1), ('skip_connect', 0)",
            True,
        ),
        # same ops, but node 5 reads node 2 instead of node 3 (node 3 differs from node 2)
        (
            "('max_pool_3x3', 0), ('sep_conv_5x5', 1), ('avg_pool_3x3', 0), ('dil_conv_5x5', 1), "
            "('sep_conv_3x3', 2), ('skip_connect', 3), ('skip_connect', 0), ('dil_conv_3x3', 2)",
            "('max_pool_3x3', 0), ('sep_conv_5x5', 1), ('avg_pool_3x3', 0), ('dil_conv_5x5', 1), "
            "('sep_conv_3x3', 2), ('skip_connect', 3), ('skip_connect', 0), ('dil_conv_3x3', 3)",
            False,
        ),
        # c_{k-2} and c_{k-1} are different tensors: swapping them is a different cell
        (
            "('sep_conv_3x3', 0), ('skip_connect', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)",
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)",
            False,
        ),
    ],
)
def test_isomorphic_cells_share_a_hash(a: str, b: str, same: bool) -> None:
    x, y = SPACE.from_string(cell(a)), SPACE.from_string(cell(b))
    assert x != y
    assert (SPACE.canonical_hash(x) == SPACE.canonical_hash(y)) is same


def test_normal_and_reduce_cells_are_not_interchangeable() -> None:
    arch = SPACE.from_string(DARTS_V2)
    swapped = DartsArch(arch.reduce, arch.normal)
    assert SPACE.canonical_hash(swapped) != SPACE.canonical_hash(arch)


@pytest.mark.parametrize("nodes, n_ops", [(2, 2), (3, 2), (2, 4)])
def test_class_count_matches_brute_force(nodes: int, n_ops: int) -> None:
    """`cell_classes` (orbit counting) equals the number of distinct hashes of every cell."""
    space = DartsSpace(nodes, OPS[:n_ops])
    per_node = [
        [
            ((o1, a), (o2, b))
            for a, b in itertools.combinations(range(2 + k), 2)
            for o1, o2 in itertools.product(OPS[:n_ops], repeat=2)
        ]
        for k in range(nodes)
    ]
    fixed = tuple(e for node in (choices[0] for choices in per_node) for e in node)
    hashes = {
        space.canonical_hash(DartsArch(tuple(e for node in combo for e in node), fixed))
        for combo in itertools.product(*per_node)
    }
    assert len(hashes) == cell_classes(nodes, n_ops)


def test_size_is_the_square_of_the_cell_classes() -> None:
    assert cell_classes() == 382_128_166
    assert SPACE.size() == 382_128_166**2
    assert SPACE.enumerate_archs() is None


def test_samples_round_trip_through_every_form() -> None:
    rng = np.random.default_rng(0)
    for _ in range(300):
        arch = SPACE.sample(rng)
        SPACE.validate(arch)
        key = SPACE.canonical_hash(arch)
        assert SPACE.from_string(SPACE.to_string(arch)) == arch
        assert SPACE.from_params(SPACE.to_params(arch)) == arch
        # sampled nodes list their lower input first, the form decode and tokens give
        assert SPACE.decode(SPACE.encode(arch)) == arch
        assert SPACE.from_tokens(SPACE.to_tokens(arch)) == arch
        assert SPACE.canonical_hash(SPACE.from_string(SPACE.to_string(arch))) == key
    darts = SPACE.from_string(DARTS_V2)  # a node listing its higher input first
    assert SPACE.canonical_hash(SPACE.decode(SPACE.encode(darts))) == SPACE.canonical_hash(darts)
    assert SPACE.canonical_hash(SPACE.from_tokens(SPACE.to_tokens(darts))) == SPACE.canonical_hash(
        darts
    )


def test_every_masked_token_sequence_and_feature_vector_is_valid() -> None:
    spec = SPACE.token_spec()
    assert (spec.length, spec.vocab_size) == (24, 17)
    rng = np.random.default_rng(1)
    for _ in range(300):
        tokens = [int(rng.choice(np.flatnonzero(row))) for row in spec.masks]
        arch = SPACE.from_tokens(tokens)
        assert arch is not None
        SPACE.validate(arch)
        assert SPACE.to_tokens(arch) == tokens
        x = rng.random(SPACE.dim)
        decoded = SPACE.decode(x)
        SPACE.validate(decoded)
        lo, hi = SPACE.bounds()
        assert ((lo <= SPACE.encode(decoded)) & (SPACE.encode(decoded) <= hi)).all()
    bad = [int(np.flatnonzero(row)[0]) for row in spec.masks]
    bad[0] = int(spec.vocab_size - 1)  # pair (3, 4) for node 2: masked
    assert SPACE.from_tokens(bad) is None
    assert SPACE.decode(np.full(SPACE.dim, np.nan)) is None


def test_decode_discretises_like_darts() -> None:
    """Per node the two predecessors with the strongest best op, each with that op."""
    x = np.zeros(SPACE.dim)
    n = len(OPS)
    # node 4, the third intermediate node of the normal cell: predecessors 0..3
    start = (2 + 3) * n
    x[start + 0 * n + OPS.index("skip_connect")] = 0.3
    x[start + 1 * n + OPS.index("sep_conv_5x5")] = 0.9
    x[start + 3 * n + OPS.index("dil_conv_3x3")] = 0.8
    x[start + 3 * n + OPS.index("max_pool_3x3")] = 0.7
    arch = SPACE.decode(x)
    assert arch.normal[4:6] == (("sep_conv_5x5", 1), ("dil_conv_3x3", 3))


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("normal=[]", "not a DARTS genotype"),
        ("Network(normal=[])", "must call Genotype"),
        (cell("('sep_conv_3x3', 0)"), "lists 8 (op, input) pairs"),
        (
            cell("('conv_7x7', 0), ('sep_conv_3x3', 1)" + ", ('sep_conv_3x3', 0)" * 6),
            "normal[0]: unknown op 'conv_7x7'",
        ),
        (
            cell("('sep_conv_3x3', 0), ('sep_conv_3x3', 2)" + ", ('sep_conv_3x3', 0)" * 6),
            "normal[1]: node 2 takes inputs from nodes 0..1",
        ),
        (
            cell("('sep_conv_3x3', 0), ('sep_conv_3x3', 0)" + ", ('sep_conv_3x3', 1)" * 6),
            "node 2 takes both inputs from node 0",
        ),
        (DARTS_V2.replace("normal_concat=range(2, 6)", "normal_concat=[2, 5]"), "normal_concat"),
        (DARTS_V2.replace("reduce_concat", "output"), "field 'output' is unknown"),
        (DARTS_V2.replace("normal=[", "normal=2 * [", 1), "list of (name, node) pairs"),
        ("Genotype(" + "x" * 5000 + ")", "the limit is 4,096"),
    ],
)
def test_bad_strings_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=re.escape(message)):
        SPACE.from_string(text)


def test_bad_params_say_what_is_wrong() -> None:
    params = SPACE.to_params(SPACE.from_string(DARTS_V2))
    with pytest.raises(InvalidArchitectureError, match=re.escape("missing ['normal_0_op']")):
        SPACE.from_params({k: v for k, v in params.items() if k != "normal_0_op"})
    with pytest.raises(InvalidArchitectureError, match="reduce\\[3\\]: node 3 takes inputs"):
        SPACE.from_params({**params, "reduce_3_input": 7})


@pytest.mark.parametrize("n_ops", [1, 2, len(OPS)])
def test_pruned_canonical_form_equals_trying_every_relabelling(n_ops: int) -> None:
    """Few ops make nodes with equal inputs and ops (the ties the search must branch on)."""
    space = DartsSpace(ops=OPS[:n_ops])
    rng = np.random.default_rng(n_ops)
    for _ in range(1000):
        coded = space._coded(space.sample(rng).normal)
        assert _canonical(coded, 4) == _canonical_exhaustive(coded, 4)
