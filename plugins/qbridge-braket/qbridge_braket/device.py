"""``braket.device``: an Amazon Braket QPU or managed simulator (``AwsDevice``), by ARN.

Owns: connecting (bounded, typed failures), the device's capabilities (live, or qbridge's dated
offline snapshot), the layout option, and sending through the job store
(:func:`qbridge_braket.cloud.submit_via_store`: recorded before sent, budget-checked, resumable).
"""

from __future__ import annotations

import importlib.util
import threading
import warnings
from typing import Any, Sequence

from qbridge.backends.base import CompiledTask, RunConfig, Task, TaskResult
from qbridge.exceptions import BackendUnavailableError, QBridgeError, ValidationError

from .base import BraketBackendBase, _sdk_availability
from .capabilities import describe, make_target, parse_properties

__all__ = ["BraketDeviceBackend"]


# -- cloud devices ----------------------------------------------------------------------------------

def _region_of(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] or None if len(parts) > 3 else None


def _connect(arn: str, aws_session: Any, timeout: float, backend: str):
    """``AwsDevice(arn)`` with bounded waiting; every failure is BackendUnavailableError."""
    try:
        import boto3
        from botocore.config import Config
        from braket.aws import AwsDevice, AwsSession
    except Exception as exc:
        raise BackendUnavailableError(f"the Braket AWS client failed to import: {type(exc).__name__}: {exc}",
                                      backend=backend) from exc
    if aws_session is None:
        region = _region_of(arn)
        boto_session = boto3.Session(region_name=region) if region else boto3.Session()
        if boto_session.get_credentials() is None:
            raise BackendUnavailableError(
                "no AWS credentials found (environment variables, ~/.aws/credentials, AWS_PROFILE or an instance "
                "role); configure them, or pass properties=<device capabilities> to compile offline",
                backend=backend,
            )
        config = Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 2, "mode": "standard"})
        aws_session = AwsSession(boto_session=boto_session, config=config)
    box: dict[str, Any] = {}

    def work():
        try:
            box["device"] = AwsDevice(arn, aws_session=aws_session)
        except Exception as exc:  # reported to the caller below, typed
            box["error"] = exc

    worker = threading.Thread(target=work, name="qbridge-braket-connect", daemon=True)
    worker.start()
    # AwsDevice may try several regions; bound the whole look-up, not each request
    worker.join(timeout * 3)
    if worker.is_alive():
        raise BackendUnavailableError(f"no answer from AWS about {arn} within {timeout * 3:g} s; check the network",
                                      backend=backend)
    if "error" in box:
        exc = box["error"]
        raise BackendUnavailableError(f"cannot reach the Braket device {arn}: {type(exc).__name__}: {exc}",
                                      backend=backend) from exc
    return box["device"]


class BraketDeviceBackend(BraketBackendBase):
    name = "braket.device"
    description = "An Amazon Braket device (QPU or managed simulator) chosen by the option arn=..."

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        ok, why = _sdk_availability()
        if not ok:
            return ok, why
        if importlib.util.find_spec("boto3") is None:
            return False, "boto3 is not installed: pip install boto3"
        return True, ""

    @classmethod
    def credentials(cls) -> tuple[bool, str]:
        """(configured, where or how to configure): the environment and AWS's shared files only."""
        from .snapshots import aws_credentials

        return aws_credentials()

    def __init__(
        self,
        *,
        name: str | None = None,
        arn: str | None = None,
        properties: Any = None,
        layout: Sequence[int] | bool | None = None,
        aws_session: Any = None,
        connect_timeout: float = 10.0,
        s3_bucket: str | None = None,
        s3_prefix: str | None = None,
        source: str = "auto",
        **options: Any,
    ) -> None:
        if options:
            raise TypeError(
                f"unknown option(s) for braket.device: {sorted(options)}; it accepts 'arn', 'properties', 'source', "
                "'layout', 'aws_session', 'connect_timeout', 's3_bucket', 's3_prefix'"
            )
        if source not in ("auto", "live", "snapshot"):
            raise ValueError(f"source must be 'auto', 'live' or 'snapshot', got {source!r}")
        if not isinstance(arn, str) or not arn.startswith("arn:aws:braket:"):
            raise ValueError(
                "braket.device needs the device's ARN: get_backend('braket.device', "
                f"arn='arn:aws:braket:us-east-1::device/qpu/ionq/Forte-1'), got {arn!r}"
            )
        # where results land in S3 (qbridge.jobs; default: the SDK's amazon-braket-<region>-<account>)
        s3 = {k: v for k, v in (("s3_bucket", s3_bucket), ("s3_prefix", s3_prefix)) if v is not None}
        super().__init__(name=name, arn=arn, **s3)
        self.arn = arn
        self._aws_session = aws_session
        self._timeout = float(connect_timeout)
        self._aws_device = None
        self.device_source: dict[str, Any] = {"source": "given", "note": "capabilities passed as properties="}
        if properties is None:
            properties = self._capabilities(arn, aws_session, source)
        self.properties = parse_properties(properties)
        try:
            self._limits = describe(self.properties)
        except QBridgeError as exc:
            raise BackendUnavailableError(f"{arn}: {exc.message}", backend=self._name) from exc
        if self.device_source["source"] == "live":
            self._compare_with_snapshot()
        if layout is True:
            from .capabilities import default_layout

            layout = default_layout(self._limits)
        self._layout = tuple(int(q) for q in layout) if layout else None
        # cloud runs go through qbridge.jobs with shots only (every paid task is recorded with its
        # counts, see qbridge_braket.cloud), so even a managed simulator is declared sampling-only
        self._target = make_target(self._limits, layout=self._layout, exact=False)

    def _capabilities(self, arn: str, aws_session: Any, source: str) -> Any:
        """Live capabilities (credentials configured, or ``source="live"``), else the snapshot."""
        from .snapshots import aws_credentials, load_snapshots, snapshot_for

        snap = snapshot_for(arn)
        configured, how = (True, "an aws_session was given") if aws_session is not None else aws_credentials()
        if source == "live" or (source == "auto" and configured):
            self._aws_device = _connect(arn, aws_session, self._timeout, self._name)
            self.device_source = {"source": "live", "credentials": how}
            return self._aws_device.properties
        if snap is None:
            known = ", ".join(s.key for s in load_snapshots())
            raise BackendUnavailableError(
                f"{arn}: {how}; qbridge has no offline snapshot of this device (snapshots: {known}). Configure "
                "credentials, or pass properties=<device capabilities JSON> to compile offline",
                backend=self._name,
            )
        self.device_source = {**snap.describe_source(), "credentials": how if not configured else
                              f"{how} (not used: source='snapshot')",
                              "note": f"compiled against qbridge's offline snapshot of {snap.name} dated {snap.as_of}, "
                                      "not the device's live capabilities"}
        return snap.properties

    def _compare_with_snapshot(self) -> None:
        """Live properties win; a difference from the shipped snapshot is reported (warning and
        ``device_source["differences"]``), so a stale snapshot is noticed."""
        from .snapshots import differences, snapshot_for

        snap = snapshot_for(self.arn)
        if snap is None:
            self.device_source["differences"] = None
            self.device_source["snapshot_as_of"] = None
            return
        diff = differences(snap.limits, self._limits)
        self.device_source.update({"snapshot_as_of": snap.as_of, "differences": diff})
        if diff:
            warnings.warn(f"{self.arn}: the live capabilities differ from qbridge's snapshot of {snap.as_of} "
                          f"(live ones are used): {'; '.join(diff)}", UserWarning, stacklevel=3)

    def _device_label(self) -> str:
        return self.arn

    def validate(self, task: Task, config: RunConfig) -> None:
        super().validate(task, config)
        if config.shots is not None and config.seed is not None:
            raise ValidationError(
                f"{self.arn} cannot be seeded (Braket devices sample on their own); drop seed",
                backend=self._name,
            )

    # -- cloud submission through qbridge.jobs (job store, budget, retries, resume) -------------
    def _execute(self, tasks: Sequence[CompiledTask], config: RunConfig) -> list[TaskResult]:
        if self.device_source.get("source") == "snapshot":
            # planned against the offline snapshot: never sent as such (no boto3 credential look-up
            # either, which could wait on the instance metadata service)
            raise BackendUnavailableError(
                f"{self.arn}: this backend was made from qbridge's offline snapshot of {self.device_source.get('snapshot_as_of')} "
                f"({self.device_source.get('credentials')}); it plans and prices runs (--dry-run), it sends nothing. "
                "With credentials configured, create it again to use the live capabilities. Nothing was sent",
                backend=self._name,
            )
        return super()._execute(tasks, config)

    def submit(self, programs: Sequence[Any], shots: int, *, seed: int | None = None,
               config: RunConfig | None = None) -> list[Any]:
        if seed is not None:
            raise ValidationError(f"{self.arn} cannot be seeded; drop seed", backend=self._name)
        from .cloud import submit_via_store, transport_for

        # every task is recorded before it is sent (idempotent client token), checked against the
        # budget, retried on throttling, and its result cached: see qbridge_braket.cloud
        if config is not None and "native" in config.mitigation:  # mitigation="native": the device's scheme
            params = self.native_mitigation()["device_parameters"]
            return submit_via_store(self, programs, shots, config,
                                    transport=transport_for(self, device_parameters=params))
        return submit_via_store(self, programs, shots, config)

    def native_mitigation(self) -> dict[str, Any]:
        """The device's own error mitigation (the protocol of qbridge.mitigation.native): IonQ
        debiasing where the capabilities list it; ValidationError on other devices."""
        provider = getattr(self.properties, "provider", None)
        schemes = dict(getattr(provider, "errorMitigation", None) or {})
        for scheme, props in schemes.items():
            if getattr(scheme, "__name__", str(scheme)).rsplit(".", 1)[-1] == "Debias":
                import json

                from braket.device_schema import GateModelParameters
                from braket.device_schema.error_mitigation.debias import Debias
                from braket.device_schema.ionq import IonqDeviceParameters

                # the document the SDK sends for AwsDevice.run(..., device_parameters={"errorMitigation": Debias()})
                doc = IonqDeviceParameters(paradigmParameters=GateModelParameters(qubitCount=0),  # unused for OpenQASM
                                           errorMitigation=[Debias()]).json(exclude_none=True)
                return {"service": "Amazon Braket", "scheme": "debias", "effective": True,
                        "minimum_shots": getattr(props, "minimumShots", None), "device_parameters": json.loads(doc)}
        raise ValidationError(
            f"{self.arn} lists no error-mitigation scheme (Braket offers debiasing on IonQ devices); use "
            "mitigation='readout', 'zne' or 'twirl', which run on every backend",
            backend=self._name,
        )
