"""Test support for the cloud job tests: a Braket service played by botocore's Stubber.

The clients are real boto3 ``braket`` and ``s3`` clients, so every request is validated against
the API model botocore ships (Stubber checks parameters; botocore builds the request). Results are
produced by Braket's local simulator (the engine behind ``braket.devices.LocalSimulator``) from
the exact ``action`` that was sent, and served back as the ``results.json`` S3 object.

Also: a Braket-compatible OpenQASM 3 writer for the tests (through the Braket SDK's own circuit
class, an implementation independent of qbridge's), used until/unless the adapter's translator is
available, and a helper that compiles tasks without a device.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

boto3 = pytest.importorskip("boto3")
pytest.importorskip("braket.default_simulator")

from botocore.config import Config  # noqa: E402
from botocore.response import StreamingBody  # noqa: E402
from botocore.stub import ANY, Stubber  # noqa: E402

ARN_GARNET = "arn:aws:braket:eu-north-1::device/qpu/iqm/Garnet"
ARN_FORTE = "arn:aws:braket:us-east-1::device/qpu/ionq/Forte-1"
BUCKET = "amazon-braket-test-bucket"


def braket_qasm(circuit) -> str:
    """OpenQASM 3 for Braket, written by the Braket SDK from a qbridge circuit (h, x, cx, rx, ry, rz)."""
    from braket.circuits import Circuit as BCircuit
    from braket.circuits import FreeParameter
    from braket.circuits.serialization import IRType

    bc = BCircuit()
    for op in circuit.without_measurements():
        params = [FreeParameter(str(p)) if not isinstance(p, (int, float)) else float(p) for p in op.params]
        name = {"cx": "cnot"}.get(op.name, op.name)
        getattr(bc, name)(*op.qubits, *params)
    # measure every qubit, in qubit order, so results cover all qubits q0 first
    for q in range(circuit.num_qubits):
        if q not in bc.qubits:
            bc.i(q)
    return bc.to_ir(IRType.OPENQASM).source


def compile_for_braket(tasks):
    """CompiledTask objects as an adapter would make them (native circuit + OpenQASM program)."""
    from qbridge.backends.base import CompiledTask, as_task

    out = []
    for t in tasks:
        t = as_task(t)
        native = t.circuit.without_measurements()
        out.append(CompiledTask(t, native, braket_qasm(native), tuple(range(native.num_qubits))))
    return out


class _LazyBody:
    """An S3 body computed when read: the simulator runs on the action captured at submission."""

    def __init__(self, make):
        self._make = make
        self._buf = None

    def read(self, amt=None):
        if self._buf is None:
            self._buf = io.BytesIO(self._make())
        return self._buf.read(-1 if amt is None else amt)

    def close(self):
        pass


def simulate_action(action: str, shots: int, seed: int = 7) -> dict[str, Any]:
    """The result Braket would store for ``action``: the local simulator's schema object as JSON.

    The simulator is Braket's state-vector simulator (the one ``LocalSimulator("braket_sv")``
    runs), seeded through the adapter's seeded subclass so that every test is reproducible.
    """
    from braket.ir.openqasm import Program, ProgramSet
    from qbridge_braket._seeded import SeededStateVectorSimulator

    data = json.loads(action)
    if data["braketSchemaHeader"]["name"] == "braket.ir.openqasm.program_set":
        ir = ProgramSet.parse_obj(data)
    else:
        ir = Program.parse_obj(data)
    return json.loads(SeededStateVectorSimulator(seed).run(ir, shots=shots).json())


class FakeBraket:
    """Real boto3 clients under Stubber, with helpers that queue the service's answers."""

    def __init__(self, region: str = "eu-north-1") -> None:
        kw = dict(region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing",
                  config=Config(retries={"max_attempts": 1, "mode": "standard"}))
        self.braket = boto3.client("braket", **kw)
        self.s3 = boto3.client("s3", **kw)
        self.bstub = Stubber(self.braket)
        self.sstub = Stubber(self.s3)
        self.created: list[dict[str, Any]] = []  # every CreateQuantumTask request, as sent
        self.braket.meta.events.register("provide-client-params.braket.CreateQuantumTask", self._capture)
        self.bstub.activate()
        self.sstub.activate()
        self._n = 0

    def _capture(self, params, **_):
        self.created.append(dict(params))

    def clients(self) -> dict[str, Any]:
        return {"braket_client": self.braket, "s3_client": self.s3}

    def new_arn(self, region: str = "eu-north-1") -> str:
        self._n += 1
        return f"arn:aws:braket:{region}:123456789012:quantum-task/0000-{self._n:04d}"

    def expect_create(self, task_arn: str, device_arn: str, shots: int, token: Any = ANY) -> None:
        self.bstub.add_response(
            "create_quantum_task", {"quantumTaskArn": task_arn},
            {"clientToken": token, "deviceArn": device_arn, "shots": shots, "outputS3Bucket": BUCKET,
             "outputS3KeyPrefix": "qbridge-tasks", "action": ANY, "tags": ANY},
        )

    def expect_error(self, operation: str, code: str, status: int = 400, message: str = "boom") -> None:
        self.bstub.add_client_error(operation, service_error_code=code, service_message=message, http_status_code=status)

    def expect_get(self, task_arn: str, device_arn: str, status: str = "COMPLETED", shots: int = 100,
                   reason: str | None = None) -> None:
        resp = {
            "quantumTaskArn": task_arn, "status": status, "deviceArn": device_arn, "deviceParameters": "{}",
            "shots": shots, "outputS3Bucket": BUCKET, "outputS3Directory": f"qbridge-tasks/{task_arn.rsplit('/', 1)[-1]}",
            "createdAt": "2026-01-01T00:00:00Z",
        }
        if reason:
            resp["failureReason"] = reason
        self.bstub.add_response("get_quantum_task", resp, {"quantumTaskArn": task_arn})

    def expect_search(self, device_arn: str, tasks: list[dict[str, Any]]) -> None:
        summaries = [{
            "quantumTaskArn": t["arn"], "status": t.get("status", "QUEUED"), "deviceArn": device_arn, "shots": t.get("shots", 100),
            "outputS3Bucket": BUCKET, "outputS3Directory": f"qbridge-tasks/{t['arn'].rsplit('/', 1)[-1]}",
            "createdAt": "2026-01-01T00:00:00Z", "tags": t.get("tags", {}),
        } for t in tasks]
        self.bstub.add_response(
            "search_quantum_tasks", {"quantumTasks": summaries},
            {"filters": [{"name": "deviceArn", "operator": "EQUAL", "values": [device_arn]}], "maxResults": 100},
        )

    def expect_results(self, task_arn: str, created_index: int = -1, seed: int = 7) -> None:
        """Serve results.json for ``task_arn``, simulated from the create request sent at ``created_index``."""

        def make() -> bytes:
            req = self.created[created_index]
            return json.dumps(simulate_action(req["action"], req["shots"], seed)).encode()

        key = f"qbridge-tasks/{task_arn.rsplit('/', 1)[-1]}/results.json"
        self.sstub.add_response("get_object", {"Body": StreamingBody(_LazyBody(make), None)}, {"Bucket": BUCKET, "Key": key})

    def assert_done(self) -> None:
        self.bstub.assert_no_pending_responses()
        self.sstub.assert_no_pending_responses()


def test_fake_braket_serves_simulated_results():
    """The helper itself: a Bell pair program comes back with only 00 and 11 outcomes."""
    from qbridge import Circuit

    fb = FakeBraket()
    src = braket_qasm(Circuit(2).h(0).cx(0, 1))
    action = json.dumps({"braketSchemaHeader": {"name": "braket.ir.openqasm.program", "version": "1"}, "source": src, "inputs": {}})
    fb.created.append({"action": action, "shots": 200})
    fb.expect_results("arn:aws:braket:eu-north-1:1:quantum-task/x")
    body = fb.s3.get_object(Bucket=BUCKET, Key="qbridge-tasks/x/results.json")["Body"].read()
    res = json.loads(body)
    keys = {"".join(str(int(b)) for b in m) for m in res["measurements"]}
    assert keys <= {"00", "11"} and len(res["measurements"]) == 200
    fb.assert_done()


# A capabilities document in the shape of braket.device_schema (IQM-like: a line of six qubits
# labelled from 1, program sets of at most 10 executables and 50,000 shots). Values are made up
# for the tests; only the prices come from the shipped table.
GARNET_LIKE = {
    "braketSchemaHeader": {"name": "braket.device_schema.iqm.iqm_device_capabilities", "version": "1"},
    "service": {
        "braketSchemaHeader": {"name": "braket.device_schema.device_service_properties", "version": "1"},
        "executionWindows": [{"executionDay": "Everyday", "windowStartHour": "00:00", "windowEndHour": "23:59"}],
        "shotsRange": [1, 20000],
        "deviceDocumentation": {"imageUrl": "", "summary": "test device", "externalDocumentationUrl": ""},
        "deviceLocation": "nowhere",
        "updatedAt": "2024-01-01T00:00:00",
    },
    "action": {
        "braket.ir.openqasm.program": {
            "actionType": "braket.ir.openqasm.program",
            "version": ["1"],
            "supportedOperations": ["cnot", "cz", "h", "i", "rx", "ry", "rz", "s", "si", "x", "y", "z"],
            "supportedResultTypes": [{"name": "Probability", "minShots": 1, "maxShots": 20000},
                                     {"name": "Sample", "observables": ["x", "y", "z", "h", "i"], "minShots": 1, "maxShots": 20000}],
        },
        "braket.ir.openqasm.program_set": {
            "actionType": "braket.ir.openqasm.program_set",
            "version": ["1"],
            "maximumExecutables": 10,
            "maximumTotalShots": 50000,
        },
    },
    "paradigm": {
        "braketSchemaHeader": {"name": "braket.device_schema.gate_model_qpu_paradigm_properties", "version": "1"},
        "qubitCount": 6,
        "nativeGateSet": ["cz", "prx"],
        "connectivity": {"fullyConnected": False,
                         "connectivityGraph": {"1": ["2"], "2": ["3"], "3": ["4"], "4": ["5"], "5": ["6"]}},
    },
    "deviceParameters": {},
}
