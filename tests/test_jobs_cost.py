"""Cost estimates (hand-derived numbers), the price table and its overrides, the budget, and the
per-step training hook."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qbridge import Circuit, Parameter, Task, get_backend
from qbridge.exceptions import BudgetExceededError
from qbridge.jobs import Budget, cost_estimator, count_executables, estimate_cost, training_step_cost

pytest.importorskip("qbridge_braket.prices")
from qbridge_braket import prices  # noqa: E402

GARNET = "arn:aws:braket:eu-north-1::device/qpu/iqm/Garnet"
FORTE = "arn:aws:braket:us-east-1::device/qpu/ionq/Forte-Enterprise-1"
ARIA = "arn:aws:braket:us-east-1::device/qpu/ionq/Aria-2"
ANKAA = "arn:aws:braket:us-west-1::device/qpu/rigetti/Ankaa-3"


@pytest.mark.parametrize("arn, per_shot", [(GARNET, 0.00145), (FORTE, 0.08), (ARIA, 0.03), (ANKAA, 0.0009)])
def test_braket_table_prices(arn, per_shot):
    est = estimate_cost([Circuit(2).h(0).cx(0, 1)] * 3, "braket.device", shots=1000, options={"arn": arn})
    # three circuits, one quantum task each: 3 x 0.30 + 3000 shots x per-shot
    assert est.usd == pytest.approx(3 * 0.30 + 3000 * per_shot)
    assert est.provider_tasks == 3 and est.executables == 3 and est.total_shots == 3000
    assert est.price_date == prices.load_prices().as_of and not est.free
    assert "0.30" in est.model


def test_program_sets_pay_one_task_fee_per_hundred():
    est = prices.estimate(GARNET, 250, 100, program_sets=True)
    assert est.provider_tasks == 3 and est.usd == pytest.approx(3 * 0.30 + 25_000 * 0.00145)
    # a device that holds fewer per set (its own limits) needs more tasks
    est = prices.estimate(GARNET, 250, 100, program_sets=True, per_task_executables=20)
    assert est.provider_tasks == 13 and est.usd == pytest.approx(13 * 0.30 + 25_000 * 0.00145)


def test_unknown_device_has_no_price_and_a_reason():
    est = prices.estimate("arn:aws:braket:us-east-1::device/qpu/acme/Quantum-9", 1, 100)
    assert est.usd is None and "no price known" in est.model


def test_user_price_file_overrides_and_extends(tmp_path, monkeypatch):
    f = tmp_path / "prices.json"
    f.write_text(json.dumps({
        "as_of": "2031-01-01",
        "devices": {
            "iqm/Garnet": {"match": "arn:aws:braket:*::device/qpu/iqm/Garnet*", "per_task": 0.25, "per_shot": 0.001},
            "acme/Quantum": {"per_task": 0.5, "per_shot": 0.01},
            "amazon/sv1": {"match": "arn:aws:braket:::device/quantum-simulator/amazon/sv1", "per_minute": 0.075,
                           "assumed_seconds_per_task": 10, "minimum_seconds": 3},
        },
    }))
    monkeypatch.setenv("QBRIDGE_BRAKET_PRICES", str(f))
    est = estimate_cost(Circuit(1).h(0), "braket.device", shots=1000, options={"arn": GARNET})
    assert est.usd == pytest.approx(0.25 + 1.0) and est.price_date == "2031-01-01"
    est = prices.estimate("arn:aws:braket:us-east-1::device/qpu/acme/Quantum-9", 2, 100)
    assert est.usd == pytest.approx(2 * 0.5 + 200 * 0.01)
    est = prices.estimate("arn:aws:braket:::device/quantum-simulator/amazon/sv1", 4, 100)
    assert est.usd == pytest.approx(4 * 10 / 60 * 0.075)
    # the shipped entries still serve what the file does not name
    assert prices.estimate(FORTE, 1, 10).usd == pytest.approx(0.30 + 0.8)
    f.write_text('{"devices": {"x": {"per_shot": -1}}}')
    with pytest.raises(ValueError, match="non-negative"):
        prices.load_prices()
    f.write_text("{not json")
    with pytest.raises(ValueError, match=str(f)):
        prices.load_prices()


def test_shipped_table_is_dated_and_consistent():
    data = json.loads(prices.BUILTIN_PRICES.read_text())
    assert data["as_of"] and data["currency"] == "USD"
    table = prices.load_prices()
    assert table.default_per_task == pytest.approx(0.30)
    for d in table.devices:
        assert d.per_task == pytest.approx(0.30) and d.per_shot > 0 and d.as_of == data["as_of"]
    assert table.lookup(FORTE).debias_min_shots == 2500


def test_local_simulators_are_free():
    est = estimate_cost([Circuit(2).h(0)], "torch", shots=10_000)
    assert est.usd == 0.0 and est.free
    est = estimate_cost([Circuit(2).h(0)], get_backend("torch"), shots=None)
    assert est.usd == 0.0


def test_count_executables_matches_what_a_run_sends():
    """The estimate's count equals the circuits the core really hands to the backend."""
    be = get_backend("torch")
    seen = []
    original = be._execute

    def spy(compiled, config):
        seen.extend(c.task.batch_size for c in compiled)
        return original(compiled, config)

    be._execute = spy
    a = Parameter("a")
    tasks = [
        Task(Circuit(2).ry(0, a).cx(0, 1), np.array([[0.1], [0.2], [0.3]]), observables=("ZZ + XX", "0.5*ZI - YY")),
        Task(Circuit(3).h(0), observables=("XII",)),
        Circuit(2).h(1),
    ]
    be.run(tasks, shots=100).result()
    assert count_executables(tasks, 100) == sum(seen)
    assert count_executables(tasks, None) == 3 + 1 + 1  # exact: no measurement groups


@pytest.mark.parametrize("mitigation, options", [
    ("readout", {}),
    ("readout,zne", {}),
    ("zne,twirl", {"twirl_instances": 4}),
    ("readout", {"allocation": "proportional"}),
    ("", {"allocation": "precision", "target_stderr": 0.05}),
])
def test_dry_plan_of_a_mitigated_run_counts_what_the_run_sends(mitigation, options):
    """plan_run with mitigation or an allocation estimates everything the pipeline hands to the
    backend (calibrations, noise-scaled and twirled variants, copies), counted on a real run."""
    from qbridge import RunConfig
    from qbridge.jobs import plan_run

    be = get_backend("torch")
    sent = []
    original = be._execute

    def spy(compiled, config):
        sent.append((sum(c.task.batch_size for c in compiled), config.shots))
        return original(compiled, config)

    be._execute = spy
    a = Parameter("a")
    tasks = [Task(Circuit(2).ry(0, a).cx(0, 1), np.array([[0.1], [0.2]]), observables=("ZZ + XX", "0.5*ZI")),
             Task(Circuit(3).h(0).cx(0, 2), observables=("XIX",))]
    config = RunConfig(shots=400, seed=3, mitigation=mitigation, options=options)
    plan = plan_run(be, tasks, config)
    assert sent == []  # planned, not run
    be.run(tasks, config).result()
    ((executions, shots),) = sent  # one submission
    assert plan.estimate.executables == plan.mitigation["executions"] == executions
    assert plan.estimate.shots == plan.mitigation["shots_per_execution"] == shots
    assert plan.estimate.total_shots == executions * shots


def test_dry_plan_counts_by_hand():
    """Bell pair, one observable, 1,000 shots: readout adds the two tensored calibration
    circuits of width 2 (all zeros, all ones); ZNE runs the circuit at scales 1, 3, 5."""
    from qbridge import RunConfig
    from qbridge.jobs import plan_run

    be = get_backend("torch")
    t = Task(Circuit(2).h(0).cx(0, 1), observables=("ZZ",))
    plain = plan_run(be, [t], RunConfig(shots=1000))
    assert plain.mitigation is None and plain.estimate.executables == 1
    for mitigation, executions in (("readout", 1 + 2), ("zne", 3), ("readout,zne", 3 + 2)):
        p = plan_run(be, [t], RunConfig(shots=1000, mitigation=mitigation))
        assert (p.estimate.executables, p.estimate.shots) == (executions, 1000), mitigation
    # a pilot (variance="pilot") is a submission of its own, estimated on its own
    p = plan_run(be, [t], RunConfig(shots=1000, options={"target_stderr": 0.01, "variance": "pilot", "pilot_shots": 200}))
    assert p.pilot_estimate.executables == 1 and p.pilot_estimate.shots == 200
    assert p.to_dict()["mitigation"]["pilot"] == {"circuits": 1, "executions": 1, "shots_per_execution": 200}


def test_budget_counts_the_mitigation_circuits():
    from qbridge import RunConfig
    from qbridge.jobs import plan_run

    be = get_backend("torch")
    t = Task(Circuit(2).h(0).cx(0, 1), observables=("ZZ",))
    plan_run(be, [t], RunConfig(shots=1000, options={"max_shots": 1000}))  # the circuit alone fits
    with pytest.raises(BudgetExceededError, match="5000 shots"):
        plan_run(be, [t], RunConfig(shots=1000, mitigation="readout,zne", options={"max_shots": 1000}))


def test_budget_validation_and_options():
    assert Budget.from_options({}) is None
    b = Budget.from_options({"max_cost": "2.5", "max_shots": 100})
    assert b.max_cost_usd == 2.5 and b.max_shots == 100
    for bad in (dict(max_cost_usd=-1), dict(max_cost_usd=float("nan")), dict(max_shots=0), dict(max_shots=True)):
        with pytest.raises(ValueError):
            Budget(**bad)
    Budget(max_cost_usd=1.0).check(1.0)  # equal is allowed
    with pytest.raises(BudgetExceededError, match=r"USD 1\.0001 exceeds the budget of USD 1\.0000"):
        Budget(max_cost_usd=1.0).check(1.0001)


def test_training_step_cost_and_refusal():
    a = Parameter("a")
    step = [Task(Circuit(2).ry(0, a).cx(0, 1), np.zeros((8, 1)), observables=("ZZ",))]  # 8 executions
    cost = training_step_cost("braket.device", step, 1000, steps=10, options={"arn": GARNET})
    assert cost.executions == 8 and cost.total_shots_per_step == 8000
    assert cost.usd_per_step == pytest.approx(8 * 0.30 + 8000 * 0.00145)
    assert cost.usd_total == pytest.approx(10 * cost.usd_per_step)
    with pytest.raises(BudgetExceededError, match="10 step") as err:
        training_step_cost("braket.device", step, 1000, steps=10, max_cost=50.0, options={"arn": GARNET})
    assert err.value.estimate_usd == pytest.approx(cost.usd_total) and err.value.budget_usd == 50.0
    hook = cost_estimator("braket.device", max_cost=100.0, max_shots=10_000, options={"arn": GARNET})
    assert hook(step, 1000).usd_per_step == pytest.approx(cost.usd_per_step)
    with pytest.raises(BudgetExceededError, match="max_shots"):
        hook(step, 2000)
    assert training_step_cost("torch", step, 1000, steps=1000, max_cost=0.0).usd_total == 0.0


def test_quantum_layer_preview_prices_a_training_step():
    nn = pytest.importorskip("qbridge.nn")
    from test_jobs_support import ARN_GARNET, GARNET_LIKE

    be = get_backend("braket.device", arn=ARN_GARNET, properties=GARNET_LIKE)  # offline capabilities
    a, b = Parameter("a"), Parameter("b")
    circuit = Circuit(2).amplitude_encode("x").ry(0, a).ry(1, b).cx(0, 1)
    layer = nn.QuantumLayer(circuit, readout=["ZI", "IZ"], backend=be, shots=1000,
                            cost_estimator=cost_estimator(be, steps=100, max_cost=20_000.0))
    pv = layer.preview(8)
    # 104 executions in 2 submissions; each submission: 52 executions in program sets of
    # min(10 executables, 50,000 shots / 1,000) = 10 -> 6 tasks; 2 x (6 x 0.30 + 52,000 x 0.00145)
    assert pv.executions == 104 and pv.submissions == 2
    assert pv.cost.usd_per_step == pytest.approx(2 * (6 * 0.30 + 52_000 * 0.00145))
    assert pv.cost.usd_total == pytest.approx(100 * pv.cost.usd_per_step)
    assert "per step" in str(pv) and "prices as of" in str(pv)
    layer.cost_estimator = cost_estimator(be, steps=100, max_cost=1_000.0)
    with pytest.raises(BudgetExceededError, match="100 step"):
        layer.preview(8)
    free = nn.QuantumLayer(circuit, readout=["ZI"], backend="torch", shots=1000,
                           cost_estimator=cost_estimator("torch", steps=10_000, max_cost=0.0))
    assert free.preview(8).cost.usd_total == 0.0


def test_a_backend_cost_model_without_the_tasks_keyword_still_works():
    """``estimate_cost`` hands models the circuits (``tasks=``) only where they take it."""
    from qbridge.jobs.cost import CostEstimate, count_executables, expand_executions

    seen = {}

    def old_model(*, executables, shots, options, backend, backend_obj):
        return CostEstimate(1.0, backend, None, 1, executables, shots, "flat")

    def new_model(*, executables, shots, options, backend, backend_obj, **extra):
        seen.update(extra)
        return CostEstimate(2.0, backend, None, 1, executables, shots, "flat")

    be = get_backend("torch")
    tasks = [Task(Circuit(2).h(0), observables=("ZZ", "XX")), Circuit(1).x(0)]
    be.cost_model = old_model
    assert estimate_cost(tasks, be, shots=10).usd == 1.0
    be.cost_model = new_model
    assert estimate_cost(tasks, be, shots=10).usd == 2.0 and len(seen["tasks"]) == 2
    expanded = expand_executions(tasks, 10)
    assert [n for _, n in expanded] == [1, 1, 1] and sum(n for _, n in expanded) == count_executables(tasks, 10)
    assert all(not t.observables for t, _ in expanded)


def test_a_limit_in_qpu_seconds():
    from qbridge.jobs import Budget

    b = Budget.from_options({"max_seconds": 3})
    assert b.max_qpu_seconds == 3.0
    b.check_seconds(2.9)
    with pytest.raises(BudgetExceededError, match=r"3\.100 s exceeds the limit of 3 s"):
        b.check_seconds(3.1)
    with pytest.raises(BudgetExceededError, match="not billed by usage time"):
        b.check_seconds(None)  # Braket: priced per task and shot, no time estimate
    Budget(max_cost_usd=1.0).check_seconds(None)  # no time limit: nothing to check
    with pytest.raises(ValueError, match="max_qpu_seconds"):
        Budget(max_qpu_seconds=-1)
