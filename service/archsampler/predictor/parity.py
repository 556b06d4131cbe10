"""Parity of exported NAO graphs: lives in `archsampler_models.parity` (the models' contract
with the server, numpy only), re-exported here for the server's modules."""

from __future__ import annotations

from archsampler_models.parity import PARITY_TOL
from archsampler_models.parity import REFERENCE
from archsampler_models.parity import TIE_TOL
from archsampler_models.parity import ParityError
from archsampler_models.parity import check_sessions
from archsampler_models.parity import decode_flips
from archsampler_models.parity import greedy_margins
from archsampler_models.parity import load_reference
from archsampler_models.parity import max_err

__all__ = [
    "PARITY_TOL",
    "REFERENCE",
    "TIE_TOL",
    "ParityError",
    "check_sessions",
    "decode_flips",
    "greedy_margins",
    "load_reference",
    "max_err",
]
