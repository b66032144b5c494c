"""qbridge backends on Amazon Braket: ``braket.local``, ``braket.dm`` and ``braket.device``.

Importing this package imports no Braket SDK; see :mod:`qbridge_braket.backend`.
"""

from .backend import BraketBackendBase, BraketDeviceBackend, BraketDMBackend, BraketLocalBackend

__version__ = "0.1.0"

__all__ = ["BraketBackendBase", "BraketDeviceBackend", "BraketDMBackend", "BraketLocalBackend"]
