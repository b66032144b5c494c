"""Mitigation through Backend.run on real backends: one submission for everything, ZNE moving
depolarized values toward the ideal one, twirling and folding leaving ideal results unchanged
(symbolic parameters, batches, encoded inputs), results and metadata, the CLI, and errors.

"One submission" is counted on real backend classes (the torch simulator and Aer) subclassed
only to count ``_execute`` calls -- not mocks."""

from __future__ import annotations

import json

import numpy as np
import pytest

import qbridge
from qbridge import Circuit, Estimator, Parameter, PauliSum, RunConfig, Sampler
from qbridge.backends.base import Task
from qbridge.backends.torch import TorchBackend
from qbridge.exceptions import ValidationError

TH = Parameter("th")
GHZ3 = Circuit(3).h(0).cx(0, 1).cx(1, 2)
PARAM = Circuit(2).ry(0, TH).cx(0, 1).rz(1, 0.5 * TH).cz(0, 1).h(1)


def _exact(circuit, obs, values=None):
    c = circuit.bind(values) if values else circuit
    u = c.to_matrix()
    psi = u[:, 0]
    return float(np.real(np.conj(psi) @ PauliSum.parse(obs, c.num_qubits).to_matrix() @ psi))


class CountingTorch(TorchBackend):
    name = "torch"

    def __init__(self, **kw):
        super().__init__(**kw)
        self.calls: list[int] = []

    def _execute(self, tasks, config):
        self.calls.append(len(tasks))
        return super()._execute(tasks, config)


def _depolarizing_aer(p2=0.05, p1=0.005, readout=None):
    pytest.importorskip("qbridge_aer")
    from qiskit_aer.noise import NoiseModel, ReadoutError, depolarizing_error

    nm = NoiseModel()
    nm.add_all_qubit_quantum_error(depolarizing_error(p2, 2), ["cx", "cz"])
    nm.add_all_qubit_quantum_error(depolarizing_error(p1, 1), ["u", "h", "x", "y", "z", "s", "sdg", "ry", "rz", "sx"])
    if readout:
        nm.add_all_qubit_readout_error(ReadoutError([[1 - readout, readout], [readout, 1 - readout]]))
    return nm


def test_everything_goes_out_in_one_execute_call():
    be = CountingTorch()
    tasks = [
        Task(GHZ3, None, {}, ("ZZI + 0.5*IZZ", "XXX")),  # 2 groups
        Task(PARAM, np.array([[0.3], [1.2], [2.5], [0.9]]), {}, ("ZZ", "XI + 0.2*IX", "YY")),  # 3 groups, 4 rows
        Task(GHZ3.measure([0, 2])),  # sampling
    ]
    cfg = RunConfig(shots=600, seed=5, mitigation="readout,zne,twirl",
                    options={"allocation": "proportional", "twirl_instances": 3})
    res = be.run(tasks, cfg).result()
    assert be.calls == [be.calls[0]] and len(be.calls) == 1
    # 3 scales x (2 + 3) groups + 1 sampling + 2 calibration circuits, some as several copies
    assert be.calls[0] >= 3 * 5 + 1 + 2
    assert res.metadata["submissions"] == 1
    exact = [[_exact(GHZ3, "ZZI + 0.5*IZZ"), _exact(GHZ3, "XXX")]]
    assert np.all(np.abs(res[0].expectation_values - exact) <= 5 * res[0].stderr + 1e-9)
    for b, th in enumerate([0.3, 1.2, 2.5, 0.9]):
        ex = [_exact(PARAM, o, {"th": th}) for o in ("ZZ", "XI + 0.2*IX", "YY")]
        assert np.all(np.abs(res[1].expectation_values[b] - ex) <= 5 * res[1].stderr[b] + 1e-9)
    assert sum(res[2].get_counts(0).values()) == res[2].shots
    meta = res[1].metadata["mitigation"]
    assert meta["zne"]["actual_scales"] == [1.0, 3.0, 5.0] and meta["twirl"]["instances"] == 3
    assert meta["shots"]["zne_extra"] == 2 * meta["shots"]["unmitigated_equivalent"]


def test_one_execute_call_on_aer_too():
    pytest.importorskip("qbridge_aer")
    from qbridge_aer.backend import AerBackend

    class CountingAer(AerBackend):
        calls = 0

        def _execute(self, tasks, config):
            type(self).calls += 1
            return super()._execute(tasks, config)

    be = CountingAer(noise_model=_depolarizing_aer())
    before = be.stats["runs"]
    res = be.run([Task(GHZ3, None, {}, ("ZZI", "XXX"))],
                 RunConfig(shots=500, seed=1, mitigation="readout,zne,twirl", options={"twirl_instances": 2})).result()
    assert CountingAer.calls == 1 and be.stats["runs"] - before == 1  # and one Aer run inside it
    assert res[0].expectation_values.shape == (1, 2)


def test_zne_moves_depolarized_values_toward_the_ideal_on_aer():
    be = qbridge.get_backend("aer", noise_model=_depolarizing_aer())
    obs = ["ZZI", "IZZ", "XXX"]
    for method, extra in (("richardson", {}), ("linear", {"scale_factors": (1, 2, 3)}),
                          ("exponential", {}), ("polynomial", {"scale_factors": (1, 2, 3, 4), "order": 2})):
        res = Estimator(be).run(GHZ3, obs, shots=20000, seed=3, mitigation="zne",
                                options={"extrapolation": method, **extra})
        raw = res.metadata["unmitigated"]["expectation_values"][0]
        err_raw = np.abs(raw - 1.0)
        err_mit = np.abs(res.values[0] - 1.0)
        assert np.all(err_raw > 0.04), method
        # closer to the ideal by at least half, and consistent with it within 5 sigma (plus the
        # small bias a finite-order extrapolation keeps)
        assert np.all(err_mit < 0.5 * err_raw), (method, raw, res.values)
        assert np.all(err_mit <= 5 * res.stderr[0] + 0.03), (method, res.values, res.stderr)
        assert np.all(res.stderr[0] > res.metadata["unmitigated"]["stderr"][0])  # extrapolation costs variance


def test_extrapolated_stderr_matches_the_spread_over_a_batch():
    """Rows of one binding are independent ZNE estimates; the propagated standard error matches
    their spread. Noiseless (torch, 300 rows: 20% is 5 standard errors of the spread) for the
    linear propagation through Richardson weights with twirling; noisy Aer (150 rows, 20% is
    about 3.5) for the exponential fit's Jacobian."""
    rows = np.full((300, 1), 0.9)
    res = Estimator("torch").run(PARAM, ["ZZ + ZI", "XX - 0.5*YY"], rows, shots=800, seed=8, mitigation="zne,twirl",
                                 options={"twirl_instances": 2, "twirl_mode": "parametric"})
    np.testing.assert_allclose(res.stderr.mean(axis=0), res.values.std(axis=0, ddof=1), rtol=0.2)
    be = qbridge.get_backend("aer", noise_model=_depolarizing_aer())
    res = Estimator(be).run(PARAM, ["ZZ + ZI"], rows[:150], shots=1000, seed=8, mitigation="zne",
                            options={"extrapolation": "exponential"})
    np.testing.assert_allclose(res.stderr.mean(axis=0), res.values.std(axis=0, ddof=1), rtol=0.2)


@pytest.mark.parametrize("mode", ["explicit", "parametric"])
def test_zne_exact_mode_and_noiseless_folding_is_exact(mode):
    # noiseless: folded and twirled circuits are the same unitary, for every binding of the batch
    rows = np.array([[0.2], [1.9], [-0.7]])
    res = Estimator("torch").run(PARAM, ["ZZ", "XI + 0.2*IX"], rows, precision="double", mitigation="zne,twirl",
                                 options={"fold_method": "random", "scale_factors": (1, 1.7, 3.2), "twirl_mode": mode})
    for b, th in enumerate(rows[:, 0]):
        np.testing.assert_allclose(res.values[b], [_exact(PARAM, o, {"th": th}) for o in ("ZZ", "XI + 0.2*IX")],
                                   atol=1e-9)
    np.testing.assert_array_equal(res.stderr, 0.0)
    # exact noisy values (Aer's density matrix): extrapolation brings them close to 1
    be = qbridge.get_backend("aer", noise_model=_depolarizing_aer())
    ex = Estimator(be).run(GHZ3, ["ZZI", "XXX"], mitigation="zne")
    raw = ex.metadata["unmitigated"]["expectation_values"][0]
    assert np.all(np.abs(ex.values[0] - 1) < 0.25 * np.abs(raw - 1))


def test_amplitude_encoded_inputs_travel_with_every_variant():
    c = Circuit(2).amplitude_encode("x").cx(0, 1).ry(1, TH)
    x = np.array([[1.0, 2.0, 0.5, 0.0], [0.0, 1.0, 1.0, 1.0]])
    th = np.array([[0.4], [1.1]])
    res = Estimator("torch").run(c, ["ZZ", "XX"], th, inputs={"x": x}, precision="double", mitigation="zne,twirl")
    ref = Estimator("torch").run(c, ["ZZ", "XX"], th, inputs={"x": x}, precision="double")
    np.testing.assert_allclose(res.values, np.asarray(ref.values), atol=1e-9)
    # fold_encoding: each binding's encoding bound, decomposed and folded with the rest
    folded = Estimator("torch").run(c, ["ZZ", "XX"], th, inputs={"x": x}, precision="double", mitigation="zne",
                                    options={"fold_encoding": True})
    np.testing.assert_allclose(folded.values, np.asarray(ref.values), atol=1e-9)
    meta = folded.metadata
    assert meta["mitigation"]["fold_encoding"] is True and meta["unmitigated"]["expectation_values"].shape == (2, 2)
    assert meta["mitigation"]["zne"]["values"].shape == (2, 3, 2)
    # one binding: three noise scales, one measurement group, one submission
    be = CountingTorch()
    be.run(Task(c, th[:1], {"x": x[:1]}, ("ZZ",)), RunConfig(mitigation="zne", options={"fold_encoding": True}))
    assert be.calls == [3]


@pytest.mark.parametrize("mode", ["explicit", "parametric"])
def test_twirled_sampling_pools_instances_and_keeps_the_shot_count(mode):
    res = Sampler("torch").run(PARAM.measure_all(), np.array([[0.8]]), shots=3000, seed=2, mitigation="twirl",
                               options={"twirl_instances": 6, "twirl_mode": mode})
    counts = res.counts[0]
    assert sum(counts.values()) == res.result.shots == 3000
    probs = np.abs(PARAM.bind({"th": 0.8}).to_matrix()[:, 0]) ** 2
    for i, p in enumerate(probs):
        k = counts.get(format(i, "02b"), 0)
        assert abs(k - 3000 * p) <= 5 * np.sqrt(3000 * p * (1 - p)) + 1


def test_braket_dm_depolarizing_and_readout_noise():
    pytest.importorskip("qbridge_braket")
    be = qbridge.get_backend("braket.dm", noise={"two_qubit_depolarizing": 0.04, "readout": 0.03})
    res = Estimator(be).run(Circuit(2).h(0).cx(0, 1), ["ZZ", "XX"], shots=8000, seed=4, mitigation="readout,zne")
    raw = res.metadata["unmitigated"]["expectation_values"][0]
    assert np.all(np.abs(res.values[0] - 1) < 0.5 * np.abs(raw - 1))
    assert np.all(np.abs(res.values[0] - 1) <= 5 * res.stderr[0] + 0.02)


def test_ibm_fake_readout_and_native_report():
    pytest.importorskip("qbridge_ibm")
    be = qbridge.get_backend("ibm.fake")
    with pytest.warns(UserWarning, match="no effect in local testing mode"):
        res = Estimator(be).run(GHZ3, ["ZZI", "IZZ"], shots=4000, seed=2, mitigation="readout,native")
    raw = res.metadata["unmitigated"]["expectation_values"][0]
    assert np.all(np.abs(res.values[0] - 1) < np.abs(raw - 1))
    native = res.metadata["mitigation"]["native"]
    assert native["reported"]["effective"] is False and "local testing mode" in native["reported"]["note"]
    assert native["reported"]["sampler_options"]["twirling"]["enable_gates"] is True
    cal = res.metadata["mitigation"]["readout"]["calibration"]
    assert cal["physical_qubits"] is not None  # calibrated where the circuit ran


def test_results_keep_the_unmitigated_values_and_report_costs():
    be = qbridge.get_backend("aer", noise_model=_depolarizing_aer(readout=0.04))
    res = be.run(Task(GHZ3, None, {}, ("ZZI", "XXX + 0.5*III")),
                 RunConfig(shots=1000, seed=1, mitigation="readout,zne")).result()[0]
    md = res.metadata
    assert set(md["unmitigated"]) >= {"expectation_values", "stderr"}
    assert md["unmitigated"]["expectation_values"].shape == res.expectation_values.shape == (1, 2)
    shots = md["mitigation"]["shots"]
    assert shots["unmitigated_equivalent"] == 2000 and shots["per_binding"] == 6000
    assert shots["readout_calibration"] == 2000 and shots["total"] == 8000
    assert md["mitigation"]["zne"]["values"].shape == (1, 3, 2)
    assert md["measurement_groups"] == ["XXX", "ZZI"]


def test_cli_reports_mitigated_and_unmitigated_values(tmp_path):
    pytest.importorskip("qbridge_aer")
    from click.testing import CliRunner

    from qbridge.cli import main

    prog = tmp_path / "ghz.qasm"
    prog.write_text('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[3] q;\nh q[0];\ncx q[0], q[1];\ncx q[1], q[2];\n')
    out = CliRunner().invoke(main, ["run", str(prog), "--backend", "aer", "--option", "noise_backend=fake_manila",
                                    "--observable", "ZZI", "--observable", "XXX", "--shots", "4000", "--seed", "3",
                                    "--mitigation", "readout,zne", "--json"])
    assert out.exit_code == 0, out.output
    rep = json.loads(out.output)
    for e in rep["expectation_values"]:
        assert set(e) == {"observable", "value", "stderr", "unmitigated_value", "unmitigated_stderr"}
        assert abs(e["value"] - 1) < abs(e["unmitigated_value"] - 1)
    assert rep["mitigation"]["techniques"] == ["readout", "zne"] and rep["mitigation"]["shots"]["total"] > 0
    plain = CliRunner().invoke(main, ["run", str(prog), "--observable", "ZZI", "--shots", "100", "--json"])
    assert "unmitigated_value" not in plain.output
    bad = CliRunner().invoke(main, ["run", str(prog), "--shots", "100", "--mitigation", "zne"])
    assert bad.exit_code == 2 and "expectation values" in bad.output


def test_errors_are_clear():
    be = qbridge.get_backend("torch")
    task = Task(GHZ3, None, {}, ("ZZI",))
    with pytest.raises(ValueError, match="unknown mitigation"):
        be.run(task, RunConfig(shots=10, mitigation="readout,magic"))
    with pytest.raises(ValidationError, match="offers no native error mitigation"):
        be.run(task, RunConfig(shots=10, mitigation="native"))
    with pytest.raises(ValidationError, match="expectation values"):
        be.run(Task(GHZ3), RunConfig(shots=10, mitigation="zne"))
    with pytest.raises(ValidationError, match="state vectors"):
        be.run(Task(GHZ3, statevector=True), RunConfig(mitigation="readout"))
    with pytest.raises(ValueError, match="scale_factors"):
        be.run(task, RunConfig(shots=10, mitigation="zne", options={"scale_factors": (1,)}))
    with pytest.raises(ValueError, match="needs options"):
        be.run(task, RunConfig(shots=10, options={"allocation": "precision"}))
    with pytest.raises(ValueError, match="run option 'extrapolation' must be one of"):  # at construction
        be.run(task, RunConfig(shots=10, mitigation="zne", options={"extrapolation": "spline"}))
    # identity-only observables: nothing to run, exact values
    res = be.run(Task(GHZ3, None, {}, ("2*III",)), RunConfig(shots=10, mitigation="readout,zne")).result()[0]
    np.testing.assert_allclose(res.expectation_values, [[2.0]])


def test_run_options_are_checked_when_the_config_is_made():
    """A misspelt option is an error naming the closest one (a budget that silently does not
    apply would cost money); bad values name the option; 'precision' is 'target_stderr' now."""
    import warnings

    from qbridge.exceptions import ArgumentError, ArgumentTypeError

    with pytest.raises(ArgumentError, match=r"unknown run option 'max_cots'; did you mean 'max_cost'\?"):
        RunConfig(shots=10, options={"max_cots": 5})
    with pytest.raises(ArgumentError, match="'max_cost' must be >= 0"):
        RunConfig(shots=10, options={"max_cost": -1})
    with pytest.raises(ArgumentTypeError, match="'twirl_instances' must be an integer"):
        RunConfig(shots=10, options={"twirl_instances": 2.5})
    with pytest.raises(ArgumentTypeError, match="'fold_encoding' must be True or False"):
        RunConfig(shots=10, options={"fold_encoding": "yes"})
    with pytest.raises(ArgumentError, match="arn=.*get_backend"):
        RunConfig(shots=10, options={"arn": "x"})  # a backend option given as a run option
    with pytest.warns(DeprecationWarning, match="target_stderr"):
        old = RunConfig(shots=10, options={"precision": 0.05})
    assert old.options == {"target_stderr": 0.05}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert RunConfig(shots=10, options={"target_stderr": 0.05, "scale_factors": "1,3"}).options == {
            "target_stderr": 0.05, "scale_factors": (1.0, 3.0)}


def test_typed_settings_agree_with_the_techniques_choices():
    """RunConfig checks choices at construction; the techniques keep their own tables. They agree."""
    from qbridge.runtime.options import RUN_OPTIONS
    from qbridge.mitigation.allocation import ALLOCATIONS
    from qbridge.mitigation.readout import READOUT_METHODS
    from qbridge.mitigation.zne import EXTRAPOLATIONS, FOLD_METHODS

    for name, table in (("allocation", ALLOCATIONS), ("readout_method", READOUT_METHODS),
                        ("extrapolation", EXTRAPOLATIONS), ("fold_method", FOLD_METHODS)):
        for choice in table:
            RUN_OPTIONS[name].check(name, choice)  # accepted
        with pytest.raises(ValueError):
            RUN_OPTIONS[name].check(name, "not-a-choice")
    s = RunConfig(shots=10, options={"max_cost_usd": 2, "store": "/tmp/s.db", "target_stderr": 0.1,
                                     "scale_factors": [1, 2]}).settings
    assert s.budget.max_cost == 2.0 and s.cloud.store == "/tmp/s.db" and s.allocation.allocation == "precision"
    assert s.mitigation.scale_factors == (1.0, 2.0)
    with pytest.raises(ValueError, match="same setting"):
        RunConfig(options={"max_cost": 1, "max_cost_usd": 2})
