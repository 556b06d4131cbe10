"""Value scaling of the predictor: lives in `archsampler_models.scaling` (the models' contract
with the server, no torch), re-exported here for the server's modules."""

from __future__ import annotations

from archsampler_models.scaling import fit_scaling
from archsampler_models.scaling import unscale

__all__ = ["fit_scaling", "unscale"]
