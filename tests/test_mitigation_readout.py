"""Readout-error mitigation: calibration, the closed-form correction of expectation values
against the full matrix inverse, quasi-distributions and their nearest probabilities, standard
errors (calibration shot noise included) against the spread of repeated experiments, and the
whole thing on noisy simulators (Aer with a readout-only noise model, Braket's density-matrix
simulator with readout noise): readout-only noise is removed within shot noise."""

from __future__ import annotations

import numpy as np
import pytest

import qbridge
from qbridge import Circuit, Estimator, RunConfig, Sampler
from qbridge.backends.base import Task
from qbridge.mitigation.readout import (
    FullCalibration,
    MitigationError,
    NoCorrection,
    TensoredCalibration,
    calibrate,
    calibration_circuits,
    correct_distribution,
    nearest_probability_distribution,
)
from qbridge.mitigation.samples import Samples

E0 = np.array([0.02, 0.05, 0.08])  # P(read 1 | 0) per qubit
E1 = np.array([0.06, 0.03, 0.12])  # P(read 0 | 1)


def _tensored_matrix(e0, e1):
    A = np.ones((1, 1))
    for p0, p1 in zip(e0, e1):
        A = np.kron(A, [[1 - p0, p1], [p0, 1 - p1]])
    return A


def _ideal_state(n, rng):
    p = rng.dirichlet(np.ones(2**n))
    return p


def _terms(word):
    return [(1.0, tuple(i for i, c in enumerate(word) if c != "I"))]


def _parity(word, n):
    idx = np.arange(2**n)
    out = np.ones(2**n)
    for q, c in enumerate(word):
        if c != "I":
            out *= 1 - 2 * ((idx >> (n - 1 - q)) & 1)
    return out


def test_calibration_circuits():
    zero, one = calibration_circuits(3)
    assert zero.measured_qubits == (0, 1, 2) and one.count_ops() == {"x": 3, "measure": 1}
    full = calibration_circuits(2, "full")
    assert [c.count_ops().get("x", 0) for c in full] == [0, 1, 1, 2]
    assert [op.qubits for op in full[1] if op.name == "x"] == [(1,)]  # index 1 = bitstring 01
    with pytest.raises(MitigationError, match="tensored"):
        calibration_circuits(9, "full")
    with pytest.raises(ValueError, match="unknown readout method"):
        calibration_circuits(2, "magic")


def test_exact_calibration_recovers_the_rates_and_corrects_exactly():
    n = 3
    A = _tensored_matrix(E0, E1)
    cal = calibrate([Samples.from_probabilities(A[:, 0], n), Samples.from_probabilities(A[:, -1], n)])
    np.testing.assert_allclose(cal.e0, E0, atol=1e-12)
    np.testing.assert_allclose(cal.e1, E1, atol=1e-12)
    np.testing.assert_allclose(cal.matrix(), A, atol=1e-12)
    full = calibrate([Samples.from_probabilities(A[:, j], n) for j in range(8)], "full")
    np.testing.assert_allclose(full.A, A, atol=1e-12)
    rng = np.random.default_rng(1)
    for _ in range(5):
        ideal = _ideal_state(n, rng)
        noisy = Samples.from_probabilities(A @ ideal, n)
        for word in ("ZII", "IZZ", "ZZZ", "ZIZ"):
            exact = _parity(word, n) @ ideal
            for c in (cal, full):
                m, v, _ = c.estimate(noisy, _terms(word))
                assert m == pytest.approx(exact, abs=1e-12) and v == 0.0
            raw, _, _ = NoCorrection().estimate(noisy, _terms(word))
            assert abs(raw - exact) > 1e-3  # the noise was there
        q = correct_distribution(noisy, cal)
        dense = np.zeros(8)
        for k, v in q.items():
            dense[int(k, 2)] = v
        np.testing.assert_allclose(dense, ideal, atol=1e-12)
        np.testing.assert_allclose(list(correct_distribution(noisy, full).values()),
                                   [ideal[int(k, 2)] for k in correct_distribution(noisy, full)], atol=1e-12)


def test_subspace_correction_for_many_qubits():
    """14 qubits (above the dense limit): GHZ counts with 3% flips come back to ~ 1/2, 1/2."""
    n, shots = 14, 20000
    rng = np.random.default_rng(2)
    e = np.full(n, 0.03)
    cal = TensoredCalibration(e, e)
    ones = rng.random(shots) < 0.5
    bits = np.repeat(ones[:, None], n, axis=1) ^ (rng.random((shots, n)) < 0.03)
    keys = ["".join("1" if b else "0" for b in row) for row in bits]
    counts: dict[str, int] = {}
    for k in keys:
        counts[k] = counts.get(k, 0) + 1
    s = Samples.from_counts([counts], n)
    raw0 = counts.get("0" * n, 0) / shots
    q = correct_distribution(s, cal)
    assert raw0 < 0.36  # (0.97^14)/2 = 0.33 survive unflipped
    assert q["0" * n] == pytest.approx(0.5, abs=0.03) and q["1" * n] == pytest.approx(0.5, abs=0.03)
    assert sum(q.values()) == pytest.approx(1.0)


def test_nearest_probability_distribution_against_a_quadratic_program():
    from scipy.optimize import minimize

    rng = np.random.default_rng(3)
    for _ in range(10):
        v = rng.normal(0.2, 0.3, 6)
        v = v / v.sum()
        quasi = {format(i, "03b"): float(x) for i, x in enumerate(v)}
        got = nearest_probability_distribution(quasi)
        g = np.array([got.get(k, 0.0) for k in quasi])
        ref = minimize(lambda p: np.sum((p - v) ** 2), np.full(6, 1 / 6), bounds=[(0, 1)] * 6,
                       constraints=[{"type": "eq", "fun": lambda p: p.sum() - 1}], method="SLSQP",
                       options={"ftol": 1e-14}).x
        np.testing.assert_allclose(g, ref, atol=1e-6)
        assert all(x > 0 for x in got.values()) and sum(got.values()) == pytest.approx(1.0)
    assert nearest_probability_distribution({"0": 0.6, "1": 0.4}) == {"0": 0.6, "1": 0.4}


def _sample(p, shots, rng, n):
    c = rng.multinomial(shots, p)
    return Samples.from_counts([{format(i, f"0{n}b"): int(k) for i, k in enumerate(c) if k}], n)


@pytest.mark.parametrize("method", ["tensored", "full"])
def test_stderr_with_calibration_noise_matches_the_spread(method):
    """Calibration and data both re-sampled per repetition: the reported error (shots of the
    data plus the propagated calibration noise) matches the spread of the corrected values."""
    n, shots, cal_shots, reps = 2, 8000, 200, 400
    rng = np.random.default_rng(4)
    A = _tensored_matrix(E0[:2], E1[:2])
    ideal = np.array([0.45, 0.05, 0.1, 0.4])
    terms = [(1.0, (0, 1)), (0.7, (0,)), (-0.4, (1,))]  # ZZ + 0.7 ZI - 0.4 IZ, measured together
    exact = sum(c * (_parity("".join("Z" if q in s else "I" for q in range(n)), n) @ ideal) for c, s in terms)
    vals, errs, no_cal = [], [], []
    for _ in range(reps):
        if method == "tensored":
            cal = calibrate([_sample(A[:, 0], cal_shots, rng, n), _sample(A[:, 3], cal_shots, rng, n)])
        else:
            cal = calibrate([_sample(A[:, j], cal_shots, rng, n) for j in range(4)], "full")
        m, v, d = cal.estimate(_sample(A @ ideal, shots, rng, n), terms)
        vals.append(m)
        errs.append(np.sqrt(v + cal.quad(d)))
        no_cal.append(np.sqrt(v))
    spread = np.std(vals, ddof=1)
    assert np.mean(vals) == pytest.approx(exact, abs=5 * spread / np.sqrt(reps) + 2e-3)
    assert np.mean(errs) == pytest.approx(spread, rel=0.15)
    assert np.mean(no_cal) < 0.9 * spread  # without the calibration's noise the error is too small


def test_singular_calibrations_are_refused():
    with pytest.raises(MitigationError, match="no better than a coin"):
        TensoredCalibration(np.array([0.5]), np.array([0.5]))
    with pytest.raises(MitigationError, match="singular"):
        FullCalibration(np.array([[0.5, 0.5], [0.5, 0.5]]))


# -- on noisy simulators ---------------------------------------------------------------------------

def _aer_readout_only():
    pytest.importorskip("qbridge_aer")
    from qiskit_aer.noise import NoiseModel, ReadoutError

    nm = NoiseModel()
    for q, (p0, p1) in enumerate(zip(E0, E1)):
        nm.add_readout_error(ReadoutError([[1 - p0, p0], [p1, 1 - p1]]), [q])
    return qbridge.get_backend("aer", noise_model=nm)


GHZ = Circuit(3).h(0).cx(0, 1).cx(1, 2)
GHZ_OBS = ["ZZI", "IZZ", "ZIZ", "XXX", "ZZI + 0.5*IZZ - 0.25*XXX + 0.1*III"]
GHZ_EXACT = np.array([1.0, 1.0, 1.0, 1.0, 1.0 + 0.5 - 0.25 + 0.1])


@pytest.mark.parametrize("method", ["tensored", "full"])
def test_readout_only_noise_is_removed_on_aer(method):
    be = _aer_readout_only()
    res = Estimator(be).run(GHZ, GHZ_OBS, shots=8000, seed=11, mitigation="readout",
                            options={"readout_method": method})
    raw = res.metadata["unmitigated"]["expectation_values"][0]
    assert np.all(np.abs(raw - GHZ_EXACT)[:4] > 0.08)  # GHZ parities read low without mitigation
    assert np.all(np.abs(res.values[0] - GHZ_EXACT) <= 5 * res.stderr[0])
    assert np.all(res.stderr[0] < 0.05)
    meta = res.metadata["mitigation"]
    assert meta["techniques"] == ["readout"] and meta["readout"]["method"] == method
    assert meta["shots"]["readout_calibration"] == (2 if method == "tensored" else 8) * 8000
    if method == "tensored":
        np.testing.assert_allclose(meta["readout"]["calibration"]["p1_given_0"], E0, atol=0.015)
        np.testing.assert_allclose(meta["readout"]["calibration"]["p0_given_1"], E1, atol=0.02)


def test_readout_mitigated_stderr_matches_the_spread_over_seeded_runs():
    be = _aer_readout_only()
    obs = ["ZZI + IZZ", "XXX"]
    runs = [Estimator(be).run(GHZ, obs, shots=1000, seed=s, mitigation="readout") for s in range(60)]
    vals = np.array([r.values[0] for r in runs])
    errs = np.array([r.stderr[0] for r in runs])
    # 60 repetitions: the spread itself is uncertain by ~9%, so 25% is under 3 of those
    np.testing.assert_allclose(errs.mean(axis=0), vals.std(axis=0, ddof=1), rtol=0.25)
    assert np.all(np.abs(vals.mean(axis=0) - [2.0, 1.0]) <= 5 * vals.std(axis=0, ddof=1) / np.sqrt(60))


def test_sampler_quasi_distributions_on_aer():
    be = _aer_readout_only()
    res = Sampler(be).run(GHZ.measure_all(), shots=8000, seed=5, mitigation="readout")
    raw = res.counts[0]
    assert sum(v for k, v in raw.items() if k not in ("000", "111")) > 800  # readout noise is visible
    quasi = res.quasi_dists()[0]
    assert sum(quasi.values()) == pytest.approx(1.0)
    near = res.nearest_probability_distribution()
    assert all(v >= 0 for v in near.values()) and sum(near.values()) == pytest.approx(1.0)
    for key in ("000", "111"):
        assert near.get(key, 0) == pytest.approx(0.5, abs=0.03)
    assert sum(v for k, v in near.items() if k not in ("000", "111")) < 0.03
    marg = res.marginal([0])  # of the corrected quasi-distribution
    assert marg["0"] == pytest.approx(0.5, abs=0.03) and marg["1"] == pytest.approx(0.5, abs=0.03)
    # a measured subset: the calibration is restricted to those qubits (2 then 0)
    sub = Sampler(be).run(GHZ.measure([2, 0]), shots=8000, seed=6, mitigation="readout")
    near = sub.nearest_probability_distribution()
    assert near.get("00", 0) + near.get("11", 0) > 0.97


def test_braket_dm_readout_noise_is_removed():
    pytest.importorskip("qbridge_braket")
    be = qbridge.get_backend("braket.dm", noise={"readout": 0.05})
    task = Task(Circuit(2).h(0).cx(0, 1), None, {}, ("ZZ", "XX", "ZI + IZ"))
    res = be.run(task, RunConfig(shots=4000, seed=3, mitigation="readout")).result()[0]
    raw = res.metadata["unmitigated"]["expectation_values"][0]
    exact = np.array([1.0, 1.0, 0.0])
    assert abs(raw[0] - 0.81) < 0.05  # (1 - 2 * 0.05)^2
    assert np.all(np.abs(res.expectation_values[0] - exact) <= 5 * res.stderr[0])
    # exact mode: the density-matrix simulator's exact probabilities carry the readout noise too
    ex = be.run(task, RunConfig(mitigation="readout")).result()[0]
    np.testing.assert_allclose(ex.expectation_values[0], exact, atol=1e-9)
    np.testing.assert_array_equal(ex.stderr, 0.0)
