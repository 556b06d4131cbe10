"""DARTS / ENAS recurrent cell space: DARTS's genotype round-trips, cells equal up to the
order of a node's children share a hash, the class count matches brute force, and every
sampled / decoded / token-built cell is valid."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

from archsampler.errors import InvalidArchitectureError
from archsampler.spaces import make_space
from archsampler.spaces.darts_rnn import ACTIVATIONS
from archsampler.spaces.darts_rnn import DartsRNNSpace
from archsampler.spaces.darts_rnn import tree_classes

SPACE = DartsRNNSpace()

# The DARTS (second order) Penn Treebank cell, as DARTS prints it.
DARTS_V2 = (
    "Genotype(recurrent=[('sigmoid', 0), ('relu', 1), ('relu', 1), ('identity', 1), "
    "('tanh', 2), ('sigmoid', 5), ('tanh', 3), ('relu', 5)], concat=range(1, 9))"
)


def test_darts_genotype_round_trips_exactly() -> None:
    arch = SPACE.from_string(DARTS_V2)
    assert arch[5] == ("sigmoid", 5)
    assert SPACE.to_string(arch) == DARTS_V2
    assert make_space({"builtin": "darts_rnn"}).from_string(DARTS_V2) == arch
    assert SPACE.from_string(DARTS_V2.replace("range(1, 9)", "[1, 2, 3, 4, 5, 6, 7, 8]")) == arch


def rnn(*pairs: tuple[str, int]) -> tuple[tuple[str, int], ...]:
    arch = tuple(pairs)
    SPACE.validate(arch)
    return arch


@pytest.mark.parametrize(
    "a, b, same",
    [
        # nodes 2 and 3 (both children of node 1) exchanged, with their subtrees
        (
            rnn(
                ("sigmoid", 0),
                ("relu", 1),
                ("tanh", 1),
                ("identity", 2),
                ("relu", 3),
                ("tanh", 3),
                ("relu", 0),
                ("sigmoid", 7),
            ),
            rnn(
                ("sigmoid", 0),
                ("tanh", 1),
                ("relu", 1),
                ("relu", 2),
                ("tanh", 2),
                ("identity", 3),
                ("relu", 0),
                ("sigmoid", 7),
            ),
            True,
        ),
        # the chain 7 -> 8 hung from the input written first (a relabelling of all nodes)
        (
            rnn(
                ("sigmoid", 0),
                ("relu", 1),
                ("tanh", 1),
                ("identity", 2),
                ("relu", 3),
                ("tanh", 3),
                ("relu", 0),
                ("sigmoid", 7),
            ),
            rnn(
                ("relu", 0),
                ("sigmoid", 1),
                ("sigmoid", 0),
                ("relu", 3),
                ("tanh", 3),
                ("identity", 4),
                ("relu", 5),
                ("tanh", 5),
            ),
            True,
        ),
        # same activations, but node 6 reads node 2 instead of node 3
        (
            rnn(
                ("sigmoid", 0),
                ("relu", 1),
                ("tanh", 1),
                ("identity", 2),
                ("relu", 3),
                ("tanh", 3),
                ("relu", 0),
                ("sigmoid", 7),
            ),
            rnn(
                ("sigmoid", 0),
                ("relu", 1),
                ("tanh", 1),
                ("identity", 2),
                ("relu", 3),
                ("tanh", 2),
                ("relu", 0),
                ("sigmoid", 7),
            ),
            False,
        ),
    ],
)
def test_isomorphic_cells_share_a_hash(a, b, same: bool) -> None:
    assert a != b
    assert (SPACE.canonical_hash(a) == SPACE.canonical_hash(b)) is same


@pytest.mark.parametrize("nodes, n_acts", [(3, 2), (5, 2), (4, 3)])
def test_class_count_matches_brute_force(nodes: int, n_acts: int) -> None:
    space = DartsRNNSpace(nodes, ACTIVATIONS[:n_acts])
    hashes = {
        space.canonical_hash(tuple(zip(acts, preds, strict=True)))
        for preds in itertools.product(*(range(i) for i in range(1, nodes + 1)))
        for acts in itertools.product(ACTIVATIONS[:n_acts], repeat=nodes)
    }
    assert len(hashes) == tree_classes(nodes, n_acts)


def test_size() -> None:
    assert tree_classes(8, 1) == 286  # rooted trees with 9 nodes (OEIS A000081)
    assert SPACE.size() == tree_classes() == 9_345_761
    assert SPACE.enumerate_archs() is None


def test_samples_round_trip_and_every_masked_form_is_valid() -> None:
    rng = np.random.default_rng(0)
    spec = SPACE.token_spec()
    assert (spec.length, spec.vocab_size) == (16, 12)
    for _ in range(300):
        arch = SPACE.sample(rng)
        SPACE.validate(arch)
        assert SPACE.from_string(SPACE.to_string(arch)) == arch
        assert SPACE.from_params(SPACE.to_params(arch)) == arch
        assert SPACE.decode(SPACE.encode(arch)) == arch
        assert SPACE.from_tokens(SPACE.to_tokens(arch)) == arch
        tokens = [int(rng.choice(np.flatnonzero(row))) for row in spec.masks]
        SPACE.validate(SPACE.from_tokens(tokens))
        SPACE.validate(SPACE.decode(rng.random(SPACE.dim)))
    assert SPACE.from_tokens([3] + [0] * 15) is None  # node 1 can only read node 0
    assert SPACE.decode(np.full(SPACE.dim, np.inf)) is None


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        (DARTS_V2.replace("('relu', 5)]", "]"), "lists 8 (activation, predecessor) pairs, got 7"),
        (
            DARTS_V2.replace("('tanh', 2)", "('gelu', 2)"),
            "recurrent[4]: unknown activation 'gelu'",
        ),
        (
            DARTS_V2.replace("('relu', 1)", "('relu', 2)", 1),
            "recurrent[1]: node 2 reads a node in 0..1",
        ),
        (DARTS_V2.replace("range(1, 9)", "[3, 6]"), "this space averages every node"),
        (DARTS_V2.replace("recurrent=", "normal="), "field 'normal' is unknown"),
    ],
)
def test_bad_strings_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=re.escape(message)):
        SPACE.from_string(text)
