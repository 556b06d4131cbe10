"""NAS-Bench-201 cell: 4 nodes, 6 edges, 5 operations per edge (5^6 = 15,625 cells).

Cells that compute the same network share one canonical hash: 6,466 classes, the unique
topologies of NAS-Bench-201 / NATS-Bench (see `unique_string`).
"""

from __future__ import annotations

import functools
import itertools
import re
from typing import Any
from typing import Sequence

import numpy as np

from archsampler.errors import InvalidArchitectureError
from archsampler.spaces.base import ENUMERATE_LIMIT
from archsampler.spaces.base import ParamValue
from archsampler.spaces.base import SearchSpace
from archsampler.spaces.base import TokenSpec
from archsampler.spaces.base import digest

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
PARAM_NAMES: tuple[str, ...] = tuple(f"edge_{i}_{j}" for i, j in EDGES)
_NODE = re.compile(r"^\|(?:[a-z0-9_]+~\d\|)+$")

NB201Arch = tuple[int, ...]
"""Six op indices into `OPS`, in `EDGES` order."""

NETWORKS = 6_466
"""Distinct networks (isomorphism classes of `unique_string`) among the 15,625 cells."""
_ZERO = "#"


@functools.lru_cache(maxsize=len(OPS) ** len(EDGES))
def unique_string(arch: NB201Arch) -> str:
    """A string equal for two cells exactly when NATS-Bench counts them as one network.

    Each node's tensor is written as the sorted '+'-join of its incoming terms: a `none`
    edge, or any edge out of a node that is exactly zero, is the zero term `#`; a
    `skip_connect` edge is its source's string unchanged; any other op is `(source)@op`.
    The input node is `0` and the cell is its output node's string. Edges that cannot
    change the output (zeroed paths, branches merged by sorting) thus drop out, which is
    NATS-Bench's rule for unique topologies (its `iso` classes of the 15,625 cells).
    """
    nodes = ["0"]
    k = 0
    for node in (1, 2, 3):
        terms = []
        for src in range(node):
            op, source = OPS[arch[k]], nodes[src]
            k += 1
            if op == "none" or source == _ZERO:
                terms.append(_ZERO)
            elif op == "skip_connect":
                terms.append(source)
            else:
                terms.append(f"({source})@{op}")
        nodes.append("+".join(sorted(terms)))
    return nodes[-1]


class NB201Space(SearchSpace):
    """Architectures are 6-tuples of op indices; the string is the NB201 arch format."""

    name = "nb201"

    def spec(self) -> dict[str, Any]:
        return {"builtin": "nb201"}

    def size(self) -> int:
        """Distinct networks (6,466), not cells (15,625): isomorphic cells count once."""
        return NETWORKS

    def enumerate_archs(self, limit: int = ENUMERATE_LIMIT) -> list[NB201Arch] | None:
        """One cell per canonical hash (the first in op-index order), or None over `limit`."""
        listed = self.__dict__.get("_listed")
        if listed is None:  # computed once per space instance (hashes are fixed)
            first: dict[str, NB201Arch] = {}
            for arch in itertools.product(range(len(OPS)), repeat=len(EDGES)):
                first.setdefault(self.canonical_hash(arch), arch)
            listed = self.__dict__["_listed"] = list(first.values())
        return None if len(listed) > limit else list(listed)

    def sample(self, rng: np.random.Generator) -> NB201Arch:
        return tuple(int(i) for i in rng.integers(0, len(OPS), size=len(EDGES)))

    def validate(self, arch: Any) -> None:
        if not isinstance(arch, tuple) or len(arch) != len(EDGES):
            raise InvalidArchitectureError(f"an nb201 cell has {len(EDGES)} edges")
        for k, op in enumerate(arch):
            if not isinstance(op, int) or not 0 <= op < len(OPS):
                raise InvalidArchitectureError(
                    f"edge {PARAM_NAMES[k]}: op index {op!r} is not in 0..{len(OPS) - 1}"
                )

    def canonical_hash(self, arch: NB201Arch) -> str:
        """Hash of the cell's network (`unique_string`): isomorphic cells share it."""
        return _network_hash(arch)

    def to_string(self, arch: NB201Arch) -> str:
        nodes, k = [], 0
        for node in (1, 2, 3):
            parts = []
            for src in range(node):
                parts.append(f"{OPS[arch[k]]}~{src}")
                k += 1
            nodes.append("|" + "|".join(parts) + "|")
        return "+".join(nodes)

    def from_string(self, text: str) -> NB201Arch:
        if not isinstance(text, str) or not text:
            raise InvalidArchitectureError("nb201 architecture string is empty")
        nodes = text.split("+")
        if len(nodes) != 3:
            raise InvalidArchitectureError(
                f"nb201 string must have 3 '+'-separated nodes, got {len(nodes)}: {text[:80]!r}"
            )
        ops: list[int] = []
        for node, part in enumerate(nodes, start=1):
            if not _NODE.fullmatch(part):
                raise InvalidArchitectureError(
                    f"node {node} {part[:60]!r} is not of the form |op~j|op~j|"
                )
            edges = part.strip("|").split("|")
            if len(edges) != node:
                raise InvalidArchitectureError(
                    f"node {node} must have {node} incoming edges, got {len(edges)}"
                )
            for src, edge in enumerate(edges):
                op, _, j = edge.partition("~")
                if int(j) != src:
                    raise InvalidArchitectureError(
                        f"node {node} edge {src} names source {j}; sources must be 0..{node - 1}"
                    )
                if op not in OPS:
                    raise InvalidArchitectureError(
                        f"unknown op {op!r} on edge {node}<-{src}; ops are {list(OPS)}"
                    )
                ops.append(OPS.index(op))
        return tuple(ops)

    def to_params(self, arch: NB201Arch) -> dict[str, ParamValue]:
        return {name: OPS[i] for name, i in zip(PARAM_NAMES, arch, strict=True)}

    def from_params(self, params: dict[str, ParamValue]) -> NB201Arch:
        unknown = sorted(set(params) - set(PARAM_NAMES))
        missing = [p for p in PARAM_NAMES if p not in params]
        if unknown or missing:
            raise InvalidArchitectureError(
                f"nb201 params must be exactly {list(PARAM_NAMES)}; "
                f"unknown {unknown}, missing {missing}"
            )
        ops = []
        for name in PARAM_NAMES:
            op = params[name]
            if op not in OPS:
                raise InvalidArchitectureError(f"{name}: unknown op {op!r}; ops are {list(OPS)}")
            ops.append(OPS.index(op))
        return tuple(ops)

    @property
    def dim(self) -> int:
        return len(EDGES) * len(OPS)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(self.dim), np.ones(self.dim)

    def encode(self, arch: NB201Arch) -> np.ndarray:
        x = np.zeros((len(EDGES), len(OPS)))
        x[np.arange(len(EDGES)), list(arch)] = 1.0
        return x.ravel()

    def decode(self, x: np.ndarray) -> NB201Arch:
        return tuple(int(i) for i in np.asarray(x).reshape(len(EDGES), len(OPS)).argmax(axis=1))

    def token_spec(self) -> TokenSpec:
        return TokenSpec(len(EDGES), len(OPS), np.ones((len(EDGES), len(OPS)), dtype=bool))

    def to_tokens(self, arch: NB201Arch) -> list[int]:
        return list(arch)

    def from_tokens(self, tokens: Sequence[int]) -> NB201Arch | None:
        arch = tuple(int(t) for t in tokens)
        try:
            self.validate(arch)
        except InvalidArchitectureError:
            return None
        return arch


@functools.lru_cache(maxsize=len(OPS) ** len(EDGES))
def _network_hash(arch: NB201Arch) -> str:
    return digest(unique_string(arch))
