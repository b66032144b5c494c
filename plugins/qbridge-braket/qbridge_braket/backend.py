"""qbridge backends on Amazon Braket: ``braket.local``, ``braket.dm`` and ``braket.device``.

The backends live in one module each: :mod:`qbridge_braket.local` (``braket.local`` and
``braket.dm``), :mod:`qbridge_braket.device` (``braket.device``), on the shared
:mod:`qbridge_braket.base` (compile, pack, submit, read results) and the program model of
:mod:`qbridge_braket.program`. This module gathers their names. Importing it imports no Braket SDK.
"""

from .base import BraketBackendBase
from .device import BraketDeviceBackend
from .local import BraketDMBackend, BraketLocalBackend
from .program import BraketProgram, Executable, program_source

__all__ = [
    "BraketBackendBase",
    "BraketLocalBackend",
    "BraketDMBackend",
    "BraketDeviceBackend",
    "BraketProgram",
    "Executable",
    "program_source",
]
