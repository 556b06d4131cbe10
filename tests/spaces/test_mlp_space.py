"""MLP space (the overview paper's MLPNAS): the paper's notation parses, unused trailing
slots never change the hash, and every sampled / decoded / token-built MLP is valid."""

from __future__ import annotations

import re

import numpy as np
import pytest

from archsampler.errors import InvalidArchitectureError
from archsampler.spaces import BUILTIN_SPACES
from archsampler.spaces import make_space
from archsampler.spaces.mlp import MAX_LAYERS
from archsampler.spaces.mlp import MLPSpace

SPACE = MLPSpace()
# The paper's best MNIST-digits MLP (its Table 4), in its notation (output layer omitted).
PAPER_BEST = (
    "(128, 'elu'), (64, 'relu'), (64, 'relu'), (32, 'relu'), (512, 'sigmoid'), "
    "(64, 'tanh'), (64, 'relu'), (32, 'relu'), (256, 'relu')"
)


def test_paper_notation_round_trips() -> None:
    arch = SPACE.from_string(PAPER_BEST)
    assert len(arch) == 9 and arch[4] == (512, "sigmoid", 0.0)
    assert SPACE.to_string(arch) == PAPER_BEST
    # the paper's Table 6 writes dropout as an item after a layer, and unquoted names
    with_dropout = SPACE.from_string("(512, sigmoid), (512, ReLU), dropout, (256, elu)")
    assert with_dropout == ((512, "sigmoid", 0.0), (512, "relu", 0.2), (256, "elu", 0.0))
    assert (
        SPACE.to_string(with_dropout) == "(512, 'sigmoid'), (512, 'relu'), dropout, (256, 'elu')"
    )
    assert make_space({"builtin": "mlp"}).to_string(arch) == PAPER_BEST
    assert {"nb201", "nb101", "darts", "darts_rnn", "mlp"} <= set(BUILTIN_SPACES)


def test_unused_slots_do_not_change_the_hash_features_or_tokens() -> None:
    spec = SPACE.token_spec()
    arch = SPACE.from_string("(32, 'elu'), (512, 'sigmoid'), dropout")
    tokens = SPACE.to_tokens(arch)
    rng = np.random.default_rng(0)
    for _ in range(20):
        noisy = list(tokens)
        for pos in range(1 + 3 * len(arch), spec.length):  # the slots after layer 2
            noisy[pos] = int(rng.choice(np.flatnonzero(spec.masks[pos])))
        assert SPACE.from_tokens(noisy) == arch
        x = SPACE.encode(arch)
        x[1 + 6 * len(arch) :] = rng.random(len(x) - 1 - 6 * len(arch))
        assert SPACE.decode(x) == arch
    assert SPACE.canonical_hash(arch) != SPACE.canonical_hash(arch[:1])
    assert SPACE.canonical_hash(arch) != SPACE.canonical_hash(
        ((32, "elu", 0.0), (512, "sigmoid", 0.0))
    )


def test_samples_round_trip_and_every_masked_form_is_valid() -> None:
    rng = np.random.default_rng(1)
    spec = SPACE.token_spec()
    assert (spec.length, spec.vocab_size, SPACE.dim) == (31, 23, 61)
    depths = []
    for _ in range(500):
        arch = SPACE.sample(rng)
        SPACE.validate(arch)
        depths.append(len(arch))
        assert SPACE.from_string(SPACE.to_string(arch)) == arch
        assert SPACE.from_params(SPACE.to_params(arch)) == arch
        assert SPACE.decode(SPACE.encode(arch)) == arch
        assert SPACE.from_tokens(SPACE.to_tokens(arch)) == arch
        tokens = [int(rng.choice(np.flatnonzero(row))) for row in spec.masks]
        SPACE.validate(SPACE.from_tokens(tokens))
        SPACE.validate(SPACE.decode(rng.random(SPACE.dim)))
    assert set(depths) == set(range(1, MAX_LAYERS + 1))
    assert SPACE.size() == sum(56**d for d in range(1, 11))
    assert SPACE.from_tokens([0] * spec.length) is None  # slot tokens out of their masks
    assert SPACE.decode(np.full(SPACE.dim, np.nan)) is None


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("(32, 'elu'), (48, 'relu')", "layer 2: width 48 is not one of"),
        ("(32, 'gelu')", "layer 1: unknown activation 'gelu'"),
        ("dropout, (32, 'elu')", "'dropout' at character 0 must follow a layer"),
        ("(32, 'elu'), dropout, dropout", "must follow a layer (at most one per layer)"),
        ("(32, 'elu') (64, 'elu')", "expected ',' at character 11"),
        (", ".join(["(8, 'relu')"] * 11), "1..10 hidden layers"),
        ("(32, 'elu'); (64, 'relu')", "expected ',' at character 11"),
        ("x" * 2000, "the limit is 1,024"),
    ],
)
def test_bad_strings_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=re.escape(message)):
        SPACE.from_string(text)


def test_bad_params_say_what_is_wrong() -> None:
    with pytest.raises(InvalidArchitectureError, match="'layers' must be an integer in 1..10"):
        SPACE.from_params({"layers": 11})
    params = SPACE.to_params(SPACE.from_string("(32, 'elu')"))
    assert params == {"layers": 1, "width_1": 32, "activation_1": "elu", "dropout_1": 0.0}
    with pytest.raises(InvalidArchitectureError, match=re.escape("unknown ['width_2']")):
        SPACE.from_params({**params, "width_2": 8})
    with pytest.raises(InvalidArchitectureError, match="dropout 0.5 is not one of"):
        SPACE.from_params({**params, "dropout_1": 0.5})
