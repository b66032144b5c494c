"""qbridge <-> Qiskit conversion: unitaries, parameters, measurement order, bit order, templates.

References are independent: Qiskit's own ``Operator``/``Statevector`` for the converted circuit,
qbridge's torch simulator for the original one.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

qiskit = pytest.importorskip("qiskit")

from qiskit import QuantumCircuit  # noqa: E402
from qiskit.circuit import Parameter as QkParameter  # noqa: E402
from qiskit.circuit import ParameterVector  # noqa: E402
from qiskit.circuit import library as qlib  # noqa: E402
from qiskit.quantum_info import Operator, Statevector, random_unitary  # noqa: E402

from qbridge import Circuit, Parameter, PauliSum  # noqa: E402
from qbridge.exceptions import EncodingError, ParameterError, UnsupportedFeatureError  # noqa: E402
from qbridge.interop import qiskit as qk  # noqa: E402
from qbridge.ir.gates import GATES  # noqa: E402
from qbridge.sim import statevector as sv  # noqa: E402

import torch  # noqa: E402


def qiskit_unitary(qc: QuantumCircuit) -> np.ndarray:
    """Qiskit's unitary in qbridge's order (qubit 0 most significant)."""
    return Operator(qc.remove_final_measurements(inplace=False)).reverse_qargs().data


def qbridge_unitary(c: Circuit, values=None) -> np.ndarray:
    u = sv.circuit_unitary(c, values)
    return np.asarray(u[0] if getattr(u, "ndim", 2) == 3 else u)


def qbridge_state(c: Circuit, values=None, inputs=None) -> np.ndarray:
    return sv.simulate(c, values, inputs, dtype=torch.complex128).numpy()


def test_mapping_covers_the_gate_library():
    assert set(qk.GATE_CLASSES) == set(GATES)


@pytest.mark.parametrize("name", sorted(GATES))
def test_every_gate_matches_its_qiskit_unitary(name):
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    g = GATES[name]
    # reversed, non-adjacent qubits: catches both endianness and argument-order mistakes
    qubits = [3, 0, 2][: g.num_qubits]
    params = list(rng.uniform(-math.pi, math.pi, g.num_params))
    c = Circuit(4).h(1).append(name, qubits, params)
    qc = qk.to_qiskit(c)
    assert qc.data[-1].operation.name == name
    np.testing.assert_allclose(qiskit_unitary(qc), qbridge_unitary(c), atol=1e-12)
    back = qk.from_qiskit(qc)
    assert back == c


def test_unitary_gate_and_global_phase():
    u3 = random_unitary(8, seed=5).data
    u1 = random_unitary(2, seed=6).data
    c = Circuit(4).unitary(u3, [3, 0, 2]).unitary(u1, 1).with_global_phase(0.37)
    qc = qk.to_qiskit(c)
    np.testing.assert_allclose(qiskit_unitary(qc), qbridge_unitary(c), atol=1e-12)
    back = qk.from_qiskit(qc)
    assert [op.name for op in back] == ["unitary", "unitary"]
    np.testing.assert_allclose(qbridge_unitary(back), qbridge_unitary(c), atol=1e-12)


def test_parameters_keep_names_and_expressions():
    a, b = Parameter("a"), Parameter("b")
    c = Circuit(3).ry(0, 0.5 * a + 1.0).crz(2, 0, b - a).rzz(1, 2, 2 * b).with_global_phase(0.3 * a)
    qc = qk.to_qiskit(c)
    assert sorted(p.name for p in qc.parameters) == ["a", "b"]
    vals = {"a": 0.41, "b": -1.3}
    bound = qc.assign_parameters({p: vals[p.name] for p in qc.parameters})
    np.testing.assert_allclose(qiskit_unitary(bound), qbridge_unitary(c.bind(vals)), atol=1e-12)
    back = qk.from_qiskit(qc)
    assert back == c  # linear expressions survive exactly (coefficients and constants)


def test_round_trip_with_measurements_keeps_classical_order():
    c = Circuit(3).h(0).cx(0, 2).x(1).measure([2, 0])
    qc = qk.to_qiskit(c)
    # measured_qubits[k] -> classical bit k
    meas = [(qc.find_bit(ci.qubits[0]).index, qc.find_bit(ci.clbits[0]).index)
            for ci in qc.data if ci.operation.name == "measure"]
    assert meas == [(2, 0), (0, 1)]
    back = qk.from_qiskit(qc)
    assert back.measured_qubits == (2, 0)
    assert back == c


def test_amplitude_encode_fixed_vector_round_trip():
    rng = np.random.default_rng(3)
    vec = rng.normal(size=4) + 1j * rng.normal(size=4)
    c = Circuit(3).x(1).amplitude_encode(vec, qubits=[2, 0]).cx(0, 1)
    qc = qk.to_qiskit(c)
    np.testing.assert_allclose(Statevector(qc).reverse_qargs().data, qbridge_state(c)[0], atol=1e-10)
    back = qk.from_qiskit(qc)
    assert back.instructions[1].name == "amplitude_encode" and back.instructions[1].qubits == (2, 0)
    np.testing.assert_allclose(qbridge_state(back)[0], qbridge_state(c)[0], atol=1e-12)


def test_run_time_input_needs_a_value():
    c = Circuit(2).amplitude_encode("x")
    with pytest.raises(EncodingError, match="inputs="):
        qk.to_qiskit(c)
    qc = qk.to_qiskit(c, inputs={"x": [1.0, 2.0, 0.0, 1.0]})
    np.testing.assert_allclose(
        Statevector(qc).reverse_qargs().data, np.array([1, 2, 0, 1]) / math.sqrt(6), atol=1e-12
    )


def test_from_qiskit_native_circuit_with_aliases_and_definitions():
    theta = ParameterVector("θ", 3)
    qc = QuantumCircuit(4)
    qc.append(qlib.U2Gate(0.3, -0.7), [0])
    qc.append(qlib.U3Gate(theta[0], 0.2, 0.1), [1])
    qc.append(qlib.U1Gate(theta[1]), [2])
    qc.append(qlib.CU1Gate(0.9), [3, 1])
    qc.rzx(theta[2], 0, 3)  # expanded through its definition
    qc.ecr(2, 1)
    qc.iswap(0, 2)
    qc.mcx([0, 1, 2], 3)
    qc.append(qlib.GlobalPhaseGate(0.25), [])
    qc.global_phase = 0.1
    c = qk.from_qiskit(qc)
    assert set(c.parameter_names) == {"theta_0", "theta_1", "theta_2"}
    vals = {"theta_0": 0.7, "theta_1": -0.2, "theta_2": 1.9}
    bound = qc.assign_parameters({theta[i]: vals[f"theta_{i}"] for i in range(3)})
    np.testing.assert_allclose(qbridge_unitary(c.bind(vals)), qiskit_unitary(bound), atol=1e-10)


def test_from_qiskit_refusals():
    a = QkParameter("a")
    qc = QuantumCircuit(1)
    qc.rx(a * a, 0)
    with pytest.raises(ParameterError, match="not linear"):
        qk.from_qiskit(qc)
    qc = QuantumCircuit(2, 2)
    qc.measure(0, 0)
    qc.x(0)
    with pytest.raises(UnsupportedFeatureError, match="mid-circuit"):
        qk.from_qiskit(qc)
    qc = QuantumCircuit(1, 1)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(0)
    with pytest.raises(UnsupportedFeatureError, match="control flow"):
        qk.from_qiskit(qc)
    with pytest.raises(TypeError):
        qk.from_qiskit("OPENQASM 3;")


def test_parameter_names_are_sanitised_and_collisions_refused():
    assert qk.qbridge_parameter_name("θ[12]") == "theta_12"
    assert qk.qbridge_parameter_name("1x") == "p_1x"
    assert qk.qbridge_parameter_name("input") == "input_"
    qc = QuantumCircuit(1)
    qc.rx(QkParameter("a-b"), 0)
    qc.ry(QkParameter("a_b"), 0)
    with pytest.raises(ParameterError, match="rename"):
        qk.from_qiskit(qc)


def test_bit_order_helpers():
    qc = QuantumCircuit(3)
    qc.x(0)  # qubit 0 set: qbridge bitstring '100', Qiskit key '001'
    probs_qiskit = Statevector(qc).probabilities()
    assert np.argmax(probs_qiskit) == 1
    probs = qk.reverse_bits(probs_qiskit, 3)
    assert np.argmax(probs) == 4
    np.testing.assert_array_equal(qk.reverse_bits(probs, 3), probs_qiskit)
    batch = np.arange(16.0).reshape(2, 8)
    np.testing.assert_array_equal(qk.reverse_bits(qk.reverse_bits(batch, 3), 3), batch)
    assert qk.counts_from_qiskit({"001": 7, "0 11": 2}) == {"100": 7, "110": 2}


def test_pauli_sum_conversion_matches_expectations():
    c = Circuit(3).ry(0, 0.3).rx(1, 1.1).cx(0, 2).rz(2, 0.4).h(1)
    obs = PauliSum.parse("0.5*ZXI - 1.2*IYZ + 0.3*XXX", 3)
    state = qbridge_state(c)
    expected = sv.expectation_values(torch.as_tensor(state), [obs]).numpy()[0, 0]
    qstate = Statevector(qk.to_qiskit(c))
    got = qstate.expectation_value(qk.pauli_sum_to_qiskit(obs)).real
    assert abs(got - expected) < 1e-12
    assert abs(expected) > 1e-3


@pytest.mark.parametrize("phases", [True, False])
def test_rotation_template_prepares_every_row(phases):
    rng = np.random.default_rng(21)
    theta = Parameter("theta")
    c = Circuit(4).h(1).amplitude_encode("x", qubits=[3, 0, 2]).cry(1, 0, theta).with_global_phase(0.5 * theta)
    B = 5
    if phases:
        x = rng.normal(size=(B, 7)) + 1j * rng.normal(size=(B, 7))  # padded to 8
    else:
        x = rng.uniform(0, 1, size=(B, 7))
        x[0, :3] = 0.0  # zero amplitudes: angles must still be right
    x[1] = 0.0
    x[1, 5] = 1.0  # a basis state
    tvals = rng.uniform(-2, 2, size=(B, 1))
    tmpl = qk.to_qiskit_template(c, encoding="rotations", phases=phases, global_phase=True)
    assert tmpl.encoding == "rotations" and len(tmpl.slots) == 1
    angles, extra_phase = tmpl.input_angles({"x": x}, B)
    ref = qbridge_state(c, tvals, {"x": x})
    for b in range(B):
        binds = {p: (tvals[b, 0] if p.name == "theta" else angles[p.name][b]) for p in tmpl.circuit.parameters}
        got = Statevector(tmpl.circuit.assign_parameters(binds)).reverse_qargs().data * np.exp(1j * extra_phase[b])
        np.testing.assert_allclose(got, ref[b], atol=1e-10)


def test_rotation_template_shape_does_not_depend_on_data():
    c = Circuit(3).amplitude_encode("x")
    t = qk.to_qiskit_template(c, encoding="rotations")
    assert t.circuit.num_parameters == 2 * (2**3 - 1)
    assert qk.needs_phases({"x": np.array([[0.1, 0.2]])}) is False
    assert qk.needs_phases({"x": np.array([[0.1, -0.2]])}) is True
    assert qk.needs_phases({"x": np.array([[0.1, 0.2j]])}) is True


def test_fake_backend_lookup():
    pytest.importorskip("qiskit_ibm_runtime")
    assert "fake_manila" in qk.fake_backend_names()
    assert qk.fake_backend("fake_manila").name == "fake_manila"
    assert qk.fake_backend("FakeManilaV2").name == "fake_manila"
    with pytest.raises(ValueError, match="Valid names: .*fake_manila"):
        qk.fake_backend("fake_manilla")


def test_import_qbridge_imports_no_qiskit():
    code = (
        "import sys, qbridge; qbridge.list_backends(); "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('qiskit', 'qiskit_aer', 'qiskit_ibm_runtime')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
