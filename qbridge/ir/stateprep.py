"""Amplitude encoding as rotations and CNOTs, for backends that cannot prepare states natively.

Owns: the Möttönen et al. (2004) construction: a top-down cascade of uniformly controlled RY
rotations sets the magnitudes, then a diagonal of uniformly controlled RZ rotations sets the
phases. Each uniformly controlled rotation with k controls is 2^k rotations and 2^k CNOTs in Gray
code order. The result is exact, global phase included, so backends agree on state vectors too.

Must not touch: simulation or backends; callers bind run-time inputs first
(:func:`bind_inputs`), since the angles depend on the data.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..exceptions import EncodingError
from .circuit import Circuit, Instruction, normalize_amplitudes

__all__ = ["state_preparation_ops", "bind_inputs"]

_TOL = 1e-12


def _uniformly_controlled(name: str, angles: np.ndarray, controls: Sequence[int], target: int) -> list[Instruction]:
    """RY/RZ on ``target`` by angles[j] for control pattern j (controls[0] is the MSB of j)."""
    k = len(controls)
    if k == 0:
        return [Instruction(name, (target,), (float(angles[0]),))] if abs(angles[0]) > _TOL else []
    size = 2**k
    gray = [i ^ (i >> 1) for i in range(size)]
    # theta_j = sum_i alpha_i (-1)^{popcount(g_i & j)}; that matrix M has M^T M = size * I.
    signs = np.array([[(-1) ** bin(g & j).count("1") for g in gray] for j in range(size)], dtype=float)
    alphas = signs.T @ np.asarray(angles, dtype=float) / size
    ops: list[Instruction] = []
    for i in range(size):
        ops.append(Instruction(name, (target,), (float(alphas[i]),)))
        changed = gray[i] ^ gray[(i + 1) % size]
        bit = changed.bit_length() - 1
        ops.append(Instruction("cx", (controls[k - 1 - bit], target)))
    return ops


def state_preparation_ops(vector: Sequence[complex], qubits: Sequence[int]) -> tuple[list[Instruction], float]:
    """Instructions taking |0...0> on ``qubits`` to ``vector`` (padded, normalised), and the global phase."""
    k = len(qubits)
    amps = normalize_amplitudes(np.asarray(vector, dtype=complex), 2**k)
    mags = np.abs(amps)
    phases = np.where(mags > _TOL, np.angle(amps), 0.0)
    ops: list[Instruction] = []
    # magnitudes: level l decides bit l given the l bits above it
    probs = mags**2
    for level in range(k):
        block = probs.reshape(2**level, 2, -1).sum(axis=2)  # (prefix, bit l)
        angles = 2 * np.arctan2(np.sqrt(block[:, 1]), np.sqrt(block[:, 0]))
        if np.any(np.abs(angles) > _TOL):
            ops += _uniformly_controlled("ry", angles, list(qubits[:level]), qubits[level])
    # phases: peel one qubit at a time off the diagonal diag(exp(i*phases))
    omega = phases
    phase_ops: list[list[Instruction]] = []
    for level in reversed(range(k)):
        pairs = omega.reshape(-1, 2)
        diff = pairs[:, 1] - pairs[:, 0]
        if np.any(np.abs(diff) > _TOL):
            phase_ops.append(_uniformly_controlled("rz", diff, list(qubits[:level]), qubits[level]))
        omega = pairs.mean(axis=1)
    for chunk in phase_ops:
        ops += chunk
    return ops, float(omega[0])


def bind_inputs(circuit: Circuit, inputs: Mapping[str, Sequence[complex]]) -> Circuit:
    """Replace run-time input names in ``amplitude_encode`` by the given fixed vectors."""
    ops = []
    for op in circuit:
        if op.name == "amplitude_encode" and isinstance(op.source, str):
            if op.source not in inputs:
                raise EncodingError(
                    f"no value for input {op.source!r}; pass inputs={{{op.source!r}: ...}}",
                    instruction="amplitude_encode",
                )
            vec = normalize_amplitudes(np.asarray(inputs[op.source]).ravel(), 2 ** len(op.qubits))
            op = Instruction(op.name, op.qubits, (), None, tuple(complex(v) for v in vec))
        ops.append(op)
    return Circuit(circuit.num_qubits, ops, global_phase=circuit.global_phase, name=circuit.name)
