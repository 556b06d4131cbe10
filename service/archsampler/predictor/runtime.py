"""NAO inference in ONNX Runtime: encode, predict, gradient, decode and the NAO step."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from archsampler.errors import InvalidArgumentError
from archsampler.predictor.parity import ParityError
from archsampler.predictor.parity import check_sessions
from archsampler.predictor.parity import load_reference
from archsampler.predictor.providers import CPU
from archsampler.predictor.providers import make_session
from archsampler.predictor.providers import select_providers
from archsampler.predictor.scaling import unscale
from archsampler.spaces.base import TokenSpec

SUPPORTED_FORMAT = 1
log = logging.getLogger(__name__)


class NAOPredictor:
    """An exported NAO model (see `archsampler_models.export`) behind numpy in / numpy out.

    Values are on the user's scale (the target scaling used in training is undone);
    gradients are of the raw (training-target scale) prediction with respect to the embedding.
    Sessions are thread-safe, so one predictor may serve concurrent requests.
    """

    def __init__(
        self,
        sessions: dict[str, Any],
        metadata: dict[str, Any],
        *,
        provider: str = CPU,
        serving_parity: dict[str, float] | None = None,
    ) -> None:
        self.sessions = sessions
        self.metadata = metadata
        self.provider = provider
        self.serving_parity = serving_parity
        ts = metadata["token_spec"]
        self.spec = TokenSpec(ts["length"], ts["vocab_size"], np.asarray(ts["masks"], dtype=bool))
        self.scaling = metadata["scaling"]

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        threads: int | None = None,
        providers: list[str] | None = None,
        verify: bool = True,
    ) -> NAOPredictor:
        """Load a model directory written by `export_nao`, checked on the serving provider.

        With `verify` (and a `parity.npz` in the directory), the sessions are run on the
        export's reference architectures and compared with torch's outputs
        (`archsampler.predictor.parity.check_sessions`) on the provider they will serve
        with: `providers`, default `select_providers()` (CUDA when it really works). When
        that check fails on a GPU provider, the model is loaded on the CPU and checked there.
        The provider used and its parity figures are in `provider` and `serving_parity`.

        Raises:
            FileNotFoundError: the directory or one of its files is missing.
            ValueError: the metadata has an unsupported format version.
            ParityError: the sessions disagree with torch on every provider tried.
        """
        path = Path(path)
        meta_path = path / "metadata.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"no NAO model at {path} (metadata.json missing)")
        metadata = json.loads(meta_path.read_text())
        if metadata.get("format_version") != SUPPORTED_FORMAT:
            raise ValueError(
                f"{meta_path}: format_version {metadata.get('format_version')!r} is not "
                f"supported (expected {SUPPORTED_FORMAT}); re-export the model"
            )
        reference = load_reference(path) if verify else None
        first = providers or select_providers()
        attempts = [first] if first[0] == CPU else [first, [CPU]]
        error: ParityError | None = None
        for provs in attempts:
            sessions = {
                name: make_session(path / file, threads=threads, providers=provs)
                for name, file in metadata["graphs"].items()
            }
            serving = sessions["encode_predict_grad"].get_providers()[0]
            if reference is None:
                return cls(sessions, metadata, provider=serving)
            try:
                parity = check_sessions(sessions, reference)
            except ParityError as e:
                log.warning("%s: parity on %s failed: %s", path, serving, e)
                error = e
                continue
            log.info(
                "%s serves on %s (parity there: prediction %.2g, gradient %.2g, %d decode "
                "near-ties)",
                path,
                serving,
                parity["prediction"],
                parity["gradient"],
                parity["decode_near_ties"],
            )
            return cls(sessions, metadata, provider=serving, serving_parity=parity)
        assert error is not None
        error.path = path
        raise error

    def encode(self, tokens: np.ndarray) -> np.ndarray:
        """Embeddings (B, L, H) of token sequences (B, L)."""
        return self.encode_predict_grad(tokens)[0]

    def predict(self, tokens: np.ndarray) -> np.ndarray:
        """Predicted values (B,) on the training values' scale."""
        return self._unscale(self.encode_predict_grad(tokens)[1])

    def gradient(self, tokens: np.ndarray) -> np.ndarray:
        """d prediction / d embedding (B, L, H) at the sequences' embeddings."""
        return self.encode_predict_grad(tokens)[2]

    def encode_predict_grad(self, tokens: np.ndarray) -> tuple[np.ndarray, ...]:
        """Embedding, raw prediction and its gradient, in one graph run."""
        x = self._check_tokens(tokens)
        return tuple(self.sessions["encode_predict_grad"].run(None, {"tokens": x}))

    def predict_embedding(self, emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values (B,) and raw gradients (B, L, H) at arbitrary embeddings."""
        pred, grad = self.sessions["predict_from_embedding"].run(
            None, {"embedding": np.ascontiguousarray(emb, dtype=np.float32)}
        )
        return self._unscale(pred), grad

    def decode(self, emb: np.ndarray) -> np.ndarray:
        """Greedy token sequences (B, L) int64 of embeddings; only unmasked tokens."""
        emb = np.ascontiguousarray(emb, dtype=np.float32)
        return self.sessions["decode"].run(None, {"embedding": emb})[0]

    def nao_step(self, tokens: np.ndarray, eta: float | np.ndarray) -> np.ndarray:
        """Move each embedding by `eta` · gradient and decode: e' = e + η ∂f/∂e.

        `eta` is a scalar or one step size per sequence (B,).
        """
        emb, _, grad = self.encode_predict_grad(tokens)
        eta = np.asarray(eta, dtype=np.float32).reshape(-1, 1, 1)
        return self.decode(emb + eta * grad)

    def _unscale(self, pred: np.ndarray) -> np.ndarray:
        return unscale(pred, self.scaling)

    def _check_tokens(self, tokens: np.ndarray) -> np.ndarray:
        x = np.asarray(tokens)
        length, vocab = self.spec.length, self.spec.vocab_size
        if x.ndim != 2 or x.shape[1] != length:
            raise InvalidArgumentError(f"tokens must have shape (batch, {length}), got {x.shape}")
        if x.size and (x.min() < 0 or x.max() >= vocab):
            raise InvalidArgumentError(f"tokens must be in 0..{vocab - 1}")
        return np.ascontiguousarray(x, dtype=np.int64)
