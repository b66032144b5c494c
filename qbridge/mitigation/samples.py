"""Measured outcomes in one compact form: distinct bitstrings with their weights.

Counts dicts (shots) and exact probability vectors both become a :class:`Samples`: ``bits`` (K, n)
holds the K distinct outcomes (qubit 0 first, the bit order of docs/architecture.md), ``weights`` their counts or
probabilities, ``shots`` the number of shots (``None`` for an exact distribution). Estimators work
on the K observed outcomes, never on a 2^n vector, so they stay cheap for many qubits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

__all__ = ["Samples"]


@dataclass(frozen=True, eq=False)
class Samples:
    bits: np.ndarray  # (K, n) uint8, distinct rows
    weights: np.ndarray  # (K,) counts (shots) or probabilities (exact)
    shots: int | None  # None: ``weights`` is an exact distribution

    @property
    def num_qubits(self) -> int:
        return int(self.bits.shape[1])

    @property
    def exact(self) -> bool:
        return self.shots is None

    @property
    def frequencies(self) -> np.ndarray:
        total = float(self.weights.sum())
        return self.weights / total if total > 0 else self.weights

    @staticmethod
    def from_counts(counts: Iterable[Mapping[str, int]], num_qubits: int) -> "Samples":
        """Pool one or more counts dicts (bitstrings over ``num_qubits`` qubits, q0 first)."""
        pooled: dict[str, int] = {}
        for c in counts:
            for k, v in c.items():
                pooled[k] = pooled.get(k, 0) + int(v)
        keys = [k for k, v in pooled.items() if v]
        if not keys:
            return Samples(np.zeros((0, num_qubits), np.uint8), np.zeros(0), 0)
        bad = [k for k in keys if len(k) != num_qubits]
        if bad:
            raise ValueError(f"bitstring {bad[0]!r} does not have {num_qubits} bits")
        bits = (np.frombuffer("".join(keys).encode("ascii"), dtype=np.uint8).reshape(len(keys), num_qubits) - 48)
        w = np.array([pooled[k] for k in keys], dtype=float)
        return Samples(bits.astype(np.uint8), w, int(w.sum()))

    @staticmethod
    def from_probabilities(probs: Sequence[float], num_qubits: int, atol: float = 0.0) -> "Samples":
        p = np.asarray(probs, dtype=float).reshape(-1)
        if p.size != 2**num_qubits:
            raise ValueError(f"a distribution over {num_qubits} qubits has {2**num_qubits} entries, got {p.size}")
        idx = np.flatnonzero(np.abs(p) > atol)
        bits = ((idx[:, None] >> np.arange(num_qubits - 1, -1, -1)[None, :]) & 1).astype(np.uint8)
        return Samples(bits, p[idx].copy(), None)

    @staticmethod
    def pool(parts: Sequence["Samples"]) -> "Samples":
        """Merge samples of the same circuit family (equal-weight mixture of exact parts)."""
        if len(parts) == 1:
            return parts[0]
        n = parts[0].num_qubits
        exact = parts[0].exact
        if any(p.exact != exact for p in parts):
            raise ValueError("cannot pool exact distributions with sampled counts")
        keys: dict[bytes, int] = {}
        rows: list[np.ndarray] = []
        w: list[float] = []
        for p in parts:
            scale = 1.0 / len(parts) if exact else 1.0
            for b, v in zip(p.bits, p.weights):
                key = b.tobytes()
                i = keys.get(key)
                if i is None:
                    keys[key] = len(rows)
                    rows.append(b)
                    w.append(v * scale)
                else:
                    w[i] += v * scale
        bits = np.array(rows, dtype=np.uint8).reshape(len(rows), n)
        return Samples(bits, np.array(w), None if exact else int(sum(p.shots for p in parts)))

    def flipped(self, qubits: Sequence[int]) -> "Samples":
        """The outcomes with the bits of ``qubits`` inverted (undoing an X before measurement)."""
        if not len(qubits):
            return self
        bits = self.bits.copy()
        bits[:, list(qubits)] ^= 1
        return Samples(bits, self.weights, self.shots)

    def select(self, qubits: Sequence[int]) -> "Samples":
        """Marginal over ``qubits`` (positions, in the order given)."""
        sub = self.bits[:, list(qubits)]
        uniq, inv = np.unique(sub, axis=0, return_inverse=True)
        w = np.bincount(inv.reshape(-1), weights=self.weights, minlength=len(uniq))
        return Samples(uniq.astype(np.uint8), w, self.shots)

    def to_dict(self) -> dict[str, float]:
        return {"".join(map(str, b)): float(v) for b, v in zip(self.bits, self.weights)}

    def dense(self) -> np.ndarray:
        """Frequencies (or probabilities) as a 2^n vector."""
        n = self.num_qubits
        out = np.zeros(2**n)
        idx = self.bits.astype(np.int64) @ (1 << np.arange(n - 1, -1, -1)) if n else np.zeros(len(self.bits), int)
        np.add.at(out, idx, self.frequencies)
        return out

    def indices(self) -> np.ndarray:
        n = self.num_qubits
        return self.bits.astype(np.int64) @ (1 << np.arange(n - 1, -1, -1))


def mean_and_variance(values: np.ndarray, samples: Samples) -> tuple[float, float]:
    """Mean of a per-outcome function and the variance of that mean (0 when exact).

    ``values`` (K,) holds the function on each distinct outcome; with S shots the variance of the
    mean is the unbiased sample variance / S.
    """
    if samples.weights.size == 0:
        raise ValueError("no samples")
    f = samples.frequencies
    mean = float(f @ values)
    if samples.exact:
        return mean, 0.0
    S = samples.shots
    second = float(f @ (values * values))
    var = max(second - mean * mean, 0.0) * S / max(S - 1, 1)
    return mean, var / S
