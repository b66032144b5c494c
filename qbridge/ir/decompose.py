"""Rewriting circuits into a gate basis, exactly (global phase tracked).

Owns: which gates of the library can reach a basis (a fixpoint over each gate's one rule) and
the recursive expansion. Unreachable gates are reported before anything is rewritten. A
multi-controlled ``mcu`` becomes library gates (:func:`qbridge.ir.modifiers.lower_mcu`), borrowing
the circuit's qubits it does not touch as dirty ancillas.
"""

from __future__ import annotations

from functools import lru_cache

from ..exceptions import GateError
from .circuit import Circuit, Instruction, single_qubit_unitary_as_u
from .gates import GATES
from .modifiers import lower_mcu
from .parameters import as_param_value

__all__ = ["decompose_circuit", "reachable_gates"]

_PASS_THROUGH = {"measure", "barrier"}


@lru_cache(maxsize=64)
def reachable_gates(basis: frozenset[str]) -> frozenset[str]:
    """Library gates that can be written exactly in ``basis``."""
    reach = {g for g in basis if g in GATES}
    changed = True
    while changed:
        changed = False
        for name, gate in GATES.items():
            if name in reach or gate.rule is None:
                continue
            ops, _ = gate.decompose([0.0] * gate.num_params)
            if all(sub in reach for sub, _, _ in ops):
                reach.add(name)
                changed = True
    return frozenset(reach)


def decompose_circuit(circuit: Circuit, basis: frozenset[str]) -> Circuit:
    if all(op.name in basis or op.name in _PASS_THROUGH for op in circuit):
        return circuit  # nothing to rewrite: the same (immutable) object, no rebuild
    reach = reachable_gates(basis)
    out: list[Instruction] = []
    phase = [circuit.global_phase]

    def expand(op: Instruction) -> None:
        if op.name in basis or op.name in _PASS_THROUGH:
            out.append(op)
            return
        if op.name == "unitary":
            if len(op.qubits) == 1 and "u" in reach:
                params, ph = single_qubit_unitary_as_u(op.matrix_array())
                phase[0] = phase[0] + ph
                expand(Instruction("u", op.qubits, params))
                return
            raise GateError(
                f"a {len(op.qubits)}-qubit unitary cannot be decomposed into {sorted(basis)}; "
                "use a backend that accepts 'unitary' or write the unitary as gates",
                instruction="unitary",
            )
        if op.name == "mcu":
            busy = set(op.qubits)
            spare = [q for q in range(circuit.num_qubits) if q not in busy]
            for name, qs, params in lower_mcu(op.qubits, op.params, spare):
                expand(Instruction(name, qs, tuple(as_param_value(p) for p in params)))
            return
        if op.name == "amplitude_encode":
            if isinstance(op.source, str):
                raise GateError(
                    f"amplitude_encode of run-time input {op.source!r} must be bound before "
                    "decomposition (qbridge.ir.stateprep.bind_inputs)",
                    instruction="amplitude_encode",
                )
            from .stateprep import state_preparation_ops

            sub_ops, ph = state_preparation_ops(op.source, op.qubits)
            phase[0] = phase[0] + ph
            for sub in sub_ops:
                expand(sub)
            return
        if op.name not in reach:
            raise GateError(
                f"gate {op.name!r} cannot be written in the basis {sorted(basis)}; add an "
                "entangler (cx or cz) and u or rz+ry to the basis",
                instruction=op.name,
            )
        rule_ops, ph = GATES[op.name].decompose(op.params)
        phase[0] = phase[0] + ph
        for name, local, params in rule_ops:
            expand(Instruction(name, tuple(op.qubits[i] for i in local),
                               tuple(as_param_value(p) for p in params)))

    for op in circuit:
        expand(op)
    return Circuit(circuit.num_qubits, out, global_phase=phase[0], name=circuit.name)
