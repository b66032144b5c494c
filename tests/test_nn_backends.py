"""The layers on other backends agree with the torch backend.

These run once the adapters (plugins/: Aer, PennyLane, Braket) are installed; until then they
skip with the reason. Each is small (2-3 qubits, a few rows) to stay fast.
"""

import math

import pytest
import torch

from qbridge import get_backend
from qbridge.backends.registry import list_backends, reload_registry
from qbridge.nn import QFFN, QISAAttention, QuantumLayer
from qbridge.nn.attention import OverlapAttentionHead, QSANNAttentionHead
from qbridge.nn.ansatz import hardware_efficient
from qbridge import Circuit

BACKENDS = ["aer", "pennylane.lightning.qubit", "braket.local"]


def backend_or_skip(name):
    reload_registry()
    info = {b.name: b for b in list_backends()}
    if name not in info:
        pytest.skip(f"backend {name!r} is not registered (its adapter is not installed)")
    if not info[name].available:
        pytest.skip(f"backend {name!r} is unavailable: {info[name].reason}")
    return get_backend(name)


def counting(backend):
    calls = []
    original = backend.run

    def run(tasks, config=None, **settings):
        calls.append(1)
        return original(tasks, config, **settings)

    backend.run = run
    return calls


def _layer_pair(backend, **kw):
    torch.manual_seed(0)
    c = Circuit(3).amplitude_encode("x").compose(hardware_efficient(3, 1))
    ref = QuantumLayer(c, ["ZII", "0.5*XXI - 0.2*IYZ"], "torch").double()
    other = QuantumLayer(c, ["ZII", "0.5*XXI - 0.2*IYZ"], backend, init=ref.weights.detach().clone(), **kw).double()
    return ref, other


@pytest.mark.parametrize("name", BACKENDS)
def test_exact_forward_and_gradients_agree(name):
    be = backend_or_skip(name)
    if not be.target.supports_exact:
        pytest.skip(f"{name} samples only")
    ref, other = _layer_pair(be)
    calls = counting(be)
    x = torch.randn(2, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    tol = 1e-9 if "double" in be.target.precisions else 1e-5
    y_ref, y = ref(x1), other(x2)
    assert len(calls) == 1  # one submission per forward
    assert torch.allclose(y, y_ref, atol=tol)
    w = torch.randn(2, 2, dtype=torch.float64)
    (y_ref * w).sum().backward()
    (y * w).sum().backward()
    assert len(calls) <= 2  # at most one more for the backward (shift rules)
    assert torch.allclose(other.weights.grad, ref.weights.grad, atol=100 * tol)
    assert torch.allclose(x2.grad, x1.grad, atol=100 * tol)


@pytest.mark.parametrize("name", BACKENDS)
def test_shot_based_forward_within_noise(name):
    be = backend_or_skip(name)
    if not be.target.supports_shots:
        pytest.skip(f"{name} is exact only")
    shots = 4000
    ref, other = _layer_pair(be, shots=shots, seed=5)
    x = torch.randn(3, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    y_ref, y = ref(x), other(x)
    # ZII: |sigma| <= 1/sqrt(S); 0.5 XX - 0.2 YZ: <= 0.7/sqrt(S) (two groups)
    assert torch.all((y - y_ref).abs() < 5 / math.sqrt(shots))


@pytest.mark.parametrize("name", BACKENDS)
def test_qffn_and_qisa_a_agree(name):
    be = backend_or_skip(name)
    if not be.target.supports_exact:
        pytest.skip(f"{name} samples only")
    tol = 1e-9 if "double" in be.target.precisions else 1e-5
    torch.manual_seed(3)
    a = QFFN(4, depth=1).double()
    b = QFFN(4, depth=1, backend=be).double()
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 3, 4, dtype=torch.float64)
    x[0, 0] = 0
    assert torch.allclose(b(x), a(x), atol=tol)
    q1 = QISAAttention(4, 4, variant="qisa_a").double()
    q2 = QISAAttention(4, 4, variant="qisa_a", backend=be).double()
    q2.load_state_dict(q1.state_dict())
    assert torch.allclose(q2(x), q1(x), atol=tol)


LAYERS_WITH_SHOTS = {
    "qffn": lambda be, **kw: QFFN(4, depth=1, backend=be, shots=kw.get("shots"), seed=kw.get("seed")),
    "qisa_a": lambda be, **kw: QISAAttention(4, 4, variant="qisa_a", backend=be, shots=kw.get("shots"),
                                             sample_seed=kw.get("seed")),
}


@pytest.mark.parametrize("kind", sorted(LAYERS_WITH_SHOTS))
@pytest.mark.parametrize("name", BACKENDS)
def test_qffn_and_qisa_a_with_shots_within_noise(name, kind):
    """QFFN and QISA-A sampled on the backend stay within shot noise of the exact torch outputs;
    the noise scale is the spread of the same layer sampled on torch over 10 seeds."""
    be = backend_or_skip(name)
    if not be.target.supports_shots:
        pytest.skip(f"{name} is exact only")
    torch.manual_seed(11)
    ref = LAYERS_WITH_SHOTS[kind]("torch").double()
    x = torch.randn(2, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(12))
    shots = 20000

    def run(backend, shots=None, seed=None):
        m = LAYERS_WITH_SHOTS[kind](backend, shots=shots, seed=seed).double()
        m.load_state_dict(ref.state_dict())
        with torch.no_grad():
            return m(x)

    exact = run("torch")
    sigma = torch.stack([run("torch", shots, 100 + k) for k in range(10)]).std(0)
    y = run(be, shots, 11)
    assert torch.all((y - exact).abs() <= 6 * sigma + 1e-12)
    assert not torch.allclose(y, exact, atol=1e-9)  # it did sample
    assert torch.equal(run(be, shots, 11), y) or not be.target.seeded  # the seed fixes the draw


HEADS = {
    "overlap": lambda be, **kw: OverlapAttentionHead(4, 2, depth=1, backend=be, **kw),
    "overlap_swap_test": lambda be, **kw: OverlapAttentionHead(4, 2, depth=1, method="swap_test", backend=be, **kw),
    "qsann": lambda be, **kw: QSANNAttentionHead(4, 2, depth=1, backend=be, **kw),
}


@pytest.mark.parametrize("kind", sorted(HEADS))
@pytest.mark.parametrize("name", BACKENDS)
def test_attention_heads_agree(name, kind):
    """The quantum attention heads: the same weights give the same outputs as on torch (exact),
    and within shot noise of them with shots."""
    be = backend_or_skip(name)
    torch.manual_seed(7)
    ref = HEADS[kind]("torch").double()
    x = torch.randn(2, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        y_ref = ref(x)
    if be.target.supports_exact:
        tol = 1e-9 if "double" in be.target.precisions else 1e-5
        other = HEADS[kind](be).double()
        other.load_state_dict(ref.state_dict())
        assert torch.allclose(other(x), y_ref, atol=tol)
    if be.target.supports_shots:
        shots = 20000

        def sampled(backend, seed):
            m = HEADS[kind](backend, shots=shots, seed=seed).double()
            m.load_state_dict(ref.state_dict())
            with torch.no_grad():
                return m(x)

        # the spread of the same head sampled on torch over 10 seeds sets the scale (independent
        # of the backend under test); 6 of those standard deviations, per output
        sigma = torch.stack([sampled("torch", 100 + k) for k in range(10)]).std(0)
        y = sampled(be, 11)
        assert torch.all((y - y_ref).abs() <= 6 * sigma + 1e-12)
        assert not torch.allclose(y, y_ref, atol=1e-9)  # it did sample
