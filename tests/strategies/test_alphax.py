"""AlphaXStrategy: valid distinct proposals, the distributed back-propagation (pending
trials count with their prediction, replaced by the true reward), restart determinism,
option bounds."""

from __future__ import annotations

import numpy as np
import pytest

from archsampler.spaces import make_space
from archsampler.spaces.nb201 import NB201Space
from archsampler.strategies import make_strategy
from archsampler.strategies.alphax import AlphaXStrategy
from archsampler.strategies.alphax.strategy import PAPER_C
from archsampler.strategies.alphax.strategy import TUNED_C
from archsampler.strategies.base import Observation

SPACE = NB201Space()
_GAIN = np.array([-2.0, 0.0, 1.0, 2.0, 0.5])


def _value(arch: tuple[int, ...]) -> float:
    return float(_GAIN[list(arch)].sum() + 0.5 * (arch[0] == arch[5]))


def _observed(n: int, seed: int = 0) -> list[Observation]:
    rng = np.random.default_rng(seed)
    out: dict[str, Observation] = {}
    while len(out) < n:
        arch = SPACE.sample(rng)
        out.setdefault(SPACE.canonical_hash(arch), Observation(arch, _value(arch)))
    return list(out.values())


def _keys(archs: list) -> set[str]:
    return {SPACE.canonical_hash(a) for a in archs}


def test_the_papers_exploration_constant_is_an_option() -> None:
    assert PAPER_C == 0.5
    assert AlphaXStrategy(SPACE, c=PAPER_C).options["c"] == 0.5
    assert AlphaXStrategy(SPACE).options["c"] == TUNED_C


@pytest.mark.parametrize(
    "options, message",
    [
        ({"c": -1.0}, "'c' must be a number in [0, 100], got -1.0"),
        ({"c": float("nan")}, "'c' must be a number in [0, 100], got nan"),
        ({"rollouts": 0}, "'rollouts' must be an integer in [1, 1000], got 0"),
        ({"rollouts": 10**9}, "'rollouts' must be an integer in [1, 1000]"),
        ({"rollouts": True}, "'rollouts' must be an integer"),
        ({"min_fit": 1}, "'min_fit' must be an integer in [2, 100000]"),
        ({"ridge": 0.0}, "'ridge' must be a number in [1e-06, 1e+06]"),
        ({"target": "loss"}, "'target' must be one of ['rank', 'value']"),
        ({"dispatch": "worst"}, "'dispatch' must be one of ['best', 'first']"),
        ({"prior": 1e4}, "'prior' must be a number in [0, 1000], got 10000.0"),
        ({"pairs": 1}, "'pairs' must be one of [True, False], got 1"),
        ({"expand": "all"}, "'expand' must be one of ['predicted', 'uniform']"),
        ({"ucb": 1}, "unknown options ['ucb']; valid options are"),
    ],
)
def test_bad_options_are_refused_naming_the_bound(options: dict, message: str) -> None:
    with pytest.raises(ValueError) as err:
        make_strategy("alphax", SPACE, options=options)
    assert message in str(err.value)


def test_proposals_are_valid_new_and_distinct() -> None:
    strategy = AlphaXStrategy(SPACE, seed=3)
    observed = _observed(40)
    strategy.observe(observed)
    pending = [o.arch for o in _observed(45, seed=1)[-5:]]
    props = strategy.propose(25, pending)
    archs = [p.arch for p in props]
    for arch in archs:
        SPACE.validate(arch)
    keys = _keys(archs)
    assert len(keys) == 25
    assert not keys & _keys([o.arch for o in observed])
    assert not keys & _keys(pending)
    # With a model (40 >= min_fit) every proposal carries a prediction in value units.
    assert all(p.predicted_value is not None for p in props)
    lo, hi = min(o.value for o in observed), max(o.value for o in observed)
    assert all(lo <= p.predicted_value <= hi for p in props)


def test_a_pending_trial_steers_the_next_proposal_elsewhere() -> None:
    strategy = AlphaXStrategy(SPACE, seed=0)
    strategy.observe(_observed(30))
    strategy.rng = np.random.default_rng(7)
    a = strategy.propose(1, [])[0].arch
    strategy.rng = np.random.default_rng(7)
    b = strategy.propose(1, [a])[0].arch
    assert SPACE.canonical_hash(a) != SPACE.canonical_hash(b)
    # The pending one is a visit of every node on its path.
    n0, _ = strategy.stats()
    n1, _ = strategy.stats([a])
    path = strategy.node_path(SPACE.to_tokens(a))
    assert np.all(n1[path] == n0[path] + 1)
    assert n1[0] == n0[0] + 1


def test_pending_prediction_is_replaced_by_the_true_reward_on_report() -> None:
    strategy = AlphaXStrategy(SPACE, seed=0, target="value")
    observed = _observed(30)
    strategy.observe(observed)
    values = np.array([o.value for o in observed])
    lo, hi = values.min(), values.max()
    pending = strategy.propose(1, [])[0]
    leaf = strategy.node_path(SPACE.to_tokens(pending.arch))[-1]
    n_before, w_before = strategy.stats([pending.arch])
    predicted = (pending.predicted_value - lo) / (hi - lo)  # the reward scale of `value`
    assert n_before[leaf] == 1
    assert w_before[leaf] == pytest.approx(np.clip(predicted, 0, 1), abs=1e-9)
    true = float(np.clip(_value(pending.arch), lo, hi))  # inside the range: scale unchanged
    strategy.observe([Observation(pending.arch, true)])
    n_after, w_after = strategy.stats()
    assert n_after[leaf] == 1
    assert w_after[leaf] == pytest.approx((true - lo) / (hi - lo))
    root_delta = w_after[0] - w_before[0]
    assert root_delta == pytest.approx((true - lo) / (hi - lo) - np.clip(predicted, 0, 1))


def test_a_rebuilt_strategy_proposes_what_the_original_would_have() -> None:
    observed = _observed(60, seed=2)
    live = AlphaXStrategy(SPACE, seed=5)
    for start in range(0, 50, 10):  # learn in steps, proposing in between
        live.observe(observed[start : start + 10])
        live.propose(3, [o.arch for o in observed[start + 10 : start + 12]])
    live.observe(observed[50:])
    rebuilt = AlphaXStrategy(SPACE, seed=5)
    rebuilt.observe(observed)  # one batch, as a restarted server replays the log
    pending = [p.arch for p in live.propose(2, [])]
    for s in (live, rebuilt):
        s.rng = np.random.default_rng(11)  # the runtime reseeds before every round
    a = [p.arch for p in live.propose(6, pending)]
    b = [p.arch for p in rebuilt.propose(6, pending)]
    assert a == b


def test_failed_trials_count_as_the_worst_reward_and_are_not_proposed_again() -> None:
    strategy = AlphaXStrategy(SPACE, seed=1)
    observed = _observed(20)
    failed = [Observation(o.arch, None) for o in observed[:5]]
    strategy.observe(failed + observed[5:])
    assert strategy.rewards()[:5].tolist() == [0.0] * 5
    keys = _keys([p.arch for p in strategy.propose(30, [])])
    assert not keys & _keys([o.arch for o in observed])


def test_every_token_space_kind_works() -> None:
    """NB101 (invalid token sequences exist) and a user space with a conditional param."""
    space = make_space({"builtin": "nb101"})
    strategy = AlphaXStrategy(space, seed=0, rollouts=5)
    rng = np.random.default_rng(0)
    archs = {space.canonical_hash(a): a for a in (space.sample(rng) for _ in range(15))}
    strategy.observe([Observation(a, float(i)) for i, a in enumerate(archs.values())])
    props = strategy.propose(8, [])
    assert len({space.canonical_hash(p.arch) for p in props}) == 8
    assert not {space.canonical_hash(p.arch) for p in props} & set(archs)
    for p in props:
        space.validate(p.arch)


def test_finds_good_cells_on_a_synthetic_objective() -> None:
    """Search quality that could fail: within 150 evaluations the best (conv ops
    everywhere, first == last) is reached far more often than uniform sampling would."""
    best = max(_value(a) for a in SPACE.enumerate_archs())
    hits = 0
    for seed in range(3):
        strategy = AlphaXStrategy(SPACE, seed=seed)
        for _ in range(150):
            arch = strategy.propose(1, [])[0].arch
            value = _value(arch)
            strategy.observe([Observation(arch, value)])
            if value == best:
                hits += 1
                break
    assert hits >= 2


@pytest.fixture(scope="module")
def nao_model(benchmarks, tmp_path_factory):
    """A small NAO model trained on 300 NB201 cells, as the service hands it over."""
    from archsampler.bench.tables import load_table
    from archsampler.predictor.handle import ModelHandle
    from archsampler.predictor.runtime import NAOPredictor
    from archsampler_models.export import export_nao
    from archsampler_models.nao import NAOConfig
    from archsampler_models.train import train_nao

    table = load_table(benchmarks / "nb201" / "nb201_cifar10.csv", SPACE)
    idx = np.random.default_rng(0).choice(len(table), 300, replace=False)
    archs = [table.archs[i] for i in idx]
    values = table.columns["c10_valid_acc"][idx]
    tokens = np.array([SPACE.to_tokens(a) for a in archs])
    model = train_nao(tokens, values, SPACE.token_spec(), NAOConfig(epochs=10, seed=0))
    path = export_nao(model, tmp_path_factory.mktemp("nao") / "v1", n_parity=50)
    handle = ModelHandle(1, NAOPredictor.load(path, threads=1), SPACE, 1.0)
    return [Observation(a, float(v)) for a, v in zip(archs, values, strict=True)], handle


def test_the_studys_nao_model_values_simulations_and_pending_trials(nao_model) -> None:
    observed, handle = nao_model
    values = np.array([o.value for o in observed])
    lo, hi = values.min(), values.max()
    strategy = AlphaXStrategy(SPACE, seed=0, target="value")
    strategy.observe(observed)
    strategy.set_model(handle)
    props = strategy.propose(4, [])
    scores = np.clip(handle.score([p.arch for p in props]), lo, hi)
    assert [p.predicted_value for p in props] == pytest.approx(scores.tolist())
    leaf = strategy.node_path(SPACE.to_tokens(props[0].arch))[-1]
    _, w = strategy.stats([props[0].arch])
    assert w[leaf] == pytest.approx((scores[0] - lo) / (hi - lo))
    # predictor "off": the ridge fit on the trials values them instead.
    off = AlphaXStrategy(SPACE, seed=0, target="value", predictor="off")
    off.observe(observed)
    off.set_model(handle)
    other = off.propose(4, [])
    ridge = off.predictor()
    assert ridge is not None
    expect = np.clip(ridge([p.arch for p in other]), 0, 1) * (hi - lo) + lo
    assert [p.predicted_value for p in other] == pytest.approx(expect.tolist())


def test_the_prefix_prior_is_the_models_mean_over_completions() -> None:
    """Eq. 2's simulated value of a node: the ridge model's mean over the uniform
    completions of its prefix (NB201: every token sequence decodes), with pairs or not."""
    import itertools

    for pairs in (False, True):
        strategy = AlphaXStrategy(SPACE, seed=0, pairs=pairs)
        strategy.observe(_observed(60))
        prior = strategy.prior()
        assert prior is not None
        predict = strategy.predictor()
        assert predict is not None
        for prefix in [(3,), (3, 0, 2), (1, 2, 3, 4)]:
            tails = itertools.product(range(5), repeat=6 - len(prefix))
            archs = [prefix + tail for tail in tails]
            mean = float(np.clip(predict(archs).mean(), 0.0, 1.0))
            assert prior.value(prefix) == pytest.approx(mean, abs=1e-9)
    assert AlphaXStrategy(SPACE, prior=0.0).prior() is None
