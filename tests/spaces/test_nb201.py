"""NAS-Bench-201 space: the table's strings round-trip; features and tokens are faithful."""

from __future__ import annotations

import re

import numpy as np
import pytest

from archsampler.bench.tables import load_table
from archsampler.errors import InvalidArchitectureError
from archsampler.spaces import make_space
from archsampler.spaces.nb201 import NB201Space

SPACE = NB201Space()


def test_every_table_row_round_trips(benchmarks) -> None:
    table = load_table(benchmarks / "nb201" / "nb201_cifar10.csv", SPACE)
    assert len(table) == 15_625 == SPACE.size() == len(table.index)
    for arch in table.archs[::7]:
        assert SPACE.from_string(SPACE.to_string(arch)) == arch
        assert SPACE.from_params(SPACE.to_params(arch)) == arch
        assert SPACE.decode(SPACE.encode(arch)) == arch
        assert SPACE.from_tokens(SPACE.to_tokens(arch)) == arch
    best = int(np.argmax(table.columns["c10_valid_acc"]))
    assert SPACE.to_string(table.archs[best]).startswith("|nor_conv_3x3~0|+|nor_conv_3x3~0|")


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
        make_space({"builtin": "darts"})
