"""The overview paper's MLP space (MLPNAS): 1..10 hidden layers of (width, activation).

Each hidden layer has a width in `WIDTHS` (8..512) and an activation in `ACTIVATIONS`,
and may be followed by a dropout layer of rate `DROPOUT` = 0.2 (the paper's constant
rate). The output layer (softmax over the classes) is fixed by the task and not part of
the architecture. 56 choices per layer; sum over depths 1..10 of 56^depth ~ 3.1e17.

Architecture type: a tuple of layers `(width, activation, dropout)` with dropout 0.0 or
0.2. Wire string, in the paper's notation: `(32, 'elu'), (512, 'sigmoid'), dropout,
(32, 'elu')` (a `dropout` item follows the layer it belongs to). Params: `layers` and, for
the first `layers` slots i = 1.., `width_i` (int), `activation_i` (str), `dropout_i`
(float 0.0 or 0.2).

Canonical hash: the layer sequence itself (no two different sequences compute the same
network); fixed-length forms below fill unused trailing slots, which the hash ignores.

Features (LaNAS): (depth - 1) / 9, then per slot (10): log2(width / 8) / 6, a one-hot of
the activation and the dropout bit; an unused slot is (0.5, zeros, 0). 61 values in
[0, 1]; `decode` rounds depth and widths and takes the activation argmax.
Tokens (NAO): depth (tokens 0..9 = 1..10 layers), then per slot width (10..16),
activation (17..20) and dropout (21, 22); 31 positions. Unused slots are written as
(8, sigmoid, no dropout) and ignored when read, so every masked sequence is valid.
"""

from __future__ import annotations

import re
from typing import Any
from typing import Sequence

import numpy as np

from archsampler.errors import InvalidArchitectureError
from archsampler.errors import InvalidArgumentError
from archsampler.spaces.base import ParamValue
from archsampler.spaces.base import SearchSpace
from archsampler.spaces.base import TokenSpec
from archsampler.spaces.base import digest

WIDTHS: tuple[int, ...] = (8, 16, 32, 64, 128, 256, 512)
ACTIVATIONS: tuple[str, ...] = ("sigmoid", "tanh", "relu", "elu")
DROPOUT = 0.2
DROPOUTS: tuple[float, ...] = (0.0, DROPOUT)
MAX_LAYERS = 10
MAX_STRING_CHARS = 1024

Layer = tuple[int, str, float]
MLPArch = tuple[Layer, ...]
"""Hidden layers `(width, activation, dropout rate)`, input side first."""

_ITEM = re.compile(r"\(\s*(\d+)\s*,\s*'?([A-Za-z]+)'?\s*\)|dropout")
_SLOT = 1 + len(ACTIVATIONS) + 1
_T_WIDTH = MAX_LAYERS
_T_ACT = _T_WIDTH + len(WIDTHS)
_T_DROP = _T_ACT + len(ACTIVATIONS)
_VOCAB = _T_DROP + len(DROPOUTS)


def _token_spec() -> TokenSpec:
    masks = np.zeros((1 + 3 * MAX_LAYERS, _VOCAB), dtype=bool)
    masks[0, :MAX_LAYERS] = True
    for s in range(MAX_LAYERS):
        masks[1 + 3 * s, _T_WIDTH:_T_ACT] = True
        masks[2 + 3 * s, _T_ACT:_T_DROP] = True
        masks[3 + 3 * s, _T_DROP:] = True
    masks.flags.writeable = False
    return TokenSpec(len(masks), _VOCAB, masks)


_TOKEN_SPEC = _token_spec()


class MLPSpace(SearchSpace):
    """MLPNAS's space of multi-layer perceptrons (see the module docstring)."""

    name = "mlp"

    def spec(self) -> dict[str, Any]:
        return {"builtin": "mlp"}

    def size(self) -> int:
        per_layer = len(WIDTHS) * len(ACTIVATIONS) * len(DROPOUTS)
        return sum(per_layer**d for d in range(1, MAX_LAYERS + 1))

    def sample(self, rng: np.random.Generator) -> MLPArch:
        """Depth uniform in 1..10, then each layer's width, activation and dropout uniform."""
        depth = int(rng.integers(1, MAX_LAYERS + 1))
        w = rng.integers(len(WIDTHS), size=depth)
        a = rng.integers(len(ACTIVATIONS), size=depth)
        d = rng.integers(len(DROPOUTS), size=depth)
        return tuple(
            (WIDTHS[int(w[i])], ACTIVATIONS[int(a[i])], DROPOUTS[int(d[i])]) for i in range(depth)
        )

    def validate(self, arch: Any) -> None:
        if not isinstance(arch, tuple) or not 1 <= len(arch) <= MAX_LAYERS:
            got = len(arch) if isinstance(arch, (tuple, list)) else type(arch).__name__
            raise InvalidArchitectureError(
                f"an mlp has 1..{MAX_LAYERS} hidden layers (a tuple of (width, activation, "
                f"dropout)), got {got}"
            )
        for i, layer in enumerate(arch, start=1):
            if not isinstance(layer, tuple) or len(layer) != 3:
                raise InvalidArchitectureError(
                    f"layer {i} is {layer!r:.60}; expected (width, activation, dropout)"
                )
            width, act, drop = layer
            if type(width) is not int or width not in WIDTHS:
                raise InvalidArchitectureError(
                    f"layer {i}: width {width!r:.20} is not one of {list(WIDTHS)}"
                )
            if act not in ACTIVATIONS:
                raise InvalidArchitectureError(
                    f"layer {i}: unknown activation {act!r:.40}; activations are "
                    f"{list(ACTIVATIONS)}"
                )
            if type(drop) is not float or drop not in DROPOUTS:
                raise InvalidArchitectureError(
                    f"layer {i}: dropout {drop!r:.20} is not one of {list(DROPOUTS)}"
                )

    def canonical_hash(self, arch: MLPArch) -> str:
        return digest(self.to_string(arch))

    # -- wire forms ---------------------------------------------------------------------
    def to_string(self, arch: MLPArch) -> str:
        items = []
        for width, act, drop in arch:
            items.append(f"({width}, {act!r})")
            if drop:
                items.append("dropout")
        return ", ".join(items)

    def from_string(self, text: str) -> MLPArch:
        if not isinstance(text, str) or not text.strip():
            raise InvalidArchitectureError("mlp architecture string is empty")
        if len(text) > MAX_STRING_CHARS:
            raise InvalidArchitectureError(
                f"mlp string is {len(text):,} characters; the limit is {MAX_STRING_CHARS:,}"
            )
        layers: list[Layer] = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            m = _ITEM.match(text, pos)
            if m is None:
                raise InvalidArchitectureError(
                    f"mlp string: expected '(width, 'activation')' or 'dropout' at character "
                    f"{pos}: {text[pos : pos + 30]!r}"
                )
            if m.group(0) == "dropout":
                if not layers or layers[-1][2]:
                    raise InvalidArchitectureError(
                        f"mlp string: 'dropout' at character {pos} must follow a layer "
                        "(at most one per layer)"
                    )
                layers[-1] = (layers[-1][0], layers[-1][1], DROPOUT)
            else:
                layers.append((int(m.group(1)), m.group(2).lower(), 0.0))
            pos = m.end()
            sep = re.compile(r"\s*,\s*").match(text, pos)
            if sep is not None and sep.end() < len(text):
                pos = sep.end()
            elif pos < len(text):
                raise InvalidArchitectureError(
                    f"mlp string: expected ',' at character {pos}: {text[pos : pos + 30]!r}"
                )
        arch = tuple(layers)
        self.validate(arch)
        return arch

    def to_params(self, arch: MLPArch) -> dict[str, ParamValue]:
        out: dict[str, ParamValue] = {"layers": len(arch)}
        for i, (width, act, drop) in enumerate(arch, start=1):
            out[f"width_{i}"] = width
            out[f"activation_{i}"] = act
            out[f"dropout_{i}"] = drop
        return out

    def from_params(self, params: dict[str, ParamValue]) -> MLPArch:
        depth = params.get("layers")
        if type(depth) is not int or not 1 <= depth <= MAX_LAYERS:
            raise InvalidArchitectureError(
                f"mlp param 'layers' must be an integer in 1..{MAX_LAYERS}, got {depth!r:.20}"
            )
        names = ["layers"] + [
            f"{f}_{i}" for i in range(1, depth + 1) for f in ("width", "activation", "dropout")
        ]
        unknown = sorted(set(params) - set(names))
        missing = [p for p in names if p not in params]
        if unknown or missing:
            raise InvalidArchitectureError(
                f"mlp params with layers={depth} are exactly 'layers' and width_i, "
                f"activation_i, dropout_i for i in 1..{depth}; unknown {unknown[:5]}, "
                f"missing {missing[:5]}"
            )
        arch = tuple(
            (
                params[f"width_{i}"],
                params[f"activation_{i}"],
                _as_float(params[f"dropout_{i}"]),
            )
            for i in range(1, depth + 1)
        )
        self.validate(arch)
        return arch  # type: ignore[return-value]

    # -- features (LaNAS) ---------------------------------------------------------------
    @property
    def dim(self) -> int:
        return 1 + MAX_LAYERS * _SLOT

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(self.dim), np.ones(self.dim)

    def encode(self, arch: MLPArch) -> np.ndarray:
        x = np.zeros(self.dim)
        x[0] = (len(arch) - 1) / (MAX_LAYERS - 1)
        slots = x[1:].reshape(MAX_LAYERS, _SLOT)
        slots[len(arch) :, 0] = 0.5
        for i, (width, act, drop) in enumerate(arch):
            slots[i, 0] = WIDTHS.index(width) / (len(WIDTHS) - 1)
            slots[i, 1 + ACTIVATIONS.index(act)] = 1.0
            slots[i, -1] = float(drop > 0)
        return x

    def decode(self, x: np.ndarray) -> MLPArch | None:
        x = np.asarray(x, dtype=float)
        if x.shape != (self.dim,):
            raise InvalidArgumentError(
                f"mlp feature vector must have shape ({self.dim},), got {x.shape}"
            )
        if not np.isfinite(x).all():
            return None
        depth = 1 + int(np.clip(np.rint(x[0] * (MAX_LAYERS - 1)), 0, MAX_LAYERS - 1))
        slots = x[1:].reshape(MAX_LAYERS, _SLOT)[:depth]
        widths = np.clip(np.rint(slots[:, 0] * (len(WIDTHS) - 1)), 0, len(WIDTHS) - 1)
        acts = slots[:, 1 : 1 + len(ACTIVATIONS)].argmax(axis=1)
        return tuple(
            (WIDTHS[int(w)], ACTIVATIONS[int(a)], DROPOUT if d > 0.5 else 0.0)
            for w, a, d in zip(widths, acts, slots[:, -1], strict=True)
        )

    # -- tokens (NAO) -------------------------------------------------------------------
    def token_spec(self) -> TokenSpec:
        return _TOKEN_SPEC

    def to_tokens(self, arch: MLPArch) -> list[int]:
        tokens = [len(arch) - 1]
        for s in range(MAX_LAYERS):
            if s < len(arch):
                width, act, drop = arch[s]
                tokens += [
                    _T_WIDTH + WIDTHS.index(width),
                    _T_ACT + ACTIVATIONS.index(act),
                    _T_DROP + DROPOUTS.index(drop),
                ]
            else:
                tokens += [_T_WIDTH, _T_ACT, _T_DROP]
        return tokens

    def from_tokens(self, tokens: Sequence[int]) -> MLPArch | None:
        toks = [int(t) for t in tokens]
        spec = _TOKEN_SPEC
        if len(toks) != spec.length or any(
            not 0 <= t < spec.vocab_size or not spec.masks[i, t] for i, t in enumerate(toks)
        ):
            return None
        return tuple(
            (
                WIDTHS[toks[1 + 3 * s] - _T_WIDTH],
                ACTIVATIONS[toks[2 + 3 * s] - _T_ACT],
                DROPOUTS[toks[3 + 3 * s] - _T_DROP],
            )
            for s in range(toks[0] + 1)
        )


def _as_float(v: Any) -> Any:
    """Dropout given as an int 0 on the wire is 0.0; anything else is checked by validate."""
    return float(v) if type(v) is int else v
