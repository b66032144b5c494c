"""Conversions between qbridge circuits and other SDKs' circuit objects.

Each submodule imports its SDK when it is imported; nothing here is imported by ``import
qbridge``. Adapters (``plugins/``) import the submodule they need when a backend is created:
``from qbridge.interop import qiskit as qk``.
"""

__all__: list[str] = []
