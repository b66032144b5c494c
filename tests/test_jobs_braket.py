"""Braket through the job store, offline: real boto3 clients under Stubber, results from Braket's
local simulator served as the S3 ``results.json``. Checks the requests (API model), the store's
records, costs, and the counts against exact probabilities (5-sigma bounds)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from test_jobs_support import ARN_FORTE, ARN_GARNET, BUCKET, FakeBraket, compile_for_braket

pytest.importorskip("qbridge_braket.cloud")

from qbridge import Circuit, Parameter, RunConfig  # noqa: E402
from qbridge.backends.base import Task  # noqa: E402
from qbridge.exceptions import BudgetExceededError, JobError  # noqa: E402
from qbridge.jobs import (  # noqa: E402
    JobStore,
    PollPolicy,
    RejectedError,
    RetryPolicy,
    TaskState,
    load_job,
    submit,
)
from qbridge_braket.cloud import TOKEN_TAG, BraketTransport  # noqa: E402

NO_WAIT = PollPolicy(initial_s=0.0, max_s=0.0, sleep=lambda s: None)
FAST_RETRY = RetryPolicy(attempts=4, initial_s=0.0, max_s=0.0, sleep=lambda s: None)


@pytest.fixture
def store(tmp_path):
    with JobStore(tmp_path / "jobs.sqlite3") as st:
        yield st


@pytest.fixture
def fb():
    return FakeBraket()


def _transport(fb, arn=ARN_GARNET, **kw):
    return BraketTransport(arn, s3_bucket=BUCKET, **fb.clients(), **kw)


def _within(count, shots, p, sigmas=5.0):
    sd = math.sqrt(shots * p * (1 - p)) or 1.0
    return abs(count - shots * p) <= sigmas * sd + 1e-9


def test_bell_pair_round_trip_records_everything(store, fb):
    shots = 1000
    comp = compile_for_braket([Circuit(2).h(0).cx(0, 1)])
    arn = fb.new_arn()
    fb.expect_create(arn, ARN_GARNET, shots)
    job = submit(_transport(fb), comp, RunConfig(shots=shots), backend="braket.device", store=store, poll=NO_WAIT)
    rec = job.record
    (task,) = rec.tasks
    # the request carried the store's token as the idempotency token and as a tag
    (sent,) = fb.created
    assert sent["clientToken"] == task.client_token and sent["tags"] == {TOKEN_TAG: task.client_token}
    assert json.loads(sent["action"])["braketSchemaHeader"]["name"] == "braket.ir.openqasm.program"
    assert task.provider_id == arn and task.state == TaskState.QUEUED
    # IQM Garnet: 0.30 per task + 1000 x 0.00145 per shot
    assert rec.estimated_cost_usd == pytest.approx(0.30 + shots * 0.00145)
    fb.expect_get(arn, ARN_GARNET, "COMPLETED", shots)
    fb.expect_results(arn)
    res = job.result()
    counts = res[0].get_counts(0)
    assert set(counts) <= {"00", "11"} and sum(counts.values()) == shots
    assert _within(counts.get("00", 0), shots, 0.5)
    rec = job.record
    assert rec.state == TaskState.DONE and rec.actual_cost_usd == pytest.approx(1.75)
    fb.assert_done()
    # a fresh handle on the same file gives the cached result with no network call at all
    # (the stubs are exhausted: any request would fail)
    again = load_job(rec.id[:8], store.path, **fb.clients()).result()
    assert again[0].get_counts(0) == counts


def test_parameter_batch_one_task_per_execution_matches_exact_probabilities(store, fb):
    th = Parameter("theta")
    angles = np.array([0.3, 1.2, 2.5])
    shots = 2000
    comp = compile_for_braket([Task(Circuit(2).ry(0, th).cx(0, 1), angles[:, None])])
    arns = [fb.new_arn() for _ in angles]
    for a in arns:
        fb.expect_create(a, ARN_GARNET, shots)
    job = submit(_transport(fb), comp, RunConfig(shots=shots), backend="braket.device", store=store, poll=NO_WAIT)
    assert len(fb.created) == 3 and len({c["clientToken"] for c in fb.created}) == 3
    for i, a in enumerate(arns):
        assert json.loads(fb.created[i]["action"])["inputs"] == {"theta": pytest.approx(angles[i])}
        fb.expect_get(a, ARN_GARNET, "COMPLETED", shots)
        fb.expect_results(a, created_index=i, seed=10 + i)
    res = job.result()
    assert res[0].batch_size == 3
    for i, t in enumerate(angles):
        c = res[0].get_counts(i)
        p11 = math.sin(t / 2) ** 2
        assert set(c) <= {"00", "11"}
        assert _within(c.get("11", 0), shots, p11), (t, c)
    assert job.record.estimated_cost_usd == pytest.approx(3 * (0.30 + shots * 0.00145))
    fb.assert_done()


def test_program_set_bundles_executions_into_one_task(store, fb):
    th = Parameter("theta")
    angles = np.array([0.0, math.pi / 2, math.pi])
    shots = 500
    comp = compile_for_braket([Task(Circuit(1).rx(0, th), angles[:, None]), Circuit(2).x(1)])
    arn = fb.new_arn()
    fb.expect_create(arn, ARN_GARNET, shots * 4)  # program-set tasks carry the total shots
    job = submit(_transport(fb, program_sets=True), comp, RunConfig(shots=shots), backend="braket.device",
                 store=store, poll=NO_WAIT)
    (sent,) = fb.created
    action = json.loads(sent["action"])
    assert action["braketSchemaHeader"]["name"] == "braket.ir.openqasm.program_set"
    assert [len(p["inputs"].get("theta", [0])) for p in action["programs"]] == [3, 1]
    # one task fee for four executions
    assert job.record.estimated_cost_usd == pytest.approx(0.30 + 4 * shots * 0.00145)
    fb.expect_get(arn, ARN_GARNET, "COMPLETED", shots * 4)
    fb.expect_results(arn)
    res = job.result()
    c = [res[0].get_counts(i) for i in range(3)]
    assert c[0] == {"0": shots} and c[2] == {"1": shots}
    assert _within(c[1].get("1", 0), shots, 0.5)
    assert res[1].get_counts(0) == {"01": shots}  # x on qubit 1: q0 first
    fb.assert_done()


def test_failed_task_raises_with_the_reason_and_keeps_the_record(store, fb):
    comp = compile_for_braket([Circuit(1).h(0)])
    arn = fb.new_arn()
    fb.expect_create(arn, ARN_GARNET, 100)
    job = submit(_transport(fb), comp, RunConfig(shots=100), backend="braket.device", store=store, poll=NO_WAIT)
    fb.expect_get(arn, ARN_GARNET, "FAILED", 100, reason="Device went offline")
    with pytest.raises(JobError, match="Device went offline"):
        job.result()
    assert job.record.tasks[0].state == TaskState.FAILED
    fb.assert_done()


def test_rejected_request_fails_the_task_and_costs_nothing(store, fb):
    comp = compile_for_braket([Circuit(1).h(0)])
    fb.expect_error("create_quantum_task", "ValidationException", 400, "shots out of range")
    with pytest.raises(RejectedError, match="ValidationException"):
        submit(_transport(fb), comp, RunConfig(shots=100), backend="braket.device", store=store, retry=FAST_RETRY)
    (rec,) = store.list_jobs()
    assert rec.tasks[0].state == TaskState.FAILED and "shots out of range" in rec.tasks[0].error
    assert len(fb.created) == 1  # a 400 is not retried
    fb.assert_done()


def test_cancel_calls_the_api_and_records_it(store, fb):
    comp = compile_for_braket([Circuit(1).h(0)])
    arn = fb.new_arn()
    fb.expect_create(arn, ARN_GARNET, 100)
    job = submit(_transport(fb), comp, RunConfig(shots=100), backend="braket.device", store=store)
    fb.bstub.add_response("cancel_quantum_task", {"quantumTaskArn": arn, "cancellationStatus": "CANCELLING"},
                          {"quantumTaskArn": arn, "clientToken": pytest.importorskip("botocore.stub").ANY})
    assert job.cancel() is True
    assert job.record.state == TaskState.CANCELLED
    fb.assert_done()


def test_budget_refuses_before_any_request(store, fb):
    comp = compile_for_braket([Circuit(2).h(0).cx(0, 1)])
    # IonQ Forte: 0.30 + 100 x 0.08 = 8.30 > 5.00
    with pytest.raises(BudgetExceededError) as err:
        submit(_transport(fb, ARN_FORTE), comp, RunConfig(shots=100, options={"max_cost": 5.0}),
               backend="braket.device", store=store)
    msg = str(err.value)
    assert "8.3000" in msg and "5.0000" in msg
    assert err.value.estimate_usd == pytest.approx(8.30) and err.value.budget_usd == 5.0
    assert fb.created == [] and store.list_jobs() == []
    with pytest.raises(BudgetExceededError, match="max_shots"):
        submit(_transport(fb, ARN_FORTE), comp, RunConfig(shots=100, options={"max_shots": 99}),
               backend="braket.device", store=store)
    assert fb.created == []


def test_total_cap_counts_what_the_store_has_committed(store, fb):
    store.set_total_cap(5.0)
    comp = compile_for_braket([Circuit(1).h(0)])
    arn = fb.new_arn()
    fb.expect_create(arn, ARN_GARNET, 1000)  # 1.75
    submit(_transport(fb), comp, RunConfig(shots=1000), backend="braket.device", store=store)
    assert store.spent_usd() == pytest.approx(1.75)
    big = RunConfig(shots=3000)  # 0.30 + 4.35 = 4.65; 1.75 + 4.65 > 5, though 4.65 alone fits
    with pytest.raises(BudgetExceededError, match="already committed"):
        submit(_transport(fb), comp, big, backend="braket.device", store=store)
    assert len(fb.created) == 1 and len(store.list_jobs()) == 1
    fb.assert_done()


def test_unknown_price_with_a_budget_is_refused(store, fb):
    comp = compile_for_braket([Circuit(1).h(0)])
    arn = "arn:aws:braket:us-west-2::device/qpu/newvendor/Shiny-1"
    with pytest.raises(BudgetExceededError, match="unknown"):
        submit(_transport(fb, arn), comp, RunConfig(shots=10, options={"max_cost": 100}),
               backend="braket.device", store=store)
    assert fb.created == []


def test_no_credentials_in_the_store_file(store, fb):
    comp = compile_for_braket([Circuit(1).h(0)])
    arn = fb.new_arn()
    fb.expect_create(arn, ARN_GARNET, 10)
    tr = _transport(fb, profile="research")
    job = submit(tr, comp, RunConfig(shots=10), backend="braket.device", store=store,
                 metadata={"aws_secret_access_key": "SHOULD-NOT-BE-STORED", "note": "ok"})
    store.update_metadata(job.job_id, password="hunter2-NOT-STORED")
    raw = b"".join(p.read_bytes() for p in store.path.parent.iterdir() if p.name.startswith(store.path.name))
    assert b"SHOULD-NOT-BE-STORED" not in raw and b"hunter2" not in raw and b"testing" not in raw
    assert job.record.metadata == {"note": "ok"} and job.record.transport["profile"] == "research"


# -- through the braket.device backend (the adapter's compile, packing and result parsing) ----------

def _device(fb, **kw):
    import types

    import qbridge
    from test_jobs_support import GARNET_LIKE

    session = types.SimpleNamespace(braket_client=fb.braket, s3_client=fb.s3)
    return qbridge.get_backend("braket.device", arn=ARN_GARNET, properties=GARNET_LIKE, aws_session=session,
                               s3_bucket=BUCKET, **kw)


def test_braket_device_backend_runs_through_the_store(tmp_path, fb):
    th = Parameter("theta")
    angles = np.array([0.4, 1.1, 2.0, 2.9])
    shots = 1000
    be = _device(fb)
    arn = fb.new_arn()
    # the adapter packs the 4 bindings and the Bell pair into one program set (device limit: 10)
    fb.expect_create(arn, ARN_GARNET, 5 * shots)
    fb.expect_get(arn, ARN_GARNET, "COMPLETED", 5 * shots)
    fb.expect_results(arn)
    store = tmp_path / "jobs.sqlite3"
    tasks = [Task(Circuit(2).ry(0, th).cx(0, 1), angles[:, None]), Circuit(2).h(0).cx(0, 1).measure_all()]
    res = be.run(tasks, RunConfig(shots=shots, options={"store": str(store), "max_cost": 10.0})).result()
    (sent,) = fb.created
    assert json.loads(sent["action"])["braketSchemaHeader"]["name"] == "braket.ir.openqasm.program_set"
    for i, t in enumerate(angles):
        c = res[0].get_counts(i)
        assert set(c) <= {"00", "11"} and _within(c.get("11", 0), shots, math.sin(t / 2) ** 2), (t, c)
    assert set(res[1].get_counts(0)) <= {"00", "11"}
    with JobStore(store) as st:
        (rec,) = st.list_jobs()
    assert rec.state == TaskState.DONE and rec.backend == "braket.device" and rec.tasks[0].provider_id == arn
    assert rec.tasks[0].client_token == sent["clientToken"]
    assert rec.estimated_cost_usd == pytest.approx(0.30 + 5 * shots * 0.00145)
    # the adapter's cost model sees the same packing (one program-set task)
    from qbridge.jobs import estimate_cost

    assert estimate_cost(tasks, be, shots).usd == pytest.approx(rec.estimated_cost_usd)
    fb.assert_done()


def test_braket_device_backend_refuses_over_budget_without_a_request(tmp_path, fb):
    be = _device(fb)
    job = be.run(Circuit(2).h(0).cx(0, 1), RunConfig(shots=5000, options={"store": str(tmp_path / "j.db"), "max_cost": 5.0}))
    with pytest.raises(BudgetExceededError, match=r"USD 7\.5500 exceeds the budget of USD 5\.0000"):
        job.result()
    assert fb.created == [] and JobStore(tmp_path / "j.db").list_jobs() == []
