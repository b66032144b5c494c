"""The device catalogue: every cloud QPU and managed simulator qbridge knows, offline.

Owns: :func:`list_devices` and :func:`find_device`, which gather the rows each cloud adapter
describes from its own offline data (Braket: the dated capabilities snapshots and the price
table; IBM: qiskit-ibm-runtime's fake devices and the usage-time rate), with whether live access
is configured here (local files and environment only).

Must not touch: the network, or any adapter's data format (each adapter builds its own rows; the
providers are imported only when asked for, like the cost models of :mod:`qbridge.jobs.cost`).
A row is a dict with at least ``name``, ``provider``, ``backend``, ``options``, ``qubits``,
``native_gates``, ``connectivity``, ``price``, ``price_date``, ``snapshot_date`` and
``live_access``.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..exceptions import BackendNotFoundError

__all__ = ["PROVIDERS", "list_devices", "find_device"]

# provider key -> (module:function giving its rows, the distribution that ships it)
PROVIDERS: dict[str, tuple[str, str]] = {
    "braket": ("qbridge_braket.snapshots:catalogue", "qbridge-braket"),
    "ibm": ("qbridge_ibm.snapshots:catalogue", "qbridge-ibm"),
}


def list_devices(provider: str | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """(rows, notes): the catalogue, optionally of one provider (``braket`` or ``ibm``); a note
    says which providers' adapters are not installed (their devices are then not listed)."""
    if provider is not None and provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}; choose from {sorted(PROVIDERS)}")
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for key, (spec, dist) in PROVIDERS.items():
        if provider is not None and key != provider:
            continue
        module, _, attr = spec.partition(":")
        try:
            fn = getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError:
            notes.append(f"{key}: not listed, {dist} is not installed (pip install {dist})")
            continue
        found = fn()
        if not found:
            notes.append(f"{key}: {dist} knows no devices here (is its SDK installed? `qbridge backends` says)")
        for row in found:
            rows.append({"provider_key": key, **row})
    return rows, notes


def find_device(name: str) -> dict[str, Any]:
    """One catalogue row by name (``iqm/Garnet``, ``Garnet``, ``ibm_brisbane``, or a Braket ARN)."""
    rows, notes = list_devices()
    want = str(name).strip().lower()
    exact = [r for r in rows if want in (str(r["name"]).lower(), str(r["options"].get("arn", "")).lower())]
    if not exact:
        exact = [r for r in rows if str(r["name"]).lower().rsplit("/", 1)[-1] == want.rsplit("/", 1)[-1]]
    if len(exact) == 1:
        return exact[0]
    names = ", ".join(sorted(r["name"] for r in rows))
    if exact:
        raise BackendNotFoundError(f"{name!r} matches several devices ({', '.join(r['name'] for r in exact)}); "
                                   "give the full name")
    extra = f" ({'; '.join(notes)})" if notes else ""
    raise BackendNotFoundError(f"no device named {name!r} in the catalogue{extra}. Known: {names}")
