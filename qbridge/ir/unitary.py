"""The IR's one NumPy unitary builder.

Owns: the unitary of bound instructions, as complex128 NumPy (``ops_unitary`` for the
``(name, local qubits, params)`` tuples of the OpenQASM importer and the modifiers,
``circuit_matrix`` for a bound :class:`~qbridge.ir.circuit.Circuit`), in the bit order of
docs/architecture.md (qubit 0 the most significant bit), global phase included.

Must not touch: the simulators (``qbridge.sim`` has its own batched, differentiable builders in
torch for runs); backends. Memory is checked before the matrix is allocated.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..exceptions import EncodingError, ParameterError
from ..limits import check_memory
from .gates import gate_matrix

__all__ = ["ops_unitary", "circuit_matrix", "mcu_matrix"]


def _float(p: Any) -> float:
    return float(p)


def _check(k: int) -> None:
    dim = 2**k
    check_memory(2 * dim * dim * 16, f"the {dim}x{dim} unitary of a {k}-qubit circuit",
                 "simulate states instead of the unitary, or use fewer qubits")


def _apply(u: np.ndarray, m: np.ndarray, qs: Sequence[int]) -> np.ndarray:
    """``m`` on the row axes ``qs`` of ``u`` shaped ([2] * k + [2^k])."""
    q = list(qs)
    m = m.reshape([2] * (2 * len(q)))
    return np.moveaxis(np.tensordot(m, u, axes=(list(range(len(q), 2 * len(q))), q)), list(range(len(q))), q)


def mcu_matrix(theta: float, phi: float, lam: float, gamma: float) -> np.ndarray:
    """The 2x2 matrix an ``mcu`` instruction applies to its target: ``e^{i gamma} u(theta, phi, lam)``."""
    return np.exp(1j * gamma) * gate_matrix("u", [theta, phi, lam])


def _apply_controlled(u: np.ndarray, m: np.ndarray, controls: Sequence[int], target: int) -> np.ndarray:
    """``m`` on row axis ``target`` of ``u`` where every control axis is 1 (no dense controlled matrix)."""
    index = [slice(None)] * u.ndim
    for c in controls:
        index[c] = 1
    sub = u[tuple(index)]  # the control axes are gone: the target's position shifts down
    axis = target - sum(1 for c in controls if c < target)
    u = u.copy()
    u[tuple(index)] = np.moveaxis(np.tensordot(m, sub, axes=([1], [axis])), 0, axis)
    return u


def ops_unitary(ops: Sequence[tuple[str, tuple[int, ...], tuple[Any, ...]]], phase: float, k: int) -> np.ndarray:
    """Unitary of bound ops on k local qubits; an op named ``"unitary"`` carries its matrix as its only parameter."""
    _check(k)
    u = np.eye(2**k, dtype=complex).reshape([2] * k + [2**k])
    for name, qs, ps in ops:
        if name == "mcu":
            u = _apply_controlled(u, mcu_matrix(*(_float(p) for p in ps)), qs[:-1], qs[-1])
            continue
        m = np.asarray(ps[0], dtype=complex) if name == "unitary" else gate_matrix(name, [_float(p) for p in ps])
        u = _apply(u, m, qs)
    return np.exp(1j * phase) * u.reshape(2**k, 2**k)


def circuit_matrix(circuit: Any) -> np.ndarray:
    """The unitary of a bound circuit without encodings (measurements and barriers skipped)."""
    if circuit.parameter_names:
        raise ParameterError(
            f"to_matrix needs numbers for parameters {list(circuit.parameter_names)}; call bind() first")
    ops = []
    for op in circuit:
        if op.name in ("measure", "barrier"):
            continue
        if op.name == "amplitude_encode":
            raise EncodingError("a circuit with amplitude encoding is a state preparation, not a unitary")
        ops.append((op.name, tuple(op.qubits), (op.matrix_array(),) if op.name == "unitary" else tuple(op.params)))
    phase = float(circuit.global_phase)
    return ops_unitary(ops, phase, circuit.num_qubits)
