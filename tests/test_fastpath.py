"""The unitary fast path of the torch backend against gate-by-gate simulation and Qiskit."""


import numpy as np
import pytest
import torch

from qbridge import Circuit, Parameter, Task, get_backend
from qbridge.ir.observables import PauliSum
from qbridge.sim import fastpath
from qbridge.sim import statevector as sv

D = torch.complex128


def ansatz(n, depth, rots=("ry", "rz"), prefix="t"):
    c = Circuit(n).amplitude_encode("x")
    k = 0
    for _ in range(depth):
        for q in range(n):
            for r in rots:
                c = c.append(r, q, (Parameter(f"{prefix}{k}"),))
                k += 1
        for q in range(n):
            if n > 1:
                c = c.cx(q, (q + 1) % n) if n > 2 else c.cx(0, 1)
    return c


def mixed_circuit():
    """Every kind of step: fused 1q runs, permutations, multi-qubit parametric gates, unitary,
    linear parameter expressions and a parametric global phase."""
    a, b, c = Parameter("a"), Parameter("b"), Parameter("c")
    rng = np.random.default_rng(3)
    m = np.linalg.qr(rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4)))[0]
    circ = (
        Circuit(4).amplitude_encode("x")
        .h(0).rx(1, a).ry(1, 2 * b + 0.3).u(2, a, -c, 0.7).p(3, c)
        .cx(0, 1).swap(2, 3).ccx(0, 1, 2).x(3)
        .rzz(0, 3, b).crx(1, 2, 0.5 * a).cp(2, 0, c).rxx(1, 3, a - b).ryy(0, 2, c)
        .unitary(m, [3, 1]).s(0).cswap(3, 0, 1).cry(0, 3, b).crz(2, 1, a)
        .rz(0, a).ry(0, b)
    )
    return circ.with_global_phase(0.5 * a + 0.1)


def test_plan_fuses_layers_and_permutations():
    plan = fastpath.plan_for(ansatz(6, 3))
    kinds = [s.kind for s in plan.steps]
    assert kinds == ["layer", "perm"] * 3  # RY RZ on 6 qubits -> one layer; CNOT ring -> one gather
    assert not plan.real
    assert fastpath.plan_for(ansatz(3, 2, rots=("ry",))).real
    # structure the fast path does not take
    assert fastpath.plan_for(Circuit(2).h(0).amplitude_encode("x", [1])) is None
    assert fastpath.plan_for(Circuit(2).amplitude_encode("x", [1, 0])) is None
    assert fastpath.plan_for(Circuit(2).amplitude_encode("x", [0]).amplitude_encode("y", [1])) is None


@pytest.mark.parametrize("make,d", [
    (lambda: ansatz(5, 3), 32),
    (lambda: ansatz(5, 2), 19),  # padded input
    (lambda: ansatz(4, 2, rots=("ry",)), 16),  # real circuit
    (mixed_circuit, 16),
    (mixed_circuit, 11),
])
def test_states_match_gate_by_gate_double(make, d):
    circ = make()
    g = torch.Generator().manual_seed(1)
    theta = torch.rand(1, circ.num_parameters, generator=g, dtype=torch.float64) * 6
    x = torch.randn(40, d, generator=g, dtype=torch.float64)
    ref = sv.simulate(circ, theta, {"x": x}, dtype=D)
    for method in ("unitary", "layers"):
        got = fastpath.simulate(circ, theta, {"x": x}, dtype=D, method=method)
        assert torch.allclose(got, ref, atol=1e-10), method
    fs = fastpath.run_fast(circ, theta, {"x": x}, dtype=D)
    assert torch.allclose(fs.probabilities(), sv.probabilities(ref), atol=1e-12)
    obs = [PauliSum.parse("Z" + "I" * (circ.num_qubits - 1)), PauliSum.parse("0.5*" + "X" * circ.num_qubits + " - 0.2*" + "ZY" + "I" * (circ.num_qubits - 2))]
    assert torch.allclose(fs.expectation_values(obs), sv.expectation_values(ref, obs), atol=1e-12)


def test_complex_inputs_match():
    circ = mixed_circuit()
    g = torch.Generator().manual_seed(2)
    theta = torch.randn(1, circ.num_parameters, generator=g, dtype=torch.float64)
    x = torch.randn(20, 16, generator=g, dtype=D)
    ref = sv.simulate(circ, theta, {"x": x}, dtype=D)
    assert torch.allclose(fastpath.simulate(circ, theta, {"x": x}, dtype=D, method="unitary"), ref, atol=1e-10)
    assert torch.allclose(fastpath.simulate(circ, theta, {"x": x}, dtype=D, method="layers"), ref, atol=1e-10)


@pytest.mark.parametrize("keep", ["saved", "recomputed"])
@pytest.mark.parametrize("path", ["unitary", "layers"])
@pytest.mark.parametrize("make", [lambda: ansatz(4, 2), mixed_circuit, lambda: ansatz(3, 2, rots=("ry",))])
def test_gradients_match_gate_by_gate(make, path, keep, monkeypatch):
    # "recomputed": the backward rebuilds every intermediate block by applying the inverse steps
    # (what happens above the memory limit) instead of reading the saved ones
    if keep == "recomputed":
        monkeypatch.setattr(fastpath, "_SAVE_LIMIT_BYTES", 0)
    circ = make()
    n = circ.num_qubits
    g = torch.Generator().manual_seed(4)
    w = torch.randn(2**n, generator=g, dtype=torch.float64)
    obs = [PauliSum.parse("X" + "Z" * (n - 1)), PauliSum.parse("Z" + "I" * (n - 1))]

    def loss(path):
        theta = (torch.rand(1, circ.num_parameters, generator=torch.Generator().manual_seed(5), dtype=torch.float64) * 5).requires_grad_()
        x = torch.randn(2**n + 3, 2**n, generator=torch.Generator().manual_seed(6), dtype=torch.float64).requires_grad_()
        if path != "gates":
            fs = fastpath.run_fast(circ, theta, {"x": x}, dtype=D, method=path)
            probs, ev = fs.probabilities(), fs.expectation_values(obs)
        else:
            st = sv.simulate(circ, theta, {"x": x}, dtype=D)
            probs, ev = sv.probabilities(st), sv.expectation_values(st, obs)
        val = (probs @ w).sum() + (ev * torch.tensor([0.7, -1.3], dtype=torch.float64)).sum()
        gt, gx = torch.autograd.grad(val, (theta, x))
        return val, gt, gx

    v1, t1, x1 = loss(path)
    v2, t2, x2 = loss("gates")
    assert abs(float((v1 - v2).detach())) < 1e-9
    assert torch.allclose(t1, t2, atol=1e-6)
    assert torch.allclose(x1, x2, atol=1e-6)


@pytest.mark.parametrize("path", ["unitary", "layers"])
def test_gradcheck_fast_path(path):
    circ = mixed_circuit()
    theta = torch.rand(1, circ.num_parameters, dtype=torch.float64, requires_grad=True)
    x = torch.randn(3, 16, dtype=torch.float64, requires_grad=True)
    f = lambda t, xx: torch.view_as_real(fastpath.run_fast(circ, t, {"x": xx}, dtype=D, method=path).statevector())
    assert torch.autograd.gradcheck(f, (theta, x))


def test_unitary_matches_qiskit_operator():
    qi = pytest.importorskip("qiskit.quantum_info")
    from qiskit import QuantumCircuit

    n = 3
    a, b = Parameter("a"), Parameter("b")
    circ = Circuit(n).ry(0, a).rz(1, b).cx(0, 2).crx(2, 1, a + b).rzz(0, 1, 0.4).h(2).swap(0, 1)
    vals = [0.3, -1.1]
    U = fastpath.unitary(circ, torch.tensor([vals], dtype=torch.float64)).numpy()
    qc = QuantumCircuit(n)
    m = lambda q: n - 1 - q  # qbridge qubit 0 is the MSB; Qiskit's qubit 0 the LSB
    qc.ry(vals[0], m(0)); qc.rz(vals[1], m(1)); qc.cx(m(0), m(2)); qc.crx(sum(vals), m(2), m(1))
    qc.rzz(0.4, m(0), m(1)); qc.h(m(2)); qc.swap(m(0), m(1))
    ref = qi.Operator(qc).data
    assert np.allclose(U, ref, atol=1e-12)
    assert np.allclose(U, sv.circuit_unitary(circ.bind({"a": vals[0], "b": vals[1]})), atol=1e-12)


def test_backend_dispatches_by_crossover():
    be = get_backend("torch")
    circ = ansatz(3, 2)
    theta = np.random.default_rng(0).normal(size=(1, circ.num_parameters))
    x = np.random.default_rng(1).normal(size=(8, 8))
    big = be.run(Task(circ, theta, {"x": x}, ("ZII",), statevector=True), precision="double").result()[0]
    small = be.run(Task(circ, theta, {"x": x[:7]}, ("ZII",), statevector=True), precision="double").result()[0]
    assert big.metadata["method"] == "unitary" and small.metadata["method"] == "layers"
    np.testing.assert_allclose(big.statevector[:7], small.statevector, atol=1e-12)
    np.testing.assert_allclose(big.expectation_values[:7], small.expectation_values, atol=1e-12)
    # above n = 8 the crossover grows past 2^n (measured: see fastpath.crossover)
    wide = ansatz(10, 1)
    th = np.zeros((1, wide.num_parameters))
    assert fastpath.crossover(10) == 1536 and fastpath.crossover(8) == 256
    assert fastpath.choose_method(wide, th, {"x": np.ones((1535, 4))}) == "layers"
    assert fastpath.choose_method(wide, th, {"x": np.ones((1536, 4))}) == "unitary"
    # several bindings: always gate by gate
    many = be.run(Task(circ, np.repeat(theta, 8, axis=0), {"x": x}), precision="double").result()[0]
    assert many.metadata["method"] == "gates"
    np.testing.assert_allclose(many.probabilities, big.probabilities, atol=1e-12)
    # shots: counts sampled from the fast path's probabilities, reproducible with a seed
    c1 = be.run(Task(circ, theta, {"x": x}), shots=500, seed=9).result()[0].counts
    c2 = be.run(Task(circ, theta, {"x": x}), shots=500, seed=9).result()[0].counts
    assert c1 == c2 and sum(c1[0].values()) == 500


def test_zero_row_is_an_error_on_the_fast_path():
    from qbridge.exceptions import EncodingError

    circ = ansatz(2, 1)
    x = np.ones((4, 4))
    x[2] = 0
    with pytest.raises(EncodingError, match="row 2 is a zero vector"):
        fastpath.run_fast(circ, np.zeros((1, circ.num_parameters)), {"x": x})


@pytest.mark.parametrize("dtype,big", [(torch.float64, 1e200), (torch.float32, 1e30)])
def test_huge_finite_inputs_normalise_without_overflow(dtype, big):
    # |x|^2 overflows although every entry is finite: both paths must still encode x / |x|
    circ = ansatz(2, 1)
    cd = torch.complex128 if dtype == torch.float64 else torch.complex64
    x = torch.tensor([[big, -big, big, 0.0]] * 4 + [[0.5, 0.5, -0.5, 0.5]], dtype=dtype)
    theta = torch.zeros(1, circ.num_parameters, dtype=dtype)
    a = sv.simulate(circ, theta, {"x": x}, dtype=cd)
    b = fastpath.simulate(circ, theta, {"x": x}, dtype=cd, method="unitary")
    assert torch.isfinite(torch.view_as_real(a)).all() and torch.allclose(a, b, atol=1e-6)
    assert torch.allclose(sv.probabilities(a).sum(1), torch.ones(5, dtype=dtype), atol=1e-6)


@pytest.mark.parametrize("method", ["unitary", "layers"])
def test_complex_inputs_through_a_real_circuit(method):
    circ = ansatz(3, 2, rots=("ry",))
    assert fastpath.plan_for(circ).real
    g = torch.Generator().manual_seed(7)
    theta = torch.randn(1, circ.num_parameters, generator=g, dtype=torch.float64)
    x = torch.randn(9, 8, generator=g, dtype=D)
    ref = sv.simulate(circ, theta, {"x": x}, dtype=D)
    assert torch.allclose(fastpath.simulate(circ, theta, {"x": x}, dtype=D, method=method), ref, atol=1e-10)


@pytest.mark.parametrize("d", [16, 11])
def test_gradcheck_fused_probabilities(d):
    """The unitary path's probabilities for real inputs come from one fused function (one GEMM
    against [Re U; Im U], a hand-written backward): gradcheck in x and theta, padded inputs too,
    and the same numbers as the unfused states of the same FastState."""
    circ = mixed_circuit()
    theta = torch.rand(1, circ.num_parameters, dtype=torch.float64, requires_grad=True)
    x = torch.randn(5, d, dtype=torch.float64, requires_grad=True)
    f = lambda t, xx: fastpath.run_fast(circ, t, {"x": xx}, dtype=D, method="unitary").probabilities()
    assert torch.autograd.gradcheck(f, (theta, x))
    fs = fastpath.run_fast(circ, theta, {"x": x}, dtype=D, method="unitary")
    p = fs.probabilities()
    assert torch.allclose(p, fs.statevector().abs() ** 2, atol=1e-12)
    assert torch.allclose(p, sv.probabilities(sv.simulate(circ, theta, {"x": x}, dtype=D)), atol=1e-12)


def test_identity_cache_is_not_written():
    """Building U reads a cached identity; nothing the caller does with U may change it."""
    circ = Circuit(3).ry(0, Parameter("a")).rz(1, Parameter("b")).cx(0, 2).h(1)
    theta = torch.tensor([[0.3, -1.1]], dtype=torch.float64)
    U = fastpath.unitary(circ, theta)
    U.mul_(0)
    again = fastpath.unitary(circ, theta)
    assert torch.allclose(again.conj().T @ again, torch.eye(8, dtype=D), atol=1e-12)
    empty = fastpath.unitary(Circuit(3))  # no steps at all
    empty.mul_(0)
    assert torch.equal(fastpath.unitary(Circuit(3)), torch.eye(8, dtype=D))


def test_second_order_is_refused_with_the_fix_and_works_gate_by_gate():
    """The fast path's hand-written backwards are first order: create_graph=True through them is a
    typed error naming fast_path=False, on which a Hessian-vector product matches finite
    differences of the gradient."""
    from qbridge.exceptions import UnsupportedFeatureError
    from qbridge.nn import QFFN

    torch.manual_seed(0)
    x = torch.randn(20, 8, dtype=torch.float64)  # 20 rows >= 2^3: the unitary path
    fast = QFFN(8, depth=2).double()
    loss = (fast(x) ** 2).sum()
    with pytest.raises(UnsupportedFeatureError, match="fast_path=False"):
        torch.autograd.grad(loss, fast.quantum.weights, create_graph=True)

    slow = QFFN(8, depth=2, backend=get_backend("torch", fast_path=False)).double()
    slow.load_state_dict(fast.state_dict())
    assert torch.allclose(slow(x), fast(x), atol=1e-12)
    w = slow.quantum.weights
    v = torch.randn_like(w)

    def grad_at(weights):
        with torch.no_grad():
            w.copy_(weights)
        (gr,) = torch.autograd.grad((slow(x) ** 2).sum(), w)
        return gr

    w0 = w.detach().clone()
    (gr,) = torch.autograd.grad((slow(x) ** 2).sum(), w, create_graph=True)
    (hv,) = torch.autograd.grad(gr @ v, w)
    eps = 1e-5
    fd = (grad_at(w0 + eps * v) - grad_at(w0 - eps * v)) / (2 * eps)
    assert torch.allclose(hv, fd, atol=1e-6 * max(1.0, float(fd.abs().max())))
    assert get_backend("torch", fast_path=False).run(Task(ansatz(3, 1), torch.zeros(1, 6), {"x": x})).result()[0].metadata["method"] == "gates"


def test_torch_func_transforms_take_the_gate_path():
    """torch.func.grad through a QFFN on the default torch backend: the backend sees the transform
    and simulates gate by gate; the gradient equals plain autograd's on the fast path."""
    from qbridge.nn import QFFN

    torch.manual_seed(1)
    x = torch.randn(20, 8, dtype=torch.float64)
    m = QFFN(8, depth=2).double()
    params = {k: v.detach() for k, v in m.named_parameters()}
    g = torch.func.grad(lambda p: (torch.func.functional_call(m, p, (x,)) ** 2).sum())(params)
    (m(x) ** 2).sum().backward()
    for k, p in m.named_parameters():
        assert torch.allclose(g[k], p.grad, atol=1e-10), k
