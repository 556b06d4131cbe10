"""A numpy LSTM policy over token sequences: masked sampling, log-probabilities and their
gradient by hand-written backpropagation through time, and an Adam optimiser.

The controller reads one decision per step: the input at step t is the embedding of the
token taken at step t - 1 (a start token at t = 0) plus an embedding of the position; the
LSTM state goes through a shared output layer plus a per-position bias, and tokens the
space does not allow at t (`TokenSpec.masks`) get probability zero. Everything is numpy
(float64), so the serving process never imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PARAMS = ("emb", "pos", "W", "b", "Wo", "bo")
"""Parameter names, in the order `params` and `grads` list them."""


@dataclass
class Rollout:
    """What `LSTMPolicy.forward` keeps for the backward pass (arrays by step)."""

    tokens: np.ndarray  # (B, L)
    prev: np.ndarray  # (B, L) input token ids (start token at t = 0)
    xh: list[np.ndarray]  # [x_t, h_{t-1}] (B, D + H)
    gates: list[np.ndarray]  # i, f, g, o after their nonlinearities (B, 4H)
    c: list[np.ndarray]  # cell states c_t (B, H); c[-1] of step 0 is zeros
    h: list[np.ndarray]  # hidden states h_t (B, H)
    logp: np.ndarray  # (B, L, V) log-probabilities (-inf where masked)


class LSTMPolicy:
    """Autoregressive masked-softmax LSTM over sequences of `masks.shape[0]` tokens.

    Args:
        masks: bool (length, vocab); masks[t, k] = token k may be taken at step t. Every
            row needs at least one True.
        hidden: LSTM hidden size.
        embed: input embedding size.
        rng: draws the initial weights (uniform in ±`init_scale`; forget-gate bias 1).
    """

    def __init__(
        self,
        masks: np.ndarray,
        hidden: int,
        embed: int,
        rng: np.random.Generator,
        init_scale: float = 0.1,
    ) -> None:
        masks = np.asarray(masks, dtype=bool)
        if masks.ndim != 2 or not masks.any(axis=1).all():
            raise ValueError("masks must be (length, vocab) with an allowed token per step")
        self.masks = masks
        self.length, self.vocab = masks.shape
        self.hidden, self.embed = hidden, embed
        self.mask_bias = np.where(masks, 0.0, -np.inf)
        L, V, H, D = self.length, self.vocab, hidden, embed

        def u(*shape: int) -> np.ndarray:
            return rng.uniform(-init_scale, init_scale, size=shape)

        self.params: dict[str, np.ndarray] = {
            "emb": u(V + 1, D),  # row V: the start token
            "pos": u(L, D),
            "W": u(D + H, 4 * H),
            "b": np.concatenate([np.zeros(H), np.ones(H), np.zeros(2 * H)]),
            "Wo": u(H, V),
            "bo": np.zeros((L, V)),
        }

    # -- forward ------------------------------------------------------------------------
    def _cell(
        self, x: np.ndarray, h: np.ndarray, c: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        H = self.hidden
        p = self.params
        xh = np.concatenate([x, h], axis=1)
        z = xh @ p["W"] + p["b"]
        gates = np.empty_like(z)
        gates[:, : 2 * H] = _sigmoid(z[:, : 2 * H])
        gates[:, 2 * H : 3 * H] = np.tanh(z[:, 2 * H : 3 * H])
        gates[:, 3 * H :] = _sigmoid(z[:, 3 * H :])
        i, f, g, o = (gates[:, k * H : (k + 1) * H] for k in range(4))
        c = f * c + i * g
        h = o * np.tanh(c)
        return xh, gates, c, h

    def _log_probs(self, h: np.ndarray, t: int) -> np.ndarray:
        logits = h @ self.params["Wo"] + self.params["bo"][t] + self.mask_bias[t]
        top = logits.max(axis=1, keepdims=True)
        shifted = logits - top
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))

    def _input(self, prev: np.ndarray, t: int) -> np.ndarray:
        return self.params["emb"][prev] + self.params["pos"][t]

    def forward(self, tokens: np.ndarray) -> Rollout:
        """Teacher-forced pass over `tokens` (B, L); keeps what `backward` needs."""
        tokens = np.asarray(tokens, dtype=np.int64)
        B = len(tokens)
        prev = np.empty_like(tokens)
        prev[:, 0] = self.vocab
        prev[:, 1:] = tokens[:, :-1]
        h = np.zeros((B, self.hidden))
        c = np.zeros((B, self.hidden))
        roll = Rollout(tokens, prev, [], [], [], [], np.empty((B, self.length, self.vocab)))
        for t in range(self.length):
            xh, gates, c, h = self._cell(self._input(prev[:, t], t), h, c)
            roll.xh.append(xh)
            roll.gates.append(gates)
            roll.c.append(c)
            roll.h.append(h)
            roll.logp[:, t] = self._log_probs(h, t)
        return roll

    def log_prob(self, tokens: np.ndarray) -> np.ndarray:
        """log π(sequence) per row of `tokens` (B, L); -inf for a masked token."""
        roll = self.forward(tokens)
        B = len(roll.tokens)
        picked = roll.logp[np.arange(B)[:, None], np.arange(self.length)[None, :], roll.tokens]
        return picked.sum(axis=1)

    def sample(self, n: int, rng: np.random.Generator, temperature: float = 1.0) -> np.ndarray:
        """`n` sequences (n, L) drawn from the policy (each step's distribution raised to
        the power 1 / `temperature` and renormalised); only allowed tokens."""
        h = np.zeros((n, self.hidden))
        c = np.zeros((n, self.hidden))
        prev = np.full(n, self.vocab, dtype=np.int64)
        out = np.empty((n, self.length), dtype=np.int64)
        for t in range(self.length):
            _, _, c, h = self._cell(self._input(prev, t), h, c)
            logp = self._log_probs(h, t)
            probs = np.exp(
                logp if temperature == 1.0 else (logp - logp.max(1, keepdims=True)) / temperature
            )
            cum = np.cumsum(probs, axis=1)
            u = rng.random((n, 1)) * cum[:, -1:]
            pick = (cum <= u).sum(axis=1)
            # Guard the float edge (u == total): take the last allowed token.
            last = self.vocab - 1 - np.argmax(self.masks[t, ::-1])
            prev = np.minimum(pick, last)
            out[:, t] = prev
        return out

    def entropy(self, tokens: np.ndarray) -> np.ndarray:
        """Sum over steps of the per-step entropies along each teacher-forced row (B,)."""
        logp = self.forward(tokens).logp
        return -_plogp(logp).sum(axis=(1, 2))

    # -- backward -----------------------------------------------------------------------
    def objective(self, tokens: np.ndarray, weights: np.ndarray, entropy: float = 0.0) -> float:
        """J = Σ_b w_b log π(x_b) + entropy · Σ_b Σ_t H_t(x_b) (what `grad` differentiates)."""
        weights = np.asarray(weights, dtype=float)
        return float(weights @ self.log_prob(tokens) + entropy * self.entropy(tokens).sum())

    def grad(
        self, tokens: np.ndarray, weights: np.ndarray, entropy: float = 0.0
    ) -> tuple[float, dict[str, np.ndarray]]:
        """`objective` and its gradient with respect to every parameter (BPTT).

        The entropy term counts the per-step entropy at each step of each row (the
        policy's conditional distributions along the given sequences).
        """
        roll = self.forward(tokens)
        w = np.asarray(weights, dtype=float)
        B, L, H = len(roll.tokens), self.length, self.hidden
        p = self.params
        g = {k: np.zeros_like(v) for k, v in p.items()}
        logp = roll.logp
        probs = np.exp(logp)
        plogp = _plogp(logp)
        ent = -plogp.sum(axis=2)  # (B, L)
        rows = np.arange(B)
        picked = logp[rows[:, None], np.arange(L)[None, :], roll.tokens]
        value = float(w @ picked.sum(axis=1) + entropy * ent.sum())
        # d/dlogits of w·log p(x_t): w (onehot - p); of entropy·H_t: -entropy p (log p + H_t).
        dlogits = -probs * w[:, None, None]
        dlogits[rows[:, None], np.arange(L)[None, :], roll.tokens] += w[:, None]
        if entropy:
            dlogits -= entropy * (plogp + probs * ent[:, :, None])
        dh_next = np.zeros((B, H))
        dc_next = np.zeros((B, H))
        for t in reversed(range(L)):
            dl = dlogits[:, t]
            h = roll.h[t]
            g["Wo"] += h.T @ dl
            g["bo"][t] += dl.sum(axis=0)
            dh = dl @ p["Wo"].T + dh_next
            gates = roll.gates[t]
            i, f, gg, o = (gates[:, k * H : (k + 1) * H] for k in range(4))
            c = roll.c[t]
            c_prev = roll.c[t - 1] if t else np.zeros_like(c)
            tc = np.tanh(c)
            dc = dc_next + dh * o * (1.0 - tc * tc)
            dz = np.concatenate(
                [
                    dc * gg * i * (1.0 - i),
                    dc * c_prev * f * (1.0 - f),
                    dc * i * (1.0 - gg * gg),
                    dh * tc * o * (1.0 - o),
                ],
                axis=1,
            )
            g["W"] += roll.xh[t].T @ dz
            g["b"] += dz.sum(axis=0)
            dxh = dz @ p["W"].T
            dx = dxh[:, : self.embed]
            dh_next = dxh[:, self.embed :]
            dc_next = dc * f
            np.add.at(g["emb"], roll.prev[:, t], dx)
            g["pos"][t] += dx.sum(axis=0)
        return value, g


class Adam:
    """Adam ascent on a dict of arrays (in place)."""

    def __init__(
        self, params: dict[str, np.ndarray], lr: float, betas=(0.9, 0.999), eps: float = 1e-8
    ) -> None:
        self.params = params
        self.lr, self.betas, self.eps = lr, betas, eps
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.t = 0

    def ascend(self, grads: dict[str, np.ndarray], clip: float | None = None) -> None:
        """One step up `grads` (global norm clipped to `clip` when given)."""
        if clip is not None:
            norm = np.sqrt(sum(float((g * g).sum()) for g in grads.values()))
            if norm > clip:
                grads = {k: g * (clip / norm) for k, g in grads.items()}
        self.t += 1
        b1, b2 = self.betas
        for k, g in grads.items():
            self.m[k] = b1 * self.m[k] + (1 - b1) * g
            self.v[k] = b2 * self.v[k] + (1 - b2) * g * g
            m_hat = self.m[k] / (1 - b1**self.t)
            v_hat = self.v[k] / (1 - b2**self.t)
            self.params[k] += self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _plogp(logp: np.ndarray) -> np.ndarray:
    """p log p elementwise, 0 where p = 0 (masked tokens: log p = -inf)."""
    finite = np.isfinite(logp)
    return np.where(finite, np.exp(logp) * np.where(finite, logp, 0.0), 0.0)
