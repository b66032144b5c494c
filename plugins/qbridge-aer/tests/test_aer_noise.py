"""The ``aer`` backend with noise: exact density-matrix results and shots.

References: a hand-derived depolarizing probability, and Aer itself run the plain Qiskit way
(each row bound and converted separately, no batching, no templates) for the IBM fake-device
noise model.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("qiskit_aer")
pytest.importorskip("qiskit_ibm_runtime")

import qbridge  # noqa: E402
from qbridge import Circuit, Parameter, Task  # noqa: E402
from qbridge.exceptions import ValidationError  # noqa: E402


@pytest.fixture(scope="module")
def noisy():
    return qbridge.get_backend("aer", noise_backend="fake_manila")


def ghz(n: int) -> Circuit:
    c = Circuit(n).h(0)
    for q in range(n - 1):
        c = c.cx(q, q + 1)
    return c


def test_noisy_target(noisy):
    t = noisy.target
    assert t.noisy and t.supports_exact and t.supports_shots
    assert not t.supports_statevector
    assert t.num_qubits == 5  # fake_manila's qubits: the noise model says nothing beyond them


def test_depolarizing_noise_model_exact_value():
    from qiskit_aer.noise import NoiseModel, depolarizing_error

    p = 0.1
    model = NoiseModel()
    model.add_all_qubit_quantum_error(depolarizing_error(p, 1), ["x"])
    aer = qbridge.get_backend("aer", noise_model=model)
    probs = aer.run(Circuit(2).x(0), precision="double").result()[0].probabilities
    # rho -> (1 - p) rho + p I/2 on qubit 0: P(qubit 0 = 1) = 1 - p/2; qubit 1 untouched
    np.testing.assert_allclose(probs[0], [p / 2, 0, 1 - p / 2, 0], atol=1e-12)  # "00", "01", "10", "11"
    counts = aer.run(Circuit(2).x(0), shots=4000, seed=5).result()[0].counts[0]
    assert set(counts) <= {"00", "10"}
    assert abs(counts.get("00", 0) - 4000 * p / 2) <= 5 * math.sqrt(4000 * p / 2 * (1 - p / 2))


def test_ghz_fidelity_drops_and_probabilities_sum_to_one(noisy):
    res = noisy.run(Task(ghz(4), np.zeros((1, 0))), precision="double").result()[0]
    p = res.probabilities[0]
    assert abs(p.sum() - 1) < 1e-6
    fidelity = p[0] + p[-1]
    assert 0.7 < fidelity < 0.995  # noisy, yet recognisably GHZ
    assert abs(p[0] - p[-1]) < 0.1
    ideal = qbridge.get_backend("aer").run(ghz(4), precision="double").result()[0].probabilities[0]
    assert abs(ideal[0] + ideal[-1] - 1) < 1e-12
    shots = noisy.run(ghz(4), shots=4000, seed=3).result()[0].counts[0]
    top = sorted(shots, key=shots.get, reverse=True)[:2]
    assert set(top) == {"0000", "1111"}
    assert (shots["0000"] + shots["1111"]) / 4000 < 0.99  # readout errors on top of gate noise


def test_noisy_exact_refuses_statevector(noisy):
    with pytest.raises(ValidationError, match="state vector"):
        noisy.run(Task(ghz(2), statevector=True))


def test_noisy_batch_matches_plain_qiskit(noisy):
    """Batched, templated and bit-reversed results equal Aer run row by row the plain way."""
    from qiskit import transpile
    from qiskit_aer import AerSimulator
    from qiskit_aer.noise import NoiseModel

    from qbridge.interop import qiskit as qk

    rng = np.random.default_rng(9)
    a, b = Parameter("a"), Parameter("b")
    c = Circuit(3).amplitude_encode("x", qubits=[0, 2]).ry(1, a).cx(1, 0).crz(0, 2, b - a).rx(2, 0.5 * b)
    B = 4
    vals = rng.uniform(-2, 2, (B, 2))
    x = rng.normal(size=(B, 4))  # signed: needs the phase half of the encoding
    task = Task(c, vals, inputs={"x": x}, observables=("ZIZ", "XXY"))
    before = dict(noisy.stats)
    got = noisy.run(task, precision="double").result()[0]
    assert noisy.stats["runs"] == before["runs"] + 1
    assert noisy.stats["transpiles"] <= before["transpiles"] + 1

    sim = AerSimulator(method="density_matrix", noise_model=NoiseModel.from_backend(qk.fake_backend("fake_manila")))
    for r in range(B):
        qc = qk.to_qiskit(c.bind({"a": vals[r, 0], "b": vals[r, 1]}), inputs={"x": x[r]})
        qc = transpile(qc, sim, optimization_level=0)
        qc.save_probabilities(label="p")
        qc.save_expectation_value(qk.pauli_sum_to_qiskit(task.observables[0]), [0, 1, 2], label="e")
        data = sim.run(qc).result().data(0)
        ref_p = qk.reverse_bits(np.asarray(data["p"]), 3)
        # the noise depends on the gate sequence, which differs (template vs Qiskit's own state
        # preparation), so agreement is to the size of the noise, not to rounding
        assert np.abs(got.probabilities[r] - ref_p).max() < 0.03
        assert abs(got.expectation_values[r, 0] - float(np.real(data["e"]))) < 0.06
        assert abs(got.probabilities[r].sum() - 1) < 1e-6


def test_noisy_shots_method_choice():
    # a state-vector method under noise samples trajectories: shots only, declared so
    aer = qbridge.get_backend("aer", noise_backend="fake_manila", method="statevector")
    assert not aer.target.supports_exact
    with pytest.raises(ValidationError, match="shots"):
        aer.run(ghz(2))
    counts = aer.run(ghz(2), shots=2000, seed=4).result()[0].counts[0]
    assert counts.get("00", 0) + counts.get("11", 0) > 1700


def test_symbolic_u_under_a_noise_model_is_exact_and_quick(noisy):
    """Parametrised u gates under fake_manila's basis (rz, sx, x, cx) reach Qiskit already as
    rz sx rz sx rz: Qiskit's basis search took 0.07-55 s on this circuit depending on
    PYTHONHASHSEED. The noisy result equals that of the same circuit with the angles bound to
    numbers first (which Qiskit translates into the same gates: two sx per u)."""
    from qiskit import QuantumCircuit
    from qiskit.circuit import Parameter as QkParameter
    from qiskit.quantum_info import Operator

    from qbridge.interop.qiskit import expand_symbolic_u

    a, b, c = (QkParameter(s) for s in "abc")
    qc = QuantumCircuit(1, global_phase=0.3)
    qc.u(a, 2 * b - 1, c, 0)
    basis = ["rz", "sx", "x", "cx"]
    out = expand_symbolic_u(qc, basis)
    assert out.count_ops() == {"rz": 3, "sx": 2}
    rng = np.random.default_rng(0)
    for _ in range(5):
        vals = dict(zip((a, b, c), rng.uniform(-4, 4, 3)))
        assert Operator(out.assign_parameters(vals)).equiv(Operator(qc.assign_parameters(vals)))
        assert np.allclose(Operator(out.assign_parameters(vals)).data, Operator(qc.assign_parameters(vals)).data, atol=1e-12)
    assert expand_symbolic_u(qc, basis + ["u"]) is qc  # nothing to do where u is native
    assert expand_symbolic_u(qc, ["rz", "cx"]) is qc  # or where rz sx cannot express it

    ps = [Parameter(f"p{k}") for k in range(24)]
    circ = Circuit(3).h(0).cx(0, 1).cx(1, 2)
    for k in range(8):
        circ = circ.u(k % 3, ps[3 * k], ps[3 * k + 1], ps[3 * k + 2]).cx(k % 3, (k + 1) % 3)
    vals = rng.uniform(-3, 3, (2, len(ps)))
    got = np.asarray(noisy.run(Task(circ, vals)).result()[0].probabilities)
    for row in range(2):
        bound = Circuit(3)
        for op in circ:
            bound = bound.append(op.name, op.qubits, tuple(
                float(vals[row, int(p.name[1:])]) if isinstance(p, Parameter) else p for p in op.params))
        ref = np.asarray(noisy.run(Task(bound, None)).result()[0].probabilities)[0]
        assert np.allclose(got[row], ref, atol=1e-9)
    ideal = np.asarray(qbridge.get_backend("torch").run(Task(circ, vals), precision="double").result()[0].probabilities)
    assert 0.01 < np.abs(got - ideal).max() < 0.3  # the noise acts
