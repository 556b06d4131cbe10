"""Optuna distributions as an archsampler user space (built on the neutral `_space` codecs).

Each Optuna parameter becomes one user-space parameter, named as in Optuna when the name
is valid there, else a sanitised name with a short hash of the original:

- `IntDistribution(low, high, step, log)` → `int` with the same bounds, step and log;
- `FloatDistribution(low, high, log)` → `float`; with a `step`, → `int` grid index
  `0..n-1` (value = low + index × step), so the proposal lands exactly on Optuna's grid;
- `CategoricalDistribution(choices)` → `categorical` over string tokens (see
  `_space.categorical`); non-string choices round-trip faithfully (as far as Optuna's
  storage keeps them apart: it cannot tell `True` from `1` or `1.0` in one list).

Single-valued distributions are left out: Optuna fixes them without asking a sampler.
A space's `digest` hashes Optuna's own JSON of every distribution, so two spaces share a
digest exactly when Optuna sees them as equal.
"""

from __future__ import annotations

from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.distributions import distribution_to_json

from archsampler_client.integrations import _space
from archsampler_client.integrations._space import Space


def _param(name: str, dist: BaseDistribution) -> _space.Param:
    """The codec of one Optuna distribution."""
    if isinstance(dist, CategoricalDistribution):
        return _space.categorical(name, dist.choices)
    if isinstance(dist, IntDistribution):
        return _space.integer(name, dist.low, dist.high, dist.step, dist.log)
    if isinstance(dist, FloatDistribution) and dist.step is not None:
        last = round((dist.high - dist.low) / dist.step)
        return _space.grid(name, 0, last, dist.step, offset=dist.low, low=dist.low, high=dist.high)
    if isinstance(dist, FloatDistribution):
        return _space.real(name, dist.low, dist.high, dist.log)
    raise TypeError(f"parameter {name!r}: unsupported distribution {dist!r}")


class UserSpace(Space):
    """The archsampler user space of a set of Optuna distributions.

    Args:
        distributions: Optuna parameter name → distribution; single-valued ones are
            dropped (Optuna fixes them itself).

    Raises:
        TypeError: a distribution Optuna no longer uses (the deprecated `Uniform…` ones are
            converted by Optuna before a sampler sees them).
        ValueError: two parameter names map to the same archsampler name.
    """

    def __init__(self, distributions: dict[str, BaseDistribution]) -> None:
        kept = {n: d for n, d in sorted(distributions.items()) if not d.single()}
        self.distributions: dict[str, BaseDistribution] = kept
        doc = {n: distribution_to_json(d) for n, d in kept.items()}
        super().__init__([_param(n, d) for n, d in kept.items()], doc)

    def __contains__(self, item: tuple[str, BaseDistribution]) -> bool:
        """Whether `(name, distribution)` is one of this space's parameters, as is."""
        name, dist = item
        return name in self.distributions and self.distributions[name] == dist
