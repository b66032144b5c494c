"""OpenQASM 3 export, and OpenQASM 2 and 3 import, of qbridge circuits.

Owns: the text form of a :class:`~qbridge.ir.circuit.Circuit`. Export writes OpenQASM 3; import
reads OpenQASM 3 and OpenQASM 2 through the maintained ``openqasm3`` reference parser (its ANTLR
grammar also accepts the OpenQASM 2 statements ``qreg``, ``creg`` and ``measure q -> c``).

Must not touch: simulation, backends or any quantum SDK (Qiskit is used by the tests only).

Export (``to_qasm(circuit)``)
-----------------------------
- ``OPENQASM 3.0; include "stdgates.inc";``, then ``gate`` definitions for the library gates that
  stdgates.inc lacks (``sxdg``, ``rxx``, ``ryy``, ``rzz``), one ``input float[64] name;`` per free
  parameter in ``circuit.parameters`` order, ``qubit[n] q;`` and, when something is measured,
  ``bit[k] c;`` with ``c[i]`` holding the i-th entry of ``circuit.measured_qubits``.
- Numbers are written with ``repr(float)`` and linear expressions as ``0.5*theta + 1.0``, so a
  round trip is bit-exact. ``u`` is written as the built-in ``U``. The global phase (of the circuit
  and of what is expanded below) is one ``gphase(...)`` statement before the first gate.
- The emitted gate definitions are exact, global phase included (``gphase`` in the body).
- A 1-qubit ``unitary`` is written as ``U(theta, phi, lambda)`` plus global phase; larger matrices
  have no OpenQASM form (:class:`~qbridge.exceptions.UnsupportedFeatureError`: use ``to_json``).
- ``amplitude_encode`` of a fixed vector is written as its rotation/CNOT state preparation
  (:func:`qbridge.ir.stateprep.state_preparation_ops`); of a run-time input it is refused, since
  plain OpenQASM has no state preparation from an input array and a pragma would be ignored by
  other tools, silently running a different circuit. Bind the input or use ``to_json``.
- The measurements of one multi-qubit ``measure`` instruction are written on one line; import
  groups measure statements that share a line into one instruction, so round trips are exact.
- OpenQASM has one namespace for gates and variables, so a parameter named like a gate (``x``,
  ``t``, ``p``) is declared under a fresh name (``x_``) preceded by the annotation
  ``@qbridge.parameter x``; qbridge's import reads the annotation back, other tools (Qiskit)
  ignore it and see a consistently renamed input.

Import (``from_qasm(text)``)
----------------------------
- Gate names of ``stdgates.inc`` (and of ``qelib1.inc`` for OpenQASM 2) have their usual matrices,
  the ones Qiskit gives them (``rz(t)`` is ``diag(e^{-it/2}, e^{it/2})``). The bodies in the
  vendored stdgates.inc carry ``gphase`` calls that disagree with those matrices (``x`` would be
  ``-iX``); like Qiskit, qbridge does not read them. The gates are available only after the
  ``include``; ``U``, ``gphase`` (and ``CX`` in OpenQASM 2) always are. ``u1``, ``u2``, ``u3``,
  ``phase``, ``cphase``, ``CX``, ``cu``, ``cu1``, ``cu3``, ``csx`` map to qbridge gates exactly.
- A ``gate`` definition whose name, arity and matrix (up to global phase, checked numerically at
  probe parameter values) match a qbridge library gate becomes that gate: this is how ``sxdg``,
  ``rzz``, ... written by qbridge or Qiskit come back as themselves (OpenQASM 2 definitions, and
  Qiskit's exporter, ignore global phase, so only the name carries it). Any other definition is
  expanded inline, with the ``gphase`` of its body tracked exactly.
- Modifiers: ``inv @``, ``pow(k) @`` (integer or real constant ``k``), ``ctrl @``/``ctrl(n) @``/
  ``negctrl @`` on any gate, at bounded cost (:mod:`qbridge.ir.modifiers`): ``pow(k)`` is one
  instruction (a scaled rotation angle, or the matrix power) whatever ``k``; ``ctrl(n)`` grows
  polynomially in ``n`` (``ctrl(11) @ x`` is 463 Toffolis and rotations), without ancillas.
- Gate names and value names (registers, inputs, constants) are kept apart, so a program may
  declare ``input float[64] x;`` next to the ``x`` gate (Qiskit's importer refuses that).
- Registers (``qubit[n] q;``, ``qubit q;``, ``qreg q[n];``) are flattened in declaration order;
  hardware qubits ``$k`` are accepted in programs that declare no registers. Gates broadcast over
  registers, indices may be negative, ranges (``q[0:2]``) or sets (``q[{0, 2}]``).
- Parameters: ``input float[64] name;`` (or ``angle``) becomes a free :class:`Parameter` (an
  input that no gate uses is not kept: a circuit's parameters are the ones its gates use);
  expressions may use ``pi``/``π``, ``tau``/``τ``, ``euler``/``ℇ``, ``const`` declarations, the
  four operations, ``**``, unary minus and ``sin cos tan arcsin arccos arctan exp ln sqrt`` of
  constants. Parameters may only enter linearly (qbridge expressions are linear); arithmetic is
  real (``1/2`` is 0.5), and ``^`` is a power in OpenQASM 2.
- Measurements must be terminal; classical bits are numbered over the ``bit``/``creg`` registers
  in declaration order, and ``circuit.measured_qubits`` lists the measured qubits by bit number
  (bits never written are skipped).
- Errors: :class:`~qbridge.exceptions.QasmError` for a program that is malformed (syntax, unknown
  gate or identifier, wrong arity, qubit out of range, redefinition, non-linear parameter use);
  :class:`QasmUnsupportedError`, a subclass of both ``QasmError`` and
  :class:`~qbridge.exceptions.UnsupportedFeatureError`, for valid OpenQASM that a qbridge circuit
  cannot hold (mid-circuit measurement, ``if``, ``reset``, loops, subroutines, timing). Both carry
  ``line`` and ``column`` (1-based) and name them in the message.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterable, Sequence

import numpy as np

from ..exceptions import (
    ArgumentTypeError,
    ParameterError,
    QasmError,
    QBridgeError,
    ResourceLimitError,
    UnsupportedFeatureError,
)
from .circuit import Circuit, Instruction
from .gates import GATES, PI, gate_matrix, zyz_angles
from .modifiers import ModifierError, control_ops, invert_ops, pow_ops
from .unitary import ops_unitary
from .parameters import Parameter, ParameterExpression, ParamValue, as_param_value

__all__ = ["to_qasm", "from_qasm", "from_qasm_file", "QasmUnsupportedError", "QasmLimitError", "STDGATES"]


class QasmUnsupportedError(UnsupportedFeatureError, QasmError):
    """Valid OpenQASM that a qbridge circuit cannot represent (``except QasmError`` catches it too)."""


class QasmLimitError(QasmError, ResourceLimitError):
    """A program beyond a documented cap (qbridge.limits): both a QasmError and a ResourceLimitError."""


# Gate names defined by OpenQASM 3's stdgates.inc.
STDGATES = frozenset(
    "p x y z h s sdg t tdg sx rx ry rz cx cy cz cp crx cry crz ch swap ccx cswap cu "
    "CX phase cphase id u1 u2 u3".split()
)

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
            from .stateprep import state_preparation_ops

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
        else:
            lines.append(_gate_call(op.name, qs, op.params, alias))
    return "\n".join(lines) + "\n"


# -- import: the gate library as seen from a program -----------------------------------------

# Ops are (qbridge gate name, local qubit indices, params); a gate expands to (ops, phase).
Op = tuple[str, tuple[int, ...], tuple[ParamValue, ...]]
Expansion = tuple[list[Op], ParamValue]


@dataclass(frozen=True)
class _Builtin:
    num_params: int
    num_qubits: int
    expand: Callable[[tuple[ParamValue, ...]], Expansion]


def _same(name: str) -> _Builtin:
    g = GATES[name]
    return _Builtin(g.num_params, g.num_qubits, lambda ps: ([(name, tuple(range(g.num_qubits)), ps)], 0.0))


def _one(name: str, nq: int, npar: int, build: Callable[[tuple], list[Op]]) -> _Builtin:
    return _Builtin(npar, nq, lambda ps: (build(ps), 0.0))


def _controlled_u(ps: tuple) -> list[Op]:
    """Controlled-U(theta, phi, lam) on (control 0, target 1), exact."""
    return _control([("u", (1,), tuple(ps))], 0.0, 0)


_STD_SAME = [n for n in GATES if n in STDGATES]  # every library gate of stdgates.inc, same name

_STDGATES_TABLE: dict[str, _Builtin] = {n: _same(n) for n in _STD_SAME}
_STDGATES_TABLE.update(
    {
        "CX": _one("CX", 2, 0, lambda ps: [("cx", (0, 1), ())]),
        "phase": _one("phase", 1, 1, lambda ps: [("p", (0,), ps)]),
        "cphase": _one("cphase", 2, 1, lambda ps: [("cp", (0, 1), ps)]),
        "u1": _one("u1", 1, 1, lambda ps: [("p", (0,), ps)]),
        "u2": _one("u2", 1, 2, lambda ps: [("u", (0,), (PI / 2, ps[0], ps[1]))]),
        "u3": _one("u3", 1, 3, lambda ps: [("u", (0,), ps)]),
        # cu(theta, phi, lam, gamma) = |0><0| x I + e^{i gamma} |1><1| x U(theta, phi, lam)
        "cu": _one("cu", 2, 4, lambda ps: [("p", (0,), (ps[3],))] + _controlled_u(ps[:3])),
    }
)

_QELIB1_TABLE: dict[str, _Builtin] = {
    n: _same(n)
    for n in "id p x y z h s sdg t tdg rx ry rz sx sxdg cx cz cy swap ch ccx cswap crx cry crz "
    "cp rxx rzz".split()
}
_QELIB1_TABLE.update(
    {
        "u": _same("u"),
        "u3": _STDGATES_TABLE["u3"],
        "u2": _STDGATES_TABLE["u2"],
        "u1": _STDGATES_TABLE["u1"],
        "u0": _one("u0", 1, 1, lambda ps: []),  # an idle of gamma time units: the identity
        "cu1": _STDGATES_TABLE["cphase"],
        "cu3": _one("cu3", 2, 3, _controlled_u),
        "cu": _STDGATES_TABLE["cu"],
        # controlled-(e^{i pi/4} RX(pi/2))
        "csx": _one("csx", 2, 0, lambda ps: _control([("sx", (1,), ())], 0.0, 0)),
    }
)
# qelib1.inc gates that are not qbridge gates: their qelib1.inc bodies are exact for the matrices
# Qiskit gives them (the tests compare), so they are read as ordinary definitions.
_QELIB1_SOURCE = """
gate rccx a,b,c { u2(0,pi) c; u1(pi/4) c; cx b, c; u1(-pi/4) c; cx a, c; u1(pi/4) c; cx b, c;
  u1(-pi/4) c; u2(0,pi) c; }
gate rc3x a,b,c,d { u2(0,pi) d; u1(pi/4) d; cx c,d; u1(-pi/4) d; u2(0,pi) d; cx a,d; u1(pi/4) d;
  cx b,d; u1(-pi/4) d; cx a,d; u1(pi/4) d; cx b,d; u1(-pi/4) d; u2(0,pi) d; u1(pi/4) d; cx c,d;
  u1(-pi/4) d; u2(0,pi) d; }
gate c3x a,b,c,d { h d; p(pi/8) a; p(pi/8) b; p(pi/8) c; p(pi/8) d; cx a, b; p(-pi/8) b; cx a, b;
  cx b, c; p(-pi/8) c; cx a, c; p(pi/8) c; cx b, c; p(-pi/8) c; cx a, c; cx c, d; p(-pi/8) d;
  cx b, d; p(pi/8) d; cx c, d; p(-pi/8) d; cx a, d; p(pi/8) d; cx c, d; p(-pi/8) d; cx b, d;
  p(pi/8) d; cx c, d; p(-pi/8) d; cx a, d; h d; }
gate c3sqrtx a,b,c,d { h d; cu1(pi/8) a,d; h d; cx a,b; h d; cu1(-pi/8) b,d; h d; cx a,b; h d;
  cu1(pi/8) b,d; h d; cx b,c; h d; cu1(-pi/8) c,d; h d; cx a,c; h d; cu1(pi/8) c,d; h d; cx b,c;
  h d; cu1(-pi/8) c,d; h d; cx a,c; h d; cu1(pi/8) c,d; h d; }
gate c4x a,b,c,d,e { h e; cu1(pi/2) d,e; h e; c3x a,b,c,d; h e; cu1(-pi/2) d,e; h e; c3x a,b,c,d;
  c3sqrtx a,b,c,e; }
"""

@lru_cache(maxsize=1)
def _qelib1_definitions() -> tuple:
    """The parsed qelib1.inc definitions above (parsing is the slow part of import; never mutated)."""
    import openqasm3

    return tuple(openqasm3.parse(_QELIB1_SOURCE).statements)


_ALWAYS_V3 = {"U": _one("U", 1, 3, lambda ps: [("u", (0,), ps)])}
_ALWAYS_V2 = {"U": _ALWAYS_V3["U"], "CX": _STDGATES_TABLE["CX"]}

# Gates whose controlled form is itself a library gate; the others are controlled through
# their decomposition, which always ends in these (u -> rz, ry; cx -> ccx; p -> cp).
_DIRECT_CONTROL = {
    "x": "cx", "y": "cy", "z": "cz", "h": "ch", "rx": "crx", "ry": "cry", "rz": "crz",
    "p": "cp", "swap": "cswap", "cx": "ccx",
}


def _is_zero(value: ParamValue) -> bool:
    return not isinstance(value, ParameterExpression) and value == 0.0


def _control(ops: list[Op], phase: ParamValue, ctrl: int) -> list[Op]:
    """The ops controlled by local qubit ``ctrl``; the phase becomes a phase gate on it."""
    out: list[Op] = []
    for name, qs, ps in ops:
        if name == "id":
            continue
        if name in _DIRECT_CONTROL:
            out.append((_DIRECT_CONTROL[name], (ctrl, *qs), ps))
            continue
        sub, ph = GATES[name].decompose(ps)
        out += _control(
            [(n, tuple(qs[i] for i in local), tuple(as_param_value(p) for p in sps)) for n, local, sps in sub],
            as_param_value(ph),
            ctrl,
        )
    if not _is_zero(phase):
        out.append(("p", (ctrl,), (phase,)))
    return out


def _equal_up_to_phase(a: np.ndarray, b: np.ndarray, atol: float = 1e-9) -> bool:
    idx = np.unravel_index(np.argmax(np.abs(b)), b.shape)
    ratio = a[idx] / b[idx]
    return abs(abs(ratio) - 1.0) < atol and bool(np.max(np.abs(a - ratio * b)) < atol)


# Parameter values at which a definition is compared with a library gate of the same name.
_PROBES = ((0.7231, -1.3142, 2.2351, 0.4187), (-2.6113, 0.9327, -0.3519, 1.8862))


def _probe(i: int, n: int) -> tuple[float, ...]:
    return tuple(_PROBES[i][j % 4] + 0.1 * (j // 4) for j in range(n))

# -- import: expressions ---------------------------------------------------------------------

_CONSTANTS = {"pi": PI, "π": PI, "tau": 2 * PI, "τ": 2 * PI, "euler": math.e, "ℇ": math.e}
_FUNCTIONS: dict[str, Callable[[float], float]] = {
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "arcsin": math.asin, "arccos": math.acos,
    "arctan": math.atan, "exp": math.exp, "ln": math.log, "sqrt": math.sqrt,
}


@dataclass
class _GateDefinition:
    name: str
    params: tuple[str, ...]
    qubits: tuple[str, ...]
    body: list
    line: int
    library: str | None = None  # the qbridge gate this definition is recognised as


class _Importer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.version = 3
        self.gates: dict[str, _Builtin | _GateDefinition] = {}
        self.gate_lines: dict[str, int] = {}
        self.qregs: dict[str, list[int]] = {}
        self.cregs: dict[str, tuple[int, int]] = {}  # name -> (first global bit, size)
        self.num_qubits = 0
        self.num_bits = 0
        self.physical = False
        self.inputs: dict[str, Parameter] = {}
        self.consts: dict[str, float] = {}
        self.names: dict[str, int] = {}  # every declared global name -> its line
        self.ops: list[tuple[Instruction, int]] = []  # instruction, source line
        self.phase: ParamValue = 0.0
        self.measured: dict[int, int] = {}  # qubit -> line of its measurement
        self.bits_written: dict[int, int] = {}
        self.measures: list[tuple[int, int, int | None, int]] = []  # (op index, qubit, bit, line)
        self.includes: set[str] = set()
        self.defined_here: set[str] = set()  # gates defined by the program itself

    # -- errors -----------------------------------------------------------------------------
    def _where(self, node) -> tuple[int | None, int | None]:
        span = getattr(node, "span", None)
        if span is None:
            return None, None
        # the parser gives Identifier nodes a stream offset, not a column: report their line only
        col = None if isinstance(node, self.ast.Identifier) else span.start_column + 1
        return span.start_line, col

    def error(self, node, message: str, cls: type = QasmError) -> QasmError:
        line, col = self._where(node)
        where = "program" if line is None else f"line {line}" + (f", column {col}" if col else "")
        return cls(f"OpenQASM {where}: {message}", line=line, column=col)

    def unsupported(self, node, message: str) -> QasmError:
        return self.error(node, message, QasmUnsupportedError)

    # -- program ----------------------------------------------------------------------------
    def run(self) -> Circuit:
        import openqasm3
        from openqasm3 import ast

        self.ast = ast
        try:
            # the ANTLR lexer also prints its errors to stderr; the exception carries them
            with contextlib.redirect_stderr(io.StringIO()):
                program = openqasm3.parse(self.text)
        except Exception as exc:  # noqa: BLE001 - the parser raises ANTLR and its own errors
            raise self._syntax_error(exc) from None
        version = program.version
        if version is not None:
            major = version.split(".")[0]
            if major not in ("2", "3"):
                line = next((i for i, ln in enumerate(self.text.splitlines(), 1) if "OPENQASM" in ln), 1)
                raise QasmError(
                    f"OpenQASM line {line}: unsupported version OPENQASM {version}; qbridge reads "
                    "OpenQASM 2 and 3", line=line, column=None,
                )
            self.version = int(major)
        for name, b in (_ALWAYS_V2 if self.version == 2 else _ALWAYS_V3).items():
            self.gates[name] = b
            self.gate_lines[name] = 0
        for stmt in program.statements:
            self.statement(stmt)
        return self.build()

    def _syntax_error(self, exc: Exception) -> QasmError:
        line = col = None
        token = None
        cause = exc.__cause__
        if cause is not None and cause.args and hasattr(cause.args[0], "offendingToken"):
            tok = cause.args[0].offendingToken
            if tok is not None:
                line, col, token = tok.line, tok.column + 1, tok.text
        detail = str(exc)
        if line is None and detail.startswith("L") and ":C" in detail:
            head, _, rest = detail.partition(": ")
            try:
                line = int(head[1:].split(":")[0])
                col = int(head.split(":C")[1]) + 1
            except ValueError:
                line = None
            detail = rest
        if line is None:
            return QasmError(f"OpenQASM syntax error: {detail or 'the program does not parse'}", line=None, column=None)
        src_line = self.text.splitlines()[line - 1] if 0 < line <= len(self.text.splitlines()) else ""
        hint = ""
        if src_line.strip().startswith("opaque"):
            hint = "; opaque gates are not supported: define the gate with a body"
        elif token is not None and token != "<EOF>":
            hint = f" near {token!r}" + ("; is a ';' missing on the line before?" if col == 1 else "")
        elif token == "<EOF>":
            hint = " at the end of the program; is a ';' or '}' missing?"
        if detail and not detail.startswith("QASM3ParsingError") and "ParseCancellation" not in detail:
            hint += f" ({detail})"
        return QasmError(f"OpenQASM line {line}, column {col}: syntax error{hint}", line=line, column=col)

    def statement(self, stmt) -> None:
        ast = self.ast
        kind = type(stmt).__name__
        handler = getattr(self, f"on_{kind}", None)
        if handler is not None:
            handler(stmt)
            return
        reasons = {
            "BranchingStatement": "classical control ('if') is not supported: qbridge circuits have no "
            "feed-forward; remove the condition or run the branches as separate circuits",
            "SwitchStatement": "classical control ('switch') is not supported",
            "ForInLoop": "loops ('for') are not supported: unroll the loop",
            "WhileLoop": "loops ('while') are not supported: unroll the loop",
            "QuantumReset": "reset is not supported: qbridge circuits start in |0...0> and have no "
            "mid-circuit reset",
            "SubroutineDefinition": "subroutines ('def') are not supported: use 'gate' definitions",
            "ExternDeclaration": "'extern' functions are not supported",
            "DelayInstruction": "timing instructions ('delay') are not supported",
            "Box": "timing instructions ('box') are not supported",
            "CalibrationDefinition": "pulse calibrations ('defcal') are not supported",
            "CalibrationStatement": "pulse calibrations ('cal') are not supported",
            "CalibrationGrammarDeclaration": "pulse calibrations ('defcalgrammar') are not supported",
            "ClassicalAssignment": "classical computation (assignments) is not supported",
            "AliasStatement": "aliases ('let') are not supported: index the registers directly",
            "ExpressionStatement": "classical expression statements are not supported",
            "EndStatement": "'end' is not supported",
        }
        if isinstance(stmt, ast.Pragma) or kind == "Pragma":
            return  # implementation-specific; the specification says unknown pragmas are ignored
        raise self.unsupported(stmt, reasons.get(kind, f"{kind} statements are not supported"))

    # -- declarations -----------------------------------------------------------------------
    def origin(self, name: str) -> str:
        """Where a gate name comes from, for messages."""
        line = self.gate_lines.get(name)
        if not line:
            return "a built-in gate"
        if name in self.defined_here:
            return f"defined at line {line}"
        return f"from the include at line {line}"

    def declare(self, node, name: str) -> None:
        # gates and values are told apart by where they are used, so a value may share a gate's
        # name (Qiskit's importer refuses this; qbridge reads it)
        if name in self.names or name in _CONSTANTS:
            first = self.names.get(name)
            where = f" (first declared at line {first})" if first else " (a built-in constant)"
            raise self.error(node, f"redefinition of {name!r}{where}")
        self.names[name] = self._where(node)[0] or 0

    def on_Include(self, stmt) -> None:
        name = stmt.filename
        if name in self.includes:
            return
        if name == "stdgates.inc":
            table = _STDGATES_TABLE
        elif name == "qelib1.inc":
            table = _QELIB1_TABLE
        else:
            raise self.error(
                stmt, f"cannot include {name!r}: qbridge knows only \"stdgates.inc\" and "
                "\"qelib1.inc\"; paste the file's gate definitions into the program"
            )
        self.includes.add(name)
        line = self._where(stmt)[0] or 0
        for gname, builtin in table.items():
            if gname in self.gates and gname not in ("U", "CX"):
                raise self.error(stmt, f"{name!r} redefines gate {gname!r} ({self.origin(gname)})")
            self.gates.setdefault(gname, builtin)
            self.gate_lines.setdefault(gname, line)
        if name == "qelib1.inc":
            for definition in _qelib1_definitions():
                self.define(definition, line=line)

    def on_QubitDeclaration(self, stmt) -> None:
        if self.physical:
            raise self.error(stmt, "a program that uses hardware qubits ($0, $1, ...) cannot also declare qubits")
        name = stmt.qubit.name
        self.declare(stmt, name)
        size = 1 if stmt.size is None else self.int_value(stmt.size, "register size")
        if size < 1:
            raise self.error(stmt, f"register {name!r} needs a positive size, got {size}")
        self.check_size(stmt, name, self.num_qubits + size, "qubits")
        self.qregs[name] = list(range(self.num_qubits, self.num_qubits + size))
        self.num_qubits += size

    def check_size(self, stmt, name: str, total: int, what: str) -> None:
        """Refuse a declaration beyond the documented cap before its register is built."""
        from ..limits import MAX_PROGRAM_QUBITS

        if total > MAX_PROGRAM_QUBITS:
            raise self.error(
                stmt, f"register {name!r} would bring the program to {total} {what}, more than "
                f"qbridge's limit of {MAX_PROGRAM_QUBITS} (qbridge.limits.MAX_PROGRAM_QUBITS); no "
                f"simulator or device runs that many: declare fewer {what}", QasmLimitError,
            )

    def on_ClassicalDeclaration(self, stmt) -> None:
        ast = self.ast
        if not isinstance(stmt.type, ast.BitType):
            raise self.unsupported(
                stmt, f"classical variables of type {type(stmt.type).__name__[:-4].lower()} are not "
                "supported; only 'bit' registers (measurement results), 'const' and 'input float' are"
            )
        name = stmt.identifier.name
        self.declare(stmt, name)
        size = 1 if stmt.type.size is None else self.int_value(stmt.type.size, "register size")
        if size < 1:
            raise self.error(stmt, f"register {name!r} needs a positive size, got {size}")
        self.check_size(stmt, name, self.num_bits + size, "bits")
        self.cregs[name] = (self.num_bits, size)
        self.num_bits += size
        init = stmt.init_expression
        if init is not None:
            if isinstance(init, ast.QuantumMeasurement):
                self.measure(stmt, init.qubit, stmt.identifier)
            else:
                raise self.unsupported(stmt, "initialising bits with a value is not supported")

    def on_IODeclaration(self, stmt) -> None:
        ast = self.ast
        name = stmt.identifier.name
        if stmt.io_identifier != ast.IOKeyword.input:
            raise self.unsupported(stmt, f"'output' declarations are not supported ({name!r})")
        if not isinstance(stmt.type, (ast.FloatType, ast.AngleType)):
            raise self.unsupported(
                stmt, f"input {name!r} has type {type(stmt.type).__name__[:-4].lower()}; qbridge "
                "parameters are real numbers: declare it 'input float[64]'"
            )
        self.declare(stmt, name)
        qbridge_name = name
        for note in getattr(stmt, "annotations", None) or []:
            if note.keyword == _NAME_ANNOTATION[1:]:
                qbridge_name = (note.command or "").strip()
        try:
            self.inputs[name] = Parameter(qbridge_name)
        except ParameterError as exc:
            raise self.error(stmt, f"input {name!r} cannot be a qbridge parameter: {exc}") from None

    def on_ConstantDeclaration(self, stmt) -> None:
        name = stmt.identifier.name
        self.declare(stmt, name)
        value = self.value(stmt.init_expression, self.global_scope(), stmt)
        if isinstance(value, ParameterExpression):
            raise self.error(stmt, f"constant {name!r} depends on an input parameter; constants must be constant")
        self.consts[name] = value

    def on_QuantumGateDefinition(self, stmt) -> None:
        self.define(stmt)

    def define(self, stmt, line: int | None = None) -> None:
        name = stmt.name.name
        if name in self.gates:
            raise self.error(stmt, f"redefinition of gate {name!r} ({self.origin(name)})")
        params = tuple(a.name for a in stmt.arguments)
        qubits = tuple(q.name for q in stmt.qubits)
        for group, what in ((params, "parameter"), (qubits, "qubit")):
            if len(set(group)) != len(group):
                raise self.error(stmt, f"gate {name!r} repeats a {what} name")
        if set(params) & set(qubits):
            raise self.error(stmt, f"gate {name!r} uses {sorted(set(params) & set(qubits))} as both parameter and qubit")
        definition = _GateDefinition(name, params, qubits, list(stmt.body), line or self._where(stmt)[0] or 0)
        # expand at probe values now: checks the body where it is written, and recognises a
        # library gate by name, arity and matrix (up to global phase, as OpenQASM 2 and Qiskit's
        # exporter define gates)
        k = len(qubits)
        probes = [_probe(i, len(params)) for i in range(len(_PROBES))]
        expansions = [self.expand_definition(definition, probe, stmt) for probe in probes]
        gate = GATES.get(name)
        if gate is not None and gate.num_params == len(params) and gate.num_qubits == k and all(
            _equal_up_to_phase(ops_unitary(ops, float(ph), k), gate_matrix(name, probe))
            for (ops, ph), probe in zip(expansions, probes)
        ):
            definition.library = name
        self.gates[name] = definition
        self.gate_lines[name] = definition.line
        if line is None:
            self.defined_here.add(name)

    def global_scope(self) -> dict[str, ParamValue]:
        scope: dict[str, ParamValue] = dict(self.consts)
        scope.update(self.inputs)
        return scope

    # -- expressions ------------------------------------------------------------------------
    def value(self, expr, scope: dict[str, ParamValue], where, *, gate_scope: bool = False) -> ParamValue:
        ast = self.ast
        if isinstance(expr, ast.IntegerLiteral):
            return float(expr.value)
        if isinstance(expr, ast.FloatLiteral):
            return float(expr.value)
        if isinstance(expr, ast.Identifier):
            name = expr.name
            if name in scope:
                return scope[name]
            if name in _CONSTANTS:
                return _CONSTANTS[name]
            if gate_scope and name in self.inputs:
                raise self.error(
                    expr, f"gate bodies cannot use the input parameter {name!r}; pass it to the "
                    "gate as an argument"
                )
            if name in self.qregs or name in self.cregs:
                raise self.error(expr, f"register {name!r} used as a number")
            raise self.error(
                expr, f"undefined identifier {name!r}; declare parameters with 'input float[64] {name};'"
            )
        if isinstance(expr, ast.UnaryExpression):
            inner = self.value(expr.expression, scope, where, gate_scope=gate_scope)
            if expr.op.name == "-":
                return as_param_value(-inner)
            raise self.error(expr, f"operator {expr.op.name!r} is not supported in gate arguments")
        if isinstance(expr, ast.BinaryExpression):
            return self.binary(expr, scope, where, gate_scope)
        if isinstance(expr, ast.FunctionCall):
            fname = expr.name.name
            if fname not in _FUNCTIONS:
                raise self.error(expr, f"unknown function {fname!r}; known: {', '.join(sorted(_FUNCTIONS))}")
            if len(expr.arguments) != 1:
                raise self.error(expr, f"{fname} takes one argument, got {len(expr.arguments)}")
            arg = self.value(expr.arguments[0], scope, where, gate_scope=gate_scope)
            if isinstance(arg, ParameterExpression):
                raise self.nonlinear(expr, f"{fname}() of a parameter")
            try:
                return self.finite(expr, _FUNCTIONS[fname](arg))
            except (ValueError, OverflowError):
                raise self.error(expr, f"{fname}({arg!r}) is undefined") from None
        if isinstance(expr, ast.Cast):
            return self.value(expr.argument, scope, where, gate_scope=gate_scope)
        if isinstance(expr, ast.ImaginaryLiteral):
            raise self.error(expr, "complex numbers are not allowed in gate arguments")
        raise self.error(expr if getattr(expr, "span", None) else where,
                         f"{type(expr).__name__} is not supported in expressions")

    def finite(self, node, value: float) -> float:
        if not math.isfinite(value):
            raise self.error(node, "the expression overflows to a non-finite value")
        return value

    def nonlinear(self, node, what: str) -> QasmError:
        return self.error(
            node, f"non-linear use of a parameter ({what}): qbridge parameter expressions are "
            "linear (a*theta + b); introduce a new input parameter for the non-linear quantity"
        )

    def binary(self, expr, scope, where, gate_scope) -> ParamValue:
        op = expr.op.name
        a = self.value(expr.lhs, scope, where, gate_scope=gate_scope)
        b = self.value(expr.rhs, scope, where, gate_scope=gate_scope)
        sym_a, sym_b = isinstance(a, ParameterExpression), isinstance(b, ParameterExpression)
        if op == "^" and self.version == 2:
            op = "**"  # OpenQASM 2's power operator
        try:
            if op == "+":
                out = a + b
            elif op == "-":
                out = a - b
            elif op == "*":
                if sym_a and sym_b:
                    raise self.nonlinear(expr, "a product of parameters")
                out = a * b
            elif op == "/":
                if sym_b:
                    raise self.nonlinear(expr, "division by a parameter")
                if b == 0.0:
                    raise self.error(expr, "division by zero")
                out = a / b
            elif op == "**":
                if sym_a or sym_b:
                    raise self.nonlinear(expr, "a power of a parameter")
                out = a**b
                if isinstance(out, complex):
                    raise self.error(expr, f"{a!r} ** {b!r} is not a real number")
            elif op == "%" and not (sym_a or sym_b):
                if b == 0.0:
                    raise self.error(expr, "modulo by zero")
                out = math.fmod(a, b)
            else:
                raise self.error(expr, f"operator {op!r} is not supported in gate arguments")
        except OverflowError:
            raise self.error(expr, "the expression overflows") from None
        if isinstance(out, ParameterExpression):
            return as_param_value(out)
        return self.finite(expr, float(out))

    def int_value(self, expr, what: str) -> int:
        v = self.value(expr, dict(self.consts), expr)
        if isinstance(v, ParameterExpression) or v != int(v):
            raise self.error(expr, f"{what} must be a constant integer")
        return int(v)

    # -- qubit and bit operands -------------------------------------------------------------
    def indices(self, indexed, size: int, name: str) -> list[int]:
        ast = self.ast
        if len(indexed.indices) != 1:
            raise self.error(indexed, f"multi-dimensional indexing of {name!r} is not supported")
        group = indexed.indices[0]
        items = group.values if isinstance(group, ast.DiscreteSet) else group
        out: list[int] = []
        for item in items:
            if isinstance(item, ast.RangeDefinition):
                start = 0 if item.start is None else self.int_value(item.start, "a range start")
                end = size - 1 if item.end is None else self.int_value(item.end, "a range end")
                step = 1 if item.step is None else self.int_value(item.step, "a range step")
                if step == 0:
                    raise self.error(indexed, "a range step cannot be zero")
                start, end = (start + size if start < 0 else start), (end + size if end < 0 else end)
                picked = list(range(start, end + (1 if step > 0 else -1), step))
            else:
                picked = [self.int_value(item, "an index")]
            for i in picked:
                j = i + size if i < 0 else i
                if not 0 <= j < size:
                    raise self.error(
                        indexed, f"index {i} is out of range for {name!r} of size {size} "
                        f"(valid: 0..{size - 1})"
                    )
                out.append(j)
        return out

    def qubits_of(self, operand) -> list[int]:
        ast = self.ast
        if isinstance(operand, ast.Identifier):
            name = operand.name
            if name.startswith("$"):
                return [self.hardware_qubit(operand, name)]
            if name in self.qregs:
                return list(self.qregs[name])
            if name in self.cregs:
                raise self.error(operand, f"{name!r} is a bit register, not qubits")
            raise self.error(operand, f"undeclared qubit register {name!r}; declare it with 'qubit[n] {name};'")
        name = operand.name.name
        if name not in self.qregs:
            if name in self.cregs:
                raise self.error(operand, f"{name!r} is a bit register, not qubits")
            raise self.error(operand, f"undeclared qubit register {name!r}; declare it with 'qubit[n] {name};'")
        reg = self.qregs[name]
        return [reg[i] for i in self.indices(operand, len(reg), name)]

    def hardware_qubit(self, node, name: str) -> int:
        if self.qregs:
            raise self.error(node, f"hardware qubit {name} used in a program that declares qubit registers")
        try:
            index = int(name[1:])
        except ValueError:
            raise self.error(node, f"invalid hardware qubit {name!r}") from None
        self.physical = True
        self.num_qubits = max(self.num_qubits, index + 1)
        return index

    def bits_of(self, operand) -> list[int]:
        ast = self.ast
        name = operand.name if isinstance(operand, ast.Identifier) else operand.name.name
        if name not in self.cregs:
            if name in self.qregs:
                raise self.error(operand, f"{name!r} is a qubit register; measure into a bit register")
            raise self.error(operand, f"undeclared bit register {name!r}; declare it with 'bit[n] {name};'")
        first, size = self.cregs[name]
        if isinstance(operand, ast.Identifier):
            return list(range(first, first + size))
        return [first + i for i in self.indices(operand, size, name)]

    # -- quantum statements -----------------------------------------------------------------
    def on_QuantumGate(self, stmt) -> None:
        operands = [self.qubits_of(q) for q in stmt.qubits]
        params = tuple(self.value(a, self.global_scope(), stmt) for a in stmt.arguments)
        for qubits in self.broadcast(stmt, operands):
            ops, phase = self.apply(stmt, stmt.name.name, params, stmt.modifiers, len(qubits), scope=None)
            self.emit(stmt, ops, qubits)
            self.phase = as_param_value(self.phase + phase)

    def on_QuantumPhase(self, stmt) -> None:
        operands = [self.qubits_of(q) for q in stmt.qubits]
        angle = self.value(stmt.argument, self.global_scope(), stmt)
        if not stmt.qubits:
            ops, phase = self.apply_phase(stmt, angle, stmt.modifiers, 0, None)
            self.phase = as_param_value(self.phase + phase)
            return
        for qubits in self.broadcast(stmt, operands):
            ops, phase = self.apply_phase(stmt, angle, stmt.modifiers, len(qubits), None)
            self.emit(stmt, ops, qubits)
            self.phase = as_param_value(self.phase + phase)

    def broadcast(self, stmt, operands: list[list[int]]) -> list[list[int]]:
        sizes = {len(o) for o in operands if len(o) != 1}
        if len(sizes) > 1:
            raise self.error(stmt, f"registers of different sizes {sorted(sizes)} cannot be broadcast together")
        n = sizes.pop() if sizes else 1
        out = [[o[i] if len(o) > 1 else o[0] for o in operands] for i in range(n)]
        for qubits in out:
            if len(set(qubits)) != len(qubits):
                raise self.error(stmt, f"a gate acts on the same qubit twice (qubits {qubits})")
        return out

    def emit(self, stmt, ops: list[Op], qubits: list[int]) -> None:
        line = self._where(stmt)[0] or 0
        from ..limits import MAX_PROGRAM_INSTRUCTIONS

        if len(self.ops) + len(ops) > MAX_PROGRAM_INSTRUCTIONS:
            raise self.error(
                stmt, f"the program expands to more than {MAX_PROGRAM_INSTRUCTIONS} instructions "
                "(qbridge.limits.MAX_PROGRAM_INSTRUCTIONS); split it into several programs",
                QasmLimitError,
            )
        for name, local, ps in ops:
            gq = tuple(qubits[i] for i in local)
            for q in gq:
                if q in self.measured:
                    raise self.error(
                        stmt, f"gate {stmt.name.name if hasattr(stmt, 'name') else 'gphase'!r} acts on "
                        f"qubit {q} after it was measured (line {self.measured[q]}): mid-circuit "
                        "measurement is not supported; move measurements to the end",
                        QasmUnsupportedError,
                    )
            if name == "unitary":  # a matrix power or a controlled matrix (qbridge.ir.modifiers)
                self.ops.append((Instruction("unitary", gq, (), ps[0]), line))
            else:
                self.ops.append((Instruction(name, gq, tuple(as_param_value(p) for p in ps)), line))

    def plan_modifiers(self, stmt, modifiers: list, nq: int, scope) -> tuple[list, int]:
        """The modifiers as (kind, argument) pairs, outermost first, and the number of controls."""
        plan = []
        next_q = 0
        for mod in modifiers:
            kind = mod.modifier.name
            if kind in ("ctrl", "negctrl"):
                count = 1 if mod.argument is None else self.modifier_int(mod, scope)
                if count < 1:
                    raise self.error(mod, f"{kind}({count}) needs a positive number of controls")
                if next_q + count > nq:  # checked before anything the size of count is built
                    raise self.error(
                        mod, f"{kind}({count}) @ needs {next_q + count} control qubit(s) before the "
                        f"gate's own, but the statement has {nq} qubit(s) in all"
                    )
                plan.append((kind, list(range(next_q, next_q + count))))
                next_q += count
            elif kind == "inv":
                plan.append(("inv", None))
            else:
                k = self.value(mod.argument, scope if scope is not None else self.global_scope(), stmt)
                if isinstance(k, ParameterExpression):
                    raise self.error(
                        mod, "pow(k) @ needs a constant exponent; write the gate with a scaled "
                        "angle instead", QasmUnsupportedError,
                    )
                plan.append(("pow", float(k)))
        return plan, next_q

    def apply(self, stmt, name: str, params: tuple, modifiers: list, nq: int, scope) -> Expansion:
        """Expand a (modified) gate call on local qubits 0..nq-1."""
        plan, next_q = self.plan_modifiers(stmt, modifiers, nq, scope)
        gate = self.gates.get(name)
        if gate is None:
            raise self.unknown_gate(stmt, name)
        num_params, num_qubits = (
            (gate.num_params, gate.num_qubits) if isinstance(gate, _Builtin)
            else (len(gate.params), len(gate.qubits))
        )
        if len(params) != num_params:
            raise self.error(stmt, f"gate {name!r} takes {num_params} parameter(s), got {len(params)}")
        if nq - next_q != num_qubits:
            what = f" after {next_q} control qubit(s)" if next_q else ""
            raise self.error(stmt, f"gate {name!r} acts on {num_qubits} qubit(s){what}, got {nq - next_q}")
        if isinstance(gate, _Builtin):
            ops, phase = gate.expand(params)
        elif gate.library is not None:
            ops, phase = [(gate.library, tuple(range(num_qubits)), params)], 0.0
        else:
            try:
                ops, phase = self.expand_definition(gate, params, stmt)
            except QasmError as exc:
                call = self._where(stmt)[0]
                if call is None or "called at line" in exc.message:
                    raise
                raise type(exc)(
                    f"{exc.message} (in the body of gate {name!r}, called at line {call})",
                    line=exc.context.get("line"), column=exc.context.get("column"),
                ) from None
        return self.modify(stmt, ops, phase, plan, num_qubits, next_q)

    def modify(self, stmt, ops: list[Op], phase: ParamValue, plan: list, num_qubits: int,
               num_controls: int) -> Expansion:
        """Apply the modifiers to the expansion of a gate on local qubits 0..num_qubits-1.

        ``inv`` and ``pow`` commute with control (``C(U)^k == C(U^k)``), so they act on the gate
        itself, nearest first; then all controls at once (:mod:`qbridge.ir.modifiers`), so nested
        ``ctrl @ ctrl @`` costs what ``ctrl(2) @`` does.
        """
        try:
            for kind, arg in reversed(plan):
                if kind == "inv":
                    ops, phase = invert_ops(ops, phase)
                elif kind == "pow":
                    ops, phase = pow_ops(ops, phase, arg, num_qubits)
            ops = [(n, tuple(q + num_controls for q in qs), ps) for n, qs, ps in ops]
            controls = [q for kind, arg in plan if kind in ("ctrl", "negctrl") for q in arg]
            if not controls:
                return ops, phase
            flips = [("x", (q,), ()) for kind, arg in plan if kind == "negctrl" for q in arg]
            body = control_ops(ops, phase, controls, num_controls + num_qubits)
            return flips + body + flips, 0.0
        except ModifierError as exc:
            raise self.error(stmt, str(exc), QasmUnsupportedError if exc.unsupported else QasmError) from None

    def apply_phase(self, stmt, angle: ParamValue, modifiers: list, nq: int, scope) -> Expansion:
        """gphase, possibly controlled: ctrl @ gphase(a) q is p(a) q."""
        plan, next_q = self.plan_modifiers(stmt, modifiers, nq, scope)
        if nq not in (0, next_q):
            raise self.error(stmt, f"gphase takes only its {next_q} control qubit(s), got {nq} qubits")
        return self.modify(stmt, [], angle, plan, 0, next_q)

    def modifier_int(self, mod, scope) -> int:
        v = self.value(mod.argument, scope if scope is not None else self.global_scope(), mod)
        if isinstance(v, ParameterExpression) or v != int(v):
            raise self.error(mod, "the number of controls must be a constant integer")
        return int(v)

    def unknown_gate(self, stmt, name: str) -> QasmError:
        import difflib

        hint = ""
        if name in STDGATES and "stdgates.inc" not in self.includes:
            hint = '; add include "stdgates.inc"; to use the standard gates'
        elif name in _QELIB1_TABLE and "qelib1.inc" not in self.includes:
            hint = '; add include "qelib1.inc"; to use the OpenQASM 2 standard gates'
        else:
            close = difflib.get_close_matches(name, list(self.gates), n=1)
            if close:
                hint = f"; did you mean {close[0]!r}?"
        return self.error(stmt, f"unknown gate {name!r}{hint}")

    def expand_definition(self, gate: _GateDefinition, params: Sequence[ParamValue], where) -> Expansion:
        ast = self.ast
        scope: dict[str, ParamValue] = dict(self.consts)
        scope.update(zip(gate.params, params))
        local = {q: i for i, q in enumerate(gate.qubits)}
        ops: list[Op] = []
        phase: ParamValue = 0.0
        for stmt in gate.body:
            if isinstance(stmt, (ast.QuantumGate, ast.QuantumPhase)):
                qs = []
                for operand in stmt.qubits:
                    if not isinstance(operand, ast.Identifier) or operand.name not in local:
                        raise self.error(
                            operand, f"gate {gate.name!r} uses a qubit that is not one of its "
                            f"arguments {list(gate.qubits)}"
                        )
                    qs.append(local[operand.name])
                if len(set(qs)) != len(qs):
                    raise self.error(stmt, f"a gate in the body of {gate.name!r} acts on the same qubit twice")
                if isinstance(stmt, ast.QuantumGate):
                    args = tuple(self.value(a, scope, stmt, gate_scope=True) for a in stmt.arguments)
                    sub, ph = self.apply(stmt, stmt.name.name, args, stmt.modifiers, len(qs), scope)
                else:
                    angle = self.value(stmt.argument, scope, stmt, gate_scope=True)
                    sub, ph = self.apply_phase(stmt, angle, stmt.modifiers, len(qs), scope)
                ops += [(n, tuple(qs[i] for i in lq), ps) for n, lq, ps in sub]
                phase = as_param_value(phase + ph)
            elif isinstance(stmt, ast.QuantumBarrier):
                continue  # a barrier inside a gate has no effect on the gate's matrix
            else:
                raise self.unsupported(stmt, f"{type(stmt).__name__} is not allowed in a gate body")
        return ops, phase

    def on_QuantumBarrier(self, stmt) -> None:
        if not stmt.qubits:
            qubits = list(range(self.num_qubits))
        else:
            qubits = list(dict.fromkeys(q for operand in stmt.qubits for q in self.qubits_of(operand)))
        if qubits:
            self.ops.append((Instruction("barrier", tuple(qubits)), self._where(stmt)[0] or 0))

    def on_QuantumMeasurementStatement(self, stmt) -> None:
        self.measure(stmt, stmt.measure.qubit, stmt.target)

    def measure(self, stmt, qubit_operand, target) -> None:
        qubits = self.qubits_of(qubit_operand)
        bits: list[int | None] = [None] * len(qubits) if target is None else list(self.bits_of(target))
        if len(bits) != len(qubits):
            raise self.error(stmt, f"measuring {len(qubits)} qubit(s) into {len(bits)} bit(s)")
        line = self._where(stmt)[0] or 0
        for q, b in zip(qubits, bits):
            if q in self.measured:
                raise self.error(
                    stmt, f"qubit {q} is measured twice (first at line {self.measured[q]}): "
                    "mid-circuit measurement is not supported", QasmUnsupportedError,
                )
            if b is not None:
                if b in self.bits_written:
                    raise self.error(
                        stmt, f"bit {b} is written twice (first at line {self.bits_written[b]}); "
                        "measure each qubit into its own bit", QasmUnsupportedError,
                    )
                self.bits_written[b] = line
            self.measured[q] = line
        # statements that share a line (or measure a whole register) form one instruction
        last = self.ops[-1] if self.ops else None
        if last is not None and last[0].name == "measure" and last[1] == line:
            merged = Instruction("measure", last[0].qubits + tuple(qubits))
            self.ops[-1] = (merged, line)
        else:
            self.ops.append((Instruction("measure", tuple(qubits)), line))
        index = len(self.ops) - 1
        self.measures += [(index, q, b, line) for q, b in zip(qubits, bits)]

    # -- result -----------------------------------------------------------------------------
    def build(self) -> Circuit:
        if self.num_qubits == 0:
            raise QasmError("OpenQASM program declares no qubits; add 'qubit[n] q;'", line=None, column=None)
        ops = [op for op, _ in self.ops]
        keyed = [b for _, _, b, _ in self.measures if b is not None]
        in_order = all(a < b for a, b in zip(keyed, keyed[1:]))
        if not in_order or (keyed and len(keyed) != len(self.measures)):
            # classical bits are not in measurement order: measurements are terminal, so move
            # them all to the end, ordered by bit (bare 'measure q;' last, in program order)
            order = sorted(
                range(len(self.measures)),
                key=lambda i: (self.measures[i][2] is None, self.measures[i][2] or 0, i),
            )
            ops = [op for op in ops if op.name != "measure"]
            ops.append(Instruction("measure", tuple(self.measures[i][1] for i in order)))
        try:
            return Circuit(self.num_qubits, ops, global_phase=self.phase)
        except QBridgeError as exc:
            raise QasmError(f"OpenQASM program does not form a valid circuit: {exc}", line=None, column=None) from exc


def from_qasm(text: str) -> Circuit:
    """Read an OpenQASM 3 or OpenQASM 2 program (see the module docstring for what is supported)."""
    if not isinstance(text, str):
        hint = "; decode it first (data.decode('utf-8')) or use from_qasm_file" if isinstance(text, (bytes, bytearray)) else ""
        raise ArgumentTypeError(
            f"from_qasm expects the program text as str, got {type(text).__name__}{hint}", expected="str",
        )
    if not text.strip():
        raise QasmError(
            "the OpenQASM program is empty; a program needs at least a qubit declaration and a "
            "gate (OPENQASM 3.0; include \"stdgates.inc\"; qubit[1] q; h q[0];)",
            line=None, column=None,
        )
    from .qasm_stream import STREAM_THRESHOLD, stream_from_qasm, streamable

    if len(text) >= STREAM_THRESHOLD and streamable(text):  # large flat programs (qasm_stream)
        circuit = stream_from_qasm(text)
        if circuit is not None:
            return circuit
    return _Importer(text).run()


def from_qasm_file(path) -> Circuit:
    """Read an OpenQASM program from a file (UTF-8 text; a binary file is a QasmError)."""
    from pathlib import Path

    data = Path(path).read_bytes()
    if b"\x00" in data:
        raise QasmError(
            f"{path} is not a text file (it holds NUL bytes); pass an OpenQASM program "
            "(UTF-8 text)", line=None, column=None, path=str(path),
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise QasmError(
            f"{path} is not UTF-8 text (undecodable byte 0x{data[exc.start]:02x} at line {line}); "
            "save the program as UTF-8", line=line, column=None, path=str(path),
        ) from None
    try:
        return from_qasm(text)
    except QasmError as exc:
        if not text.strip():
            raise QasmError(f"{path} is empty; {exc.message.split('; ', 1)[1]}", line=None, column=None,
                            path=str(path)) from None
        raise
