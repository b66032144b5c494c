"""Hybrid quantum-classical layers for PyTorch.

- :class:`QuantumLayer`: any parametrised circuit (encoded inputs + trainable parameters) with a
  readout, on any backend; one backend submission per forward batch.
- :class:`QFFN`: the quantum feed-forward network of "Less Bits, More Qubits".
- :class:`OverlapAttentionHead`, :class:`QSANNAttentionHead`, :class:`HybridMultiheadAttention`:
  quantum attention heads, alone or as a fraction of a multi-head attention.
- :class:`QISAAttention`: quantum-inspired self-attention (arXiv 2603.03318), QISA and QISA-A.

Gradient methods and the backend hook for adjoint gradients: :mod:`qbridge.nn.gradients`.
"""

from .ansatz import build_ansatz, cnot_ring, hardware_efficient, qisa_a
from .attention import HybridMultiheadAttention, OverlapAttentionHead, QSANNAttentionHead
from .gradients import SHIFT_RULES, InputGradientError, VJPResult, shift_rule
from .layer import QuantumLayer, RunPreview
from .normalize import MeasurementNorm
from .qffn import QFFN
from .qisa import QISAAttention, draw_pauli_strings

__all__ = [
    "MeasurementNorm",
    "QuantumLayer",
    "RunPreview",
    "QFFN",
    "OverlapAttentionHead",
    "QSANNAttentionHead",
    "HybridMultiheadAttention",
    "QISAAttention",
    "draw_pauli_strings",
    "SHIFT_RULES",
    "shift_rule",
    "InputGradientError",
    "VJPResult",
    "build_ansatz",
    "cnot_ring",
    "hardware_efficient",
    "qisa_a",
]
