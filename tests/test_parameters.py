"""Symbolic parameters (linear expressions) and batches of bindings in tasks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from qbridge import Circuit, Parameter, ParameterExpression, Task
from qbridge.exceptions import EncodingError, ParameterError
from qbridge.ir.parameters import as_param_value

a, b, c = Parameter("a"), Parameter("b"), Parameter("c")


def test_linear_arithmetic():
    e = 2 * a - b / 2 + 1 - a
    assert dict(e.terms) == {"a": 1.0, "b": -0.5} and e.const == 1.0
    assert e.parameter_names == ("a", "b") and e.parameters == (a, b)
    assert e.coefficient("a") == 1.0 and e.coefficient("zz") == 0.0
    assert (3 - (a - 1)).const == 4.0 and (3 - (a - 1)).coefficient("a") == -1.0
    assert (-a).coefficient("a") == -1.0 and (+a) is a
    assert (a * np.float64(2)).coefficient("a") == 2.0 and (np.float64(2) * a).coefficient("a") == 2.0
    assert (a + b - a - b).is_constant() and not (a + b - a).is_constant()
    zero = a - a
    assert zero.terms == () and zero == 0.0
    assert str(e) == "a - 0.5*b + 1.0"
    assert str(-a + 2.5 * b) == "-a + 2.5*b"
    assert repr(a) == "Parameter('a')" and str(a) == "a"


def test_identity_is_by_name():
    assert a == Parameter("a") and hash(a) == hash(Parameter("a"))
    assert a == a + 0 and hash(a) == hash(a + 0)
    assert a != b and a != 2 * a
    assert ParameterExpression({}, 2.0) == 2.0
    assert (a == 1) is False
    assert len({a, Parameter("a"), 1 * a}) == 1


def test_evaluate_on_floats_arrays_and_tensors():
    e = 0.5 * a - 2 * b + 0.25
    assert e.evaluate({"a": 1.0, "b": 2.0}) == pytest.approx(0.5 - 4 + 0.25)
    np.testing.assert_allclose(e.evaluate({"a": np.array([1.0, 2.0]), "b": np.array([0.0, 1.0])}), [0.75, -0.75])
    t = torch.tensor([0.3, -0.2], dtype=torch.float64, requires_grad=True)
    out = e.evaluate({"a": t, "b": torch.zeros(2, dtype=torch.float64)})
    out.sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), [0.5, 0.5])
    with pytest.raises(ParameterError, match="'b' is unbound") as err:
        e.evaluate({"a": 1.0})
    assert err.value.parameter == "b"


def test_bind():
    e = 2 * a + 3 * b - 1
    part = e.bind({"a": 1.0})
    assert isinstance(part, ParameterExpression) and part == 3 * b + 1
    assert e.bind({"a": 1.0, "b": 2.0}) == 7.0 and isinstance(e.bind({"a": 1.0, "b": 2.0}), float)
    assert e.bind({"c": 5.0}) == e  # unrelated names are ignored at expression level
    with pytest.raises(ParameterError, match="finite"):
        e.bind({"a": math.inf})
    with pytest.raises(TypeError):
        e.bind({"a": "1"})


def test_nonlinear_operations_are_refused():
    with pytest.raises(ParameterError, match="products of parameters"):
        a * b
    with pytest.raises(ParameterError, match="products of parameters"):
        (a + 1) * (2 * b)
    with pytest.raises(ParameterError, match="division by a parameter"):
        a / b
    with pytest.raises(ZeroDivisionError):
        a / 0
    with pytest.raises(TypeError):
        a * "x"
    with pytest.raises(TypeError):
        a + True  # bools are not numbers here
    with pytest.raises(TypeError):
        a + 1j
    with pytest.raises(TypeError):
        1.0 / a


@pytest.mark.parametrize("name", ["pi", "π", "tau", "euler", "U", "input", "output", "gate", "qubit", "sin", "im"])
def test_reserved_names_refused(name):
    with pytest.raises(ParameterError):
        Parameter(name)


@pytest.mark.parametrize("name", ["", "1a", "a b", "a-b", "θ", None, 3])
def test_invalid_names_refused(name):
    with pytest.raises(ParameterError, match="invalid parameter name"):
        Parameter(name)


@pytest.mark.parametrize("name", ["theta", "_x", "w_1", "PI", "Pi2"])
def test_valid_names(name):
    assert Parameter(name).name == name


def test_bad_coefficients():
    with pytest.raises(ParameterError, match="finite"):
        ParameterExpression({"a": math.nan})
    with pytest.raises(ParameterError, match="finite"):
        a * math.inf
    with pytest.raises(TypeError):
        ParameterExpression({"a": True})
    with pytest.raises(ParameterError):
        ParameterExpression({"a": 1.0}, const=math.nan)


def test_as_param_value():
    assert as_param_value(a) is a
    assert as_param_value(a - a + 2) == 2.0 and isinstance(as_param_value(a - a + 2), float)
    assert as_param_value(np.float32(0.5)) == 0.5
    assert as_param_value(np.array(0.25)) == 0.25
    assert as_param_value(torch.tensor(0.125)) == 0.125
    with pytest.raises(TypeError):
        as_param_value(np.array([0.5]))
    with pytest.raises(TypeError):
        as_param_value(None)
    with pytest.raises(ParameterError):
        as_param_value(np.nan)


# -- bindings in tasks ----------------------------------------------------------------------------

CIRCUIT = Circuit(2).amplitude_encode("x", [1]).rx(0, a).crz(0, 1, 2 * b - 0.5).ry(1, a + b)


def _rows_reference(params: np.ndarray, x: np.ndarray, qiskit_ref) -> np.ndarray:
    """State vectors of each row, built by binding and encoding row by row in Qiskit."""
    from qbridge.ir.stateprep import bind_inputs

    out = []
    for p, xi in zip(params, x):
        bound = bind_inputs(CIRCUIT.bind({"a": p[0], "b": p[1]}), {"x": xi})
        out.append(qiskit_ref.statevector(bound))
    return np.array(out)


def _run(torch_backend, *args, **kw):
    return torch_backend.run(Task(CIRCUIT, *args, statevector=True, **kw), precision="double").result()[0]


def test_batch_of_bindings_row_by_row(torch_backend, qiskit_ref, rng):
    params = rng.uniform(-3, 3, (4, 2))
    x = rng.normal(size=(4, 2))
    res = _run(torch_backend, params, {"x": x})
    assert res.batch_size == 4 and tuple(res.statevector.shape) == (4, 4)
    np.testing.assert_allclose(np.asarray(res.statevector), _rows_reference(params, x, qiskit_ref), atol=1e-12)


def test_bindings_broadcast_against_inputs(torch_backend, qiskit_ref, rng):
    params = rng.uniform(-3, 3, (5, 2))
    x = rng.normal(size=(1, 2))
    res = _run(torch_backend, params, {"x": x})
    assert res.batch_size == 5
    np.testing.assert_allclose(
        np.asarray(res.statevector), _rows_reference(params, np.repeat(x, 5, 0), qiskit_ref), atol=1e-12
    )
    one = params[:1]
    xs = rng.normal(size=(3, 2))
    res = _run(torch_backend, one[0], {"x": xs})  # a 1-D row is one binding
    assert res.batch_size == 3
    np.testing.assert_allclose(np.asarray(res.statevector), _rows_reference(np.repeat(one, 3, 0), xs, qiskit_ref), atol=1e-12)


def test_dict_bindings(torch_backend, qiskit_ref, rng):
    x = rng.normal(size=(1, 2))
    res = _run(torch_backend, {"a": [0.1, 0.2, 0.3], "b": 0.5}, {"x": x})
    params = np.array([[0.1, 0.5], [0.2, 0.5], [0.3, 0.5]])
    np.testing.assert_allclose(np.asarray(res.statevector), _rows_reference(params, np.repeat(x, 3, 0), qiskit_ref), atol=1e-12)
    # parameters given as Parameter order do not matter in a dict; values in circuit order do
    t = Task(CIRCUIT, {"b": 0.5, "a": np.array([0.1, 0.2, 0.3])}, {"x": x})
    np.testing.assert_allclose(t.parameter_array(), params)
    assert t.binding(2)[0] == {"a": 0.3, "b": 0.5}


def test_dict_bindings_with_tensors_keep_autograd():
    ta = torch.tensor([0.1, 0.2], dtype=torch.float64, requires_grad=True)
    t = Task(CIRCUIT, {"a": ta, "b": 0.3}, {"x": [1.0, 0.0]})  # a float beside a tensor (was a RuntimeError)
    assert torch.is_tensor(t.parameter_values) and t.parameter_values.requires_grad
    assert tuple(t.parameter_values.shape) == (2, 2)
    t2 = Task(CIRCUIT, {"a": ta, "b": torch.tensor(0.3, dtype=torch.float64)}, {"x": [1.0, 0.0]})
    np.testing.assert_allclose(t2.parameter_array(), [[0.1, 0.3], [0.2, 0.3]])


@pytest.mark.parametrize(
    "values, inputs, error",
    [
        (None, {"x": [1.0, 0.0]}, ParameterError),
        (np.zeros((3, 3)), {"x": [1.0, 0.0]}, ParameterError),
        (np.zeros(3), {"x": [1.0, 0.0]}, ParameterError),
        (np.zeros((2, 2, 2)), {"x": [1.0, 0.0]}, ParameterError),
        (np.zeros((3, 2)), {"x": np.ones((4, 2))}, ParameterError),  # batches do not broadcast
        (np.zeros((0, 2)), {"x": [1.0, 0.0]}, ParameterError),  # empty batch (was a RuntimeError in the simulator)
        ([[np.nan, 1.0]], {"x": [1.0, 0.0]}, ParameterError),
        (torch.tensor([[np.inf, 1.0]]), {"x": [1.0, 0.0]}, ParameterError),  # tensors were not checked
        ([[1 + 1j, 2.0]], {"x": [1.0, 0.0]}, ParameterError),  # imaginary part was dropped silently
        (torch.tensor([[1 + 1j, 2.0]]), {"x": [1.0, 0.0]}, ParameterError),
        ([["a", 1.0]], {"x": [1.0, 0.0]}, ParameterError),
        ({"a": 0.1}, {"x": [1.0, 0.0]}, ParameterError),
        ({"a": 0.1, "b": 0.2, "c": 0.3}, {"x": [1.0, 0.0]}, ParameterError),
        ({"a": [0.1, 0.2], "b": [0.1, 0.2, 0.3]}, {"x": [1.0, 0.0]}, ParameterError),  # was a bare ValueError
        ({"a": torch.zeros(2), "b": torch.zeros(3)}, {"x": [1.0, 0.0]}, ParameterError),  # was a RuntimeError
        ({"a": [[0.1, 0.2], [0.3, 0.4]], "b": 0.0}, {"x": [1.0, 0.0]}, ParameterError),  # was flattened
        (np.zeros((1, 2)), {}, EncodingError),
        (np.zeros((1, 2)), {"x": [1.0, 0.0], "y": [1.0]}, EncodingError),
        (np.zeros((1, 2)), {"x": np.zeros((0, 2))}, EncodingError),
        (np.zeros((1, 2)), {"x": np.ones((1, 2, 1))}, ParameterError),
        (torch.zeros((1, 2, 1)), {"x": [1.0, 0.0]}, ParameterError),
        (np.array([[object(), 1.0]], dtype=object), {"x": [1.0, 0.0]}, ParameterError),
    ],
)
def test_binding_errors(values, inputs, error):
    with pytest.raises(error):
        Task(CIRCUIT, values, inputs)


def test_parameterless_circuit_bindings():
    c = Circuit(1).h(0)
    assert Task(c).batch_size == 1
    assert Task(c, []).parameter_values is None  # was kept as a list and broke batch_size
    assert Task(c, np.zeros((1, 0))).batch_size == 1
    with pytest.raises(ParameterError, match="no free parameters"):
        Task(c, [0.5])


def test_task_parameter_array_and_binding_rows():
    t = Task(CIRCUIT, np.array([[0.1, 0.2]]), {"x": np.eye(2)[[0, 1, 1]]})
    assert t.batch_size == 3
    assert t.parameter_array().shape == (3, 2)
    params, ins = t.binding(2)
    assert params == {"a": 0.1, "b": 0.2}
    np.testing.assert_allclose(ins["x"], [0.0, 1.0])


def test_parameter_order_is_first_appearance():
    circ = Circuit(2, global_phase=c).rx(0, b).ry(1, a + b).rz(0, 2 * c)
    assert circ.parameter_names == ("c", "b", "a")
    t = Task(circ, {"a": 1.0, "b": 2.0, "c": 3.0})
    np.testing.assert_allclose(t.parameter_array(), [[3.0, 2.0, 1.0]])
