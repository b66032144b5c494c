"""Submitting through the job store, and jobs that live in it.

Owns: :func:`submit` (budget check + intent, then send), :class:`StoredJob` (a
:class:`~qbridge.backends.base.Job` whose status and result come from the store and the
provider), :func:`load_job`, and :func:`execute_with_store`, the body an adapter's ``_execute``
calls to send compiled tasks through the store.

Order of events for every provider request (see store.py for why each write is its own commit):
``pending`` (intent, client token) -> ``sending`` (written before the call) -> provider ID
recorded -> ``queued``/``running`` -> result cached (``done``). A crash between any two steps is
repaired by :meth:`StoredJob.resume`: a ``sending`` task is looked up by its token first; Braket
tasks are re-sent with the same token only if the lookup finds nothing (the service's idempotency
then returns the task that already exists); IBM tasks are re-sent only when asked explicitly.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

from ..backends.base import Job, JobStatus, Result, TaskResult
from ..exceptions import JobError
from .cost import Budget
from .errors import JobTimeoutError, TransportError
from .store import JobRecord, JobStore, TaskRecord, TaskState, open_store
from .transport import (
    CloudTransport,
    PollPolicy,
    ProviderRequest,
    RejectedError,
    RetryPolicy,
    call_with_retries,
    transport_from_spec,
)

__all__ = ["StoredJob", "submit", "submit_requests", "load_job", "execute_with_store", "build_result"]

LOG = logging.getLogger(__name__)

_JOB_STATUS = {
    TaskState.PENDING: JobStatus.QUEUED,
    TaskState.SENDING: JobStatus.QUEUED,
    TaskState.QUEUED: JobStatus.QUEUED,
    TaskState.RUNNING: JobStatus.RUNNING,
    TaskState.DONE: JobStatus.DONE,
    TaskState.FAILED: JobStatus.ERROR,
    TaskState.CANCELLED: JobStatus.CANCELLED,
}


class StoredJob(Job):
    """A cloud job recorded in the job store; survives the process that submitted it.

    ``transport`` is rebuilt from the store when not given (``clients`` go to its
    ``from_spec``, e.g. a boto3 client). Nothing paid happens implicitly: ``status`` and
    ``result`` only read; ``resume`` sends what was never sent; ``cancel`` cancels.
    """

    def __init__(
        self,
        job_id: str,
        store: JobStore | str | None = None,
        transport: CloudTransport | None = None,
        *,
        retry: RetryPolicy | None = None,
        poll: PollPolicy | None = None,
        **clients: Any,
    ) -> None:
        self.store = open_store(store)
        record = self.store.get_job(job_id)
        super().__init__(record.id, record.backend)
        self._transport = transport
        self._clients = clients
        self.retry = retry or RetryPolicy()
        self.poll = poll or PollPolicy()

    # -- plumbing -----------------------------------------------------------------------------
    @property
    def record(self) -> JobRecord:
        return self.store.get_job(self.job_id)

    @property
    def transport(self) -> CloudTransport:
        if self._transport is None:
            self._transport = transport_from_spec(self.record.transport, **self._clients)
        return self._transport

    def _call(self, fn, what: str):
        t = self.transport
        return call_with_retries(fn, retryable=t.retryable, policy=self.retry, what=what)

    # -- sending ------------------------------------------------------------------------------
    def resume(self, *, resubmit: bool = False) -> "StoredJob":
        """Send every request that was never confirmed sent; re-attach to those that were.

        ``resubmit``: for providers without idempotent tokens (IBM), re-send a request that may
        have been sent but cannot be found by its tag. Off by default: it may pay twice.
        """
        unsent = [t for t in self.record.tasks if t.state in TaskState.UNSENT]
        for task in unsent:
            self._send(task, resubmit=resubmit)
        if unsent:
            self.transport.finish_sending()
        return self

    def _send(self, task: TaskRecord, *, resubmit: bool = False) -> None:
        t = self.transport
        if task.state == TaskState.SENDING:
            found = self._call(lambda: t.find(task.client_token, task.sent_at), f"looking up task {task.index} by its token")
            if found:
                LOG.info("job %s task %d: found %s by its client token; not re-sending", self.job_id, task.index, found)
                self.store.set_submitted(self.job_id, task.index, found)
                return
            if not (t.idempotent_resend or resubmit):
                raise JobError(
                    f"job {self.job_id} task {task.index} may have reached {t.provider} (the process stopped while "
                    f"sending it) but no task tagged with its token {task.client_token} was found. Wait a minute and "
                    f"resume again; if it is still missing, `qbridge jobs resume {self.job_id} --resubmit` sends it "
                    "again (this may pay twice)",
                    job_id=self.job_id, client_token=task.client_token,
                )
        if not self.store.claim_send(task):
            LOG.info("job %s task %d is being sent by another process; not sending it here", self.job_id, task.index)
            return
        try:
            provider_id = self._call(lambda: t.submit(task.payload, task.client_token), f"sending task {task.index}")
        except RejectedError as exc:
            self.store.set_state(self.job_id, task.index, TaskState.FAILED, error=str(exc))
            raise
        except TransportError:
            raise  # still 'sending': resume looks it up / re-sends with the same token
        self.store.set_submitted(self.job_id, task.index, provider_id)

    # -- reading ------------------------------------------------------------------------------
    def refresh(self) -> JobRecord:
        """Ask the provider about every unfinished task; fetch and cache finished results."""
        t = None
        for task in self.record.tasks:
            if task.state in TaskState.FINAL or task.provider_id is None:
                continue
            t = t or self.transport
            pid = task.provider_id
            state, reason = self._call(lambda: t.state(pid), f"reading the status of {pid}")
            if state == TaskState.DONE:
                counts, actual = self._call(lambda: t.fetch(pid, task.payload), f"downloading the result of {pid}")
                if actual is None and task.estimated_cost_usd is not None and t.billable:
                    actual = task.estimated_cost_usd  # priced from the table: Braket returns no bill
                elif not t.billable:
                    actual = 0.0
                self.store.set_result(self.job_id, task.index, counts, actual)
            elif state != task.state:
                self.store.set_state(self.job_id, task.index, state, error=reason)
        return self.record

    def status(self) -> JobStatus:
        rec = self.record
        if rec.state not in TaskState.FINAL and any(x.provider_id for x in rec.tasks):
            rec = self.refresh()
        return _JOB_STATUS[rec.state]

    def result(self, timeout: float | None = None) -> Result:
        """Wait (polling with backoff) for every task and return the result from the store.

        A timeout raises :class:`JobTimeoutError` and cancels nothing: the tasks keep running and
        ``qbridge jobs result ID`` collects them later.
        """
        clock, sleep = self.poll.clock, self.poll.sleep
        start = clock()
        intervals = self.poll.intervals()
        while True:
            rec = self.record
            unsent = [x for x in rec.tasks if x.state in TaskState.UNSENT]
            if unsent:
                raise JobError(
                    f"job {self.job_id}: {len(unsent)} task(s) were never confirmed sent; "
                    f"`qbridge jobs resume {self.job_id}` sends or finds them",
                    job_id=self.job_id,
                )
            if rec.state not in TaskState.FINAL:
                rec = self.refresh()
            if all(x.state in TaskState.FINAL for x in rec.tasks):
                break
            wait = next(intervals)
            if timeout is not None and clock() - start + wait > timeout:
                running = [x.provider_id for x in rec.tasks if x.state not in TaskState.FINAL]
                raise JobTimeoutError(
                    f"job {self.job_id} is not finished after {timeout:g} s ({len(running)} task(s) still queued or "
                    f"running, e.g. {running[0]}). Nothing was cancelled: `qbridge jobs result {self.job_id}` "
                    "collects the result later",
                    job_id=self.job_id,
                )
            sleep(wait)
        bad = [x for x in rec.tasks if x.state != TaskState.DONE]
        if bad:
            first = bad[0]
            raise JobError(
                f"job {self.job_id}: {len(bad)} task(s) {first.state}"
                + (f" ({first.error})" if first.error else "")
                + f"; results of the others stay in the store (`qbridge jobs show {self.job_id}`)",
                job_id=self.job_id, provider_id=first.provider_id,
            )
        return build_result(rec)

    def cancel(self) -> bool:
        """Cancel every unfinished task; requests never sent are dropped. True if any was cancelled."""
        done_any = False
        for task in self.record.tasks:
            if task.state in TaskState.FINAL:
                continue
            if task.state == TaskState.PENDING:
                self.store.set_state(self.job_id, task.index, TaskState.CANCELLED, error="cancelled before sending")
                done_any = True
                continue
            if task.provider_id is None:
                continue  # 'sending' without an ID: resume first, then cancel
            t = self.transport
            pid = task.provider_id
            if self._call(lambda: t.cancel(pid), f"cancelling {pid}"):
                self.store.set_state(self.job_id, task.index, TaskState.CANCELLED, error="cancelled by the user")
                done_any = True
        return done_any

    def __repr__(self) -> str:
        return f"<StoredJob {self.job_id} on {self.backend}: {self.record.state}>"


def build_result(rec: JobRecord) -> Result:
    """Reassemble per-compiled-task counts (the layout of ``_execute``'s output) from the store."""
    per_task: list[list[dict[str, int] | None]] = [[None] * int(lay["batch"]) for lay in rec.layout]
    ids: list[list[str]] = [[] for _ in rec.layout]
    for task in rec.tasks:
        counts = task.result or []
        if len(counts) != len(task.executables):
            raise JobError(
                f"job {rec.id} task {task.index}: the store holds {len(counts)} results for {len(task.executables)} "
                "circuits", job_id=rec.id,
            )
        for (ci, row), c in zip(task.executables, counts):
            per_task[ci][row] = {str(k): int(v) for k, v in c.items()}
            if task.provider_id and task.provider_id not in ids[ci]:
                ids[ci].append(task.provider_id)
    results = []
    for lay, rows, pids in zip(rec.layout, per_task, ids):
        if any(r is None for r in rows):
            raise JobError(f"job {rec.id}: a circuit has no result in the store", job_id=rec.id)
        width = lay.get("num_qubits")
        if width is None:  # recorded from the adapter's programs: the width of the bitstrings
            width = len(next(iter(rows[0]))) if rows[0] else 0
        results.append(
            TaskResult(
                batch_size=int(lay["batch"]), num_qubits=int(width), counts=tuple(rows),
                shots=rec.shots, metadata={"job_id": rec.id, "provider_ids": pids},
            )
        )
    return Result(
        tuple(results), rec.backend, rec.id, rec.shots,
        {"device": rec.device, "estimated_cost_usd": rec.estimated_cost_usd, "actual_cost_usd": rec.actual_cost_usd},
    )


def submit_requests(
    transport: CloudTransport,
    requests: Sequence[ProviderRequest],
    *,
    layout: Sequence[Mapping[str, Any]],
    shots: int,
    backend: str,
    store: JobStore | str | None = None,
    budget: Budget | None = None,
    options: Mapping[str, Any] | None = None,
    retry: RetryPolicy | None = None,
    poll: PollPolicy | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> StoredJob:
    """Record ``requests`` (budget check and intent in one transaction), then send them.

    ``layout``: per result circuit ``{"num_qubits", "batch"}``; ``requests[i].executables``
    index into it. The budget is ``budget``, else ``options``' ``max_cost``/``max_shots``/
    ``total_cap``; the store's own total cap applies in every case. A refused run leaves no trace
    and made no network call.
    """
    if not requests:
        raise JobError("nothing to send", backend=backend)
    costs = [r.estimated_cost_usd for r in requests]
    estimate = None if any(c is None for c in costs) else float(sum(costs))
    budget = budget or Budget.from_options(options) or Budget()
    st = open_store(store)
    # 1. the budget, from local data only (no network); 2. can we send at all (credentials);
    # 3. the budget again and the intent, atomically, in the store
    seconds = [r.estimated_seconds for r in requests]
    budget.check_seconds(None if any(x is None for x in seconds) else float(sum(seconds)))
    budget.check(estimate, total_shots=sum(r.shots * len(r.executables) for r in requests),
                 spent_usd=st.spent_usd(), total_cap_usd=st.total_cap_usd)
    transport.preflight()
    rec = st.create_job(
        provider=transport.provider, backend=backend, device=transport.device, shots=shots,
        transport=transport.spec(), layout=[dict(x) for x in layout], requests=[r.as_row() for r in requests],
        estimated_cost_usd=estimate, budget=budget, metadata=dict(metadata or {}),
    )
    LOG.info("job %s recorded in %s: %d request(s), estimate %s", rec.id, st.path, len(requests), estimate)
    job = StoredJob(rec.id, st, transport, retry=retry, poll=poll)
    job.resume()
    return job


def submit(
    transport: CloudTransport,
    compiled: Sequence[Any],
    config: Any,
    *,
    backend: str,
    store: JobStore | str | None = None,
    budget: Budget | None = None,
    retry: RetryPolicy | None = None,
    poll: PollPolicy | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> StoredJob:
    """Pack ``compiled`` tasks with the transport, record them, check the budget, and send.

    The budget (``budget`` or ``config.settings.budget``: ``max_cost``/``max_shots``/``total_cap``) is
    checked against the estimate inside the same store transaction that records the intent.
    """
    if config.shots is None:
        raise JobError(f"{backend} samples only: give shots", backend=backend)
    requests = transport.pack(compiled, config)
    layout = [{"num_qubits": c.circuit.num_qubits, "batch": c.task.batch_size} for c in compiled]
    return submit_requests(
        transport, requests, layout=layout, shots=config.shots, backend=backend,
        store=store if store is not None else config.settings.cloud.store,
        budget=budget or Budget.from_options(config.settings.budget), retry=retry, poll=poll, metadata=metadata,
    )


def execute_with_store(
    backend: Any,
    transport: CloudTransport,
    compiled: Sequence[Any],
    config: Any,
    **kwargs: Any,
) -> list[TaskResult]:
    """Body of a cloud adapter's ``_execute``: submit through the store, wait, return counts.

    ``config.settings.cloud`` gives ``store`` (path) and ``timeout`` (seconds; a timeout cancels
    nothing), ``max_cost``, ``max_shots`` and ``total_cap``.
    """
    job = submit(transport, compiled, config, backend=backend.backend_name, **kwargs)
    return list(job.result(timeout=config.settings.cloud.timeout).tasks)


def load_job(job_id: str, store: JobStore | str | None = None, **clients: Any) -> StoredJob:
    """The recorded job ``job_id`` (full ID, unique prefix, or a provider task ID/ARN).

    Its ``status()`` and ``result()`` read the store first and ask the provider only for what
    is unfinished; ``clients`` are passed to the transport (e.g. ``braket_client=``).
    """
    return StoredJob(job_id, store, **clients)
