"""HierarchicalStrategy: valid distinct proposals, pending trials spread, a tree that is a
function of the observations (restart), bounded re-clustering, signatures used when every
clustered trial has one, option bounds; bad signatures refused at Report over a server."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from scipy.cluster.hierarchy import to_tree

from archsampler.signatures import MAX_SIGNATURE_VALUES
from archsampler.signatures import parse_signature
from archsampler.signatures import signature_of
from archsampler.spaces.nb201 import NB201Space
from archsampler.strategies import make_strategy
from archsampler.strategies.base import Observation
from archsampler.strategies.hierarchical import HierarchicalStrategy
from archsampler.testing.assertions import expect_error

SPACE = NB201Space()
_GAIN = np.array([-2.0, 0.0, 1.0, 2.0, 0.5])


def _value(arch: tuple[int, ...]) -> float:
    return float(_GAIN[list(arch)].sum() + 0.5 * (arch[0] == arch[5]))


def _observed(n: int, seed: int = 0, signature: bool = False) -> list[Observation]:
    rng = np.random.default_rng(seed)
    out: dict[str, Observation] = {}
    while len(out) < n:
        arch = SPACE.sample(rng)
        # A signature unrelated to the encoding: two clusters by the first edge's parity.
        sig = (float(arch[0] % 2), float(arch[3] == 4)) if signature else None
        out.setdefault(SPACE.canonical_hash(arch), Observation(arch, _value(arch), sig))
    return list(out.values())


def _keys(archs: list) -> set[str]:
    return {SPACE.canonical_hash(a) for a in archs}


def _merges(strategy: HierarchicalStrategy) -> list[tuple[int, ...]]:
    """The tree's clusters as sorted tuples of observation indices (order-free)."""
    tree = strategy.tree
    assert tree is not None
    members: dict[int, tuple[int, ...]] = {i: (int(r),) for i, r in enumerate(tree.rows)}
    for i, (a, b) in enumerate(tree.children):
        members[tree.m + i] = tuple(sorted(members[a] + members[b]))
    return sorted(members[k] for k in range(tree.m, 2 * tree.m - 1))


@pytest.mark.parametrize(
    "options, message",
    [
        ({"temperature": 0.0}, "'temperature' must be a number in [0.0001, 100], got 0.0"),
        ({"exploration": -0.5}, "'exploration' must be a number in [0, 100]"),
        ({"exploration": float("inf")}, "'exploration' must be a number in [0, 100], got inf"),
        ({"max_cluster": 5000}, "'max_cluster' must be an integer in [2, 1024], got 5000"),
        ({"recluster_every": 0}, "'recluster_every' must be an integer in [1, 100000]"),
        ({"window": 0}, "'window' must be an integer in [1, 100000], got 0"),
        ({"neighbours": 1001}, "'neighbours' must be an integer in [1, 1000], got 1001"),
        ({"init_samples": 1.5}, "'init_samples' must be an integer in [2, 100000]"),
        ({"linkage": "centroid"}, "'linkage' must be one of ['average', 'complete'"),
        ({"tau": 1}, "unknown options ['tau']; valid options are"),
    ],
)
def test_bad_options_are_refused_naming_the_bound(options: dict, message: str) -> None:
    with pytest.raises(ValueError) as err:
        make_strategy("hierarchical", SPACE, options=options)
    assert message in str(err.value)


def test_proposals_are_valid_new_and_distinct() -> None:
    strategy = HierarchicalStrategy(SPACE, seed=3)
    observed = _observed(60)
    strategy.observe(observed)
    assert strategy.tree is not None
    pending = [o.arch for o in _observed(66, seed=1)[-6:]]
    archs = [p.arch for p in strategy.propose(30, pending)]
    for arch in archs:
        SPACE.validate(arch)
    keys = _keys(archs)
    assert len(keys) == 30
    assert not keys & _keys([o.arch for o in observed])
    assert not keys & _keys(pending)


def test_pending_trials_are_visits_and_get_different_proposals() -> None:
    strategy = HierarchicalStrategy(SPACE, seed=0)
    strategy.observe(_observed(40))
    strategy.rng = np.random.default_rng(5)
    a = strategy.propose(1, [])[0].arch
    strategy.rng = np.random.default_rng(5)
    b = strategy.propose(1, [a])[0].arch
    assert SPACE.canonical_hash(a) != SPACE.canonical_hash(b)
    counts0, _ = strategy.node_stats()
    counts1, _ = strategy.node_stats([a])
    tree = strategy.tree
    assert tree is not None
    # Exactly the path from a's nearest leaf (by encoding) to the root gains one visit.
    leaf = int(np.argmin(((tree.enc - SPACE.encode(a)) ** 2).sum(axis=1)))
    path = [leaf]
    while tree.parent[path[-1]] >= 0:
        path.append(int(tree.parent[path[-1]]))
    assert path[-1] == tree.root
    assert np.flatnonzero(counts1 - counts0).tolist() == sorted(path)
    assert np.all(counts1[path] == counts0[path] + 1)


@pytest.mark.parametrize("options", [{}, {"window": 15, "recluster_every": 9}])
def test_the_tree_is_a_function_of_the_observations(options: dict) -> None:
    observed = _observed(95, seed=2)
    live = HierarchicalStrategy(SPACE, seed=4, **options)
    for start in range(0, 90, 7):  # learn in uneven steps, proposing in between
        live.observe(observed[start : start + 7])
        if live.tree is not None:
            live.propose(2, [])
    live.observe(observed[91:])
    rebuilt = HierarchicalStrategy(SPACE, seed=4, **options)
    rebuilt.observe(observed)
    assert _merges(live) == _merges(rebuilt)
    assert live.assign[: live.n].tolist() == rebuilt.assign[: rebuilt.n].tolist()
    for s in (live, rebuilt):
        s.rng = np.random.default_rng(9)
    pending = [observed[0].arch]
    assert [p.arch for p in live.propose(5, pending)] == [
        p.arch for p in rebuilt.propose(5, pending)
    ]


def test_reclustering_is_bounded_and_periodic() -> None:
    strategy = HierarchicalStrategy(SPACE, seed=0, max_cluster=32, recluster_every=25)
    strategy.observe(_observed(130))
    assert strategy.tree is not None and strategy.tree.m == 32
    assert strategy.built_at == 125  # the last multiple of 25 reached
    best = np.argsort(-strategy.values[:125], kind="stable")[:16]
    assert set(best.tolist()) <= set(strategy.tree.rows.tolist())  # the best half kept
    # Every observation is assigned to a leaf, those clustered to themselves.
    assert np.all(strategy.assign[:130] < 32)
    rows = strategy.tree.rows
    assert np.all(strategy.assign[rows] == np.arange(32))


def test_the_leaf_neighbour_the_ridge_ranks_best_is_proposed() -> None:
    strategy = HierarchicalStrategy(SPACE, seed=2, neighbours=1000)
    observed = _observed(50)
    strategy.observe(observed)
    prop = strategy.propose(1, [])[0]
    tree = strategy.tree
    assert tree is not None and prop.region.startswith("cluster:")
    parent = strategy.archs[int(tree.rows[int(prop.region.split(":")[1])])]
    seen = _keys([o.arch for o in observed])
    neighbours = []
    for pos in range(6):
        for tok in range(5):
            child = list(parent)
            child[pos] = tok
            if tok != parent[pos] and SPACE.canonical_hash(tuple(child)) not in seen:
                neighbours.append(tuple(child))
    ridge = strategy._ridge()
    assert ridge is not None
    scores = ridge.predict(SPACE.encode_many(neighbours))
    assert prop.arch in neighbours
    assert scores[neighbours.index(prop.arch)] == pytest.approx(scores.max())
    # With one neighbour drawn there is no ranking: a uniformly drawn neighbour.
    plain = HierarchicalStrategy(SPACE, seed=2, neighbours=1)
    plain.observe(observed)
    assert {plain.propose(1, [])[0].arch for _ in range(8)} - {prop.arch}


def test_statistics_count_the_clustered_and_the_recent_window() -> None:
    strategy = HierarchicalStrategy(SPACE, seed=0, max_cluster=16, recluster_every=50, window=10)
    strategy.observe(_observed(104))
    tree = strategy.tree
    assert tree is not None and strategy.built_at == 100
    counted = set(np.flatnonzero(strategy.assign[:104] >= 0).tolist())
    # At the re-cluster (100): the leaves and observations 90..99; then 100..103 as they came.
    assert counted == set(tree.rows.tolist()) | set(range(90, 104))
    counts, _ = strategy.node_stats()
    assert counts[tree.root] == len(counted)


def test_signatures_are_used_when_every_clustered_trial_has_one() -> None:
    plain = HierarchicalStrategy(SPACE, seed=0)
    plain.observe(_observed(40))
    signed = HierarchicalStrategy(SPACE, seed=0)
    signed.observe(_observed(40, signature=True))
    assert plain.tree is not None and plain.tree.sig is None
    assert signed.tree is not None and signed.tree.sig is not None
    assert _merges(plain) != _merges(signed)
    # The top split follows the signature: first edge parity (then edge 3 == 4).
    root = to_tree(_linkage(signed))
    left = {int(signed.tree.rows[i]) for i in root.get_left().pre_order()}
    parity = {i for i, o in enumerate(signed.archs) if o[0] % 2 == 1}
    clustered = set(signed.tree.rows.tolist())
    assert left & clustered in (parity & clustered, clustered - parity)
    # One trial without a signature: distances fall back to the encodings.
    mixed = HierarchicalStrategy(SPACE, seed=0)
    obs = _observed(40, signature=True)
    mixed.observe([Observation(obs[0].arch, obs[0].value), *obs[1:]])
    assert mixed.tree is not None and mixed.tree.sig is None
    assert _merges(mixed) == _merges(plain)


def _linkage(strategy: HierarchicalStrategy) -> np.ndarray:
    tree = strategy.tree
    assert tree is not None
    m = tree.m
    Z = np.zeros((m - 1, 4))
    sizes = [1] * m
    for i, (a, b) in enumerate(tree.children):
        sizes.append(sizes[a] + sizes[b])
        Z[i] = (a, b, float(i), sizes[-1])
    return Z


def test_signature_parsing_bounds() -> None:
    assert parse_signature("1, 2.5,-3e-2") == (1.0, 2.5, -0.03)
    for text, message in [
        ("", "is empty"),
        ("1,,2", "entry 1 is ''"),
        ("1,nan", "entry 1 is 'nan'"),
        ("inf", "entry 0 is 'inf'"),
        ("1,x", "entry 1 is 'x'"),
        (",".join(["1"] * (MAX_SIGNATURE_VALUES + 1)), "has 1025 values; the limit is 1024"),
        ("1" * 40_000, "the limit is 32768"),
    ]:
        with pytest.raises(ValueError, match=message.replace("(", r"\(")):
            parse_signature(text)
    assert signature_of('{"signature": "1,2"}') == (1.0, 2.0)
    assert signature_of("{}") is None


def test_bad_signatures_are_refused_at_report_and_good_ones_stored(client) -> None:
    study = client.create_study("sig", space="nb201", strategy="hierarchical", seed=1)
    trials = study.propose(count=3)
    inv = grpc.StatusCode.INVALID_ARGUMENT
    expect_error(
        inv,
        study.report,
        trials[0].id,
        0.5,
        metadata={"signature": "0.1,nan,0.3"},
        match="metadata 'signature' entry 1 is 'nan'",
    )
    too_many = ",".join(["0.5"] * 1025)
    expect_error(
        inv,
        study.report,
        trials[0].id,
        0.5,
        metadata={"signature": too_many},
        match="limit is 1024",
    )
    good = ",".join(f"{v:.6f}" for v in np.linspace(-1, 1, 1024))  # > 4,096 characters
    assert len(good) > 4096
    stored = study.report(trials[0].id, 0.5, metadata={"signature": good})
    assert parse_signature(stored.metadata["signature"]) == parse_signature(good)
    # The study goes on proposing (the strategy reads the signature from the log).
    assert len(study.propose(count=2)) == 2
