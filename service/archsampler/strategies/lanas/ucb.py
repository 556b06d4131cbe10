"""UCB1 selection down the LaNAS tree."""

from __future__ import annotations

import math
from typing import Mapping

from archsampler.strategies.lanas.tree import Node


def ucb_score(mean: float, n: float, n_parent: float, cp: float) -> float:
    """`mean + cp * sqrt(2 ln n_parent / n)`; +inf for a node never visited."""
    if n <= 0:
        return math.inf
    return mean + cp * math.sqrt(2.0 * math.log(max(n_parent, 1.0)) / n)


def select(
    root: Node, cp: float, virtual: Mapping[str, int] | None = None, penalty: float = 0.0
) -> Node | None:
    """Walk from `root` to a leaf, taking the child with the higher UCB score.

    Args:
        root: the tree's root.
        cp: absolute exploration constant (already scaled to the value range).
        virtual: extra visits per node path (pending proposals). Each counts in `n` with
            the value `mean - penalty` (a virtual loss), so a node with many pending trials
            looks less attractive and parallel proposals spread over the good regions.
        penalty: how far below the node's mean a pending visit counts.

    Returns:
        The selected leaf, never a dry one (see `Node.mark_dry`); None when the root is
        dry. Ties go LEFT (the good side).
    """
    extra = virtual or {}
    node = root
    if node.dry:
        return None
    while not node.is_leaf:
        left, right = node.left, node.right
        assert left is not None and right is not None
        n_parent = node.count + extra.get(node.path, 0)
        scores = [math.inf, math.inf]
        for i, child in enumerate((left, right)):
            if child.dry:
                scores[i] = -math.inf
            elif child.count:
                k = extra.get(child.path, 0)
                mean = child.mean - penalty * k / (child.count + k)
                scores[i] = ucb_score(mean, child.count + k, n_parent, cp)
        # A NaN score (values beyond the float range) must never beat, or lose to, a dry
        # child: compare (not dry, score with NaN as -inf).
        keys = [
            (not child.dry, -math.inf if math.isnan(score) else score)
            for child, score in zip((left, right), scores, strict=True)
        ]
        node = left if keys[0] >= keys[1] else right
    return node
