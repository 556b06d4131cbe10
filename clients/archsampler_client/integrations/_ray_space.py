"""A Ray Tune `param_space` as an archsampler user space (built on the `_space` codecs).

Each Tune domain, at any depth of the (nested) config, becomes one parameter named by its
path joined with `.` (sanitised as `_space.wire_name` does); constants are left to Tune:

| Tune | archsampler | values |
| --- | --- | --- |
| `choice(cats)` | `categorical` | the original objects |
| `randint(lo, hi)` / `lograndint` | `int` `lo..hi-1` (`log`) | `int` |
| `qrandint(lo, hi, q)` / `qlograndint` | `int` grid index `k` (`log`) | `k × q`, `int` |
| `uniform(lo, hi)` / `loguniform` | `float` (`log`) | `float` |
| `quniform(lo, hi, q)` / `qloguniform` | `int` grid index `k` (`log`) | `k × q`, `float` |

As in Tune, a quantized domain's values are the multiples of `q` inside its bounds.
`grid_search`, `sample_from` / custom functions and the unbounded `randn` / `qrandn`
cannot be proposed, and raise `ValueError` naming the parameter.
"""

from __future__ import annotations

import math
from typing import Any

from ray.tune.search.sample import Categorical
from ray.tune.search.sample import Domain
from ray.tune.search.sample import Float
from ray.tune.search.sample import Integer
from ray.tune.search.sample import LogUniform
from ray.tune.search.sample import Quantized
from ray.tune.search.sample import Uniform
from ray.tune.search.variant_generator import parse_spec_vars

from archsampler_client.integrations import _space
from archsampler_client.integrations._space import Space


def _grid_index(bound: float, q: float, inward: Any) -> int:
    """`bound / q` rounded inwards, as Tune's `Quantized` does (exact when close)."""
    scaled = bound / q
    nearest = round(scaled)
    return int(nearest if math.isclose(scaled, nearest) else inward(scaled))


def _param(name: str, domain: Domain) -> _space.Param:
    """The codec of one Tune domain."""
    if isinstance(domain, Categorical):
        return _space.categorical(name, domain.categories)
    sampler = domain.get_sampler()
    q = 1
    if isinstance(sampler, Quantized):
        q, sampler = sampler.q, sampler.get_sampler()
    if not isinstance(domain, (Integer, Float)) or not isinstance(sampler, (Uniform, LogUniform)):
        raise ValueError(
            f"Tune parameter {name!r}: {type(domain).__name__} with {type(sampler).__name__} "
            "sampling cannot be proposed by archsampler (supported: choice, randint, "
            "lograndint, qrandint, qlograndint, uniform, loguniform, quniform, qloguniform)"
        )
    log = isinstance(sampler, LogUniform)
    if isinstance(domain, Integer) and q == 1:
        return _space.integer(name, domain.lower, domain.upper - 1, log=log)
    if isinstance(domain, Float) and not isinstance(domain.get_sampler(), Quantized):
        return _space.real(name, domain.lower, domain.upper, log)
    first = _grid_index(domain.lower, q, math.ceil)
    last = _grid_index(domain.upper, q, math.floor)
    cast = int if isinstance(domain, Integer) else float
    return _space.grid(name, first, last, q, log=log, cast=cast)


class TuneSpace(Space):
    """The archsampler user space of a Tune `param_space` (a nested dict of domains).

    Raises:
        ValueError: a `grid_search`, or a domain archsampler cannot propose (named).
    """

    def __init__(self, config: dict[str, Any]) -> None:
        _, domains, grids = parse_spec_vars(config)
        if grids:
            paths = [".".join(map(str, path)) for path, _ in grids]
            raise ValueError(
                f"Tune parameters {paths}: grid_search cannot be combined with a searcher; "
                "use tune.choice (archsampler proposes each architecture once)"
            )
        self.paths = {".".join(map(str, p)): tuple(p) for p, _ in domains}
        params = [_param(".".join(map(str, p)), d) for p, d in domains]
        doc = {p.name: [p.spec, d.domain_str] for p, (_, d) in zip(params, domains, strict=True)}
        super().__init__(params, doc)

    def config(self, params: dict[str, Any]) -> dict[str, Any]:
        """The nested Tune config of a proposal's wire params."""
        out: dict[str, Any] = {}
        for name, value in self.decode(params).items():
            _space.put(out, self.paths[name], value)
        return out

    def flat(self, config: dict[str, Any]) -> dict[str, Any]:
        """Tune values by parameter name, from a nested config or a flat one (keys: the
        names, or the paths joined with `/` as Tune flattens results)."""
        out = {}
        for name, path in self.paths.items():
            slash = "/".join(map(str, path))
            value = config.get(name, config.get(slash, _space.lookup(config, path)))
            if value is not _space.MISSING:
                out[name] = value
        return out
