"""The backend-neutral circuit IR: circuits, gates, parameters, observables, QASM and JSON."""

from .circuit import Circuit, Instruction
from .gates import GATES, GateDef, gate_matrix, get_gate
from .observables import PauliSum, PauliTerm, Probabilities, StateVector
from .parameters import Parameter, ParameterExpression

__all__ = [
    "Circuit",
    "Instruction",
    "GATES",
    "GateDef",
    "gate_matrix",
    "get_gate",
    "PauliSum",
    "PauliTerm",
    "Probabilities",
    "StateVector",
    "Parameter",
    "ParameterExpression",
    "from_qasm",
    "to_qasm",
]


def from_qasm(text: str) -> Circuit:
    from .qasm import from_qasm as _f

    return _f(text)


def to_qasm(circuit: Circuit, version: int = 3) -> str:
    from .qasm import to_qasm as _t

    return _t(circuit, version=version)
