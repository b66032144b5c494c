"""The job store on its own: location, records, ID look-up, states, accounting, concurrency."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from qbridge.exceptions import BudgetExceededError
from qbridge.jobs import (
    Budget,
    JobNotFoundError,
    JobStore,
    JobStoreError,
    TaskState,
    default_store_path,
)

ARN = "arn:aws:braket:eu-north-1::device/qpu/iqm/Garnet"


def _job(st, cost=0.5, n_tasks=1, budget=None, shots=100):
    reqs = [{"payload": {"action": f"program {i}"}, "executables": [[0, i]], "shots": shots, "estimated_cost_usd": cost / n_tasks}
            for i in range(n_tasks)]
    return st.create_job(provider="braket", backend="braket.device", device=ARN, shots=shots,
                         transport={"class": "qbridge_braket.cloud:BraketTransport", "arn": ARN},
                         layout=[{"num_qubits": 2, "batch": n_tasks}], requests=reqs, estimated_cost_usd=cost,
                         budget=budget)


@pytest.fixture
def st(tmp_path):
    with JobStore(tmp_path / "jobs.sqlite3") as s:
        yield s


def test_location_env_var_and_user_data_folder(tmp_path, monkeypatch):
    import platformdirs

    monkeypatch.setenv("QBRIDGE_JOB_STORE", str(tmp_path / "elsewhere.db"))
    assert default_store_path() == tmp_path / "elsewhere.db"
    with JobStore() as s:
        assert s.path == tmp_path / "elsewhere.db" and s.path.exists()
    monkeypatch.delenv("QBRIDGE_JOB_STORE")
    # computed only: the test does not create anything in the real user folder
    assert default_store_path().parent.as_posix() == platformdirs.user_data_dir("qbridge")
    assert default_store_path().name == "jobs.sqlite3"


def test_intent_is_recorded_with_unique_tokens(st):
    rec = _job(st, n_tasks=3)
    assert rec.id.startswith("qj-") and len(rec.tasks) == 3
    assert len({t.client_token for t in rec.tasks}) == 3
    assert all(t.state == TaskState.PENDING and t.provider_id is None and t.sent_at is None for t in rec.tasks)
    assert rec.tasks[1].payload == {"action": "program 1"} and rec.tasks[1].executables == ((0, 1),)
    assert rec.state == TaskState.PENDING


def test_lifecycle_and_job_state(st):
    rec = _job(st, n_tasks=2)
    st.mark_sending(rec.id, 0)
    assert st.get_job(rec.id).state == TaskState.SENDING
    st.set_submitted(rec.id, 0, "arn:task/a")
    st.mark_sending(rec.id, 1)
    st.set_submitted(rec.id, 1, "arn:task/b", TaskState.RUNNING)
    assert st.get_job(rec.id).state == TaskState.RUNNING
    st.set_result(rec.id, 0, [{"00": 60, "11": 40}], 0.25)
    st.set_result(rec.id, 1, [{"01": 100}], 0.25)
    done = st.get_job(rec.id)
    assert done.state == TaskState.DONE and done.actual_cost_usd == pytest.approx(0.5)
    # a late status read never downgrades a cached result
    st.set_state(rec.id, 0, TaskState.RUNNING)
    assert st.get_job(rec.id).tasks[0].state == TaskState.DONE
    d = done.to_dict()
    assert d["tasks"][0]["has_result"] and "payload" not in d["tasks"][0]
    assert done.to_dict(with_payload=True)["tasks"][0]["payload"] == {"action": "program 0"}


def test_id_lookup_by_prefix_provider_id_and_token(st):
    a, b = _job(st), _job(st)
    st.set_submitted(a.id, 0, "arn:aws:braket:eu-north-1:1:quantum-task/xyz")
    assert st.resolve_id(a.id[:10]) == a.id or a.id[:10] == b.id[:10]
    assert st.resolve_id("arn:aws:braket:eu-north-1:1:quantum-task/xyz") == a.id
    assert st.resolve_id(b.tasks[0].client_token) == b.id
    with pytest.raises(JobNotFoundError, match="several"):
        st.resolve_id("qj-")
    with pytest.raises(JobNotFoundError, match="qbridge jobs list"):
        st.get_job("qj-doesnotexist")
    with pytest.raises(TypeError):
        st.get_job("")


def test_committed_spending(st):
    a = _job(st, cost=1.0)  # recorded: about to be sent, so committed
    assert st.spent_usd() == pytest.approx(1.0)
    b = _job(st, cost=2.0)
    st.set_state(b.id, 0, TaskState.FAILED, error="rejected: nothing was created")
    c = _job(st, cost=4.0)
    st.set_state(c.id, 0, TaskState.CANCELLED, error="cancelled before sending")
    assert st.spent_usd() == pytest.approx(1.0)
    st.mark_sending(a.id, 0)
    st.set_submitted(a.id, 0, "arn:x")
    st.set_result(a.id, 0, [{"0": 1}], 0.4)  # the actual cost replaces the estimate
    assert st.spent_usd() == pytest.approx(0.4)


def test_total_cap_setting(st):
    assert st.total_cap_usd is None
    st.set_total_cap(12.5)
    assert st.total_cap_usd == 12.5
    with pytest.raises(ValueError):
        st.set_total_cap(-1)
    st.set_total_cap(None)
    assert st.total_cap_usd is None


def test_budget_check_is_atomic_across_handles_and_threads(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    with JobStore(path) as s:
        s.set_total_cap(3.0)
    ok, refused = [], []
    start = threading.Barrier(8)

    def worker():
        with JobStore(path) as s:  # one connection per thread, as separate processes would have
            start.wait()
            try:
                ok.append(_job(s, cost=1.0, budget=Budget()).id)
            except BudgetExceededError:
                refused.append(1)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # the check and the intent are one IMMEDIATE transaction: exactly three fit under the cap
    assert len(ok) == 3 and len(refused) == 5
    with JobStore(path) as s:
        assert s.spent_usd() == pytest.approx(3.0) and len(s.list_jobs()) == 3


def test_cap_refuses_inside_the_recording_transaction(st):
    st.set_total_cap(1.5)
    _job(st, cost=1.0, budget=Budget())
    with pytest.raises(BudgetExceededError, match="already committed"):
        _job(st, cost=1.0, budget=Budget())
    assert len(st.list_jobs()) == 1  # the refused job left no record


def test_newer_store_version_is_refused(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    JobStore(path).close()
    con = sqlite3.connect(path)
    con.execute("UPDATE meta SET value = '99' WHERE key = 'version'")
    con.commit()
    con.close()
    with pytest.raises(JobStoreError, match="newer qbridge"):
        JobStore(path)


def test_list_filters_and_limits(st):
    ids = [_job(st).id for _ in range(4)]
    st.mark_sending(ids[0], 0)
    assert [r.id for r in st.list_jobs(state=TaskState.SENDING)] == [ids[0]]
    assert len(st.list_jobs(limit=2)) == 2
    assert st.list_jobs()[0].created_at >= st.list_jobs()[-1].created_at


def test_only_one_handle_can_claim_a_send(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    with JobStore(path) as a, JobStore(path) as b:
        rec = _job(a)
        task_a = a.get_job(rec.id).tasks[0]
        task_b = b.get_job(rec.id).tasks[0]  # both resumers read the same pending task
        assert a.claim_send(task_a) is True
        assert b.claim_send(task_b) is False  # stale view: the other process is sending it
        fresh = b.get_job(rec.id).tasks[0]
        assert fresh.state == TaskState.SENDING
        assert b.claim_send(fresh) is True  # a later resume may re-send (same token) on purpose


def test_import_qbridge_and_the_job_store_stays_light():
    import subprocess
    import sys

    code = (
        "import sys, qbridge\n"
        "assert 'qbridge.jobs' not in sys.modules\n"
        "qbridge.load_job\n"
        "import qbridge.jobs\n"
        "heavy = [m for m in ('boto3', 'botocore', 'braket', 'qiskit', 'qiskit_ibm_runtime', 'tenacity') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
