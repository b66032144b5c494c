"""Sampler and Estimator on top of any backend (implemented once, in the core)."""

from .estimation import qubitwise_groups
from .sampler import Sampler, SamplerResult
from .estimator import Estimator, EstimatorResult

__all__ = ["Sampler", "SamplerResult", "Estimator", "EstimatorResult", "qubitwise_groups"]
