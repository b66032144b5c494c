"""Offline descriptions of IBM Quantum devices, their usage-time estimate, and account status.

Owns: the IBM device snapshots, which are the calibrated fake devices that qiskit-ibm-runtime
ships (``qiskit_ibm_runtime.fake_provider``: each holds the device's configuration and a dated
properties record); :func:`ibm_account` (is an IBM Quantum account saved here, read from the
environment and Qiskit's account file only); :func:`isa_seconds` (how long one shot of an ISA
circuit keeps the QPU busy, from the device target's gate and readout durations); and
:func:`catalogue`, the IBM rows of ``qbridge devices``.

Must not touch: the network (QiskitRuntimeService is never created here). The catalogue reads
the fake devices' JSON files directly, so listing does not import Qiskit.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

__all__ = ["fake_name_for", "ibm_account", "isa_seconds", "snapshot_info", "catalogue", "ACCOUNT_FILE"]

ACCOUNT_FILE = Path("~/.qiskit/qiskit-ibm.json")  # where QiskitRuntimeService.save_account writes
_ENV_TOKEN = "QISKIT_IBM_TOKEN"


def _backends_dir() -> Path | None:
    spec = importlib.util.find_spec("qiskit_ibm_runtime")  # the top-level package: nothing is imported
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / "fake_provider" / "backends"
    return path if path.is_dir() else None


def _records() -> list[dict[str, Any]]:
    base = _backends_dir()
    if base is None:
        return []
    out = []
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        confs = sorted(folder.glob("conf_*.json"))
        props = sorted(folder.glob("props_*.json"))
        if not confs:
            continue
        conf = json.loads(confs[0].read_text())
        prop = json.loads(props[0].read_text()) if props else {}
        out.append({"folder": folder.name, "conf": conf, "props": prop})
    return out


def fake_name_for(name: str) -> str | None:
    """The fake device standing for IBM device ``name`` (``ibm_brisbane`` -> ``fake_brisbane``)."""
    if not isinstance(name, str) or not name:
        return None
    for rec in _records():
        if name in (rec["conf"].get("backend_name"), f"fake_{rec['folder']}"):
            return f"fake_{rec['folder']}"
    return None


def snapshot_info(name: str) -> dict[str, Any] | None:
    """Date and origin of the snapshot of device ``name``, or None when qiskit-ibm-runtime has none."""
    for rec in _records():
        if name in (rec["conf"].get("backend_name"), f"fake_{rec['folder']}"):
            date = str(rec["props"].get("last_update_date") or "")[:10] or None
            return {"source": "snapshot", "snapshot": f"fake_{rec['folder']}", "snapshot_as_of": date,
                    "snapshot_note": f"qiskit-ibm-runtime's fake device fake_{rec['folder']} (its configuration and "
                                     f"the calibration record dated {date}), shipped with qiskit-ibm-runtime "
                                     f"{_runtime_version()}"}
    return None


def _runtime_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("qiskit-ibm-runtime")
    except PackageNotFoundError:
        return "?"


_ACCOUNT_FIX = ("save an account once with QiskitRuntimeService.save_account(channel='ibm_quantum_platform', "
                "token='<API key>', instance='<instance CRN>', set_as_default=True), or set QISKIT_IBM_TOKEN")


def ibm_account() -> tuple[bool, str]:
    """(configured, where or how to configure): the environment and Qiskit's account file only."""
    if os.environ.get(_ENV_TOKEN):
        return True, f"{_ENV_TOKEN} in the environment"
    path = ACCOUNT_FILE.expanduser()
    try:
        data = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError):
        return False, f"{path} cannot be read as JSON; {_ACCOUNT_FIX}"
    if isinstance(data, dict) and data:
        return True, f"saved account(s) {sorted(data)} in {path}"
    return False, f"no IBM Quantum account saved in {path}; {_ACCOUNT_FIX}"


def isa_seconds(isa: Any, target: Any) -> tuple[float, bool]:
    """(seconds, complete): the critical path of one shot of ``isa`` with the target's durations
    (gates and readout; barriers take none). ``complete`` is False when an instruction had no
    duration in the target (it then counts as zero)."""
    clock: dict[int, float] = {}
    complete = True
    index = {q: i for i, q in enumerate(isa.qubits)}
    for inst in isa.data:
        op = inst.operation
        qubits = tuple(index[q] for q in inst.qubits)
        if op.name == "barrier":
            t = max((clock.get(q, 0.0) for q in qubits), default=0.0)
            for q in qubits:
                clock[q] = t
            continue
        duration = None
        if op.name == "delay":
            duration = float(op.duration) * (float(getattr(target, "dt", 0.0) or 0.0) if op.unit == "dt" else 1.0)
        else:
            try:
                props = target[op.name][qubits]
                duration = None if props is None else props.duration
            except (KeyError, TypeError):
                duration = None
        if duration is None:
            complete = False
            duration = 0.0
        start = max((clock.get(q, 0.0) for q in qubits), default=0.0)
        for q in qubits:
            clock[q] = start + float(duration)
    return max(clock.values(), default=0.0), complete


def catalogue() -> list[dict[str, Any]]:
    """IBM devices with a snapshot (a fake device named after a real ``ibm_*`` device)."""
    from qbridge.jobs.cost import ibm_rate

    live, how = ibm_account()
    rows = []
    for rec in _records():
        conf, props = rec["conf"], rec["props"]
        name = str(conf.get("backend_name") or "")
        if not name.startswith("ibm_"):
            continue  # retired ibmq_* devices and made-up ones
        edges = {tuple(sorted(e)) for e in conf.get("coupling_map") or []}
        degree: dict[int, int] = {}
        for a, b in edges:
            degree[a] = degree.get(a, 0) + 1
            degree[b] = degree.get(b, 0) + 1
        family = (conf.get("processor_type") or {}).get("family")
        rows.append({
            "name": name, "title": f"IBM {name}" + (f" ({family})" if family else ""), "provider": "IBM Quantum",
            "vendor": "IBM", "kind": "qpu", "backend": "ibm.runtime", "options": {"backend": name},
            "qubits": conf.get("n_qubits"), "native_gates": list(conf.get("basis_gates") or []),
            "accepted_gates": None,
            "connectivity": f"{len(edges)} couplers, at most {max(degree.values(), default=0)} per qubit",
            "shots_range": [1, conf.get("max_shots")], "program_sets": None,
            "price": {"usd_per_second": ibm_rate(), "billed": "QPU usage time"},
            "price_date": "2024 (IBM documentation)",
            "snapshot_date": str(props.get("last_update_date") or "")[:10] or None,
            "snapshot_source": f"qiskit-ibm-runtime {_runtime_version()} fake device fake_{rec['folder']}",
            "status": "", "live_access": {"configured": live, "how": how},
        })
    return rows
