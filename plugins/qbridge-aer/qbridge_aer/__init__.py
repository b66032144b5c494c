"""qbridge backends on Qiskit Aer: ``aer`` (CPU) and ``aer.gpu`` (NVIDIA GPU).

Importing this package imports no Qiskit; the SDK is imported when a backend is created.
"""

from .backend import AerBackend, AerGPUBackend

__all__ = ["AerBackend", "AerGPUBackend"]
__version__ = "0.1.0"
