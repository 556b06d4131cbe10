"""NAO's search step (Algorithm 1 of the paper): decodes predicted better than their seeds,
ranked by the model; the predictor-ranked fallback; the `candidates` option."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from archsampler.predictor.handle import ModelHandle
from archsampler.predictor.runtime import NAOPredictor
from archsampler.spaces.nb201 import NB201Space
from archsampler.strategies import Observation
from archsampler.strategies import make_strategy
from archsampler.strategies.nao import NAOStrategy

SPACE = NB201Space()


def _value(tokens: np.ndarray) -> np.ndarray:
    """A smooth synthetic objective: conv3x3 (token 3) edges count most, skips (1) a bit."""
    return 80 + 2.0 * (tokens == 3).sum(axis=-1) + 0.5 * (tokens == 1).sum(axis=-1)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[list, np.ndarray, ModelHandle]:
    torch = pytest.importorskip("torch")
    from archsampler_models import NAOConfig
    from archsampler_models import train_nao
    from archsampler_models.export import export_nao

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    archs = []
    keys = set()
    while len(archs) < 80:
        arch = SPACE.sample(rng)
        if SPACE.canonical_hash(arch) not in keys:
            keys.add(SPACE.canonical_hash(arch))
            archs.append(arch)
    tokens = np.array([SPACE.to_tokens(a) for a in archs])
    values = _value(tokens)
    config = NAOConfig(
        embed_dim=16, hidden_dim=32, mlp_width=32, batch_size=40, epochs=12, min_steps=0
    )
    trained = train_nao(tokens, values, SPACE.token_spec(), config)
    path: Path = export_nao(trained, tmp_path_factory.mktemp("nao") / "v1", n_parity=100)
    return archs, values, ModelHandle(1, NAOPredictor.load(path, threads=1), SPACE, 1.0)


def _strategy(model, **options) -> NAOStrategy:
    archs, values, handle = model
    strategy = make_strategy("nao", SPACE, seed=3, options=options)
    strategy.observe([Observation(a, float(v)) for a, v in zip(archs, values, strict=True)])
    strategy.set_model(handle)
    return strategy  # type: ignore[return-value]


def test_steps_decode_new_valid_archs_predicted_better_than_their_seeds(model) -> None:
    archs, values, handle = model
    strategy = _strategy(model, seeds=10)
    seeds = strategy.seed_archs()
    assert [float(v) for v in np.sort(values)[::-1][:10]] == [
        float(_value(np.array(SPACE.to_tokens(a)))) for a in seeds
    ]
    seed_scores = handle.score(seeds)
    props = strategy.propose(6, pending=[])
    from_steps = [p for p in props if p.region.startswith("nao:")]
    assert len(from_steps) >= 3, [p.region for p in props]
    seen = {SPACE.canonical_hash(a) for a in archs}
    assert len({SPACE.canonical_hash(p.arch) for p in props}) == 6
    for p in from_steps:
        SPACE.validate(p.arch)
        assert SPACE.canonical_hash(p.arch) not in seen
        rank = int(p.region.split(":")[1].removeprefix("seed="))
        assert p.predicted_value == pytest.approx(float(handle.score([p.arch])[0]), rel=1e-6)
        assert p.predicted_value > seed_scores[rank]  # f(e') > f(e): better than its seed
    # Ranked by the model: the step proposals come best predicted first.
    predicted = [p.predicted_value for p in from_steps]
    assert predicted == sorted(predicted, reverse=True)
    # The steps do move the search uphill: their true values beat the seeds' average rank.
    true = _value(np.array([SPACE.to_tokens(p.arch) for p in from_steps]))
    assert true.mean() > values.mean()


def test_when_the_steps_run_dry_the_model_ranks_random_candidates(model) -> None:
    _, values, handle = model
    strategy = _strategy(model, seeds=1, max_doublings=0, candidates=400)
    props = strategy.propose(8, pending=[])
    fallback = [p for p in props if p.region == "predicted"]
    assert len(fallback) >= 7
    # The fallback's picks are the model's top among 400 random unseen ones: they beat a
    # fresh random sample of unseen architectures by the model's own ranking and truly.
    others = strategy.random_new(400, strategy.excluded([p.arch for p in props]))
    pick = np.array([p.predicted_value for p in fallback])
    assert pick.min() >= np.quantile(handle.score(others), 0.9)
    true_pick = _value(np.array([SPACE.to_tokens(p.arch) for p in fallback]))
    true_others = _value(np.array([SPACE.to_tokens(a) for a in others]))
    assert true_pick.mean() > true_others.mean() + 2.0
    pending = [p.arch for p in props]
    again = strategy.propose(8, pending=pending)
    assert not {SPACE.canonical_hash(p.arch) for p in again} & {
        SPACE.canonical_hash(a) for a in pending
    }


def test_candidates_zero_falls_back_to_uniform_random(model) -> None:
    strategy = _strategy(model, seeds=1, max_doublings=0, candidates=0)
    props = strategy.propose(6, pending=[])
    assert sum(p.region == "random" for p in props) >= 5
    assert all(p.region != "predicted" for p in props)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "'candidates' must be an integer in 0..10000, got -1"),
        (10_001, "'candidates' must be an integer in 0..10000, got 10001"),
        (2.0, "'candidates' must be an integer in 0..10000"),
    ],
)
def test_candidates_is_bounded(value, message: str) -> None:
    with pytest.raises(ValueError) as info:
        make_strategy("nao", SPACE, options={"candidates": value})
    assert message in str(info.value)
    assert make_strategy("nao", SPACE, options={"candidates": 10_000}).candidates == 10_000
