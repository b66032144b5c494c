"""One noise model, three simulators: torch (density matrices and trajectories), Aer and Braket.

The same :class:`qbridge.noise.NoiseModel` drives ``torch`` (qbridge's own Kraus operators),
``aer`` (converted to Aer's ``depolarizing_error``, ``amplitude_damping_error``,
``phase_damping_error``, ``thermal_relaxation_error`` and ``ReadoutError``) and ``braket.dm``
(Braket's named noise pragmas and a Kraus readout channel; an asymmetric ``Product`` checks
that the three agree on the order of a gate's qubits). Aer and Braket compute the channels
themselves, so agreement checks qbridge's channels and both conversions.

- exact probabilities on random circuits of 1 to 6 qubits with random models (fixed seeds) agree
  to 1e-6 (all three in double precision: the differences measured are ~1e-15);
- trajectories agree with Aer's exact density matrix within their stated standard errors
  (|z| < 4.5 over all entries, and mean z^2 of the right size);
- autograd gradients through noise on torch equal the parameter-shift rule run on Aer with the same
  noise (exact: each parameter enters one rotation exp(-i t P/2), so the two-term rule is exact
  under parameter-independent channels), to 1e-6.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

pytest.importorskip("qiskit_aer")

import qbridge  # noqa: E402
from qbridge import Circuit, Parameter, Task  # noqa: E402
from qbridge.exceptions import ValidationError  # noqa: E402
from qbridge.noise import (  # noqa: E402
    AmplitudeDamping,
    Depolarizing,
    NoiseModel,
    PhaseDamping,
    Product,
    ReadoutError,
    ThermalRelaxation,
)

ONE = ["h", "x", "y", "z", "s", "sdg", "t", "sx", "rx", "ry", "rz", "p", "u"]
TWO = ["cx", "cz", "swap", "rzz", "rxx"]
ANGLED = {"rx": 1, "ry": 1, "rz": 1, "p": 1, "u": 3, "rzz": 1, "rxx": 1}


def random_circuit(n: int, depth: int, rng: np.random.Generator) -> Circuit:
    ps = [Parameter(f"t{i}") for i in range(3)]
    c = Circuit(n)
    for _ in range(depth):
        kind = rng.integers(3) if n >= 3 else rng.integers(min(n, 2))
        name = (ONE, TWO, ["ccx"])[kind][rng.integers(len((ONE, TWO, ["ccx"])[kind]))]
        qubits = tuple(int(q) for q in rng.choice(n, size=kind + 1, replace=False))
        params = []
        for _ in range(ANGLED.get(name, 0)):
            params.append(ps[rng.integers(3)] * float(rng.uniform(0.5, 1.5)) + float(rng.uniform(-1, 1))
                          if rng.random() < 0.6 else float(rng.uniform(-3, 3)))
        c = c.append(name, qubits, tuple(params))
    return c


def random_model(n: int, rng: np.random.Generator) -> NoiseModel:
    def one():
        k = rng.integers(4)
        if k == 0:
            return Depolarizing(float(rng.uniform(0, 0.1)))
        if k == 1:
            return AmplitudeDamping(float(rng.uniform(0, 0.1)))
        if k == 2:
            return PhaseDamping(float(rng.uniform(0, 0.1)))
        t1 = float(rng.uniform(20, 80))
        return ThermalRelaxation(t1, float(rng.uniform(5, 2 * t1)), float(rng.uniform(0.5, 4)))

    m = NoiseModel()
    for gate in rng.choice(ONE, size=8, replace=False):
        m = m.with_gate_error(str(gate), *(one() for _ in range(rng.integers(1, 3))))
    for gate in TWO + ["ccx"]:
        chans = [one()] if gate == "ccx" else [Depolarizing(float(rng.uniform(0, 0.1)), 2), one(),
                                               Product((one(), one()))]
        m = m.with_gate_error(gate, *chans)
    q = int(rng.integers(n))
    m = m.with_gate_error("h", Depolarizing(float(rng.uniform(0.1, 0.2))), qubits=q)  # overrides the all-qubit entry
    if n >= 2:
        m = m.with_gate_error("cx", Depolarizing(float(rng.uniform(0.1, 0.2)), 2), qubits=(0, 1))
    m = m.with_readout_error(ReadoutError(float(rng.uniform(0, 0.05)), float(rng.uniform(0, 0.08))))
    m = m.with_readout_error(ReadoutError(float(rng.uniform(0, 0.1)), float(rng.uniform(0, 0.1))), qubit=n - 1)
    return m


def probs(backend: str, model: NoiseModel, task: Task) -> np.ndarray:
    be = qbridge.get_backend(backend, noise=model)
    return np.asarray(be.run(task, precision="double").result()[0].probabilities)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_exact_probabilities_agree_on_torch_aer_and_braket(n):
    rng = np.random.default_rng(1700 + n)
    circuit = random_circuit(n, 6 + 3 * n, rng)
    model = random_model(n, rng)
    task = Task(circuit, rng.uniform(-2, 2, (2, len(circuit.parameter_names))) if circuit.parameter_names else None)
    ours = probs("torch", model, task)
    aer = probs("aer", model, task)
    ideal = np.asarray(qbridge.get_backend("torch").run(task, precision="double").result()[0].probabilities)
    assert np.abs(ours - ideal).max() > 1e-3  # the noise acts
    assert np.abs(ours - aer).max() < 1e-6
    if n <= 4:  # Braket's local simulator parses a program per binding: the wider ones are in the slow run
        pytest.importorskip("braket.devices")
        assert np.abs(ours - probs("braket.dm", model, task)).max() < 1e-6


@pytest.mark.slow
@pytest.mark.parametrize("n", [5, 6])
def test_exact_probabilities_agree_with_braket_on_wider_circuits(n):
    pytest.importorskip("braket.devices")
    rng = np.random.default_rng(1700 + n)
    circuit = random_circuit(n, 6 + 3 * n, rng)
    model = random_model(n, rng)
    task = Task(circuit, rng.uniform(-2, 2, (2, len(circuit.parameter_names))) if circuit.parameter_names else None)
    assert np.abs(probs("torch", model, task) - probs("braket.dm", model, task)).max() < 1e-6


def test_expectation_values_and_shots_agree_with_aer():
    rng = np.random.default_rng(41)
    circuit = random_circuit(3, 14, rng)
    model = random_model(3, rng)
    vals = rng.uniform(-2, 2, (3, len(circuit.parameter_names)))
    task = Task(circuit, vals, observables=["XZY", "ZZI", "IYX"])
    t = qbridge.get_backend("torch", noise=model).run(task, precision="double").result()[0]
    a = qbridge.get_backend("aer", noise=model).run(task, precision="double").result()[0]
    np.testing.assert_allclose(t.expectation_values, a.expectation_values, atol=1e-9)
    # counts from Aer (its own sampling and readout errors) against torch's exact probabilities
    shots = 20000
    counts = qbridge.get_backend("aer", noise=model).run(Task(circuit, vals[:1]), shots=shots, seed=7).result()[0]
    p = t.probabilities[0]
    freq = np.array([counts.counts[0].get(format(i, "03b"), 0) for i in range(8)]) / shots
    assert np.abs((freq - p) / np.sqrt(np.maximum(p * (1 - p), 1e-9) / shots)).max() < 4.5


def test_trajectories_agree_with_aer_within_their_standard_error():
    rng = np.random.default_rng(77)
    circuit = random_circuit(4, 14, rng)
    model = random_model(4, rng)
    vals = rng.uniform(-2, 2, (2, len(circuit.parameter_names)))
    task = Task(circuit, vals, observables=["ZIZI", "XXII"])
    ref = qbridge.get_backend("aer", noise=model).run(task, precision="double").result()[0]
    traj = qbridge.get_backend("torch", noise=model, density_max_qubits=3, trajectories=3000)
    r = traj.run(task, precision="double", seed=2024).result()[0]
    assert r.metadata["method"] == "trajectories"
    z_p = (r.probabilities - ref.probabilities) / np.maximum(r.metadata["probability_stderr"], 1e-12)
    z_e = (r.expectation_values - ref.expectation_values) / np.maximum(r.stderr, 1e-12)
    z = np.concatenate([z_p.ravel(), z_e.ravel()])
    # an entry with no spread over trajectories (the same value in every one) must be exact
    zero = np.concatenate([r.metadata["probability_stderr"].ravel() == 0, r.stderr.ravel() == 0])
    diff = np.concatenate([(r.probabilities - ref.probabilities).ravel(), (r.expectation_values - ref.expectation_values).ravel()])
    assert np.abs(diff[zero]).max(initial=0) < 1e-9
    z = z[~zero]
    assert np.abs(z).max() < 4.5
    assert 0.2 < float(np.mean(z**2)) < 3.0


def test_autograd_through_noise_matches_parameter_shift_on_aer():
    rng = np.random.default_rng(3)
    ps = [Parameter(f"a{i}") for i in range(6)]
    c = (Circuit(3).h(0).rx(1, ps[0]).ry(2, ps[1]).cx(0, 1).rzz(1, 2, ps[2]).h(2).rz(0, ps[3])
         .cx(2, 0).rxx(0, 1, ps[4]).ry(1, ps[5]).cz(1, 2))
    model = random_model(3, rng).with_gate_error("rx", AmplitudeDamping(0.07)).with_gate_error("rzz", Depolarizing(0.05, 2))
    theta = rng.uniform(-2, 2, len(ps))
    obs = ["ZZI", "XIY"]
    x = torch.tensor(theta[None, :], dtype=torch.float64, requires_grad=True)
    ev = qbridge.get_backend("torch", noise=model).run(Task(c, x, observables=obs)).result()[0].expectation_values
    grads = [torch.autograd.grad(ev[0, k], x, retain_graph=True)[0].numpy()[0] for k in range(len(obs))]
    shifted = np.concatenate([theta + (math.pi / 2) * np.eye(len(ps)), theta - (math.pi / 2) * np.eye(len(ps))])
    aer = qbridge.get_backend("aer", noise=model)
    evs = aer.run(Task(c, shifted, observables=obs), precision="double").result()[0].expectation_values
    shift = (evs[: len(ps)] - evs[len(ps):]) / 2  # (P, n_obs)
    for k in range(len(obs)):
        np.testing.assert_allclose(grads[k], shift[:, k], atol=1e-6)
    assert np.abs(shift).max() > 0.05  # gradients worth comparing


def test_models_naming_gates_a_backend_rewrites_are_refused():
    model = NoiseModel().with_gate_error("crz", Depolarizing(0.1, 2))
    qbridge.get_backend("torch", noise=model)  # torch runs crz as it is
    with pytest.raises(ValidationError, match="crz"):
        qbridge.get_backend("aer", noise=model)
    pytest.importorskip("braket.devices")
    with pytest.raises(ValidationError, match="crz"):
        qbridge.get_backend("braket.dm", noise=model)


def test_fake_device_model_drives_all_three():
    pytest.importorskip("qiskit_ibm_runtime")
    pytest.importorskip("braket.devices")
    model = NoiseModel.from_backend("fake_manila")
    c = Circuit(3).sx(0).x(1).cx(0, 1).sx(2).cx(1, 2).rz(0, 0.3).sx(0).cx(2, 1)
    t = probs("torch", model, Task(c))
    assert np.abs(t - probs("aer", model, Task(c))).max() < 1e-6
    assert np.abs(t - probs("braket.dm", model, Task(c))).max() < 1e-6
    assert qbridge.get_backend("aer", noise="fake_manila").target.num_qubits == 5


def test_braket_legacy_noise_dict_is_deprecated_and_keeps_its_meaning():
    pytest.importorskip("braket.devices")
    with pytest.warns(DeprecationWarning, match="NoiseModel"):
        legacy = qbridge.get_backend("braket.dm", noise={"depolarizing": 0.06})
    c = Circuit(1).h(0).x(0)
    model = NoiseModel().with_gate_error("h", Depolarizing(0.08)).with_gate_error("x", Depolarizing(0.08))
    np.testing.assert_allclose(probs("torch", model, Task(c)),
                               legacy.run(c, precision="double").result()[0].probabilities, atol=1e-9)


def test_a_quantum_layer_trains_through_noise_and_matches_aer():
    """A QuantumLayer on the noisy torch backend (backprop through density matrices) gives the
    values and weight gradients of the same layer on aer with the same model (parameter shift),
    and differs from the noiseless layer. Aer prepares amplitude-encoded inputs under noise with a
    cascade of ry, rz and cx gates, which would carry errors given to those gates (docs/noise.md):
    the model here gives errors to the layer's own gates (rx, cz)."""
    from qbridge.nn import QuantumLayer

    model = (NoiseModel().with_gate_error("cz", Depolarizing(0.05, 2), Product((AmplitudeDamping(0.04), PhaseDamping(0.02))))
             .with_gate_error("rx", ThermalRelaxation(40.0, 30.0, 2.0)).with_readout_error(ReadoutError(0.02, 0.05)))
    w = [Parameter(f"w{i}") for i in range(6)]
    c = Circuit(3).amplitude_encode("x", qubits=[0, 1, 2])
    for i in range(3):
        c = c.rx(i, w[i])
    c = c.cz(0, 1).cz(1, 2)
    for i in range(3):
        c = c.rx(i, w[3 + i])
    torch.manual_seed(0)
    x = torch.rand(5, 8, dtype=torch.float64) + 0.1
    layers = {name: QuantumLayer(c, ["ZII", "IZZ"], backend=qbridge.get_backend(name, noise=model)).double()
              for name in ("torch", "aer")}
    ideal = QuantumLayer(c, ["ZII", "IZZ"]).double()
    ideal.load_state_dict(layers["torch"].state_dict())
    layers["aer"].load_state_dict(layers["torch"].state_dict())
    assert layers["torch"].gradient_method == "backprop" and layers["aer"].gradient_method == "parameter-shift"
    out, grads = {}, {}
    for name, layer in {**layers, "ideal": ideal}.items():
        y = layer(x)
        y.square().sum().backward()
        out[name], grads[name] = y.detach(), layer.weights.grad.clone()
    torch.testing.assert_close(out["torch"], out["aer"], atol=1e-9, rtol=0)
    torch.testing.assert_close(grads["torch"], grads["aer"], atol=1e-8, rtol=0)
    assert (out["torch"] - out["ideal"]).abs().max() > 1e-2


def test_qisa_a_in_eval_mode_does_not_bypass_a_noise_model():
    from qbridge.nn import QISAAttention

    torch.manual_seed(6)
    x = torch.randn(1, 3, 4, dtype=torch.float64)
    noisy_backend = qbridge.get_backend("torch", noise=NoiseModel().with_gate_error("ry", Depolarizing(0.2)))
    exact = QISAAttention(4, 4, variant="qisa_a").double()
    noisy = QISAAttention(4, 4, variant="qisa_a", backend=noisy_backend).double()
    noisy.load_state_dict(exact.state_dict())
    exact.eval(), noisy.eval()
    assert exact._fast_is_exact() and not noisy._fast_is_exact()
    with torch.no_grad():
        assert (exact(x) - noisy(x)).abs().max() > 1e-3


def test_one_noise_option_at_a_time_on_aer():
    model = NoiseModel().with_gate_error("x", Depolarizing(0.1))
    with pytest.raises(ValueError, match="not several"):
        qbridge.get_backend("aer", noise=model, noise_backend="fake_manila")
    be = qbridge.get_backend("aer", noise=model)
    assert be.target.noisy and not be.target.supports_statevector
    assert be.run(Circuit(1).x(0)).result()[0].metadata["noise"] == "qbridge.noise"


@pytest.mark.slow
def test_beyond_the_density_limit_trajectories_are_taken_and_agree_with_aer():
    """11 qubits, over the default density_max_qubits=10: trajectories without being asked
    (~8 s on 2 cores), against Aer's 11-qubit density matrix."""
    model = (NoiseModel().with_gate_error("cx", Depolarizing(0.03, 2))
             .with_gate_error("h", AmplitudeDamping(0.05), PhaseDamping(0.05)).with_readout_error(ReadoutError(0.02, 0.04)))
    n = 11
    c = Circuit(n).h(0)
    for q in range(n - 1):
        c = c.cx(q, q + 1)
    for q in range(n):
        c = c.h(q)
    task = Task(c, observables=["Z" * n, "X" + "I" * (n - 1)])
    r = qbridge.get_backend("torch", noise=model, trajectories=400).run(task, precision="double", seed=5).result()[0]
    ref = qbridge.get_backend("aer", noise=model).run(task, precision="double").result()[0]
    assert r.metadata["method"] == "trajectories" and r.metadata["trajectories"] == 400
    se = r.metadata["probability_stderr"]
    seen = se > 0
    assert np.abs(ref.probabilities[~seen]).max(initial=0.0) < 5e-3  # outcomes no trajectory reached are rare
    z = np.concatenate([((r.probabilities - ref.probabilities)[seen] / se[seen]).ravel(),
                        ((r.expectation_values - ref.expectation_values) / r.stderr).ravel()])
    assert np.abs(z).max() < 5.0
    assert 0.3 < float(np.mean(z**2)) < 3.0
