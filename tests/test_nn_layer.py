"""QuantumLayer: submissions, gradient methods (backprop, parameter shift, SPSA, adjoint hook),
the amplitude shift rule for inputs, shots, zero rows and the preview."""

import math

import numpy as np
import pytest
import torch

from qbridge import Circuit, Parameter, PauliSum
from qbridge.backends.base import Target
from qbridge.backends.torch import TorchBackend
from qbridge.exceptions import EncodingError, GateError
from qbridge.nn import InputGradientError, QuantumLayer, VJPResult, shift_rule
from qbridge.nn.gradients import SHIFT_RULES
from qbridge.sim import statevector as sv


class CountingTorch(TorchBackend):
    """The torch backend, counting Backend.run calls (submissions)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.runs = 0
        self.tasks_per_run = []

    def run(self, tasks, config=None, **settings):
        self.runs += 1
        self.tasks_per_run.append(len(tasks) if isinstance(tasks, list) else 1)
        return super().run(tasks, config, **settings)


def every_gate_circuit():
    """All parametric gates of the library, with linear expressions a*theta + b and shared weights."""
    a, b, c, d = (Parameter(s) for s in "abcd")
    return (
        Circuit(3).amplitude_encode("x")
        .rx(0, a).ry(1, 2 * b + 0.3).rz(2, c).p(0, d).u(1, a, -0.5 * c, d - 1.0)
        .h(2).cx(0, 1)
        .rxx(0, 1, b).ryy(1, 2, 0.5 * a).rzz(0, 2, c)
        .crx(0, 1, d).cry(1, 2, -1.5 * a).crz(2, 0, b + c).cp(0, 2, a)
        .ry(0, c).rx(2, 3 * d)
    )


READOUTS = ["probabilities", ["ZII", "0.5*XXI - 0.3*IYZ", "YIX"]]


def make_layer(readout, gradient, backend="torch", **kw):
    torch.manual_seed(0)
    layer = QuantumLayer(every_gate_circuit(), readout, backend, gradient=gradient, **kw).double()
    return layer


def grads(layer, x, w_out):
    x = x.clone().requires_grad_()
    y = layer(x)
    (y * w_out).sum().backward()
    return y.detach(), layer.weights.grad.clone(), x.grad.clone()


@pytest.mark.parametrize("readout", READOUTS, ids=["probs", "paulis"])
def test_parameter_shift_matches_autograd(readout):
    x = torch.randn(6, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    bp = make_layer(readout, "auto")
    ps = make_layer(readout, "parameter-shift")
    assert bp.gradient_method == "backprop" and ps.gradient_method == "parameter-shift"
    w_out = torch.randn(6, 8 if readout == "probabilities" else 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    y1, gw1, gx1 = grads(bp, x, w_out)
    y2, gw2, gx2 = grads(ps, x, w_out)
    assert torch.allclose(y1, y2, atol=1e-12)
    assert torch.allclose(gw1, gw2, atol=1e-9)  # exact rules, double precision
    assert torch.allclose(gx1, gx2, atol=1e-9)  # amplitude shift rule is exact too


def test_four_term_rule_is_needed_for_controlled_rotations():
    # the two-term rule is wrong for crz: check the library's rule against a finite difference
    x = torch.tensor([[0.3, 0.5, -0.6, 0.4]], dtype=torch.float64)

    def f(t):
        c = Circuit(2).amplitude_encode("x").h(0).crz(0, 1, t).h(1).rx(0, 0.3)
        return float(sv.expectation_values(sv.simulate(c, None, {"x": x}, dtype=torch.complex128), [PauliSum.parse("XY")])[0, 0])

    fd = (f(0.7 + 1e-6) - f(0.7 - 1e-6)) / 2e-6
    four = sum(cf * f(0.7 + s) for s, cf in shift_rule("crz"))
    two = sum(cf * f(0.7 + s) for s, cf in SHIFT_RULES["rz"][0])
    assert abs(four - fd) < 1e-7
    assert abs(two - fd) > 0.1


def test_gate_without_rule_is_an_error():
    with pytest.raises(GateError, match="no parameter-shift rule"):
        shift_rule("h")


def test_forward_and_backward_are_one_submission_each():
    be = CountingTorch()
    layer = QuantumLayer(every_gate_circuit(), ["ZII", "XIX"], be, gradient="parameter-shift").double()
    x = torch.randn(5, 8, dtype=torch.float64, requires_grad=True)
    y = layer(x)
    assert be.runs == 1 and be.tasks_per_run == [1]
    y.sum().backward()
    assert be.runs == 2  # weight shifts and input shifts in ONE submission
    bp = QuantumLayer(every_gate_circuit(), "probabilities", CountingTorch())
    bp(torch.randn(7, 8)).sum().backward()
    assert bp.backend.runs == 1


@pytest.mark.parametrize("gradient", ["backprop", "parameter-shift"])
def test_gradcheck(gradient):
    c = Circuit(2).amplitude_encode("x").ry(0, Parameter("a")).crx(0, 1, Parameter("b")).rz(1, 2 * Parameter("a")).cx(1, 0)
    layer = QuantumLayer(c, ["ZI", "XY"], gradient=gradient).double()
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)

    def f(w, xx):
        with torch.no_grad():
            layer.weights.copy_(w)
        return _call_with_weights(layer, w, xx)

    w = layer.weights.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(f, (w, x))


def _call_with_weights(layer, w, x):
    # run the layer with an external weight tensor (so gradcheck can perturb it)
    saved = layer.weights
    try:
        del layer._parameters["weights"]
        layer.weights = w
        return layer(x)
    finally:
        del layer.weights
        layer._parameters["weights"] = saved


def test_spsa_estimates_the_gradient_direction():
    layer = make_layer(["ZII", "IXI"], "spsa", spsa_samples=400, spsa_epsilon=1e-3, seed=3)
    ref = make_layer(["ZII", "IXI"], "auto")
    x = torch.randn(4, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    _, g_spsa, _ = grads(layer, x, torch.ones(4, 2, dtype=torch.float64))
    _, g_ref, _ = grads(ref, x, torch.ones(4, 2, dtype=torch.float64))
    cos = float(g_spsa @ g_ref / (g_spsa.norm() * g_ref.norm()))
    # E[g_spsa] = g; with 400 samples of 4 weights the estimate is close in direction
    assert cos > 0.95


def test_input_gradient_error_mode():
    layer = make_layer("probabilities", "parameter-shift", input_gradient="error")
    x = torch.randn(2, 8, dtype=torch.float64)
    layer(x).sum().backward()  # fine: inputs need no gradient
    with pytest.raises(InputGradientError, match="detach the input"):
        layer(x.requires_grad_())


def test_shots_parameter_shift_is_unbiased_within_noise():
    shots = 4000
    exact = make_layer(["ZII", "IIX"], "auto")
    noisy = make_layer(["ZII", "IIX"], "auto", shots=shots, seed=11)
    assert noisy.gradient_method == "parameter-shift"
    x = torch.randn(3, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    y_exact, g_exact, _ = grads(exact, x, torch.ones(3, 2, dtype=torch.float64))
    y_noisy = noisy(x)
    # each value is a mean of +-1 outcomes: sigma <= 1/sqrt(shots); 5 sigma
    assert torch.all((y_noisy - y_exact).abs() < 5 / math.sqrt(shots))
    # same seed, same numbers
    again = make_layer(["ZII", "IIX"], "auto", shots=shots, seed=11)
    assert torch.equal(again(x), y_noisy)
    y_noisy.sum().backward()
    g = noisy.weights.grad
    # 2-term rules: 2 evaluations x 0.5 coefficient per term; 4-term rules at most ~1.2 in |c|
    # sum; occurrences per weight <= 5; rows 3; readouts 2 -> a loose 5 sigma bound
    bound = 5 * 3 * 2 * 5 * 1.3 / math.sqrt(shots)
    assert torch.all((g - g_exact).abs() < bound)


def test_probabilities_with_shots_from_counts():
    layer = make_layer("probabilities", "parameter-shift", shots=2000, seed=2)
    ref = make_layer("probabilities", "auto")
    x = torch.randn(4, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    p, p_ref = layer(x), ref(x)
    assert torch.allclose(p.sum(1), torch.ones(4, dtype=torch.float64))
    assert torch.all((p - p_ref).abs() < 5 * torch.sqrt(p_ref * (1 - p_ref) / 2000) + 1e-3)


def test_zero_rows():
    c = Circuit(2).amplitude_encode("x").ry(0, Parameter("a")).cx(0, 1)
    x = torch.randn(4, 4, dtype=torch.float64)
    x[1] = 0
    with pytest.raises(EncodingError, match="zero vector"):
        QuantumLayer(c, "ZI")(x.float())
    for gradient in ("backprop", "parameter-shift"):
        layer = QuantumLayer(c, ["ZI", "IZ"], gradient=gradient, zero_rows="zero").double()
        xr = x.clone().requires_grad_()
        y = layer(xr)
        assert torch.equal(y[1], torch.zeros(2, dtype=torch.float64))
        y.sum().backward()
        assert torch.isfinite(xr.grad).all() and torch.isfinite(layer.weights.grad).all()
        assert torch.equal(xr.grad[1], torch.zeros(4, dtype=torch.float64))
    # every row zero: nothing is sent, zeros come back
    be = CountingTorch()
    layer = QuantumLayer(c, "ZI", be, zero_rows="zero")
    assert torch.equal(layer(torch.zeros(3, 4)), torch.zeros(3, 1))
    assert be.runs == 0


class AdjointTorch(TorchBackend):
    """A backend offering the adjoint seam: vjp() by reverse-mode differentiation of its own
    simulator (an independent path from the layer's parameter-shift code)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self._target = Target(num_qubits=20, native_gates=self._target.native_gates, gradient_methods=("adjoint",))
        self.vjp_calls = 0

    def vjp(self, tasks, cotangents, config):
        self.vjp_calls += 1
        out = []
        for task, cot in zip(tasks, cotangents):
            pv = torch.tensor(np.array(task.parameter_array()), dtype=torch.float64).requires_grad_()
            xs = {k: torch.tensor(np.array(v), dtype=torch.float64).requires_grad_() for k, v in task.inputs.items()}
            st = sv.simulate(task.circuit, pv, xs, dtype=torch.complex128)
            y = sv.expectation_values(st, task.observables) if task.observables else sv.probabilities(st)
            (y * torch.as_tensor(cot)).sum().backward()
            out.append(VJPResult(pv.grad.sum(0, keepdim=True).numpy(), {k: v.grad.numpy() for k, v in xs.items()}))
        return out


def test_adjoint_seam():
    be = AdjointTorch()
    layer = make_layer(["ZII", "XXI"], "auto", backend=be)
    assert layer.gradient_method == "adjoint"
    ref = make_layer(["ZII", "XXI"], "auto")
    x = torch.randn(4, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    w_out = torch.randn(4, 2, dtype=torch.float64)
    y1, g1, gx1 = grads(layer, x, w_out)
    y2, g2, gx2 = grads(ref, x, w_out)
    assert be.vjp_calls == 1
    assert torch.allclose(g1, g2, atol=1e-10) and torch.allclose(gx1, gx2, atol=1e-10)
    with pytest.raises(ValueError, match="adjoint"):
        QuantumLayer(every_gate_circuit(), "ZII", "torch", gradient="adjoint")


def test_multi_circuit_layer_shares_weights_and_one_submission():
    a, b = Parameter("a"), Parameter("b")
    c1 = Circuit(2).amplitude_encode("x").ry(0, a).cx(0, 1)
    c2 = Circuit(2).amplitude_encode("x").ry(1, a).rx(0, b)
    be = CountingTorch()
    layer = QuantumLayer([(c1, "ZI"), (c2, ["IZ", "XI"])], backend=be, gradient="parameter-shift").double()
    assert layer.parameter_names == ("a", "b") and layer.num_weights == 2
    x = torch.randn(3, 4, dtype=torch.float64)
    y1, y2 = layer(x)
    assert y1.shape == (3, 1) and y2.shape == (3, 2) and be.runs == 1 and be.tasks_per_run == [2]
    (y1.sum() + y2.sum()).backward()
    ref = QuantumLayer([(c1, "ZI"), (c2, ["IZ", "XI"])], gradient="backprop", init=layer.weights.detach()).double()
    r1, r2 = ref(x)
    (r1.sum() + r2.sum()).backward()
    assert torch.allclose(layer.weights.grad, ref.weights.grad, atol=1e-10)


def test_leading_dimensions_and_preview():
    layer = QuantumLayer(every_gate_circuit(), ["ZII", "IZI"], shots=100, seed=0)
    y = layer(torch.randn(2, 3, 8))
    assert y.shape == (2, 3, 2)
    pv = layer.preview(10)
    # 16 parametric slots: crx, cry, crz take the 4-term rule, the rest (cp included) 2 terms
    assert pv.rows["forward"] == 10
    assert pv.rows["weight_gradient"] == (13 * 2 + 3 * 4) * 10
    assert pv.rows["input_gradient"] == 2 * 8 * 10
    assert pv.executions == sum(pv.rows.values())  # Z-only readout: one measurement group
    assert pv.shots_per_step == pv.executions * 100 and pv.cost is None and pv.submissions == 2
    assert "shots per step" in str(pv)
    costed = QuantumLayer(every_gate_circuit(), ["ZII", "XII"], shots=10, cost_estimator=lambda p: 0.01 * p.shots_per_step)
    pv2 = costed.preview(1)
    assert pv2.circuits[0]["groups"] == 2 and pv2.cost == pytest.approx(0.01 * pv2.shots_per_step)


def test_argument_errors():
    c = every_gate_circuit()
    with pytest.raises(ValueError, match="gradient must be"):
        QuantumLayer(c, "ZII", gradient="magic")
    with pytest.raises(ValueError, match="backprop"):
        QuantumLayer(c, "ZII", shots=10, gradient="backprop")
    with pytest.raises(ValueError, match="must not measure"):
        QuantumLayer(c.measure_all(), "ZII")
    layer = QuantumLayer(c, "ZII")
    with pytest.raises(EncodingError, match="holds 8 amplitudes"):
        layer(torch.randn(2, 9))
    with pytest.raises(TypeError, match="unknown input"):
        layer(y=torch.randn(2, 8))


@pytest.mark.parametrize("gradient", ["parameter-shift", "spsa"])
def test_layer_without_inputs(gradient):
    c = Circuit(2).ry(0, Parameter("a")).cx(0, 1).rx(1, Parameter("b"))
    w = torch.tensor([0.3, -1.1], dtype=torch.float64)
    ref = QuantumLayer(c, ["ZI", "IZ"], init=w.clone()).double()
    other = QuantumLayer(c, ["ZI", "IZ"], gradient=gradient, init=w.clone(), spsa_samples=300, spsa_epsilon=1e-3, seed=0).double()
    y_ref, y = ref(), other()
    assert y.shape == (2,) and torch.allclose(y, y_ref, atol=1e-12)
    # exact values: <Z0> = cos a, <Z1> = cos a cos b
    assert torch.allclose(y, torch.tensor([math.cos(0.3), math.cos(0.3) * math.cos(-1.1)], dtype=torch.float64))
    y_ref.sum().backward()
    y.sum().backward()
    tol = 1e-10 if gradient == "parameter-shift" else 0.15
    assert torch.allclose(other.weights.grad, ref.weights.grad, atol=tol)
