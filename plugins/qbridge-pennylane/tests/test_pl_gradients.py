"""Gradients through PennyLane backends equal the torch backend's autograd gradients.

default.qubit differentiates by backprop (parameters and encoded inputs); lightning by adjoint
(expectation values) and parameter-shift (probabilities). Each declared method is exercised.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pennylane")
pytest.importorskip("pennylane_lightning")

import torch  # noqa: E402

import qbridge  # noqa: E402
from qbridge import Circuit, Parameter, PauliSum  # noqa: E402
from qbridge.backends.base import Task  # noqa: E402
from qbridge.exceptions import ValidationError  # noqa: E402

a, b = Parameter("a"), Parameter("b")
CIRCUIT = (Circuit(3).amplitude_encode("x", [0, 2]).rx(1, a).cx(0, 1).u(2, b, 0.3, 2 * a - 0.1).crz(1, 2, a)
           .rxx(0, 1, b).sx(2))
OBS = [PauliSum.parse("0.5*ZZI - 1.2*XIY + 0.3*III"), PauliSum.parse("YXZ")]
VALUES = torch.tensor([[0.3, 0.9], [1.2, -0.4], [-2.0, 0.1]], dtype=torch.float64)
INPUTS = torch.tensor([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0], [1.0, 0.0, 0.0]], dtype=torch.float64)


def _grads(name: str, *, wrt_inputs: bool):
    values = VALUES.clone().requires_grad_(True)
    inputs = INPUTS.clone().requires_grad_(wrt_inputs)
    res = qbridge.get_backend(name).run(Task(CIRCUIT, values, inputs={"x": inputs}, observables=OBS),
                                        precision="double").result()[0]
    weights = torch.arange(1, 9, dtype=torch.float64)
    loss = (res.expectation_values * torch.tensor([1.0, -0.7], dtype=torch.float64)).sum() + (
        res.probabilities * weights).sum()
    loss.backward()
    return loss.detach(), values.grad, inputs.grad


def test_backprop_on_default_qubit_matches_torch_including_inputs():
    l0, gv0, gx0 = _grads("torch", wrt_inputs=True)
    l1, gv1, gx1 = _grads("pennylane.default.qubit", wrt_inputs=True)
    assert float(abs(l0 - l1)) < 1e-10
    torch.testing.assert_close(gv1, gv0, atol=1e-8, rtol=0)
    torch.testing.assert_close(gx1, gx0, atol=1e-8, rtol=0)


@pytest.mark.parametrize("name", ["pennylane.lightning.qubit", "pennylane.reference.qubit"])
def test_adjoint_and_parameter_shift_match_torch(name):
    l0, gv0, _ = _grads("torch", wrt_inputs=False)
    l1, gv1, gx1 = _grads(name, wrt_inputs=False)
    assert float(abs(l0 - l1)) < 1e-10
    torch.testing.assert_close(gv1, gv0, atol=1e-7, rtol=0)
    assert gx1 is None


def test_declared_gradient_methods():
    assert qbridge.get_backend("pennylane.lightning.qubit").target.gradient_methods == ("adjoint", "parameter-shift")
    assert qbridge.get_backend("pennylane.default.qubit").target.gradient_methods == ("backprop", "parameter-shift")
    assert qbridge.get_backend("pennylane.default.mixed").target.gradient_methods == ("parameter-shift",)


def test_lightning_refuses_what_it_cannot_differentiate():
    backend = qbridge.get_backend("pennylane.lightning.qubit")
    values = VALUES.clone().requires_grad_(True)
    with pytest.raises(ValidationError, match="encoded inputs need backprop"):
        backend.run(Task(CIRCUIT, values, inputs={"x": INPUTS.clone().requires_grad_(True)})).result()
    with pytest.raises(ValidationError, match="cannot differentiate state vectors"):
        backend.run(Task(CIRCUIT, values, inputs={"x": INPUTS}, statevector=True)).result()


def test_no_grad_inputs_give_numpy_results():
    res = qbridge.get_backend("pennylane.lightning.qubit").run(
        Task(CIRCUIT, VALUES, inputs={"x": INPUTS}, observables=OBS), precision="double").result()[0]
    assert isinstance(res.probabilities, np.ndarray) and isinstance(res.expectation_values, np.ndarray)


def test_gradients_through_a_native_multi_controlled_gate_match_torch():
    # lightning takes mcu as controlled rotations (qbridge_pennylane.translate): adjoint gradients
    circuit = (Circuit(4).h(0).h(1).ry(2, b).mcu((0, 2, 1), 3, a, 0.4, b, 0.5 * a).h(3)
               .mcu((3, 1), 0, 0.3, a, -b, b))
    assert "mcu" in qbridge.get_backend("pennylane.lightning.qubit").target.native_gates
    obs = [PauliSum.parse("ZIIZ + 0.5*XXIY")]
    out = []
    for name in ("torch", "pennylane.lightning.qubit"):
        values = VALUES.clone().requires_grad_(True)
        res = qbridge.get_backend(name).run(Task(circuit, values, observables=obs), precision="double").result()[0]
        res.expectation_values.sum().backward()
        out.append((res.expectation_values.detach(), values.grad))
    torch.testing.assert_close(out[1][0], out[0][0], atol=1e-12, rtol=0)
    torch.testing.assert_close(out[1][1], out[0][1], atol=1e-8, rtol=0)


def test_double_precision_values_stay_double_through_the_adjoint_pass():
    # lightning's adjoint pass returns Python floats, which PennyLane's torch interface made float32
    # tensors (2e-8 off); the run restores torch's default dtype afterwards
    values = VALUES.clone().requires_grad_(True)
    circuit = Circuit(2).rx(0, a).cx(0, 1).ry(1, b)
    before = torch.get_default_dtype()
    res = qbridge.get_backend("pennylane.lightning.qubit").run(
        Task(circuit, values, observables=[PauliSum.parse("IZ")]), precision="double").result()[0]
    assert torch.get_default_dtype() == before
    assert res.expectation_values.dtype == torch.float64
    want = torch.cos(VALUES[:, 0]) * torch.cos(VALUES[:, 1])  # <Z> of qubit 1 after rx(a), cx, ry(b)
    torch.testing.assert_close(res.expectation_values[:, 0].detach(), want, atol=1e-14, rtol=0)
