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

__all__ = ["state_preparation_ops", "bind_inputs", "cascade_angles", "gray_schedule", "ucr_matrix"]

_TOL = 1e-12


def gray_schedule(k: int) -> list[int]:
    """For a uniformly controlled rotation with k controls: after rotation i, the control (index
    into the controls list, controls[0] the most significant bit) whose CNOT comes next."""
    size = 2**k
    gray = [i ^ (i >> 1) for i in range(size)]
    # the bit that changes between consecutive Gray codes, counted from the most significant control
    return [k - (gray[i] ^ gray[(i + 1) % size]).bit_length() for i in range(size)]


def ucr_matrix(k: int) -> np.ndarray:
    """M with ``alphas = angles @ M``: the rotation angles, in Gray-code order, of a uniformly
    controlled rotation by angles[j] for control pattern j (theta_j = sum_i alpha_i (-1)^popcount(g_i & j);
    that sign matrix S has S^T S = 2^k I)."""
    size = 2**k
    gray = [i ^ (i >> 1) for i in range(size)]
    signs = np.array([[(-1) ** bin(g & j).count("1") for g in gray] for j in range(size)], dtype=float)
    return signs / size


def cascade_angles(vecs: np.ndarray, k: int, phases: bool = True) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """The cascade's rotation angles for each row of ``vecs`` (B, 2^k) (normalised rows).

    Returns the RY angles per level (level l: (B, 2^l), already in Gray-code order for
    :func:`gray_schedule`), the RZ angles per level in application order (levels k-1 .. 0; none
    when ``phases`` is False: exact for rows with non-negative real entries) and the global phase
    (B,) the rotations leave out. Used here with one row, and batched by the Qiskit interop,
    which binds each row's angles to one parametrised cascade.
    """
    B = vecs.shape[0]
    mags = np.abs(vecs)
    probs = mags**2
    ry = []
    for level in range(k):  # level l decides bit l given the l bits above it
        block = probs.reshape(B, 2**level, 2, -1).sum(axis=3)  # (B, prefix, bit l)
        angles = 2 * np.arctan2(np.sqrt(block[:, :, 1]), np.sqrt(block[:, :, 0]))
        ry.append(angles @ ucr_matrix(level))
    rz = []
    if phases:  # peel one qubit at a time off the diagonal diag(exp(i*phases))
        omega = np.where(mags > _TOL, np.angle(vecs), 0.0)
        for level in reversed(range(k)):
            pairs = omega.reshape(B, -1, 2)
            diff = pairs[:, :, 1] - pairs[:, :, 0]
            rz.append(diff @ ucr_matrix(level))
            omega = pairs.mean(axis=2)
        phase = omega[:, 0]
    else:
        phase = np.zeros(B)
    return ry, rz, phase


def _uniformly_controlled(name: str, alphas: np.ndarray, controls: Sequence[int], target: int) -> list[Instruction]:
    """The rotations (Gray-code ``alphas``) and CNOTs of one uniformly controlled rotation; none
    when every angle is zero."""
    if not np.any(np.abs(alphas) > _TOL):
        return []
    k = len(controls)
    if k == 0:
        return [Instruction(name, (target,), (float(alphas[0]),))]
    ops: list[Instruction] = []
    for i, nxt in enumerate(gray_schedule(k)):
        ops.append(Instruction(name, (target,), (float(alphas[i]),)))
        ops.append(Instruction("cx", (controls[nxt], target)))
    return ops


def state_preparation_ops(vector: Sequence[complex], qubits: Sequence[int]) -> tuple[list[Instruction], float]:
    """Instructions taking |0...0> on ``qubits`` to ``vector`` (padded, normalised), and the global phase."""
    k = len(qubits)
    amps = normalize_amplitudes(np.asarray(vector, dtype=complex), 2**k)
    ry, rz, phase = cascade_angles(amps.reshape(1, -1), k)
    ops: list[Instruction] = []
    for level in range(k):
        ops += _uniformly_controlled("ry", ry[level][0], list(qubits[:level]), qubits[level])
    for alphas, level in zip(rz, reversed(range(k))):
        ops += _uniformly_controlled("rz", alphas[0], list(qubits[:level]), qubits[level])
    return ops, float(phase[0])


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
