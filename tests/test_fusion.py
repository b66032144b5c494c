"""Gate fusion in the state-vector simulator (qbridge.sim.fusion) against Qiskit's quantum_info.

Fusion changes only how the constant gates are grouped into matrix products, so results must
agree with an independent reference to the precision of the run, with parametric gates, encoded
inputs, batches and autograd around the fused runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qbridge import Circuit, Parameter, get_backend
from qbridge.sim import fusion
from qbridge.sim import statevector as sv


@pytest.mark.parametrize("max_qubits", [1, 2, 3, 5])
def test_fused_blocks_multiply_to_the_circuit_unitary(max_qubits, rng, make_random_circuit, qiskit_ref):
    c = make_random_circuit(rng, 6, 80, unitary_prob=0.1, global_phase=False)
    blocks = fusion.fuse(list(c), max_qubits)
    assert len(blocks) < len(c) or max_qubits == 1
    u = np.eye(2**6, dtype=complex)
    for matrix, qubits in blocks:
        step = Circuit(6).unitary(matrix, list(qubits))
        u = qiskit_ref.unitary(step) @ u
    np.testing.assert_allclose(u, qiskit_ref.unitary(c), atol=1e-12)


def test_blocks_stay_within_the_limit_unless_one_gate_is_larger(rng, make_random_circuit):
    c = make_random_circuit(rng, 7, 200)
    widest_gate = max(len(op.qubits) for op in c)
    for matrix, qubits in fusion.fuse(list(c), 3):
        assert len(qubits) <= max(3, widest_gate)
        assert matrix.shape == (2 ** len(qubits),) * 2


@pytest.mark.parametrize("dtype,atol", [(torch.complex64, 2e-5), (torch.complex128, 1e-12)])
def test_long_constant_circuit_simulates_like_qiskit(dtype, atol, rng, make_random_circuit, qiskit_ref):
    c = make_random_circuit(rng, 8, 3 * sv.FUSE_MIN_GATES, unitary_prob=0.05)
    assert sv._fused_runs(list(c)) == {0: len(c)}
    state = sv.simulate(c, dtype=dtype).numpy()[0]
    np.testing.assert_allclose(state, qiskit_ref.statevector(c), atol=atol)


def test_fused_runs_between_parametric_gates_and_an_encoding(rng, make_random_circuit, qiskit_ref):
    """Batched bindings and inputs around two fused runs; every row against its own reference."""
    a, b = Parameter("a"), Parameter("b")
    head = make_random_circuit(rng, 5, sv.FUSE_MIN_GATES + 7, global_phase=False)
    tail = make_random_circuit(rng, 5, sv.FUSE_MIN_GATES + 3, global_phase=False)

    def build(source):
        return (Circuit(5).amplitude_encode(source, [1, 2, 3]).compose(head).rx(0, a).crz(1, 4, b * 2)
                .compose(tail).h(2))

    c = build("x")
    assert len(sv._fused_runs(list(c))) == 2
    values = rng.uniform(-3, 3, size=(4, 2))
    x = rng.normal(size=(4, 8))
    states = sv.simulate(c, values, {"x": x}, dtype=torch.complex128).numpy()
    for row in range(4):
        bound = build(x[row] / np.linalg.norm(x[row])).bind({"a": values[row, 0], "b": values[row, 1]})
        np.testing.assert_allclose(states[row], qiskit_ref.statevector(bound), atol=1e-12)


def test_gradients_flow_through_fused_runs(rng, make_random_circuit):
    """Autograd through a fused run agrees with central finite differences (double precision)."""
    a = Parameter("a")
    mid = make_random_circuit(rng, 4, 2 * sv.FUSE_MIN_GATES, global_phase=False)
    c = Circuit(4).ry(0, a).cx(0, 1).compose(mid).rz(3, a * 0.5)

    def f(t):
        state = sv.simulate(c, t.reshape(1, 1), dtype=torch.complex128)
        return (sv.probabilities(state)[0] * torch.arange(16, dtype=torch.float64)).sum()

    t = torch.tensor(0.37, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(f(t), t)
    h = 1e-6
    fd = (f(torch.tensor(0.37 + h, dtype=torch.float64)) - f(torch.tensor(0.37 - h, dtype=torch.float64))) / (2 * h)
    assert abs(g.item() - fd.item()) < 1e-7


def test_fused_and_gate_by_gate_runs_agree_on_the_backend(rng, make_random_circuit, monkeypatch):
    """The torch backend's probabilities do not depend on whether the run was fused."""
    c = make_random_circuit(rng, 10, 400).measure_all()
    backend = get_backend("torch")
    fused = backend.run(c, precision="double").result()[0].probabilities[0]
    monkeypatch.setattr(sv, "FUSE_MIN_GATES", 10**9)
    plain = backend.run(c, precision="double").result()[0].probabilities[0]
    np.testing.assert_allclose(fused, plain, atol=1e-13)
