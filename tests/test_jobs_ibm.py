"""IBM through the job store, offline: Qiskit Runtime's local testing mode with fake devices
(``SamplerV2(mode=fake_backend)``), the same calls a real run makes. The service's job list,
which cannot run here, is played by a small recording double where a test needs it."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("qiskit_ibm_runtime")
pytest.importorskip("qbridge_ibm.cloud")

import qbridge  # noqa: E402
from qbridge import Circuit, Parameter, RunConfig, Task  # noqa: E402
from qbridge.exceptions import BudgetExceededError, JobError  # noqa: E402
from qbridge.jobs import JobStore, PollPolicy, TaskState, estimate_cost, load_job, submit_requests  # noqa: E402
from qbridge_ibm.cloud import IBMTransport  # noqa: E402

NO_WAIT = PollPolicy(initial_s=0.0, max_s=0.0, sleep=lambda s: None)


@pytest.fixture(scope="module")
def fake():
    return qbridge.get_backend("ibm.fake", backend="fake_manila")


def _pubs(backend, tasks, shots, seed=None):
    config = RunConfig(shots=shots, seed=seed)
    compiled = [backend.compile(t, config) for t in tasks]
    pubs, rows = backend._pubs(compiled, config)
    return pubs, rows, config


def _tasks():
    a = Parameter("a")
    return [Task(Circuit(2).h(0).cx(0, 1)), Task(Circuit(3).x(0).ry(1, a).cx(1, 2), np.array([[0.0], [np.pi], [np.pi / 2]]))]


def test_fake_device_through_the_store_matches_the_direct_run(tmp_path, fake):
    shots, seed = 2000, 11
    pubs, rows, config = _pubs(fake, _tasks(), shots, seed)
    opts = fake._sampler_options(config)  # the seed, as the adapter passes it
    tr = IBMTransport("fake_manila", device=fake.device, sampler_options=opts)
    reqs = tr.pack_pubs(pubs, rows, shots)
    assert len(reqs) == 1 and [list(e) for e in reqs[0].executables] == [[0, 0], [1, 0], [1, 1], [1, 2]]
    with JobStore(tmp_path / "jobs.sqlite3") as st:
        job = submit_requests(tr, reqs, layout=[{"num_qubits": None, "batch": r[0]} for r in rows], shots=shots,
                              backend="ibm.runtime", store=st, poll=NO_WAIT)
        (task,) = job.record.tasks
        assert tr._tags_sent[task.provider_id] == [f"qbridge-{task.client_token}"]
        res = job.result()
        # local testing mode costs nothing; the estimate is what the device would cost
        rec = job.record
        assert rec.actual_cost_usd == 0.0 and rec.estimated_cost_usd > 0
        assert rec.state == TaskState.DONE
    direct = fake.run(_tasks(), shots=shots, seed=seed).result()
    # the same PUBs, the same seed: the recorded counts are exactly the adapter's own
    assert res[0].get_counts(0) == direct[0].get_counts(0)
    for b in range(3):
        assert res[1].get_counts(b) == direct[1].get_counts(b)
    c = res[0].get_counts(0)
    assert (c.get("00", 0) + c.get("11", 0)) / shots > 0.85  # a noisy Bell pair
    assert max(res[1].get_counts(1), key=res[1].get_counts(1).get) == "111"


def test_cached_result_survives_the_process(tmp_path, fake):
    pubs, rows, config = _pubs(fake, [Task(Circuit(1).x(0))], 300, seed=2)
    tr = IBMTransport("fake_manila", device=fake.device, sampler_options=fake._sampler_options(config))
    path = tmp_path / "jobs.sqlite3"
    job = submit_requests(tr, tr.pack_pubs(pubs, rows, 300), layout=[{"num_qubits": None, "batch": 1}], shots=300,
                          backend="ibm.runtime", store=path, poll=NO_WAIT)
    counts = job.result()[0].get_counts(0)
    # a fresh handle: the transport is rebuilt from the store's spec, no job object is reachable,
    # and the result still comes back (from the store)
    again = load_job(job.job_id, path).result()
    assert again[0].get_counts(0) == counts and counts.get("1", 0) > 250


def _crash_after_send(tmp_path, tr, pubs, rows, shots):
    """Submit through ``tr`` with the process dying right after the send; (store path, the job
    record left behind)."""
    original = tr.submit

    def crash(payload, token):
        original(payload, token)
        raise RuntimeError("process died after the send")

    tr.submit = crash
    path = tmp_path / "jobs.sqlite3"
    with pytest.raises(RuntimeError):
        submit_requests(tr, tr.pack_pubs(pubs, rows, shots), layout=[{"num_qubits": None, "batch": 1}], shots=shots,
                        backend="ibm.runtime", store=path)
    with JobStore(path) as st:
        (rec,) = st.list_jobs()
    return path, rec


def test_crash_after_send_local_mode_reruns_safely(tmp_path, fake):
    pubs, rows, config = _pubs(fake, [Task(Circuit(1).x(0))], 200, seed=5)
    tr = IBMTransport("fake_manila", device=fake.device, sampler_options=fake._sampler_options(config))
    path, rec = _crash_after_send(tmp_path, tr, pubs, rows, 200)
    assert rec.tasks[0].state == TaskState.SENDING
    # a fresh process: the local job is gone with its process, costs nothing, and is simply re-run
    job = load_job(rec.id, path).resume()
    assert job.result()[0].get_counts(0).get("1", 0) > 150


class RecordingService:
    """Stands in for QiskitRuntimeService where a test needs the service's job list by tag:
    devices are fake ones, and the jobs it 'knows' are those handed to :meth:`learn`."""

    def __init__(self):
        self.known: list[tuple[object, list[str]]] = []
        self.queries: list[dict] = []

    def backend(self, name):
        from qbridge.interop.qiskit import fake_backend

        return fake_backend(name)

    def learn(self, transport):
        for job_id, tags in transport._tags_sent.items():
            self.known.append((transport._jobs[job_id], tags))

    def jobs(self, job_tags=None, backend_name=None, limit=10, **_):
        self.queries.append({"job_tags": job_tags, "backend_name": backend_name})
        return [j for j, tags in self.known if set(job_tags or []) <= set(tags)][:limit]

    def job(self, job_id):
        for j, _ in self.known:
            if j.job_id() == job_id:
                return j
        raise LookupError(job_id)


def _remote_job_after_crash(tmp_path, fake, service):
    pubs, rows, config = _pubs(fake, [Task(Circuit(2).x(1))], 100, seed=3)
    tr = IBMTransport("fake_manila", service=service, sampler_options=fake._sampler_options(config))
    assert not tr.local  # a device from the service is treated as a paid device
    path, rec = _crash_after_send(tmp_path, tr, pubs, rows, 100)
    return tr, path, rec


def test_resume_finds_the_job_by_its_tag_and_sends_nothing(tmp_path, fake):
    service = RecordingService()
    tr, path, rec = _remote_job_after_crash(tmp_path, fake, service)
    service.learn(tr)  # the service has the job, tagged with the store's token
    sent = []
    job = load_job(rec.id, path, service=service)
    job.transport.submit = lambda *a: sent.append(a) or "should-not-happen"
    job.resume()
    assert sent == []
    assert service.queries == [{"job_tags": [f"qbridge-{rec.tasks[0].client_token}"], "backend_name": "fake_manila"}]
    assert job.record.tasks[0].provider_id == service.known[0][0].job_id()
    assert job.result()[0].get_counts(0).get("01", 0) > 80


def test_resume_without_a_match_refuses_to_pay_twice(tmp_path, fake):
    service = RecordingService()  # knows nothing: the job is not (yet) in the service's list
    _, path, rec = _remote_job_after_crash(tmp_path, fake, service)
    job = load_job(rec.id, path, service=service)
    with pytest.raises(JobError, match="--resubmit"):
        job.resume()
    assert job.record.tasks[0].state == TaskState.SENDING
    job.resume(resubmit=True)  # the user's explicit choice
    assert job.record.tasks[0].provider_id is not None
    assert job.result()[0].get_counts(0).get("01", 0) > 80


def test_batch_mode_and_job_splitting(tmp_path, fake):
    pubs, rows, config = _pubs(fake, [Task(Circuit(1).h(0))], 100, seed=1)
    tr = IBMTransport("fake_manila", device=fake.device, mode="batch", sampler_options=fake._sampler_options(config))
    job = submit_requests(tr, tr.pack_pubs(pubs, rows, 100), layout=[{"num_qubits": None, "batch": 1}], shots=100,
                          backend="ibm.runtime", store=tmp_path / "j.sqlite3", poll=NO_WAIT)
    assert tr._context is None  # the Batch was opened for the run and closed once all was sent
    assert sum(job.result()[0].get_counts(0).values()) == 100
    # PUBs beyond 10 million executions go in several jobs (packing only: nothing is run)
    big = [(pubs[0][0], None, 4_000_000)] * 3
    reqs = tr.pack_pubs(big, [(1, False)] * 3, 4_000_000)
    assert [len(r.executables) for r in reqs] == [2, 1]


def test_ibm_cost_model_by_hand(fake):
    # only a count of executions, no circuits: rep_delay 250 us + 250 us assumed for gates and
    # readout = 500 us per shot; 10 executions x 1000 shots + 2 s per job
    est = estimate_cost(10, "ibm.runtime", shots=1000, options={"backend": "ibm_brisbane"})
    assert est.breakdown["qpu_seconds"] == pytest.approx(2.0 + 10 * 1000 * 500e-6)
    assert est.usd == pytest.approx(7.0 * 1.60) and est.device == "ibm_brisbane"
    assert est.price_date.startswith("2024") and "assumed" in est.model
    with pytest.raises(BudgetExceededError, match="11.2000"):
        from qbridge.jobs import Budget

        Budget(max_cost_usd=10.0).check(est.usd)


def test_ibm_usage_time_from_the_device_durations():
    # with the circuits: each is transpiled for the device's snapshot (fake_brisbane) and one shot
    # lasts its critical path (Qiskit's own QuantumCircuit.estimate_duration as the reference)
    # plus the 250 us gap between shots
    from qbridge.backends.base import RunConfig

    task = Task(Circuit(2).h(0).cx(0, 1).measure_all(), np.zeros((10, 0)))
    est = estimate_cost([task], "ibm.runtime", shots=1000, options={"backend": "ibm_brisbane"})
    ref = qbridge.get_backend("ibm.fake", backend="fake_brisbane")
    isa = ref.compile(task, RunConfig(shots=1000)).program.isa
    one_shot = isa.estimate_duration(ref.device.target, unit="s")
    assert 1e-7 < one_shot < 1e-4
    assert est.breakdown["qpu_seconds"] == pytest.approx(2.0 + 10 * 1000 * (one_shot + 250e-6))
    assert est.usd == pytest.approx(est.breakdown["qpu_seconds"] * 1.60)
    assert "fake_brisbane" in est.breakdown["timing"] and "gates and readout" in est.model
    user = estimate_cost([task], "ibm.runtime", shots=1000, options={"backend": "ibm_brisbane", "usd_per_second": 0.5})
    assert user.usd == pytest.approx(est.breakdown["qpu_seconds"] * 0.5)


def test_ibm_rate_from_the_environment(monkeypatch):
    from qbridge.jobs.cost import ibm_estimate

    monkeypatch.setenv("QBRIDGE_IBM_USD_PER_SECOND", "0.96")
    assert ibm_estimate(1, 1000, job_overhead_s=0.0).usd == pytest.approx(1000 * 500e-6 * 0.96)
    monkeypatch.setenv("QBRIDGE_IBM_USD_PER_SECOND", "cheap")
    with pytest.raises(ValueError, match="QBRIDGE_IBM_USD_PER_SECOND"):
        ibm_estimate(1, 1)


class OfflineService:
    """Hands out fake devices the way QiskitRuntimeService.backend hands out real ones."""

    def backend(self, name):
        from qbridge.interop.qiskit import fake_backend

        return fake_backend(name)


def test_ibm_runtime_backend_records_and_enforces_the_budget(tmp_path):
    be = qbridge.get_backend("ibm.runtime", service=OfflineService(), backend="fake_manila")
    store = tmp_path / "jobs.sqlite3"
    tasks = _tasks()
    # 4 executions x 1000 shots on fake_manila's timing: 2 s per job + per shot the ISA circuit's
    # duration (Qiskit's estimate_duration on the device target) + the 250 us gap, x USD 1.60
    config = RunConfig(shots=1000)
    durations = [be.compile(t, config).program.isa.estimate_duration(be.device.target, unit="s") for t in tasks]
    rep = be.device.configuration().default_rep_delay
    usd = (2.0 + 1000 * sum((d + rep) * t.batch_size for d, t in zip(durations, tasks))) * 1.60
    assert (2.0 + 4000 * 250e-6) * 1.60 < usd < 6.40  # the gap alone < usd < the fixed 500 us per shot
    with pytest.raises(BudgetExceededError, match=rf"USD {usd:.4f} exceeds the budget of USD {usd - 0.01:.4f}"):
        be.run(tasks, RunConfig(shots=1000, seed=4, options={"store": str(store), "max_cost": usd - 0.01})).result()
    assert JobStore(store).list_jobs() == []
    with pytest.raises(BudgetExceededError, match="max_seconds"):
        be.run(tasks, RunConfig(shots=1000, seed=4, options={"store": str(store), "max_seconds": 2.5})).result()
    assert JobStore(store).list_jobs() == []
    res = be.run(tasks, RunConfig(shots=1000, seed=4, options={"store": str(store), "max_cost": usd + 0.01,
                                                                "max_seconds": usd / 1.6 + 0.01})).result()
    (rec,) = JobStore(store).list_jobs()
    assert rec.backend == "ibm.runtime" and rec.state == TaskState.DONE
    assert rec.estimated_cost_usd == pytest.approx(usd) and rec.actual_cost_usd == 0.0  # local: free
    assert qbridge.jobs.estimate_cost(tasks, be, shots=1000).usd == pytest.approx(usd)  # dry run = submission
    assert res[0].metadata["job_id"] == rec.tasks[0].provider_id
    # ibm.runtime does not seed (a real device cannot be): compare with the fake backend's run of
    # the same circuits as two samples of one distribution, 5 sigma on each row's main outcome
    direct = qbridge.get_backend("ibm.fake", backend="fake_manila").run(tasks, shots=1000, seed=4).result()
    for b, key in enumerate(("100", "111", "111")):
        p1, p2 = res[1].get_counts(b).get(key, 0) / 1000, direct[1].get_counts(b).get(key, 0) / 1000
        p = (p1 + p2) / 2
        assert abs(p1 - p2) <= 5 * np.sqrt(2 * p * (1 - p) / 1000) + 1e-9, (b, p1, p2)
