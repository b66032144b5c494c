"""Gradients of the torch backend: autograd against central finite differences and the
parameter-shift rule (implemented here, independently of qbridge), and torch.autograd.gradcheck.

Parameter-shift rule used as the reference. A parameter theta enters a gate angle x = a*theta + b
(qbridge expressions are linear), possibly in several gates; d<O>/dtheta = sum over occurrences of
a * d<O>/dx, each occurrence shifted on its own (the others keep their values). Per gate:

- two-term rule, d/dx = [f(x + pi/2) - f(x - pi/2)] / 2, when the gate is exp(-i x G) with G's
  eigenvalues +-1/2 up to a constant (a constant only adds a global phase): rx, ry, rz, rxx, ryy,
  rzz, p and cp (G = |1><1| or |11><11|, i.e. +-1/2 plus 1/2), and the three angles of u
  (theta is an ry angle, phi and lambda are rz angles up to a global phase);
- four-term rule for the controlled rotations crx, cry, crz (G = |1><1| (x) P/2 has eigenvalues
  0 and +-1/2, frequencies 1/2 and 1): d/dx = d1 [f(x + pi/2) - f(x - pi/2)]
  - d2 [f(x + 3pi/2) - f(x - 3pi/2)], d1,2 = (sqrt2 +- 1) / (4 sqrt2) (Anselmetti et al. 2021).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import unitary_group

from qbridge import Circuit, Estimator, Instruction, Parameter, PauliSum, Task
from qbridge.ir.gates import GATES
from qbridge.ir.parameters import ParameterExpression

TWO_TERM = {"rx", "ry", "rz", "rxx", "ryy", "rzz", "p", "cp", "u"}
FOUR_TERM = {"crx", "cry", "crz"}
_D1 = (math.sqrt(2) + 1) / (4 * math.sqrt(2))
_D2 = (math.sqrt(2) - 1) / (4 * math.sqrt(2))
SHIFTS = {
    "two": [(math.pi / 2, 0.5), (-math.pi / 2, -0.5)],
    "four": [(math.pi / 2, _D1), (-math.pi / 2, -_D1), (3 * math.pi / 2, -_D2), (-3 * math.pi / 2, _D2)],
}


def _bound_ops(circuit: Circuit, values: dict[str, float]) -> list[Instruction]:
    out = []
    for op in circuit:
        params = tuple(p.evaluate(values) if isinstance(p, ParameterExpression) else p for p in op.params)
        out.append(Instruction(op.name, op.qubits, params, op.matrix, op.source))
    return out


def parameter_shift_gradient(backend, circuit: Circuit, values: dict[str, float], obs: PauliSum) -> dict[str, float]:
    """d<obs>/d(each parameter) by the shift rules above, all shifted circuits in one submission."""
    base = _bound_ops(circuit, values)
    tasks, weights = [], []  # weights[k] = (parameter name, coefficient) of tasks[k]
    for i, op in enumerate(circuit):
        for j, p in enumerate(op.params):
            if not isinstance(p, ParameterExpression):
                continue
            rule = "two" if op.name in TWO_TERM else "four" if op.name in FOUR_TERM else None
            assert rule is not None, f"no shift rule for {op.name}"
            for name, a in p.terms:
                for shift, c in SHIFTS[rule]:
                    params = list(base[i].params)
                    params[j] += shift
                    ops = base[:i] + [Instruction(op.name, op.qubits, tuple(params))] + base[i + 1:]
                    tasks.append(Task(Circuit(circuit.num_qubits, ops), observables=(obs,)))
                    weights.append((name, a * c))
    grads = {name: 0.0 for name in circuit.parameter_names}
    if tasks:
        res = backend.run(tasks, precision="double").result()
        for r, (name, w) in zip(res, weights):
            grads[name] += w * r.expectation_values[0, 0].item()
    return grads


def _random_parametric_circuit(rng, n: int, num_params: int, depth: int) -> Circuit:
    params = [Parameter(f"w{i}") for i in range(num_params)]
    rotations = [g for g in sorted(TWO_TERM | FOUR_TERM) if GATES[g].num_qubits <= n]
    fixed = [g for g in ("h", "cx", "sx", "cz", "s", "cy", "ch") if GATES[g].num_qubits <= n]
    c = Circuit(n, global_phase=0.3 * params[0])
    for _ in range(depth):
        if rng.random() < 0.15:  # Haar-random blocks: generic states, every shift-rule frequency present
            k = min(n, 2)
            c = c.unitary(unitary_group.rvs(2**k, random_state=rng), [int(q) for q in rng.choice(n, k, replace=False)])
            continue
        name = rotations[int(rng.integers(len(rotations)))] if rng.random() < 0.7 else fixed[int(rng.integers(len(fixed)))]
        g = GATES[name]
        qubits = [int(q) for q in rng.choice(n, g.num_qubits, replace=False)]
        angles = []
        for _ in range(g.num_params):
            k = int(rng.integers(num_params))
            a = float(rng.choice([-1, 1]) * rng.uniform(0.5, 2.0))
            angles.append(a * params[k] + float(rng.uniform(-1, 1)))
        c = c.append(name, qubits, angles)
    return c


def _expectation(backend, circuit, values, obs, inputs=None):
    return backend.run(Task(circuit, values, inputs or {}, (obs,)), precision="double").result()[0].expectation_values


@pytest.mark.parametrize("seed", range(6))
def test_autograd_matches_parameter_shift_and_finite_differences(seed, torch_backend):
    rng = np.random.default_rng([11, seed])
    n = 2 + seed % 3
    c = _random_parametric_circuit(rng, n, num_params=3, depth=12)
    obs = PauliSum([(float(rng.normal()), "".join(rng.choice(list("XYZ"), n))) for _ in range(3)], n)
    names = c.parameter_names
    values = torch.tensor(rng.uniform(-np.pi, np.pi, (3, len(names))), dtype=torch.float64, requires_grad=True)
    ev = _expectation(torch_backend, c, values, obs)  # (3, 1): a batch of three bindings
    ev.sum().backward()
    autograd = values.grad.numpy()
    h = 1e-5
    for row in range(3):
        point = values.detach().numpy()[row]
        shift = parameter_shift_gradient(torch_backend, c, dict(zip(names, point)), obs)
        np.testing.assert_allclose(autograd[row], [shift[nm] for nm in names], atol=1e-8)
        fd = []
        for k in range(len(names)):
            plus, minus = point.copy(), point.copy()
            plus[k] += h
            minus[k] -= h
            pair = np.asarray(_expectation(torch_backend, c, np.stack([plus, minus]), obs))[:, 0]
            fd.append((pair[0] - pair[1]) / (2 * h))
        np.testing.assert_allclose(autograd[row], fd, atol=1e-7)


@pytest.mark.parametrize("name", sorted(TWO_TERM | FOUR_TERM))
def test_shift_rule_per_gate(name, torch_backend):
    """Each rotation gate alone (coefficient 2, after a basis change): all three gradients agree."""
    theta = Parameter("theta")
    g = GATES[name]
    # Haar-random unitaries around the gate make every frequency of <O>(theta) show up (a control in
    # |+>, for example, hides the 1/2 frequency of crz and a wrong two-term rule would pass)
    c = Circuit(2).unitary(unitary_group.rvs(4, random_state=1), [0, 1])
    angles = [0.3 * (k + 1) for k in range(g.num_params)]
    angles[-1] = 2 * theta - 0.2
    c = c.append(name, list(range(g.num_qubits)), angles).unitary(unitary_group.rvs(4, random_state=2), [0, 1])
    obs = PauliSum.parse("0.7*XZ + YI - 0.4*ZY")
    x = torch.tensor([[0.9]], dtype=torch.float64, requires_grad=True)
    _expectation(torch_backend, c, x, obs).sum().backward()
    shift = parameter_shift_gradient(torch_backend, c, {"theta": 0.9}, obs)["theta"]
    pair = np.asarray(_expectation(torch_backend, c, np.array([[0.9 + 1e-5], [0.9 - 1e-5]]), obs))[:, 0]
    assert x.grad.item() == pytest.approx(shift, abs=1e-9)
    assert x.grad.item() == pytest.approx((pair[0] - pair[1]) / 2e-5, abs=1e-7)


def test_gradients_of_dict_bindings_and_estimator(torch_backend):
    a, b = Parameter("a"), Parameter("b")
    c = Circuit(2).ry(0, a).crx(0, 1, b).rzz(0, 1, a - b)
    ta = torch.tensor([0.3, 0.8], dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(1.1, dtype=torch.float64, requires_grad=True)
    res = Estimator(torch_backend).run(c, ["ZZ", "XY"], {"a": ta, "b": tb}, precision="double")
    res.values.sum().backward()
    for row in range(2):
        point = {"a": ta[row].item(), "b": 1.1}
        g = {k: sum(parameter_shift_gradient(torch_backend, c, point, PauliSum.parse(o))[k] for o in ("ZZ", "XY"))
             for k in ("a", "b")}
        assert ta.grad[row].item() == pytest.approx(g["a"], abs=1e-9)
    total_b = sum(
        sum(parameter_shift_gradient(torch_backend, c, {"a": ta[r].item(), "b": 1.1}, PauliSum.parse(o))["b"]
            for o in ("ZZ", "XY"))
        for r in range(2)
    )
    assert tb.grad.item() == pytest.approx(total_b, abs=1e-9)  # a shared value sums its rows' gradients


def _fd_input_gradient(backend, c, values, x: np.ndarray, obs, h=1e-6) -> np.ndarray:
    """Central differences of sum(<obs>) in each real (and imaginary) coordinate of x (shape (d,))."""
    grad = np.zeros(x.shape, dtype=x.dtype)
    steps = [1.0] + ([1j] if np.iscomplexobj(x) else [])
    for k in range(x.size):
        for step in steps:
            plus, minus = x.copy(), x.copy()
            plus[k] += h * step
            minus[k] -= h * step
            pair = np.asarray(_expectation(backend, c, values, obs, {"x": np.stack([plus, minus])}))[:, 0]
            grad[k] += step * (pair[0] - pair[1]) / (2 * h)
    return grad


@pytest.mark.parametrize("complex_input", [False, True], ids=["real", "complex"])
def test_input_vector_gradients_match_finite_differences(complex_input, torch_backend, rng):
    w = Parameter("w")
    # the input fills qubits 1 and 2 (padded from 3 features to 4) in the middle of the register
    c = Circuit(4).h(0).amplitude_encode("x", [1, 2]).ry(3, w).cx(2, 3).crz(0, 1, w).rxx(1, 2, 0.4)
    obs = PauliSum.parse("Z0 Z1 + 0.5*X2 - 0.3*Y1 Y3", 4)
    x = rng.normal(size=3) + (1j * rng.normal(size=3) if complex_input else 0)
    xt = torch.tensor(x[None, :], requires_grad=True)
    values = np.array([[0.7]])
    _expectation(torch_backend, c, values, obs, {"x": xt}).sum().backward()
    fd = _fd_input_gradient(torch_backend, c, values, x, obs)
    # torch's gradient of a real loss in a complex input is dL/dRe + i dL/dIm
    np.testing.assert_allclose(xt.grad.numpy()[0], fd, atol=1e-7)
    # scaling the input does not change the (normalised) state, so the gradient is orthogonal to x
    assert abs(np.real(np.vdot(x, xt.grad.numpy()[0]))) < 1e-9


def test_probabilities_are_differentiable(torch_backend):
    a = Parameter("a")
    c = Circuit(2).ry(0, a).cx(0, 1).measure([1])
    t = torch.tensor([[0.6]], dtype=torch.float64, requires_grad=True)
    p = torch_backend.run(Task(c, t), precision="double").result()[0].probabilities  # (1, 2), marginal of qubit 1
    p[0, 1].backward()
    assert t.grad.item() == pytest.approx(0.5 * math.sin(0.6), abs=1e-12)  # d/da sin^2(a/2)


def test_gradcheck_float64(torch_backend):
    a, b = Parameter("a"), Parameter("b")
    c = (Circuit(3).amplitude_encode("x", [0, 1]).ry(2, a).crx(2, 0, b).cp(0, 1, a + b)
         .u(1, a, -b, 0.3).ryy(1, 2, 2 * a).rz(0, b - 0.1))

    def f(values, x):
        return _expectation(torch_backend, c, values, PauliSum.parse("0.5*ZZI + XIY - 0.2*IYX"), {"x": x})

    values = torch.tensor([[0.3, -0.7], [1.2, 0.4]], dtype=torch.float64, requires_grad=True)
    x_real = torch.tensor([[0.5, -0.2, 0.9]], dtype=torch.float64, requires_grad=True)
    x_complex = torch.tensor([[0.5 + 0.1j, -0.2j, 0.9, 0.3 - 0.3j]], dtype=torch.complex128, requires_grad=True)
    assert torch.autograd.gradcheck(f, (values, x_real))
    assert torch.autograd.gradcheck(f, (values, x_complex))


def test_single_precision_gradients_are_close(torch_backend):
    a = Parameter("a")
    c = Circuit(2).rx(0, a).crz(0, 1, 2 * a).h(1).ryy(0, 1, a)
    obs = PauliSum.parse("ZX + YY")
    t32 = torch.tensor([[0.4]], dtype=torch.float32, requires_grad=True)
    torch_backend.run(Task(c, t32, observables=(obs,))).result()[0].expectation_values.sum().backward()
    shift = parameter_shift_gradient(torch_backend, c, {"a": 0.4}, obs)["a"]
    assert t32.grad.dtype == torch.float32
    assert t32.grad.item() == pytest.approx(shift, abs=1e-4)


def test_gradients_of_a_large_input_batch(torch_backend, rng):
    """At least 2^n input rows and one binding: the backend may take its unitary fast path; the
    gradients in the parameters and in every input row must still be right."""
    from qbridge.ir.stateprep import bind_inputs

    a, b = Parameter("a"), Parameter("b")
    c = (Circuit(2).amplitude_encode("x").ry(0, a).crz(0, 1, b).unitary(unitary_group.rvs(4, random_state=5), [0, 1])
         .rxx(0, 1, a - 0.5 * b))
    obs = PauliSum.parse("ZI - 0.5*XY + 0.3*IZ")
    B = 6
    x = rng.normal(size=(B, 4))
    xt = torch.tensor(x, requires_grad=True)
    values = torch.tensor([[0.8, -0.4]], dtype=torch.float64, requires_grad=True)
    ev = _expectation(torch_backend, c, values, obs, {"x": xt})
    assert tuple(ev.shape) == (B, 1)
    ev.sum().backward()
    shift = {"a": 0.0, "b": 0.0}
    for row in range(B):
        g = parameter_shift_gradient(torch_backend, bind_inputs(c, {"x": x[row]}), {"a": 0.8, "b": -0.4}, obs)
        shift = {k: shift[k] + g[k] for k in shift}
    np.testing.assert_allclose(values.grad.numpy()[0], [shift["a"], shift["b"]], atol=1e-8)
    h = 1e-6
    for row, k in [(0, 0), (3, 2), (5, 3)]:
        plus, minus = x.copy(), x.copy()
        plus[row, k] += h
        minus[row, k] -= h
        fd = (_expectation(torch_backend, c, values.detach(), obs, {"x": plus}).sum()
              - _expectation(torch_backend, c, values.detach(), obs, {"x": minus}).sum()).item() / (2 * h)
        assert xt.grad[row, k].item() == pytest.approx(fd, abs=1e-7)
