"""The example engine's pure functions against independent references.

Qiskit's ``quantum_info`` is the reference for whole circuits (its bit order is little-endian, so
its statevector is compared after reversing the qubit order); small cases are derived by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qbridge import Circuit, PauliSum, Task, get_backend
from qbridge.exceptions import EncodingError, ValidationError
from qbridge_example import ExampleBackend
from qbridge_example.simulator import apply_matrix, expectation, prepare, sample_counts, simulate, zero_state

S2 = 1 / math.sqrt(2)


def test_registered_under_its_entry_point():
    backend = get_backend("example")
    assert type(backend) is ExampleBackend and backend.backend_name == "example"
    assert get_backend("example", max_qubits=3).target.num_qubits == 3
    with pytest.raises(TypeError, match="max_qubits"):
        get_backend("example", shots=10)


def test_bell_state_by_hand():
    state = simulate(Circuit(2).h(0).cx(0, 1))
    assert np.allclose(state, [S2, 0, 0, S2])
    # qubit 0 is the most significant bit: X on qubit 1 alone gives |01> = index 1
    assert np.allclose(simulate(Circuit(2).x(1)), [0, 1, 0, 0])


def test_apply_matrix_respects_qubit_order():
    cx = np.eye(4)[[0, 1, 3, 2]]  # control = first listed qubit
    state = apply_matrix(apply_matrix(zero_state(3), np.array([[0, 1], [1, 0]]), [2]), cx, [2, 0])
    assert np.allclose(state.reshape(-1), np.eye(8)[0b101])  # control qubit 2 flipped qubit 0


def test_prepare_on_a_subset_after_other_gates():
    state = apply_matrix(zero_state(3), np.array([[S2, S2], [S2, -S2]]), [1])  # |+> on qubit 1
    vec = np.array([0.6, 0, 0, 0.8j])  # on qubits (2, 0): |00> and |11> of (q2, q0)
    out = prepare(state, vec, [2, 0]).reshape(-1)
    want = np.zeros(8, dtype=complex)
    for q1 in (0, 1):
        want[(0 << 2) | (q1 << 1) | 0] = 0.6 * S2
        want[(1 << 2) | (q1 << 1) | 1] = 0.8j * S2
    assert np.allclose(out, want)


def test_random_circuits_against_qiskit():
    qiskit = pytest.importorskip("qiskit")
    from qiskit.quantum_info import Statevector

    rng = np.random.default_rng(5)
    for n in (1, 3, 5):
        ours, theirs = Circuit(n), qiskit.QuantumCircuit(n)
        for _ in range(12 * n):
            kind = rng.integers(4) if n > 1 else rng.integers(3)
            q = int(rng.integers(n))
            if kind == 0:
                a = rng.uniform(-3, 3, 3)
                ours, _ = ours.u(q, *map(float, a)), theirs.u(*map(float, a), q)
            elif kind == 1:
                t = float(rng.uniform(-3, 3))
                ours, _ = ours.rz(q, t), theirs.rz(t, q)
            elif kind == 2:
                ours, _ = ours.h(q), theirs.h(q)
            else:
                c, t = (int(v) for v in rng.permutation(n)[:2])
                ours, _ = ours.cx(c, t), theirs.cx(c, t)
        want = Statevector(theirs).data.reshape((2,) * n).transpose(range(n - 1, -1, -1)).reshape(-1)
        assert np.allclose(simulate(ours), want, atol=1e-12)


def test_expectation_against_dense_matrix():
    rng = np.random.default_rng(6)
    psi = rng.normal(size=8) + 1j * rng.normal(size=8)
    psi /= np.linalg.norm(psi)
    obs = PauliSum.parse("0.5*XYZ - 1.2*ZIZ + 0.3*IYI + 2*III", 3)
    assert expectation(psi, obs) == pytest.approx(float(np.vdot(psi, obs.to_matrix() @ psi).real), abs=1e-12)


def test_sampling_is_seeded():
    p = np.array([0.5, 0.25, 0.25, 0.0])
    a = sample_counts(p, 1000, np.random.default_rng(3))
    assert a == sample_counts(p, 1000, np.random.default_rng(3))
    assert sum(a.values()) == 1000 and "11" not in a


def test_bad_inputs_raise_typed_errors_at_submission():
    backend = ExampleBackend()
    c = Circuit(2).amplitude_encode("x").cx(0, 1)
    with pytest.raises(EncodingError, match="zero vector"):
        backend.run(Task(c, inputs={"x": np.zeros((1, 4))}))  # raised by run, not by result()
    with pytest.raises(ValidationError, match="13 qubits"):
        backend.run(Circuit(13).h(12))
