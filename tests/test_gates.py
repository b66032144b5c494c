"""The gate library against Qiskit: matrices, inverses and exact decompositions (global phase kept)."""

from __future__ import annotations

import cmath
import math

import numpy as np
import pytest
import torch
from conftest import QISKIT_GATE_CLASSES
from scipy.stats import unitary_group

from qbridge import Circuit, Parameter
from qbridge.exceptions import CircuitError, GateError
from qbridge.ir.decompose import reachable_gates
from qbridge.ir.gates import GATES, gate_matrix, get_gate, zyz_angles

GATE_NAMES = sorted(GATES)
PARAMETRIC = [g for g in GATE_NAMES if GATES[g].num_params]
BASES = [
    frozenset({"u", "cx"}),
    frozenset({"rz", "ry", "cx"}),
    frozenset({"rz", "ry", "cz"}),
    frozenset({"rx", "ry", "rz", "cx"}),
    frozenset({"u", "cz"}),
    frozenset({"p", "ry", "cz"}),
]
ATOL = 1e-10


def _params(name: str, seed: int) -> np.ndarray:
    gen = np.random.default_rng([seed, len(name), sum(map(ord, name))])
    return gen.uniform(-2 * np.pi, 2 * np.pi, GATES[name].num_params)


def _on_own_qubits(name: str, params) -> Circuit:
    g = GATES[name]
    return Circuit(g.num_qubits).append(name, range(g.num_qubits), params)


def test_every_library_gate_has_a_qiskit_reference():
    assert set(GATES) == set(QISKIT_GATE_CLASSES)


@pytest.mark.parametrize("name", GATE_NAMES)
def test_matrix_matches_qiskit(name, qiskit_ref):
    g = GATES[name]
    ref_gate = qiskit_ref.gate(name, [0.0] * g.num_params)
    assert (g.num_qubits, g.num_params) == (ref_gate.num_qubits, len(ref_gate.params))
    special = [np.zeros(g.num_params), np.full(g.num_params, np.pi), np.full(g.num_params, -np.pi / 2)]
    for params in special + [_params(name, s) for s in range(4)]:
        ours = gate_matrix(name, params)
        assert ours.shape == (2**g.num_qubits,) * 2 and ours.dtype == np.complex128
        np.testing.assert_allclose(ours, qiskit_ref.gate_matrix(name, params), atol=1e-12)


@pytest.mark.parametrize("name", GATE_NAMES)
def test_matrix_is_unitary_and_flags_are_true(name):
    g = GATES[name]
    for seed in range(3):
        m = gate_matrix(name, _params(name, seed))
        np.testing.assert_allclose(m.conj().T @ m, np.eye(len(m)), atol=1e-12)
        if g.real:
            assert np.all(m.imag == 0)
        if g.diagonal:
            assert np.all(m[~np.eye(len(m), dtype=bool)] == 0)


@pytest.mark.parametrize("name", PARAMETRIC)
def test_matrix_is_batched_over_tensor_parameters(name):
    g = GATES[name]
    batch = np.stack([_params(name, s) for s in range(5)])  # (5, P)
    cols = [torch.tensor(batch[:, j]) for j in range(g.num_params)]
    out = g.matrix(*cols)  # (5, d, d)
    assert out.shape == (5, 2**g.num_qubits, 2**g.num_qubits)
    for b in range(5):
        np.testing.assert_allclose(out[b].numpy(), gate_matrix(name, batch[b]), atol=1e-12)
    single = g.matrix(*cols, dtype=torch.complex64)
    assert single.dtype == torch.complex64
    np.testing.assert_allclose(single.numpy(), out.numpy(), atol=1e-6)


@pytest.mark.parametrize("name", GATE_NAMES)
def test_inverse_is_exact(name):
    g = GATES[name]
    for seed in range(3):
        params = _params(name, seed)
        inv_name, inv_params = g.inverse(tuple(params))
        prod = gate_matrix(inv_name, inv_params) @ gate_matrix(name, params)
        # exact: the identity itself, not the identity up to a phase
        np.testing.assert_allclose(prod, np.eye(len(prod)), atol=1e-12)


@pytest.mark.parametrize("name", GATE_NAMES)
def test_rule_is_exact_with_global_phase(name, qiskit_ref):
    g = GATES[name]
    for seed in range(3):
        params = _params(name, seed)
        rule = g.decompose(params)
        assert rule is not None, f"{name} has no decomposition rule"
        ops, phase = rule
        c = Circuit(g.num_qubits, global_phase=phase)
        for sub, local, sub_params in ops:
            assert sub != name
            c = c.append(sub, local, sub_params)
        np.testing.assert_allclose(qiskit_ref.unitary(c), gate_matrix(name, params), atol=ATOL)


def test_reachability():
    assert reachable_gates(frozenset({"u", "cx"})) == frozenset(GATES)
    assert reachable_gates(frozenset({"rz", "ry", "cz"})) == frozenset(GATES)
    only_1q = reachable_gates(frozenset({"u"}))
    assert only_1q == {g for g in GATES if GATES[g].num_qubits == 1}
    assert reachable_gates(frozenset({"cx"})) == {"cx", "id", "swap"}  # swap is three cx


@pytest.mark.parametrize("basis", BASES, ids=lambda b: "+".join(sorted(b)))
@pytest.mark.parametrize("name", GATE_NAMES)
def test_decompose_into_basis_is_exact(name, basis, qiskit_ref):
    g = GATES[name]
    # on a larger register, qubits in a scrambled order, so that the local->global map is tested
    n = g.num_qubits + 1
    qubits = list(range(n))[::-1][: g.num_qubits]
    params = _params(name, 7)
    c = Circuit(n, global_phase=0.25).h(n - 1).append(name, qubits, params)
    d = c.decompose(basis)
    assert {op.name for op in d} <= basis
    np.testing.assert_allclose(qiskit_ref.unitary(d), qiskit_ref.unitary(c), atol=ATOL)


def test_decompose_keeps_basis_gates_measurements_and_barriers():
    c = Circuit(2).h(0).cx(0, 1).barrier().measure()
    d = c.decompose({"h", "cx"})
    assert d == c
    d2 = c.decompose({"u", "cz"})
    assert [op.name for op in d2][-2:] == ["barrier", "measure"]
    assert d2.measured_qubits == (0, 1)


@pytest.mark.parametrize("basis", BASES[:4], ids=lambda b: "+".join(sorted(b)))
def test_decompose_symbolic_parameters_then_bind(basis, qiskit_ref):
    a, b = Parameter("a"), Parameter("b")
    c = (
        Circuit(3, global_phase=0.5 * a - 0.1)
        .rx(0, a).u(1, 2 * a + 0.3, -b, b - a).crz(1, 2, 0.5 * b).cp(0, 2, a + b)
        .rzz(0, 1, -a).ryy(1, 2, b).crx(2, 0, 3 * a).p(2, b / 3).rz(0, a - 1)
    )
    d = c.decompose(basis)
    assert {op.name for op in d} <= basis
    assert set(d.parameter_names) == {"a", "b"}
    for values in ({"a": 0.3, "b": -1.1}, {"a": 2.5, "b": 0.7}):
        np.testing.assert_allclose(
            qiskit_ref.unitary(d.bind(values)), qiskit_ref.unitary(c.bind(values)), atol=ATOL
        )


def test_decompose_single_qubit_unitary_with_phase(rng, qiskit_ref):
    for basis in ({"u", "cx"}, {"rz", "ry", "cx"}, {"rx", "ry", "rz", "cx"}):
        for _ in range(5):
            m = unitary_group.rvs(2, random_state=rng)
            c = Circuit(2).h(1).unitary(m, 0)
            d = c.decompose(basis)
            assert {op.name for op in d} <= basis
            np.testing.assert_allclose(qiskit_ref.unitary(d), qiskit_ref.unitary(c), atol=ATOL)


@pytest.mark.parametrize(
    "matrix",
    [np.eye(2), -np.eye(2), np.diag([1, 1j]), np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]) * cmath.exp(0.3j),
     np.diag([cmath.exp(-0.7j), cmath.exp(0.2j)])],
    ids=["I", "-I", "S", "X", "phased Y", "diagonal"],
)
def test_zyz_angles_special_matrices(matrix):
    theta, phi, lam, phase = zyz_angles(matrix)
    np.testing.assert_allclose(cmath.exp(1j * phase) * gate_matrix("u", [theta, phi, lam]), matrix, atol=1e-12)


def test_zyz_angles_random(rng):
    for _ in range(50):
        m = unitary_group.rvs(2, random_state=rng)
        theta, phi, lam, phase = zyz_angles(m)
        np.testing.assert_allclose(cmath.exp(1j * phase) * gate_matrix("u", [theta, phi, lam]), m, atol=1e-12)


@pytest.mark.parametrize(
    "circuit, basis",
    [
        (Circuit(2).cx(0, 1), {"u"}),
        (Circuit(2).h(0), {"cx"}),
        (Circuit(2).rz(0, 0.3), {"rz", "cx"}),  # in the basis itself, fine ...
        (Circuit(2).h(0), {"rz", "cx"}),  # ... but h needs ry or u as well
        (Circuit(3).ccx(0, 1, 2), {"u"}),
        (Circuit(2).x(0), {"p", "sx", "cx"}),  # no rule path from x to {p, sx}
        (Circuit(2).unitary(unitary_group.rvs(4, random_state=1), [0, 1]), {"u", "cx"}),
        (Circuit(1).unitary(np.eye(2), 0), {"cx"}),
        (Circuit(2).amplitude_encode("x"), {"u", "cx"}),
    ],
    ids=["cx->u", "h->cx", "rz ok", "h->rz+cx", "ccx->u", "x->p+sx", "2q unitary", "1q unitary->cx", "runtime input"],
)
def test_unreachable_basis_raises_gate_error(circuit, basis):
    if circuit.instructions[0].name == "rz":
        assert circuit.decompose(basis) == circuit
        return
    with pytest.raises(GateError) as err:
        circuit.decompose(basis)
    assert err.value.context.get("instruction") is not None


def test_basis_must_not_be_a_string():
    # a string was read as a set of letters: decompose("cx") meant the basis {"c", "x"}
    with pytest.raises(TypeError, match="collection of gate names"):
        Circuit(1).x(0).decompose("cx")
    assert Circuit(1).x(0).decompose(["x"]) == Circuit(1).x(0)


def test_unreachable_gate_after_fine_ones_still_raises():
    with pytest.raises(GateError, match="'cx'"):
        Circuit(2).h(0).rx(1, 0.2).cx(0, 1).decompose({"u"})


def test_get_gate_and_gate_matrix_errors():
    with pytest.raises(GateError, match="did you mean 'cx'"):
        get_gate("cxx")
    with pytest.raises(GateError) as err:
        get_gate("toffoli_gate")
    assert err.value.instruction == "toffoli_gate"
    with pytest.raises(GateError, match="takes 1 parameter"):
        gate_matrix("rx", [])
    with pytest.raises(GateError, match="takes 3 parameter"):
        GATES["u"].matrix(0.1)
    with pytest.raises(GateError):
        Circuit(2).append("nope", 0)


def test_unitary_gate_validation():
    with pytest.raises(GateError, match="not unitary"):
        Circuit(1).unitary([[1, 1], [0, 1]], 0)
    with pytest.raises(GateError, match="square"):
        Circuit(1).unitary(np.ones((2, 3)), 0)
    with pytest.raises(GateError, match="square"):
        Circuit(2).unitary(np.eye(3), [0, 1])
    with pytest.raises(GateError, match="acts on"):
        Circuit(2).unitary(np.eye(2), [0, 1])
    with pytest.raises(GateError, match="non-finite"):
        Circuit(1).unitary([[np.nan, 0], [0, 1]], 0)
    with pytest.raises(CircuitError, match="no matrix"):
        Circuit(1).h(0).instructions[0].matrix_array()
    # nearly unitary within 1e-8 is accepted (a matrix computed in float64)
    m = unitary_group.rvs(2, random_state=3) * (1 + 1e-10)
    assert len(Circuit(1).unitary(m, 0)) == 1


def test_gate_parameter_count_and_arity_errors():
    with pytest.raises(GateError, match="acts on 2 qubit"):
        Circuit(3).append("cx", [0])
    with pytest.raises(GateError, match="takes 1 parameter"):
        Circuit(3).append("rx", [0], [1.0, 2.0])
    with pytest.raises(GateError, match="takes 0 parameter"):
        Circuit(3).append("h", [0], [1.0])


def test_gate_matrix_at_known_points():
    # hand-derived values, independent of Qiskit
    np.testing.assert_allclose(gate_matrix("rx", [math.pi]), [[0, -1j], [-1j, 0]], atol=1e-15)
    np.testing.assert_allclose(gate_matrix("cx"), [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]])
    np.testing.assert_allclose(gate_matrix("rzz", [math.pi]), np.diag([-1j, 1j, 1j, -1j]), atol=1e-15)
    np.testing.assert_allclose(gate_matrix("u", [math.pi / 2, 0, math.pi]), gate_matrix("h"), atol=1e-15)
    ccx = gate_matrix("ccx")
    assert ccx[7, 6] == 1 and ccx[6, 7] == 1 and ccx[6, 6] == 0  # controls are the first two qubits
