"""QFFN: shapes, the documented readout formulas, zero rows, gradients, parameter counts."""

import math

import pytest
import torch

from qbridge.nn import QFFN
from qbridge.nn.qffn import classical_ffn_parameters, default_pauli_observables
from qbridge.sim import statevector as sv


def test_shapes_and_qubits():
    for d, n in [(1, 1), (2, 1), (5, 3), (8, 3), (12, 4), (16, 4)]:
        m = QFFN(d, depth=2)
        assert m.num_qubits == n
        assert m(torch.randn(2, 3, d)).shape == (2, 3, d)
        assert m(torch.randn(7, d)).shape == (7, d)


def test_probability_readout_formula_against_reference():
    torch.manual_seed(0)
    d, D = 6, 3
    m = QFFN(d, depth=D).double()
    with torch.no_grad():
        m.gain.copy_(torch.linspace(0.5, 1.5, d))
        m.bias.copy_(torch.linspace(-0.1, 0.1, d))
    x = torch.randn(5, d, dtype=torch.float64)
    y = m(x)
    # independent: simulate the circuit gate by gate and apply the documented formula
    state = sv.simulate(m.circuit, m.quantum.weights.detach()[None], {"x": x}, dtype=torch.complex128)
    p = sv.probabilities(state)[:, :d]
    N = 2**m.num_qubits
    r = x.norm(dim=1, keepdim=True)
    ref = m.gain * r * (N * p - 1) / math.sqrt(N) + m.bias
    assert torch.allclose(y, ref, atol=1e-12)
    # positively homogeneous of degree one before the bias
    y2 = m(3.0 * x)
    assert torch.allclose(y2 - m.bias, 3.0 * (y - m.bias), atol=1e-12)


def test_pauli_readout():
    torch.manual_seed(1)
    m = QFFN(10, depth=2, readout="pauli").double()
    assert default_pauli_observables(4) == ["ZIII", "IZII", "IIZI", "IIIZ", "ZZII", "IZZI", "IIZZ", "ZIIZ"]
    x = torch.randn(4, 10, dtype=torch.float64)
    state = sv.simulate(m.circuit, m.quantum.weights.detach()[None], {"x": x}, dtype=torch.complex128)
    from qbridge.ir.observables import PauliSum

    e = sv.expectation_values(state, [PauliSum.parse(s) for s in default_pauli_observables(4)])
    ref = x.norm(dim=1, keepdim=True) * (e @ m.proj.weight.T) + m.bias
    assert torch.allclose(m(x), ref, atol=1e-12)


@pytest.mark.parametrize("readout", ["probabilities", "pauli"])
@pytest.mark.parametrize("gradient", ["backprop", "parameter-shift"])
def test_zero_rows_never_nan(readout, gradient):
    m = QFFN(6, depth=2, readout=readout, gradient=gradient).double()
    with torch.no_grad():
        m.bias.normal_()
    x = torch.randn(2, 4, 6, dtype=torch.float64)
    x[0, 1] = 0
    x[1, 3] = 0
    x.requires_grad_()
    y = m(x)
    assert torch.isfinite(y).all()
    assert torch.equal(y[0, 1], m.bias.detach()) and torch.equal(y[1, 3], m.bias.detach())
    (y**2).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)
    # all-zero input (a batch of padding)
    z = m(torch.zeros(3, 6, dtype=torch.float64))
    assert torch.equal(z, m.bias.detach().expand(3, 6))


@pytest.mark.parametrize("readout", ["probabilities", "pauli"])
def test_gradcheck(readout):
    torch.manual_seed(2)
    m = QFFN(4, depth=2, readout=readout).double()
    x = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(m, (x,))


def test_gradcheck_parameter_shift_path():
    torch.manual_seed(3)
    m = QFFN(3, depth=1, gradient="parameter-shift").double()
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(m, (x,))


def test_parameter_shift_matches_backprop_on_fast_path():
    # 20 rows >= 2^4: the backprop forward takes the unitary path
    torch.manual_seed(4)
    a = QFFN(12, depth=2).double()
    b = QFFN(12, depth=2, gradient="parameter-shift").double()
    b.load_state_dict(a.state_dict())
    x = torch.randn(20, 12, dtype=torch.float64)
    for m in (a, b):
        xx = x.clone().requires_grad_()
        (m(xx) ** 2).sum().backward()
        m.xgrad = xx.grad
    assert torch.allclose(a.quantum.weights.grad, b.quantum.weights.grad, atol=1e-8)
    assert torch.allclose(a.xgrad, b.xgrad, atol=1e-8)


def test_parameter_counts():
    m = QFFN(256, depth=4)
    counts = m.parameter_count()
    assert counts == {"qffn": 2 * 8 * 4 + 2 * 256, "circuit": 64, "classical_ffn": 8 * 256**2 + 5 * 256}
    p = QFFN(256, depth=4, readout="pauli")
    assert p.parameter_count()["qffn"] == 64 + 16 * 256 + 256
    assert classical_ffn_parameters(16) == sum(
        x.numel() for x in torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.GELU(), torch.nn.Linear(64, 16)).parameters()
    )


def test_trains_on_a_toy_regression():
    # the layer can fit a target produced by another QFFN with different weights
    torch.manual_seed(5)
    teacher, student = QFFN(8, depth=2, init="uniform"), QFFN(8, depth=2)
    x = torch.randn(64, 8)
    with torch.no_grad():
        target = teacher(x)
    opt = torch.optim.Adam(student.parameters(), lr=0.05)
    first = None
    for _ in range(60):
        opt.zero_grad()
        loss = ((student(x) - target) ** 2).mean()
        first = first if first is not None else float(loss.detach())
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.5 * first


def test_shots_preview_and_run():
    m = QFFN(4, depth=1, shots=200, seed=1)
    pv = m.preview(2, seq_len=3)
    assert pv.batch_size == 6 and pv.rows["forward"] == 6 and pv.shots_per_step == pv.executions * 200
    y = m(torch.randn(2, 3, 4))
    assert y.shape == (2, 3, 4) and torch.isfinite(y).all()


def test_qffn_is_per_token_and_causal():
    from qbridge.audit import check_causal

    m = QFFN(8, depth=2)
    assert check_causal(m, 6, d_model=8).causal
