"""IBM Quantum through the qbridge job store: tagged Sampler jobs, resume by tag, cost model.

Owns: :func:`cost_model` (what :func:`qbridge.jobs.estimate_cost` uses for ``ibm.runtime``; no
SDK, no network), :class:`IBMTransport` (the :class:`qbridge.jobs.CloudTransport` of Sampler
jobs), and :func:`sample_via_store`, the body of ``ibm.runtime``'s sampling step.

- ``pack_pubs``: the adapter's SamplerV2 PUBs (ISA circuit, parameter values, shots) become Sampler
  jobs of at most 10 million executions each; the ISA circuits are stored as QPY (base64) with
  their values, so a resume in a fresh process re-sends exactly what was planned.
- ``submit``: ``SamplerV2(mode=device | Batch | Session)`` with the job tag ``qbridge-<client token>``
  in ``options.environment.job_tags``; several jobs of one run share a Batch (``mode="auto"``).
- ``find``: ``service.jobs(job_tags=[tag], backend_name=...)``. IBM has no idempotency token, so
  a job that may have been sent but cannot be found is re-sent only on explicit request
  (``qbridge jobs resume ID --resubmit``).
- ``fetch``: counts per PUB and row in qbridge order (qubit 0 first), actual cost from the job's
  usage (QPU seconds x the rate).

Local testing mode (a fake device from ``qiskit_ibm_runtime.fake_provider``): the same calls run
in-process; jobs live only as long as the process, cost nothing, and are recorded only when a
store is named in the run's options.
"""

from __future__ import annotations

import base64
import io
from typing import Any, Mapping, Sequence

import numpy as np

from qbridge.exceptions import JobError
from qbridge.jobs import CloudTransport, ProviderRequest, TaskState
from qbridge.jobs.cost import IBM_MAX_EXECUTIONS, ibm_estimate, ibm_rate

__all__ = ["cost_model", "IBMTransport", "sample_via_store", "TAG_PREFIX"]

TAG_PREFIX = "qbridge-"
_STATES = {
    "INITIALIZING": TaskState.QUEUED,
    "QUEUED": TaskState.QUEUED,
    "VALIDATING": TaskState.QUEUED,
    "RUNNING": TaskState.RUNNING,
    "DONE": TaskState.DONE,
    "ERROR": TaskState.FAILED,
    "CANCELLED": TaskState.CANCELLED,
}


def _rep_delay(device: Any) -> float | None:
    try:
        return float(device.configuration().default_rep_delay)
    except Exception:  # noqa: BLE001 - a BackendV2 without a V1-style configuration
        return None


def cost_model(*, executables: int, shots: int | None, options: Mapping[str, Any], backend: str,
               backend_obj: Any = None, tasks: Sequence[Any] | None = None, **_: Any) -> Any:
    """IBM pay-as-you-go estimate for ``executables`` circuit x binding pairs of ``shots`` each.

    IBM bills QPU usage time. With the circuits (``tasks``) and a device description (the backend's
    device, or without a backend the offline snapshot of the device named by ``options["backend"]``),
    each circuit is transpiled for the device and one shot is timed along its critical path with
    the device's gate and readout durations, plus the device's gap between shots
    (``default_rep_delay``). Otherwise a fixed 250 us per shot is assumed (the model says which).
    ``ibm.fake`` runs locally and is free; it never reaches this model.
    """
    device = getattr(backend_obj, "device", None)
    name = options.get("backend") or getattr(device, "name", None)
    timing = _time_circuits(tasks, shots, backend_obj, name) if (tasks is not None and shots) else None
    if timing is not None:
        device = timing[2].device
    return ibm_estimate(executables, shots, backend=backend, device=name,
                        rep_delay_s=_rep_delay(device) if device is not None else None,
                        usd_per_second=options.get("usd_per_second"),
                        circuit_seconds=None if timing is None else timing[0],
                        timing=None if timing is None else timing[1])


def _time_circuits(tasks: Sequence[Any], shots: int, backend_obj: Any, name: str | None):
    """(seconds per shot of each execution's circuit, how they were found, the planner backend) or None."""
    from qbridge.backends.base import RunConfig
    from qbridge.jobs.cost import expand_executions

    from .backend import IBMFakeBackend, SamplerBackend
    from .snapshots import fake_name_for, isa_seconds, snapshot_info

    planner = backend_obj if isinstance(backend_obj, SamplerBackend) else None
    if planner is None:
        fake = fake_name_for(name) if name else None
        if fake is None:
            return None
        planner = IBMFakeBackend(backend=fake)
        where = f"{fake}, snapshot of {(snapshot_info(fake) or {}).get('snapshot_as_of')}"
    else:
        src = getattr(planner, "device_source", None) or {}
        where = (f"{planner.device.name}, " + (f"snapshot of {src.get('snapshot_as_of')}" if src.get("source") == "snapshot"
                                               else "live calibration" if src.get("source") == "live" else "fake device"))
    target = planner.device.target
    config = RunConfig(shots=shots)
    per_exec: list[float] = []
    complete = True
    for task, n in expand_executions(tasks, shots):
        isa = planner.compile(task, config).program.isa
        sec, ok = isa_seconds(isa, target)
        complete = complete and ok
        per_exec.extend([sec] * n)
    how = f"durations of the transpiled circuits on {where}"
    if not complete:
        how += "; some instructions had no duration there and count as zero"
    return per_exec, how, planner


def _is_local(device: Any) -> bool:
    try:
        from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2
    except ImportError:  # pragma: no cover - the adapter needs qiskit-ibm-runtime
        return False
    return isinstance(device, FakeBackendV2)


def _dump_circuits(circuits: Sequence[Any]) -> str:
    from qiskit import qpy

    buf = io.BytesIO()
    qpy.dump(list(circuits), buf)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _load_circuits(text: str) -> list[Any]:
    from qiskit import qpy

    return list(qpy.load(io.BytesIO(base64.b64decode(text))))


def _pub_counts(pub_result: Any, rows: int, split: bool, shots: int) -> list[dict[str, int]]:
    """Counts of one PUB per binding row, qbridge order (qubit 0 first)."""
    from qbridge.interop.qiskit import counts_from_qiskit

    bits = pub_result.data.meas
    if split:  # one unbound circuit ran rows x shots: each row is its own slice of shots
        raw = [bits.slice_shots(range(b * shots, (b + 1) * shots)).get_counts() for b in range(rows)]
    elif bits.ndim == 0:
        raw = [bits.get_counts()]
    else:
        raw = [bits.get_counts(loc=b) for b in range(rows)]
    return [counts_from_qiskit(r) for r in raw]


class IBMTransport(CloudTransport):
    """Sampler jobs on one IBM device. ``service``/``device`` may be given (tests, custom
    accounts); otherwise the service comes from the saved account named by ``channel``,
    ``instance`` and ``account`` (``QiskitRuntimeService.save_account``), never from a token
    stored by qbridge.
    """

    provider = "ibm"

    def __init__(
        self,
        backend: str,
        *,
        service: Any = None,
        device: Any = None,
        mode: str = "auto",
        channel: str | None = None,
        instance: str | None = None,
        account: str | None = None,
        sampler_options: Mapping[str, Any] | None = None,
        usd_per_second: float | None = None,
        local: bool | None = None,
    ) -> None:
        if mode not in ("auto", "job", "batch", "session"):
            raise ValueError(f"mode must be 'auto', 'job', 'batch' or 'session', got {mode!r}")
        self.backend_name = str(backend)
        self._service = service
        self._device = device
        # Local testing mode is a property of how the transport was made (a fake device handed
        # in), fixed here: a device fetched later from a service is always treated as paid.
        self._local = bool(local) if local is not None else (device is not None and _is_local(device))
        self.mode = mode
        self.channel, self.instance, self.account = channel, instance, account
        self.sampler_options = dict(sampler_options or {})
        self.usd_per_second = usd_per_second
        self._jobs: dict[str, Any] = {}  # job ID -> job object seen in this process
        self._context: Any = None  # the open Batch or Session
        self._pending = 0  # jobs of the current run still to send (mode "auto")
        self._tags_sent: dict[str, list[str]] = {}  # job ID -> tags, for jobs sent by this object

    # -- identity -----------------------------------------------------------------------------
    @property
    def device(self) -> str:
        return self.backend_name

    @property
    def local(self) -> bool:
        return self._local

    @property
    def billable(self) -> bool:  # type: ignore[override]
        return not self.local

    @property
    def idempotent_resend(self) -> bool:  # type: ignore[override]
        # a local job cannot outlive its process and costs nothing: re-running it is safe
        return self.local

    def spec(self) -> dict[str, Any]:
        return {"class": f"{__name__}:IBMTransport", "provider": self.provider, "backend": self.backend_name,
                "mode": self.mode, "channel": self.channel, "instance": self.instance, "account": self.account,
                "sampler_options": self.sampler_options, "usd_per_second": self.usd_per_second,
                "local": self.local}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], **clients: Any) -> "IBMTransport":
        device = clients.pop("device", None)
        if device is None and spec.get("local"):
            from qbridge.interop.qiskit import fake_backend

            device = fake_backend(spec["backend"])
        return cls(spec["backend"], mode=spec.get("mode") or "auto", channel=spec.get("channel"),
                   instance=spec.get("instance"), account=spec.get("account"),
                   sampler_options=spec.get("sampler_options"), usd_per_second=spec.get("usd_per_second"),
                   device=device, local=bool(spec.get("local")), **clients)

    # -- SDK objects --------------------------------------------------------------------------
    @property
    def service(self) -> Any:
        if self._service is None:
            from qiskit_ibm_runtime import QiskitRuntimeService

            args = {k: v for k, v in (("channel", self.channel), ("instance", self.instance), ("name", self.account)) if v}
            self._service = QiskitRuntimeService(**args)
        return self._service

    @property
    def device_obj(self) -> Any:
        if self._device is None:
            self._device = self.service.backend(self.backend_name)
        return self._device

    def retryable(self, exc: BaseException) -> bool:
        try:
            from qiskit_ibm_runtime.exceptions import IBMNotAuthorizedError, RuntimeJobNotFound
            from requests.exceptions import ConnectionError as RequestsConnectionError, Timeout
        except ImportError:  # pragma: no cover
            return False
        if isinstance(exc, (IBMNotAuthorizedError, RuntimeJobNotFound)):
            return False
        if isinstance(exc, (RequestsConnectionError, Timeout)):
            return True
        status = getattr(getattr(exc, "response", None), "status_code", None) or getattr(exc, "status_code", None)
        text = str(exc)
        return status in (429, 500, 502, 503, 504) or "429" in text or "Too Many Requests" in text

    # -- packing (no network) -----------------------------------------------------------------
    def pack(self, compiled: Sequence[Any], config: Any) -> list[ProviderRequest]:
        raise JobError("ibm.runtime sends SamplerV2 PUBs: use pack_pubs with the adapter's PUBs")

    def pack_pubs(self, pubs: Sequence[tuple], rows: Sequence[tuple[int, bool]], shots: int) -> list[ProviderRequest]:
        """PUBs ``(isa circuit, values (B, P) or None, shots)`` with ``rows[i] = (B, split)`` -> Sampler
        jobs of at most 10 million executions; executables are (PUB index, row)."""
        rep = _rep_delay(self._device) if self._device is not None else None
        target = getattr(self._device, "target", None)
        jobs: list[list[int]] = [[]]
        used = 0
        for i, (_, _, pub_shots) in enumerate(pubs):
            execs = int(pub_shots) * (1 if rows[i][1] else max(1, rows[i][0]))
            if jobs[-1] and used + execs > IBM_MAX_EXECUTIONS:
                jobs.append([])
                used = 0
            jobs[-1].append(i)
            used += execs
        out = []
        for members in jobs:
            circuits = [pubs[i][0] for i in members]
            values = [None if pubs[i][1] is None else np.asarray(pubs[i][1], float).tolist() for i in members]
            payload = {
                "qpy": _dump_circuits(circuits),
                "values": values,
                "pub_shots": [int(pubs[i][2]) for i in members],
                "rows": [[int(rows[i][0]), bool(rows[i][1])] for i in members],
                "shots": int(shots),
            }
            n_exec = sum(r[0] for r in payload["rows"])
            timed = None
            if target is not None:  # one shot of each PUB's ISA circuit, from the device's durations
                from .snapshots import isa_seconds

                timed = [isa_seconds(pubs[i][0], target)[0] for i in members for _ in range(int(rows[i][0]))]
            est = ibm_estimate(n_exec, shots, backend="ibm.runtime", device=self.backend_name, rep_delay_s=rep,
                               usd_per_second=self.usd_per_second, jobs=1, circuit_seconds=timed,
                               timing=None if timed is None else f"durations of the ISA circuits on {self.backend_name}")
            keys = tuple((i, b) for i in members for b in range(int(rows[i][0])))
            out.append(ProviderRequest(payload, keys, int(shots), est.usd, est.breakdown["qpu_seconds"]))
        self._pending = len(out)
        return out

    # -- network ------------------------------------------------------------------------------
    def _mode(self) -> Any:
        mode = self.mode
        if mode == "auto":
            mode = "batch" if self._pending > 1 or self._context is not None else "job"
        if mode == "job":
            return self.device_obj
        if self._context is None:
            from qiskit_ibm_runtime import Batch, Session

            self._context = (Batch if mode == "batch" else Session)(backend=self.device_obj)
        return self._context

    @staticmethod
    def tag(client_token: str) -> str:
        return TAG_PREFIX + client_token

    def submit(self, payload: Mapping[str, Any], client_token: str) -> str:
        import warnings

        from qiskit_ibm_runtime import SamplerV2

        circuits = _load_circuits(payload["qpy"])
        pubs = [(c, None if v is None else np.asarray(v, float), s)
                for c, v, s in zip(circuits, payload["values"], payload["pub_shots"])]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*SamplerV2 class is deprecated.*", category=DeprecationWarning)
            sampler = SamplerV2(mode=self._mode(), options=dict(self.sampler_options))
        sampler.options.environment.job_tags = [self.tag(client_token)]
        job = sampler.run(pubs)
        job_id = job.job_id()
        self._jobs[job_id] = job
        self._tags_sent[job_id] = list(sampler.options.environment.job_tags)
        return job_id

    def finish_sending(self) -> None:
        """Close the Batch/Session of this run: its jobs still run, no new ones join."""
        if self._context is not None:
            try:
                self._context.close()
            finally:
                self._context = None

    def find(self, client_token: str, sent_at: float | None) -> str | None:
        tag = self.tag(client_token)
        for job_id, tags in self._tags_sent.items():
            if tag in tags:
                return job_id
        if self.local:
            return None  # a local job died with the process that ran it
        found = self.service.jobs(job_tags=[tag], backend_name=self.backend_name, limit=5)
        for job in found:
            self._jobs[job.job_id()] = job
            return job.job_id()
        return None

    def _job(self, job_id: str) -> Any:
        job = self._jobs.get(job_id)
        if job is None:
            if self.local:
                raise JobError(f"the local job {job_id} ran in another process and is gone; resume re-runs it")
            job = self.service.job(job_id)
            self._jobs[job_id] = job
        return job

    def state(self, provider_id: str) -> tuple[str, str | None]:
        job = self._job(provider_id)
        status = job.status()
        name = str(getattr(status, "name", status)).upper()
        state = _STATES.get(name, TaskState.QUEUED)
        reason = None
        if state == TaskState.FAILED:
            try:
                reason = job.error_message()
            except Exception:  # noqa: BLE001 - the reason is a courtesy
                reason = None
        return state, reason

    def fetch(self, provider_id: str, payload: Mapping[str, Any]) -> tuple[list[dict[str, int]], float | None]:
        job = self._job(provider_id)
        result = job.result()
        out: list[dict[str, int]] = []
        for pub_result, (rows, split), pub_shots in zip(result, payload["rows"], payload["pub_shots"]):
            per_row = int(pub_shots) // rows if split else int(pub_shots)
            out.extend(_pub_counts(pub_result, rows, split, per_row))
        actual = None
        if not self.local:
            try:
                seconds = float(job.usage())
                rate = self.usd_per_second if self.usd_per_second is not None else ibm_rate()
                actual = seconds * rate
            except Exception:  # noqa: BLE001 - usage may lag behind the result; the estimate stands
                actual = None
        return out, actual

    def cancel(self, provider_id: str) -> bool:
        job = self._job(provider_id)
        job.cancel()
        return True


def sample_via_store(backend: Any, pubs: Sequence[tuple], rows: Sequence[tuple[int, bool]], config: Any,
                     **kwargs: Any) -> tuple[str, list[list[dict[str, int]]]]:
    """``ibm.runtime``'s sampling step through the job store.

    Returns (job ID, counts per PUB per row in qbridge order). A real device always goes through
    the store (budget checked, intent recorded before sending, result cached); a fake device in
    local testing mode only when the run names a ``store`` in its options. Settings read from
    ``config.settings``: the budget (``max_cost``/``max_shots``/``total_cap``/``max_seconds``),
    ``cloud.store``, ``cloud.timeout`` (a timeout cancels nothing), ``cloud.mode``
    (auto/job/batch/session).
    """
    from qbridge.jobs import Budget, submit_requests

    cloud = config.settings.cloud
    device = backend.device
    svc = getattr(backend, "service", None)
    transport = kwargs.pop("transport", None) or IBMTransport(
        device.name, service=svc, device=device, mode=cloud.mode,
        channel=backend.options.get("channel"), instance=backend.options.get("instance"),
        account=backend.options.get("account"), sampler_options=backend._sampler_options(config),
        usd_per_second=backend.options.get("usd_per_second"),
    )
    requests = transport.pack_pubs(pubs, rows, int(config.shots))
    layout = [{"num_qubits": None, "batch": int(r[0])} for r in rows]
    if transport.local and not cloud.store:
        # free and in-process: run through the same transport without recording
        job_ids, per_pub = [], [[None] * int(r[0]) for r in rows]
        for req in requests:
            jid = transport.submit(req.payload, "local-" + str(len(job_ids)))
            counts, _ = transport.fetch(jid, req.payload)
            for (p, b), c in zip(req.executables, counts):
                per_pub[p][b] = c
            job_ids.append(jid)
        transport.finish_sending()
        return ",".join(job_ids), per_pub
    job = submit_requests(transport, requests, layout=layout, shots=int(config.shots), backend=backend.backend_name,
                          store=cloud.store, budget=Budget.from_options(config.settings.budget), **kwargs)
    res = job.result(timeout=cloud.timeout)
    pids = [t.provider_id for t in job.record.tasks]
    return ",".join(p for p in pids if p), [list(tr.counts) for tr in res.tasks]
