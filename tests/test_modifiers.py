"""pow/ctrl/negctrl/inv modifiers and the multi-controlled ``mcu`` instruction at bounded cost,
exact against Qiskit's Operator."""

from __future__ import annotations

import time

import numpy as np
import pytest

qiskit = pytest.importorskip("qiskit")
from qiskit import QuantumCircuit  # noqa: E402
from qiskit.circuit import library as lib  # noqa: E402
from qiskit.quantum_info import Operator  # noqa: E402

from qbridge.exceptions import CircuitError, GateError, QasmError  # noqa: E402
from qbridge.ir import Circuit, Instruction, Parameter  # noqa: E402
from qbridge.ir.qasm import QasmUnsupportedError, from_qasm  # noqa: E402
from qbridge.sim.statevector import circuit_unitary  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

HEAD = 'OPENQASM 3.0; include "stdgates.inc";\n'


def _qubits(n):
    return ", ".join(f"q[{i}]" for i in range(n))


def _qiskit_matrix(qc: QuantumCircuit) -> np.ndarray:
    return Operator(qc).reverse_qargs().data  # qbridge: qubit 0 is the most significant bit


def _qbridge_matrix(text: str) -> np.ndarray:
    return np.asarray(circuit_unitary(from_qasm(text)))


GATES_1Q = [
    ("x", lib.XGate()), ("h", lib.HGate()), ("s", lib.SGate()), ("tdg", lib.TdgGate()),
    ("sx", lib.SXGate()), ("ry(0.37)", lib.RYGate(0.37)), ("rz(-1.1)", lib.RZGate(-1.1)),
    ("p(0.9)", lib.PhaseGate(0.9)), ("U(0.3, 1.2, -0.7)", lib.UGate(0.3, 1.2, -0.7)),
    ("rx(0.61)", lib.RXGate(0.61)),
]


@pytest.mark.parametrize("k", [1, 2, 3, 5])
@pytest.mark.parametrize("text,gate", GATES_1Q, ids=[g for g, _ in GATES_1Q])
def test_ctrl_k_matches_qiskit(text, gate, k):
    n = k + 1
    qc = QuantumCircuit(n)
    qc.append(gate.control(k), list(range(n)))
    circuit = from_qasm(HEAD + f"qubit[{n}] q;\nctrl({k}) @ {text} {_qubits(n)};\n")
    want = _qiskit_matrix(qc)
    np.testing.assert_allclose(np.asarray(circuit_unitary(circuit)), want, atol=1e-9)  # the simulator
    np.testing.assert_allclose(circuit.to_matrix(), want, atol=1e-9)  # the IR's NumPy builder
    # what a backend without mcu receives: the ancilla-free decomposition
    lowered = circuit.decompose({"u", "cx"})
    assert set(lowered.count_ops()) <= {"u", "cx"}
    np.testing.assert_allclose(lowered.to_matrix(), want, atol=1e-9)


@pytest.mark.parametrize("text,gate,nq", [
    ("cx", lib.CXGate(), 2), ("swap", lib.SwapGate(), 2), ("ccx", lib.CCXGate(), 3),
    ("crx(0.4)", lib.CRXGate(0.4), 2), ("cp(0.8)", lib.CPhaseGate(0.8), 2),
])
@pytest.mark.parametrize("k", [1, 2, 4])
def test_ctrl_of_multi_qubit_gates(text, gate, nq, k):
    n = k + nq
    qc = QuantumCircuit(n)
    qc.append(gate.control(k), list(range(n)))
    got = _qbridge_matrix(HEAD + f"qubit[{n}] q;\nctrl({k}) @ {text} {_qubits(n)};\n")
    np.testing.assert_allclose(got, _qiskit_matrix(qc), atol=1e-9)


def test_negctrl_and_nested_modifiers_match_qiskit():
    qc = QuantumCircuit(4)
    qc.append(lib.HGate().power(3).inverse().control(3, ctrl_state="101"), [0, 1, 2, 3])
    # ctrl_state is little-endian in Qiskit: "101" means controls 0 and 2 are 1, control 1 is 0
    text = HEAD + "qubit[4] q;\nctrl @ negctrl @ ctrl @ inv @ pow(3) @ h q[0], q[1], q[2], q[3];\n"
    np.testing.assert_allclose(_qbridge_matrix(text), _qiskit_matrix(qc), atol=1e-9)


@pytest.mark.parametrize("k", [2, 3, -1, -4, 0.5, 1.5, -0.25])
@pytest.mark.parametrize("text,gate", [
    ("x", lib.XGate()), ("sx", lib.SXGate()), ("t", lib.TGate()), ("h", lib.HGate()),
    ("rx(0.7)", lib.RXGate(0.7)), ("U(0.3, 1.2, -0.7)", lib.UGate(0.3, 1.2, -0.7)),
])
def test_pow_matches_qiskit(text, gate, k):
    qc = QuantumCircuit(1)
    qc.append(gate.power(k), [0])
    got = _qbridge_matrix(HEAD + f"qubit[1] q;\npow({k}) @ {text} q[0];\n")
    np.testing.assert_allclose(got, _qiskit_matrix(qc), atol=1e-9)


@pytest.mark.parametrize("k,kind", [(7, "copies"), (-5, "copies"), (1000, "matrix"), (2.5, "matrix")])
def test_pow_of_two_qubit_definition(k, kind):
    text = HEAD + f"gate g a, b {{ h a; cx a, b; t b; }}\nqubit[2] q;\npow({k}) @ g q[0], q[1];\n"
    circuit = from_qasm(text)
    if kind == "matrix":
        assert [op.name for op in circuit] == ["unitary"]
    else:  # few copies: library gates every backend takes
        assert len(circuit) == 3 * abs(k) and "unitary" not in circuit.count_ops()
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.t(1)
    want = QuantumCircuit(2)
    want.append(qc.to_gate().power(k), [0, 1])
    np.testing.assert_allclose(_qbridge_matrix(text), _qiskit_matrix(want), atol=1e-8)


def test_huge_pow_is_one_instruction_and_fast():
    start = time.perf_counter()
    circuit = from_qasm(HEAD + "qubit[2] q;\npow(1000000000) @ x q[0];\npow(1000000001) @ rx(0.1) q[1];\n"
                        "pow(-999999999) @ cx q[0], q[1];\n")
    assert time.perf_counter() - start < 5
    assert [op.name for op in circuit] == ["rx", "cx"]
    assert float(circuit.instructions[0].params[0]) == pytest.approx(1000000001 * 0.1)


def test_ctrl_11_x_on_12_qubits_is_one_instruction_fast_and_right():
    from qbridge.backends.registry import get_backend
    from qbridge.backends.base import RunConfig, Task

    text = HEAD + f"qubit[12] q;\nx q;\nctrl(11) @ x {_qubits(12)};\n"
    start = time.perf_counter()
    circuit = from_qasm(text)
    assert circuit.count_ops() == {"x": 12, "mcu": 1}
    probs = get_backend("torch").run([Task(circuit)], RunConfig(precision="double")).result()[0].probabilities
    assert time.perf_counter() - start < 10  # 0.08 s on an idle machine; CI is shared
    assert probs[0, 2**12 - 2] == pytest.approx(1.0)  # |1...10>


@pytest.mark.parametrize("gate", ["x", "h", "ry(0.3)", "U(0.3, 1.2, -0.7)", "swap"])
def test_ctrl_k_costs_as_many_instructions_as_the_gate_whatever_k(gate):
    nq = 2 if gate == "swap" else 1
    for k in (3, 8, 16, 32):
        circuit = from_qasm(HEAD + f"qubit[{k + nq}] q;\nctrl({k}) @ {gate} {_qubits(k + nq)};\n")
        assert len(circuit) == (3 if gate == "swap" else 1), circuit.count_ops()


def _classical(ops, bits):
    bits = list(bits)
    for name, qs, _ in ops:
        if name == "x":
            bits[qs[0]] ^= 1
        elif name == "cx":
            bits[qs[1]] ^= bits[qs[0]]
        else:
            assert name == "ccx", name
            bits[qs[2]] ^= bits[qs[0]] & bits[qs[1]]
    return bits


def _value(bits, qubits):
    return sum(bits[q] << i for i, q in enumerate(qubits))


@pytest.mark.parametrize("w", range(1, 12))
def test_increment_borrowing_one_qubit_is_right_on_every_input(w):
    from qbridge.ir.modifiers import increment

    x, d = [2 * i for i in range(w)], 1  # interleaved with the borrowed qubit, not in order
    ops = increment(x, d)
    size = 2 * w
    for number in range(2 ** (w + 1)):
        bits = [0] * size
        for i, q in enumerate(x):
            bits[q] = number >> i & 1
        bits[d] = number >> w & 1
        out = _classical(ops, bits)
        assert _value(out, x) == (number % 2**w + 1) % 2**w
        assert out[d] == bits[d] and out[3:size:2] == bits[3:size:2]  # borrowed and idle restored


def test_ancilla_free_adder_is_right_on_every_input():
    from qbridge.ir.modifiers import _add

    for w in range(1, 6):
        a, b = list(range(w)), list(range(w, 2 * w))
        ops = _add(a, b)
        assert len(ops) == max(1, 7 * w - 8)
        for number in range(4**w):
            out = _classical(ops, [number >> i & 1 for i in range(2 * w)])
            assert _value(out, a) == number % 2**w
            assert _value(out, b) == (number % 2**w + (number >> w)) % 2**w


@pytest.mark.parametrize("text,gate", [("x", lib.XGate()), ("p(0.4)", lib.PhaseGate(0.4)),
                                       ("U(0.3, 1.2, -0.7)", lib.UGate(0.3, 1.2, -0.7)),
                                       ("h", lib.HGate())])
@pytest.mark.parametrize("k", [3, 4, 5, 7])
def test_linear_route_without_idle_qubits_matches_qiskit(monkeypatch, text, gate, k):
    # the phase-gradient route taken from LINEAR_PHASE_FROM qubits on, forced for small k
    from qbridge.ir import modifiers

    monkeypatch.setattr(modifiers, "LINEAR_PHASE_FROM", 3)
    circuit = from_qasm(HEAD + f"qubit[{k + 1}] q;\nctrl({k}) @ {text} {_qubits(k + 1)};\n")
    lowered = circuit.decompose({"u", "cx", "ccx"})
    assert set(lowered.count_ops()) <= {"u", "cx", "ccx"}
    qc = QuantumCircuit(k + 1)
    qc.append(gate.control(k), list(range(k + 1)))
    np.testing.assert_allclose(lowered.to_matrix(), _qiskit_matrix(qc), atol=1e-9)


@pytest.mark.parametrize("gate", ["x", "p(0.4)", "U(0.3, 1.2, -0.7)", "ry(0.3)", "rz(0.3)"])
def test_decomposition_without_idle_qubits_grows_linearly(gate):
    # for a backend without mcu; O(k) whatever the gate (see qbridge.ir.modifiers): about 91
    # instructions per control in u/cx/ccx at k = 256 for x, fewer for gates in SU(2)
    counts = {}
    for k in (32, 64, 128, 256):
        circuit = from_qasm(HEAD + f"qubit[{k + 1}] q;\nctrl({k}) @ {gate} {_qubits(k + 1)};\n")
        counts[k] = len(circuit.decompose({"u", "cx", "ccx"}))
        assert counts[k] <= 95 * k, (k, counts[k])
    assert counts[256] - counts[128] <= 1.05 * (counts[128] - counts[64]) * 2  # no k^2 term


@pytest.mark.parametrize("k,text,gate", [(15, "x", lib.XGate()), (18, "U(0.3, 1.2, -0.7)", lib.UGate(0.3, 1.2, -0.7)),
                                         (17, "p(-2.1)", lib.PhaseGate(-2.1))])
def test_linear_route_is_exact_beyond_operator_against_aer(k, text, gate):
    # ctrl(k) @ g with no idle qubit, beyond what Operator builds: Aer runs the u/cx/ccx
    # circuit on a random state; the reference applies the 2x2 block by hand
    aer = pytest.importorskip("qiskit_aer")
    from qiskit.quantum_info import random_statevector

    from qbridge.interop.qiskit import to_qiskit

    circuit = from_qasm(HEAD + f"qubit[{k + 1}] q;\nctrl({k}) @ {text} {_qubits(k + 1)};\n")
    lowered = circuit.decompose({"u", "cx", "ccx"})
    psi = random_statevector(2 ** (k + 1), seed=7).data
    qc = QuantumCircuit(k + 1)
    qc.initialize(psi)
    qc.compose(to_qiskit(lowered), inplace=True)
    qc.save_statevector()
    got = aer.AerSimulator(method="statevector").run(qc).result().get_statevector().data
    want = psi.copy()  # Qiskit's order: the controls 0..k-1 set is index bits 0..k-1
    block = np.array([2**k - 1, 2**k - 1 + 2**k])
    want[block] = gate.to_matrix() @ psi[block]
    np.testing.assert_allclose(got, want, atol=1e-9)


def test_decomposition_borrows_idle_qubits_and_is_linear():
    # k controls in a register of 2k qubits: a V-chain of Toffolis on the idle qubits, 4(k - 2)
    for k in (8, 16, 32):
        lowered = Circuit(2 * k).mcx(range(k), k).decompose({"u", "cx", "ccx"})
        assert lowered.count_ops() == {"ccx": 4 * (k - 2)}
    small = Circuit(7).h(5).mcx((0, 2, 4, 6), 1).h(3).mcx((1, 3, 6), 2)
    qc = QuantumCircuit(7)
    qc.h(5)
    qc.mcx([0, 2, 4, 6], 1)
    qc.h(3)
    qc.mcx([1, 3, 6], 2)
    np.testing.assert_allclose(small.decompose({"u", "cx"}).to_matrix(), _qiskit_matrix(qc), atol=1e-9)


def test_mcu_builder_export_json_inverse_and_qiskit_agree():
    from qbridge.interop.qiskit import to_qiskit

    a = Parameter("a")
    circuit = Circuit(5).h(0).mcu((4, 0, 2), 1, a, 0.4, -1.3, 0.5 * a).mcx((1, 3), 0)
    bound = circuit.bind({"a": 0.83})
    want = bound.to_matrix()
    qc = QuantumCircuit(5)
    qc.h(0)
    qc.append(lib.UGate(0.83, 0.4, -1.3).control(3), [4, 0, 2, 1])
    qc.append(lib.MCPhaseGate(0.415, 2), [4, 0, 2])
    qc.ccx(1, 3, 0)
    np.testing.assert_allclose(want, _qiskit_matrix(qc), atol=1e-9)
    text = circuit.to_qasm()
    assert "ctrl(3) @ U(a, 0.4, -1.3)" in text
    for other in (Circuit.from_qasm(text), Circuit.from_json(circuit.to_json())):
        np.testing.assert_allclose(other.bind({"a": 0.83}).to_matrix(), want, atol=1e-9)
    np.testing.assert_allclose(Operator(to_qiskit(circuit).assign_parameters({"a": 0.83})).reverse_qargs().data,
                               want, atol=1e-9)
    np.testing.assert_allclose(bound.inverse().to_matrix() @ want, np.eye(32), atol=1e-9)


def test_mcu_is_validated():
    with pytest.raises(GateError, match="at least 2 qubits"):
        Circuit(2).add(Instruction("mcu", (0,), (0.1, 0.0, 0.0, 0.0)))
    with pytest.raises(GateError, match="4 parameters"):
        Circuit(3).add(Instruction("mcu", (0, 1, 2), (0.1,)))
    with pytest.raises(CircuitError, match="repeated qubit"):
        Circuit(3).mcx((0, 1), 1)
    with pytest.raises(CircuitError, match="out of range"):
        Circuit(3).mcx((0, 1), 3)


def test_mcu_gradient_matches_finite_differences():
    import torch

    from qbridge.ir.observables import PauliSum
    from qbridge.sim.statevector import expectation_values, simulate

    a, b = Parameter("a"), Parameter("b")
    circuit = Circuit(4).h(0).h(1).h(3).mcu((0, 1, 3), 2, a, b, 0.3, a - b).h(2).ry(2, b)
    obs = [PauliSum([(1.0, "ZZII"), (0.5, "IXZI")]), PauliSum([(1.0, "IIZZ")])]

    def f(v):
        return expectation_values(simulate(circuit, v, dtype=torch.complex128), obs).sum()

    v = torch.tensor([[0.7, -0.4]], dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(f(v), v)
    eps = 1e-6
    for j in range(2):
        d = torch.zeros_like(v)
        d[0, j] = eps
        fd = (f(v.detach() + d) - f(v.detach() - d)) / (2 * eps)
        assert float(grad[0, j]) == pytest.approx(float(fd), abs=1e-7)


def test_noisy_runs_see_the_decomposition():
    """A noise model describes library gates: the noisy torch backend runs mcu's decomposition,
    with each of its gates' errors; the density-matrix kernel takes mcu directly too."""
    import torch

    from qbridge.backends.base import RunConfig, Task
    from qbridge.backends.registry import get_backend
    from qbridge.noise import Depolarizing, NoiseModel
    from qbridge.sim import density as dm

    circuit = Circuit(4).h(0).h(1).h(2).mcx((0, 1, 2), 3).mcu((3, 0), 1, 0.3, 0.2, 0.1, 0.4)
    model = NoiseModel().with_gate_error("ccx", Depolarizing(0.03)).with_gate_error("cx", Depolarizing(0.02, 2))
    backend = get_backend("torch", noise=model)
    lowered = circuit.decompose(backend.target.native_gates)
    assert "mcu" not in lowered.count_ops() and "ccx" in lowered.count_ops()
    got, want = (backend.run([Task(c)], RunConfig(precision="double")).result()[0].probabilities
                 for c in (circuit, lowered))
    np.testing.assert_allclose(got, want, atol=1e-12)
    ideal = get_backend("torch").run([Task(circuit)], RunConfig(precision="double")).result()[0].probabilities
    assert np.abs(got - ideal).max() > 1e-3  # the errors did act
    rho = dm.simulate_density(circuit, None, None, noise=NoiseModel(), dtype=torch.complex128)
    psi = circuit.to_matrix()[:, 0]
    np.testing.assert_allclose(rho[0].numpy(), np.outer(psi, psi.conj()), atol=1e-12)


def test_ctrl_count_beyond_the_operands_is_refused_before_allocating():
    with pytest.raises(QasmError, match=r"ctrl\(1000000000\) @ needs 1000000000 control"):
        from_qasm(HEAD + "qubit[2] q;\nctrl(1000000000) @ x q[0], q[1];\n")


def test_pow_of_parametrised_definition_beyond_the_limit_is_refused():
    text = HEAD + "input float[64] a;\ngate g(t) x, y { rx(t) x; cx x, y; }\nqubit[2] q;\npow(1000) @ g(a) q[0], q[1];\n"
    with pytest.raises(QasmUnsupportedError, match="bind its parameters"):
        from_qasm(text)


def test_symbolic_ctrl_stays_linear_and_exact():
    text = HEAD + "input float[64] a;\nqubit[3] q;\nctrl(2) @ ry(a) q[0], q[1], q[2];\n"
    circuit = from_qasm(text)
    got = np.asarray(circuit_unitary(circuit, np.array([[0.61]])))[0]
    qc = QuantumCircuit(3)
    qc.append(lib.RYGate(0.61).control(2), [0, 1, 2])
    np.testing.assert_allclose(got, _qiskit_matrix(qc), atol=1e-9)


def test_mcu_with_a_batch_of_bindings_on_one_state():
    import torch

    from qbridge.sim.statevector import simulate

    a = Parameter("a")
    circuit = Circuit(4).h(0).h(1).h(3).mcu((3, 0), 1, a, 0.3, -0.2, 0.5 * a).h(2).mcx((1, 2), 0)
    values = np.array([[0.1], [0.7], [-1.3]])
    states = simulate(circuit, torch.tensor(values), dtype=torch.complex128).numpy()
    for row, v in zip(states, values[:, 0]):
        np.testing.assert_allclose(row, circuit.bind({"a": v}).to_matrix()[:, 0], atol=1e-12)


def test_linear_route_keeps_symbolic_parameters(monkeypatch):
    from qbridge.ir import modifiers

    monkeypatch.setattr(modifiers, "LINEAR_PHASE_FROM", 3)
    k = 6
    text = f"qubit[{k + 1}] q;\nctrl({k}) @ p(a) {_qubits(k + 1)};\n"
    lowered = from_qasm(HEAD + "input float[64] a;\n" + text).decompose({"u", "cx", "ccx"})
    assert [p.name for p in lowered.parameters] == ["a"]
    bound = from_qasm(HEAD + text.replace("p(a)", "p(0.77)")).to_matrix()
    np.testing.assert_allclose(lowered.bind({"a": 0.77}).to_matrix(), bound, atol=1e-12)


def test_lowering_a_thousand_controls_without_idle_qubits():
    # the phase gradient's angles angle * 2^(j - w) for w > 1024 (2.0 ** j overflowed there)
    k = 1100
    lowered = Circuit(k + 1).mcx(range(k), k).decompose({"u", "cx", "ccx"})
    assert len(lowered) <= 95 * k
