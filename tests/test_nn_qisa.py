"""QISA and QISA-A against dense references; the two aggregations; the fast inference path."""

import numpy as np
import pytest
import torch

from qbridge import Circuit
from qbridge.audit import check_causal
from qbridge.ir.observables import PauliSum
from qbridge.nn import QISAAttention, draw_pauli_strings
from qbridge.nn.ansatz import qisa_a
from qbridge.nn.qisa import pauli_action_tables
from qbridge.sim import statevector as sv


def test_pauli_string_draw():
    a = draw_pauli_strings(2000, 4, seed=1)
    assert a == draw_pauli_strings(2000, 4, seed=1) and a != draw_pauli_strings(2000, 4, seed=2)
    assert all(len(s) == 4 and set(s) != {"I"} for s in a)
    chars = np.array([list(s) for s in a])
    # P(I) = 0.9 before rejecting all-identity strings: 0.9 (1 - 0.9^3) / (1 - 0.9^4) ~ 0.7
    frac_i = (chars == "I").mean()
    expect = 0.9 * (1 - 0.9**3) / (1 - 0.9**4)
    assert abs(frac_i - expect) < 5 * np.sqrt(expect * (1 - expect) / chars.size)
    nonid = chars[chars != "I"]
    for c in "XYZ":
        assert abs((nonid == c).mean() - 1 / 3) < 0.05


def test_action_tables_match_dense_paulis():
    strings = ["XIZ", "YYI", "IZY", "ZXX", "YII"]
    index, sign = pauli_action_tables(strings, 3)
    rng = np.random.default_rng(0)
    v = rng.normal(size=8)
    for m, s in enumerate(strings):
        dense = PauliSum.parse(s).to_matrix()  # first character on qubit 0, the MSB
        assert np.allclose(sign[m] * v[index[m]], (dense @ v).real)
        if s.count("Y") % 2:
            assert np.all(sign[m] == 0)


def dense_values(model, x):
    """val_m = Re <v'|P_m|v'> with dense matrices (QISA)."""
    N = 2**model.num_qubits
    v = torch.nn.functional.pad(x @ model.v.weight.T, (0, N - model.d_model)).to(torch.complex128)
    mats = [torch.as_tensor(PauliSum.parse(s).to_matrix()) for s in model.pauli_strings]
    return torch.stack([torch.einsum("...i,ij,...j->...", v.conj(), P, v).real for P in mats], dim=-1)


def test_qisa_values_and_scores_against_reference():
    torch.manual_seed(0)
    m = QISAAttention(6, 5, seed=3).double()
    x = torch.randn(2, 4, 6, dtype=torch.float64)
    val = m.values(x)
    assert torch.allclose(val, dense_values(m, x), atol=1e-12)
    # scores and causal aggregation, spelled out
    q, k = m.q(x), m.k(x)
    out = m(x)
    for b in range(2):
        for i in range(4):
            alpha = torch.exp(-((q[b, i] - k[b, : i + 1]) ** 2).sum(-1))
            w = torch.softmax(alpha, dim=0)  # softmax of alpha itself, j <= i
            assert torch.allclose(out[b, i], w @ val[b, : i + 1], atol=1e-12)


def test_as_published_aggregation_reads_later_positions():
    torch.manual_seed(1)
    c = QISAAttention(6, 5, seed=3).double()
    p = QISAAttention(6, 5, seed=3, aggregation="as_published").double()
    p.load_state_dict(c.state_dict())
    x = torch.randn(1, 4, 6, dtype=torch.float64)
    q, k = c.q(x), c.k(x)
    alpha = torch.exp(-((q[0, :, None] - k[0, None]) ** 2).sum(-1))
    A = torch.softmax(alpha.masked_fill(torch.ones(4, 4).triu(1).bool(), float("-inf")), dim=-1)
    val = c.values(x)[0]
    assert torch.allclose(p(x)[0], A.T @ val, atol=1e-12)
    assert torch.allclose(c(x)[0], A @ val, atol=1e-12)


@pytest.mark.parametrize("variant", ["qisa", "qisa_a"])
def test_check_causal_flags_as_published_only(variant):
    torch.manual_seed(2)
    good = QISAAttention(8, 8, variant=variant)
    bad = QISAAttention(8, 8, variant=variant, aggregation="as_published")
    v_good = check_causal(good, 8, d_model=8)
    v_bad = check_causal(bad, 8, d_model=8)
    assert v_good.causal and v_good.first_leaking_position is None
    assert not v_bad.causal and v_bad.first_leaking_position == 0 and v_bad.max_change > 1e-3


def test_qisa_a_values_against_reference():
    torch.manual_seed(3)
    m = QISAAttention(6, 6, variant="qisa_a", seed=4).double()
    n = m.num_qubits
    assert m.values_layer.num_weights == 3 * n
    x = torch.randn(3, 6, dtype=torch.float64)
    val = m.values(x)
    state = sv.simulate(Circuit(n).amplitude_encode("x").compose(qisa_a(n)), m.values_layer.weights.detach()[None],
                        {"x": x}, dtype=torch.complex128)
    ref = sv.expectation_values(state, [PauliSum.parse(s) for s in m.pauli_strings])
    assert torch.allclose(val, ref, atol=1e-12)
    # an independent reference from Qiskit for one row
    qi = pytest.importorskip("qiskit.quantum_info")
    psi = qi.Statevector(state[0].numpy())
    for j, s in enumerate(m.pauli_strings):
        # Qiskit labels are written q(n-1)..q0 for little-endian states; our q0 is the MSB, so the
        # string's first character (qubit 0) is also Qiskit's leftmost label character
        assert abs(psi.expectation_value(qi.Pauli(s)).real - float(ref[0, j])) < 1e-12


@pytest.mark.parametrize("variant", ["qisa", "qisa_a"])
def test_fast_inference_equals_training_path(variant):
    torch.manual_seed(4)
    m = QISAAttention(10, 7, variant=variant).double()
    x = torch.randn(2, 5, 10, dtype=torch.float64)
    x[0, 2] = 0  # zero rows give zero values either way
    slow = m(x)
    assert torch.allclose(m.fast_values(x), m.values(x), atol=1e-10)
    m.eval()
    with torch.no_grad():
        fast = m(x)
    assert torch.allclose(fast, slow.detach(), atol=1e-10)
    # the cache follows the weights
    with torch.no_grad():
        (m.v.weight if variant == "qisa" else m.values_layer.weights).mul_(0.5)
        again = m(x)
    assert torch.allclose(again, m.train()(x).detach(), atol=1e-10)
    assert m.observables().shape == (7, 10, 10)


def test_eval_mode_qisa_a_with_shots_or_another_backend_runs_its_circuits():
    """The fast quadratic forms are exact: in eval mode they must not stand in for a run with
    shots (or on another backend), which would quietly turn inference on a noisy emulator or a
    QPU into a local exact computation."""
    from qbridge import get_backend

    torch.manual_seed(6)
    x = torch.randn(1, 3, 4, dtype=torch.float64)
    be = get_backend("torch")
    calls = []
    original = be._execute
    be._execute = lambda compiled, config: calls.append(config.shots) or original(compiled, config)
    exact = QISAAttention(4, 4, variant="qisa_a").double()
    sampled = QISAAttention(4, 4, variant="qisa_a", backend=be, shots=200, sample_seed=1).double()
    sampled.load_state_dict(exact.state_dict())
    exact.eval(), sampled.eval()
    with torch.no_grad():
        y_exact, y_sampled = exact(x), sampled(x)
    assert calls == [200]  # the circuit ran, with its shots
    assert not torch.allclose(y_sampled, y_exact, atol=1e-6)
    assert (y_sampled - y_exact).abs().max() < 0.5  # and it is a sample of the same values
    assert exact._fast_is_exact() and not sampled._fast_is_exact()


@pytest.mark.parametrize("variant", ["qisa", "qisa_a"])
@pytest.mark.parametrize("aggregation", ["causal", "as_published"])
def test_gradcheck(variant, aggregation):
    torch.manual_seed(5)
    m = QISAAttention(4, 3, variant=variant, aggregation=aggregation).double()
    x = torch.randn(1, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(m, (x,))


def test_qisa_a_parameter_shift_matches_backprop():
    torch.manual_seed(6)
    a = QISAAttention(4, 4, variant="qisa_a").double()
    b = QISAAttention(4, 4, variant="qisa_a", gradient="parameter-shift").double()
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 3, 4, dtype=torch.float64)
    for m in (a, b):
        m(x).square().sum().backward()
    assert torch.allclose(a.values_layer.weights.grad, b.values_layer.weights.grad, atol=1e-9)
    assert torch.allclose(a.q.weight.grad, b.q.weight.grad, atol=1e-12)
