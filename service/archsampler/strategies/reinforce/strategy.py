"""REINFORCE: an LSTM controller over the space's decisions, trained on reported values."""

from __future__ import annotations

import math
from typing import Any
from typing import Sequence

import numpy as np

from archsampler.spaces.base import Arch
from archsampler.spaces.base import SearchSpace
from archsampler.strategies.base import Excluded
from archsampler.strategies.base import Observation
from archsampler.strategies.base import Proposal
from archsampler.strategies.base import Strategy
from archsampler.strategies.reinforce.policy import Adam
from archsampler.strategies.reinforce.policy import LSTMPolicy

DEFAULTS: dict[str, Any] = {
    "hidden": 32,
    "embed": 16,
    "lr": 0.1,
    "batch_size": 10,
    "baseline_decay": 0.9,
    "entropy": 0.0,
    "samples": 64,
}
INT_BOUNDS: dict[str, tuple[int, int]] = {
    "hidden": (1, 256),
    "embed": (1, 256),
    "batch_size": (1, 1000),
    "samples": (1, 10_000),
}
"""Inclusive bounds: an update costs O(batch_size · length · hidden²), a draw round
O(samples · length · hidden²), so every value inside keeps Propose and Report bounded."""
FLOAT_BOUNDS: dict[str, tuple[float, float]] = {
    "lr": (1e-6, 1.0),
    "baseline_decay": (0.0, 0.9999),
    "entropy": (0.0, 10.0),
}
"""Inclusive bounds of the real options (finite numbers only)."""
MAX_LENGTH_HIDDEN = 1 << 22
"""Refuse spaces where length · hidden² would make one step of the policy too slow."""
VALUE_LIMIT = 1e300
"""Rewards are clipped to ±1e300 so differences and moving averages stay finite."""
ADVANTAGE_LIMIT = 10.0
"""Normalised advantages are clipped to ±10 (one outlier cannot swing the policy)."""
CLIP_NORM = 5.0
"""Global gradient-norm clip per update."""
ROUNDS = 4
"""Draw rounds of `samples` + 2n sequences, at temperatures 1, 2, 4, 8, before the rest of a
Propose is uniform random (a peaked policy whose likely sequences are all taken)."""
_INIT_STREAM = 0x5EED_C0DE
"""Second word of the seed of the initial weights (independent of the proposal draws)."""


class ReinforceStrategy(Strategy):
    """The NAS controller of Zoph & Le (2017) and of the overview paper's MLPNAS: an LSTM
    policy that takes the space's decisions (`token_spec`) one per step with a masked
    softmax, trained by REINFORCE with a moving-average baseline.

    Proposals are sequences sampled from the policy (`samples` + 2n per round), taken in
    draw order when they decode to a valid architecture (`from_tokens`) that is neither
    observed, pending nor already taken. When a round falls short (the policy's likely
    sequences are all taken), the next samples at twice the temperature (up to `ROUNDS`
    rounds: 1, 2, 4, 8; labelled `policy:t=<T>`); what the rounds cannot fill is uniform
    random among unseen architectures (labelled `random`). Learning happens in
    `observe`: every `batch_size` observations with a value (in report order; failed
    trials are skipped) form one batch and one Adam step on
    `Σ_b A_b log π(x_b) / batch_size + entropy · Σ_b Σ_t H_t / batch_size`, where
    `A_b = (r_b - baseline) / scale` clipped to ±10, `baseline` is the exponential moving
    average of rewards (decay `baseline_decay`) and `scale` that of |r - baseline| (both
    start from the first batch). The policy is a function of the ordered observations
    only, so a restarted study replays the trial log to the same weights. Inference and
    training are numpy (no torch in the server).

    Options (anything else, or a value outside its bounds, is a ValueError naming it):
        hidden: LSTM hidden size, 1..256 (32).
        embed: token / position embedding size, 1..256 (16).
        lr: Adam learning rate, [1e-6, 1] (0.1; tuned on NAS-Bench-201, see the README).
        batch_size: observations per policy update, 1..1,000 (10; the paper samples 10
            architectures per controller epoch).
        baseline_decay: decay of the moving-average baseline, [0, 0.9999] (0.9).
        entropy: weight of the entropy bonus, [0, 10] (0).
        samples: sequences drawn per round in Propose, 1..10,000 (64).
    """

    name = "reinforce"

    def __init__(self, space: SearchSpace, *, seed: int = 0, **options: Any) -> None:
        unknown = sorted(set(options) - set(DEFAULTS))
        if unknown:
            raise ValueError(
                f"strategy 'reinforce' got unknown options {unknown}; valid options are "
                f"{sorted(DEFAULTS)}"
            )
        super().__init__(space, seed=seed)
        self.options = {**DEFAULTS, **options}
        _check_options(self.options)
        spec = space.token_spec()
        o = self.options
        if spec.length * o["hidden"] ** 2 > MAX_LENGTH_HIDDEN:
            raise ValueError(
                f"reinforce option 'hidden' ({o['hidden']}) is too large for this space's "
                f"{spec.length} decisions: length · hidden² must be at most {MAX_LENGTH_HIDDEN:,}"
            )
        init = np.random.default_rng([seed % 2**64, _INIT_STREAM])
        self.policy = LSTMPolicy(np.asarray(spec.masks, dtype=bool), o["hidden"], o["embed"], init)
        self.optimizer = Adam(self.policy.params, o["lr"])
        self.baseline: float | None = None
        self.scale = 0.0
        self.updates = 0
        self._batch: list[tuple[list[int], float]] = []

    # -- learning -----------------------------------------------------------------------
    def _observe(self, observations: Sequence[Observation]) -> None:
        for obs in observations:
            if obs.value is None or math.isnan(obs.value):
                continue
            reward = min(max(float(obs.value), -VALUE_LIMIT), VALUE_LIMIT)
            self._batch.append((self.space.to_tokens(obs.arch), reward))
            if len(self._batch) >= self.options["batch_size"]:
                self._update()

    def _update(self) -> None:
        """One REINFORCE step on the collected batch; then the baseline moves."""
        tokens = np.array([t for t, _ in self._batch], dtype=np.int64)
        rewards = np.array([r for _, r in self._batch])
        self._batch = []
        decay = self.options["baseline_decay"]
        if self.baseline is None:
            self.baseline = float(rewards.mean())
            self.scale = float(np.abs(rewards - self.baseline).mean())
        scale = self.scale if self.scale > 0 else 1.0
        adv = np.clip((rewards - self.baseline) / scale, -ADVANTAGE_LIMIT, ADVANTAGE_LIMIT)
        n = len(rewards)
        _, grads = self.policy.grad(tokens, adv / n, self.options["entropy"] / n)
        self.optimizer.ascend(grads, clip=CLIP_NORM)
        self.updates += 1
        for r in rewards:
            dev = abs(r - self.baseline)
            self.baseline = decay * self.baseline + (1 - decay) * r
            self.scale = decay * self.scale + (1 - decay) * dev

    # -- proposing ----------------------------------------------------------------------
    def propose(self, n: int, pending: Sequence[Arch]) -> list[Proposal]:
        excluded = self.excluded(pending)
        out = self._from_policy(n, excluded)
        if len(out) < n:
            out += [Proposal(a, region="random") for a in self.random_new(n - len(out), excluded)]
        return self.require(out, n)

    def _from_policy(self, n: int, excluded: Excluded) -> list[Proposal]:
        out: list[Proposal] = []
        per_round = self.options["samples"] + 2 * n
        for r in range(ROUNDS):
            temperature = 2.0**r
            region = "policy" if r == 0 else f"policy:t={temperature:g}"
            for row in self.policy.sample(per_round, self.rng, temperature):
                arch = self.space.from_tokens(row.tolist())
                if arch is None:
                    continue
                key = self.space.canonical_hash(arch)
                if key in excluded:
                    continue
                excluded.add(key)
                out.append(Proposal(arch, region=region))
                if len(out) == n:
                    return out
        return out


def _check_options(o: dict[str, Any]) -> None:
    """ValueError naming the first option outside its bounds."""
    for key, (low, high) in INT_BOUNDS.items():
        v = o[key]
        if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
            raise ValueError(
                f"reinforce option {key!r} must be an integer in [{low}, {high}], got {v!r:.40}"
            )
    for key, (low, high) in FLOAT_BOUNDS.items():
        v = o[key]
        ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        if not ok or not math.isfinite(v) or not low <= v <= high:
            raise ValueError(
                f"reinforce option {key!r} must be a number in [{low:g}, {high:g}], got {v!r:.40}"
            )
