"""The token encoding a search space gives sequence models (NAO): shared by the server's
spaces and the models package (numpy only, no torch)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["TokenSpec"]


@dataclass(frozen=True)
class TokenSpec:
    """Fixed-length token encoding for sequence models (NAO).

    Attributes:
        length: number of positions.
        vocab_size: size of the shared vocabulary (token ids 0..vocab_size-1).
        masks: bool array (length, vocab_size); masks[i, t] is True when token t may appear
            at position i. Every sequence built from masks decodes to an architecture or
            to None (for example a DAG with no input-output path).
    """

    length: int
    vocab_size: int
    masks: np.ndarray
