"""The `nao` strategy: gradient steps in the ONNX model's embedding space give new, good archs."""

from __future__ import annotations

import numpy as np
import pytest

from archsampler.bench.tables import load_table
from archsampler.predictor.handle import ModelHandle
from archsampler.predictor.runtime import NAOPredictor
from archsampler.spaces.nb201 import NB201Space
from archsampler.strategies import Observation
from archsampler.strategies import make_strategy

SPACE = NB201Space()


@pytest.fixture(scope="module")
def trained(benchmarks, tmp_path_factory):
    from archsampler_models.export import export_nao
    from archsampler_models.nao import NAOConfig
    from archsampler_models.train import train_nao

    table = load_table(benchmarks / "nb201" / "nb201_cifar10.csv", SPACE)
    rng = np.random.default_rng(0)
    idx = rng.choice(len(table), 300, replace=False)
    archs = [table.archs[i] for i in idx]
    values = table.columns["c10_valid_acc"][idx]
    tokens = np.array([SPACE.to_tokens(a) for a in archs])
    model = train_nao(tokens, values, SPACE.token_spec(), NAOConfig(epochs=20, seed=0))
    path = export_nao(model, tmp_path_factory.mktemp("nao") / "v1", n_parity=100)
    handle = ModelHandle(1, NAOPredictor.load(path, threads=1), SPACE, 1.0)
    return table, archs, values, handle


def test_nao_steps_propose_new_better_than_average_archs(trained) -> None:
    table, archs, values, handle = trained
    strategy = make_strategy("nao", SPACE, seed=1)
    strategy.observe([Observation(a, float(v)) for a, v in zip(archs, values, strict=True)])
    strategy.set_model(handle)
    props = strategy.propose(20, pending=[])
    keys = {SPACE.canonical_hash(p.arch) for p in props}
    assert len(keys) == 20 and not keys & {SPACE.canonical_hash(a) for a in archs}
    # Every proposal is model-guided: a step decode predicted better than its seed, or the
    # model's best of the random candidates once the steps run dry (none uniform random).
    from_model = [p for p in props if p.region.startswith("nao:") or p.region == "predicted"]
    assert len(from_model) == 20 and all(p.predicted_value is not None for p in from_model)
    assert any(p.region.startswith("nao:") for p in props)
    true = np.array([table.value(p.arch, "c10_valid_acc") for p in from_model])
    assert true.mean() > table.columns["c10_valid_acc"].mean() + 3.0


def test_without_a_model_nao_falls_back_to_random(trained) -> None:
    _, archs, values, _ = trained
    strategy = make_strategy("nao", SPACE, seed=1)
    strategy.observe([Observation(a, float(v)) for a, v in zip(archs, values, strict=True)])
    props = strategy.propose(5, pending=[])
    assert [p.region for p in props] == ["random"] * 5
    with pytest.raises(ValueError, match="unknown options"):
        make_strategy("nao", SPACE, options={"bogus": 1})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"seeds": 0}, "'seeds' must be an integer in 1..1000, got 0"),
        ({"seeds": 1001}, "'seeds' must be an integer in 1..1000"),
        ({"seeds": True}, "'seeds' must be an integer"),
        ({"seeds": "20"}, "'seeds' must be an integer"),
        ({"eta": 0.0}, "'eta' must be a number in (0, 1e+06]"),
        ({"eta": float("nan")}, "'eta' must be a number in (0, 1e+06]"),
        ({"eta": float("inf")}, "'eta' must be a number in (0, 1e+06]"),
        ({"max_doublings": -1}, "'max_doublings' must be an integer in 0..30"),
        ({"max_doublings": 31}, "'max_doublings' must be an integer in 0..30"),
        ({"steps": 3}, "unknown options ['steps']"),
    ],
)
def test_options_are_bounded(options: dict, message: str) -> None:
    with pytest.raises(ValueError) as info:
        make_strategy("nao", SPACE, options=options)
    assert message in str(info.value)


def test_options_at_their_bounds_are_accepted() -> None:
    low = make_strategy("nao", SPACE, options={"seeds": 1, "eta": 1e-300, "max_doublings": 0})
    high = make_strategy("nao", SPACE, options={"seeds": 1000, "eta": 1e6, "max_doublings": 30})
    assert (low.n_seeds, high.n_seeds, high.eta, high.max_doublings) == (1, 1000, 1e6, 30)
