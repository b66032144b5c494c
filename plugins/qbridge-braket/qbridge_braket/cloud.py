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
from typing import Any, Callable, Mapping, Sequence

from qbridge.exceptions import JobError
from qbridge.jobs import CloudTransport, ProviderRequest, RejectedError, TaskState

from . import prices as _prices

__all__ = ["BraketTransport", "TOKEN_TAG", "counts_from_result", "program_source"]

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


def _bits(row: Sequence[Any]) -> str:
    return "".join(str(int(b)) for b in row)


def counts_from_result(result: Mapping[str, Any], num_qubits: int, shots: int) -> dict[str, int]:
    """Counts over all ``num_qubits`` (q0 first) from a Braket gate-model result dict."""
    measured = list(result.get("measuredQubits") or range(num_qubits))
    if sorted(measured) != list(range(num_qubits)):
        raise JobError(
            f"Braket measured qubits {measured} but the circuit has {num_qubits}; qbridge programs measure every qubit"
        )
    order = [measured.index(q) for q in range(num_qubits)]
    counts: dict[str, int] = {}
    if result.get("measurements"):
        for shot in result["measurements"]:
            key = "".join(str(int(shot[i])) for i in order)
            counts[key] = counts.get(key, 0) + 1
    elif result.get("measurementProbabilities"):
        for key, p in result["measurementProbabilities"].items():
            k = "".join(key[i] for i in order)
            n = int(round(float(p) * shots))
            if n:
                counts[k] = counts.get(k, 0) + n
    else:
        raise JobError("the Braket result has neither measurements nor probabilities")
    return dict(sorted(counts.items()))


class BraketTransport(CloudTransport):
    """Braket's API for the job store. Clients are created lazily (boto3 imported then)."""

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
        braket_client: Any = None,
        s3_client: Any = None,
        program_source: Callable[[Any, int], tuple[str, dict[str, float]]] = program_source,
        search_pages: int = 10,
    ) -> None:
        if not isinstance(arn, str) or not arn.startswith("arn:aws:braket:"):
            raise ValueError(f"braket.device needs a device ARN (arn:aws:braket:...), got {arn!r}")
        self.arn = arn
        self.s3_bucket = s3_bucket
        self.s3_prefix = s3_prefix.strip("/") or "qbridge-tasks"
        self.region = region or (arn.split(":")[3] or None)
        self.profile = profile
        self.program_sets = bool(program_sets)
        self.device_parameters = dict(device_parameters) if device_parameters else None
        self.prices = prices
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
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], **clients: Any) -> "BraketTransport":
        kw = {k: spec.get(k) for k in ("s3_bucket", "region", "profile", "device_parameters", "prices")}
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
            account = self._session().client("sts", config=self._config()).get_caller_identity()["Account"]
            self.s3_bucket = f"amazon-braket-{self.region or self._session().region_name}-{account}"
        return self.s3_bucket

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
    def pack(self, compiled: Sequence[Any], config: Any) -> list[ProviderRequest]:
        shots = int(config.shots)
        table = _prices.load_prices(self.prices)
        price = table.lookup(self.arn)
        debias = bool((config.options or {}).get("debias")) or bool((self.device_parameters or {}).get("errorMitigation"))
        if price is not None and price.debias_min_shots and debias and shots < price.debias_min_shots:
            raise ValueError(f"IonQ debiasing needs at least {price.debias_min_shots} shots; got {shots}")
        execs: list[tuple[tuple[int, int], str, dict[str, float], int]] = []
        for ci, c in enumerate(compiled):
            for row in range(c.task.batch_size):
                src, inputs = self._program_source(c, row)
                execs.append(((ci, row), src, inputs, c.circuit.num_qubits))
        size = table.program_set_max_executables if self.program_sets else 1
        out = []
        for start in range(0, len(execs), size):
            chunk = execs[start:start + size]
            if self.program_sets:
                # Consecutive bindings of one parametric source share a program (inputs as lists):
                # results come back per program, then per input index, i.e. in executable order.
                programs: list[dict[str, Any]] = []
                for _, src, inputs, _ in chunk:
                    last = programs[-1] if programs else None
                    if last is not None and last["source"] == src and set(last["inputs"]) == set(inputs) and inputs:
                        for k, v in inputs.items():
                            last["inputs"][k].append(v)
                    else:
                        programs.append({"braketSchemaHeader": PROGRAM_HEADER, "source": src,
                                         "inputs": {k: [v] for k, v in inputs.items()}})
                action = {"braketSchemaHeader": PROGRAM_SET_HEADER, "programs": programs}
                task_shots = shots * len(chunk)
            else:
                _, src, inputs, _ = chunk[0]
                action = {"braketSchemaHeader": PROGRAM_HEADER, "source": src, "inputs": inputs}
                task_shots = shots
            est = _prices.estimate(self.arn, len(chunk), shots, program_sets=self.program_sets, prices=table)
            payload = {
                "action": json.dumps(action, sort_keys=True),
                "shots": task_shots,
                "shots_per_executable": shots,
                "num_qubits": [nq for *_, nq in chunk],
                "program_set": self.program_sets,
            }
            if self.device_parameters:
                payload["deviceParameters"] = json.dumps(self.device_parameters, sort_keys=True)
            out.append(ProviderRequest(payload, tuple(e for e, *_ in chunk), shots, est.usd))
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
        try:
            return self.braket.create_quantum_task(**params)["quantumTaskArn"]
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
        status = resp["status"]
        return _STATES.get(status, TaskState.QUEUED), resp.get("failureReason")

    def _get_json(self, bucket: str, key: str) -> dict[str, Any]:
        body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return json.loads(body)

    def fetch(self, provider_id: str, payload: Mapping[str, Any]) -> tuple[list[dict[str, int]], float | None]:
        if provider_id not in self._locations:
            self.state(provider_id)
        bucket, directory = self._locations[provider_id]
        data = self._get_json(bucket, f"{directory}/results.json")
        nqs = list(payload["num_qubits"])
        shots = int(payload["shots_per_executable"])
        name = (data.get("braketSchemaHeader") or {}).get("name", "")
        if name == "braket.task_result.gate_model_task_result":
            return [counts_from_result(data, nqs[0], shots)], None
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
                out.append(counts_from_result(e, nqs[len(out)], shots))
        if len(out) != len(nqs):
            raise JobError(f"program set {provider_id} returned {len(out)} results for {len(nqs)} circuits")
        return out, None

    def cancel(self, provider_id: str) -> bool:
        resp = self.braket.cancel_quantum_task(quantumTaskArn=provider_id, clientToken=str(uuid.uuid4()))
        return resp.get("cancellationStatus") in ("CANCELLING", "CANCELLED")


def cost_model(**kwargs: Any):
    """Re-exported so that ``qbridge.jobs.estimate_cost`` finds Braket's model here too."""
    return _prices.cost_model(**kwargs)
