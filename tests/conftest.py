"""Shared fixtures of the core test suite.

References are independent of qbridge's simulator: Qiskit's ``quantum_info`` (Statevector,
Operator, SparsePauliOp) on a circuit rebuilt gate by gate with Qiskit's own gate classes. Qiskit is
imported lazily, inside the fixtures, so that collecting the suite stays cheap for tests that do
not need it.

Bit order. qbridge: qubit 0 is the most significant bit of a basis index and the first letter
of a Pauli string. Qiskit: qubit 0 is the least significant bit and the *last* letter of a Pauli
label. The reference circuit keeps qbridge's qubit numbers (qubit q -> Qiskit qubit q); the
conversion happens once, on the way out (:func:`reverse_bits`), and Pauli labels are reversed.
"""

from __future__ import annotations

import numpy as np
import pytest

# qbridge gate name -> Qiskit gate class name in qiskit.circuit.library (same argument order).
QISKIT_GATE_CLASSES = {
    "id": "IGate",
    "x": "XGate",
    "y": "YGate",
    "z": "ZGate",
    "h": "HGate",
    "s": "SGate",
    "sdg": "SdgGate",
    "t": "TGate",
    "tdg": "TdgGate",
    "sx": "SXGate",
    "sxdg": "SXdgGate",
    "rx": "RXGate",
    "ry": "RYGate",
    "rz": "RZGate",
    "p": "PhaseGate",
    "u": "UGate",
    "cx": "CXGate",
    "cy": "CYGate",
    "cz": "CZGate",
    "ch": "CHGate",
    "swap": "SwapGate",
    "crx": "CRXGate",
    "cry": "CRYGate",
    "crz": "CRZGate",
    "cp": "CPhaseGate",
    "rxx": "RXXGate",
    "ryy": "RYYGate",
    "rzz": "RZZGate",
    "ccx": "CCXGate",
    "cswap": "CSwapGate",
}


def reverse_bits(x: np.ndarray, num_qubits: int, axes: tuple[int, ...] = (-1,)) -> np.ndarray:
    """Reorder basis indices from little- to big-endian (an involution) along ``axes``."""
    x = np.asarray(x)
    idx = np.arange(2**num_qubits)
    rev = np.zeros_like(idx)
    for b in range(num_qubits):
        rev |= ((idx >> b) & 1) << (num_qubits - 1 - b)
    for ax in axes:
        x = np.take(x, rev, axis=ax)
    return x


def _first_column_unitary(v: np.ndarray) -> np.ndarray:
    """A unitary W with W[:, 0] == v (v normalised): Householder QR of [v | I] fixes column 0 up to
    a phase r00 (|r00| = 1), which is put back."""
    m = np.eye(len(v), dtype=complex)
    m[:, 0] = v
    q, r = np.linalg.qr(m)
    q[:, 0] *= r[0, 0]
    return q


class QiskitReference:
    """Qiskit-side references for qbridge circuits and observables (qbridge bit order out)."""

    def __init__(self) -> None:
        import qiskit.circuit.library as lib
        from qiskit import QuantumCircuit
        from qiskit.quantum_info import Operator, SparsePauliOp, Statevector

        self.QuantumCircuit = QuantumCircuit
        self.Operator = Operator
        self.SparsePauliOp = SparsePauliOp
        self.Statevector = Statevector
        self.gate_classes = {name: getattr(lib, cls) for name, cls in QISKIT_GATE_CLASSES.items()}

    def gate(self, name: str, params=()):
        return self.gate_classes[name](*[float(p) for p in params])

    def gate_matrix(self, name: str, params=()) -> np.ndarray:
        """Qiskit's matrix of the gate, converted to qbridge's order (first qubit = MSB)."""
        g = self.gate(name, params)
        return reverse_bits(self.Operator(g).data, g.num_qubits, axes=(0, 1))

    def circuit(self, circuit):
        """The same circuit in Qiskit, qubit q on Qiskit qubit q (bound parameters only)."""
        qc = self.QuantumCircuit(circuit.num_qubits, global_phase=float(circuit.global_phase))
        for op in circuit:
            if op.name in ("barrier", "measure"):
                continue
            if op.name == "unitary":
                # qbridge's matrix has its first qubit as MSB; Qiskit's has its first as LSB.
                qc.unitary(np.asarray(op.matrix, dtype=complex), list(reversed(op.qubits)))
            elif op.name == "amplitude_encode":
                if isinstance(op.source, str):
                    raise ValueError("bind run-time inputs before building the Qiskit reference")
                # A unitary whose first column is the vector takes |0...0> to it exactly. (Qiskit's
                # prepare_state drops the global phase of some vectors: [-1, 0] gives |0>.)
                qc.unitary(_first_column_unitary(np.asarray(op.source, dtype=complex)), list(reversed(op.qubits)))
            else:
                qc.append(self.gate(op.name, op.params), list(op.qubits))
        return qc

    def statevector(self, circuit) -> np.ndarray:
        sv = self.Statevector(self.circuit(circuit)).data
        return reverse_bits(sv, circuit.num_qubits)

    def unitary(self, circuit) -> np.ndarray:
        u = self.Operator(self.circuit(circuit)).data
        return reverse_bits(u, circuit.num_qubits, axes=(0, 1))

    def pauli_op(self, obs):
        """SparsePauliOp of a qbridge PauliSum (labels reversed into Qiskit's q(n-1)...q0)."""
        labels = [t.paulis[::-1] for t in obs.terms] or ["I" * obs.num_qubits]
        coeffs = [t.coeff for t in obs.terms] or [0.0]
        return self.SparsePauliOp(labels, coeffs)

    def pauli_matrix(self, obs) -> np.ndarray:
        """Dense matrix of a qbridge PauliSum, built by Qiskit, in qbridge's order."""
        return reverse_bits(self.pauli_op(obs).to_matrix(), obs.num_qubits, axes=(0, 1))

    def expectation(self, circuit, obs) -> float:
        sv = self.Statevector(self.circuit(circuit))
        return float(np.real(sv.expectation_value(self.pauli_op(obs))))


@pytest.fixture(scope="session")
def qiskit_ref() -> QiskitReference:
    pytest.importorskip("qiskit")
    return QiskitReference()


@pytest.fixture(scope="session")
def torch_backend():
    import qbridge

    return qbridge.get_backend("torch")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240601)


def random_circuit(rng: np.random.Generator, num_qubits: int, num_ops: int, *, unitary_prob: float = 0.0,
                   gates=None, global_phase: bool = True):
    """A random bound circuit from the whole gate library (and, optionally, Haar unitaries)."""
    from scipy.stats import unitary_group

    from qbridge import Circuit
    from qbridge.ir.gates import GATES

    names = [g for g in (gates or GATES) if GATES[g].num_qubits <= num_qubits]
    phase = float(rng.uniform(-np.pi, np.pi)) if global_phase else 0.0
    c = Circuit(num_qubits, global_phase=phase)
    for _ in range(num_ops):
        if rng.random() < unitary_prob:
            k = int(rng.integers(1, min(num_qubits, 3) + 1))
            qubits = [int(q) for q in rng.choice(num_qubits, k, replace=False)]
            c = c.unitary(unitary_group.rvs(2**k, random_state=rng), qubits)
            continue
        gate = GATES[names[int(rng.integers(len(names)))]]
        qubits = [int(q) for q in rng.choice(num_qubits, gate.num_qubits, replace=False)]
        c = c.append(gate.name, qubits, rng.uniform(-2 * np.pi, 2 * np.pi, gate.num_params))
    return c


def random_pauli_sum(rng: np.random.Generator, num_qubits: int, num_terms: int):
    from qbridge import PauliSum

    words = ["".join(rng.choice(list("IXYZ"), num_qubits)) for _ in range(num_terms)]
    return PauliSum(list(zip(rng.normal(size=num_terms).tolist(), words)), num_qubits)


@pytest.fixture(scope="session")
def make_random_circuit():
    return random_circuit


@pytest.fixture(scope="session")
def make_random_pauli_sum():
    return random_pauli_sum
