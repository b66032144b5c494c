"""qbridge backends for IBM Quantum: ``ibm.runtime`` (real devices) and ``ibm.fake`` (fake devices).

Importing this package imports no Qiskit; the SDK is imported when a backend is created.
"""

from .backend import IBMFakeBackend, IBMRuntimeBackend, SamplerBackend

__all__ = ["IBMFakeBackend", "IBMRuntimeBackend", "SamplerBackend"]
__version__ = "0.1.0"
