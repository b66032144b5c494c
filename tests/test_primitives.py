"""Sampler and Estimator: shot statistics against exact Qiskit values, seeds, standard errors."""

from __future__ import annotations

import numpy as np
import pytest

import qbridge
from qbridge import Circuit, Estimator, Parameter, PauliSum, Sampler
from qbridge.exceptions import BackendNotFoundError, ObservableError, QBridgeError
from qbridge.primitives.estimation import (
    estimate_from_counts,
    marginal_counts,
    measurement_circuit,
    parity_table,
    qubitwise_groups,
)


def _assert_counts_within_5_sigma(counts: dict[str, int], probs: np.ndarray, shots: int, width: int) -> None:
    assert sum(counts.values()) == shots
    assert all(len(k) == width and set(k) <= {"0", "1"} for k in counts)
    for i, p in enumerate(probs):
        key = format(i, f"0{width}b")
        sigma = np.sqrt(shots * p * (1 - p))
        assert abs(counts.get(key, 0) - shots * p) <= 5 * sigma, (key, counts.get(key, 0), shots * p)


@pytest.mark.parametrize("seed", range(8))
def test_counts_within_5_sigma_of_exact_probabilities(seed, qiskit_ref, make_random_circuit):
    rng = np.random.default_rng([3, seed])
    n = 1 + seed % 4
    c = make_random_circuit(rng, n, 15, unitary_prob=0.1)
    probs = np.abs(qiskit_ref.statevector(c)) ** 2
    shots = 5000
    res = Sampler().run(c.measure_all(), shots=shots, seed=seed)
    _assert_counts_within_5_sigma(res.counts[0], probs, shots, n)
    # frequencies and exact probabilities through the same API
    freq = res.quasi_dists()[0]
    assert sum(freq.values()) == pytest.approx(1.0)
    exact = Sampler().run(c.measure_all(), precision="double")
    np.testing.assert_allclose(np.asarray(exact.probabilities)[0], probs, atol=1e-12)
    assert exact.counts is None


def test_counts_of_a_batch_and_of_a_measured_subset(qiskit_ref):
    a = Parameter("a")
    c = Circuit(3).ry(0, a).h(1).cx(0, 2).rx(2, 0.3 * a)
    angles = np.array([[0.3], [1.4], [2.9]])
    shots = 4000
    res = Sampler().run(c.measure([2, 0]), angles, shots=shots, seed=4)
    assert res.batch_size == 3
    for row, angle in enumerate(angles[:, 0]):
        full = np.abs(qiskit_ref.statevector(c.bind({"a": angle}))) ** 2
        marg = np.einsum("abc->ca", full.reshape(2, 2, 2)).reshape(-1)
        _assert_counts_within_5_sigma(res.counts[row], marg, shots, 2)
    # rows are sampled independently
    assert res.counts[0] != res.counts[1]


def test_seeds():
    c = Circuit(3).h(0).h(1).ry(2, 1.0).measure_all()
    s = Sampler()
    first = s.run(c, shots=2000, seed=123).counts
    assert s.run(c, shots=2000, seed=123).counts == first
    assert s.run(c, shots=2000, seed=124).counts != first
    unseeded = [s.run(c, shots=2000).counts for _ in range(2)]
    assert unseeded[0] != unseeded[1]
    # one seed for a submission of several circuits still gives each its own stream
    a, b = s.run([c, c], shots=2000, seed=5)
    assert a.counts != b.counts
    assert s.run([c, c], shots=2000, seed=5)[1].counts == b.counts


def test_sampler_helpers():
    c = Circuit(3).x(0).h(2).measure_all()
    res = Sampler("torch").run(c, shots=1000, seed=1)
    assert set(res.marginal_counts([0])) == {"1"} and res.marginal_counts([0])["1"] == 1000
    m = res.marginal([2, 0])
    assert set(m) <= {"01", "11"} and sum(m.values()) == pytest.approx(1.0)
    exact = Sampler(qbridge.get_backend("torch")).run(c, precision="double")
    assert exact.marginal([2]) == pytest.approx({"0": 0.5, "1": 0.5})
    assert exact.quasi_dists()[0]["100"] == pytest.approx(0.5)
    with pytest.raises(QBridgeError, match="no counts"):
        exact.marginal_counts([0])
    many = Sampler().run([c, Circuit(1).x(0).measure()], shots=10, seed=2)
    assert [r.num_qubits for r in many] == [3, 1] and many[1].counts == ({"1": 10},)
    a = Parameter("a")
    per_circuit = Sampler().run([Circuit(1).rx(0, a), Circuit(1).ry(0, a)], [[[np.pi]], [[0.0], [np.pi]]], precision="double")
    assert [r.batch_size for r in per_circuit] == [1, 2]
    assert per_circuit[1].quasi_dists()[1]["1"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="one entry per circuit"):  # zip used to drop the third circuit
        Sampler().run([Circuit(1).rx(0, a)] * 3, [[[0.1]], [[0.2]]])


def test_unknown_backend_for_primitives():
    with pytest.raises(BackendNotFoundError):
        Sampler("no-such-backend")
    with pytest.raises(BackendNotFoundError):
        Estimator("no-such-backend")


# -- Estimator ----------------------------------------------------------------------------------

CIRCUIT = Circuit(3).ry(0, 0.7).rx(1, 1.1).cx(0, 1).h(2).rz(2, 0.4).cry(1, 2, 0.9)
OBSERVABLES = [
    PauliSum.parse("0.5*ZZI - 1.2*XIX + 0.3*YYZ + 0.7*IIX + 0.25*III"),
    PauliSum.parse("ZII + IZI"),  # two correlated terms measured together: covariance matters
    PauliSum.parse("XXX"),
]


def test_exact_estimator_matches_qiskit(qiskit_ref):
    res = Estimator().run(CIRCUIT, OBSERVABLES, precision="double")
    expected = [qiskit_ref.expectation(CIRCUIT, o) for o in OBSERVABLES]
    np.testing.assert_allclose(np.asarray(res.values)[0], expected, atol=1e-12)
    np.testing.assert_array_equal(res.stderr, 0.0)
    assert res.shots is None and res.observables == tuple(OBSERVABLES)


def test_stderr_matches_the_spread_over_seeded_repetitions(qiskit_ref):
    exact = np.array([qiskit_ref.expectation(CIRCUIT, o) for o in OBSERVABLES])
    est = Estimator()
    shots, reps = 1000, 200
    runs = [est.run(CIRCUIT, OBSERVABLES, shots=shots, seed=s) for s in range(reps)]
    values = np.array([r.values[0] for r in runs])  # (reps, n_obs)
    stderr = np.array([r.stderr[0] for r in runs])
    spread = values.std(axis=0, ddof=1)
    # std of a 200-sample std is about 5%: 20% is 4 of those
    np.testing.assert_allclose(stderr.mean(axis=0), spread, rtol=0.2)
    assert np.all(np.abs(values - exact) <= 5 * stderr)
    assert np.all(np.abs(values.mean(axis=0) - exact) <= 5 * spread / np.sqrt(reps))


def test_stderr_over_a_batch_of_identical_bindings(qiskit_ref):
    """The same check from one submission: 200 rows of one binding are 200 independent estimates."""
    t = Parameter("t")
    c = Circuit(2).ry(0, t).cx(0, 1).h(1)
    obs = [PauliSum.parse("ZI + IZ - 0.5*ZZ"), PauliSum.parse("XX + 0.3*YY")]
    res = Estimator().run(c, obs, np.full((200, 1), 0.8), shots=500, seed=9)
    exact = np.array([qiskit_ref.expectation(c.bind({"t": 0.8}), o) for o in obs])
    assert res.values.shape == (200, 2)
    np.testing.assert_allclose(res.stderr.mean(axis=0), res.values.std(axis=0, ddof=1), rtol=0.2)
    assert np.all(np.abs(res.values - exact) <= 5 * res.stderr)
    assert res.metadata["measurement_groups"]


def test_identity_only_observable_with_shots():
    res = Estimator().run(CIRCUIT, ["2*III", "0*XXX"], shots=100, seed=1)
    np.testing.assert_allclose(res.values, [[2.0, 0.0]])
    np.testing.assert_array_equal(res.stderr, 0.0)
    only = Estimator().run(CIRCUIT, ["-1.5*III", PauliSum([], 3)], shots=100, seed=1)  # nothing to measure
    np.testing.assert_allclose(only.values, [[-1.5, 0.0]])
    np.testing.assert_array_equal(only.stderr, 0.0)
    assert only.metadata["measurement_groups"] == []


def test_deterministic_observable_has_zero_stderr():
    res = Estimator().run(Circuit(2).h(0).cx(0, 1), ["XX", "ZZ", "-YY"], shots=300, seed=3)
    np.testing.assert_allclose(res.values, [[1.0, 1.0, 1.0]])
    np.testing.assert_allclose(res.stderr, 0.0, atol=1e-12)


def test_estimator_errors():
    est = Estimator()
    with pytest.raises(ObservableError, match="at least one observable"):
        est.run(CIRCUIT, [])  # was an AttributeError
    with pytest.raises(ObservableError):
        est.run(CIRCUIT, "ZZ")
    with pytest.raises(ObservableError):
        est.run(CIRCUIT, ["ZZZ", "0.5*"])
    with pytest.raises(ValueError):
        est.run(CIRCUIT, "ZZZ", shots=0)


# -- estimation building blocks -------------------------------------------------------------------

def test_qubitwise_groups(rng, make_random_pauli_sum):
    obs = [make_random_pauli_sum(rng, 4, 12), make_random_pauli_sum(rng, 4, 5)]
    groups = qubitwise_groups(obs)
    words = {t.paulis for o in obs for t in o.terms if set(t.paulis) != {"I"}}
    grouped = [w for _, members in groups for w in members]
    assert sorted(grouped) == sorted(words)  # every word exactly once
    for basis, members in groups:
        for w in members:
            assert all(p == "I" or p == b for p, b in zip(w, basis))
        assert all(b == "I" or any(w[i] == b for w in members) for i, b in enumerate(basis))
    assert qubitwise_groups([PauliSum.parse("ZZ + ZI + XX + IX")]) == [("ZZ", ["ZZ", "ZI"]), ("XX", ["XX", "IX"])]
    assert qubitwise_groups([PauliSum.parse("3*II")]) == []


def test_measurement_circuit_measures_the_pauli_basis(rng, qiskit_ref, make_random_circuit):
    c = make_random_circuit(rng, 3, 12)
    for word in ("XYZ", "YIX", "IZY"):
        mc = measurement_circuit(c.measure(0), word)
        assert mc.measured_qubits == (0, 1, 2)
        probs = np.abs(qiskit_ref.statevector(mc)) ** 2
        value = parity_table([word], 3)[0] @ probs
        assert value == pytest.approx(qiskit_ref.expectation(c, PauliSum([(1.0, word)])), abs=1e-10)


def test_parity_table_and_estimate_from_counts_by_hand():
    np.testing.assert_array_equal(parity_table(["ZI", "IZ", "ZZ"], 2), [[1, 1, -1, -1], [1, -1, 1, -1], [1, -1, -1, 1]])
    obs = [PauliSum.parse("ZI + IZ"), PauliSum.parse("0.5*ZZ")]
    groups = [("ZZ", ["ZI", "IZ", "ZZ"])]
    counts = [np.array([30.0, 10.0, 0.0, 60.0])]  # outcomes 00, 01, 10, 11
    values, errs = estimate_from_counts(obs, groups, counts)
    # per shot f = z0 + z1 in {2, 0, 0, -2}: mean (60 - 120)/100, second moment (120 + 240)/100
    mean, second = -0.6, 3.6
    assert values[0] == pytest.approx(mean)
    assert errs[0] == pytest.approx(np.sqrt((second - mean**2) * 100 / 99 / 100))
    zz_mean = 0.5 * (30 - 10 + 60) / 100
    assert values[1] == pytest.approx(zz_mean)
    assert errs[1] == pytest.approx(np.sqrt((0.25 - zz_mean**2) * 100 / 99 / 100))


def test_marginal_counts():
    counts = {"010": 5, "110": 3, "011": 2}
    assert marginal_counts(counts, [0]) == {"0": 7, "1": 3}
    assert marginal_counts(counts, [2, 1]) == {"01": 8, "11": 2}


@pytest.mark.parametrize("backend", ["torch", "aer", "pennylane.lightning.qubit", "braket.local", "example"])
def test_the_readme_example_gives_numpy_on_every_backend(backend):
    """NumPy in, NumPy out (float64 on the host), whatever the backend: the README's example."""
    try:
        qbridge.get_backend(backend)
    except (qbridge.exceptions.BackendError, ImportError) as exc:
        pytest.skip(f"{backend} is not available here: {exc}")
    from qbridge import Estimator, Sampler

    theta = Parameter("theta")
    circuit = Circuit(2).h(0).cx(0, 1).ry(1, theta)
    est = Estimator(backend).run(circuit, ["ZZ", "0.5*XI - 1.2*ZI"], np.array([[0.1], [0.7]]))
    for arr in (est.values, est.stderr):
        assert isinstance(arr, np.ndarray) and arr.dtype == np.float64 and arr.shape == (2, 2)
    t = np.array([0.1, 0.7])
    np.testing.assert_allclose(est.values[:, 0], np.cos(t), atol=1e-6)  # <ZZ> = cos(theta)
    res = Sampler(backend).run(circuit.measure_all(), [[0.0]], shots=100, seed=7)
    assert sum(res.counts[0].values()) == 100
