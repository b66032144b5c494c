"""The frozen circuit: building, validation, composition, inversion, binding."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import unitary_group

from qbridge import Circuit, Instruction, Parameter
from qbridge.exceptions import (
    CircuitError,
    EncodingError,
    GateError,
    ParameterError,
    QBridgeError,
    UnsupportedFeatureError,
)


def test_builder_returns_new_circuits_and_leaves_the_old_one_alone():
    empty = Circuit(2)
    bell = empty.h(0).cx(0, 1)
    assert len(empty) == 0 and len(bell) == 2
    assert [op.name for op in bell] == ["h", "cx"]
    assert bell.instructions[1].qubits == (0, 1)
    with pytest.raises(AttributeError):
        bell.num_qubits = 3


def test_every_builder_method_appends_its_gate():
    c = (
        Circuit(3).id(0).x(0).y(0).z(0).h(0).s(0).sdg(0).t(0).tdg(0).sx(0).sxdg(0)
        .rx(0, 0.1).ry(0, 0.2).rz(0, 0.3).p(0, 0.4).u(0, 0.5, 0.6, 0.7)
        .cx(0, 1).cy(0, 1).cz(0, 1).ch(0, 1).swap(0, 1).crx(0, 1, 1.0).cry(0, 1, 1.1).crz(0, 1, 1.2)
        .cp(0, 1, 1.3).rxx(0, 1, 1.4).ryy(0, 1, 1.5).rzz(0, 1, 1.6).ccx(0, 1, 2).cswap(2, 0, 1)
    )
    from qbridge.ir.gates import GATES

    assert [op.name for op in c] == list(GATES)
    assert c.instructions[15].params == (0.5, 0.6, 0.7)
    assert c.instructions[-1].qubits == (2, 0, 1)


def test_equality_hash_and_repr():
    a = Circuit(2, global_phase=0.1).h(0).cx(0, 1)
    b = Circuit(2, a.instructions, global_phase=0.1)
    assert a == b and hash(a) == hash(b)
    assert a != Circuit(2, a.instructions)
    assert a != Circuit(3, a.instructions, global_phase=0.1)
    assert a != a.h(1)
    assert "2 qubits" in repr(a)
    assert a.__eq__("not a circuit") is NotImplemented


def test_properties():
    theta = Parameter("theta")
    c = Circuit(4, global_phase=Parameter("g")).h(0).cx(0, 1).rz(2, theta).barrier().cx(1, 2).measure([3, 1])
    assert c.num_qubits == 4
    assert c.parameter_names == ("g", "theta")  # global phase first: order of first appearance
    assert c.num_parameters == 2
    assert c.depth() == 4  # measurements count, as in Qiskit; barriers do not
    assert c.count_ops() == {"h": 1, "cx": 2, "rz": 1, "barrier": 1, "measure": 1}
    assert c.measured_qubits == (3, 1)
    assert c.has_measurements and not c.without_measurements().has_measurements
    assert Circuit(1).depth() == 0


@pytest.mark.parametrize(
    "build, error",
    [
        (lambda: Circuit(0), CircuitError),
        (lambda: Circuit(-1), CircuitError),
        (lambda: Circuit(2.0), CircuitError),
        (lambda: Circuit(True), CircuitError),
        (lambda: Circuit(2).h(2), CircuitError),
        (lambda: Circuit(2).h(-1), CircuitError),
        (lambda: Circuit(2).cx(1, 1), CircuitError),
        (lambda: Circuit(2).append("h", [0.5]), CircuitError),  # was silently truncated to qubit 0
        (lambda: Circuit(2).append("h", [True]), CircuitError),  # was silently qubit 1
        (lambda: Circuit(2).measure(True), CircuitError),
        (lambda: Circuit(2).measure([0.0]), CircuitError),
        (lambda: Circuit(2).barrier([1.5]), CircuitError),
        (lambda: Circuit(2).unitary(np.eye(2), [0.5]), CircuitError),
        (lambda: Circuit(2).amplitude_encode([1, 0], [1.0]), CircuitError),
        (lambda: Circuit(2).append("cnot", [0, 1]), GateError),
        (lambda: Circuit(2, ["h"]), TypeError),
        (lambda: Circuit(2).rx(0, "theta"), TypeError),
        (lambda: Circuit(2).rx(0, 1j), TypeError),
        (lambda: Circuit(2).rx(0, float("nan")), ParameterError),
        (lambda: Circuit(2).rx(0, float("inf")), ParameterError),
        (lambda: Circuit(2, global_phase=float("nan")), ParameterError),
        (lambda: Circuit(2).compose(Circuit(3)), CircuitError),
        (lambda: Circuit(3).compose(Circuit(2), [0]), CircuitError),
        (lambda: Circuit(3).compose(Circuit(2), [0, 3]), CircuitError),  # was accepted (no ops)
        (lambda: Circuit(3).compose(Circuit(2).h(0).h(1), [1, 1]), CircuitError),  # was merged
        (lambda: Circuit(3).compose(Circuit(1).h(0), [0.0]), CircuitError),
        (lambda: Circuit(3).remap(2, [0, 1, 2]), CircuitError),
    ],
)
def test_invalid_circuits_raise_typed_errors(build, error):
    with pytest.raises(error) as err:
        build()
    if issubclass(error, QBridgeError):
        assert isinstance(err.value, ValueError)  # plain argument mistakes stay ValueErrors too


def test_error_carries_context():
    with pytest.raises(CircuitError) as err:
        Circuit(2).cx(0, 5)
    assert err.value.qubit == 5 and err.value.instruction == "cx"
    assert err.value.context == {"instruction": "cx", "qubit": 5}
    assert "0..1" in str(err.value)


def test_numpy_integers_are_accepted_as_qubits():
    c = Circuit(3).h(np.int64(2)).cx(np.int32(0), np.int8(1)).measure(np.int64(2))
    assert c.instructions[0].qubits == (2,) and type(c.instructions[0].qubits[0]) is int
    assert c.measured_qubits == (2,)


def test_numpy_and_torch_scalars_are_accepted_as_parameters():
    import torch

    c = Circuit(1).rx(0, np.float32(0.5)).ry(0, torch.tensor(0.25, dtype=torch.float64))
    assert c.instructions[0].params == (0.5,) and c.instructions[1].params == (0.25,)
    with pytest.raises(TypeError):
        Circuit(1).rx(0, torch.tensor([0.5]))


def test_mid_circuit_measurement_is_refused():
    with pytest.raises(UnsupportedFeatureError) as err:
        Circuit(2).h(0).measure(0).x(0)
    assert err.value.qubit == 0
    with pytest.raises(UnsupportedFeatureError):
        Circuit(2, [Instruction("measure", (1,)), Instruction("cx", (0, 1))])
    with pytest.raises(UnsupportedFeatureError):
        Circuit(2).measure(0).compose(Circuit(1).h(0))
    # other qubits may still be acted on, and measuring twice is terminal
    c = Circuit(2).measure(0).h(1).barrier().measure([1, 0])
    assert c.measured_qubits == (0, 1)


def test_compose_and_remap(qiskit_ref):
    inner = Circuit(2, global_phase=0.2).h(0).cry(0, 1, 0.4).unitary(unitary_group.rvs(2, random_state=1), 1)
    outer = Circuit(4).x(3).compose(inner, [3, 1])
    assert [op.qubits for op in outer][1:] == [(3,), (3, 1), (1,)]
    assert outer.global_phase == pytest.approx(0.2)
    # composing is applying one after the other
    expected = qiskit_ref.unitary(inner.remap(4, [3, 1])) @ qiskit_ref.unitary(Circuit(4).x(3))
    np.testing.assert_allclose(qiskit_ref.unitary(outer), expected, atol=1e-12)
    assert Circuit(3).compose(inner).instructions[1].qubits == (0, 1)


def test_remap_keeps_the_global_phase_once(qiskit_ref):
    # remap used to add the global phase twice (once in the new circuit, once in compose)
    c = Circuit(2, global_phase=0.2).h(0).cx(0, 1)
    moved = c.remap(3, [2, 0])
    assert moved.global_phase == pytest.approx(0.2)
    assert [op.qubits for op in moved] == [(2,), (2, 0)]
    sv = qiskit_ref.statevector(moved)
    expected = np.zeros(8, complex)
    expected[[0b000, 0b101]] = np.exp(0.2j) / np.sqrt(2)
    np.testing.assert_allclose(sv, expected, atol=1e-12)


def test_inverse_is_the_adjoint(rng, qiskit_ref, make_random_circuit):
    for n in (1, 2, 3, 4):
        c = make_random_circuit(rng, n, 12, unitary_prob=0.2)
        inv = c.inverse()
        np.testing.assert_allclose(qiskit_ref.unitary(inv), qiskit_ref.unitary(c).conj().T, atol=1e-10)
        np.testing.assert_allclose(qiskit_ref.unitary(c.compose(inv)), np.eye(2**n), atol=1e-10)


def test_inverse_of_symbolic_circuit_binds_like_the_bound_inverse(qiskit_ref):
    a, b = Parameter("a"), Parameter("b")
    c = Circuit(2, global_phase=a).u(0, a, b, 2 * a).crx(0, 1, b - 1).rzz(0, 1, a + b).barrier()
    inv = c.inverse()
    assert inv.global_phase == -a
    values = {"a": 0.7, "b": -0.3}
    np.testing.assert_allclose(
        qiskit_ref.unitary(inv.bind(values)), qiskit_ref.unitary(c.bind(values).inverse()), atol=1e-12
    )


def test_inverse_refuses_measurement_and_state_preparation():
    with pytest.raises(CircuitError, match="measure"):
        Circuit(1).h(0).measure().inverse()
    with pytest.raises(CircuitError, match="amplitude_encode"):
        Circuit(1).amplitude_encode([1, 1]).inverse()


def test_bind():
    a, b = Parameter("a"), Parameter("b")
    c = Circuit(1, global_phase=b).rx(0, a).ry(0, 2 * a + b)
    part = c.bind({"a": 0.5})
    assert part.parameter_names == ("b",)
    assert part.instructions[0].params == (0.5,)
    full = c.bind({a: 0.5, "b": 1.0})
    assert full.parameter_names == ()
    assert full.instructions[1].params == (2.0,) and full.global_phase == 1.0
    assert c.parameter_names == ("b", "a")  # unchanged
    with pytest.raises(ParameterError, match="unknown parameter"):
        c.bind({"c": 1.0})
    with pytest.raises(ParameterError, match="finite"):
        c.bind({"a": float("nan")})
    with pytest.raises(TypeError):
        c.bind({"a": "1.0"})


def test_barrier_and_with_global_phase():
    c = Circuit(3).h(0).barrier([0, 2]).with_global_phase(0.5)
    assert c.instructions[1] == Instruction("barrier", (0, 2))
    assert c.global_phase == 0.5
    assert Circuit(3).barrier().instructions[0].qubits == (0, 1, 2)


def test_instruction_repr_and_flags():
    theta = Parameter("theta")
    op = Circuit(1).rx(0, theta).instructions[0]
    assert op.is_gate and op.is_parametric
    enc = Circuit(1).amplitude_encode("x").instructions[0]
    assert not enc.is_gate and "source='x'" in repr(enc)
    assert Circuit(1).unitary(np.eye(2), 0).instructions[0].is_gate


def test_inputs_property():
    c = Circuit(4).amplitude_encode("x", [0, 1]).amplitude_encode("y", [2])
    assert c.inputs == {"x": 4, "y": 2}
    with pytest.raises(EncodingError, match="different sizes"):
        Circuit(3).amplitude_encode("x", [0]).amplitude_encode("x", [1, 2]).inputs


def test_add_and_to_matrix(qiskit_ref, rng, make_random_circuit):
    c = make_random_circuit(rng, 3, 15, unitary_prob=0.2).add(Instruction("cz", (0, 2))).measure(1)
    assert c.instructions[-2] == Instruction("cz", (0, 2))
    np.testing.assert_allclose(c.to_matrix(), qiskit_ref.unitary(c), atol=1e-10)
    with pytest.raises(CircuitError):
        c.add(Instruction("cz", (0, 3)))
    with pytest.raises(ParameterError, match="bind"):
        Circuit(1).rx(0, Parameter("a")).to_matrix()


def test_errors_pickle_with_their_context():
    import pickle

    from qbridge.exceptions import BackendNotFoundError, ValidationError

    for err in (CircuitError("bad qubit", qubit=3, instruction="cx"), ValidationError("too big", backend="torch"),
                BackendNotFoundError("nope", backend="x")):
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err) and str(back) == str(err) and back.context == err.context
    assert CircuitError("m", qubit=None).context == {}  # empty context entries are dropped


def test_rewrites_with_nothing_to_do_return_the_same_circuit():
    """Backends call these on every run: a circuit that needs no change is not rebuilt (the same
    object also keeps what is cached on it, such as the torch backend's compiled plan)."""
    c = Circuit(2).h(0).cx(0, 1).rz(1, Parameter("a"))
    assert c.without_measurements() is c
    assert c.decompose({"h", "cx", "rz"}) is c
    m = c.measure_all()
    assert m.without_measurements() == c and m.without_measurements() is not m
    d = c.decompose({"u", "cx"})
    assert d is not c and {op.name for op in d} == {"u", "cx"}
    assert d.decompose({"u", "cx"}) is d
