"""Capabilities documents of two made-up cloud devices, written against Braket's device schema.

Shapes follow ``braket.device_schema`` (IonQ-like: fully connected, shots from 1 to 5000,
sampling only; IQM-like: qubits labelled from 1 on a line, program sets). Values are invented
for tests: they are not any real device's calibration or price.
"""

from __future__ import annotations

import copy

_SERVICE = {
    "braketSchemaHeader": {"name": "braket.device_schema.device_service_properties", "version": "1"},
    "executionWindows": [{"executionDay": "Everyday", "windowStartHour": "00:00", "windowEndHour": "23:59"}],
    "shotsRange": [1, 5000],
    "deviceCost": {"price": 0.01, "unit": "shot"},
    "deviceDocumentation": {"imageUrl": "", "summary": "test device", "externalDocumentationUrl": ""},
    "deviceLocation": "nowhere",
    "updatedAt": "2024-01-01T00:00:00",
}

_RESULTS = [
    {"name": "Sample", "observables": ["x", "y", "z", "h", "i"], "minShots": 1, "maxShots": 5000},
    {"name": "Expectation", "observables": ["x", "y", "z", "h", "i"], "minShots": 1, "maxShots": 5000},
    {"name": "Probability", "minShots": 1, "maxShots": 5000},
]

ION_TRAP = {
    "braketSchemaHeader": {"name": "braket.device_schema.ionq.ionq_device_capabilities", "version": "1"},
    "service": _SERVICE,
    "action": {
        "braket.ir.openqasm.program": {
            "actionType": "braket.ir.openqasm.program",
            "version": ["1"],
            "supportedOperations": ["x", "y", "z", "rx", "ry", "rz", "h", "cnot", "s", "si", "t", "ti", "v", "vi",
                                    "xx", "yy", "zz", "swap"],
            "supportedResultTypes": _RESULTS,
        },
    },
    "paradigm": {
        "braketSchemaHeader": {"name": "braket.device_schema.gate_model_qpu_paradigm_properties", "version": "1"},
        "qubitCount": 11,
        "nativeGateSet": ["gpi", "gpi2", "ms"],
        "connectivity": {"fullyConnected": True, "connectivityGraph": {}},
    },
    "deviceParameters": {},
}

SUPERCONDUCTING = {
    "braketSchemaHeader": {"name": "braket.device_schema.iqm.iqm_device_capabilities", "version": "1"},
    "service": {**_SERVICE, "shotsRange": [1, 20000]},
    "action": {
        "braket.ir.openqasm.program": {
            "actionType": "braket.ir.openqasm.program",
            "version": ["1"],
            "supportedOperations": ["ccnot", "cnot", "cphaseshift", "cz", "h", "i", "phaseshift", "prx", "rx", "ry",
                                    "rz", "s", "si", "swap", "t", "ti", "x", "y", "z"],
            "supportedResultTypes": [dict(r, maxShots=20000) for r in _RESULTS],
        },
        "braket.ir.openqasm.program_set": {
            "actionType": "braket.ir.openqasm.program_set",
            "version": ["1"],
            "maximumExecutables": 4,
            "maximumTotalShots": 2000,
        },
    },
    "paradigm": {
        "braketSchemaHeader": {"name": "braket.device_schema.gate_model_qpu_paradigm_properties", "version": "1"},
        "qubitCount": 6,
        "nativeGateSet": ["cz", "prx"],
        # a line 1-2-3-4-5-6 (labels from 1, as IQM numbers its qubits)
        "connectivity": {"fullyConnected": False,
                         "connectivityGraph": {"1": ["2"], "2": ["3"], "3": ["4"], "4": ["5"], "5": ["6"]}},
    },
    "deviceParameters": {},
}

ION_TRAP_ARN = "arn:aws:braket:us-east-1::device/qpu/test/IonTrap"
SUPERCONDUCTING_ARN = "arn:aws:braket:eu-north-1::device/qpu/test/Line6"


def ion_trap() -> dict:
    return copy.deepcopy(ION_TRAP)


def superconducting() -> dict:
    return copy.deepcopy(SUPERCONDUCTING)
