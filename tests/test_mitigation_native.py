"""Native mitigation passed through: IonQ debiasing on braket.device (the CreateQuantumTask request
carries it, checked against Braket's API model by botocore's Stubber, offline), refused on a
device that lists no scheme and on backends without native mitigation; ibm.fake is covered in
test_mitigation_pipeline (local testing mode: requested, reported as having no effect)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from test_jobs_support import BUCKET, FakeBraket, GARNET_LIKE

pytest.importorskip("qbridge_braket.cloud")

import qbridge  # noqa: E402
from qbridge import Circuit, RunConfig  # noqa: E402
from qbridge.backends.base import Task  # noqa: E402
from qbridge.exceptions import ValidationError  # noqa: E402
from qbridge.mitigation import native_mitigation  # noqa: E402

ARN = "arn:aws:braket:us-east-1::device/qpu/ionq/Forte-1"

ION_WITH_DEBIAS = {
    "braketSchemaHeader": {"name": "braket.device_schema.ionq.ionq_device_capabilities", "version": "1"},
    "service": {**GARNET_LIKE["service"], "shotsRange": [1, 10000]},
    "action": {
        "braket.ir.openqasm.program": {
            "actionType": "braket.ir.openqasm.program",
            "version": ["1"],
            "supportedOperations": ["x", "y", "z", "rx", "ry", "rz", "h", "cnot", "s", "si", "t", "ti", "swap"],
            "supportedResultTypes": [{"name": "Sample", "observables": ["x", "y", "z", "h", "i"],
                                      "minShots": 1, "maxShots": 10000},
                                     {"name": "Probability", "minShots": 1, "maxShots": 10000}],
        },
    },
    "paradigm": {
        "braketSchemaHeader": {"name": "braket.device_schema.gate_model_qpu_paradigm_properties", "version": "1"},
        "qubitCount": 11,
        "nativeGateSet": ["gpi", "gpi2", "ms"],
        "connectivity": {"fullyConnected": True, "connectivityGraph": {}},
    },
    "provider": {
        "braketSchemaHeader": {"name": "braket.device_schema.ionq.ionq_provider_properties", "version": "1"},
        "fidelity": {"1Q": {"mean": 0.998}, "2Q": {"mean": 0.97}, "spam": {"mean": 0.99}},
        "timing": {"T1": 1e10, "T2": 5e5, "1Q": 1.1e-5, "2Q": 2.1e-4, "readout": 1.75e-4, "reset": 3.5e-5},
        "errorMitigation": {"braket.device_schema.error_mitigation.debias.Debias": {"minimumShots": 2500}},
    },
    "deviceParameters": {},
}


def _device(fb, properties):
    import types

    session = types.SimpleNamespace(braket_client=fb.braket, s3_client=fb.s3)
    return qbridge.get_backend("braket.device", arn=ARN, properties=json.dumps(properties), aws_session=session,
                               s3_bucket=BUCKET)


def test_debiasing_goes_into_the_request_and_the_metadata(tmp_path):
    from botocore.stub import ANY

    fb = FakeBraket(region="us-east-1")
    be = _device(fb, ION_WITH_DEBIAS)
    info = native_mitigation(be)
    assert info["scheme"] == "debias" and info["minimum_shots"] == 2500
    shots = 2500
    task_arn = fb.new_arn("us-east-1")
    fb.bstub.add_response(
        "create_quantum_task", {"quantumTaskArn": task_arn},
        {"clientToken": ANY, "deviceArn": ARN, "shots": shots, "outputS3Bucket": BUCKET,
         "outputS3KeyPrefix": "qbridge-tasks", "action": ANY, "tags": ANY, "deviceParameters": ANY},
    )
    fb.expect_get(task_arn, ARN, "COMPLETED", shots)
    fb.expect_results(task_arn)
    task = Task(Circuit(2).h(0).cx(0, 1).measure_all())
    res = be.run(task, RunConfig(shots=shots, mitigation="native", options={"store": str(tmp_path / "j.db")})).result()
    (sent,) = fb.created
    params = json.loads(sent["deviceParameters"])
    assert params["errorMitigation"] == [{"type": "braket.device_schema.error_mitigation.debias.Debias"}]
    # the same document the Braket SDK builds for device_parameters={"errorMitigation": Debias()}
    from braket.aws.aws_quantum_task import _circuit_device_params_from_dict
    from braket.device_schema import GateModelParameters
    from braket.error_mitigation import Debias

    sdk = _circuit_device_params_from_dict({"errorMitigation": Debias()}, ARN, GateModelParameters(qubitCount=0))
    assert params == json.loads(sdk.json(exclude_none=True))
    assert set(res[0].get_counts(0)) <= {"00", "11"}
    meta = res[0].metadata["mitigation"]
    assert meta["techniques"] == ["native"] and meta["native"]["reported"]["scheme"] == "debias"
    fb.assert_done()


def test_a_device_without_a_scheme_and_a_local_simulator_are_refused():
    fb = FakeBraket(region="us-east-1")
    plain = {k: v for k, v in ION_WITH_DEBIAS.items() if k != "provider"}
    be = _device(fb, plain)
    with pytest.raises(ValidationError, match="lists no error-mitigation scheme"):
        be.run(Task(Circuit(1).h(0), None, {}, ("Z",)), RunConfig(shots=100, mitigation="native"))
    assert fb.created == []  # refused before anything was sent
    for name in ("braket.dm", "aer", "torch"):
        with pytest.raises(ValidationError, match="offers no native error mitigation"):
            native_mitigation(qbridge.get_backend(name))
    # ibm devices describe what they would ask for
    ibm = qbridge.get_backend("ibm.fake")
    info = native_mitigation(ibm)
    assert info["effective"] is False and set(info["sampler_options"]) == {"twirling", "dynamical_decoupling"}
    np.testing.assert_equal(info["sampler_options"]["dynamical_decoupling"], {"enable": True})
