"""Amazon Braket through the qbridge job store: idempotent submission, retries, resume, results.

Owns: :class:`BraketTransport` (the :class:`qbridge.jobs.CloudTransport` for ``braket.device``):

- ``pack``: one quantum task per circuit execution, or program sets of up to 100 executions in
  one task (``program_sets=True``, where the device supports them). The payload stored in the job
  store is exactly the ``action`` JSON sent, so a resume re-sends identical parameters.
- ``submit``: ``CreateQuantumTask`` with ``clientToken`` = the store's token (the API marks it as
  an idempotency token) and the tag ``qbridge-client-token`` = the same token.
- ``find``: ``SearchQuantumTasks`` on the device, matching that tag, to re-attach after a crash
  without sending again.
- ``state``/``fetch``: ``GetQuantumTask``, then ``results.json`` from S3 (program-set results
  inline or as relative S3 paths), turned into counts over all qubits, q0 first.

Network: a boto3 client with botocore's adaptive retry mode and bounded connect/read timeouts;
on top, :func:`qbridge.jobs.call_with_retries` retries throttling and transient errors that
outlive botocore (and those a stubbed client returns directly). Credentials come from boto3's
own chain (profile, environment, instance role) and are never stored or logged.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence


from qbridge.exceptions import BackendUnavailableError, JobError, ValidationError
from qbridge.jobs import CloudTransport, ProviderRequest, RejectedError, TaskState

from . import prices as _prices

__all__ = [
    "BraketTransport",
    "TOKEN_TAG",
    "counts_from_result",
    "program_source",
    "submit_via_store",
    "transport_for",
]

TOKEN_TAG = "qbridge-client-token"
PROGRAM_HEADER = {"name": "braket.ir.openqasm.program", "version": "1"}
PROGRAM_SET_HEADER = {"name": "braket.ir.openqasm.program_set", "version": "1"}
_RETRYABLE_CODES = frozenset({
    "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded",
    "InternalServiceException", "InternalServerException", "InternalError", "ServiceUnavailable",
    "ServiceUnavailableException", "RequestTimeout", "RequestTimeoutException", "SlowDown",
})
_STATES = {
    "CREATED": TaskState.QUEUED,
    "QUEUED": TaskState.QUEUED,
    "RUNNING": TaskState.RUNNING,
    "COMPLETED": TaskState.DONE,
    "FAILED": TaskState.FAILED,
    "CANCELLING": TaskState.CANCELLED,
    "CANCELLED": TaskState.CANCELLED,
}


def program_source(compiled: Any, row: int) -> tuple[str, dict[str, float]]:
    """(OpenQASM 3 source, inputs) of one binding of a compiled task.

    The adapter's native program is OpenQASM text (or a Braket ``Program``); the circuit's free
    parameters are declared in it as ``input float`` and bound through the program's inputs.
    """
    params, ins = compiled.task.binding(row)
    if ins:
        raise JobError("amplitude-encoded inputs must be decomposed before a cloud run", instruction="amplitude_encode")
    prog = compiled.program
    names = compiled.circuit.parameter_names
    values = {n: float(params[n]) for n in names} if names else {}
    if isinstance(prog, str):
        return prog, values
    if prog is not None and hasattr(prog, "source"):
        return str(prog.source), {**dict(getattr(prog, "inputs", None) or {}), **values}
    raise JobError(
        "a cloud run needs the adapter's native program (OpenQASM 3 for Braket) for every compiled task; "
        f"got {type(prog).__name__}"
    )


def counts_from_result(result: Mapping[str, Any], shots: int, layout: Sequence[int] | None = None) -> dict[str, int]:
    """Counts over all circuit qubits (q0 first) from one Braket gate-model result (a dict).

    ``layout``: the physical qubit of each circuit qubit when the program used ``$k`` qubits
    (measured labels are then physical); None when it used the virtual register.
    """
    measured = [int(q) for q in (result.get("measuredQubits") or [])]
    if layout is not None:
        where = {int(p): i for i, p in enumerate(layout)}
        try:
            measured = [where[q] for q in measured]
        except KeyError as exc:
            raise JobError(f"Braket measured physical qubit {exc.args[0]} outside the layout {list(layout)}") from exc
    n = len(measured)
    if sorted(measured) != list(range(n)):
        raise JobError(f"Braket measured qubits {measured}; qbridge programs measure every circuit qubit")
    order = [measured.index(q) for q in range(n)]
    counts: dict[str, int] = {}
    if result.get("measurements"):
        for shot in result["measurements"]:
            key = "".join(str(int(shot[i])) for i in order)
            counts[key] = counts.get(key, 0) + 1
    elif result.get("measurementProbabilities"):
        for key, p in result["measurementProbabilities"].items():
            k = "".join(key[i] for i in order)
            c = int(round(float(p) * shots))
            if c:
                counts[k] = counts.get(k, 0) + c
    else:
        raise JobError("the Braket result has neither measurements nor probabilities")
    return dict(sorted(counts.items()))


class BraketTransport(CloudTransport):
    """Braket's API for the job store. Clients are created lazily (boto3 imported then).

    ``layout``: physical qubit of each circuit qubit when programs address ``$k`` qubits.
    ``braket_client``/``s3_client``: ready boto3 clients (e.g. from an ``AwsSession``, or stubbed
    in tests); otherwise made from ``profile``/``region`` through boto3's credential chain.
    """

    provider = "braket"
    idempotent_resend = True

    def __init__(
        self,
        arn: str,
        *,
        s3_bucket: str | None = None,
        s3_prefix: str = "qbridge-tasks",
        region: str | None = None,
        profile: str | None = None,
        program_sets: bool = False,
        device_parameters: Mapping[str, Any] | None = None,
        prices: str | None = None,
        layout: Sequence[int] | None = None,
        braket_client: Any = None,
        s3_client: Any = None,
        program_source: Callable[[Any, int], tuple[str, dict[str, float]]] = program_source,
        search_pages: int = 10,
    ) -> None:
        if not isinstance(arn, str) or not arn.startswith("arn:aws:braket:"):
            raise ValueError(f"braket.device needs a device ARN (arn:aws:braket:...), got {arn!r}")
        self.arn = arn
        self.s3_bucket = s3_bucket
        self.s3_prefix = (s3_prefix or "").strip("/") or "qbridge-tasks"
        self.region = region or (arn.split(":")[3] or None)
        self.profile = profile
        self.program_sets = bool(program_sets)
        self.device_parameters = dict(device_parameters) if device_parameters else None
        self.prices = prices
        self.layout = tuple(int(q) for q in layout) if layout else None
        self._braket = braket_client
        self._s3 = s3_client
        self._program_source = program_source
        self._search_pages = int(search_pages)
        self._locations: dict[str, tuple[str, str]] = {}

    # -- identity -----------------------------------------------------------------------------
    @property
    def device(self) -> str:
        return self.arn

    def spec(self) -> dict[str, Any]:
        return {
            "class": f"{__name__}:BraketTransport", "provider": self.provider, "arn": self.arn,
            "s3_bucket": self.s3_bucket, "s3_prefix": self.s3_prefix, "region": self.region,
            "profile": self.profile, "program_sets": self.program_sets,
            "device_parameters": self.device_parameters, "prices": self.prices,
            "layout": None if self.layout is None else list(self.layout),
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], **clients: Any) -> "BraketTransport":
        kw = {k: spec.get(k) for k in ("s3_bucket", "region", "profile", "device_parameters", "prices", "layout")}
        return cls(spec["arn"], s3_prefix=spec.get("s3_prefix") or "qbridge-tasks",
                   program_sets=bool(spec.get("program_sets")), **kw, **clients)

    # -- clients ------------------------------------------------------------------------------
    def _session(self):
        import boto3

        return boto3.Session(profile_name=self.profile, region_name=self.region)

    @staticmethod
    def _config():
        from botocore.config import Config

        # Adaptive mode rate-limits the client when Braket throttles; timeouts bound each HTTP call
        # (never the remote task, which keeps running whatever happens here).
        return Config(retries={"mode": "adaptive", "max_attempts": 5}, connect_timeout=10, read_timeout=60,
                      user_agent_extra="qbridge")

    @property
    def braket(self):
        if self._braket is None:
            self._braket = self._session().client("braket", config=self._config())
        return self._braket

    @property
    def s3(self):
        if self._s3 is None:
            self._s3 = self._session().client("s3", config=self._config())
        return self._s3

    def _bucket(self) -> str:
        if self.s3_bucket is None:
            # The SDK's default bucket name; resolved at send time (after the budget check) and
            # the same on every resume, so re-sent parameters stay identical.
            session = self._session()
            account = session.client("sts", config=self._config()).get_caller_identity()["Account"]
            self.s3_bucket = f"amazon-braket-{self.region or session.region_name}-{account}"
        return self.s3_bucket

    def preflight(self) -> None:
        if self._braket is not None and (self._s3 is not None or self.s3_bucket is not None):
            return  # clients were handed in (an AwsSession, tests): they carry their credentials
        if self._session().get_credentials() is None:
            raise BackendUnavailableError(
                "no AWS credentials found (environment variables, ~/.aws/credentials, AWS_PROFILE or an instance "
                "role); configure them with `aws configure` (or AWS_PROFILE=...) and run again. Nothing was sent",
                backend="braket.device",
            )

    def retryable(self, exc: BaseException) -> bool:
        try:
            from botocore.exceptions import ClientError, ConnectionError as BotoConnectionError, HTTPClientError
        except ImportError:  # pragma: no cover - boto3 is a dependency of the adapter
            return False
        if isinstance(exc, (BotoConnectionError, HTTPClientError)):
            return True
        if isinstance(exc, ClientError):
            err = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            return err.get("Code") in _RETRYABLE_CODES or status >= 500 or status == 429
        return False

    # -- packing (no network) -----------------------------------------------------------------
    def _check_shots(self, shots: int) -> _prices.PriceTable:
        table = _prices.load_prices(self.prices)
        price = table.lookup(self.arn)
        # debiasing is asked for by mitigation="native", which puts it in the device parameters
        debias = bool((self.device_parameters or {}).get("errorMitigation"))
        if price is not None and price.debias_min_shots and debias and shots < price.debias_min_shots:
            raise ValueError(f"IonQ debiasing needs at least {price.debias_min_shots} shots per circuit; got {shots}")
        return table

    def _request(self, action: Mapping[str, Any], sizes: Sequence[int], shots: int, keys: Sequence[tuple[int, int]],
                 table: _prices.PriceTable) -> ProviderRequest:
        """One quantum task: ``sizes`` = executables per program (a plain program: [1])."""
        is_set = action["braketSchemaHeader"]["name"] == PROGRAM_SET_HEADER["name"]
        n_exec = int(sum(sizes))
        est = _prices.estimate(self.arn, n_exec, shots, program_sets=is_set, prices=table)
        payload: dict[str, Any] = {
            "action": json.dumps(action, sort_keys=True),
            "shots": shots * n_exec if is_set else shots,
            "shots_per_executable": shots,
            "program_sizes": list(sizes),
            "program_set": is_set,
        }
        if self.device_parameters:
            payload["deviceParameters"] = json.dumps(self.device_parameters, sort_keys=True)
        return ProviderRequest(payload, tuple(keys), shots, est.usd)

    def pack(self, compiled: Sequence[Any], config: Any) -> list[ProviderRequest]:
        """Compiled tasks (OpenQASM programs with ``input float`` parameters) -> quantum tasks:
        one per circuit execution, or program sets of up to 100 (``program_sets=True``)."""
        shots = int(config.shots)
        table = self._check_shots(shots)
        execs: list[tuple[tuple[int, int], str, dict[str, float]]] = []
        for ci, c in enumerate(compiled):
            for row in range(c.task.batch_size):
                src, inputs = self._program_source(c, row)
                execs.append(((ci, row), src, inputs))
        size = table.program_set_max_executables if self.program_sets else 1
        out = []
        for start in range(0, len(execs), size):
            chunk = execs[start:start + size]
            if not self.program_sets:
                (key, src, inputs), = chunk
                action = {"braketSchemaHeader": PROGRAM_HEADER, "source": src, "inputs": inputs}
                out.append(self._request(action, [1], shots, [key], table))
                continue
            # Consecutive bindings of one parametric source share a program (inputs as lists):
            # results come back per program, then per input index, i.e. in executable order.
            programs: list[dict[str, Any]] = []
            sizes: list[int] = []
            for _, src, inputs in chunk:
                last = programs[-1] if programs else None
                if last is not None and inputs and last["source"] == src and set(last["inputs"]) == set(inputs):
                    for k, v in inputs.items():
                        last["inputs"][k].append(v)
                    sizes[-1] += 1
                else:
                    programs.append({"braketSchemaHeader": PROGRAM_HEADER, "source": src,
                                     "inputs": {k: [v] for k, v in inputs.items()}})
                    sizes.append(1)
            action = {"braketSchemaHeader": PROGRAM_SET_HEADER, "programs": programs}
            out.append(self._request(action, sizes, shots, [k for k, *_ in chunk], table))
        return out

    def pack_programs(self, programs: Sequence[Any], shots: int) -> list[ProviderRequest]:
        """The adapter's own programs (``braket.ir.openqasm.Program`` or a program set, SDK or IR
        object) -> one quantum task each; executables are numbered (i, 0) in order."""
        table = self._check_shots(shots)
        out, k = [], 0
        for p in programs:
            ir = p.to_ir() if hasattr(p, "to_ir") else p
            action = json.loads(ir.json())
            if action["braketSchemaHeader"]["name"] == PROGRAM_SET_HEADER["name"]:
                sizes = [_program_size(prog) for prog in action["programs"]]
            else:
                sizes = [1]
            keys = [(k + i, 0) for i in range(sum(sizes))]
            k += sum(sizes)
            out.append(self._request(action, sizes, shots, keys, table))
        return out

    # -- network ------------------------------------------------------------------------------
    def submit(self, payload: Mapping[str, Any], client_token: str) -> str:
        from botocore.exceptions import ClientError

        params = {
            "clientToken": client_token,
            "deviceArn": self.arn,
            "shots": int(payload["shots"]),
            "outputS3Bucket": self._bucket(),
            "outputS3KeyPrefix": self.s3_prefix,
            "action": payload["action"],
            "tags": {TOKEN_TAG: client_token},
        }
        if payload.get("deviceParameters"):
            params["deviceParameters"] = payload["deviceParameters"]
        from botocore.exceptions import NoCredentialsError

        try:
            return self.braket.create_quantum_task(**params)["quantumTaskArn"]
        except NoCredentialsError as exc:  # signing failed: the request never left
            raise RejectedError(f"no AWS credentials: {exc}; nothing was sent") from exc
        except ClientError as exc:
            if self.retryable(exc):
                raise
            err = exc.response.get("Error", {})
            raise RejectedError(
                f"Braket refused the task ({err.get('Code')}: {err.get('Message')}); nothing was created",
                code=err.get("Code"),
            ) from exc

    def find(self, client_token: str, sent_at: float | None) -> str | None:
        kwargs: dict[str, Any] = {
            "filters": [{"name": "deviceArn", "operator": "EQUAL", "values": [self.arn]}],
            "maxResults": 100,
        }
        for _ in range(self._search_pages):
            resp = self.braket.search_quantum_tasks(**kwargs)
            for t in resp.get("quantumTasks", []):
                if (t.get("tags") or {}).get(TOKEN_TAG) == client_token:
                    self._locations[t["quantumTaskArn"]] = (t["outputS3Bucket"], t["outputS3Directory"])
                    return t["quantumTaskArn"]
            if not resp.get("nextToken"):
                return None
            kwargs["nextToken"] = resp["nextToken"]
        return None  # not in the newest pages: re-sending with the same token is still idempotent

    def state(self, provider_id: str) -> tuple[str, str | None]:
        resp = self.braket.get_quantum_task(quantumTaskArn=provider_id)
        self._locations[provider_id] = (resp["outputS3Bucket"], resp["outputS3Directory"])
        return _STATES.get(resp["status"], TaskState.QUEUED), resp.get("failureReason")

    def _get_json(self, bucket: str, key: str) -> dict[str, Any]:
        body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return json.loads(body)

    def fetch(self, provider_id: str, payload: Mapping[str, Any]) -> tuple[list[dict[str, int]], float | None]:
        if provider_id not in self._locations:
            self.state(provider_id)
        bucket, directory = self._locations[provider_id]
        data = self._get_json(bucket, f"{directory}/results.json")
        shots = int(payload["shots_per_executable"])
        expected = int(sum(payload.get("program_sizes") or [1]))
        name = (data.get("braketSchemaHeader") or {}).get("name", "")
        if name == "braket.task_result.gate_model_task_result":
            return [counts_from_result(data, shots, self.layout)], None
        if name != "braket.task_result.program_set_task_result":
            raise JobError(f"unexpected Braket result type {name!r} for {provider_id}")
        loc_bucket, loc_prefix = data.get("s3Location") or (bucket, directory)
        out: list[dict[str, int]] = []
        for prog in data["programResults"]:
            if isinstance(prog, str):
                prog = self._get_json(loc_bucket, f"{loc_prefix}/{prog}")
            execs = [self._get_json(loc_bucket, f"{loc_prefix}/{e}") if isinstance(e, str) else e
                     for e in prog["executableResults"]]
            for e in sorted(execs, key=lambda e: e.get("inputsIndex", 0)):
                if "failureMetadata" in e or (e.get("braketSchemaHeader") or {}).get("name", "").endswith("failure"):
                    raise JobError(f"an executable of program set {provider_id} failed: {e}")
                out.append(counts_from_result(e, shots, self.layout))
        if len(out) != expected:
            raise JobError(f"program set {provider_id} returned {len(out)} results for {expected} circuits")
        return out, None

    def cancel(self, provider_id: str) -> bool:
        resp = self.braket.cancel_quantum_task(quantumTaskArn=provider_id, clientToken=str(uuid.uuid4()))
        return resp.get("cancellationStatus") in ("CANCELLING", "CANCELLED")


def _program_size(program: Mapping[str, Any]) -> int:
    inputs = program.get("inputs") or {}
    return len(next(iter(inputs.values()))) if inputs else 1


# -- the seam of the braket.device backend --------------------------------------------------------

@dataclass(frozen=True)
class CountedResult:
    """One execution's counts as the job store holds them, read by the adapter without being
    expanded back into shots: keys are bitstrings over ``measured_qubits`` in that order."""

    counts: Mapping[str, int]
    measured_qubits: list[int]  # the labels the program used (physical with a layout)


@dataclass(frozen=True)
class ProgramEntry:
    entries: list[CountedResult]


@dataclass(frozen=True)
class ProgramSetResult:
    entries: list[ProgramEntry]


def _counted(counts: Mapping[str, int], layout: Sequence[int] | None) -> CountedResult:
    n = len(next(iter(counts))) if counts else 0
    labels = list(layout[:n]) if layout is not None else list(range(n))
    return CountedResult(dict(counts), labels)


def transport_for(backend: Any, **overrides: Any) -> BraketTransport:
    """The transport of a ``braket.device`` backend: its ARN, layout, and the boto3 clients of its
    ``aws_session`` option when one was given (otherwise boto3's own credential chain)."""
    opts = dict(getattr(backend, "options", {}) or {})
    session = getattr(backend, "_aws_session", None) or opts.get("aws_session")
    clients: dict[str, Any] = {}
    if session is not None:
        if getattr(session, "braket_client", None) is not None:
            clients["braket_client"] = session.braket_client
        if getattr(session, "s3_client", None) is not None:
            clients["s3_client"] = session.s3_client
    layout = getattr(backend, "_layout", None)
    kw = {k: opts[k] for k in ("s3_bucket", "s3_prefix", "profile", "prices") if opts.get(k) is not None}
    kw.update(overrides)
    return BraketTransport(backend.arn, layout=layout, **clients, **kw)


def submit_via_store(backend: Any, programs: Sequence[Any], shots: int, config: Any = None, **kwargs: Any) -> list[Any]:
    """``braket.device``'s submission: record, check the budget, send, wait, return results.

    ``programs``: Braket ``Program``/``ProgramSet`` objects, one quantum task each. Returns one
    result per program in the adapter's shape (a program set's result has ``entries`` per program,
    each with ``entries`` per execution). The run's settings come from ``config`` (the backend
    passes the run's own down): ``max_cost``/``max_shots``/``total_cap`` (budget), ``store`` (job
    store path), ``timeout`` (seconds; a timeout cancels nothing, the job can be collected later).
    """
    from qbridge.jobs import submit_requests

    if not shots:
        raise ValidationError(
            f"{backend.arn}: qbridge sends cloud runs with shots only (every paid task is recorded in the job "
            "store with its counts); give shots", backend=getattr(backend, "backend_name", "braket.device"),
        )
    transport = kwargs.pop("transport", None) or transport_for(backend)
    requests = transport.pack_programs(programs, int(shots))
    n_exec = sum(len(r.executables) for r in requests)
    from qbridge.runtime.options import RunSettings
    from qbridge.jobs import Budget

    settings = config.settings if config is not None else RunSettings()
    job = submit_requests(
        transport, requests, layout=[{"num_qubits": None, "batch": 1}] * n_exec, shots=int(shots),
        backend=getattr(backend, "backend_name", "braket.device"), store=settings.cloud.store,
        budget=Budget.from_options(settings.budget), **kwargs,
    )
    res = job.result(timeout=settings.cloud.timeout)
    counts = [tr.get_counts(0) for tr in res.tasks]
    out: list[Any] = []
    k = 0
    for r in requests:
        sizes = r.payload["program_sizes"]
        if r.payload["program_set"]:
            entries = []
            for size in sizes:
                entries.append(ProgramEntry([_counted(counts[k + i], transport.layout) for i in range(size)]))
                k += size
            out.append(ProgramSetResult(entries))
        else:
            out.append(_counted(counts[k], transport.layout))
            k += 1
    return out


def cost_model(**kwargs: Any):
    """Re-exported so that ``qbridge.jobs.estimate_cost`` finds Braket's model here too."""
    return _prices.cost_model(**kwargs)
