"""NAS-Bench-201 space: the table's strings round-trip; features and tokens are faithful;
isomorphic cells share one canonical hash (NATS-Bench's 6,466 unique networks)."""

from __future__ import annotations

import csv
import re

import numpy as np
import pytest

from archsampler.bench.tables import load_table
from archsampler.errors import InvalidArchitectureError
from archsampler.spaces import make_space
from archsampler.spaces.nb201 import NB201Space
from archsampler.spaces.nb201 import unique_string

SPACE = NB201Space()


def test_every_table_row_round_trips(benchmarks) -> None:
    table = load_table(benchmarks / "nb201" / "nb201_cifar10.csv", SPACE)
    assert len(table) == 15_625 == len(set(table.archs))
    assert len(table.index) == 6_466 == SPACE.size()  # one entry per network
    for arch in table.archs[::7]:
        assert SPACE.from_string(SPACE.to_string(arch)) == arch
        assert SPACE.from_params(SPACE.to_params(arch)) == arch
        assert SPACE.decode(SPACE.encode(arch)) == arch
        assert SPACE.from_tokens(SPACE.to_tokens(arch)) == arch
    best = int(np.argmax(table.columns["c10_valid_acc"]))
    assert SPACE.to_string(table.archs[best]).startswith("|nor_conv_3x3~0|+|nor_conv_3x3~0|")


def test_hash_classes_are_exactly_the_tables_iso_classes(benchmarks) -> None:
    """Two cells share a hash exactly when the benchmark's `iso` column says they are one
    network (iso = the smallest index of the class)."""
    with open(benchmarks / "nb201" / "nb201_cifar10.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 15_625
    first: dict[str, int] = {}
    for row in rows:  # rows are in index order, so the first index of a class is its iso
        first.setdefault(SPACE.canonical_hash(SPACE.from_string(row["arch"])), int(row["index"]))
    mismatched = [
        row["index"]
        for row in rows
        if first[SPACE.canonical_hash(SPACE.from_string(row["arch"]))] != int(row["iso"])
    ]
    assert not mismatched, f"{len(mismatched)} cells in the wrong class, e.g. {mismatched[:5]}"
    assert len(first) == len({row["iso"] for row in rows}) == 6_466


@pytest.mark.parametrize(
    "a, b, same",
    [
        # the output's edge from node 2 is `none`: node 2's ops cannot matter
        (
            "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|",
            "|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|",
            True,
        ),
        # a skip into node 1 makes node 1 the input: conv from node 1 = conv from the input
        (
            "|skip_connect~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|",
            "|skip_connect~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|none~2|",
            True,
        ),
        # node 1 equals the input (skip), so the output's two terms only swap places
        (
            "|skip_connect~0|+|none~0|none~1|+|nor_conv_3x3~0|nor_conv_1x1~1|none~2|",
            "|skip_connect~0|+|none~0|none~1|+|nor_conv_1x1~0|nor_conv_3x3~1|none~2|",
            True,
        ),
        # different ops on a live edge: different networks
        (
            "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|none~2|",
            "|nor_conv_1x1~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|none~2|",
            False,
        ),
    ],
)
def test_isomorphic_cells_share_a_hash(a: str, b: str, same: bool) -> None:
    x, y = SPACE.from_string(a), SPACE.from_string(b)
    assert x != y
    assert (SPACE.canonical_hash(x) == SPACE.canonical_hash(y)) is same
    assert (unique_string(x) == unique_string(y)) is same


def test_samples_are_valid_and_reproducible() -> None:
    a = [SPACE.sample(np.random.default_rng(5)) for _ in range(3)]
    assert a[0] == a[1] == a[2]
    rng = np.random.default_rng(0)
    samples = [SPACE.sample(rng) for _ in range(2000)]
    for s in samples:
        SPACE.validate(s)
    counts = np.bincount(np.array(samples).ravel(), minlength=5)
    assert counts.min() > 0.17 * counts.sum()  # each op ~20 % of edges


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("|none~0|", "3 '+'-separated nodes, got 1"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 must have 2"),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|conv~2|", "unknown op 'conv'"),
        ("none~0+|none~0|none~1|+|none~0|none~1|none~2|", "is not of the form"),
    ],
)
def test_bad_strings_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=re.escape(message)):
        SPACE.from_string(text)


def test_make_space_rejects_unknown_builtin() -> None:
    assert isinstance(make_space({"builtin": "nb201"}), NB201Space)
    with pytest.raises(ValueError, match="unknown built-in space"):
        make_space({"builtin": "nb301"})
