"""Backend-neutral simulation kernels (pure functions over torch tensors)."""

from .statevector import (
    apply_matrix,
    batch_size_of,
    circuit_unitary,
    expectation_values,
    marginal_probabilities,
    probabilities,
    sample_counts,
    simulate,
)

__all__ = [
    "apply_matrix",
    "batch_size_of",
    "circuit_unitary",
    "expectation_values",
    "marginal_probabilities",
    "probabilities",
    "sample_counts",
    "simulate",
]
