"""Fault injection on the cloud path: crashes between send and record, throttling, lost responses,
timeouts, and damaged store files. The promises: no paid result is lost, nothing is submitted
twice (one CreateQuantumTask per task, its idempotency token reused on any re-send), and every
failure is a typed error that says what to do."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from test_jobs_support import ARN_GARNET, BUCKET, FakeBraket, compile_for_braket

pytest.importorskip("qbridge_braket.cloud")

from qbridge import Circuit, RunConfig  # noqa: E402
from qbridge.jobs import (  # noqa: E402
    JobStore,
    JobStoreCorruptError,
    JobStoreError,
    JobTimeoutError,
    PollPolicy,
    RetryPolicy,
    TaskState,
    TransportError,
    load_job,
    submit,
)
from qbridge_braket.cloud import TOKEN_TAG, BraketTransport  # noqa: E402

TESTS = Path(__file__).resolve().parent
BRAKET_PLUGIN = TESTS.parent / "plugins" / "qbridge-braket"
NO_WAIT = PollPolicy(initial_s=0.0, max_s=0.0, sleep=lambda s: None)

# A child process that submits one Bell-pair task and is SIGKILLed right after Braket answered
# CreateQuantumTask, before qbridge could record the ARN. It leaves the request it sent in a file.
CHILD = r"""
import json, os, signal, sys
sys.path[:0] = [sys.argv[3], sys.argv[4]]
from test_jobs_support import ARN_GARNET, BUCKET, FakeBraket, compile_for_braket
from qbridge import Circuit, RunConfig
from qbridge.jobs import submit
from qbridge_braket.cloud import BraketTransport

fb = FakeBraket()
fb.expect_create("arn:aws:braket:eu-north-1:123456789012:quantum-task/crashed-1", ARN_GARNET, 300)

def die(**_):
    with open(sys.argv[2], "w") as fh:
        json.dump(fb.created, fh)
    os.kill(os.getpid(), signal.SIGKILL)

fb.braket.meta.events.register("after-call.braket.CreateQuantumTask", die)
submit(BraketTransport(ARN_GARNET, s3_bucket=BUCKET, **fb.clients()),
       compile_for_braket([Circuit(2).h(0).cx(0, 1)]), RunConfig(shots=300),
       backend="braket.device", store=sys.argv[1])
print("the child was not killed")
"""
CRASHED_ARN = "arn:aws:braket:eu-north-1:123456789012:quantum-task/crashed-1"


def _crash_child(tmp_path):
    store_path = tmp_path / "jobs.sqlite3"
    sent_path = tmp_path / "sent.json"
    proc = subprocess.run([sys.executable, "-c", CHILD, str(store_path), str(sent_path), str(TESTS), str(BRAKET_PLUGIN)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
    sent = json.loads(sent_path.read_text())
    assert len(sent) == 1  # exactly one CreateQuantumTask left the child
    return store_path, sent[0]


def _check_crashed_record(store_path, sent):
    with JobStore(store_path) as st:
        (rec,) = st.list_jobs()
    (task,) = rec.tasks
    # the intent survived the kill: state 'sending', no ARN, and the token that was sent
    assert task.state == TaskState.SENDING and task.provider_id is None and task.sent_at is not None
    assert sent["clientToken"] == task.client_token
    return rec, task


def test_killed_after_send_resume_finds_the_task_by_its_token(tmp_path):
    store_path, sent = _crash_child(tmp_path)
    rec, task = _check_crashed_record(store_path, sent)
    fb = FakeBraket()
    fb.created.append(sent)  # the service holds what the child sent; results are simulated from it
    fb.expect_search(ARN_GARNET, [
        {"arn": "arn:aws:braket:eu-north-1:123456789012:quantum-task/other", "tags": {TOKEN_TAG: "someone-else"}},
        {"arn": CRASHED_ARN, "tags": {TOKEN_TAG: task.client_token}},
    ])
    job = load_job(rec.id, JobStore(store_path), **fb.clients())
    job.poll = NO_WAIT
    job.resume()
    assert job.record.tasks[0].provider_id == CRASHED_ARN
    fb.expect_get(CRASHED_ARN, ARN_GARNET, "COMPLETED", 300)
    fb.expect_results(CRASHED_ARN, created_index=0)
    counts = job.result()[0].get_counts(0)
    assert set(counts) <= {"00", "11"} and sum(counts.values()) == 300
    assert len(fb.created) == 1  # the child's request only: no second CreateQuantumTask in total
    fb.assert_done()


def test_killed_after_send_resume_resends_with_the_same_token_when_search_misses(tmp_path):
    store_path, sent = _crash_child(tmp_path)
    rec, task = _check_crashed_record(store_path, sent)
    fb = FakeBraket()
    fb.expect_search(ARN_GARNET, [])  # e.g. the search index lags behind
    # Braket's idempotency: the same token returns the task that already exists
    fb.expect_create(CRASHED_ARN, ARN_GARNET, 300, token=task.client_token)
    job = load_job(rec.id, store_path, **fb.clients())
    job.resume()
    (resent,) = fb.created
    assert resent == sent  # identical parameters, identical token: one task on the service
    assert job.record.tasks[0].provider_id == CRASHED_ARN
    fb.assert_done()


def test_exception_right_after_send_then_resume_in_a_fresh_handle(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    fb = FakeBraket()
    arn = fb.new_arn()
    fb.expect_create(arn, ARN_GARNET, 200)

    def boom(**_):
        raise RuntimeError("simulated crash after the send")

    fb.braket.meta.events.register("after-call.braket.CreateQuantumTask", boom)
    with pytest.raises(RuntimeError, match="simulated crash"):
        submit(BraketTransport(ARN_GARNET, s3_bucket=BUCKET, **fb.clients()),
               compile_for_braket([Circuit(1).x(0)]), RunConfig(shots=200), backend="braket.device", store=path)
    fb.braket.meta.events.unregister("after-call.braket.CreateQuantumTask", boom)
    with JobStore(path) as st:
        (rec,) = st.list_jobs()
    assert rec.tasks[0].state == TaskState.SENDING
    token = fb.created[0]["clientToken"]
    fb.expect_search(ARN_GARNET, [{"arn": arn, "tags": {TOKEN_TAG: token}}])
    fb.expect_get(arn, ARN_GARNET, "COMPLETED", 200)
    fb.expect_results(arn, created_index=0)
    job = load_job(rec.id, JobStore(path), **fb.clients()).resume()
    assert job.result()[0].get_counts(0) == {"1": 200}
    assert len(fb.created) == 1
    fb.assert_done()


def test_crash_while_downloading_loses_nothing(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    fb = FakeBraket()
    arn = fb.new_arn()
    fb.expect_create(arn, ARN_GARNET, 50)
    job = submit(BraketTransport(ARN_GARNET, s3_bucket=BUCKET, **fb.clients()), compile_for_braket([Circuit(1).x(0)]),
                 RunConfig(shots=50), backend="braket.device", store=path, poll=NO_WAIT)
    fb.expect_get(arn, ARN_GARNET, "COMPLETED", 50)

    def lost(**_):
        raise RuntimeError("killed while reading the result")

    fb.s3.meta.events.register("provide-client-params.s3.GetObject", lost)
    with pytest.raises(RuntimeError):
        job.result()
    fb.s3.meta.events.unregister("provide-client-params.s3.GetObject", lost)
    assert job.record.tasks[0].state == TaskState.QUEUED  # nothing cached, nothing lost: the ARN is there
    fb.expect_get(arn, ARN_GARNET, "COMPLETED", 50)
    fb.expect_results(arn, created_index=0)
    assert load_job(job.job_id, path, **fb.clients()).result()[0].get_counts(0) == {"1": 50}
    assert len(fb.created) == 1
    fb.assert_done()


def test_throttling_is_retried_with_backoff_and_the_same_token(tmp_path):
    fb = FakeBraket()
    arn = fb.new_arn()
    fb.expect_error("create_quantum_task", "ThrottlingException", 429, "Rate exceeded")
    fb.expect_error("create_quantum_task", "ThrottlingException", 429, "Rate exceeded")
    fb.expect_create(arn, ARN_GARNET, 100)
    slept: list[float] = []
    retry = RetryPolicy(attempts=5, initial_s=1.0, max_s=8.0, sleep=slept.append)
    job = submit(BraketTransport(ARN_GARNET, s3_bucket=BUCKET, **fb.clients()), compile_for_braket([Circuit(1).h(0)]),
                 RunConfig(shots=100), backend="braket.device", store=tmp_path / "j.sqlite3", retry=retry, poll=NO_WAIT)
    assert len(fb.created) == 3 and len({c["clientToken"] for c in fb.created}) == 1
    assert len(slept) == 2 and all(0 <= s <= 8.0 for s in slept)
    assert job.record.tasks[0].provider_id == arn
    # reads are retried too: a throttled GetQuantumTask and a 500 from S3
    fb.expect_error("get_quantum_task", "ThrottlingException", 429)
    fb.expect_get(arn, ARN_GARNET, "COMPLETED", 100)
    fb.sstub.add_client_error("get_object", service_error_code="InternalError", http_status_code=500)
    fb.expect_results(arn, created_index=0)
    counts = job.result()[0].get_counts(0)
    assert sum(counts.values()) == 100
    fb.assert_done()


def test_retries_exhausted_keeps_the_task_for_resume(tmp_path):
    path = tmp_path / "j.sqlite3"
    fb = FakeBraket()
    for _ in range(3):
        fb.expect_error("create_quantum_task", "ThrottlingException", 429)
    retry = RetryPolicy(attempts=3, initial_s=0.0, max_s=0.0, sleep=lambda s: None)
    with pytest.raises(TransportError, match="resume"):
        submit(BraketTransport(ARN_GARNET, s3_bucket=BUCKET, **fb.clients()), compile_for_braket([Circuit(1).h(0)]),
               RunConfig(shots=100), backend="braket.device", store=path, retry=retry)
    with JobStore(path) as st:
        (rec,) = st.list_jobs()
    task = rec.tasks[0]
    assert task.state == TaskState.SENDING
    arn = fb.new_arn()
    fb.expect_search(ARN_GARNET, [])
    fb.expect_create(arn, ARN_GARNET, 100, token=task.client_token)
    load_job(rec.id, path, **fb.clients()).resume()
    assert {c["clientToken"] for c in fb.created} == {task.client_token}
    fb.assert_done()


def test_lost_response_is_retried_with_the_same_token(tmp_path):
    from botocore.exceptions import ReadTimeoutError

    fb = FakeBraket()
    arn = fb.new_arn()
    fb.expect_create(arn, ARN_GARNET, 100)
    calls = {"n": 0}

    def time_out_once(**_):
        calls["n"] += 1
        if calls["n"] == 1:  # the request went out, the answer never came back
            raise ReadTimeoutError(endpoint_url="https://braket.eu-north-1.amazonaws.com/quantum-task")

    fb.braket.meta.events.register("provide-client-params.braket.CreateQuantumTask", time_out_once)
    retry = RetryPolicy(attempts=3, initial_s=0.0, max_s=0.0, sleep=lambda s: None)
    job = submit(BraketTransport(ARN_GARNET, s3_bucket=BUCKET, **fb.clients()), compile_for_braket([Circuit(1).h(0)]),
                 RunConfig(shots=100), backend="braket.device", store=tmp_path / "j.sqlite3", retry=retry)
    assert len(fb.created) == 2 and fb.created[0]["clientToken"] == fb.created[1]["clientToken"]
    assert job.record.tasks[0].provider_id == arn
    fb.assert_done()


def test_timeout_cancels_nothing_and_the_result_is_collected_later(tmp_path):
    fb = FakeBraket()
    arn = fb.new_arn()
    fb.expect_create(arn, ARN_GARNET, 100)
    now = {"t": 0.0}
    poll = PollPolicy(initial_s=1.0, factor=2.0, max_s=4.0, sleep=lambda s: now.__setitem__("t", now["t"] + s),
                      clock=lambda: now["t"])
    job = submit(BraketTransport(ARN_GARNET, s3_bucket=BUCKET, **fb.clients()), compile_for_braket([Circuit(1).x(0)]),
                 RunConfig(shots=100), backend="braket.device", store=tmp_path / "j.sqlite3", poll=poll)
    for _ in range(4):  # polls at t = 0, 1, 3, 7; the next wait (4 s) would pass the 10 s limit
        fb.expect_get(arn, ARN_GARNET, "QUEUED", 100)
    with pytest.raises(JobTimeoutError, match="Nothing was cancelled") as err:
        job.result(timeout=10.0)
    assert isinstance(err.value, TimeoutError) and err.value.job_id == job.job_id
    fb.assert_done()  # every queued answer used, and no CancelQuantumTask was made (it was not stubbed)
    assert job.record.tasks[0].state == TaskState.QUEUED
    fb.expect_get(arn, ARN_GARNET, "COMPLETED", 100)
    fb.expect_results(arn, created_index=0)
    assert job.result()[0].get_counts(0) == {"1": 100}
    fb.assert_done()


# -- damaged store files ---------------------------------------------------------------------------

def _store_with_a_job(path):
    with JobStore(path) as st:
        st.create_job(provider="braket", backend="braket.device", device=ARN_GARNET, shots=10,
                      transport={"class": "qbridge_braket.cloud:BraketTransport", "arn": ARN_GARNET},
                      layout=[{"num_qubits": 1, "batch": 1}],
                      requests=[{"payload": {"x": 1}, "executables": [[0, 0]], "shots": 10, "estimated_cost_usd": 0.3}],
                      estimated_cost_usd=0.3)


@pytest.mark.parametrize("damage", ["garbage", "bad_pages", "truncated"])
def test_damaged_store_is_a_clear_error_and_is_left_untouched(tmp_path, damage):
    path = tmp_path / "jobs.sqlite3"
    if damage == "garbage":
        path.write_bytes(b"this is not a database, but it might be someone's only copy\n" * 50)
    else:
        _store_with_a_job(path)
        data = path.read_bytes()
        if damage == "bad_pages":
            data = data[:100] + bytes((b * 7 + 3) % 256 for b in data[100:])
        else:
            data = data[: len(data) // 3]
        path.write_bytes(data)
    before = path.read_bytes()
    with pytest.raises(JobStoreCorruptError) as err:
        JobStore(path).list_jobs()
    msg = str(err.value)
    assert str(path) in msg and "move it aside" in msg and err.value.path == str(path)
    assert path.read_bytes() == before  # never recreated or overwritten


def test_foreign_sqlite_file_is_refused(tmp_path):
    import sqlite3

    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE photos (id INTEGER)")
    con.commit()
    con.close()
    with pytest.raises(JobStoreError, match="not a qbridge job store"):
        JobStore(path)
    con = sqlite3.connect(path)
    assert [r[0] for r in con.execute("SELECT name FROM sqlite_master")] == ["photos"]
    con.close()


def test_cli_reports_a_damaged_store_without_a_traceback(tmp_path):
    from click.testing import CliRunner

    from qbridge.cli import main

    path = tmp_path / "jobs.sqlite3"
    path.write_bytes(b"\x00garbage" * 100)
    before = path.read_bytes()
    out = CliRunner().invoke(main, ["jobs", "--store", str(path), "list"])
    assert out.exit_code == 2 and "JobStoreCorruptError" in out.output and "Traceback" not in out.output
    assert path.read_bytes() == before


def test_store_files_are_private(tmp_path):
    old = os.umask(0)  # even a permissive umask gives 0600 / 0700
    try:
        path = tmp_path / "new" / "dir" / "jobs.sqlite3"
        with JobStore(path) as st:
            _ = st.create_job(provider="braket", backend="braket.device", device=ARN_GARNET, shots=1,
                              transport={}, layout=[], requests=[], estimated_cost_usd=0.0)
            modes = {p.name: oct(p.stat().st_mode & 0o777) for p in path.parent.iterdir()}
            assert modes[path.name] == "0o600"
            assert modes.get(path.name + "-wal", "0o600") == "0o600" and modes.get(path.name + "-shm", "0o600") == "0o600"
            assert path.name + "-wal" in modes  # WAL mode is on: the check above saw the file
        assert oct(path.parent.stat().st_mode & 0o777) == "0o700"
    finally:
        os.umask(old)
