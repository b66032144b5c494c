"""qbridge.noise and the torch backend's noisy simulation, against hand-derived channels.

References: closed forms worked out by hand for single channels (depolarizing populations,
amplitude damping populations, phase and thermal decay of coherences, the confusion of readout
errors), the noiseless state-vector kernel for a model without errors, and Qiskit's
``average_gate_fidelity`` of Aer's own device noise model for :meth:`NoiseModel.from_backend`.
Tolerances: 1e-12 in double precision for closed forms; seeds are fixed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import qbridge
from qbridge import Circuit, Parameter, Task
from qbridge.exceptions import NoiseModelError, QBridgeError, ValidationError
from qbridge.noise import (
    AmplitudeDamping,
    Depolarizing,
    NoiseModel,
    PhaseDamping,
    Product,
    ReadoutError,
    ThermalRelaxation,
    apply_readout,
)
from qbridge.sim import density as dm
from qbridge.sim import statevector as sv


def exact(backend, task):
    return backend.run(task, precision="double").result()[0]


# -- the model: values, errors, JSON --------------------------------------------------------------

@pytest.mark.parametrize("make, fix", [
    (lambda: Depolarizing(1.5), r"\[0, 1.33333\]"),
    (lambda: Depolarizing(1.1, 2), r"\[0, 1.06667\]"),
    (lambda: Depolarizing(0.1, 3), "1 or 2 qubits"),
    (lambda: AmplitudeDamping(-0.1), r"\[0, 1\]"),
    (lambda: PhaseDamping(float("nan")), "finite"),
    (lambda: AmplitudeDamping(True), "finite real"),
    (lambda: ThermalRelaxation(50, 120, 1), "T2 <= 2\\*T1"),
    (lambda: ThermalRelaxation(-1, 1, 1), "positive"),
    (lambda: ThermalRelaxation(50, 40, -1), ">= 0"),
    (lambda: ReadoutError(0.1, 1.2), r"\[0, 1\]"),
    (lambda: NoiseModel().with_gate_error("cnot", Depolarizing(0.1)), "did you mean 'cx'"),
    (lambda: NoiseModel().with_gate_error("h", Depolarizing(0.1, 2)), "1-qubit channel"),
    (lambda: Product((Depolarizing(0.1, 2), PhaseDamping(0.1))), "one-qubit channels"),
    (lambda: NoiseModel().with_gate_error("cx", Depolarizing(0.1), qubits=(0,)), "acts on 2 qubit"),
    (lambda: NoiseModel().with_gate_error("x", Depolarizing(0.1), qubits=(0, 0)), "distinct"),
    (lambda: NoiseModel(num_qubits=2).with_readout_error(ReadoutError(0.1, 0.1), 5), "outside"),
    (lambda: NoiseModel.from_json("{nope"), "not valid JSON"),
    (lambda: NoiseModel.from_json('{"gates": []}'), "qbridge.noise/1"),
    (lambda: NoiseModel.from_dict({"format": "qbridge.noise/1", "gates": [{"gate": "x", "channels": [
        {"kind": "bitflip", "p": 0.1}]}]}), "unknown channel kind"),
])
def test_unphysical_or_malformed_values_are_typed_errors_that_name_the_fix(make, fix):
    with pytest.raises(NoiseModelError, match=fix) as info:
        make()
    assert isinstance(info.value, (QBridgeError, ValueError))


def test_channels_are_trace_preserving():
    for ch in (Depolarizing(0.3), Depolarizing(0.7, 2), AmplitudeDamping(0.4), PhaseDamping(0.2),
               ThermalRelaxation(40.0, 30.0, 7.0), ThermalRelaxation(40.0, 80.0, 7.0),
               Product((AmplitudeDamping(0.3), ThermalRelaxation(40.0, 30.0, 7.0)))):
        k = ch.kraus()
        total = np.einsum("kji,kjl->il", k.conj(), k)
        np.testing.assert_allclose(total, np.eye(k.shape[-1]), atol=1e-12)


def test_json_round_trip_and_frozen():
    m = (NoiseModel(num_qubits=3, source="hand")
         .with_gate_error("cx", Depolarizing(0.02, 2), ThermalRelaxation(50.0, 60.0, 0.4))
         .with_gate_error("cx", Depolarizing(0.05, 2), qubits=(1, 2))
         .with_gate_error("h", AmplitudeDamping(0.01), PhaseDamping(0.02))
         .with_gate_error("rzz", Product((AmplitudeDamping(0.01), PhaseDamping(0.03))), qubits=(2, 0))
         .with_readout_error(ReadoutError(0.01, 0.03))
         .with_readout_error(ReadoutError(0.05, 0.07), qubit=2))
    back = NoiseModel.from_json(m.to_json())
    assert back == m and hash(back) == hash(m)
    with pytest.raises(AttributeError):
        m.num_qubits = 4
    # the specific entry replaces the all-qubit one; a one-qubit channel acts on each gate qubit
    assert [c for c, _ in m.channels_for("cx", (1, 2))] == [Depolarizing(0.05, 2)]
    assert [q for _, q in m.channels_for("cx", (0, 1))] == [(0, 1), (0,), (1,)]
    assert m.readout_for(2) == ReadoutError(0.05, 0.07) and m.readout_for(0) == ReadoutError(0.01, 0.03)
    assert m.channels_for("x", (0,)) == []


def test_from_backend_matches_the_calibration_and_aers_gate_fidelities():
    pytest.importorskip("qiskit_ibm_runtime")
    qaer = pytest.importorskip("qiskit_aer")
    from qiskit.quantum_info import Kraus, average_gate_fidelity

    from qbridge.interop.qiskit import fake_backend

    dev = fake_backend("fake_manila")
    m = NoiseModel.from_backend("fake_manila")
    assert m.num_qubits == 5 and m.source == "fake_manila"
    assert NoiseModel.from_json(m.to_json()) == m
    props = dev.properties()
    for q in range(5):
        assert m.readout_for(q) == ReadoutError(props.qubit_property(q, "prob_meas1_prep0")[0],
                                                props.qubit_property(q, "prob_meas0_prep1")[0])
    aer_model = qaer.noise.NoiseModel.from_backend(dev)
    with_depol = 0
    for gate in ("sx", "x"):
        for q in range(5):
            # the composed channel's average gate infidelity is the calibrated error of the gate,
            # or the relaxation's alone where that is larger (then no depolarizing is added)
            chans = [c for c, _ in m.channels_for(gate, (q,))]
            kraus = np.eye(2, dtype=complex)[None]
            for c in chans:
                kraus = np.stack([k2 @ k1 for k2 in c.kraus() for k1 in kraus])
            ours = average_gate_fidelity(Kraus(list(kraus)))
            error = dev.target[gate][(q,)].error
            if isinstance(chans[0], Depolarizing):
                with_depol += 1
                assert abs((1 - ours) - error) < 1e-9
            else:
                assert 1 - ours >= error
            theirs = average_gate_fidelity(aer_model._local_quantum_errors[gate][(q,)])
            assert abs(ours - theirs) < 1e-9
    assert with_depol >= 1  # both branches of the recipe are exercised
    for qs in dev.target["cx"]:
        # two-qubit gates: depolarizing, then each qubit's own relaxation (a Product)
        kraus = np.eye(4, dtype=complex)[None]
        for c, _ in m.channels_for("cx", qs):
            kraus = np.stack([k2 @ k1 for k2 in c.kraus() for k1 in kraus])
        theirs = average_gate_fidelity(aer_model._local_quantum_errors["cx"][qs])
        assert abs(average_gate_fidelity(Kraus(list(kraus))) - theirs) < 1e-9


# -- the torch density-matrix kernels against closed forms ----------------------------------------

def test_no_noise_density_equals_the_pure_state():
    rng = np.random.default_rng(0)
    a, b = Parameter("a"), Parameter("b")
    c = (Circuit(3).amplitude_encode("x", qubits=[0, 2]).ry(1, a).cx(1, 0).crz(0, 2, b - a).h(2)
         .ccx(0, 1, 2).u(1, a, b, 0.3).unitary([[0, 1], [1, 0]], [0]))
    vals, x = rng.normal(size=(4, 2)), rng.normal(size=(4, 4))
    psi = sv.simulate(c, vals, {"x": x}, dtype=torch.complex128)
    rho = dm.simulate_density(c, vals, {"x": x}, dtype=torch.complex128)
    torch.testing.assert_close(rho, psi[:, :, None] * psi[:, None, :].conj(), atol=1e-12, rtol=0)
    from qbridge.ir.observables import as_pauli_sum

    obs = [as_pauli_sum(w, 3) for w in ("XYZ", "ZIZ", "YXI", "IIY")]
    torch.testing.assert_close(dm.density_expectation_values(rho, obs), sv.expectation_values(psi, obs),
                               atol=1e-12, rtol=0)


@pytest.mark.parametrize("circuit, model, expected", [
    # rho -> (1-p) rho + p I/2 after x: P(1) = 1 - p/2
    (Circuit(1).x(0), NoiseModel().with_gate_error("x", Depolarizing(0.3)), {"P1": 1 - 0.15}),
    # two-qubit depolarizing after cx on |00>: P(00) = 1 - 3p/4, each other outcome p/4
    (Circuit(2).cx(0, 1), NoiseModel().with_gate_error("cx", Depolarizing(0.2, 2)), {"P00": 1 - 0.15, "P11": 0.05}),
    # amplitude damping after x: P(1) = 1 - gamma
    (Circuit(1).x(0), NoiseModel().with_gate_error("x", AmplitudeDamping(0.25)), {"P1": 0.75}),
    # phase damping after h: <X> = sqrt(1 - gamma)
    (Circuit(1).h(0), NoiseModel().with_gate_error("h", PhaseDamping(0.36)), {"X": 0.8}),
    # thermal relaxation after x: P(1) = exp(-t/T1); after h: <X> = exp(-t/T2)
    (Circuit(1).x(0), NoiseModel().with_gate_error("x", ThermalRelaxation(50.0, 30.0, 10.0)), {"P1": math.exp(-0.2)}),
    (Circuit(1).h(0), NoiseModel().with_gate_error("h", ThermalRelaxation(50.0, 30.0, 10.0)), {"X": math.exp(-1 / 3)}),
    (Circuit(1).h(0), NoiseModel().with_gate_error("h", ThermalRelaxation(50.0, 90.0, 10.0)), {"X": math.exp(-1 / 9)}),
])
def test_channels_match_closed_forms(circuit, model, expected):
    torch_noisy = qbridge.get_backend("torch", noise=model)
    r = exact(torch_noisy, Task(circuit, observables=["X" * circuit.num_qubits]))
    for key, value in expected.items():
        if key == "X":
            assert abs(r.expectation_values[0, 0] - value) < 1e-12
        else:
            assert abs(r.probabilities[0, int(key[1:], 2)] - value) < 1e-12


def test_readout_errors_act_on_probabilities_and_counts_not_on_expectation_values():
    model = NoiseModel().with_readout_error(ReadoutError(0.1, 0.3), qubit=0).with_readout_error(ReadoutError(0.02, 0.04))
    be = qbridge.get_backend("torch", noise=model)
    r = exact(be, Task(Circuit(2).x(0), observables=["ZI"]))
    # qubit 0 prepared 1: reads 0 with 0.3; qubit 1 prepared 0: reads 1 with 0.02
    np.testing.assert_allclose(r.probabilities[0], [0.3 * 0.98, 0.3 * 0.02, 0.7 * 0.98, 0.7 * 0.02], atol=1e-12)
    assert abs(r.expectation_values[0, 0] + 1) < 1e-12  # Tr(rho Z0) of the state: readout excluded
    counts = be.run(Circuit(2).x(0), shots=20000, seed=11).result()[0].counts[0]
    p10 = 0.7 * 0.98
    assert abs(counts["10"] / 20000 - p10) < 5 * math.sqrt(p10 * (1 - p10) / 20000)
    # apply_readout keeps torch tensors differentiable and on their device
    p = torch.tensor([[0.25, 0.25, 0.5, 0.0]], dtype=torch.float64, requires_grad=True)
    out = apply_readout(p, model, [0, 1])
    assert torch.is_tensor(out) and out.requires_grad
    np.testing.assert_allclose(out.detach().numpy(), apply_readout(p.detach().numpy(), model, [0, 1]), atol=1e-15)


def test_noisy_gradient_matches_the_closed_form():
    """<ZZ> after rx(a) on q0 and a depolarized x on q1 is -(1-p) cos a: d/da = (1-p) sin a."""
    p = 0.1
    be = qbridge.get_backend("torch", noise=NoiseModel().with_gate_error("x", Depolarizing(p)))
    theta = torch.tensor([[0.3], [1.1]], dtype=torch.float64, requires_grad=True)
    ev = be.run(Task(Circuit(2).rx(0, Parameter("a")).x(1), theta, observables=["ZZ"])).result()[0].expectation_values
    ev.sum().backward()
    np.testing.assert_allclose(theta.grad.numpy()[:, 0], (1 - p) * np.sin([0.3, 1.1]), atol=1e-12)


def test_target_and_options_of_the_noisy_torch_backend():
    model = NoiseModel(num_qubits=3).with_gate_error("h", Depolarizing(0.1))
    be = qbridge.get_backend("torch", noise=model)
    t = be.target
    assert t.noisy and not t.supports_statevector and t.num_qubits == 3 and t.gradient_methods == ("backprop",)
    assert not qbridge.get_backend("torch").target.noisy
    with pytest.raises(ValidationError, match="state vector"):
        be.run(Task(Circuit(2).h(0), statevector=True))
    with pytest.raises(ValidationError, match="4 qubits but torch has 3"):
        be.run(Circuit(4).h(0))
    with pytest.raises(ValueError, match="trajectories"):
        qbridge.get_backend("torch", noise=model, trajectories=0)
    with pytest.raises(TypeError, match="NoiseModel"):
        qbridge.get_backend("torch", noise=0.1)
    # the JSON form is accepted as the option itself
    assert qbridge.get_backend("torch", noise=model.to_json()).noise == model


def test_noisy_runs_follow_the_dtype_and_create_nothing_on_the_default_device():
    """Every tensor is made on the run's device: with the default device set to 'meta', a CPU run
    that created a tensor without device= would fail (meta tensors hold no data)."""
    model = (NoiseModel().with_gate_error("ry", AmplitudeDamping(0.1)).with_gate_error("cx", Depolarizing(0.1, 2))
             .with_readout_error(ReadoutError(0.02, 0.03)))
    c = Circuit(3).amplitude_encode("x", qubits=[0, 1]).ry(2, Parameter("a")).cx(0, 2)
    theta = torch.tensor([[0.4], [0.9]], dtype=torch.float32)
    x = torch.rand(2, 4, dtype=torch.float32) + 0.1
    ref = None
    for traj in (False, True):
        be = qbridge.get_backend("torch", noise=model, density_max_qubits=2 if traj else 10, trajectories=50)
        with torch.device("meta"):
            r = be.run(Task(c, theta, inputs={"x": x}, observables=["ZIZ"]), seed=3).result()[0]
        assert r.probabilities.device.type == "cpu" and r.probabilities.dtype == torch.float32
        assert r.metadata["method"] == ("trajectories" if traj else "density_matrix")
        if ref is None:
            ref = r.probabilities
    assert ref is not None


def test_trajectories_agree_with_the_density_matrix_within_their_standard_error():
    rng = np.random.default_rng(5)
    model = (NoiseModel().with_gate_error("h", Depolarizing(0.08), AmplitudeDamping(0.05))
             .with_gate_error("cx", Depolarizing(0.1, 2), PhaseDamping(0.1))
             .with_gate_error("ry", ThermalRelaxation(30.0, 20.0, 3.0))
             .with_readout_error(ReadoutError(0.03, 0.06)))
    c = Circuit(3).h(0).ry(1, Parameter("a")).cx(0, 1).h(2).cx(1, 2).ry(0, Parameter("b")).cx(2, 0)
    vals = rng.uniform(-2, 2, (2, 2))
    task = Task(c, vals, observables=["ZZI", "XIX"])
    exact_r = exact(qbridge.get_backend("torch", noise=model), task)
    traj = qbridge.get_backend("torch", noise=model, density_max_qubits=2, trajectories=4000)
    r = traj.run(task, precision="double", seed=21).result()[0]
    assert r.metadata["method"] == "trajectories" and r.metadata["trajectories"] == 4000
    se_p = r.metadata["probability_stderr"]
    z_p = (r.probabilities - exact_r.probabilities) / np.maximum(se_p, 1e-12)
    z_e = (r.expectation_values - exact_r.expectation_values) / np.maximum(r.stderr, 1e-12)
    z = np.concatenate([z_p.ravel(), z_e.ravel()])
    # an entry with no spread over trajectories (the same value in every one) must be exact
    zero = np.concatenate([r.metadata["probability_stderr"].ravel() == 0, r.stderr.ravel() == 0])
    diff = np.concatenate([(r.probabilities - exact_r.probabilities).ravel(), (r.expectation_values - exact_r.expectation_values).ravel()])
    assert np.abs(diff[zero]).max(initial=0) < 1e-9
    z = z[~zero]
    assert np.abs(z).max() < 4.5
    assert 0.2 < np.mean(z**2) < 3.0  # the stated errors are the right size, not merely large
    again = traj.run(task, precision="double", seed=21).result()[0]
    np.testing.assert_array_equal(again.probabilities, r.probabilities)  # seeded


def test_a_batch_of_repetitions_gets_one_row_each_on_both_noisy_paths():
    model = NoiseModel().with_gate_error("h", Depolarizing(0.1))
    for traj in (False, True):
        be = qbridge.get_backend("torch", noise=model, density_max_qubits=1 if traj else 10, trajectories=20)
        r = be.run(Task(Circuit(2).h(0).h(1), np.zeros((3, 0)), observables=["ZZ"]), seed=1).result()[0]
        assert r.probabilities.shape == (3, 4) and r.expectation_values.shape == (3, 1)
        counts = be.run(Task(Circuit(2).h(0), np.zeros((3, 0))), shots=10, seed=1).result()[0].counts
        assert len(counts) == 3 and all(sum(c.values()) == 10 for c in counts)
