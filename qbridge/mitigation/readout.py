"""Readout-error mitigation: calibration circuits, then correction of counts and expectation values.

Model. Readout is a classical channel: the probability of reading i when j was prepared is the
assignment matrix A[i, j]. Two calibrations:

- ``tensored`` (any number of qubits, 2 circuits): prepare |0...0> and |1...1>; per qubit q,
  e0_q = P(read 1 | prepared 0) and e1_q = P(read 0 | prepared 1), so A = (x)_q A_q with
  A_q = [[1 - e0_q, e1_q], [e0_q, 1 - e1_q]]. Correlated readout errors are outside this model.
- ``full`` (few qubits, 2^n circuits): every basis state is prepared and A is measured column
  by column; it captures correlated readout errors.

Expectation values (closed form, per shot). After the basis change every Pauli term is a Z
parity. Under A_q the measured z_q = +-1 has mean b_q + a_q <Z_q> with a_q = 1 - e0_q - e1_q and
b_q = e1_q - e0_q, so the per-shot quantity prod_{q in S} (z_q - b_q) / a_q has mean <Z_S>
exactly (the qubits' readout errors are independent under the tensored model). The mitigated
estimate is therefore a per-outcome function averaged over shots, and its standard error is the
sample standard deviation / sqrt(shots), with the covariance of terms measured together included
as for raw counts. For the full matrix the per-outcome function is A^{-T} f (f: the raw parity
function), since sum_x q(x) f(x) = p^T A^{-T} f for q = A^{-1} p.

Calibration uncertainty. The calibration is itself estimated from shots; its parameters (e0, e1
per qubit; the columns of A) have binomial / multinomial covariance C. Each estimate carries its
derivative D with respect to them, combined linearly through groups and extrapolations, and
contributes D^T C D to the variance (linear error propagation).

Counts (distributions). ``correct_distribution`` returns quasi-probabilities q = A^{-1} p
(possibly negative): dense (x)_q A_q^{-1} for up to 12 qubits, and above that the subspace of
observed bitstrings (the idea of M3, Nation et al. 2021: the assignment matrix restricted to the
observed outcomes, columns renormalised). ``nearest_probability_distribution`` is the closest
probability vector in the 2-norm (Smolin, Gambetta, Smith, PRL 108, 070502, 2012).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from ..exceptions import MitigationError
from ..ir.circuit import Circuit
from ..runtime.types import Task
from .samples import Samples, mean_and_variance
from .technique import Technique, register_technique

__all__ = [
    "READOUT_METHODS",
    "MitigationError",
    "calibration_circuits",
    "calibrate",
    "TensoredCalibration",
    "FullCalibration",
    "NoCorrection",
    "correct_distribution",
    "nearest_probability_distribution",
    "ReadoutTechnique",
]

READOUT_METHODS = ("tensored", "full")
FULL_MAX_QUBITS = 8
_DENSE_MAX_QUBITS = 12
_SUBSPACE_MAX = 4096




Terms = Sequence[tuple[float, tuple[int, ...]]]  # (coefficient, Z support) per term


def calibration_circuits(num_qubits: int, method: str = "tensored") -> list[Circuit]:
    """Circuits whose measured counts calibrate the readout of ``num_qubits`` qubits.

    ``tensored``: [|0...0>, |1...1>]; ``full``: every basis state, index j with qubit 0 the most
    significant bit (so circuit j prepares bitstring format(j, 'b')).
    """
    if method == "tensored":
        ones = Circuit(num_qubits)
        for q in range(num_qubits):
            ones = ones.x(q)
        return [Circuit(num_qubits).measure_all(), ones.measure_all()]
    if method == "full":
        if num_qubits > FULL_MAX_QUBITS:
            raise MitigationError(
                f"a full assignment matrix on {num_qubits} qubits needs {2**num_qubits} calibration circuits; "
                f"use readout_method='tensored' (2 circuits) above {FULL_MAX_QUBITS} qubits"
            )
        out = []
        for j in range(2**num_qubits):
            c = Circuit(num_qubits)
            for q in range(num_qubits):
                if (j >> (num_qubits - 1 - q)) & 1:
                    c = c.x(q)
            out.append(c.measure_all())
        return out
    raise ValueError(f"unknown readout method {method!r}; choose one of {list(READOUT_METHODS)}")


def _z(bits: np.ndarray) -> np.ndarray:
    return 1.0 - 2.0 * bits.astype(float)


class NoCorrection:
    """Raw estimates: the per-outcome value of a term is its Z parity."""

    num_params = 0

    def estimate(self, samples: Samples, terms: Terms) -> tuple[float, float, np.ndarray]:
        z = _z(samples.bits)
        g = np.zeros(len(samples.weights))
        for c, support in terms:
            g += c * (np.prod(z[:, list(support)], axis=1) if support else 1.0)
        mean, var = mean_and_variance(g, samples)
        return mean, var, np.zeros(0)

    def quad(self, d: np.ndarray) -> float:
        return 0.0


@dataclass(frozen=True, eq=False)
class TensoredCalibration:
    """Per-qubit readout error rates e0 = P(1|0), e1 = P(0|1) and the shots they came from."""

    e0: np.ndarray
    e1: np.ndarray
    shots0: int | None = None  # None: exact calibration (no uncertainty)
    shots1: int | None = None
    physical_qubits: tuple[int, ...] | None = None  # where the calibration ran, when the backend says

    def __post_init__(self) -> None:
        a = 1.0 - self.e0 - self.e1
        if np.any(a <= 1e-6):
            q = int(np.argmin(a))
            raise MitigationError(
                f"readout calibration of qubit {q} cannot be inverted: P(1|0) + P(0|1) = "
                f"{self.e0[q] + self.e1[q]:.3f} >= 1; the device reads this qubit no better than a coin; "
                "check the calibration circuits' results"
            )

    @property
    def num_qubits(self) -> int:
        return int(self.e0.size)

    @property
    def num_params(self) -> int:
        return 2 * self.num_qubits

    def matrices(self) -> list[np.ndarray]:
        return [np.array([[1 - p0, p1], [p0, 1 - p1]]) for p0, p1 in zip(self.e0, self.e1)]

    def matrix(self) -> np.ndarray:
        out = np.ones((1, 1))
        for m in self.matrices():
            out = np.kron(out, m)
        return out

    def restrict(self, qubits: Sequence[int]) -> "TensoredCalibration":
        q = list(qubits)
        phys = None if self.physical_qubits is None else tuple(self.physical_qubits[i] for i in q)
        return TensoredCalibration(self.e0[q], self.e1[q], self.shots0, self.shots1, phys)

    def estimate(self, samples: Samples, terms: Terms) -> tuple[float, float, np.ndarray]:
        """(mean, variance of the mean from shots, d mean / d (e0, e1)) of sum_t c_t <Z_S_t>."""
        n = self.num_qubits
        a = 1.0 - self.e0 - self.e1
        b = self.e1 - self.e0
        F = (_z(samples.bits) - b) / a  # (K, n): per-shot unbiased estimate of each Z_q
        g = np.zeros(len(samples.weights))
        dg = np.zeros((len(samples.weights), 2 * n))
        for c, support in terms:
            s = list(support)
            if not s:
                g += c
                continue
            g += c * np.prod(F[:, s], axis=1)
            for i, q in enumerate(s):
                rest = np.prod(F[:, s[:i] + s[i + 1:]], axis=1) if len(s) > 1 else 1.0
                # F = (z - b) / a with b = e1 - e0, a = 1 - e0 - e1
                dg[:, q] += c * rest * (1.0 + F[:, q]) / a[q]
                dg[:, n + q] += c * rest * (F[:, q] - 1.0) / a[q]
        mean, var = mean_and_variance(g, samples)
        d = samples.frequencies @ dg
        return mean, var, d

    def quad(self, d: np.ndarray) -> float:
        """Variance contributed by the calibration's own shot noise, d^T C d."""
        n = self.num_qubits
        out = 0.0
        if self.shots0:
            out += float(np.sum(d[:n] ** 2 * self.e0 * (1 - self.e0) / self.shots0))
        if self.shots1:
            out += float(np.sum(d[n:] ** 2 * self.e1 * (1 - self.e1) / self.shots1))
        return out

    def correct(self, samples: Samples) -> dict[str, float]:
        return correct_distribution(samples, self)

    def to_dict(self) -> dict:
        return {"method": "tensored", "p1_given_0": self.e0.tolist(), "p0_given_1": self.e1.tolist(),
                "shots": [self.shots0, self.shots1], "physical_qubits": self.physical_qubits}


@dataclass(frozen=True, eq=False)
class FullCalibration:
    """The measured assignment matrix A[i, j] = P(read i | prepared j) (qubit 0 most significant)."""

    A: np.ndarray
    shots: np.ndarray | None = None  # shots per column; None: exact
    physical_qubits: tuple[int, ...] | None = None
    _inv: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        cond = np.linalg.cond(self.A)
        if not np.isfinite(cond) or cond > 1e8:
            raise MitigationError(
                f"the measured assignment matrix is singular (condition number {cond:.3g}); use more "
                "calibration shots or readout_method='tensored'"
            )
        object.__setattr__(self, "_inv", np.linalg.inv(self.A))

    @property
    def num_qubits(self) -> int:
        return int(round(math.log2(self.A.shape[0])))

    @property
    def num_params(self) -> int:
        return int(self.A.size)

    def matrix(self) -> np.ndarray:
        return self.A

    def restrict(self, qubits: Sequence[int]) -> "FullCalibration":
        """The assignment matrix of a sub-register, averaged over the other qubits' preparations."""
        n = self.num_qubits
        q = list(qubits)
        m = len(q)
        idx = np.arange(2**n)
        sub = np.zeros_like(idx)
        for k, qq in enumerate(q):
            sub |= ((idx >> (n - 1 - qq)) & 1) << (m - 1 - k)
        B = np.zeros((2**m, 2**m))
        np.add.at(B, (sub[:, None], sub[None, :]), self.A)
        B /= 2 ** (n - m)
        phys = None if self.physical_qubits is None else tuple(self.physical_qubits[i] for i in q)
        shots = None if self.shots is None else np.full(2**m, int(self.shots.min()) * 2 ** (n - m))
        return FullCalibration(B, shots, phys)

    def estimate(self, samples: Samples, terms: Terms) -> tuple[float, float, np.ndarray]:
        n = self.num_qubits
        idx = np.arange(2**n)
        bits = ((idx[:, None] >> np.arange(n - 1, -1, -1)[None, :]) & 1).astype(np.uint8)
        z = _z(bits)
        f = np.zeros(2**n)
        for c, support in terms:
            f += c * (np.prod(z[:, list(support)], axis=1) if support else 1.0)
        g = self._inv.T @ f  # per-outcome corrected value
        mean, var = mean_and_variance(g[samples.indices()], samples)
        q = self._inv @ samples.dense()  # quasi-probabilities
        d = -np.outer(g, q)  # d mean / d A[i, j]
        return mean, var, d.reshape(-1)

    def quad(self, d: np.ndarray) -> float:
        if self.shots is None:
            return 0.0
        D = d.reshape(self.A.shape)
        col = (self.A * D * D).sum(axis=0) - (self.A * D).sum(axis=0) ** 2
        return float(np.sum(col / self.shots))

    def correct(self, samples: Samples) -> dict[str, float]:
        return correct_distribution(samples, self)

    def to_dict(self) -> dict:
        return {"method": "full", "assignment_matrix": self.A.tolist(),
                "shots": None if self.shots is None else self.shots.tolist(), "physical_qubits": self.physical_qubits}


def calibrate(
    results: Sequence[Samples], method: str = "tensored", physical_qubits: Sequence[int] | None = None
) -> TensoredCalibration | FullCalibration:
    """The calibration from the results of :func:`calibration_circuits` (same order)."""
    phys = None if physical_qubits is None else tuple(int(q) for q in physical_qubits)
    if method == "tensored":
        if len(results) != 2:
            raise ValueError(f"a tensored calibration takes the results of 2 circuits, got {len(results)}")
        zeros, ones = results
        e0 = zeros.frequencies @ zeros.bits.astype(float)  # P(read 1 | prepared 0), per qubit
        e1 = ones.frequencies @ (1.0 - ones.bits.astype(float))  # P(read 0 | prepared 1)
        return TensoredCalibration(e0, e1, zeros.shots, ones.shots, phys)
    if method == "full":
        n = results[0].num_qubits
        if len(results) != 2**n:
            raise ValueError(f"a full calibration of {n} qubits takes {2**n} results, got {len(results)}")
        A = np.column_stack([r.dense() for r in results])
        shots = None if results[0].exact else np.array([r.shots for r in results], dtype=float)
        return FullCalibration(A, shots, phys)
    raise ValueError(f"unknown readout method {method!r}; choose one of {list(READOUT_METHODS)}")


# -- distributions ---------------------------------------------------------------------------------


def _bitstrings(n: int, idx: np.ndarray) -> list[str]:
    return [format(int(i), f"0{n}b") for i in idx]


def correct_distribution(
    samples: Samples, calibration: TensoredCalibration | FullCalibration, atol: float = 1e-12
) -> dict[str, float]:
    """Quasi-probabilities (sum 1, entries may be negative) of the ideal readout."""
    n = samples.num_qubits
    if calibration.num_qubits != n:
        raise ValueError(f"calibration of {calibration.num_qubits} qubits for samples of {n}")
    if isinstance(calibration, FullCalibration):
        q = calibration._inv @ samples.dense()
        idx = np.flatnonzero(np.abs(q) > atol)
        return dict(zip(_bitstrings(n, idx), q[idx].tolist()))
    if n <= _DENSE_MAX_QUBITS:
        t = samples.dense().reshape([2] * n) if n else samples.dense()
        for k, m in enumerate(calibration.matrices()):
            t = np.moveaxis(np.tensordot(np.linalg.inv(m), t, axes=([1], [k])), 0, k)
        q = t.reshape(-1)
        idx = np.flatnonzero(np.abs(q) > atol)
        return dict(zip(_bitstrings(n, idx), q[idx].tolist()))
    # many qubits: solve within the span of the observed bitstrings (M3's reduced matrix)
    K = len(samples.weights)
    if K > _SUBSPACE_MAX:
        raise MitigationError(
            f"{K} distinct bitstrings on {n} qubits are too many for a subspace correction (at most {_SUBSPACE_MAX}); "
            "mitigate expectation values instead (closed form, any size), or sample fewer shots"
        )
    bits = samples.bits.astype(bool)
    Ared = np.ones((K, K))
    for qi, m in enumerate(calibration.matrices()):
        col = bits[:, qi]
        Ared *= m[col[:, None].astype(int), col[None, :].astype(int)]
    Ared /= Ared.sum(axis=0, keepdims=True)
    q = np.linalg.solve(Ared, samples.frequencies)
    return {"".join("1" if x else "0" for x in b): float(v) for b, v in zip(bits, q)}


def nearest_probability_distribution(quasi: Mapping[str, float]) -> dict[str, float]:
    """The probability distribution nearest to ``quasi`` in the 2-norm (Smolin et al. 2012).

    Sort ascending; while the smallest entry plus its share of the negative mass accumulated so
    far is negative, zero it and move its mass to the accumulator; then spread the accumulated
    (negative) mass evenly over the entries left.
    """
    keys = list(quasi)
    v = np.array([quasi[k] for k in keys], dtype=float)
    total = v.sum()
    if not np.isfinite(total) or total <= 0:
        raise MitigationError("a quasi-distribution with non-positive total cannot be projected to probabilities")
    v = v / total
    order = np.argsort(v)
    out = np.zeros_like(v)
    acc = 0.0
    remaining = len(v)
    i = 0
    while i < len(v) and v[order[i]] + acc / remaining < 0:
        acc += v[order[i]]
        remaining -= 1
        i += 1
    keep = order[i:]
    out[keep] = v[keep] + acc / remaining
    return {k: float(p) for k, p in zip(keys, out) if p > 0}


# -- the technique, as the pipeline runs it ----------------------------------------------------------


class _Mapped:
    """A calibration applied to a register whose qubit i is the calibration's qubit ``qubits[i]``."""

    def __init__(self, cal: Any, qubits: Sequence[int]) -> None:
        self.cal = cal
        self.qubits = list(qubits)
        self.identity = self.qubits == list(range(cal.num_qubits))

    def estimate(self, samples: Samples, terms):
        if self.identity:
            return self.cal.estimate(samples, terms)
        if isinstance(self.cal, FullCalibration):
            sub = self.cal.restrict(self.qubits)
            m, v, _ = sub.estimate(samples, terms)
            # the sub-register's matrix is not a slice of the calibration's parameters: its own
            # shot noise is left out (documented); the tensored model keeps it
            return m, v, np.zeros(self.cal.num_params)
        n = self.cal.num_qubits
        sub = TensoredCalibration(self.cal.e0[self.qubits], self.cal.e1[self.qubits], self.cal.shots0, self.cal.shots1)
        m, v, d = sub.estimate(samples, terms)
        full = np.zeros(2 * n)
        k = len(self.qubits)
        np.add.at(full, self.qubits, d[:k])
        np.add.at(full, [n + q for q in self.qubits], d[k:])
        return m, v, full

    def quad(self, d: np.ndarray) -> float:
        return self.cal.quad(d)

    def distribution(self, samples: Samples) -> dict[str, float]:
        cal = self.cal if self.identity else self.cal.restrict(self.qubits)
        return correct_distribution(samples, cal)


@register_technique
class ReadoutTechnique(Technique):
    """Readout-error correction: calibration circuits in the run's submission (one set per
    register width, shared by its tasks), then every group's estimate corrected with the fitted
    model, its calibration noise propagated; counts come back as quasi-probabilities and their
    nearest probability distribution."""

    name = "readout"
    stage = 30

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.entries: dict[int, list[int]] = {}  # width -> calibration entries
        self.results: dict[int, Any] = {}  # width -> fitted calibration

    def _width(self, backend: Any, n: int) -> int:
        if self.settings.options.calibration_width == "device" and backend.target.num_qubits:
            return max(int(backend.target.num_qubits), n)
        return n

    def request(self, sub: Any, backend: Any, task: Any) -> int:
        w = self._width(backend, task.circuit.num_qubits)
        if w not in self.entries:
            shots = self.settings.options.calibration_shots or self.settings.run_shots
            self.entries[w] = [sub.add(Task(c), shots, owner=self.name)
                               for c in calibration_circuits(w, self.settings.options.readout_method)]
        return w

    def finish(self, sub: Any, raw: Sequence[Any]) -> None:
        for w, ids in self.entries.items():
            results = [sub.samples(raw, i, 0) for i in ids]
            self.results[w] = calibrate(results, self.settings.options.readout_method, sub.layout(raw, ids[0]))

    def _corrector(self, w: int, n: int, layout: tuple[int, ...] | None, warn: list[str]) -> tuple[Any, list[int]]:
        """(calibration, qubit map) for a task of ``n`` qubits measured at ``layout``."""
        cal = self.results[w]
        cal_layout = cal.physical_qubits
        if layout is not None and cal_layout is not None:
            pos = {p: i for i, p in enumerate(cal_layout)}
            if all(p in pos for p in layout):
                return cal, [pos[p] for p in layout]
            warn.append(
                f"the circuit ran on physical qubits {list(layout)} but the readout calibration on "
                f"{list(cal_layout)}; corrected by logical qubit; set options calibration_width='device' "
                "to calibrate every qubit of the device"
            )
        return cal, list(range(n))

    def estimator(self, token: Any, sub: Any, raw: Sequence[Any], ids: Sequence[int], num_qubits: int,
                  warn: list[str]) -> Any:
        layouts = [sub.layout(raw, i) for i in ids]
        if len(set(layouts)) > 1:
            warn.append(f"the measurement circuits ran on different layouts {sorted(set(map(str, layouts)))}; "
                        "readout corrected with the first one's")
        cal, qubits = self._corrector(token, num_qubits, layouts[0] if layouts else None, warn)
        return _Mapped(cal, qubits)

    def on_samples(self, token: Any, sub: Any, raw: Sequence[Any], ids: Sequence[int], num_qubits: int,
                   readout: Sequence[int], samples: Sequence[Samples], metadata: dict, warn: list[str]) -> None:
        cal, qubits = self._corrector(token, num_qubits, sub.layout(raw, ids[0]), warn)
        corr = _Mapped(cal, [qubits[q] for q in readout])
        quasi = [corr.distribution(s) for s in samples]
        metadata["quasi_dists"] = quasi
        metadata["nearest_probabilities"] = [nearest_probability_distribution(q) for q in quasi]

    def report(self, token: Any, context: dict[str, Any]) -> dict[str, Any]:
        return {"method": self.settings.options.readout_method, "calibration": self.results[token].to_dict()}

