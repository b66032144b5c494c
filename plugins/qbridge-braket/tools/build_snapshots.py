"""Write the offline device snapshots of qbridge-braket (``qbridge_braket/device_snapshots/*.json``).

Owns: the facts each snapshot holds and where they come from. Every capabilities document is
built through the Braket SDK's own schema classes (``braket.device_schema``: IonQ, IQM and
Rigetti capabilities), so a document that the SDK would reject cannot be written; the adapter
validates it again when it loads it. Must not touch the network: nothing here is downloaded.

These are not ``GetDevice`` answers. They were compiled on ``AS_OF`` from the devices' public
descriptions (qubit counts, native gates, topology); shot ranges are qbridge's conservative
assumption, and no program-set action is listed (one quantum task per execution, which makes
estimates err high). With AWS credentials the adapter reads the live capabilities instead and
reports every difference from the snapshot.

Run from the repository root: ``python plugins/qbridge-braket/tools/build_snapshots.py``
(``--check`` exits 1 when the shipped files differ from what this script writes).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

AS_OF = "2026-12-04"
OUT = Path(__file__).resolve().parents[1] / "qbridge_braket" / "device_snapshots"

_RESULTS_SAMPLING = ("Sample", "Expectation", "Variance", "Probability")
_IONQ_OPS = ["x", "y", "z", "rx", "ry", "rz", "h", "cnot", "s", "si", "t", "ti", "v", "vi", "xx", "yy", "zz", "swap"]
_IQM_OPS = ["ccnot", "cnot", "cphaseshift", "cz", "h", "i", "phaseshift", "prx", "rx", "ry", "rz", "s", "si", "swap",
            "t", "ti", "x", "y", "z"]
_RIGETTI_OPS = ["cz", "xy", "ccnot", "cnot", "cphaseshift", "cphaseshift00", "cphaseshift01", "cphaseshift10", "cswap",
                "h", "i", "iswap", "phaseshift", "pswap", "rx", "ry", "rz", "s", "si", "swap", "t", "ti", "x", "y", "z"]

# IQM Garnet: 20 qubits labelled 1..20 on IQM's square-lattice ("crystal") chip, 30 couplers.
_GARNET_EDGES = [(1, 2), (1, 4), (2, 5), (3, 4), (3, 8), (4, 5), (4, 9), (5, 6), (5, 10), (6, 7), (6, 11), (7, 12),
                 (8, 9), (8, 13), (9, 10), (9, 14), (10, 11), (10, 15), (11, 12), (11, 16), (12, 17), (13, 14),
                 (14, 15), (14, 18), (15, 16), (15, 19), (16, 17), (16, 20), (18, 19), (19, 20)]


def _lattice(rows: int, cols: int) -> list[tuple[int, int]]:
    """Nearest neighbours on a rows x cols square lattice, qubit r * cols + c."""
    edges = []
    for r in range(rows):
        for c in range(cols):
            q = r * cols + c
            if c + 1 < cols:
                edges.append((q, q + 1))
            if r + 1 < rows:
                edges.append((q, q + cols))
    return edges


def _graph(edges) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for a, b in edges:
        out.setdefault(str(a), []).append(str(b))
    return out


DEVICES = [
    {
        "file": "ionq-forte-1.json", "arn": "arn:aws:braket:us-east-1::device/qpu/ionq/Forte-1",
        "name": "IonQ Forte-1", "vendor": "IonQ", "schema": "ionq", "qubits": 36, "native": ["gpi", "gpi2", "zz"],
        "ops": _IONQ_OPS, "shots": (1, 5000), "edges": None, "location": "us-east-1",
        "status": "listed as current in amazon-braket-sdk 1.127 (braket.devices.Devices.IonQ.Forte1)",
    },
    {
        "file": "ionq-forte-enterprise-1.json", "arn": "arn:aws:braket:us-east-1::device/qpu/ionq/Forte-Enterprise-1",
        "name": "IonQ Forte-Enterprise-1", "vendor": "IonQ", "schema": "ionq", "qubits": 36,
        "native": ["gpi", "gpi2", "zz"], "ops": _IONQ_OPS, "shots": (1, 5000), "edges": None, "location": "us-east-1",
        "status": "listed as current in amazon-braket-sdk 1.127 (braket.devices.Devices.IonQ.ForteEnterprise1)",
    },
    {
        "file": "ionq-aria-1.json", "arn": "arn:aws:braket:us-east-1::device/qpu/ionq/Aria-1",
        "name": "IonQ Aria-1", "vendor": "IonQ", "schema": "ionq", "qubits": 25, "native": ["gpi", "gpi2", "ms"],
        "ops": _IONQ_OPS, "shots": (1, 5000), "edges": None, "location": "us-east-1",
        "status": "marked retired in amazon-braket-sdk 1.127 (Devices.IonQ._Aria1); kept because the price table prices it",
    },
    {
        "file": "iqm-garnet.json", "arn": "arn:aws:braket:eu-north-1::device/qpu/iqm/Garnet",
        "name": "IQM Garnet", "vendor": "IQM", "schema": "iqm", "qubits": 20, "native": ["cz", "prx"],
        "ops": _IQM_OPS, "shots": (1, 20000), "edges": _GARNET_EDGES, "location": "eu-north-1",
        "status": "listed as current in amazon-braket-sdk 1.127 (braket.devices.Devices.IQM.Garnet)",
        "topology": "IQM's 20-qubit square-lattice layout, qubits labelled 1..20, 30 couplers",
    },
    {
        "file": "rigetti-ankaa-3.json", "arn": "arn:aws:braket:us-west-1::device/qpu/rigetti/Ankaa-3",
        "name": "Rigetti Ankaa-3", "vendor": "Rigetti", "schema": "rigetti", "qubits": 84, "native": ["rx", "rz", "iswap"],
        "ops": _RIGETTI_OPS, "shots": (1, 50000), "edges": _lattice(7, 12), "location": "us-west-1",
        "status": "marked retired in amazon-braket-sdk 1.127 (Devices.Rigetti._Ankaa3); kept because the price table prices it",
        "topology": "the nominal 7 x 12 square lattice (qubit r * 12 + c); the live device leaves out couplers that are "
                    "out of service, which live properties show",
    },
]


def capabilities(d: dict) -> dict:
    """The capabilities document of one device, built and validated by the SDK's schema class."""
    from braket.device_schema import DeviceServiceProperties, GateModelQpuParadigmProperties
    from braket.device_schema.device_connectivity import DeviceConnectivity
    from braket.device_schema.openqasm_device_action_properties import OpenQASMDeviceActionProperties
    from braket.device_schema.result_type import ResultType

    lo, hi = d["shots"]
    results = [ResultType(name=n, observables=None if n == "Probability" else ["x", "y", "z", "h", "i"],
                          minShots=lo, maxShots=hi) for n in _RESULTS_SAMPLING]
    action = {"braket.ir.openqasm.program": OpenQASMDeviceActionProperties(
        actionType="braket.ir.openqasm.program", version=["1"], supportedOperations=list(d["ops"]),
        supportedPragmas=["braket_verbatim"], supportedResultTypes=results,
        supportPhysicalQubits=d["edges"] is not None, disabledQubitRewiringSupported=d["edges"] is not None)}
    service = DeviceServiceProperties(
        executionWindows=[{"executionDay": "Everyday", "windowStartHour": "00:00", "windowEndHour": "23:59:59"}],
        shotsRange=(lo, hi), deviceCost=None, deviceLocation=d["location"], updatedAt=f"{AS_OF}T00:00:00",
        deviceDocumentation={"imageUrl": None, "externalDocumentationUrl": None,
                             "summary": f"qbridge offline snapshot of {d['name']} ({AS_OF}); not a GetDevice answer"},
    )
    conn = DeviceConnectivity(fullyConnected=d["edges"] is None, connectivityGraph={} if d["edges"] is None else _graph(d["edges"]))
    paradigm = GateModelQpuParadigmProperties(qubitCount=d["qubits"], nativeGateSet=list(d["native"]), connectivity=conn)
    if d["schema"] == "ionq":
        from braket.device_schema.ionq import IonqDeviceCapabilities as Caps
    elif d["schema"] == "iqm":
        from braket.device_schema.iqm import IqmDeviceCapabilities as Caps
    else:
        from braket.device_schema.rigetti import RigettiDeviceCapabilitiesV2 as Caps
    caps = Caps(service=service, action=action, paradigm=paradigm, deviceParameters={})
    return json.loads(caps.json(exclude_none=True))


def snapshot(d: dict) -> dict:
    return {
        "schema": "qbridge-braket-snapshot/1",
        "as_of": AS_OF,
        "arn": d["arn"],
        "name": d["name"],
        "vendor": d["vendor"],
        "status": d["status"],
        "source": ("compiled by qbridge on the date above from the device's public description and written through "
                   "braket.device_schema; not downloaded from Braket (GetDevice). Qubit count and native gates: the "
                   "vendor's published figures; connectivity: "
                   + (d.get("topology") or "all-to-all (trapped ions)")
                   + "; shot range: qbridge's conservative assumption; program sets: not listed, so estimates assume "
                   "one quantum task per execution (errs high). Live properties, when AWS credentials are configured, "
                   "replace all of this and every difference is reported."),
        "capabilities": capabilities(d),
    }


def render(d: dict) -> str:
    return json.dumps(snapshot(d), indent=1, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for d in DEVICES:
        path = OUT / d["file"]
        text = render(d)
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print("stale snapshots (rerun without --check):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
