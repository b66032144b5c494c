"""The command line: `qbridge jobs ...` over a real store, and `qbridge run` with --dry-run,
--max-cost and --max-shots, with the network switched off (any socket connect fails the test)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from test_jobs_support import ARN_GARNET, BUCKET, GARNET_LIKE, FakeBraket, compile_for_braket

pytest.importorskip("qbridge_braket.cloud")

import qbridge  # noqa: E402
from qbridge import Circuit, RunConfig  # noqa: E402
from qbridge.cli import main  # noqa: E402
from qbridge.jobs import JobStore, PollPolicy, TaskState, submit  # noqa: E402
from qbridge_braket.cloud import TOKEN_TAG, BraketTransport  # noqa: E402

NO_WAIT = PollPolicy(initial_s=0.0, max_s=0.0, sleep=lambda s: None)
FORTE = "arn:aws:braket:us-east-1::device/qpu/ionq/Forte-1"
BELL = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\nh q[0];\ncx q[0], q[1];\nc = measure q;\n'


@pytest.fixture
def offline(qbridge_no_network):
    """No network: a connect attempt fails the test (the fixture of qbridge's pytest plugin)."""


@pytest.fixture
def done_job(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    fb = FakeBraket()
    arn = fb.new_arn()
    fb.expect_create(arn, ARN_GARNET, 400)
    job = submit(BraketTransport(ARN_GARNET, s3_bucket=BUCKET, **fb.clients()), compile_for_braket([Circuit(2).h(0).cx(0, 1)]),
                 RunConfig(shots=400), backend="braket.device", store=path, poll=NO_WAIT)
    fb.expect_get(arn, ARN_GARNET, "COMPLETED", 400)
    fb.expect_results(arn)
    counts = job.result()[0].get_counts(0)
    # Close the writer now: left to the garbage collector, its last close checkpoints the WAL into
    # the main file at a random moment, which would change the bytes a test has just snapshotted.
    job.store.close()
    return path, job.job_id, arn, counts


def _invoke(args, obj=None):
    return CliRunner().invoke(main, args, obj=obj)


def test_list_show_result_from_the_store(done_job, offline):
    path, job_id, arn, counts = done_job
    out = _invoke(["jobs", "--store", str(path), "list", "--json"])
    assert out.exit_code == 0, out.output
    (row,) = json.loads(out.output)
    assert row["id"] == job_id and row["state"] == "done" and row["tasks"][0]["provider_id"] == arn
    assert row["estimated_cost_usd"] == pytest.approx(0.30 + 400 * 0.00145)
    out = _invoke(["jobs", "--store", str(path), "show", job_id[:9], "--json", "--payload"])
    shown = json.loads(out.output)
    assert "braket.ir.openqasm.program" in shown["tasks"][0]["payload"]["action"]
    out = _invoke(["jobs", "--store", str(path), "result", arn, "--json"])  # by ARN too
    res = json.loads(out.output)
    assert res["results"] == [{"circuit": 0, "row": 0, "counts": counts}]
    for cmd in (["list"], ["show", job_id], ["result", job_id]):  # the rich tables render
        out = _invoke(["jobs", "--store", str(path), *cmd])
        assert out.exit_code == 0 and (job_id[:8] in out.output or "00" in out.output), out.output
    out = _invoke(["jobs", "--store", str(path), "show", "qj-nothing"])
    assert out.exit_code == 2 and "JobNotFoundError" in out.output


def test_budget_command(tmp_path, done_job, offline):
    path = done_job[0]
    out = _invoke(["jobs", "--store", str(path), "budget", "--total-cap", "10", "--json"])
    b = json.loads(out.output)
    assert b["total_cap_usd"] == 10.0 and b["spent_usd"] == pytest.approx(0.88) and b["left_usd"] == pytest.approx(9.12)
    out = _invoke(["jobs", "--store", str(path), "budget", "--no-cap"])
    assert out.exit_code == 0 and "no total cap" in out.output


def test_resume_and_cancel_from_the_command_line(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    fb = FakeBraket()
    arn = fb.new_arn()
    fb.expect_create(arn, ARN_GARNET, 100)

    def boom(**_):
        raise RuntimeError("crash after send")

    fb.braket.meta.events.register("after-call.braket.CreateQuantumTask", boom)
    with pytest.raises(RuntimeError):
        submit(BraketTransport(ARN_GARNET, s3_bucket=BUCKET, **fb.clients()), compile_for_braket([Circuit(1).x(0)]),
               RunConfig(shots=100), backend="braket.device", store=path)
    fb.braket.meta.events.unregister("after-call.braket.CreateQuantumTask", boom)
    with JobStore(path) as st:
        (rec,) = st.list_jobs()
    token = rec.tasks[0].client_token
    fb.expect_search(ARN_GARNET, [{"arn": arn, "tags": {TOKEN_TAG: token}}])
    out = _invoke(["jobs", "--store", str(path), "resume", rec.id, "--json"], obj={"clients": fb.clients()})
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["tasks"][0]["provider_id"] == arn and len(fb.created) == 1
    fb.bstub.add_response("cancel_quantum_task", {"quantumTaskArn": arn, "cancellationStatus": "CANCELLING"},
                          {"quantumTaskArn": arn, "clientToken": pytest.importorskip("botocore.stub").ANY})
    out = _invoke(["jobs", "--store", str(path), "cancel", rec.id, "--json"], obj={"clients": fb.clients()})
    assert json.loads(out.output) == {"id": rec.id, "cancelled": True, "state": TaskState.CANCELLED}
    fb.assert_done()


def test_dry_run_on_a_braket_device_sends_nothing(tmp_path, offline, monkeypatch):
    monkeypatch.setenv("QBRIDGE_JOB_STORE", str(tmp_path / "jobs.sqlite3"))
    prog = tmp_path / "bell.qasm"
    prog.write_text(BELL)
    out = _invoke(["run", str(prog), "--backend", "braket.device", "--option", f"arn={ARN_GARNET}",
                   "--option", "properties=" + json.dumps(GARNET_LIKE), "--shots", "100", "--max-cost", "1",
                   "--dry-run", "--json"])
    assert out.exit_code == 0, out.output
    rep = json.loads(out.output)
    assert rep["dry_run"] and not rep["sent"]
    # one program-set task (the device takes them): 0.30 + 100 shots x 0.00145
    assert rep["estimated_cost_usd"] == pytest.approx(0.445)
    assert rep["estimate"]["price_date"] and rep["budget"]["max_cost_usd"] == 1.0
    native = rep["circuits"][0]["native_program"]
    assert "cnot" in native and "measure" in native
    assert JobStore(tmp_path / "jobs.sqlite3").list_jobs() == []  # nothing recorded, nothing sent
    out = _invoke(["run", str(prog), "--backend", "braket.device", "--option", f"arn={ARN_GARNET}",
                   "--option", "properties=" + json.dumps(GARNET_LIKE), "--shots", "100", "--dry-run"])
    assert out.exit_code == 0 and "nothing was sent" in out.output and "cnot" in out.output


def test_dry_run_estimate_includes_the_mitigation_circuits(tmp_path, offline, monkeypatch):
    monkeypatch.setenv("QBRIDGE_JOB_STORE", str(tmp_path / "jobs.sqlite3"))
    prog = tmp_path / "bell.qasm"
    prog.write_text(BELL.replace("bit[2] c;\n", "").replace("c = measure q;\n", ""))
    args = ["run", str(prog), "--backend", "braket.device", "--option", f"arn={ARN_GARNET}",
            "--option", "properties=" + json.dumps(GARNET_LIKE), "--shots", "100", "--observable", "ZZ", "--dry-run"]
    out = _invoke(args + ["--mitigation", "readout,zne", "--json"])
    assert out.exit_code == 0, out.output
    rep = json.loads(out.output)
    # ZZ at noise scales 1, 3, 5 and the two width-2 readout calibrations: 5 executions of 100
    # shots in one program-set task, 0.30 + 500 x 0.00145
    assert rep["mitigation"]["executions"] == 5 and rep["estimate"]["total_shots"] == 500
    assert rep["estimated_cost_usd"] == pytest.approx(1.025)
    out = _invoke(args + ["--mitigation", "readout,zne", "--max-cost", "1"])  # the circuit alone costs 0.445
    assert out.exit_code == 2 and "BudgetExceededError" in out.output and "USD 1.0250" in out.output
    out = _invoke(args + ["--mitigation", "readout,zne"])
    assert out.exit_code == 0 and "5 execution(s) of 100 shots" in out.output
    assert JobStore(tmp_path / "jobs.sqlite3").list_jobs() == []


def test_max_cost_refuses_before_the_backend_is_even_created(tmp_path, offline, monkeypatch):
    monkeypatch.setenv("QBRIDGE_JOB_STORE", str(tmp_path / "jobs.sqlite3"))
    for var in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(var, raising=False)
    prog = tmp_path / "bell.qasm"
    prog.write_text(BELL)
    # no properties, no credentials: creating braket.device would need AWS; the budget refuses first
    out = _invoke(["run", str(prog), "--backend", "braket.device", "--option", f"arn={FORTE}", "--shots", "100",
                   "--max-cost", "5"])
    assert out.exit_code == 2
    assert "BudgetExceededError" in out.output and "USD 8.3000" in out.output and "USD 5.0000" in out.output
    out = _invoke(["run", str(prog), "--shots", "1000", "--max-shots", "999"])
    assert out.exit_code == 2 and "max_shots" in out.output
    out = _invoke(["run", str(prog), "--shots", "100", "--max-cost", "0", "--json"])  # free: runs
    assert out.exit_code == 0 and sum(json.loads(out.output)["counts"].values()) == 100


def test_dry_run_on_ibm_fake_prints_the_isa_program(tmp_path, offline):
    pytest.importorskip("qiskit_ibm_runtime")
    prog = tmp_path / "bell.qasm"
    prog.write_text(BELL)
    out = _invoke(["run", str(prog), "--backend", "ibm.fake", "--option", "backend=fake_manila", "--shots", "100",
                   "--dry-run", "--json"])
    assert out.exit_code == 0, out.output
    rep = json.loads(out.output)
    assert rep["estimated_cost_usd"] == 0.0 and "OPENQASM 3" in rep["circuits"][0]["native_program"]


def test_load_job_is_exported_lazily(done_job):
    path, job_id, _, counts = done_job
    job = qbridge.load_job(job_id, store=path)
    assert isinstance(job, qbridge.Job) and job.status() == qbridge.JobStatus.DONE
    assert job.result()[0].get_counts(0) == counts
