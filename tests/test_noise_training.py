"""Noise-aware training: the Heisenberg-picture readout, device noise carried to a layer's gates,
QuantumNAT's normalisation, and the layers, models and CLI that train under a noise model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from qbridge import Circuit, Task, get_backend
from qbridge.ir.observables import as_pauli_sum
from qbridge.nn import QFFN, QuantumLayer
from qbridge.nn.ansatz import build_ansatz
from qbridge.nn.normalize import MeasurementNorm
from qbridge.noise import (
    AmplitudeDamping,
    Depolarizing,
    NoiseModel,
    PhaseDamping,
    Product,
    ReadoutError,
    ThermalRelaxation,
)
from qbridge.exceptions import NoiseModelError
from qbridge.sim import density as dm


def _model() -> NoiseModel:
    return (NoiseModel()
            .with_gate_error("ry", Depolarizing(0.02), AmplitudeDamping(0.03))
            .with_gate_error("rz", PhaseDamping(0.05), qubits=(0,))
            .with_gate_error("cx", Depolarizing(0.05, 2),
                             Product((AmplitudeDamping(0.01), ThermalRelaxation(50e-6, 40e-6, 1e-6))))
            .with_gate_error("h", AmplitudeDamping(0.1))
            .with_readout_error(ReadoutError(0.02, 0.05)))


def _layer_circuit(n: int, depth: int = 2) -> Circuit:
    c = Circuit(n).amplitude_encode("x").compose(build_ansatz("ry_rz_ring", n, depth))
    if n > 2:
        c = c.cz(0, n - 1).h(2).swap(0, 2)
    return c


# -- the Heisenberg picture against the density-matrix simulation ----------------------------------
@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_heisenberg_readout_equals_density_simulation(n):
    torch.manual_seed(n)
    c = _layer_circuit(n)
    model = _model()
    w = torch.randn(1, len(c.parameter_names), dtype=torch.float64, requires_grad=True)
    x = torch.randn(3 * 2**n, 2**n, dtype=torch.float64, requires_grad=True)
    obs = [as_pauli_sum("Z" * n, n), as_pauli_sum("X" + "Y" * (n - 1), n)]
    rho = dm.simulate_density(c, w, {"x": x}, noise=model, dtype=torch.complex128)
    p1, e1 = dm.density_probabilities(rho), dm.density_expectation_values(rho, obs)
    p2, e2 = dm.heisenberg_readout(c, w, {"x": x}, noise=model, observables=obs, dtype=torch.complex128)
    assert torch.allclose(p1, p2, atol=1e-13) and torch.allclose(e1, e2, atol=1e-13)
    weights = torch.arange(2**n, dtype=torch.float64)
    g1 = torch.autograd.grad((p1 * weights).sum() + e1.sum(), (w, x))
    g2 = torch.autograd.grad((p2 * weights).sum() + e2.sum(), (w, x))
    for a, b in zip(g1, g2):
        assert torch.allclose(a, b, atol=1e-11)


def test_the_torch_backend_reads_layers_in_the_heisenberg_picture_and_agrees_with_aer():
    pytest.importorskip("qiskit_aer")
    n = 3
    from qbridge import Parameter

    c = Circuit(n).amplitude_encode("x")
    for q in range(n):
        c = c.rx(q, Parameter(f"a{q}")).cz(q, (q + 1) % n)
    c = c.h(1).swap(0, 2)
    # aer prepares the encoding with ry/rz/cx gates: the model leaves those noiseless (docs/noise.md)
    model = (NoiseModel().with_gate_error("rx", Depolarizing(0.02), AmplitudeDamping(0.03))
             .with_gate_error("cz", Depolarizing(0.05, 2), Product((AmplitudeDamping(0.01), PhaseDamping(0.02))))
             .with_gate_error("h", ThermalRelaxation(50e-6, 40e-6, 5e-6)).with_gate_error("swap", Depolarizing(0.04, 2))
             .with_readout_error(ReadoutError(0.02, 0.05)))
    rng = np.random.default_rng(5)
    x = rng.normal(size=(12, 2**n))
    w = rng.normal(size=(1, len(c.parameter_names)))
    obs = ["ZZI", "XIY"]
    task = Task(c, w, inputs={"x": x}, observables=obs)
    t = get_backend("torch", noise=model).run(task, precision="double").result()[0]
    assert t.metadata.get("picture") == "heisenberg"
    a = get_backend("aer", noise=model).run(Task(c, np.repeat(w, 12, 0), inputs={"x": x}, observables=obs),
                                            precision="double").result()[0]
    np.testing.assert_allclose(np.asarray(t.probabilities), np.asarray(a.probabilities), atol=1e-6)
    np.testing.assert_allclose(np.asarray(t.expectation_values), np.asarray(a.expectation_values), atol=1e-6)


def test_when_the_heisenberg_picture_applies():
    c = _layer_circuit(3)
    assert dm.encoded_readout_applies(c, 9, 1)
    assert not dm.encoded_readout_applies(c, 8, 1)  # not more rows than 2^n: the direct way
    assert not dm.encoded_readout_applies(c, 64, 64)  # bindings per row: no shared channel
    assert not dm.encoded_readout_applies(Circuit(3).h(0).amplitude_encode("x", [1, 2]), 64, 1)
    assert not dm.encoded_readout_applies(Circuit(3).amplitude_encode([1, 0, 0, 0, 0, 0, 0, 0]).h(0), 64, 1)


def test_a_noisy_batch_through_the_backend_records_the_picture_it_used():
    c = _layer_circuit(2)
    w = np.zeros((1, len(c.parameter_names)))
    few = get_backend("torch", noise=_model()).run(Task(c, w, inputs={"x": np.ones((2, 4))})).result()[0]
    many = get_backend("torch", noise=_model()).run(Task(c, w, inputs={"x": np.ones((40, 4))})).result()[0]
    assert "picture" not in few.metadata and many.metadata["picture"] == "heisenberg"
    np.testing.assert_allclose(np.asarray(few.probabilities)[0], np.asarray(many.probabilities)[0], atol=1e-6)


# -- device noise on a layer's gates --------------------------------------------------------------
def test_with_errors_of_copies_every_entry_and_repeats_channels():
    base = (NoiseModel(num_qubits=3).with_gate_error("sx", Depolarizing(0.01))
            .with_gate_error("sx", Depolarizing(0.02), qubits=(1,)))
    m = base.with_errors_of("sx", "ry", "rx", repeat=2)
    assert m.channels_for("ry", (0,)) == [(Depolarizing(0.01), (0,))] * 2
    assert m.channels_for("rx", (1,)) == [(Depolarizing(0.02), (1,))] * 2
    silent = base.with_errors_of("sx", "rz", repeat=0)
    assert silent.channels_for("rz", (1,)) == [] and "rz" not in silent.gate_names
    assert {e.gate for e in silent.gate_noise} == {"sx", "rz"}  # named as noiseless
    assert NoiseModel.from_json(m.to_json()) == m
    with pytest.raises(NoiseModelError, match="same size"):
        base.with_errors_of("sx", "cx")
    with pytest.raises(NoiseModelError, match="unknown gate"):
        base.with_errors_of("sx", "notagate")
    with pytest.raises(NoiseModelError, match="non-negative"):
        base.with_errors_of("sx", "ry", repeat=-1)


def test_extended_to_follows_the_native_translation_and_keeps_what_the_model_names():
    base = (NoiseModel().with_gate_error("sx", Depolarizing(0.01)).with_gate_error("cx", Depolarizing(0.03, 2))
            .with_gate_error("h", Depolarizing(0.5)))
    m = base.extended_to(["ry", "rz", "h", "swap", "cz", "ccx"])
    assert len(m.channels_for("ry", (0,))) == 2 and m.channels_for("rz", (0,)) == []
    assert m.channels_for("h", (0,)) == [(Depolarizing(0.5), (0,))]  # already named: kept
    assert len(m.channels_for("swap", (0, 1))) == 3 and len(m.channels_for("cz", (0, 1))) == 1
    assert m.channels_for("ccx", (0, 1, 2)) == []  # no rule: left alone
    everything = base.extended_to()
    assert {"rx", "ry", "u", "cy", "rzz"} <= everything.gate_names


def test_a_layer_warns_when_the_model_leaves_its_gates_noiseless():
    m = NoiseModel().with_gate_error("sx", Depolarizing(0.01)).with_gate_error("cx", Depolarizing(0.03, 2))
    with pytest.warns(UserWarning, match=r"no errors to \['ry', 'rz'\].*extended_to"):
        QFFN(8, depth=1, noise=m)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        QFFN(8, depth=1, noise=m.extended_to())


def test_noise_is_given_once_and_by_name():
    m = _model()
    with pytest.raises(TypeError, match="Backend object"):
        QFFN(8, backend=get_backend("torch"), noise=m)
    with pytest.raises(TypeError, match="twice"):
        QFFN(8, noise=m, backend_options={"noise": m})
    layer = QFFN(8, depth=1, noise=m.to_json())
    assert layer.quantum.backend.noise == m


# -- normalisation ---------------------------------------------------------------------------------
def test_measurement_norm_matches_batch_norm_without_affine():
    torch.manual_seed(0)
    e = torch.rand(32, 6, dtype=torch.float64)
    ours = MeasurementNorm(6, "running").double()
    ref = torch.nn.BatchNorm1d(6, affine=False).double()
    for _ in range(3):
        assert torch.allclose(ours(e), ref(e), atol=1e-12)
    assert torch.allclose(ours.running_mean, ref.running_mean) and torch.allclose(ours.running_var, ref.running_var)
    ours.eval(), ref.eval()
    shifted = 0.5 * e + 0.1  # what a noisier device does to the readout
    assert torch.allclose(ours(shifted), ref(shifted), atol=1e-12)  # running: training's statistics
    batch = MeasurementNorm(6, "batch").double()
    batch(e)
    batch.eval()
    assert torch.allclose(batch(shifted), ref.train()(shifted), atol=1e-12)  # batch: its own rows
    assert torch.allclose(batch(shifted[:1]), (shifted[:1] - batch.running_mean) / torch.sqrt(batch.running_var + 1e-5))


def test_measurement_norm_refuses_what_it_cannot_do():
    norm = MeasurementNorm(4)
    with pytest.raises(ValueError, match="at least 2 rows"):
        norm(torch.rand(1, 4))
    norm.eval()
    with pytest.raises(ValueError, match="not been trained"):
        norm(torch.rand(1, 4))
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        norm(torch.rand(3, 5))
    with pytest.raises(ValueError, match="normalize must be"):
        QFFN(8, normalize="layer")


def test_normalised_layer_outputs_are_standardised_and_zero_rows_stay_zero():
    torch.manual_seed(1)
    c = _layer_circuit(2, depth=1)
    layer = QuantumLayer(c, "probabilities", zero_rows="zero", normalize=True, noise=_model())
    x = torch.randn(10, 4)
    x[3] = 0
    y = layer(x)
    sent = torch.cat([y[:3], y[4:]])
    assert torch.allclose(sent.mean(0), torch.zeros(4), atol=1e-5)
    assert torch.allclose(sent.std(0, unbiased=False), torch.ones(4), atol=1e-3)
    assert torch.equal(y[3], torch.zeros(4))


def test_normalisation_undoes_an_affine_change_of_the_readout():
    """Depolarizing noise on the whole register maps p -> (1-q) p + q/N, an affine change of
    every feature: the normalised readout, and so the layer's output, is the same."""
    torch.manual_seed(2)
    x = torch.randn(40, 8, dtype=torch.float64)
    layer = QuantumLayer(_layer_circuit(3, depth=1), "probabilities", init="normal").double()
    p = layer(x)
    norm = MeasurementNorm(8, eps=1e-12).double()  # eps is what keeps it from being exact
    q = 0.3
    assert torch.allclose(norm((1 - q) * p + q / 8), norm(p), atol=1e-6)
    assert not torch.allclose((1 - q) * p + q / 8, p, atol=1e-3)


# -- training ----------------------------------------------------------------------------------------
def test_noise_aware_qffn_classifier_trains():
    torch.manual_seed(3)
    noise = NoiseModel.from_backend("fake_manila").extended_to() if _has_ibm() else _model()
    x = torch.randn(64, 8)
    labels = (x[:, 0] * x[:, 1] > 0).long()
    model = torch.nn.Sequential(QFFN(8, depth=2, noise=noise, normalize=True), torch.nn.Linear(8, 2))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), labels)
        loss.backward()
        losses.append(loss.item())
        opt.step()
    assert losses[-1] < losses[0] - 0.05 and all(np.isfinite(losses))
    assert model[0].quantum.backend.noise is not None


def _has_ibm() -> bool:
    import importlib.util

    return importlib.util.find_spec("qiskit_ibm_runtime") is not None


def test_tiny_gpt_hybridize_carries_noise_and_normalisation():
    from qbridge.train.models import GPTConfig, TinyGPT, hybridize

    model = hybridize(TinyGPT(GPTConfig(vocab_size=11, d_model=8, n_layer=2, n_head=2, context=8)),
                      ffn_fraction=0.5, depth=1, noise=_model().to_json(), normalize="batch")
    qffns = [m for m in model.modules() if isinstance(m, QFFN)]
    assert qffns and all(q.quantum.backend.noise == _model() and q.normalize == "batch" for q in qffns)
    logits = model(torch.randint(0, 11, (2, 8)))
    assert torch.isfinite(logits).all()


def test_hf_hybridize_routes_noise_to_every_quantum_module():
    transformers = pytest.importorskip("transformers")
    from qbridge.hf import hybridize

    cfg = transformers.GPT2Config(vocab_size=17, n_positions=8, n_embd=8, n_layer=2, n_head=2)
    model = hybridize(transformers.GPT2LMHeadModel(cfg), ffn_fraction=0.5, head_fraction=0.5, depth=1,
                      noise=_model().to_json(), ffn_options={"normalize": True})
    layers = [m for m in model.modules() if isinstance(m, QuantumLayer)]
    assert layers and all(m.backend.noise == _model() for m in layers)
    assert model.config.qbridge["ffn_options"]["noise"] == _model().to_json()


# -- the CLI ---------------------------------------------------------------------------------------
def test_train_cli_with_device_noise(tmp_path):
    pytest.importorskip("qiskit_ibm_runtime")
    from click.testing import CliRunner

    from qbridge.cli import main

    corpus = tmp_path / "c.txt"
    corpus.write_text("to be or not to be, that is the question. " * 40)
    out = tmp_path / "run"
    args = ["train", "--family", "tiny", "--corpus", str(corpus), "--d-model", "16", "--heads", "2", "--layers", "2",
            "--context", "16", "--batch-size", "4", "--steps", "2", "--eval-batches", "1", "--hybrid", "0.5",
            "--depth", "1", "--noise", "fake_manila", "--normalize", "batch", "--quiet", "--out", str(out)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    spec = json.loads((out / "hybrid" / "metrics.json").read_text())["spec"]
    model = NoiseModel.from_json(spec["noise"])
    assert model.source == "fake_manila" and "ry" in model.gate_names and spec["normalize"] == "batch"
    # a JSON file works too, and what cannot work is refused before training
    path = tmp_path / "noise.json"
    path.write_text(_model().to_json())
    args2 = [str(path) if a == "fake_manila" else str(tmp_path / "r2") if a == str(out) else a for a in args]
    res = CliRunner().invoke(main, args2)
    assert res.exit_code == 0, res.output
    wide = [a if a != "16" else "64" for a in args]
    res = CliRunner().invoke(main, wide)
    assert res.exit_code != 0 and "use 6 qubits" in res.output and "--d-model 32" in res.output
    plain = [a for a in args if a not in ("--hybrid", "0.5")]
    res = CliRunner().invoke(main, plain)
    assert res.exit_code != 0 and "add --hybrid" in res.output
