"""Pauli twirling: the twirled circuit IS the original unitary (global phase included), every
instance, every twirlable gate, symbolic parameters kept; the twirl group is derived, so it is
checked against hand-derived facts (Clifford gates admit all 16 frames, cx maps X_c to X_c X_t)."""

from __future__ import annotations

import numpy as np
import pytest

from qbridge import Circuit, Parameter
from qbridge.ir.gates import GATES, gate_matrix
from qbridge.mitigation.twirl import TwirlTemplate, twirl_circuit, twirl_instances, twirl_pairs, twirlable_gates

P1 = {"I": np.eye(2), "X": np.array([[0, 1], [1, 0]]), "Y": np.array([[0, -1j], [1j, 0]]), "Z": np.diag([1, -1])}


def pauli(word):
    return np.kron(P1[word[0]], P1[word[1]])


def test_clifford_gates_admit_all_sixteen_frames_and_rotations_their_commutant():
    for g in ("cx", "cz", "cy", "swap"):
        assert len(twirl_pairs(g)) == 16
    # rzz(theta) = exp(-i theta ZZ / 2): exactly the 8 Paulis commuting with ZZ, each mapped to itself
    pairs = twirl_pairs("rzz")
    assert {b for b, _, _ in pairs} == {"II", "ZZ", "IZ", "ZI", "XX", "YY", "XY", "YX"}
    assert all(b == a for b, a, _ in pairs)
    # hand-derived: CNOT conjugates X on the control into X on both, Z on the target into Z on both
    cx = {b: a for b, a, _ in twirl_pairs("cx")}
    assert cx["XI"] == "XX" and cx["IZ"] == "ZZ" and cx["IX"] == "IX" and cx["ZI"] == "ZI"
    assert set(twirlable_gates()) >= {"cx", "cz", "cy", "swap", "rzz", "rxx", "ryy", "cp", "crz"}
    assert "ccx" not in twirlable_gates() and twirl_pairs("h") == ()


@pytest.mark.parametrize("name", sorted(n for n in GATES if GATES[n].num_qubits == 2))
def test_every_frame_leaves_the_gate_unchanged_including_phase(name):
    gate = GATES[name]
    rng = np.random.default_rng(3)
    for before, after, phase in twirl_pairs(name):
        for _ in range(3 if gate.num_params else 1):
            ps = tuple(rng.uniform(-np.pi, np.pi, gate.num_params))
            u = gate_matrix(name, ps)
            lhs = pauli(after) @ u @ pauli(before)
            assert np.allclose(lhs, np.exp(1j * phase) * u, atol=1e-12), (name, before, after)


def _random_circuit(rng, n, depth, params=()):
    names = ["h", "s", "t", "rx", "ry", "rz", "cx", "cz", "cy", "swap", "rzz", "rxx", "cp", "crz", "ch", "ccx"]
    c = Circuit(n, global_phase=0.3)
    for _ in range(depth):
        g = GATES[names[int(rng.integers(len(names)))]]
        if g.num_qubits > n:
            continue
        qs = [int(q) for q in rng.choice(n, g.num_qubits, replace=False)]
        ps = [params[int(rng.integers(len(params)))] * 0.7 + 0.1 if params and rng.random() < 0.5
              else float(rng.uniform(-3, 3)) for _ in range(g.num_params)]
        c = c.append(g.name, qs, ps)
    return c


def test_twirled_random_circuits_equal_the_original_unitary_exactly():
    rng = np.random.default_rng(11)
    for trial in range(12):
        n = int(rng.integers(2, 5))
        c = _random_circuit(rng, n, 25)
        u = c.to_matrix()
        for inst in twirl_instances(c, 3, seed=trial):
            assert inst.num_qubits == n and len(inst) >= len(c)
            assert np.allclose(inst.to_matrix(), u, atol=1e-10)


def test_twirling_adds_paulis_around_two_qubit_gates_only_and_is_seeded():
    c = Circuit(3).h(0).cx(0, 1).rz(2, 0.4).cz(1, 2).ccx(0, 1, 2)
    a = twirl_circuit(c, 5)
    b = twirl_circuit(c, 5)
    assert a == b  # same seed, same instance
    insts = twirl_instances(c, 20, seed=1)
    assert len({i for i in insts}) > 5  # random frames differ between instances
    for inst in insts:
        names = [op.name for op in inst]
        assert names.count("ccx") == 1 and names.count("h") == 1  # untouched
        extra = [op for op in inst if op.name in ("x", "y", "z")]
        assert all(len(op.qubits) == 1 for op in extra)


def test_only_the_named_gates_are_twirled_and_bad_names_are_refused():
    c = Circuit(2).cx(0, 1).cz(0, 1)
    for inst in twirl_instances(c, 10, seed=2, gates=["cz"]):
        ops = [op.name for op in inst]
        assert ops.index("cx") == 0  # nothing before the cx
    with pytest.raises(ValueError, match="cannot twirl"):
        twirl_circuit(c, 0, gates=["h"])
    with pytest.raises(ValueError, match="positive integer"):
        twirl_instances(c, 0)


def test_symbolic_parameters_stay_symbolic():
    th, ph = Parameter("th"), Parameter("ph")
    c = Circuit(2).ry(0, th).cx(0, 1).rzz(0, 1, 2 * ph).crz(1, 0, th - ph)
    for inst in twirl_instances(c, 5, seed=4):
        assert set(inst.parameter_names) == {"th", "ph"}
        vals = {"th": 0.71, "ph": -1.3}
        assert np.allclose(inst.bind(vals).to_matrix(), c.bind(vals).to_matrix(), atol=1e-10)


def test_parametric_template_reproduces_each_instance_up_to_phase():
    th = Parameter("th")
    c = Circuit(3).h(0).cx(0, 1).ry(2, th).rzz(1, 2, 0.8).swap(0, 2).measure_all()
    tpl = TwirlTemplate(c)
    assert tpl.slots == ["cx", "rzz", "swap"] and len(tpl.names) == 3 * 8
    assert tpl.circuit.measured_qubits == (0, 1, 2)
    frames = tpl.frames(6, rng=9)
    assert frames.shape == (6, 24)
    assert {op.name for op in tpl.circuit} - {op.name for op in c} == {"sx", "rz"}  # IBM's native 1q basis
    u = c.bind({"th": 0.4}).to_matrix()
    for row in frames:
        v = tpl.circuit.bind({"th": 0.4, **dict(zip(tpl.names, row))}).to_matrix()
        overlap = np.vdot(u.ravel(), v.ravel()) / u.shape[0]
        assert abs(abs(overlap) - 1) < 1e-10 and np.allclose(v, overlap * u, atol=1e-10)
    with pytest.raises(ValueError, match="reserved"):
        TwirlTemplate(Circuit(1).rx(0, Parameter("qbtw_0")))
