"""braket.local and braket.dm against qbridge's torch backend; submissions; noise.

Agreement: probabilities, state vectors and exact expectation values to 1e-6 (both sides
complex128; measured ~1e-15), counts within 5 sigma.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("braket.devices")
pytest.importorskip("braket.default_simulator")

import qbridge  # noqa: E402
from qbridge import Circuit, Parameter  # noqa: E402
from qbridge.backends.base import Task  # noqa: E402

from qbridge.testing.adapters import count_z, random_circuit, random_observables, reference  # noqa: E402

N_CIRCUITS = 24
ATOL = 1e-6


@pytest.fixture(scope="module", params=["braket.local", "braket.dm"])
def backend(request):
    return qbridge.get_backend(request.param)


def _tasks(seed: int, count: int, statevector: bool):
    # Braket's simulators parse every program with a Python ANTLR parser (~5 ms a line, more under
    # load): circuits, bindings and Pauli words are kept small so that the suite stays fast
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        n = 1 + k % 6  # 1..6 qubits
        c = random_circuit(rng, n, num_ops=3 + 2 * n)
        values = rng.uniform(-np.pi, np.pi, (2, c.num_parameters))
        obs = random_observables(rng, n, count=1, terms=2)
        out.append(Task(c, values, observables=obs, statevector=statevector))
    return out


def _executables(backend, tasks, config) -> int:
    return sum(len(ex.inputs) for t in tasks for ex in backend.compile(t, config).program.executables)


def _spy_submit(backend, monkeypatch):
    calls = []
    real = backend.submit

    def spy(programs, shots, **kwargs):
        calls.append((list(programs), shots))
        return real(programs, shots, **kwargs)

    monkeypatch.setattr(backend, "submit", spy)
    return calls


def test_random_circuits_exact_agree_with_torch(backend, monkeypatch):
    calls = _spy_submit(backend, monkeypatch)
    tasks = _tasks(31, N_CIRCUITS, statevector=backend.target.supports_statevector)
    results = backend.run(tasks, precision="double").result()
    # one task batch with every binding of every task (bindings that differ only in an unread global
    # phase share one program)
    expected = _executables(backend, tasks, qbridge.RunConfig(precision="double"))
    assert len(calls) == 1 and len(calls[0][0]) == expected and 1.5 * N_CIRCUITS < expected <= 2 * N_CIRCUITS
    worst = {"probs": 0.0, "state": 0.0, "ev": 0.0}
    for task, res in zip(tasks, results):
        ref = reference(task)
        worst["probs"] = max(worst["probs"], np.abs(res.probabilities - ref["probs"]).max())
        worst["ev"] = max(worst["ev"], np.abs(res.expectation_values - ref["ev"]).max())
        if task.statevector:
            worst["state"] = max(worst["state"], np.abs(res.statevector - ref["state"]).max())
    assert all(v < ATOL for v in worst.values()), worst


def test_random_circuits_counts_in_one_program_set_submission(backend, monkeypatch):
    from braket.program_sets import ProgramSet

    calls = _spy_submit(backend, monkeypatch)
    shots = 2000
    tasks = [Task(t.circuit, t.parameter_values) for t in _tasks(32, N_CIRCUITS, statevector=False)]
    results = backend.run(tasks, shots=shots, seed=5).result()
    # all bindings of all tasks as program sets in one submission, each set within Braket's 100 executables
    (programs, sent_shots), = calls
    assert sent_shots == shots and all(isinstance(p, ProgramSet) for p in programs)
    assert sum(p.total_executables for p in programs) == _executables(backend, tasks, qbridge.RunConfig(shots=shots))
    assert len(programs) == 1  # 48 executables or fewer fit one set of Braket's 100
    worst = 0.0
    for task, res in zip(tasks, results):
        ref = reference(task)["probs"]
        for row in range(task.batch_size):
            assert sum(res.counts[row].values()) == shots
            worst = max(worst, count_z(res.counts[row], ref[row], shots))
    assert worst < 5.0, worst


def test_same_seed_same_counts_other_seed_other_counts(backend):
    c = Circuit(4).h(0).ry(1, Parameter("a")).cx(0, 2).rzz(2, 3, Parameter("a")).h(3)
    values = [[0.3], [1.1], [2.0]]
    one = backend.run((c, values), shots=500, seed=7).result()[0].counts
    two = backend.run((c, values), shots=500, seed=7).result()[0].counts
    three = backend.run((c, values), shots=500, seed=8).result()[0].counts
    assert one == two and one != three


def test_shot_expectations_within_five_sigma(backend):
    rng = np.random.default_rng(35)
    c = random_circuit(rng, 3, 10)
    task = Task(c, rng.uniform(-1, 1, (2, c.num_parameters)), observables=random_observables(rng, 3))
    ref = reference(task)["ev"]
    res = backend.run(task, shots=4000, seed=3).result()[0]
    z = np.abs(res.expectation_values - ref) / np.maximum(res.stderr, 1e-9)
    assert np.all(z < 5), (res.expectation_values, ref, res.stderr)


def test_program_sets_split_at_the_device_limits_and_keep_the_order(monkeypatch):
    backend = qbridge.get_backend("braket.local")
    # pretend the device takes at most 4 executables and 1000 shots per program set
    monkeypatch.setattr(backend, "_limits", replace(backend.limits, program_set=(4, 1000, 0)))
    calls = _spy_submit(backend, monkeypatch)
    theta = Parameter("theta")
    c = Circuit(3).rx(0, theta).cx(0, 1).ry(2, 2 * theta)
    values = np.array([[0.0], [np.pi], [0.0], [np.pi], [np.pi], [0.0], [np.pi]])  # every row deterministic
    other = Task(Circuit(2).x(1), None)
    res = backend.run([Task(c, values), other], shots=200, seed=1).result()
    (sets, _), = calls
    assert [s.total_executables for s in sets] == [4, 4]  # 8 executables, 4 per set (200 shots x 4 <= 1000)
    expected = {0.0: "000", np.pi: "110"}
    # ry(2*pi) on qubit 2 is -I: qubit 2 stays 0 in both cases
    assert [r for r in res[0].counts] == [{expected[v]: 200} for v in values[:, 0]]
    assert res[1].counts == ({"01": 200},)


@pytest.mark.parametrize("program_sets", [True, False])
def test_rows_without_parameters_are_independent_samples(backend, program_sets, monkeypatch):
    """Rows of a parameterless task sample separately (they once shared one run's counts); exact
    runs still compute the program once for all rows."""
    if not program_sets:
        monkeypatch.setattr(backend, "_limits", replace(backend.limits, program_set=None))
    c = Circuit(3).h(0).h(1).h(2)
    task = Task(c, np.zeros((6, 0)))
    config = qbridge.RunConfig(shots=64, seed=11)
    assert _executables(backend, [task], config) == 6
    counts = backend.run(task, shots=64, seed=11).result()[0].counts
    assert len(counts) == 6 and all(sum(row.values()) == 64 for row in counts)
    # six samples of 64 shots over 8 outcomes: equal histograms by chance have probability < 1e-20
    assert len({tuple(sorted(row.items())) for row in counts}) > 1
    assert _executables(backend, [task], qbridge.RunConfig()) == 1
    exact = backend.run(task).result()[0].probabilities
    assert np.allclose(np.asarray(exact), 1 / 8)


def test_amplitude_encoding_is_decomposed_per_row(monkeypatch):
    backend = qbridge.get_backend("braket.local")
    assert backend.target.supports_state_prep is False
    rng = np.random.default_rng(36)
    theta = Parameter("theta")
    c = Circuit(4).h(3).amplitude_encode("x", [2, 0, 1]).ry(2, theta).cx(0, 3).crz(1, 2, theta)
    x = rng.normal(size=(3, 6)) + 1j * rng.normal(size=(3, 6))  # padded to 8, normalised, per row
    task = Task(c, rng.uniform(-1, 1, (3, 1)), inputs={"x": x}, statevector=True, observables=random_observables(rng, 4))
    ref = reference(task)
    res = backend.run(task, precision="double").result()[0]
    np.testing.assert_allclose(res.statevector, ref["state"], atol=ATOL)
    np.testing.assert_allclose(res.expectation_values, ref["ev"], atol=ATOL)
    compiled = backend.compile(task, qbridge.RunConfig(precision="double"))
    assert len(compiled.program.executables) == 3  # one program per input row
    assert "amplitude_encode" not in compiled.program.executables[0].source
    # one shared input row: one program for the whole batch
    shared = Task(c, [[0.1], [0.2]], inputs={"x": x[:1]})
    assert len(backend.compile(shared, qbridge.RunConfig()).program.executables) == 1
    calls = _spy_submit(backend, monkeypatch)
    counts = backend.run(Task(c, [[0.1], [0.2], [0.3]], inputs={"x": x}), shots=1000, seed=2).result()[0].counts
    assert len(calls) == 1 and sum(p.total_executables for p in calls[0][0]) == 3 and len(counts) == 3


def test_run_batch_parallel_matches_sequential():
    tasks = _tasks(37, 4, statevector=True)
    one = qbridge.get_backend("braket.local", max_parallel=1).run(tasks, precision="double").result()
    two = qbridge.get_backend("braket.local", max_parallel=2).run(tasks, precision="double").result()
    for a, b in zip(one, two):
        np.testing.assert_allclose(a.statevector, b.statevector, atol=1e-14)


# -- the density-matrix simulator's noise option ----------------------------------------------------

NOISE = {"depolarizing": 0.02, "two_qubit_depolarizing": 0.05, "readout": 0.03}


def test_dm_without_noise_agrees_and_with_noise_differs():
    rng = np.random.default_rng(38)
    c = random_circuit(rng, 3, 12)
    task = Task(c, rng.uniform(-1, 1, (2, c.num_parameters)), observables=random_observables(rng, 3))
    ref = reference(task)
    clean = qbridge.get_backend("braket.dm")
    noisy = qbridge.get_backend("braket.dm", noise=NOISE)
    assert not clean.target.noisy and noisy.target.noisy
    r0 = clean.run(task, precision="double").result()[0]
    r1 = noisy.run(task, precision="double").result()[0]
    np.testing.assert_allclose(r0.probabilities, ref["probs"], atol=ATOL)
    assert np.abs(r1.probabilities - ref["probs"]).max() > 1e-2
    np.testing.assert_allclose(r1.probabilities.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(r0.expectation_values, ref["ev"], atol=ATOL)
    assert np.abs(r1.expectation_values - ref["ev"]).max() > 1e-2


def test_dm_noise_exact_and_sampled_agree():
    # readout is applied classically on exact results and as bit_flip before measurement with shots
    noisy = qbridge.get_backend("braket.dm", noise=NOISE)
    c = Circuit(3).h(0).cx(0, 1).ry(2, Parameter("t")).cz(1, 2).sx(0)
    task = Task(c, [[0.4], [2.2]], observables=["ZZI + 0.5*XIX - 0.3*IYZ"])
    exact = noisy.run(task, precision="double").result()[0]
    shots = 8000
    sampled = noisy.run(Task(c, [[0.4], [2.2]]), shots=shots, seed=11).result()[0]
    for row in range(2):
        assert count_z(sampled.counts[row], exact.probabilities[row], shots) < 5
    est = noisy.run(task, shots=shots, seed=12).result()[0]
    assert np.all(np.abs(est.expectation_values - exact.expectation_values) < 5 * est.stderr + 1e-9)


def test_dm_noise_decomposes_three_qubit_gates():
    noisy = qbridge.get_backend("braket.dm", noise={"depolarizing": 0.01})
    assert "ccx" not in noisy.target.native_gates and "cswap" not in noisy.target.native_gates
    compiled = noisy.compile(Task(Circuit(3).ccx(0, 1, 2)), qbridge.RunConfig())
    assert "ccnot" not in compiled.program.executables[0].source
    assert "#pragma braket noise depolarizing(0.01)" in compiled.program.executables[0].source
    res = noisy.run(Circuit(3).x(0).x(1).ccx(0, 1, 2), precision="double").result()[0]
    assert 0.8 < res.probabilities[0][0b111] < 1.0
