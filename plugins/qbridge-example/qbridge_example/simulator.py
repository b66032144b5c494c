"""The example backend's engine: state-vector simulation as pure NumPy functions.

Kept apart from the Backend class on purpose: pure functions are easy to test on their own
(tests/test_example_simulator.py checks them against Qiskit), and the class stays a thin layer
that only translates between qbridge's objects and this engine. In a real plugin this module is
where your SDK or device client is called.

Layout: a state on n qubits is an array of shape (2,) * n whose axis q is qubit q. Flattening it
puts qubit 0 in the most significant bit -- qbridge's bit order -- so results need no conversion.
(An SDK with the opposite convention, like Qiskit, must reverse bits at this edge.)
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from qbridge.ir.circuit import Circuit, normalize_amplitudes
from qbridge.ir.gates import gate_matrix
from qbridge.ir.observables import PauliSum

__all__ = ["zero_state", "apply_matrix", "prepare", "simulate", "expectation", "sample_counts"]

_PAULI = {
    "X": np.array([[0, 1], [1, 0]], dtype=complex),
    "Y": np.array([[0, -1j], [1j, 0]], dtype=complex),
    "Z": np.array([[1, 0], [0, -1]], dtype=complex),
}


def zero_state(num_qubits: int) -> np.ndarray:
    state = np.zeros((2,) * num_qubits, dtype=np.complex128)
    state[(0,) * num_qubits] = 1.0
    return state


def apply_matrix(state: np.ndarray, matrix: np.ndarray, qubits: Sequence[int]) -> np.ndarray:
    """Apply a 2^k x 2^k matrix to ``qubits`` (the first listed is the matrix's leading bit)."""
    k = len(qubits)
    gate = matrix.reshape((2,) * (2 * k))  # (out_1..out_k, in_1..in_k)
    # contract the gate's input axes with the state's qubit axes; the k output axes come first
    out = np.tensordot(gate, state, axes=(list(range(k, 2 * k)), list(qubits)))
    return np.moveaxis(out, list(range(k)), list(qubits))


def prepare(state: np.ndarray, amplitudes: np.ndarray, qubits: Sequence[int]) -> np.ndarray:
    """Put ``amplitudes`` (normalised, length 2^k) on fresh qubits, which must still be |0...0>.

    The circuit guarantees freshness (qbridge refuses encoding on used qubits), so the state is
    a product of the rest and |0...0> on ``qubits``; swapping that factor for the new amplitudes
    is an outer product, with no rotations needed.
    """
    k = len(qubits)
    rest = state[tuple(0 if q in qubits else slice(None) for q in range(state.ndim))]
    joined = np.multiply.outer(rest, amplitudes.reshape((2,) * k))  # axes: other qubits, then qubits
    others = [q for q in range(state.ndim) if q not in qubits]
    return np.moveaxis(joined, list(range(state.ndim)), others + list(qubits))


def simulate(circuit: Circuit, inputs: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
    """Final state of a circuit with numeric parameters, flat (2^n,), in qbridge's bit order.

    ``inputs`` holds one amplitude vector per run-time input name. Gate matrices come from the
    core's gate library (:func:`qbridge.ir.gates.gate_matrix`), the one definition every backend
    shares, so this engine cannot disagree with qbridge about what a gate is.
    """
    inputs = inputs or {}
    state = zero_state(circuit.num_qubits)
    for op in circuit:
        if op.name in ("barrier", "measure"):  # measurement is the readout, done by the caller
            continue
        if op.name == "amplitude_encode":
            source = inputs[op.source] if isinstance(op.source, str) else np.asarray(op.source)
            # normalize_amplitudes pads, normalises, and raises EncodingError on zero/NaN/too long
            vec = normalize_amplitudes(np.asarray(source).ravel(), 2 ** len(op.qubits))
            state = prepare(state, vec, op.qubits)
        else:
            state = apply_matrix(state, gate_matrix(op.name, op.params), op.qubits)
    return state.reshape(-1) * np.exp(1j * float(circuit.global_phase))


def expectation(state: np.ndarray, observable: PauliSum) -> float:
    """<psi|O|psi> for a flat state, term by term (each Pauli string applied letter by letter)."""
    n = observable.num_qubits
    psi = state.reshape((2,) * n)
    total = 0.0
    for term in observable.terms:
        phi = psi
        for q, letter in enumerate(term.paulis):
            if letter != "I":
                phi = apply_matrix(phi, _PAULI[letter], [q])
        total += term.coeff * float(np.vdot(psi, phi).real)
    return total


def sample_counts(probabilities: np.ndarray, shots: int, rng: np.random.Generator) -> dict[str, int]:
    """``shots`` samples of a distribution over 2^n outcomes, as {bitstring (q0 first): count}."""
    p = np.clip(probabilities, 0.0, None)
    p = p / p.sum()  # rounding can leave the sum a few ulps off 1, which multinomial refuses
    n = int(np.log2(p.size))
    counts = rng.multinomial(shots, p)
    return {format(int(i), f"0{n}b"): int(counts[i]) for i in np.flatnonzero(counts)}
