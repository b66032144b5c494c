"""The OpenQASM errors beyond :class:`~qbridge.exceptions.QasmError`, and the stdgates.inc names."""

from __future__ import annotations

from ...exceptions import QasmError, ResourceLimitError, UnsupportedFeatureError

__all__ = ["QasmUnsupportedError", "QasmLimitError", "STDGATES"]


class QasmUnsupportedError(UnsupportedFeatureError, QasmError):
    """Valid OpenQASM that a qbridge circuit cannot represent (``except QasmError`` catches it too)."""


class QasmLimitError(QasmError, ResourceLimitError):
    """A program beyond a documented cap (qbridge.limits): both a QasmError and a ResourceLimitError."""


# Gate names defined by OpenQASM 3's stdgates.inc.
STDGATES = frozenset(
    "p x y z h s sdg t tdg sx rx ry rz cx cy cz cp crx cry crz ch swap ccx cswap cu "
    "CX phase cphase id u1 u2 u3".split()
)
