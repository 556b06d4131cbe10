"""User-defined search space: int / float / categorical params, conditions, linear constraints.

Architecture type: `UserArch`, a tuple of `(name, value)` pairs for the ACTIVE params only,
in declaration order (ints are `int`, floats `float`, categoricals `str`).

Canonical forms:
    - `canonical_hash` hashes `name=value` pairs with floats rounded to 12 significant
      digits (`user_spec.round_float`), so floats that differ below that are the same arch.
      Sampled and decoded floats are already in that rounded form.
    - `to_string` is `depth=4,op1=conv3,lr=0.001` (declaration order, active params, floats
      as Python `repr`, so `from_string` gives back the exact value).

Features (LaNAS): one coordinate in [0, 1] per int/float param (log scale when `log`),
0.5 when the param is inactive; a one-hot block per categorical param, all zeros when
inactive. `constraints()` gives, in feature coordinates, a linear condition every valid
architecture satisfies: exact for constraints over unconditional, linear-scale params; a
term on a log-scale or conditional param is not linear in feature space, so it is replaced
by its smallest possible contribution (a relaxation; a row left with no term is omitted).
`validate`, `decode` and `sample` always enforce the exact constraints.

Tokens (NAO): one position per param. Token 0 means "inactive" (allowed only at
conditional positions; ignored by `from_tokens` where the param is inactive); token k >= 1
is the (k-1)-th value: a choice index, an int's value index when it has <= 64 values,
otherwise one of 32 equal bins of the unit (log) scale; bins holding no int are masked.
"""

from __future__ import annotations

import itertools
import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Any
from typing import Sequence

import numpy as np
from pydantic import ValidationError

from archsampler.errors import InvalidArchitectureError
from archsampler.errors import InvalidArgumentError
from archsampler.spaces.base import ENUMERATE_LIMIT
from archsampler.spaces.base import LinearConstraints
from archsampler.spaces.base import ParamValue
from archsampler.spaces.base import SearchSpace
from archsampler.spaces.base import TokenSpec
from archsampler.spaces.base import digest
from archsampler.spaces.user_spec import MAX_SPEC_BYTES
from archsampler.spaces.user_spec import MAX_TOTAL_CHOICES
from archsampler.spaces.user_spec import UserSpaceSpec
from archsampler.spaces.user_spec import render_error
from archsampler.spaces.user_spec import round_float
from archsampler.spaces.user_values import ValueCodec

UserArch = tuple[tuple[str, ParamValue], ...]
"""Active params as `(name, value)` pairs in declaration order."""

MAX_SAMPLE_ATTEMPTS = 10_000
TOLERANCE = 1e-9
"""Constraint slack, relative to max(1, |bound|)."""
ENCODE_CACHE = 100_000
"""Entries of the hash and feature caches; when full, the oldest 1/64 go (never all at once:
clearing 100,000 entries in one call cost a Propose ~40 ms)."""


def _cache_put(cache: dict[Any, Any], key: Any, value: Any) -> None:
    """Insert into a bounded insertion-ordered cache, evicting the oldest slice when full."""
    if len(cache) >= ENCODE_CACHE:
        for old in list(itertools.islice(cache, ENCODE_CACHE // 64)):
            del cache[old]
    cache[key] = value


MAX_LISTED_CELLS = 1 << 20
"""`enumerate_archs` lists at most this many (param, value) cells (architectures x params)."""


class UserSpace(SearchSpace):
    """A space declared by the user; see the module docstring for the forms it uses.

    Immutable and thread-safe. Two spaces are equal when their normalised specs are.

    Args:
        spec: a validated spec; build from a plain dict with `from_spec`.
    """

    name = "user"

    def __init__(self, spec: UserSpaceSpec) -> None:
        self._spec = spec
        self._params = spec.params
        self._index = {p.name: i for i, p in enumerate(spec.params)}
        self._codecs = [ValueCodec(p) for p in spec.params]
        self._offsets = [0, *itertools.accumulate(c.width for c in self._codecs)]
        self._encoded: dict[UserArch, np.ndarray] = {}
        self._memo: dict[Any, Any] = {}  # enumerations (the space is immutable)
        self._hashes: dict[UserArch, str] = {}
        self._rows = [
            (
                [(self._index[n], c) for n, c in con.coefficients.items()],
                1.0 if con.op == "<=" else -1.0,
                con.bound,
            )
            for con in spec.constraints
        ]
        self._normalised = spec.model_dump(mode="json", exclude_none=True)
        size = len(json.dumps(self._normalised, ensure_ascii=False).encode())
        if size > MAX_SPEC_BYTES:
            raise InvalidArgumentError(
                f"invalid user space: the spec is {size:,} bytes as JSON; the limit is "
                f"{MAX_SPEC_BYTES:,}"
            )
        # Without conditions or constraints every param is always active and every decoded
        # point is valid, so the batch paths work on columns only.
        self._flat = not self._rows and all(p.condition is None for p in spec.params)
        self._names = [p.name for p in spec.params]
        # A flat space of grid params (categorical, or int without log) samples every param's
        # grid index in one call: (sizes, and per param its choices or (low, step)).
        self._grid: tuple[np.ndarray, list[Any]] | None = None
        if self._flat and all(
            p.type == "categorical" or (p.type == "int" and not p.log) for p in spec.params
        ):
            self._grid = (
                np.array(
                    [
                        len(p.choices) if p.type == "categorical" else p.n_values
                        for p in spec.params
                    ]
                ),
                [
                    list(p.choices) if p.type == "categorical" else (p.low, p.step)
                    for p in spec.params
                ],
            )
        self._choice_index = [
            {c: j for j, c in enumerate(p.choices)} if p.type == "categorical" else None
            for p in spec.params
        ]

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> UserSpace:
        """Validate a spec dict (the `user` part of a space spec).

        Raises:
            InvalidArgumentError: the spec is malformed; the message names each bad field.
        """
        if not isinstance(spec, dict):
            raise InvalidArgumentError(f"a user space spec is a JSON object, got {spec!r:.80}")
        params = spec.get("params")
        if isinstance(params, list):  # refuse a huge space before validating all of it
            choices = sum(
                len(p["choices"])
                for p in params
                if isinstance(p, dict) and isinstance(p.get("choices"), list)
            )
            if choices > MAX_TOTAL_CHOICES:
                raise InvalidArgumentError(
                    f"invalid user space: params: {choices} categorical choices in all; the "
                    f"limit is {MAX_TOTAL_CHOICES}"
                )
        try:
            return cls(UserSpaceSpec.model_validate(spec))
        except ValidationError as err:
            raise InvalidArgumentError(f"invalid user space: {render_error(err)}") from None

    def spec(self) -> dict[str, Any]:
        return {"user": json.loads(json.dumps(self._normalised))}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UserSpace) and self._normalised == other._normalised

    def __hash__(self) -> int:
        return hash(json.dumps(self._normalised, sort_keys=True))

    def size(self) -> int | None:
        """Exact count for spaces without float params: the grid size when nothing is
        conditional or constrained, else the length of `enumerate_archs()` (None when
        that is over `ENUMERATE_LIMIT`)."""
        if any(c.kind == "float" for c in self._codecs):
            return None
        if self._flat:
            return math.prod(c.n_values for c in self._codecs)
        archs = self.enumerate_archs()
        return None if archs is None else len(archs)

    def enumerate_archs(self, limit: int = ENUMERATE_LIMIT) -> list[UserArch] | None:
        """Every valid architecture of a space without float params, in grid order.

        Params are expanded one at a time over a numpy table of partial assignments (one
        row each, a column per param holding the value's index or -1 when inactive);
        after each param, rows that cannot meet a constraint whatever the later params
        take are dropped (each later param's smallest contribution, 0 when it may be
        inactive). Gives up (None) once more than `limit` rows (or `MAX_LISTED_CELLS`
        values) are alive: the space, or its constrained part, is too big to list.
        """
        if any(c.kind == "float" for c in self._codecs):
            return None
        key = ("enumerate", limit)
        if key not in self._memo:
            self._memo[key] = self._enumerate(limit)
        found = self._memo[key]
        return None if found is None else list(found)

    def _enumerate(self, limit: int) -> list[UserArch] | None:
        n_params = len(self._params)
        if self._flat and math.prod(c.n_values for c in self._codecs) * n_params > min(
            limit * n_params, MAX_LISTED_CELLS
        ):
            return None
        values = [c.all_values() for c in self._codecs]
        n_rows = len(self._rows)
        # Rows scaled by a power of two that brings their largest coefficient (or bound)
        # below 1, so no product with an int (<= 2**53) overflows.
        scale = [
            math.ldexp(1.0, -max(math.frexp(x)[1] for x in (bound, *(c for _, c in terms))))
            for terms, _, bound in self._rows
        ]
        # contrib[i]: (n_rows, n_values_i) scaled, signed contributions of param i's values.
        contrib = []
        for i, vals in enumerate(values):
            table = np.zeros((n_rows, len(vals)))
            if self._codecs[i].kind == "int":
                for k, (terms, sign, _) in enumerate(self._rows):
                    for j, c in terms:
                        if j == i:
                            table[k] += sign * c * scale[k] * np.asarray(vals, dtype=float)
            contrib.append(table)
        # rest[i]: the smallest total later params (i..end) can add to each row.
        rest = np.zeros((n_params + 1, n_rows))
        for i in range(n_params - 1, -1, -1):
            low = contrib[i].min(axis=1) if n_rows else np.zeros(0)
            if self._params[i].condition is not None:
                low = np.minimum(low, 0.0)
            rest[i] = rest[i + 1] + low
        bounds = np.array(
            [sign * b * f for (_, sign, b), f in zip(self._rows, scale, strict=True)]
        )
        # Pruning must never drop a valid row (the exact check comes last): a loose margin.
        margin = 1e-7 * (
            np.abs(bounds)
            + np.array(scale)
            + sum(np.abs(t).max(axis=1, initial=0) for t in contrib)
        )
        cap = min(limit, MAX_LISTED_CELLS // n_params)
        cols = np.zeros((1, 0), dtype=np.int64)
        sums = np.zeros((1, n_rows))
        for i, p in enumerate(self._params):
            m = len(values[i])
            active = np.ones(len(cols), dtype=bool)
            if p.condition is not None:
                parent = self._index[p.condition.param]
                holds = [p.condition.holds(v) for v in values[parent]] + [False]
                active = np.array(holds)[cols[:, parent]]  # index -1: inactive parent
            idle, busy = cols[~active], cols[active]
            grown_rows = len(idle) + len(busy) * m  # before pruning: bound what is built
            if grown_rows * (i + 1 + n_rows) > 8 * MAX_LISTED_CELLS:
                return None
            grown = np.repeat(busy, m, axis=0)
            picks = np.tile(np.arange(m), len(busy))
            cols = np.vstack(
                [
                    np.hstack([idle, np.full((len(idle), 1), -1)]),
                    np.hstack([grown, picks[:, None]]),
                ]
            )
            sums = np.vstack(
                [sums[~active], np.repeat(sums[active], m, axis=0) + contrib[i][:, picks].T]
            )
            if n_rows:
                ok = np.all(sums + rest[i + 1] - bounds <= margin, axis=1)
                cols, sums = cols[ok], sums[ok]
            if len(cols) > cap:
                return None
        archs = []
        pairs = [[(p.name, v) for v in vals] for p, vals in zip(self._params, values, strict=True)]
        for row in cols.tolist():
            arch = tuple(pairs[i][v] for i, v in enumerate(row) if v >= 0)
            # The table decides with a margin; `_violation` is the exact rule.
            if not n_rows or self._violation(dict(arch)) is None:
                archs.append(arch)
        return archs

    # -- activation and constraints -------------------------------------------------------
    @staticmethod
    def _active(p: Any, values: dict[str, ParamValue]) -> bool:
        c = p.condition
        return c is None or (c.param in values and c.holds(values[c.param]))

    def _violation(self, values: dict[str, ParamValue]) -> str | None:
        for k, (terms, sign, bound) in enumerate(self._rows):
            lhs = sum(c * values.get(self._params[i].name, 0) for i, c in terms)
            if math.isfinite(lhs):
                bad = sign * (lhs - bound) > TOLERANCE * max(1.0, abs(bound))
                side = f"{lhs:g}"
            else:  # a term or the sum overflowed: decide in exact arithmetic
                bad, side = _exact_violation(
                    [(c, values.get(self._params[i].name, 0)) for i, c in terms], sign, bound
                )
            if bad:
                desc = self._spec.constraints[k].describe()
                return f"constraint {k} ({desc}) violated: left side is {side}"
        return None

    def _arch(self, values: dict[str, ParamValue]) -> UserArch:
        return tuple((p.name, values[p.name]) for p in self._params if p.name in values)

    # -- sampling and validity ------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> UserArch:
        if self._grid is not None:  # one draw for all params (a busy server's hot path)
            sizes, grids = self._grid
            return tuple(
                (name, grid[i] if isinstance(grid, list) else grid[0] + grid[1] * i)
                for name, grid, i in zip(
                    self._names, grids, rng.integers(0, sizes).tolist(), strict=True
                )
            )
        if self._flat:  # every param active, nothing to reject
            return tuple((p.name, p.sample(rng)) for p in self._params)
        for _ in range(MAX_SAMPLE_ATTEMPTS):
            values: dict[str, ParamValue] = {}
            for p in self._params:
                if self._active(p, values):
                    values[p.name] = p.sample(rng)
            if self._violation(values) is None:
                return self._arch(values)
        raise InvalidArgumentError(
            f"no random architecture satisfied the linear constraints in {MAX_SAMPLE_ATTEMPTS} "
            "attempts: they are too tight to sample by rejection; loosen them"
        )

    def validate(self, arch: Any) -> None:
        if not isinstance(arch, tuple) or not all(
            isinstance(kv, tuple) and len(kv) == 2 and isinstance(kv[0], str) for kv in arch
        ):
            raise InvalidArchitectureError(
                "a user-space architecture is a tuple of (name, value) pairs"
            )
        values = dict(arch)
        if len(values) != len(arch):
            raise InvalidArchitectureError("a param appears more than once")
        unknown = [n for n in values if n not in self._index]
        if unknown:
            raise InvalidArchitectureError(
                f"unknown params {unknown}; the space has {list(self._index)}"
            )
        if [n for n, _ in arch] != sorted(values, key=self._index.__getitem__):
            raise InvalidArchitectureError("params must be in declaration order")
        seen: dict[str, ParamValue] = {}
        for p, codec in zip(self._params, self._codecs, strict=True):
            active = self._active(p, seen)
            if active and p.name not in values:
                why = f" ({p.condition.describe()} holds)" if p.condition else ""
                raise InvalidArchitectureError(f"{p.name}: active{why} but has no value")
            if not active and p.name in values:
                why = self._inactive_reason(p, seen)
                raise InvalidArchitectureError(f"{p.name}: inactive ({why}) but has a value")
            if active:
                codec.check(values[p.name])
                seen[p.name] = values[p.name]
        problem = self._violation(values)
        if problem:
            raise InvalidArchitectureError(problem)

    def _inactive_reason(self, p: Any, values: dict[str, ParamValue]) -> str:
        c = p.condition
        if c.param not in values:
            return f"its condition's param {c.param!r} is inactive"
        return f"{c.describe()} is false for {c.param}={values[c.param]!r}"

    def canonical_hash(self, arch: UserArch) -> str:
        key = self._hashes.get(arch)
        if key is None:
            key = digest(
                ",".join(f"{n}={round_float(v) if isinstance(v, float) else v}" for n, v in arch)
            )
            _cache_put(self._hashes, arch, key)
        return key

    # -- wire forms -----------------------------------------------------------------------
    def to_string(self, arch: UserArch) -> str:
        return ",".join(f"{n}={v!r}" if isinstance(v, float) else f"{n}={v}" for n, v in arch)

    def from_string(self, text: str) -> UserArch:
        if not isinstance(text, str) or not text.strip():
            raise InvalidArchitectureError("user-space architecture string is empty")
        values: dict[str, ParamValue] = {}
        for item in text.split(","):
            name, eq, raw = item.partition("=")
            name = name.strip()
            if not eq:
                raise InvalidArchitectureError(f"{item[:80]!r} is not of the form name=value")
            if name not in self._index:
                raise InvalidArchitectureError(
                    f"unknown param {name[:64]!r}; the space has {list(self._index)}"
                )
            if name in values:
                raise InvalidArchitectureError(f"{name}: given more than once")
            values[name] = self._codecs[self._index[name]].parse(raw.strip())
        return self._checked(values)

    def to_params(self, arch: UserArch) -> dict[str, ParamValue]:
        return dict(arch)

    def from_params(self, params: dict[str, ParamValue]) -> UserArch:
        if not isinstance(params, dict):
            raise InvalidArchitectureError(
                f"params must be a mapping, got {type(params).__name__}"
            )
        values: dict[str, ParamValue] = {}
        for name, v in params.items():
            if name not in self._index:
                raise InvalidArchitectureError(
                    f"unknown param {str(name)[:64]!r}; the space has {list(self._index)}"
                )
            if v is not None:
                values[name] = self._codecs[self._index[name]].coerce(v)
        return self._checked(values)

    def _checked(self, values: dict[str, ParamValue]) -> UserArch:
        arch = self._arch(values)
        self.validate(arch)
        return arch

    # -- features (LaNAS) -----------------------------------------------------------------
    @property
    def dim(self) -> int:
        return int(self._offsets[-1])

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(self.dim), np.ones(self.dim)

    def encode(self, arch: UserArch) -> np.ndarray:
        cached = self._encoded.get(arch)
        if cached is None:
            values = dict(arch)
            cached = np.zeros(self.dim)
            for i, (p, codec) in enumerate(zip(self._params, self._codecs, strict=True)):
                codec.write_features(cached, int(self._offsets[i]), values.get(p.name))
            _cache_put(self._encoded, arch, cached)
        return cached.copy()

    def encode_many(self, archs: Sequence[UserArch]) -> np.ndarray:
        """`encode` of every arch; column-wise when the space has no conditions."""
        n = len(self._params)
        if not self._flat or not archs or any(len(a) != n for a in archs):
            return super().encode_many(archs)
        X = np.zeros((len(archs), self.dim))
        rows = np.arange(len(archs))
        for i, (p, index) in enumerate(zip(self._params, self._choice_index, strict=True)):
            column = [arch[i][1] for arch in archs]
            if index is not None:
                X[rows, self._offsets[i] + np.array([index[v] for v in column])] = 1.0
            else:
                X[:, self._offsets[i]] = [p.to_unit(v) for v in column]
        return X

    def decode(self, x: np.ndarray) -> UserArch | None:
        x = np.asarray(x, dtype=float).reshape(-1)
        if x.shape != (self.dim,) or not np.all(np.isfinite(x)):
            return None
        values: dict[str, ParamValue] = {}
        for i, (p, codec) in enumerate(zip(self._params, self._codecs, strict=True)):
            if self._active(p, values):
                values[p.name] = codec.from_features(x[self._offsets[i] : self._offsets[i + 1]])
        if self._violation(values) is not None:
            return None
        return self._arch(values)

    def decode_many(self, X: np.ndarray) -> list[UserArch | None]:
        """`decode` of every row, with the per-parameter work done column-wise."""
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.dim:
            return [self.decode(x) for x in X]
        finite = np.isfinite(X).all(axis=1)
        columns: list[list[ParamValue]] = []
        for i, (p, codec) in enumerate(zip(self._params, self._codecs, strict=True)):
            block = X[:, self._offsets[i] : self._offsets[i + 1]]
            if codec.kind == "categorical":
                columns.append([p.choices[j] for j in block.argmax(axis=1)])
            else:
                columns.append([p.from_unit(u) for u in np.nan_to_num(block[:, 0]).tolist()])
        if self._flat:
            names = self._names
            return [
                tuple(zip(names, vals, strict=True)) if ok else None
                for ok, vals in zip(finite.tolist(), zip(*columns, strict=True), strict=True)
            ]
        out: list[UserArch | None] = []
        for r in range(len(X)):
            if not finite[r]:
                out.append(None)
                continue
            values: dict[str, ParamValue] = {}
            for i, p in enumerate(self._params):
                if self._active(p, values):
                    values[p.name] = columns[i][r]
            out.append(None if self._violation(values) is not None else self._arch(values))
        return out

    def constraints(self) -> LinearConstraints | None:
        rows, rhs = [], []
        for terms, sign, bound in self._rows:
            # Exact arithmetic, then each row divided by its largest entry: ranges and
            # coefficients up to the float maximum neither overflow nor underflow.
            a: dict[int, Fraction] = {}
            sign_ = 1 if sign > 0 else -1  # an int: a float sign would make floats again
            b = sign_ * Fraction(bound)
            for i, coef in terms:
                p, c = self._params[i], sign_ * Fraction(coef)
                low, high = Fraction(p.low), Fraction(p.high)
                if p.condition is None and not p.log:
                    j = int(self._offsets[i])
                    a[j] = a.get(j, Fraction(0)) + c * (high - low)
                    b -= c * low
                else:
                    b -= min(c * low, c * high, *([Fraction(0)] if p.condition else []))
            if not any(a.values()):
                continue
            scale = max(abs(v) for v in (*a.values(), b))
            row = np.zeros(self.dim)
            for j, v in a.items():
                row[j] = float(v / scale)
            rows.append(row)
            rhs.append(float(b / scale))
        if not rows:
            return None
        return LinearConstraints(np.array(rows), np.array(rhs))

    # -- tokens (NAO) ---------------------------------------------------------------------
    def token_spec(self) -> TokenSpec:
        vocab = 1 + max(c.n_tokens for c in self._codecs)
        masks = np.zeros((len(self._params), vocab), dtype=bool)
        for i, (p, codec) in enumerate(zip(self._params, self._codecs, strict=True)):
            masks[i, 0] = p.condition is not None
            masks[i, 1 : 1 + codec.n_tokens] = codec.token_mask()
        return TokenSpec(len(self._params), vocab, masks)

    def to_tokens(self, arch: UserArch) -> list[int]:
        values = dict(arch)
        return [
            0 if p.name not in values else 1 + codec.token(values[p.name])
            for p, codec in zip(self._params, self._codecs, strict=True)
        ]

    def from_tokens(self, tokens: Sequence[int]) -> UserArch | None:
        if len(tokens) != len(self._params):
            return None
        values: dict[str, ParamValue] = {}
        for p, codec, t in zip(self._params, self._codecs, tokens, strict=True):
            if not self._active(p, values):
                continue
            v = codec.value_of_token(int(t) - 1) if int(t) > 0 else None
            if v is None:
                return None
            values[p.name] = v
        if self._violation(values) is not None:
            return None
        return self._arch(values)


def _exact_violation(
    terms: list[tuple[float, ParamValue]], sign: float, bound: float
) -> tuple[bool, str]:
    """`_violation`'s rule in exact rationals (for sums beyond the float range), and the
    left side as text."""
    lhs = sum(Fraction(c) * Fraction(v) for c, v in terms)
    excess = (lhs - Fraction(bound)) * (1 if sign > 0 else -1)
    bad = excess > Fraction(TOLERANCE) * max(1, abs(Fraction(bound)))
    try:
        return bad, f"{float(lhs):g}"
    except OverflowError:
        return bad, "beyond the float range"


def load_space_file(path: str | Path) -> UserSpace:
    """Read a user space from a JSON file (`{"params": [...], "constraints": [...]}`).

    The `{"user": {...}}` wrapper of a space spec is accepted too.

    Raises:
        InvalidArgumentError: the file is missing, not JSON, or not a valid spec.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise InvalidArgumentError(f"cannot read space file {path}: {err.strerror}") from None
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidArgumentError(
            f"space file {path} is not JSON: {err.msg} at line {err.lineno} column {err.colno}"
        ) from None
    if isinstance(spec, dict) and set(spec) == {"user"}:
        spec = spec["user"]
    try:
        return UserSpace.from_spec(spec)
    except InvalidArgumentError as err:
        raise InvalidArgumentError(f"{path}: {err}") from None


def parse_row(space: SearchSpace, row: dict[str, str]) -> UserArch:
    """The architecture of a CSV row with one column per param (empty cell = inactive).

    Columns that are not params (metrics) are ignored.

    Raises:
        InvalidArgumentError: `space` is not a user space.
        InvalidArchitectureError: a cell does not parse or the architecture is invalid.
    """
    if not isinstance(space, UserSpace):
        raise InvalidArgumentError(
            f"per-parameter tables need a user space, not {getattr(space, 'name', space)!r}"
        )
    values: dict[str, ParamValue] = {}
    for p, codec in zip(space._params, space._codecs, strict=True):
        cell = (row.get(p.name) or "").strip()
        if cell:
            values[p.name] = codec.parse(cell)
    return space._checked(values)
