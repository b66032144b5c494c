"""What a run or a program may cost, known before it is spent.

Owns: the documented caps, the memory a state-vector run needs, the memory the device has, and
the one check (:func:`check_memory`) that compares them and raises
:class:`~qbridge.exceptions.ResourceLimitError` naming the limit and the fix, before anything is
allocated.

Memory available: ``torch.cuda.mem_get_info`` for a CUDA device; for the host, the smaller of
``MemAvailable`` (``/proc/meminfo``, else psutil) and the cgroup limit (``memory.max``). The
environment variable ``QBRIDGE_MEMORY_LIMIT`` (bytes, or with a unit: ``512MiB``, ``8GB``,
``2GiB``) caps it further, for shared machines and CI.

Caps on programs (OpenQASM import, before the registers or instruction lists are built):
:data:`MAX_PROGRAM_QUBITS` qubits and bits, :data:`MAX_PROGRAM_INSTRUCTIONS` instructions after
expansion. Shots: at most :data:`MAX_SHOTS` (NumPy's int64 counts), and for a backend that keeps
every shot (``Target.shot_bytes`` bytes per shot and measured qubit) what fits in memory.
"""

from __future__ import annotations

import os
import re
from typing import Any

from .exceptions import ResourceLimitError

__all__ = [
    "MAX_PROGRAM_QUBITS", "MAX_PROGRAM_INSTRUCTIONS", "MAX_SHOTS", "available_memory",
    "check_memory", "statevector_bytes", "format_bytes", "parse_bytes",
]

MAX_PROGRAM_QUBITS = 100_000
MAX_PROGRAM_INSTRUCTIONS = 20_000_000
MAX_SHOTS = 2**63 - 1
# A state-vector run holds the state, one working copy for each gate application and the
# probabilities: about three states' worth (measured on the torch backend: 2.6x-3x).
STATEVECTOR_OVERHEAD = 3
ENV = "QBRIDGE_MEMORY_LIMIT"
_NEGLIGIBLE = 64 * 2**20

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_bytes(text: str) -> int:
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([A-Za-z]*)\s*", str(text))
    if m is None or m.group(2).lower() not in _UNITS:
        raise ResourceLimitError(
            f"{ENV}={text!r} is not a size; write bytes or a number with a unit (512MiB, 8GB, 2GiB)",
            limit=ENV,
        )
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def format_bytes(n: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def _host_available() -> int:
    avail = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if avail is None:
        try:
            import psutil

            avail = int(psutil.virtual_memory().available)
        except Exception:  # noqa: BLE001 - no way to know: no host limit but the cap
            avail = 2**62
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as fh:
                raw = fh.read().strip()
            if raw.isdigit():
                avail = min(avail, int(raw))
        except OSError:
            continue
    return avail


def available_memory(device: Any = None) -> tuple[int, str]:
    """(bytes, where the number comes from) for ``device`` (None or cpu: the host)."""
    kind = getattr(device, "type", None) or (str(device).split(":")[0] if device is not None else "cpu")
    if kind == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info(device)
        avail, source = int(free), f"free memory on {device} (torch.cuda.mem_get_info)"
    else:
        avail, source = _host_available(), "available host memory"
    cap = os.environ.get(ENV)
    if cap:
        limit = parse_bytes(cap)
        if limit < avail:
            avail, source = limit, f"the cap {ENV}={cap}"
    return avail, source


def statevector_bytes(num_qubits: int, batch: int = 1, itemsize: int = 8) -> int:
    """Peak bytes of a batched state-vector run: state x batch x itemsize x overhead."""
    return (2**num_qubits) * max(int(batch), 1) * itemsize * STATEVECTOR_OVERHEAD


def check_memory(needed: int, what: str, fix: str, *, device: Any = None, backend: str | None = None) -> None:
    """Raise :class:`ResourceLimitError` when ``needed`` bytes exceed what ``device`` has."""
    if needed < _NEGLIGIBLE and not os.environ.get(ENV):
        return  # every run goes through here: small runs do not read /proc or ask the GPU
    avail, source = available_memory(device)
    if needed > avail:
        raise ResourceLimitError(
            f"{what} needs about {format_bytes(needed)}, more than the {format_bytes(avail)} of "
            f"{source}; {fix} (or set {ENV} if the estimate is wrong for this machine)",
            backend=backend, needed=int(needed), available=int(avail), limit=source,
        )
