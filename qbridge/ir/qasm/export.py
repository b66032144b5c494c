"""OpenQASM 3 export of qbridge circuits (``to_qasm``); the rules are in :mod:`qbridge.ir.qasm`."""

from __future__ import annotations

import re
from typing import Iterable, Sequence

from ...exceptions import (
    UnsupportedFeatureError,
)
from ..circuit import Circuit, Instruction
from ..gates import GATES, zyz_angles
from ..parameters import Parameter, ParameterExpression, ParamValue, as_param_value
from .errors import STDGATES

__all__ = ["to_qasm"]

# -- export ----------------------------------------------------------------------------------

# Exact definitions (global phase included) of the library gates stdgates.inc lacks. Each body
# uses stdgates.inc gates only; tests check each against the library matrix, phase included.
_HAND_DEFINITIONS: dict[str, str] = {
    "sxdg": "gate sxdg a { s a; h a; s a; gphase(-pi/4); }",
    "rzz": "gate rzz(theta) a, b { cx a, b; rz(theta) b; cx a, b; }",
    "rxx": "gate rxx(theta) a, b { h a; h b; cx a, b; rz(theta) b; cx a, b; h a; h b; }",
    "ryy": (
        "gate ryy(theta) a, b { rx(pi/2) a; rx(pi/2) b; cx a, b; rz(theta) b; cx a, b; "
        "rx(-pi/2) a; rx(-pi/2) b; }"
    ),
}
_EXPORT_AS = {"u": "U"}  # library gates written under another (built-in) name
_NAME_ANNOTATION = "@qbridge.parameter"  # on an input: the qbridge name of the parameter


def _format_param(value: ParamValue, alias: dict[str, str] | None = None) -> str:
    """Exact text of a float or linear expression (``repr`` keeps every bit of a float)."""
    if isinstance(value, ParameterExpression) and not value.is_constant():
        parts = []
        for name, coeff in value.terms:
            name = alias.get(name, name) if alias else name
            parts.append(name if coeff == 1.0 else f"-{name}" if coeff == -1.0 else f"{coeff!r}*{name}")
        if value.const != 0.0:
            parts.append(repr(value.const))
        text = parts[0]
        for part in parts[1:]:
            text += f" - {part[1:]}" if part.startswith("-") else f" + {part}"
        return text
    return repr(float(value.const if isinstance(value, ParameterExpression) else value))


def _generated_definition(name: str) -> str:
    """A definition written from the gate's own decomposition rule (for gates added later)."""
    gate = GATES[name]
    if gate.rule is None:
        raise UnsupportedFeatureError(
            f"gate {name!r} is not in stdgates.inc and has no decomposition to write a "
            "definition from; decompose the circuit first (circuit.decompose(['u', 'cx']))",
            instruction=name,
        )
    pnames = [f"p{i}" for i in range(gate.num_params)]
    qnames = [f"a{i}" for i in range(gate.num_qubits)]
    ops, phase = gate.decompose(tuple(Parameter(p) for p in pnames))
    body = [
        _gate_call(sub, [qnames[i] for i in local], [as_param_value(p) for p in params])
        for sub, local, params in ops
    ]
    phase = as_param_value(phase)
    if phase != 0.0:
        body.append(f"gphase({_format_param(phase)});")
    head = f"gate {name}({', '.join(pnames)})" if pnames else f"gate {name}"
    return f"{head} {', '.join(qnames)} {{ {' '.join(body)} }}"


def _definition_of(name: str) -> str:
    return _HAND_DEFINITIONS.get(name) or _generated_definition(name)


def _needed_definitions(names: Iterable[str]) -> list[str]:
    """Definitions of the non-stdgates gates in ``names``, each after the ones it uses."""
    out: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in done or name in STDGATES or name in _EXPORT_AS:
            return
        done.add(name)
        text = _definition_of(name)
        called = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text.split("{", 1)[1]))
        for other in sorted(called & set(GATES) - {name}):  # gates the body calls come first
            visit(other)
        out.append(text)

    for n in names:
        visit(n)
    return out


def _gate_call(name: str, qubits: Sequence[str], params: Sequence[ParamValue],
               alias: dict[str, str] | None = None) -> str:
    name = _EXPORT_AS.get(name, name)
    args = f"({', '.join(_format_param(p, alias) for p in params)})" if params else ""
    return f"{name}{args} {', '.join(qubits)};"


def _fresh(base: str, taken: set[str]) -> str:
    name, i = base, 0
    while name in taken:
        i += 1
        name = f"{base}{i}"
    return name


def to_qasm(circuit: Circuit, version: int = 3) -> str:
    """The circuit as an OpenQASM 3 program (see the module docstring for the mapping)."""
    if not isinstance(circuit, Circuit):
        raise TypeError(f"to_qasm expects a Circuit, got {type(circuit).__name__}")
    if version != 3:
        raise ValueError(
            f"OpenQASM {version} export is not supported: qbridge writes OpenQASM 3 "
            "(it reads OpenQASM 2 and 3)"
        )
    phase: ParamValue = circuit.global_phase
    ops: list[Instruction] = []
    for op in circuit:
        if op.name == "unitary":
            if len(op.qubits) != 1:
                raise UnsupportedFeatureError(
                    f"a {len(op.qubits)}-qubit unitary matrix has no OpenQASM form; write it as "
                    "gates, or save the circuit with to_json() instead",
                    instruction="unitary",
                )
            theta, phi, lam, ph = zyz_angles(op.matrix_array())
            ops.append(Instruction("u", op.qubits, (theta, phi, lam)))
            phase = phase + ph
        elif op.name == "amplitude_encode":
            if isinstance(op.source, str):
                raise UnsupportedFeatureError(
                    f"amplitude_encode of the run-time input {op.source!r} has no OpenQASM form "
                    "(OpenQASM cannot prepare a state from an input array); bind the input first "
                    "(qbridge.ir.stateprep.bind_inputs) to export its state preparation as gates, "
                    "or save the circuit with to_json() instead",
                    instruction="amplitude_encode",
                )
            from ..stateprep import state_preparation_ops

            prep, ph = state_preparation_ops(op.source, op.qubits)
            ops.extend(prep)
            phase = phase + ph
        else:
            ops.append(op)
    phase = as_param_value(phase)

    definitions = _needed_definitions(dict.fromkeys(op.name for op in ops if op.name in GATES))
    params = circuit.parameter_names
    # OpenQASM has one namespace for gates and variables: a parameter named like a gate ("x",
    # "t", "p") is declared under a fresh name, its qbridge name kept in an annotation that
    # other tools ignore
    gate_names = set(GATES) | STDGATES | {"U", "gphase"}
    taken = set(params) | gate_names
    qreg = _fresh("q", taken)
    creg = _fresh("c", taken | {qreg})
    taken |= {qreg, creg}
    alias: dict[str, str] = {}
    for name in params:
        if name in gate_names:
            alias[name] = _fresh(f"{name}_", taken)
            taken.add(alias[name])
    lines = ["OPENQASM 3.0;", 'include "stdgates.inc";', *definitions]
    for name in params:
        if name in alias:
            lines.append(f"{_NAME_ANNOTATION} {name}")
        lines.append(f"input float[64] {alias.get(name, name)};")
    lines.append(f"qubit[{circuit.num_qubits}] {qreg};")
    bit_of = {q: i for i, q in enumerate(circuit.measured_qubits)}
    if bit_of:
        lines.append(f"bit[{len(bit_of)}] {creg};")
    if phase != 0.0:
        lines.append(f"gphase({_format_param(phase, alias)});")
    for op in ops:
        qs = [f"{qreg}[{q}]" for q in op.qubits]
        if op.name == "barrier":
            lines.append(f"barrier {', '.join(qs)};")
        elif op.name == "measure":
            # one line per instruction: import regroups the statements of a line
            lines.append(" ".join(f"{creg}[{bit_of[q]}] = measure {qreg}[{q}];" for q in op.qubits))
        elif op.name == "mcu":
            # ctrl(m) @ U, and the phase as a phase gate on the last control controlled by the rest
            theta, phi, lam, gamma = op.params
            m = len(op.qubits) - 1
            lines.append(f"ctrl({m}) @ " + _gate_call("U", qs, (theta, phi, lam), alias))
            if as_param_value(gamma) != 0.0:
                head = f"ctrl({m - 1}) @ " if m > 1 else ""
                lines.append(head + _gate_call("p", qs[:-1], (gamma,), alias))
        else:
            lines.append(_gate_call(op.name, qs, op.params, alias))
    return "\n".join(lines) + "\n"
