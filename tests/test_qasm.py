"""OpenQASM 3 export and OpenQASM 2/3 import (qbridge.ir.qasm).

References are independent of the code under test: Qiskit's own OpenQASM importers and exporters
and ``qiskit.quantum_info.Operator`` (qubit order reversed to qbridge's), the gate library's
matrices, and hand-derived values. Unitaries are compared with global phase included.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from qbridge.exceptions import QasmError, UnsupportedFeatureError
from qbridge.ir import GATES, Circuit, Parameter, from_qasm, gate_matrix, to_qasm
from qbridge.ir import qasm as qasm_mod
from qbridge.ir.qasm import export as qasm_export
from qbridge.ir.qasm import QasmUnsupportedError
from qbridge.sim.statevector import circuit_unitary, simulate

pytest.importorskip("qiskit")
import qiskit.qasm2  # noqa: E402
import qiskit.qasm3  # noqa: E402
from qiskit.circuit import QuantumCircuit  # noqa: E402
from qiskit.circuit import Parameter as QkParameter  # noqa: E402
from qiskit.circuit import library as qlib  # noqa: E402
from qiskit.quantum_info import Operator  # noqa: E402

ATOL = 1e-10


def qb_unitary(circuit: Circuit, values=None) -> np.ndarray:
    if values is not None:
        circuit = circuit.bind(values)
    return np.asarray(circuit_unitary(circuit.without_measurements()))


def qk_unitary(qc: QuantumCircuit) -> np.ndarray:
    """Qiskit's matrix in qbridge's order (qubit 0 most significant)."""
    qc = qc.remove_final_measurements(inplace=False)
    return Operator(qc.reverse_bits()).data


def random_library_circuit(rng, n=4, depth=30, params=None, phase=True) -> Circuit:
    c = Circuit(n, global_phase=float(rng.uniform(-3, 3)) if phase else 0.0)
    names = sorted(GATES)
    for _ in range(depth):
        g = GATES[names[rng.integers(len(names))]]
        qs = [int(q) for q in rng.choice(n, g.num_qubits, replace=False)]
        ps = []
        for _ in range(g.num_params):
            if params and rng.random() < 0.5:
                p = params[rng.integers(len(params))]
                ps.append(float(rng.uniform(-2, 2)) * p + float(rng.uniform(-1, 1)))
            else:
                ps.append(float(rng.uniform(-2 * math.pi, 2 * math.pi)))
        c = c.append(g.name, qs, ps)
    return c


# -- export and round trips ------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(GATES))
def test_every_library_gate_round_trips_exactly(name):
    rng = np.random.default_rng(sum(map(ord, name)))
    g = GATES[name]
    for _ in range(3):
        qs = [int(q) for q in rng.choice(4, g.num_qubits, replace=False)]
        ps = [float(v) for v in rng.uniform(-7, 7, g.num_params)]
        c = Circuit(4, global_phase=float(rng.uniform(-4, 4))).append(name, qs, ps)
        back = from_qasm(to_qasm(c))
        assert back == c
        assert [float(p).hex() for p in back.instructions[0].params] == [p.hex() for p in ps]
        assert float(back.global_phase).hex() == float(c.global_phase).hex()


def test_awkward_floats_are_bit_exact():
    values = [1e-300, 5e-324, 1e16, -1e22, 0.1, -0.0, 2.0**-40, math.pi, -1 / 3, 123456789.123456789]
    c = Circuit(1)
    for v in values:
        c = c.rz(0, v)
    back = from_qasm(to_qasm(c))
    assert [op.params[0] for op in back] == values
    assert [math.copysign(1, op.params[0]) for op in back] == [math.copysign(1, v) for v in values]


def test_parametrised_circuit_round_trips_with_expressions():
    theta, phi, w = Parameter("theta"), Parameter("phi"), Parameter("w_2")
    c = (
        Circuit(3, global_phase=0.5 * theta - 0.25)
        .ry(0, theta)
        .rz(1, 0.5 * theta + 1.0)
        .rzz(0, 2, -phi)
        .u(2, theta - 2 * phi + 0.1, 1e-5 * w, -w)
        .crx(2, 1, -3.5 * phi - 0.75 * theta + math.pi)
        .cp(0, 1, theta / 3)
        .ryy(1, 2, w + phi)
    )
    text = to_qasm(c)
    assert [ln for ln in text.splitlines() if ln.startswith("input")] == [
        "input float[64] theta;", "input float[64] phi;", "input float[64] w_2;"
    ]
    back = from_qasm(text)
    assert back == c
    assert back.parameter_names == c.parameter_names
    values = {"theta": 0.3, "phi": -1.2, "w_2": 2.5}
    np.testing.assert_allclose(qb_unitary(back, values), qb_unitary(c, values), atol=ATOL)


def test_random_circuits_round_trip_exactly():
    rng = np.random.default_rng(7)
    params = [Parameter("a"), Parameter("b"), Parameter("gamma"), Parameter("x"), Parameter("h")]
    for _ in range(10):
        c = random_library_circuit(rng, n=5, depth=40, params=params)
        c = c.barrier([0, 2]).measure([3, 1]).measure(0)
        assert from_qasm(to_qasm(c)) == c


def test_export_text_layout():
    theta = Parameter("theta")
    c = Circuit(2, global_phase=0.25).h(0).u(1, 0.1, theta, 0.3).rzz(0, 1, 0.5).measure([1, 0])
    lines = to_qasm(c).splitlines()
    assert lines[:2] == ["OPENQASM 3.0;", 'include "stdgates.inc";']
    assert lines[2].startswith("gate rzz(")
    assert "input float[64] theta;" in lines
    assert "qubit[2] q;" in lines and "bit[2] c;" in lines
    assert "gphase(0.25);" in lines
    assert "U(0.1, theta, 0.3) q[1];" in lines  # u is the built-in U
    assert lines[-1] == "c[0] = measure q[1]; c[1] = measure q[0];"
    # only the definitions the circuit needs
    assert not any(ln.startswith("gate") for ln in to_qasm(Circuit(1).h(0)).splitlines())


def test_register_names_avoid_parameter_names():
    q, c = Parameter("q"), Parameter("c")
    circ = Circuit(2).rx(0, q).ry(1, c).measure()
    text = to_qasm(circ)
    assert "qubit[2] q1;" in text and "bit[2] c1;" in text
    assert from_qasm(text) == circ


def test_parameters_named_like_gates_round_trip_and_load_in_qiskit():
    x, t, p = Parameter("x"), Parameter("t"), Parameter("p")
    c = Circuit(2, global_phase=-t).rx(0, x).x(0).rz(1, 2 * t + p).t(1).p(0, p).cp(0, 1, x - 1)
    text = to_qasm(c)
    assert "@qbridge.parameter x\ninput float[64] x_;" in text
    assert from_qasm(text) == c
    qc = qiskit.qasm3.loads(text)  # the renamed inputs are plain identifiers to other tools
    values = {"x": 0.4, "t": -1.1, "p": 2.3}
    names = {"x_": "x", "t_": "t", "p_": "p"}
    bound = qc.assign_parameters({q: values[names[q.name]] for q in qc.parameters})
    np.testing.assert_allclose(qk_unitary(bound), qb_unitary(c, values), atol=ATOL)
    # a value may share a gate's name when qbridge reads a program
    prog = 'OPENQASM 3.0;\ninclude "stdgates.inc";\ninput float[64] x;\nqubit[1] h;\nrx(x) h[0];\nx h[0];\n'
    assert from_qasm(prog) == Circuit(1).rx(0, x).x(0)


def test_measure_grouping_and_bit_order_round_trip():
    c1 = Circuit(3).h(0).measure([2, 0, 1])
    c2 = Circuit(3).h(0).measure(2).measure(0).measure(1)
    for c in (c1, c2):
        back = from_qasm(to_qasm(c))
        assert back == c and back.measured_qubits == (2, 0, 1)
    assert from_qasm(to_qasm(c1)) != c2  # grouping is kept


@pytest.mark.parametrize("name", sorted(qasm_export._HAND_DEFINITIONS))
def test_emitted_definitions_are_exact_with_phase(name):
    """Expand each emitted body under another name (no recognition) and compare exactly."""
    g = GATES[name]
    definition = qasm_export._HAND_DEFINITIONS[name].replace(f"gate {name}", "gate probe_gate", 1)
    rng = np.random.default_rng(3)
    ps = [float(v) for v in rng.uniform(-4, 4, g.num_params)]
    args = f"({', '.join(map(repr, ps))})" if ps else ""
    qubits = ", ".join(f"q[{i}]" for i in range(g.num_qubits))
    prog = f'OPENQASM 3.0;\ninclude "stdgates.inc";\n{definition}\nqubit[{g.num_qubits}] q;\nprobe_gate{args} {qubits};\n'
    c = from_qasm(prog)
    assert name not in c.count_ops()  # really expanded
    np.testing.assert_allclose(qb_unitary(c), gate_matrix(name, ps), atol=1e-12)


@pytest.mark.parametrize("name", sorted(GATES))
def test_generated_definitions_are_exact_and_recognised(name):
    """The fallback that writes a definition from a gate's decomposition rule."""
    if GATES[name].rule is None:
        pytest.skip("no rule")
    g = GATES[name]
    text = qasm_export._generated_definition(name)
    rng = np.random.default_rng(5)
    ps = [float(v) for v in rng.uniform(-4, 4, g.num_params)]
    args = f"({', '.join(map(repr, ps))})" if ps else ""
    qubits = ", ".join(f"q[{i}]" for i in range(g.num_qubits))
    # dependencies of the body (library gates outside stdgates.inc) come first
    deps = "\n".join(d for d in qasm_export._needed_definitions(
        sorted(set(re.findall(r"[a-z_0-9]+", text.split("{", 1)[1])) & set(GATES) - {name})))
    renamed = text.replace(f"gate {name}", "gate probe_gate", 1)
    prog = f'OPENQASM 3.0;\ninclude "stdgates.inc";\n{deps}\n{renamed}\nqubit[{g.num_qubits}] q;\n'
    c = from_qasm(prog + f"probe_gate{args} {qubits};\n")
    np.testing.assert_allclose(qb_unitary(c), gate_matrix(name, ps), atol=1e-12)
    if name not in qasm_mod.STDGATES:  # under its own name it comes back as the library gate
        same = f'OPENQASM 3.0;\ninclude "stdgates.inc";\n{deps}\n{text}\nqubit[{g.num_qubits}] q;\n'
        back = from_qasm(same + f"{name}{args} {qubits};\n")
        assert back == Circuit(g.num_qubits).append(name, range(g.num_qubits), ps)


def test_export_loads_in_qiskit_with_exact_phase():
    """Qiskit's independent OpenQASM 3 importer reads our output to the same unitary."""
    rng = np.random.default_rng(11)
    for _ in range(6):
        c = random_library_circuit(rng, n=4, depth=25)
        qc = qiskit.qasm3.loads(to_qasm(c))
        np.testing.assert_allclose(qk_unitary(qc), qb_unitary(c), atol=ATOL)
    a, b = Parameter("a"), Parameter("b")
    c = random_library_circuit(rng, n=3, depth=25, params=[a, b])
    qc = qiskit.qasm3.loads(to_qasm(c))
    values = {"a": 0.37, "b": -1.4}
    bound = qc.assign_parameters({p: values[p.name] for p in qc.parameters})
    np.testing.assert_allclose(qk_unitary(bound), qb_unitary(c, values), atol=ATOL)


def test_one_qubit_unitary_is_exported_as_U_with_phase():
    rng = np.random.default_rng(2)
    m = np.linalg.qr(rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2)))[0]
    c = Circuit(2).h(0).unitary(m, 1).cx(0, 1)
    back = from_qasm(to_qasm(c))
    assert back.count_ops() == {"h": 1, "u": 1, "cx": 1}
    np.testing.assert_allclose(qb_unitary(back), qb_unitary(c), atol=1e-12)


def test_bigger_unitary_and_runtime_encoding_are_refused():
    with pytest.raises(UnsupportedFeatureError, match="2-qubit unitary"):
        to_qasm(Circuit(2).unitary(np.eye(4), [0, 1]))
    with pytest.raises(UnsupportedFeatureError, match="run-time input 'pixels'"):
        to_qasm(Circuit(2).amplitude_encode("pixels").cx(0, 1))
    with pytest.raises(ValueError, match="OpenQASM 2 export"):
        to_qasm(Circuit(1), version=2)


def test_fixed_amplitude_encoding_is_exported_as_state_preparation():
    vec = np.array([0.3, -0.2j, 0.5 + 0.1j, 0.0, 0.7, 0.1, -0.4, 0.2j])
    c = Circuit(4).amplitude_encode(vec, [1, 2, 3]).h(0)
    back = from_qasm(to_qasm(c))
    assert "amplitude_encode" not in back.count_ops()
    state = simulate(back, None, dtype=torch.complex128).reshape(-1).numpy()
    want = np.kron(np.array([1, 1]) / math.sqrt(2), vec / np.linalg.norm(vec))
    np.testing.assert_allclose(state, want, atol=1e-12)


# -- import of programs written by Qiskit ----------------------------------------------------

def random_qiskit_circuit(rng, n=4, depth=30, params=()):
    qc = QuantumCircuit(n)

    def angle():
        if params and rng.random() < 0.4:
            p = params[rng.integers(len(params))]
            return float(rng.uniform(-2, 2)) * p + float(rng.uniform(-1, 1))
        return float(rng.uniform(-6, 6))

    sub = QuantumCircuit(2, name="block")  # a custom gate, exported as a definition
    sub.sx(0)
    sub.rzz(0.4, 0, 1)
    sub.cry(-0.3, 1, 0)
    sub.sxdg(1)
    block = sub.to_gate()
    makers = [
        lambda: (qlib.SXGate(), 1), lambda: (qlib.SXdgGate(), 1), lambda: (qlib.HGate(), 1),
        lambda: (qlib.SGate(), 1), lambda: (qlib.TdgGate(), 1), lambda: (qlib.YGate(), 1),
        lambda: (qlib.RXGate(angle()), 1), lambda: (qlib.RYGate(angle()), 1),
        lambda: (qlib.RZGate(angle()), 1), lambda: (qlib.PhaseGate(angle()), 1),
        lambda: (qlib.UGate(angle(), angle(), angle()), 1), lambda: (qlib.U1Gate(angle()), 1),
        lambda: (qlib.U2Gate(angle(), angle()), 1), lambda: (qlib.U3Gate(angle(), angle(), angle()), 1),
        lambda: (qlib.RGate(angle(), angle()), 1),
        lambda: (qlib.CXGate(), 2), lambda: (qlib.CZGate(), 2), lambda: (qlib.CYGate(), 2),
        lambda: (qlib.CHGate(), 2), lambda: (qlib.SwapGate(), 2), lambda: (qlib.iSwapGate(), 2),
        lambda: (qlib.DCXGate(), 2), lambda: (qlib.CSGate(), 2), lambda: (qlib.CSXGate(), 2),
        lambda: (qlib.RZZGate(angle()), 2), lambda: (qlib.RXXGate(angle()), 2),
        lambda: (qlib.RYYGate(angle()), 2), lambda: (qlib.RZXGate(angle()), 2),
        lambda: (qlib.CRXGate(angle()), 2), lambda: (qlib.CRYGate(angle()), 2),
        lambda: (qlib.CRZGate(angle()), 2), lambda: (qlib.CPhaseGate(angle()), 2),
        lambda: (qlib.CUGate(angle(), angle(), angle(), angle()), 2),
        lambda: (qlib.XXPlusYYGate(angle(), angle()), 2), lambda: (block, 2),
        lambda: (qlib.CCXGate(), 3), lambda: (qlib.CSwapGate(), 3), lambda: (qlib.RCCXGate(), 3),
    ]
    for _ in range(depth):
        gate, k = makers[rng.integers(len(makers))]()
        qc.append(gate, [int(q) for q in rng.choice(n, k, replace=False)])
    return qc


def test_qiskit_exported_programs_import_to_the_same_unitary():
    rng = np.random.default_rng(1234)
    for _ in range(12):
        qc = random_qiskit_circuit(rng)
        c = from_qasm(qiskit.qasm3.dumps(qc))
        np.testing.assert_allclose(qb_unitary(c), qk_unitary(qc), atol=ATOL)


def test_qiskit_random_circuits_through_both_exporters():
    """Qiskit's random_circuit draws from its whole standard library (c3sx, rcccx, cu, ...)."""
    from qiskit.circuit.random import random_circuit

    checked = 0
    for seed in range(24):
        qc = random_circuit(4, 4, seed=seed, max_operands=4)
        if "ecr" in qc.count_ops():  # exported without its phase; see the lossy test below
            continue
        qc.global_phase = 0.0  # Qiskit's exporters do not write the circuit's global phase
        for dumps in (qiskit.qasm3.dumps, qiskit.qasm2.dumps):
            c = from_qasm(dumps(qc))
            np.testing.assert_allclose(qb_unitary(c), qk_unitary(qc), atol=ATOL)
            checked += 1
    assert checked >= 36


def test_qiskit_parametrised_program_imports_linear_expressions():
    rng = np.random.default_rng(99)
    a, b = QkParameter("a"), QkParameter("b")
    qc = random_qiskit_circuit(rng, n=3, depth=30, params=[a, b])
    text = qiskit.qasm3.dumps(qc)
    c = from_qasm(text)
    assert set(c.parameter_names) == {"a", "b"}
    for values in ({"a": 0.3, "b": -0.8}, {"a": -2.1, "b": 1.7}):
        bound = qc.assign_parameters({a: values["a"], b: values["b"]})
        np.testing.assert_allclose(qb_unitary(c, values), qk_unitary(bound), atol=ATOL)


def test_qiskit_definitions_of_library_gates_map_back_by_name():
    qc = QuantumCircuit(3)
    qc.sxdg(0)
    qc.rzz(0.3, 0, 1)
    qc.rxx(-0.2, 1, 2)
    qc.ryy(1.1, 0, 2)
    qc.u(0.1, 0.2, 0.3, 1)
    text = qiskit.qasm3.dumps(qc)
    assert "gate sxdg" in text and "gate ryy" in text  # Qiskit writes definitions for these
    c = from_qasm(text)
    assert c == Circuit(3).sxdg(0).rzz(0, 1, 0.3).rxx(1, 2, -0.2).ryy(0, 2, 1.1).u(1, 0.1, 0.2, 0.3)
    # Qiskit's sxdg body (s h s) differs from sxdg by a phase; the name carries it
    np.testing.assert_allclose(qb_unitary(c), qk_unitary(qc), atol=ATOL)


def test_qiskit_measurements_and_registers():
    from qiskit.circuit import ClassicalRegister, QuantumRegister

    qa, qb = QuantumRegister(2, "qa"), QuantumRegister(3, "qb")
    ca, cb = ClassicalRegister(2, "ca"), ClassicalRegister(2, "cb")
    qc = QuantumCircuit(qa, qb, ca, cb)
    qc.h(qa[0])
    qc.cx(qa[0], qb[2])
    qc.measure(qb[2], ca[0])
    qc.measure(qa[1], cb[1])
    qc.measure(qa[0], ca[1])
    c = from_qasm(qiskit.qasm3.dumps(qc))
    assert c.num_qubits == 5
    assert c.measured_qubits == (4, 0, 1)  # by classical bit: ca[0], ca[1], cb[1]
    np.testing.assert_allclose(qb_unitary(c), qk_unitary(qc), atol=ATOL)


def test_lossy_qiskit_definitions_still_match_up_to_phase():
    """Qiskit's exporter drops the global phase of definitions (ecr) and of the circuit."""
    qc = QuantumCircuit(2, global_phase=0.4)
    qc.ecr(0, 1)
    c = from_qasm(qiskit.qasm3.dumps(qc))
    u, ref = qb_unitary(c), qk_unitary(qc)
    i, j = np.unravel_index(np.argmax(np.abs(ref)), ref.shape)
    ratio = ref[i, j] / u[i, j]
    assert abs(abs(ratio) - 1) < ATOL and abs(ratio - 1) > 0.1  # a real phase difference
    np.testing.assert_allclose(u * ratio, ref, atol=ATOL)


# -- hand-written OpenQASM 3 -----------------------------------------------------------------

def test_gphase_inside_definitions_is_tracked():
    prog = """OPENQASM 3.0;
include "stdgates.inc";
gate my_gate(a) c, t { gphase(a / 2); ctrl @ x c, t; }
gate outer(b) c, t { my_gate(b) t, c; ctrl @ inv @ gphase(b) c; gphase(-pi/8); }
qubit[3] q;
my_gate(0.3) q[0], q[1];
outer(0.7) q[2], q[0];
"""
    c = from_qasm(prog)
    assert math.isclose(c.global_phase, 0.15 + 0.35 - math.pi / 8)
    np.testing.assert_allclose(qb_unitary(c), qk_unitary(qiskit.qasm3.loads(prog)), atol=ATOL)
    # by hand: my_gate(a) = e^{ia/2} CX, so outer(0.7) on (q2, q0) = e^{i(0.35 - pi/8)} CX(q0 -> q2) P(-0.7) on q2
    cx01 = gate_matrix("cx")
    want_first = np.exp(0.15j) * np.kron(cx01, np.eye(2))
    got = from_qasm(prog.replace("outer(0.7) q[2], q[0];\n", ""))
    np.testing.assert_allclose(qb_unitary(got), want_first, atol=1e-12)


@pytest.mark.parametrize(
    "line",
    [
        "inv @ s q[0];", "pow(2) @ t q[1];", "pow(-3) @ sx q[2];", "ctrl @ h q[0], q[1];",
        "ctrl(2) @ x q[0], q[1], q[2];", "negctrl @ rx(0.3) q[2], q[0];",
        "inv @ ctrl @ u3(0.1, 0.2, 0.3) q[1], q[2];", "ctrl @ ctrl @ rz(0.4) q[0], q[2], q[1];",
        "cu(0.1, 0.2, 0.3, 0.4) q[1], q[0];", "u2(0.5, 0.6) q[0];", "u3(0.5, 0.6, -0.2) q[0];",
        "U(0.1, 0.2, 0.3) q[1];", "CX q[0], q[2];", "cphase(0.3) q[0], q[1];", "phase(0.2) q[2];",
        "id q[0];", "u1(0.3) q[1];", "gphase(0.3);", "ctrl @ gphase(0.4) q[1];",
        "ctrl @ sx q[0], q[1];", "ctrl @ ccx q[0], q[1], q[2], q[3];", "negctrl(2) @ swap q[3], q[0], q[1], q[2];",
        "ctrl @ U(0.3, -0.2, 0.9) q[3], q[1];", "inv @ pow(2) @ ctrl @ p(0.3) q[0], q[1];",
        "h q; cx q[0:1], q[2:3]; rz(0.1) q[{0, 3}]; x q[-1];",
    ],
)
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # inside Qiskit's importer
def test_stdgates_and_modifiers_match_qiskit_importer(line):
    prog = f'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[4] q;\n{line}\n'
    np.testing.assert_allclose(
        qb_unitary(from_qasm(prog)), qk_unitary(qiskit.qasm3.loads(prog)), atol=ATOL
    )


def test_controlled_user_gate_is_built_exactly():
    prog = """OPENQASM 3.0;
include "stdgates.inc";
gate g(a) x, y { rzz(a) x, y; sx x; gphase(0.25); }
gate rzz(t) a, b { cx a, b; rz(t) b; cx a, b; }
qubit[3] q;
ctrl @ g(0.8) q[2], q[0], q[1];
"""
    with pytest.raises(QasmError, match="unknown gate 'rzz'"):
        from_qasm(prog)  # used before it is defined
    prog = prog.replace("gate g(a)", "gate rzz(t) a, b { cx a, b; rz(t) b; cx a, b; }\ngate g(a)", 1)
    prog = prog.replace("gate rzz(t) a, b { cx a, b; rz(t) b; cx a, b; }\nqubit", "qubit")
    c = from_qasm(prog)
    inner = Circuit(2).rzz(0, 1, 0.8).sx(0).with_global_phase(0.25)
    want = np.eye(8, dtype=complex)
    # control q2 (least significant of the three): the block where q2 = 1 gets the gate on (q0, q1)
    u = qb_unitary(inner)
    idx1 = [i for i in range(8) if i & 1]
    want[np.ix_(idx1, idx1)] = u
    np.testing.assert_allclose(qb_unitary(c), want, atol=1e-12)


def test_registers_are_flattened_in_declaration_order():
    prog = """OPENQASM 3.0;
include "stdgates.inc";
qubit[2] a;
qubit b;
qreg c[2];
bit[2] m;
creg n[3];
x a[1];
cx b, c[0];
h c;
m[1] = measure c[1];
n[0] = measure a[0];
"""
    c = from_qasm(prog)
    assert c.num_qubits == 5
    assert c.instructions[:4] == (
        Circuit(5).x(1).cx(2, 3).h(3).h(4).instructions
    )
    assert c.measured_qubits == (4, 0)  # m[1] is bit 1, n[0] is bit 2


def test_hardware_qubits():
    c = from_qasm('OPENQASM 3.0;\ninclude "stdgates.inc";\nh $2;\ncx $2, $0;\n')
    assert c == Circuit(3).h(2).cx(2, 0)


def test_expressions_constants_and_linear_parameters():
    prog = """OPENQASM 3.0;
include "stdgates.inc";
input float[64] theta;
input angle[32] phi;
const float k = 2 * π / 3;
qubit[1] q;
rx(pi/2 + tau - euler) q[0];
ry(sin(0.5) ** 2 + cos(0.5) ** 2 + ln(exp(1.5)) + sqrt(4) + arctan(1) - k % 2) q[0];
rz(-(theta - 2*phi)/4 + k) q[0];
p(3 * (theta + 1) - theta / 2 + 0.0 * phi) q[0];
u1(float[64](1)) q[0];
"""
    c = from_qasm(prog)
    ops = c.instructions
    k = 2 * math.pi / 3
    assert ops[0].params[0] == pytest.approx(math.pi / 2 + 2 * math.pi - math.e, abs=1e-15)
    assert ops[1].params[0] == pytest.approx(1 + 1.5 + 2 + math.pi / 4 - math.fmod(k, 2), abs=1e-14)
    theta, phi = Parameter("theta"), Parameter("phi")
    assert ops[2].params[0] == -0.25 * theta + 0.5 * phi + k
    assert ops[3].params[0] == 2.5 * theta + 3.0
    assert ops[4].params[0] == 1.0
    assert c.parameter_names == ("theta", "phi")


def test_openqasm2_programs():
    prog = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[3];
creg c[3];
U(0.1,0.2,0.3) q[0];
CX q[0],q[1];
u3(pi/2,-0.5,2^2) q[2];
u2(0.1,0.2) q[1];
u1(-0.3) q[0];
cu1(0.4) q[0],q[2];
cu3(0.3,0.2,0.1) q[1],q[2];
csx q[2],q[0];
rccx q[0],q[1],q[2];
rxx(0.2) q[0],q[1];
rzz(0.7) q[1],q[2];
u0(1) q[0];
h q;
barrier q;
measure q -> c;
"""
    c = from_qasm(prog)
    qc = qiskit.qasm2.loads(prog, custom_instructions=qiskit.qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
    np.testing.assert_allclose(qb_unitary(c), qk_unitary(qc), atol=ATOL)
    assert c.instructions[-1].name == "measure" and c.measured_qubits == (0, 1, 2)
    assert c.instructions[-2].name == "barrier"


def test_openqasm2_four_qubit_gates_match_qiskit():
    prog = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[5];
h q;
c3x q[0],q[1],q[2],q[3];
rc3x q[3],q[1],q[0],q[4];
c3sqrtx q[4],q[2],q[0],q[1];
c4x q[0],q[1],q[2],q[3],q[4];
"""
    qc = qiskit.qasm2.loads(prog, custom_instructions=qiskit.qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
    np.testing.assert_allclose(qb_unitary(from_qasm(prog)), qk_unitary(qc), atol=ATOL)


def test_qiskit_qasm2_exports_import():
    rng = np.random.default_rng(77)
    for _ in range(6):
        qc = QuantumCircuit(4)
        for _ in range(25):
            choice = rng.integers(11)
            qs = [int(q) for q in rng.choice(4, 3, replace=False)]
            ang = [float(v) for v in rng.uniform(-4, 4, 4)]
            [lambda: qc.sx(qs[0]), lambda: qc.sxdg(qs[0]), lambda: qc.rzz(ang[0], *qs[:2]),
             lambda: qc.ryy(ang[0], *qs[:2]), lambda: qc.cu(*ang, *qs[:2]),
             lambda: qc.append(qlib.U2Gate(*ang[:2]), qs[:1]), lambda: qc.csx(*qs[:2]),
             lambda: qc.append(qlib.CU3Gate(*ang[:3]), qs[:2]), lambda: qc.ccx(*qs),
             lambda: qc.crx(ang[0], *qs[:2]), lambda: qc.iswap(*qs[:2])][choice]()
        qc.measure_all()
        c = from_qasm(qiskit.qasm2.dumps(qc))
        np.testing.assert_allclose(qb_unitary(c), qk_unitary(qc), atol=ATOL)
        assert c.measured_qubits == (0, 1, 2, 3)


def test_unused_pragmas_and_annotations_are_ignored():
    prog = 'OPENQASM 3.0;\npragma qbridge anything\ninclude "stdgates.inc";\nqubit[1] q;\n@foo bar\nh q[0];\n'
    assert from_qasm(prog) == Circuit(1).h(0)


# -- malformed programs ----------------------------------------------------------------------

HEADER = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[3] q;\n'  # lines 1-3

MALFORMED = [
    # (program, exception type, line, key word of the message)
    (HEADER + "h q[0]\nx q[1];\n", QasmError, 5, "syntax"),
    (HEADER + "foo q[0];\n", QasmError, 4, "unknown gate 'foo'"),
    (HEADER + "h q[0];\ncx q[0];\n", QasmError, 5, "acts on 2 qubit"),
    (HEADER + "rx q[0];\n", QasmError, 4, "takes 1 parameter"),
    (HEADER + "rx(0.1, 0.2) q[0];\n", QasmError, 4, "takes 1 parameter"),
    (HEADER + "\nh q[3];\n", QasmError, 5, "out of range"),
    (HEADER + "rx(theta) q[0];\n", QasmError, 4, "undefined identifier 'theta'"),
    (HEADER + "input float[64] w;\nrx(w * w) q[0];\n", QasmError, 5, "non-linear"),
    (HEADER + "input float[64] w;\nry(sin(w)) q[1];\n", QasmError, 5, "non-linear"),
    (HEADER + "input float[64] w;\nrz(1 / w) q[1];\n", QasmError, 5, "non-linear"),
    (HEADER + "bit[3] c;\nc[0] = measure q[0];\nh q[0];\n", QasmUnsupportedError, 6, "mid-circuit"),
    (HEADER + "bit[3] c;\nc[0] = measure q[0];\nc[1] = measure q[0];\n", QasmUnsupportedError, 6, "measured twice"),
    (HEADER + "bit[3] c;\nc[0] = measure q[0];\nif (c[0]) x q[1];\n", QasmUnsupportedError, 6, "classical control"),
    (HEADER + "reset q[0];\n", QasmUnsupportedError, 4, "reset"),
    (HEADER + "for int i in [0:2] { h q[i]; }\n", QasmUnsupportedError, 4, "loops"),
    (HEADER + "while (true) { h q[0]; }\n", QasmUnsupportedError, 4, "loops"),
    (HEADER + "h r[0];\n", QasmError, 4, "undeclared qubit register 'r'"),
    (HEADER + "bit[1] c;\nc[0] = measure q[0];\nd[0] = measure q[1];\n", QasmError, 6, "undeclared bit register 'd'"),
    (HEADER + "qubit[2] q;\n", QasmError, 4, "redefinition of 'q'"),
    (HEADER + "gate h a { x a; }\n", QasmError, 4, "redefinition of gate 'h'"),
    (HEADER + "gate g a { x a; }\ngate g a { y a; }\n", QasmError, 5, "redefinition of gate 'g'"),
    ("OPENQASM 3.0;\nqubit[1] q;\nh q[0];\n", QasmError, 3, 'include "stdgates.inc"'),
    (HEADER + "cx q[1], q[1];\n", QasmError, 4, "same qubit"),
    (HEADER + "gate g(a) x { rx(a) y; }\n", QasmError, 4, "not one of its arguments"),
    (HEADER + "input float[64] w;\ngate g(a) x { rx(a * a) x; }\ng(w) q[0];\n", QasmError, 5, "non-linear"),
    (HEADER + "input float[64] w;\npow(w) @ x q[0];\n", QasmUnsupportedError, 5, "constant exponent"),
    (HEADER + "input int[32] n;\n", QasmUnsupportedError, 4, "input float"),
    (HEADER + "def f(qubit a) { h a; }\n", QasmUnsupportedError, 4, "subroutines"),
    (HEADER + 'include "mygates.inc";\n', QasmError, 4, "cannot include"),
    ("OPENQASM 4.0;\nqubit[1] q;\n", QasmError, 1, "version"),
    ("OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\nopaque magic a;\nmagic q[0];\n", QasmError, 4, "opaque"),
    ("OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\ncreg c[2];\nif(c==1) x q[0];\n", QasmUnsupportedError, 5, "classical control"),
    (HEADER + "rx(1/0) q[0];\n", QasmError, 4, "division by zero"),
    (HEADER + "rx(arccos(2)) q[0];\n", QasmError, 4, "undefined"),
    ("OPENQASM 3.0;\n", QasmError, None, "no qubits"),
    (HEADER + "x q[0:1], q;\n", QasmError, 4, "different sizes"),
    (HEADER + "input float[64] θ;\n", QasmError, 4, "cannot be a qbridge parameter"),
    (HEADER + "bit[2] c;\nc[0] = measure q;\n", QasmError, 5, "into 1 bit"),
]


@pytest.mark.parametrize("program, exc_type, line, word", MALFORMED)
def test_malformed_programs_are_rejected_with_line_and_reason(program, exc_type, line, word):
    with pytest.raises(exc_type) as info:
        from_qasm(program)
    err = info.value
    assert isinstance(err, QasmError)  # QasmUnsupportedError is both
    assert err.line == line
    assert word in str(err)
    if line is not None:
        assert f"line {line}" in str(err)


def test_unsupported_errors_are_unsupported_feature_errors():
    with pytest.raises(UnsupportedFeatureError):
        from_qasm(HEADER + "reset q[0];\n")


def test_from_qasm_wants_text():
    with pytest.raises(TypeError):
        from_qasm(b"OPENQASM 3.0;")
