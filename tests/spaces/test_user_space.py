"""User-defined search space: spec validation, conditions, constraints, wire forms, codecs."""

from __future__ import annotations

import copy
import itertools
import json
import re
import time

import numpy as np
import pytest

from archsampler.errors import InvalidArchitectureError
from archsampler.errors import InvalidArgumentError
from archsampler.spaces import make_space
from archsampler.spaces.user import UserSpace
from archsampler.spaces.user import load_space_file
from archsampler.spaces.user import parse_row
from archsampler.testing.spaces import categorical_space

EXAMPLE_JSON = """
{"params": [{"name": "depth", "type": "int", "low": 1, "high": 8},
 {"name": "op1", "type": "categorical", "choices": ["conv3", "conv5", "skip"]},
 {"name": "lr", "type": "float", "low": 1e-4, "high": 1e-1, "log": true,
  "condition": {"param": "depth", "op": ">=", "value": 3}}],
 "constraints": [{"coefficients": {"depth": 1.0}, "op": "<=", "bound": 6}]}
"""
EXAMPLE = json.loads(EXAMPLE_JSON)

# Every kind of param, nested conditions, an `in` condition, binned ints, constraints
# touching log-scale and conditional params.
RICH = {
    "params": [
        {"name": "depth", "type": "int", "low": 1, "high": 6},
        {"name": "width", "type": "int", "low": 16, "high": 512, "step": 16},
        {"name": "units", "type": "int", "low": 1, "high": 5000, "log": True},
        {"name": "act", "type": "categorical", "choices": ["relu", "gelu", "swish"]},
        {
            "name": "alpha",
            "type": "float",
            "low": 0.0,
            "high": 1.0,
            "condition": {"param": "act", "op": "in", "value": ["gelu", "swish"]},
        },
        {
            "name": "kernel",
            "type": "int",
            "low": 1,
            "high": 7,
            "step": 2,
            "condition": {"param": "depth", "op": ">", "value": 2},
        },
        {
            "name": "dil",
            "type": "categorical",
            "choices": ["1", "2"],
            "condition": {"param": "kernel", "op": "!=", "value": 1},
        },
        {"name": "wd", "type": "float", "low": 1e-6, "high": 1e-2, "log": True},
    ],
    "constraints": [
        {"coefficients": {"depth": 1.0, "width": 0.01}, "op": "<=", "bound": 8},
        {"coefficients": {"kernel": 1.0, "units": 0.001}, "op": "<=", "bound": 9},
        {"coefficients": {"depth": 1.0, "alpha": -2.0}, "op": ">=", "bound": 0.5},
    ],
}


@pytest.fixture(scope="module")
def example() -> UserSpace:
    return UserSpace.from_spec(EXAMPLE)


@pytest.fixture(scope="module")
def rich() -> UserSpace:
    return UserSpace.from_spec(RICH)


def _samples(space: UserSpace, n: int, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    return [space.sample(rng) for _ in range(n)]


def test_example_json_loads_from_file_and_spec(tmp_path, example):
    path = tmp_path / "space.json"
    path.write_text(EXAMPLE_JSON)
    assert load_space_file(path) == example
    path.write_text(json.dumps({"user": EXAMPLE}))
    assert load_space_file(path) == example
    assert make_space({"user": EXAMPLE}) == example
    assert example.name == "user"


def test_load_space_file_errors_name_the_file(tmp_path):
    with pytest.raises(InvalidArgumentError, match="cannot read space file"):
        load_space_file(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"params": [')
    with pytest.raises(InvalidArgumentError, match="not JSON.*line 1"):
        load_space_file(bad)
    bad.write_text('{"params": [], "x": 1}')
    with pytest.raises(InvalidArgumentError, match=r"bad\.json.*params"):
        load_space_file(bad)


@pytest.mark.parametrize("spec", [EXAMPLE, RICH], ids=["example", "rich"])
def test_spec_round_trips_through_make_space(spec):
    space = UserSpace.from_spec(spec)
    again = make_space(json.loads(json.dumps(space.spec())))
    assert again == space
    assert again.spec() == space.spec()
    assert hash(again) == hash(space)


@pytest.mark.parametrize("spec", [EXAMPLE, RICH], ids=["example", "rich"])
def test_samples_are_valid_reproducible_and_round_trip(spec):
    space = UserSpace.from_spec(spec)
    archs = _samples(space, 300, seed=1)
    assert archs == _samples(space, 300, seed=1)
    assert archs != _samples(space, 300, seed=2)
    for a in archs:
        space.validate(a)
        assert space.from_string(space.to_string(a)) == a
        assert space.from_params(space.to_params(a)) == a
        x = space.encode(a)
        lo, hi = space.bounds()
        assert x.shape == (space.dim,) and np.all(x >= lo) and np.all(x <= hi)
        assert space.decode(x) == a
        assert len({space.canonical_hash(a)}) == 1


def test_samples_respect_constraints_and_cover_the_space(example):
    archs = _samples(example, 2000)
    depths = {dict(a)["depth"] for a in archs}
    assert depths == set(range(1, 7))  # 7 and 8 violate depth <= 6
    lrs = [dict(a)["lr"] for a in archs if "lr" in dict(a)]
    assert all(("lr" in dict(a)) == (dict(a)["depth"] >= 3) for a in archs)
    # Log-uniform: about half the mass below the geometric midpoint 10^-2.5.
    assert 0.4 < np.mean(np.array(lrs) < 10**-2.5) < 0.6


def test_conditional_activation(example):
    assert example.from_params({"depth": 2, "op1": "conv3"}) == (("depth", 2), ("op1", "conv3"))
    with pytest.raises(InvalidArchitectureError, match=r"lr: inactive \(depth >= 3 is false"):
        example.from_params({"depth": 2, "op1": "conv3", "lr": 0.01})
    with pytest.raises(InvalidArchitectureError, match=r"lr: active \(depth >= 3 holds\)"):
        example.from_params({"depth": 3, "op1": "conv3"})
    arch = example.from_string("depth=3,op1=skip,lr=0.01")
    assert arch == (("depth", 3), ("op1", "skip"), ("lr", 0.01))


def test_nested_condition_is_inactive_when_its_parent_is(rich):
    base = {"depth": 2, "width": 32, "units": 10, "act": "relu", "wd": 1e-3}
    arch = rich.from_params(base)
    assert "kernel" not in dict(arch) and "dil" not in dict(arch)
    with pytest.raises(InvalidArchitectureError, match="dil: inactive.*'kernel' is inactive"):
        rich.from_params({**base, "dil": "2"})
    with pytest.raises(InvalidArchitectureError, match="dil: active"):
        rich.from_params({**base, "depth": 3, "kernel": 3})
    assert rich.from_params({**base, "depth": 3, "kernel": 1})  # kernel == 1: dil inactive


def test_constraints_are_enforced(example, rich):
    with pytest.raises(InvalidArchitectureError, match=r"constraint 0 \(1\*depth <= 6\)"):
        example.from_string("depth=7,op1=conv3,lr=0.01")
    base = {"depth": 3, "width": 32, "units": 10, "act": "gelu", "wd": 1e-3, "kernel": 5}
    with pytest.raises(InvalidArchitectureError, match="constraint 1"):
        rich.from_params({**base, "units": 4500, "dil": "1", "alpha": 0.1})
    shallow = {"depth": 1, "width": 32, "units": 10, "act": "gelu", "wd": 1e-3}
    with pytest.raises(InvalidArchitectureError, match="constraint 2"):
        rich.from_params({**shallow, "alpha": 0.3})
    assert rich.from_params({**shallow, "alpha": 0.25})  # 1 - 0.5 >= 0.5
    assert rich.from_params({**shallow, "act": "relu"})  # inactive alpha counts as 0


def test_feature_constraints_hold_for_every_valid_arch(example, rich):
    c = example.constraints()
    for a in _samples(example, 200):
        assert np.all(c.A @ example.encode(a) <= c.b + 1e-9)
    # Exact for a linear unconditional param: depth 7 is outside the polytope.
    assert np.any(c.A @ example.encode((("depth", 7), ("op1", "skip"), ("lr", 0.01))) > c.b)
    c = rich.constraints()
    assert c.A.shape == (2, rich.dim)  # constraint 1 has only relaxed terms: omitted
    for a in _samples(rich, 300):
        assert np.all(c.A @ rich.encode(a) <= c.b + 1e-9)


def test_decode_clips_rounds_activates_and_rejects(example):
    x = np.array([0.3, 0.2, 0.9, 0.1, 2.0])  # depth 3.1 -> 3, op1 argmax -> conv5, lr clipped
    assert example.decode(x) == (("depth", 3), ("op1", "conv5"), ("lr", 0.1))
    assert example.decode(np.array([0.1, 0.0, 0.0, 1.0, 0.5])) == (("depth", 2), ("op1", "skip"))
    assert example.decode(np.array([1.0, 1.0, 0.0, 0.0, 0.5])) is None  # depth 8 > 6
    assert example.decode(np.array([np.nan, 1.0, 0.0, 0.0, 0.5])) is None
    rng = np.random.default_rng(0)
    for x in rng.uniform(-0.2, 1.2, size=(200, example.dim)):
        arch = example.decode(x)
        if arch is not None:
            example.validate(arch)


def test_tokens_round_trip_and_masks(example, rich):
    spec = example.token_spec()
    assert spec.length == 3
    assert not spec.masks[0, 0] and spec.masks[2, 0]  # only conditional params may be inactive
    for a in _samples(example, 100):
        t = example.to_tokens(a)
        assert all(spec.masks[i, tok] for i, tok in enumerate(t))
        back = example.from_tokens(t)
        assert dict(back)["depth"] == dict(a)["depth"] and example.to_tokens(back) == t
    spec = rich.token_spec()
    for a in _samples(rich, 200):
        t = rich.to_tokens(a)
        assert all(spec.masks[i, tok] for i, tok in enumerate(t))
        back = rich.from_tokens(t)
        if back is not None:  # binned values may move across a constraint boundary
            assert rich.to_tokens(back) == t
    rng = np.random.default_rng(0)
    for _ in range(300):
        t = [int(rng.choice(np.flatnonzero(row))) for row in spec.masks]
        arch = rich.from_tokens(t)
        if arch is not None:
            rich.validate(arch)
    assert example.from_tokens([0, 1, 1]) is None  # depth is never inactive
    assert example.from_tokens([1, 1]) is None


def test_binned_log_int_tokens_are_consistent(rich):
    i = [p["name"] for p in RICH["params"]].index("units")
    mask = rich.token_spec().masks[i]
    assert not mask.all()  # some log bins hold no integer between 1 and 2
    codec = rich._codecs[i]
    for k in range(codec.n_tokens):
        v = codec.value_of_token(k)
        assert (v is not None) == mask[k + 1]
        if v is not None:
            assert codec.token(v) == k
    for v in (1, 2, 3, 10, 99, 100, 4999, 5000):
        assert mask[codec.token(v) + 1]


def test_canonical_hash_rounds_floats(example):
    a = example.from_params({"depth": 4, "op1": "conv3", "lr": 0.001})
    b = example.from_params({"depth": 4, "op1": "conv3", "lr": 0.001 * (1 + 1e-14)})
    c = example.from_params({"depth": 4, "op1": "conv3", "lr": 0.0011})
    assert a != b and example.canonical_hash(a) == example.canonical_hash(b)
    assert example.canonical_hash(a) != example.canonical_hash(c)
    assert example.to_string(a) == "depth=4,op1=conv3,lr=0.001"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("depth=4,op1", "not of the form name=value"),
        ("depth=4,op1=conv3,size=3", "unknown param 'size'"),
        ("depth=4.5,op1=conv3,lr=0.01", "depth: '4.5' is not an integer"),
        ("depth=4,op1=conv7,lr=0.01", "op1: 'conv7' is not one of the choices"),
        ("depth=4,op1=conv3,lr=abc", "lr: 'abc' is not a number"),
        ("depth=4,op1=conv3,lr=nan", "lr: nan is outside"),
        ("depth=4,op1=conv3,lr=0.5", r"lr: 0.5 is outside \[0.0001, 0.1\]"),
        ("depth=0,op1=conv3", "depth: 0 is outside 1..8"),
        ("depth=4,depth=4,op1=conv3", "depth: given more than once"),
    ],
)
def test_from_string_errors_are_precise(example, text, message):
    with pytest.raises(InvalidArchitectureError, match=message):
        example.from_string(text)


def test_validate_is_strict_about_types_and_order(example):
    example.validate((("depth", 4), ("op1", "conv3"), ("lr", 0.01)))
    bad = [
        ((("depth", 4.0), ("op1", "conv3"), ("lr", 0.01)), "depth: 4.0 is not an int"),
        ((("depth", True), ("op1", "conv3"), ("lr", 0.01)), "depth: True is not an int"),
        ((("depth", 4), ("op1", "conv3"), ("lr", np.float64(0.01))), "lr: .* is not a float"),
        ((("op1", "conv3"), ("depth", 4), ("lr", 0.01)), "declaration order"),
        ((("depth", 4), ("op1", "conv3"), ("lr", 0.01), ("x", 1)), "unknown params"),
        ((("depth", 4), ("depth", 4), ("op1", "conv3")), "more than once"),
        ({"depth": 4}, "tuple of"),
    ]
    for arch, message in bad:
        with pytest.raises(InvalidArchitectureError, match=message):
            example.validate(arch)
    # The structured wire form is lenient about number types and converts them.
    arch = example.from_params({"depth": 4.0, "op1": "conv3", "lr": np.float64(0.01)})
    assert arch == (("depth", 4), ("op1", "conv3"), ("lr", 0.01))
    assert type(dict(arch)["depth"]) is int and type(dict(arch)["lr"]) is float
    with pytest.raises(InvalidArchitectureError, match="depth: expected a number"):
        example.from_params({"depth": True, "op1": "conv3"})


def _mutated(path_value: tuple) -> dict:
    spec = copy.deepcopy(EXAMPLE)
    *path, last, value = path_value
    node = spec
    for key in path:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return spec


_DELETE = object()
_BAD_SPECS = {
    "duplicate name": (("params", 1, "name", "depth"), "params[1].name: duplicate name 'depth'"),
    "low >= high": (("params", 0, "low", 8), "params[0].low: must be < high"),
    "log low <= 0": (("params", 2, "low", 0.0), "params[2].low: must be > 0 when log"),
    "float not finite": (("params", 2, "high", float("inf")), "params[2].high: .*finite"),
    "int given float": (("params", 0, "high", 8.0), "params[0].high: .*valid integer"),
    "bad name": (("params", 0, "name", "2deep"), "params[0].name: '2deep' must match"),
    "long name": (("params", 0, "name", "d" * 65), "params[0].name: must be 1..64"),
    "no choices": (("params", 1, "choices", []), "params[1].choices: .*at least 1"),
    "repeated choice": (("params", 1, "choices", ["a", "a"]), "params[1].choices: .*distinct"),
    "comma in choice": (("params", 1, "choices", ["a,b"]), "params[1].choices: choice 0"),
    "unknown type": (("params", 1, "type", "bool"), "params[1]: Input tag 'bool'"),
    "unknown key": (("params", 0, "scale", 2), "params[0].scale: Extra inputs"),
    "unknown top key": (("space", 1), "space: Extra inputs"),
    "float step": (("params", 2, "step", 0.1), "params[2].step: Extra inputs"),
    "step not dividing": (("params", 0, "step", 3), "params[0].step: high - low"),
    "condition unknown": (
        ("params", 2, "condition", "param", "width"),
        "params[2].condition.param: 'width' is an unknown param",
    ),
    "condition later": (
        ("params", 0, "condition", {"param": "op1", "op": "==", "value": "skip"}),
        "params[0].condition.param: 'op1' is a later param",
    ),
    "condition bad op": (("params", 2, "condition", "op", "=~"), "params[2].condition.op"),
    "condition not a choice": (
        ("params", 2, "condition", {"param": "op1", "op": "==", "value": "conv9"}),
        "params[2].condition.value: .*not among the choices",
    ),
    "condition order on categorical": (
        ("params", 2, "condition", {"param": "op1", "op": "<", "value": "conv9"}),
        "params[2].condition.op: '<' needs a numeric param",
    ),
    "condition in without list": (
        ("params", 2, "condition", "op", "in"),
        "params[2].condition.value: op 'in' takes a list",
    ),
    "constraint on categorical": (
        ("constraints", 0, "coefficients", {"op1": 1.0}),
        "constraints[0].coefficients.op1: categorical",
    ),
    "constraint on unknown": (
        ("constraints", 0, "coefficients", {"size": 1.0}),
        "constraints[0].coefficients.size: unknown param",
    ),
    "constraint bad op": (("constraints", 0, "op", "<"), "constraints[0].op"),
    "constraint not finite": (("constraints", 0, "bound", float("nan")), "constraints[0].bound"),
    "constraint impossible": (("constraints", 0, "bound", 0), "constraints[0]: .*cannot hold"),
    "no params": (("params", []), "params: .*at least 1"),
}


@pytest.mark.parametrize(("mutation", "message"), _BAD_SPECS.values(), ids=list(_BAD_SPECS))
def test_bad_specs_name_the_field(mutation, message):
    with pytest.raises(
        InvalidArgumentError, match=message.replace("[", r"\[").replace("]", r"\]")
    ):
        UserSpace.from_spec(_mutated(mutation))


def test_infeasible_constraint_set_is_rejected():
    spec = copy.deepcopy(EXAMPLE)
    spec["constraints"] = [
        {"coefficients": {"depth": 1.0}, "op": ">=", "bound": 4.2},
        {"coefficients": {"depth": 1.0}, "op": "<=", "bound": 4.8},  # no integer in between
    ]
    with pytest.raises(InvalidArgumentError, match="constraints: infeasible"):
        UserSpace.from_spec(spec)
    with pytest.raises(InvalidArgumentError, match="a user space spec is a JSON object"):
        UserSpace.from_spec([EXAMPLE])


def test_too_tight_constraints_fail_sampling_with_a_reason():
    space = UserSpace.from_spec(
        {
            "params": [{"name": "x", "type": "float", "low": 0.0, "high": 1.0}],
            "constraints": [{"coefficients": {"x": 1.0}, "op": ">=", "bound": 0.9999999}],
        }
    )
    with pytest.raises(InvalidArgumentError, match="too tight to sample"):
        space.sample(np.random.default_rng(0))


def test_size_counts_conditional_discrete_spaces():
    spec = {
        "params": [
            {"name": "a", "type": "int", "low": 1, "high": 3},
            {
                "name": "b",
                "type": "categorical",
                "choices": ["x", "y"],
                "condition": {"param": "a", "op": ">=", "value": 2},
            },
        ]
    }
    assert UserSpace.from_spec(spec).size() == 1 + 2 * 2
    spec["constraints"] = [{"coefficients": {"a": 1.0}, "op": "<=", "bound": 2}]
    assert UserSpace.from_spec(spec).size() == 1 + 2
    assert UserSpace.from_spec(EXAMPLE).size() is None  # has a float param


def test_parse_row_reads_table_cells(example):
    row = {"depth": "2", "op1": "skip", "lr": "", "acc": "91.5"}
    assert parse_row(example, row) == (("depth", 2), ("op1", "skip"))
    row = {"depth": "4", "op1": "skip", "lr": "0.01", "acc": "91.5"}
    assert parse_row(example, row) == (("depth", 4), ("op1", "skip"), ("lr", 0.01))
    with pytest.raises(InvalidArchitectureError, match="lr: active"):
        parse_row(example, {"depth": "4", "op1": "skip", "lr": ""})
    with pytest.raises(InvalidArchitectureError, match="depth: 'x' is not an integer"):
        parse_row(example, {"depth": "x", "op1": "skip"})
    with pytest.raises(InvalidArgumentError, match="need a user space"):
        parse_row(make_space({"builtin": "nb201"}), row)


def test_load_table_reads_a_per_parameter_csv(tmp_path, example):
    from archsampler.bench.tables import load_table

    path = tmp_path / "table.csv"
    path.write_text("depth,op1,lr,acc\n2,skip,,90.5\n4,conv3,0.01,92.25\n")
    table = load_table(path, example)
    assert len(table) == 2
    assert table.value((("depth", 4), ("op1", "conv3"), ("lr", 0.01)), "acc") == 92.25
    assert list(table.columns) == ["acc"]


def test_decode_many_equals_decode_row_by_row() -> None:
    from archsampler.bench.latency import LATENCY_USER_SPACE
    from archsampler.spaces import make_space

    for spec in (LATENCY_USER_SPACE, EXAMPLE):
        space = make_space({"user": spec})
        X = np.random.default_rng(0).uniform(-0.2, 1.2, size=(300, space.dim))
        X[5, 0] = np.nan
        assert space.decode_many(X) == [space.decode(x) for x in X]


def test_encode_many_equals_encode_one_by_one() -> None:
    from archsampler.bench.latency import LATENCY_USER_SPACE
    from archsampler.spaces import make_space

    for spec in (LATENCY_USER_SPACE, EXAMPLE):  # flat (column-wise path) and conditional
        space = make_space({"user": spec})
        rng = np.random.default_rng(1)
        archs = [space.sample(rng) for _ in range(200)]
        expected = np.stack([space.encode(a) for a in archs])
        assert np.array_equal(space.encode_many(archs), expected)


def test_flat_grid_spaces_sample_uniform_valid_and_reproducible():
    """Flat spaces of categorical and int params draw every param in one call."""
    space = UserSpace.from_spec(
        {
            "params": [
                {"name": "op", "type": "categorical", "choices": ["a", "b", "c"]},
                {"name": "depth", "type": "int", "low": 2, "high": 10, "step": 4},
            ]
        }
    )
    assert space._grid is not None
    draws = [space.sample(np.random.default_rng(5)) for _ in range(2)]
    assert draws[0] == draws[1]
    rng = np.random.default_rng(6)
    archs = [space.sample(rng) for _ in range(9000)]
    for arch in archs[:200]:
        space.validate(arch)
    counts = {}
    for arch in archs:
        counts[arch] = counts.get(arch, 0) + 1
    assert sorted({d for _, d in (a[1] for a in counts)}) == [2, 6, 10]
    assert len(counts) == 9 and all(800 < n < 1200 for n in counts.values())  # 1000 each


# -- listing (enumerate_archs) ------------------------------------------------------------
LISTABLE = {
    "params": [
        {"name": "d", "type": "int", "low": 1, "high": 6},
        {"name": "op", "type": "categorical", "choices": ["a", "b", "c"]},
        {
            "name": "w",
            "type": "int",
            "low": 0,
            "high": 40,
            "step": 4,
            "condition": {"param": "d", "op": ">=", "value": 3},
        },
        {
            "name": "k",
            "type": "categorical",
            "choices": ["x", "y"],
            "condition": {"param": "op", "op": "in", "value": ["a", "c"]},
        },
        {
            "name": "z",
            "type": "int",
            "low": -3,
            "high": 3,
            "condition": {"param": "k", "op": "==", "value": "y"},
        },
    ],
    "constraints": [
        {"coefficients": {"d": 1, "w": 0.5}, "op": "<=", "bound": 14},
        {"coefficients": {"z": 1, "d": -1}, "op": ">=", "bound": -4},
    ],
}


def _brute_force(space: UserSpace) -> set:
    """Every assignment of the grid (inactive as absent) that `validate` accepts."""
    params = space.spec()["user"]["params"]
    grids = []
    for p in params:
        if p["type"] == "categorical":
            grid = list(p["choices"])
        else:
            grid = list(range(p["low"], p["high"] + 1, p.get("step", 1)))
        grids.append(grid + ([None] if "condition" in p else []))
    found = set()
    for combo in itertools.product(*grids):
        arch = tuple((p["name"], v) for p, v in zip(params, combo, strict=True) if v is not None)
        try:
            space.validate(arch)
        except InvalidArchitectureError:
            continue
        found.add(arch)
    return found


def test_listing_equals_brute_force_for_conditions_and_constraints():
    space = UserSpace.from_spec(LISTABLE)
    listed = space.enumerate_archs()
    assert len(listed) == len(set(listed)) == space.size()
    assert set(listed) == _brute_force(space)
    assert len({space.canonical_hash(a) for a in listed}) == len(listed)


def test_listing_prunes_tight_constraints_and_gives_up_on_big_spaces():
    tight = {
        "params": [{"name": f"p{i}", "type": "int", "low": 0, "high": 99} for i in range(10)],
        "constraints": [{"coefficients": {f"p{i}": 1 for i in range(10)}, "op": "<=", "bound": 2}],
    }
    assert UserSpace.from_spec(tight).size() == 1 + 10 + 10 * 11 // 2  # of 10^20 grid points
    tight["constraints"][0]["bound"] = 40
    assert UserSpace.from_spec(tight).enumerate_archs() is None  # millions feasible
    flat = {"params": [{"name": f"p{i}", "type": "int", "low": 0, "high": 9} for i in range(6)]}
    assert UserSpace.from_spec(flat).size() == 10**6  # exact without listing
    assert UserSpace.from_spec(flat).enumerate_archs() is None


# -- limits -----------------------------------------------------------------------------------
_choices = categorical_space


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (_choices(256, 1024), "params: 262144 categorical choices in all; the limit is 4096"),
        (_choices(5, 1000), "5000 categorical choices in all; the limit is 4096"),
        (_choices(4, 1024, width=100), "the spec is 430,319 bytes as JSON; the limit is 262,144"),
        (
            {"params": [{"name": "x", "type": "int", "low": -(2**53) - 1, "high": 0}]},
            "params[0].low: Input should be greater than or equal to -9007199254740992",
        ),
    ],
)
def test_space_limits_are_refused_with_the_limit(spec, message):
    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        UserSpace.from_spec(spec)


def test_condition_value_lists_are_bounded_in_all():
    params = [{"name": "a", "type": "int", "low": 0, "high": 2000}]
    for i in range(5):
        params.append(
            {
                "name": f"b{i}",
                "type": "int",
                "low": 0,
                "high": 1,
                "condition": {"param": "a", "op": "in", "value": list(range(1000))},
            }
        )
    with pytest.raises(InvalidArgumentError, match="list 5000 values in all; the limit is 4096"):
        UserSpace.from_spec({"params": params})


def test_the_largest_spaces_are_cheap_to_build():
    start = time.perf_counter()
    UserSpace.from_spec(_choices(4, 1024, width=50))
    UserSpace.from_spec(_choices(256, 16, width=50))
    assert time.perf_counter() - start < 5.0  # generous; ~0.05 s idle (was 3-8 s at 256 x 1,024)


# -- huge floats ------------------------------------------------------------------------------
def test_floats_over_the_whole_double_range_sample_encode_and_decode():
    big = 1.7976931348623157e308
    space = UserSpace.from_spec(
        {"params": [{"name": "x", "type": "float", "low": -big, "high": big}]}
    )
    rng = np.random.default_rng(0)
    xs = np.array([space.sample(rng)[0][1] for _ in range(2000)])
    assert np.isfinite(xs).all() and xs.min() < -0.9 * big and xs.max() > 0.9 * big
    assert abs(np.median(xs)) < 0.1 * big
    for x in (-big, 0.0, 1e300, big):
        u = space.encode(((("x", x)),))
        assert 0.0 <= u[0] <= 1.0
        # features are positions in [0, 1]: precision is relative to the range's width
        assert space.decode(u)[0][1] == pytest.approx(x, rel=1e-11, abs=1e-15 * big)
    tiny = UserSpace.from_spec(
        {"params": [{"name": "x", "type": "float", "low": 1e-300, "high": 1e300, "log": True}]}
    )
    exps = [np.log10(tiny.sample(rng)[0][1]) for _ in range(2000)]
    assert min(exps) < -250 and max(exps) > 250


def test_constraints_with_huge_coefficients_are_feasible_and_exact():
    big = 1e308
    space = UserSpace.from_spec(
        {
            "params": [
                {"name": "x", "type": "float", "low": -big, "high": big},
                {"name": "y", "type": "float", "low": -big, "high": big},
            ],
            "constraints": [{"coefficients": {"x": big, "y": big}, "op": "<=", "bound": big}],
        }
    )
    space.validate((("x", 0.0), ("y", 0.0)))
    space.validate((("x", 0.5), ("y", 0.5)))
    with pytest.raises(InvalidArchitectureError, match="beyond the float range"):
        space.validate((("x", big), ("y", big)))
    with pytest.raises(InvalidArchitectureError, match=r"left side is 1\.1e\+308"):
        space.validate((("x", 0.6), ("y", 0.5)))
    c = space.constraints()
    assert np.isfinite(c.A).all() and np.isfinite(c.b).all()
    rng = np.random.default_rng(0)
    for _ in range(200):
        arch = space.sample(rng)
        assert np.all(c.A @ space.encode(arch) <= c.b + 1e-9)
    with pytest.raises(InvalidArgumentError, match="infeasible|cannot hold"):
        UserSpace.from_spec(
            {
                "params": [{"name": "x", "type": "float", "low": -big, "high": big}],
                "constraints": [  # feasibility is judged at the precision of the ranges
                    {"coefficients": {"x": 1.0}, "op": ">=", "bound": 5e307},
                    {"coefficients": {"x": 2.0}, "op": "<=", "bound": -1e308},
                ],
            }
        )
