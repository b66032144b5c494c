"""qbridge backends for PennyLane devices (``pennylane.lightning.qubit``, ``pennylane.default.qubit``,
``pennylane.lightning.gpu`` and ``pennylane.<device>`` for any other installed qubit device).

Importing this package imports no PennyLane; see :mod:`qbridge_pennylane.backend`.
"""

from .backend import (
    DefaultQubitBackend,
    LightningGPUBackend,
    LightningQubitBackend,
    PennyLaneBackend,
    device_availability,
)

__version__ = "0.1.0"

__all__ = [
    "DefaultQubitBackend",
    "LightningGPUBackend",
    "LightningQubitBackend",
    "PennyLaneBackend",
    "device_availability",
]
