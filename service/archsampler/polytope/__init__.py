"""Uniform sampling inside H-polytopes (LaNAS leaf regions): hit-and-run, Gibbs, rejection."""

from archsampler.polytope.diagnostics import ess
from archsampler.polytope.polytope import EmptyPolytopeError
from archsampler.polytope.polytope import Polytope
from archsampler.polytope.polytope import interior_point
from archsampler.polytope.sampling import METHODS
from archsampler.polytope.sampling import sample

__all__ = ["METHODS", "EmptyPolytopeError", "Polytope", "ess", "interior_point", "sample"]
