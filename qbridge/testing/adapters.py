"""Pieces for an adapter's own tests against qbridge's reference: random circuits with parameter
expressions, the torch reference, count checks.

Used by the Braket and PennyLane adapters' tests; a third-party plugin can use them the same way
(the conformance suite in :mod:`qbridge.testing.suite` is the fixed set of checks; these are the
parts for writing more). The reference is qbridge's embedded torch backend in complex128; it shares
no code with any SDK. Count checks use the variance-stabilising arcsine transform of the binomial,
so that rare outcomes get honest 5-sigma bounds.
"""

from __future__ import annotations

import numpy as np

from ..backends.base import Task
from ..ir.circuit import Circuit
from ..ir.gates import GATES
from ..ir.observables import PauliSum
from ..ir.parameters import Parameter

__all__ = ["PARAMS", "random_param", "random_circuit", "random_observables", "reference", "count_z"]

PARAMS = [Parameter("a"), Parameter("b"), Parameter("theta"), Parameter("x")]  # "x" is also a gate name


def random_param(rng: np.random.Generator):
    """A float, a parameter, or an affine expression of one or two parameters."""
    r = rng.random()
    if r < 0.3:
        return float(rng.uniform(-np.pi, np.pi))
    p = PARAMS[int(rng.integers(len(PARAMS)))]
    if r < 0.6:
        return p
    q = PARAMS[int(rng.integers(len(PARAMS)))]
    return float(rng.uniform(-2, 2)) * p + float(rng.uniform(-1, 1)) + (0.5 * q if r > 0.85 else 0.0)


def random_circuit(rng: np.random.Generator, num_qubits: int, num_ops: int, *, unitary_prob: float = 0.05,
                   gates=None, phase: bool = True) -> Circuit:
    """Random library gates (every gate that fits, or ``gates``) with random angles (numbers,
    parameters, affine expressions), some random unitaries, and a random global phase."""
    from scipy.stats import unitary_group

    names = [g for g in (gates or sorted(GATES)) if GATES[g].num_qubits <= num_qubits]
    c = Circuit(num_qubits, global_phase=random_param(rng) if phase else 0.0)
    for _ in range(num_ops):
        if rng.random() < unitary_prob:
            k = int(rng.integers(1, min(num_qubits, 2) + 1))
            qs = [int(q) for q in rng.choice(num_qubits, k, replace=False)]
            c = c.unitary(unitary_group.rvs(2**k, random_state=rng), qs)
            continue
        g = GATES[names[int(rng.integers(len(names)))]]
        qs = [int(q) for q in rng.choice(num_qubits, g.num_qubits, replace=False)]
        c = c.append(g.name, qs, [random_param(rng) for _ in range(g.num_params)])
    if not c.parameters:  # every random circuit is parametrised
        c = c.rx(0, PARAMS[0])
    return c


def random_observables(rng: np.random.Generator, n: int, count: int = 2, terms: int = 3) -> list[PauliSum]:
    """``count`` random Pauli sums of ``terms`` words plus an identity term each."""
    out = []
    for _ in range(count):
        words = ["".join(rng.choice(list("IXYZ"), n)) for _ in range(terms)] + ["I" * n]
        out.append(PauliSum(list(zip(rng.normal(size=len(words)).tolist(), words)), n))
    return out


def reference(task: Task):
    """Exact results of ``task`` from the torch backend in double precision, as NumPy."""
    from ..backends.registry import get_backend

    r = get_backend("torch").run(task, precision="double").result()[0]
    out = {"probs": _numpy(r.probabilities)}
    if r.statevector is not None:
        out["state"] = _numpy(r.statevector)
    if r.expectation_values is not None:
        out["ev"] = _numpy(r.expectation_values)
    return out


def _numpy(x) -> np.ndarray:
    """Torch results (tasks given tensors) or NumPy results (tasks given arrays) as NumPy."""
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def count_z(counts: dict[str, int], probs: np.ndarray, shots: int) -> float:
    """Largest |z| over all outcomes (arcsine transform; the same scale as a normal z-score)."""
    n = int(np.log2(probs.size))
    worst = 0.0
    for i, p in enumerate(probs):
        c = counts.get(format(i, f"0{n}b"), 0)
        f = (c + 3 / 8) / (shots + 3 / 4)
        z = 2 * np.sqrt(shots) * abs(np.arcsin(np.sqrt(f)) - np.arcsin(np.sqrt(min(max(p, 0.0), 1.0))))
        # the transform is exact only away from p = 0: an outcome the reference forbids must not occur
        if p < 1e-12:
            z = 0.0 if c == 0 else np.inf
        worst = max(worst, z)
    return worst
