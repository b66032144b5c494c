"""The PennyLane translation, gate by gate, against qbridge's own gate matrices; bit order; natives."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("pennylane")
pytest.importorskip("pennylane_lightning")

import pennylane as qml  # noqa: E402

import qbridge  # noqa: E402
from qbridge import Circuit  # noqa: E402
from qbridge.backends.base import Task  # noqa: E402
from qbridge.ir.circuit import Instruction  # noqa: E402
from qbridge.ir.gates import GATES, gate_matrix  # noqa: E402
from qbridge_pennylane import translate  # noqa: E402


@pytest.mark.parametrize("name", sorted(GATES))
def test_every_gate_has_qbridges_matrix(name):
    rng = np.random.default_rng(sum(map(ord, name)))
    g = GATES[name]
    params = tuple(float(v) for v in rng.uniform(-2 * np.pi, 2 * np.pi, g.num_params))
    op = translate.pennylane_op(Instruction(name, tuple(range(g.num_qubits)), params))
    got = qml.matrix(op, wire_order=list(range(g.num_qubits)))
    np.testing.assert_allclose(got, gate_matrix(name, params), atol=1e-12)


def test_unitary_keeps_the_first_qubit_most_significant():
    cx = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=complex)
    c = Circuit(2).x(1).unitary(cx, [1, 0])  # control qubit 1 -> flips qubit 0
    res = qbridge.get_backend("pennylane.lightning.qubit").run(c, precision="double").result()[0]
    np.testing.assert_allclose(res.probabilities[0], [0, 0, 0, 1], atol=1e-12)


def test_global_phase_sign():
    # qml.GlobalPhase(phi) multiplies by exp(-i phi); qbridge's global phase g by exp(+i g)
    c = Circuit(1, global_phase=0.7).h(0)
    for name in ("pennylane.default.qubit", "pennylane.lightning.qubit"):
        sv = qbridge.get_backend(name).run(Task(c, statevector=True), precision="double").result()[0].statevector
        np.testing.assert_allclose(sv[0], np.exp(0.7j) * np.array([1, 1]) / math.sqrt(2), atol=1e-12)


@pytest.mark.parametrize("name", ["pennylane.default.qubit", "pennylane.lightning.qubit"])
def test_bit_order_qubit_zero_is_the_most_significant_bit(name):
    c = Circuit(3).x(0)
    backend = qbridge.get_backend(name)
    probs = np.asarray(backend.run(c, precision="double").result()[0].probabilities[0])
    assert np.argmax(probs) == 4 and probs[4] == pytest.approx(1.0)
    counts = backend.run(c, shots=50, seed=1).result()[0].counts[0]
    assert counts == {"100": 50}
    # and a two-qubit pattern that a reversed order would read as '011'
    counts = backend.run(Circuit(3).x(0).x(1), shots=20, seed=2).result()[0].counts[0]
    assert counts == {"110": 20}


def test_native_gates_follow_the_device_capabilities():
    lightning = qbridge.get_backend("pennylane.lightning.qubit").target.native_gates
    default = qbridge.get_backend("pennylane.default.qubit").target.native_gates
    assert default == frozenset(GATES) | {"unitary"}
    # lightning has no U3 and no CH kernels: qbridge decomposes those two exactly; it applies
    # multi-controlled rotations (mcu) with their controls
    assert lightning == (frozenset(GATES) | {"unitary", "mcu"}) - {"u", "ch"}
    caps = qml.device("lightning.qubit", wires=1).capabilities
    assert translate.native_gates(caps) == lightning


def test_hamiltonian_splits_off_the_identity():
    obs = qbridge.PauliSum.parse("0.5*ZZ - 1.5*II + 0.25*XI")
    const, h = translate.hamiltonian(obs)
    assert const == -1.5
    np.testing.assert_allclose(qml.matrix(h, wire_order=[0, 1]) + const * np.eye(4), obs.to_matrix(), atol=1e-12)


def test_import_does_not_import_pennylane():
    code = ("import sys, qbridge, qbridge_pennylane; qbridge.list_backends(); "
            "print(any(m == 'pennylane' or m.startswith('pennylane.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("params", [(0.4, 1.1, -0.3, 0.7), (math.pi, 0.0, math.pi, 0.0), (0.0, 0.0, 0.0, -1.2)])
def test_mcu_is_controlled_rotations_with_qbridges_matrix(params):
    # controls in a scrambled order, the target below two of them
    op = Instruction("mcu", (3, 0, 2, 1), params)
    ops = translate._mcu_ops(op, {})
    got = qml.matrix(qml.prod(*reversed(ops)), wire_order=[0, 1, 2, 3])
    want = Circuit(4).mcu((3, 0, 2), 1, *params[:3], params[3]).to_matrix()
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_mcu_is_native_where_the_device_controls_rotations():
    assert "mcu" in qbridge.get_backend("pennylane.lightning.qubit").target.native_gates
    # default.qubit declares no capabilities: it would apply a controlled gate as its 2^(k+1) matrix
    assert "mcu" not in qbridge.get_backend("pennylane.default.qubit").target.native_gates


def test_ctrl_11_x_reaches_lightning_as_one_operation():
    from qbridge.ir.qasm import from_qasm

    qubits = ", ".join(f"q[{i}]" for i in range(12))
    c = from_qasm('OPENQASM 3.0; include "stdgates.inc";\nqubit[12] q;\nx q;\nctrl(11) @ x ' + qubits + ";\n")
    spec = translate.build_tape(c, Task(c), shots=None, statevector=False)
    assert [op.name for op in spec.tape.operations].count("MultiControlledX") == 1
    assert len(spec.tape.operations) == 13
    res = qbridge.get_backend("pennylane.lightning.qubit").run(c, precision="double").result()[0]
    assert res.probabilities[0, 2**12 - 2] == pytest.approx(1.0)


def test_native_mcu_agrees_with_torch_on_random_orders_and_states():
    # random widths, control orders and targets, X among them; the states around it random too
    rng = np.random.default_rng(1)
    tasks = []
    for trial in range(60):
        n = int(rng.integers(2, 8))
        m = int(rng.integers(1, n))
        qubits = [int(q) for q in rng.permutation(n)[: m + 1]]
        params = (math.pi, 0.0, math.pi, 0.0) if trial % 4 == 0 else tuple(rng.uniform(-3, 3, 4))
        c = Circuit(n)
        for q in range(n):
            c = c.u(q, *rng.uniform(-3, 3, 3))
        c = c.mcu(qubits[:-1], qubits[-1], *params[:3], params[3])
        for q in range(n):
            c = c.u(q, *rng.uniform(-3, 3, 3))
        tasks.append(Task(c, statevector=True))
    got = qbridge.get_backend("pennylane.lightning.qubit").run(tasks, precision="double").result()
    want = qbridge.get_backend("torch").run(tasks, precision="double").result()
    for a, b in zip(got, want):
        np.testing.assert_allclose(np.asarray(a.statevector), np.asarray(b.statevector), atol=1e-12)
