"""LaNAS tree: regressors, mean splits, regions as path half-spaces, UCB selection."""

from __future__ import annotations

import math

import numpy as np
import pytest

from archsampler.strategies.lanas.tree import LaTree
from archsampler.strategies.lanas.tree import Node
from archsampler.strategies.lanas.tree import region
from archsampler.strategies.lanas.tree import ridge_fit
from archsampler.strategies.lanas.ucb import select
from archsampler.strategies.lanas.ucb import ucb_score

DIM = 6


def _data(seed: int, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.0, 1.0, size=(n, DIM))
    y = X @ rng.normal(size=DIM) + 0.5 * np.sin(5 * X[:, 0]) + 0.1 * rng.normal(size=n)
    return X, y


def _tree(X: np.ndarray, y: np.ndarray, height: int = 3, min_samples: int = 5) -> LaTree:
    tree = LaTree(DIM, height=height, min_samples=min_samples, ridge=1e-3, max_fit=10_000)
    tree.build(X, y)
    return tree


def test_ridge_fit_recovers_a_linear_function() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, DIM))
    w_true = rng.normal(size=DIM)
    w, b0 = ridge_fit(X, X @ w_true + 3.0, lam=1e-8)
    np.testing.assert_allclose(w, w_true, atol=1e-6)
    assert b0 == pytest.approx(3.0, abs=1e-6)


@pytest.mark.parametrize("seed", range(5))
def test_routed_sample_lies_in_exactly_its_leaf_region(seed: int) -> None:
    X, y = _data(seed)
    tree = _tree(X, y)
    leaves = tree.leaves()
    assert len(leaves) > 2
    lower, upper = np.zeros(DIM), np.ones(DIM)
    polys = {leaf.path: region(leaf, lower, upper, None) for leaf in leaves}
    fresh = np.random.default_rng(seed + 100).uniform(size=(500, DIM))
    for points in (X, fresh):
        routed = [tree.route(x).path for x in points]
        inside = np.stack([polys[leaf.path].contains(points, tol=0.0) for leaf in leaves], axis=1)
        # Every point is in exactly one leaf region, and it is the leaf it is routed to.
        assert np.all(inside.sum(axis=1) == 1)
        assert [leaves[i].path for i in inside.argmax(axis=1)] == routed


@pytest.mark.parametrize("min_samples", [3, 20, 60])
def test_no_split_leaves_fewer_than_min_samples_on_a_side(min_samples: int) -> None:
    X, y = _data(7, n=250)
    tree = _tree(X, y, height=6, min_samples=min_samples)
    counts = {leaf.path: 0 for leaf in tree.leaves()}
    for x in X:
        counts[tree.route(x).path] += 1
    for node in tree.nodes():
        assert node.count == sum(c for p, c in counts.items() if p.startswith(node.path))
        if not node.is_leaf:
            assert node.left.count >= min_samples  # type: ignore[union-attr]
            assert node.right.count >= min_samples  # type: ignore[union-attr]
        assert len(node.path) <= 6


def test_large_min_samples_keeps_a_single_leaf() -> None:
    X, y = _data(1, n=50)
    tree = _tree(X, y, min_samples=26)
    assert tree.root.is_leaf


def test_left_is_the_good_side() -> None:
    X, y = _data(2)
    tree = _tree(X, y, height=1)
    assert not tree.root.is_leaf
    assert tree.root.left.mean > tree.root.right.mean  # type: ignore[union-attr]


def test_add_updates_statistics_along_the_path() -> None:
    X, y = _data(3)
    tree = _tree(X, y)
    x = np.full(DIM, 0.5)
    leaf = tree.route(x)
    before = [(n.count, n.total) for n in leaf.path_nodes()]
    assert tree.add(x, 10.0) is leaf
    after = [(n.count, n.total) for n in leaf.path_nodes()]
    assert after == [(c + 1, t + 10.0) for c, t in before]


def _two_leaves(good: tuple[int, float], other: tuple[int, float]) -> Node:
    empty_a, empty_c = np.zeros((0, DIM)), np.zeros(0)
    root = Node("", empty_a, empty_c)
    root.left = Node("L", empty_a, empty_c, count=good[0], total=good[0] * good[1], parent=root)
    root.right = Node("R", empty_a, empty_c, count=other[0], total=other[0] * other[1])
    root.right.parent = root
    root.count = good[0] + other[0]
    return root


def test_ucb_score_formula() -> None:
    assert ucb_score(1.0, 4, 16, 0.5) == pytest.approx(1.0 + 0.5 * math.sqrt(2 * math.log(16) / 4))
    assert ucb_score(1.0, 0, 16, 0.5) == math.inf


def test_ucb_picks_best_mean_without_exploration() -> None:
    root = _two_leaves(good=(100, 0.9), other=(2, 0.5))
    assert select(root, cp=0.0).path == "L"
    root = _two_leaves(good=(2, 0.5), other=(100, 0.9))
    assert select(root, cp=0.0).path == "R"


def test_ucb_picks_under_visited_node_with_large_cp() -> None:
    root = _two_leaves(good=(100, 0.9), other=(2, 0.5))
    assert select(root, cp=10.0).path == "R"


def test_virtual_visits_steer_selection_away() -> None:
    root = _two_leaves(good=(10, 0.6), other=(10, 0.5))
    assert select(root, cp=0.5).path == "L"
    assert select(root, cp=0.5, virtual={"": 30, "L": 30}).path == "R"


def test_build_in_steps_gives_the_same_tree_however_sliced() -> None:
    X, y = _data(4, n=20_000)  # more rows than one routing step (CHUNK)
    whole = _tree(X, y)
    sliced = LaTree(DIM, height=3, min_samples=5, ridge=1e-3, max_fit=10_000)
    old_root = sliced.root
    steps = sliced.build_steps(X, y)
    next(steps)
    assert sliced.root is old_root  # nothing replaced until the last step
    n_steps = 1 + sum(1 for _ in steps)
    assert n_steps > 2 * 20_000 // 8192  # the root's routing alone takes 3 steps
    for a, b in zip(whole.nodes(), sliced.nodes(), strict=True):
        assert (a.path, a.count, a.total, a.threshold, a.fit_n) == (
            b.path, b.count, b.total, b.threshold, b.fit_n
        )  # fmt: skip
        assert (a.w is None) == (b.w is None)
        if a.w is not None:
            np.testing.assert_array_equal(a.w, b.w)
