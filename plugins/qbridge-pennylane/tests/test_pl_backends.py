"""PennyLane backends against qbridge's torch backend: random circuits, shots, batches, encoding.

Agreement: probabilities and state vectors to 1e-6 (complex128 on both sides: the measured
differences are ~1e-15), exact expectation values to 1e-6, counts within 5 sigma.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pennylane")
pytest.importorskip("pennylane_lightning")

import pennylane as qml  # noqa: E402

import qbridge  # noqa: E402
from qbridge import Circuit, Parameter  # noqa: E402
from qbridge.backends.base import Task  # noqa: E402

from qbridge.testing.adapters import count_z, random_circuit, random_observables, reference  # noqa: E402

BACKENDS = ["pennylane.default.qubit", "pennylane.lightning.qubit"]
N_CIRCUITS = 24
ATOL = 1e-6


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request):
    return qbridge.get_backend(request.param)


def _tasks(seed: int, count: int):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        n = 1 + k % 6  # 1..6 qubits
        c = random_circuit(rng, n, num_ops=4 + 3 * n)
        values = rng.uniform(-np.pi, np.pi, (3, c.num_parameters))
        out.append(Task(c, values, observables=random_observables(rng, n), statevector=True))
    return out


def test_random_circuits_exact_agree_with_torch(backend):
    tasks = _tasks(11, N_CIRCUITS)
    results = backend.run(tasks, precision="double").result()  # all tasks: one submission
    worst = {"probs": 0.0, "state": 0.0, "ev": 0.0}
    for task, res in zip(tasks, results):
        ref = reference(task)
        worst["probs"] = max(worst["probs"], np.abs(np.asarray(res.probabilities) - ref["probs"]).max())
        worst["state"] = max(worst["state"], np.abs(np.asarray(res.statevector) - ref["state"]).max())
        worst["ev"] = max(worst["ev"], np.abs(np.asarray(res.expectation_values) - ref["ev"]).max())
    assert all(v < ATOL for v in worst.values()), worst


def test_random_circuits_counts_within_five_sigma(backend):
    shots = 3000
    tasks = [Task(t.circuit, t.parameter_values) for t in _tasks(12, N_CIRCUITS)]
    results = backend.run(tasks, shots=shots, seed=99).result()
    worst = 0.0
    for task, res in zip(tasks, results):
        ref = reference(task)["probs"]
        assert len(res.counts) == task.batch_size
        for row in range(task.batch_size):
            assert sum(res.counts[row].values()) == shots
            worst = max(worst, count_z(res.counts[row], ref[row], shots))
    assert worst < 5.0, worst


def test_same_seed_same_counts_other_seed_other_counts(backend):
    c = Circuit(4).h(0).ry(1, Parameter("a")).cx(0, 2).rzz(2, 3, Parameter("a"))
    values = [[0.3], [1.1], [2.0]]
    one = backend.run((c, values), shots=500, seed=7).result()[0].counts
    two = backend.run((c, values), shots=500, seed=7).result()[0].counts
    three = backend.run((c, values), shots=500, seed=8).result()[0].counts
    assert one == two
    assert one != three


def test_rows_that_bind_the_same_values_draw_their_own_shots(backend):
    """Identical rows (a tape that is not broadcast) used to get one sample copied B times."""
    theta = Parameter("theta")
    c = Circuit(3).ry(0, theta).h(1).h(2)
    task = Task(c, np.full((4, 1), np.pi / 2))
    for seed in (5, None):
        res = backend.run(task, shots=2000, seed=seed).result()[0]
        counts = res.counts
        assert len(counts) == 4 and all(sum(row.values()) == 2000 for row in counts)
        # two independent multinomial draws of 2000 shots over 8 outcomes coincide with p ~ 1e-12
        assert len({tuple(sorted(row.items())) for row in counts}) == 4, counts
        probs = np.full(8, 1 / 8)
        assert all(count_z(row, probs, 2000) < 5 for row in counts)


def test_shot_expectations_within_five_sigma(backend):
    rng = np.random.default_rng(5)
    c = random_circuit(rng, 3, 10)
    task = Task(c, rng.uniform(-1, 1, (2, c.num_parameters)), observables=random_observables(rng, 3))
    ref = reference(task)["ev"]
    res = backend.run(task, shots=4000, seed=3).result()[0]
    z = np.abs(res.expectation_values - ref) / np.maximum(res.stderr, 1e-9)
    assert np.all(z < 5), (res.expectation_values, ref, res.stderr)


def test_a_batch_of_bindings_is_one_broadcast_execution(backend, monkeypatch):
    calls = []
    real = qml.execute

    def spy(tapes, *args, **kwargs):
        calls.append([t.batch_size for t in tapes])
        return real(tapes, *args, **kwargs)

    monkeypatch.setattr(qml, "execute", spy)
    theta = Parameter("theta")
    tasks = [Task(Circuit(2).h(0).crx(0, 1, theta), np.linspace(0, 3, 5)[:, None]),
             Task(Circuit(2).ry(1, 2 * theta), np.linspace(0, 1, 5)[:, None])]
    res = backend.run(tasks, precision="double").result()
    assert calls == [[5, 5]]  # one qml.execute, two tapes, each broadcast over its 5 bindings
    expected = np.sin(np.linspace(0, 1, 5)) ** 2  # |1> on qubit 1 after ry(2 theta)
    np.testing.assert_allclose(np.asarray(res[1].probabilities)[:, 1], expected, atol=1e-12)
    calls.clear()
    backend.run(tasks, shots=100, seed=1).result()
    assert calls == [[5, 5]]


def test_amplitude_encoding_gives_the_torch_backends_state(backend):
    rng = np.random.default_rng(21)
    theta = Parameter("theta")
    # two encodings on fresh qubits, one after a gate on another qubit, registers out of order
    c = (Circuit(5).h(4).amplitude_encode("x", [3, 0, 1]).amplitude_encode("y", [2]).ry(2, theta).cx(0, 4)
         .crz(1, 2, theta))
    x = rng.normal(size=(4, 6)) + 1j * rng.normal(size=(4, 6))  # 6 of 8 amplitudes: zero-padded, normalised
    y = rng.normal(size=(1, 2))  # one row shared by the whole batch
    task = Task(c, rng.uniform(-1, 1, (4, 1)), inputs={"x": x, "y": y}, statevector=True,
                observables=random_observables(rng, 5))
    ref = reference(task)
    res = backend.run(task, precision="double").result()[0]
    np.testing.assert_allclose(np.asarray(res.statevector), ref["state"], atol=ATOL)
    np.testing.assert_allclose(np.asarray(res.expectation_values), ref["ev"], atol=ATOL)


def test_fixed_vector_encoding_and_measured_subset(backend):
    c = Circuit(3).amplitude_encode([3, 4], [1]).h(0).cx(0, 2).measure([2, 1])
    res = backend.run(c, precision="double").result()[0]
    ref = qbridge.get_backend("torch").run(c, precision="double").result()[0]
    assert res.num_qubits == 2
    np.testing.assert_allclose(np.asarray(res.probabilities), np.asarray(ref.probabilities), atol=1e-12)
    counts = backend.run(c, shots=400, seed=4).result()[0].counts[0]
    assert set(counts) <= {"00", "01", "10", "11"} and sum(counts.values()) == 400


def test_single_precision_on_lightning():
    backend = qbridge.get_backend("pennylane.lightning.qubit")
    task = _tasks(13, 1)[0]
    res = backend.run(task, precision="single").result()[0]
    assert np.asarray(res.statevector).dtype == np.complex64
    np.testing.assert_allclose(np.asarray(res.probabilities), reference(task)["probs"], atol=1e-5)


def test_empty_and_identity_only_cases(backend):
    res = backend.run(Task(Circuit(2), observables=["0.5*II", "ZI"]), precision="double").result()[0]
    np.testing.assert_allclose(np.asarray(res.probabilities), [[1, 0, 0, 0]])
    np.testing.assert_allclose(np.asarray(res.expectation_values), [[0.5, 1.0]])
