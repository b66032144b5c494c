"""Shot-based estimation: Pauli expectation values and their standard errors from counts.

Owns: the parity tables of Pauli words, the combination of per-group counts into expectation
values with standard errors, and the marginalisation of counts onto measured qubits. Pure
NumPy; which circuits measure which groups is the IR's (:mod:`qbridge.ir.measurement`).

Standard errors: for a group measured with S shots, the per-shot value f(x) = sum_t c_t parity_t(x)
of all its terms is one random variable, so its sample variance / S already holds the covariance
of terms measured together; groups are independent and their variances add.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..ir.observables import PauliSum, PauliTerm

__all__ = ["parity_table", "counts_to_array", "estimate_from_counts", "marginal_counts"]


def parity_table(words: Sequence[str], num_qubits: int) -> np.ndarray:
    """(len(words), 2^n) table of +-1: the eigenvalue of each Pauli word on each basis outcome."""
    idx = np.arange(2**num_qubits)
    out = np.empty((len(words), idx.size))
    for k, w in enumerate(words):
        parity = np.zeros_like(idx)
        for q, c in enumerate(w):
            if c != "I":
                parity ^= (idx >> (num_qubits - 1 - q)) & 1
        out[k] = 1 - 2 * parity
    return out


def counts_to_array(counts: dict[str, int], num_qubits: int) -> np.ndarray:
    arr = np.zeros(2**num_qubits)
    for key, v in counts.items():
        arr[int(key, 2)] += v
    return arr


def estimate_from_counts(
    observables: Sequence[PauliSum],
    groups: Sequence[tuple[str, list[str]]],
    group_counts: Sequence[np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Expectation values and standard errors, shape (n_obs,), from per-group count arrays."""
    values = np.zeros(len(observables))
    variances = np.zeros(len(observables))
    where = {w: g for g, (_, members) in enumerate(groups) for w in members}
    for o, obs in enumerate(observables):
        per_group: dict[int, list[PauliTerm]] = {}
        for t in obs.terms:
            if set(t.paulis) == {"I"}:
                values[o] += t.coeff
            else:
                per_group.setdefault(where[t.paulis], []).append(t)
        for g, terms in per_group.items():
            counts = group_counts[g]
            shots = counts.sum()
            n = int(np.log2(counts.size))
            f = np.asarray([t.coeff for t in terms]) @ parity_table([t.paulis for t in terms], n)
            mean = float(counts @ f) / shots
            second = float(counts @ (f * f)) / shots
            var = max(second - mean * mean, 0.0) * shots / max(shots - 1, 1)
            values[o] += mean
            variances[o] += var / shots
    return values, np.sqrt(variances)


def marginal_counts(counts: dict[str, int], positions: Sequence[int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, v in counts.items():
        k = "".join(key[p] for p in positions)
        out[k] = out.get(k, 0) + v
    return out
