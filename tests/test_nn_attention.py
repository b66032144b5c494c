"""Quantum attention heads: formulas, the two evaluation methods, causality, gradients."""


import pytest
import torch

from qbridge.audit import check_causal
from qbridge.nn import HybridMultiheadAttention, OverlapAttentionHead, QSANNAttentionHead
from qbridge.nn.ansatz import build_ansatz
from qbridge.sim import fastpath


def test_overlap_scores_match_the_kernel_definition():
    torch.manual_seed(0)
    head = OverlapAttentionHead(8, 4, depth=2).double()
    assert head.method == "statevector"
    q = torch.randn(2, 5, 4, dtype=torch.float64)
    k = torch.randn(2, 5, 4, dtype=torch.float64)
    s = head.scores(q, k)
    U = fastpath.unitary(build_ansatz("ry_rz_ring", 2, 2), head.layer.weights.detach()[None])
    qn = (q / q.norm(dim=-1, keepdim=True)).to(torch.complex128)
    kn = (k / k.norm(dim=-1, keepdim=True)).to(torch.complex128)
    ref = (torch.einsum("bjd,de,bie->bij", kn.conj(), U, qn).abs() ** 2)
    assert torch.allclose(s, ref, atol=1e-12)
    # U matters: the kernel is not the plain overlap |<k|q>|^2
    plain = torch.einsum("bjd,bid->bij", kn.conj(), qn).abs() ** 2
    assert (s - plain).abs().max() > 1e-2


def test_swap_test_equals_statevector_method():
    torch.manual_seed(1)
    a = OverlapAttentionHead(6, 4, depth=1, method="statevector").double()
    b = OverlapAttentionHead(6, 4, depth=1, method="swap_test").double()
    b.load_state_dict(a.state_dict())
    assert b.layer.programs[0].circuit.num_qubits == 5  # 2 m + 1
    x = torch.randn(2, 4, 6, dtype=torch.float64)
    q, k = a.q_proj(x), a.k_proj(x)
    sa, sb = a.scores(q, k), b.scores(q, k)
    mask = torch.ones(4, 4, dtype=torch.bool).tril()
    assert torch.allclose(sa[:, mask], sb[:, mask], atol=1e-12)
    assert torch.allclose(a(x), b(x), atol=1e-12)
    # gradients agree as well (swap test: autograd through the gate-by-gate simulation)
    for m in (a, b):
        m.zero_grad()
        m(x).square().sum().backward()
    assert torch.allclose(a.layer.weights.grad, b.layer.weights.grad, atol=1e-10)


def test_swap_test_with_parameter_shift_and_zero_rows():
    torch.manual_seed(2)
    a = OverlapAttentionHead(4, 2, depth=1, method="swap_test").double()
    b = OverlapAttentionHead(4, 2, depth=1, method="swap_test", gradient="parameter-shift").double()
    b.load_state_dict(a.state_dict())
    x = torch.randn(1, 3, 4, dtype=torch.float64)
    for m in (a, b):
        m(x).sum().backward()
    assert torch.allclose(a.layer.weights.grad, b.layer.weights.grad, atol=1e-9)
    assert torch.allclose(a.q_proj.weight.grad, b.q_proj.weight.grad, atol=1e-9)
    # zero query rows score 0 and never produce NaN
    q = torch.zeros(1, 3, 2, dtype=torch.float64)
    k = torch.randn(1, 3, 2, dtype=torch.float64)
    assert torch.equal(a.scores(q, k), torch.zeros(1, 3, 3, dtype=torch.float64))
    c = OverlapAttentionHead(4, 2).double()
    assert torch.equal(c.scores(q, k), torch.zeros(1, 3, 3, dtype=torch.float64))


def test_qsann_head_formula():
    torch.manual_seed(3)
    head = QSANNAttentionHead(6, 4, depth=1).double()
    x = torch.randn(2, 5, 6, dtype=torch.float64)
    e = head.embed(x)
    q, k, v = head.layer(e)
    assert q.shape == (2, 5, 1) and v.shape == (2, 5, 6)
    out = head(x)
    ref = torch.zeros_like(out)
    for b in range(2):
        for i in range(5):
            w = torch.exp(-(q[b, i, 0] - k[b, : i + 1, 0]) ** 2)
            ref[b, i] = head.out((w / w.sum()) @ v[b, : i + 1])
    assert torch.allclose(out, ref, atol=1e-12)


def test_qsann_one_submission_for_three_circuits():
    head = QSANNAttentionHead(6, 4)
    before = head.layer.executor.submissions
    head(torch.randn(1, 3, 6))
    assert head.layer.executor.submissions == before + 1
    assert len(head.layer.programs) == 3


@pytest.mark.parametrize("kind", ["overlap", "qsann"])
@pytest.mark.parametrize("fraction", [0.0, 0.5, 1.0])
def test_hybrid_attention_shapes_and_causality(kind, fraction):
    torch.manual_seed(4)
    mha = HybridMultiheadAttention(16, 4, quantum_fraction=fraction, kind=kind)
    assert mha.n_quantum == round(4 * fraction) and mha.n_quantum + mha.n_classical == 4
    x = torch.randn(2, 7, 16)
    assert mha(x).shape == (2, 7, 16)
    verdict = check_causal(mha, 7, d_model=16)
    assert verdict.causal, str(verdict)


def test_bidirectional_heads_are_flagged():
    for head in (OverlapAttentionHead(8, 4, causal=False), QSANNAttentionHead(8, 4, causal=False)):
        v = check_causal(head, 5, d_model=8)
        assert not v.causal and v.first_leaking_position == 0


@pytest.mark.parametrize("make", [
    lambda: OverlapAttentionHead(4, 2, depth=1),
    lambda: OverlapAttentionHead(4, 2, depth=1, method="swap_test"),
    lambda: QSANNAttentionHead(4, 2, depth=1),
    lambda: HybridMultiheadAttention(4, 2, 0.5, kind="overlap", depth=1),
])
def test_gradcheck_heads(make):
    torch.manual_seed(5)
    m = make().double()
    x = torch.randn(1, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(m, (x,))
