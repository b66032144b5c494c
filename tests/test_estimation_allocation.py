"""Shot allocation over measurement groups: the numbers each scheme gives, that the reported
standard error matches the spread of independent estimates under every scheme (covariance of
terms measured together included), and that a precision target is met. Exact references come
from Qiskit's quantum_info.

Repetitions: 300 rows of one binding in one submission are 300 independent estimates; the
relative standard deviation of a 300-sample standard deviation is about 4%, so 20% is 5 of them.
"""

from __future__ import annotations

import numpy as np
import pytest

import qbridge
from qbridge import Circuit, Estimator, Parameter, PauliSum, RunConfig
from qbridge.backends.base import Task
from qbridge.mitigation.allocation import allocate_shots, group_weights, predicted_stderr, split_into_copies
from qbridge.primitives.estimation import qubitwise_groups

T = Parameter("t")
BELL = Circuit(2).ry(0, T).cx(0, 1)  # cos(t/2)|00> + sin(t/2)|11>: ZZ = 1, ZI = cos t, fully correlated terms
THREE = Circuit(3).ry(0, T).cx(0, 1).rx(2, 0.5 * T).cz(1, 2).h(1)
CASES = [
    (BELL, ["ZZ + ZI", "0.5*XX - 0.3*YY + 2*ZI", "3*ZZ - 0.1*XX"]),
    (THREE, ["ZZI + 0.4*XXI - 0.2*IYZ + 0.7*ZIZ", "XIX + IZI"]),
]


def test_group_weights_and_allocations_by_hand():
    obs = [PauliSum.parse("ZZ + 0.5*ZI - 2*XX + 0.1*II"), PauliSum.parse("0.25*XX")]
    groups = qubitwise_groups(obs)
    assert [b for b, _ in groups] == ["ZZ", "XX"]
    W = group_weights(obs, groups)
    np.testing.assert_allclose(W, [[1.5, 2.0], [0.0, 0.25]])
    np.testing.assert_array_equal(allocate_shots(obs, groups, 1000, "uniform"), [1000, 1000])
    # proportional: the same total (2000) split 1.5 : 2.25
    np.testing.assert_array_equal(allocate_shots(obs, groups, 1000, "proportional"), [800, 1200])
    # precision 0.01 under the bound: N_g = sigma_g * sum sigma / eps^2 per observable, max over observables
    N = allocate_shots(obs, groups, None, "precision", precision=0.01)
    np.testing.assert_array_equal(N, [int(np.ceil(1.5 * 3.5 / 1e-4)), int(np.ceil(2.0 * 3.5 / 1e-4))])
    assert np.all(predicted_stderr(W, N) <= 0.01 + 1e-12)
    with pytest.raises(ValueError, match="precision > 0"):
        allocate_shots(obs, groups, 100, "precision")
    with pytest.raises(ValueError, match="unknown shot allocation"):
        allocate_shots(obs, groups, 100, "greedy")
    with pytest.raises(ValueError, match="needs shots"):
        allocate_shots(obs, groups, None, "uniform")


def test_split_into_copies():
    assert split_into_copies([1000, 1000]) == (1000, pytest.approx(np.array([1, 1])))
    unit, copies = split_into_copies([500, 1500, 1000])
    assert unit == 500 and copies.tolist() == [1, 3, 2]
    unit, copies = split_into_copies([7, 1000], max_copies=10)  # gcd 1 would need 1000 copies
    assert unit == 100 and copies.tolist() == [1, 10]
    unit, copies = split_into_copies([1063, 91, 46])
    assert np.all(unit * copies >= [1063, 91, 46]) and copies.max() <= 16
    unit, copies = split_into_copies([300_000], max_shots=100_000)
    assert unit == 100_000 and copies.tolist() == [3]


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("allocation", ["uniform", "proportional"])
def test_reported_stderr_matches_the_spread_under_each_allocation(case, allocation, qiskit_ref):
    circuit, obs = CASES[case]
    t = 0.9
    res = Estimator().run(circuit, obs, np.full((300, 1), t), shots=400, seed=case + 1, allocation=allocation)
    exact = np.array([qiskit_ref.expectation(circuit.bind({"t": t}), PauliSum.parse(o, circuit.num_qubits))
                      for o in obs])
    spread = res.values.std(axis=0, ddof=1)
    np.testing.assert_allclose(res.stderr.mean(axis=0), spread, rtol=0.2)
    assert np.all(np.abs(res.values.mean(axis=0) - exact) <= 5 * spread / np.sqrt(300))
    if allocation == "proportional":
        alloc = res.metadata["allocation"]
        groups = qubitwise_groups([PauliSum.parse(o, circuit.num_qubits) for o in obs])
        W = group_weights([PauliSum.parse(o, circuit.num_qubits) for o in obs], groups).sum(axis=0)
        shots = np.array(alloc["shots_per_group"])
        assert shots.sum() == pytest.approx(400 * len(groups), rel=0.01)
        run = np.array(alloc["shots_run"])  # whole copies of one shot unit: at least the wish, close to it
        assert np.all(run >= shots) and np.all(run - shots < shots.max() / 16 + 1)
        np.testing.assert_allclose(shots / shots.sum(), W / W.sum(), atol=0.01)


def test_correlated_terms_need_their_covariance():
    """ZI + IZ on cos|00> + sin|11>: z0 = z1 on every shot, so the per-shot value is 2 z0 with
    variance 4 Var(z0); adding the two terms' variances would give 2 Var(z0), too small by sqrt(2)."""
    t = 1.1
    res = Estimator().run(BELL, ["ZI + IZ"], np.full((300, 1), t), shots=500, seed=4, allocation="proportional")
    var_z0 = 1 - np.cos(t) ** 2
    np.testing.assert_allclose(res.stderr.mean(), np.sqrt(4 * var_z0 / 500), rtol=0.05)
    np.testing.assert_allclose(res.values.std(ddof=1), np.sqrt(4 * var_z0 / 500), rtol=0.2)


def test_precision_target_is_met_with_the_worst_case_bound(qiskit_ref):
    obs = ["ZZ + ZI", "0.5*XX - 0.3*YY"]
    eps = 0.02
    res = Estimator().run(BELL, obs, np.full((300, 1), 0.9), shots=100, seed=7, target_precision=eps)
    alloc = res.metadata["allocation"]
    assert alloc["scheme"] == "precision" and alloc["variance"] == "bound"
    assert np.all(np.array(alloc["predicted_stderr"]) <= eps + 1e-12)
    spread = res.values.std(axis=0, ddof=1)
    assert np.all(spread <= 1.2 * eps)  # the bound is a guarantee (the 20% covers sampling)
    assert np.all(res.stderr.mean(axis=0) <= eps * 1.05)
    np.testing.assert_allclose(res.stderr.mean(axis=0), spread, rtol=0.2)


def test_precision_with_a_pilot_spends_fewer_shots_and_lands_near_the_target():
    be = qbridge.get_backend("torch")
    calls = []
    original = be._execute

    def counting(tasks, config):
        calls.append(config.shots)
        return original(tasks, config)

    be._execute = counting  # a real backend, its calls counted (the pilot is a separate submission)
    eps = 0.03
    task = Task(BELL, np.full((200, 1), 0.5), {}, ("ZZ + ZI",))
    pilot = be.run(task, RunConfig(shots=200, seed=3, options={"target_stderr": eps, "variance": "pilot",
                                                                "pilot_shots": 400})).result()[0]
    assert len(calls) == 2 and calls[0] == 400
    bound = be.run(task, RunConfig(shots=200, seed=3, options={"target_stderr": eps})).result()[0]
    assert sum(pilot.metadata["allocation"]["shots_per_group"]) < sum(bound.metadata["allocation"]["shots_per_group"])
    spread = pilot.expectation_values.std(axis=0, ddof=1)
    # every binding gets the shots its largest pilot sigma asks for (over 200 noisy pilots that
    # overshoots by ~20% here): at or under the target, not far under it
    assert 0.6 * eps <= spread[0] <= 1.2 * eps
    np.testing.assert_allclose(pilot.stderr.mean(axis=0), spread, rtol=0.2)
