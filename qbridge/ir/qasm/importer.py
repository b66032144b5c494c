"""OpenQASM 2 and 3 import (``from_qasm``) on the maintained ``openqasm3`` parser and its visitor.

The importer is an :class:`openqasm3.visitor.QASMVisitor`: each statement kind has its
``visit_<Node>`` method; any other statement is refused by ``generic_visit`` with the reason
(:class:`~qbridge.ir.qasm.errors.QasmUnsupportedError`). The rules are in :mod:`qbridge.ir.qasm`.

Why this file is long (about 800 lines): one visitor class holds the state every statement kind
reads and writes (registers, scopes, the gate table, measurements); split across modules it
would pass that state around instead of owning it. Expressions, gate tables and export live
beside it.
"""

from __future__ import annotations

import contextlib
import io
import math
from dataclasses import dataclass
from typing import Callable, Sequence

from ...exceptions import (
    ArgumentTypeError,
    ParameterError,
    QasmError,
    QBridgeError,
)
from ..circuit import Circuit, Instruction
from ..gates import GATES, PI, gate_matrix
from ..modifiers import ModifierError, control_ops, invert_ops, pow_ops
from ..parameters import Parameter, ParameterExpression, ParamValue, as_param_value
from ..unitary import ops_unitary
from openqasm3.visitor import QASMVisitor

from .errors import STDGATES, QasmLimitError, QasmUnsupportedError
from .export import _NAME_ANNOTATION
from .gates import (
    _ALWAYS_V2,
    _ALWAYS_V3,
    _PROBES,
    _QELIB1_TABLE,
    _STDGATES_TABLE,
    Expansion,
    Op,
    _Builtin,
    _equal_up_to_phase,
    _probe,
    _qelib1_definitions,
)

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


class _Importer(QASMVisitor):
    """One program's import: ``visit_<Statement>`` per supported statement kind; ``generic_visit``
    refuses the others with the reason."""

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
            self.visit(stmt)
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

    def generic_visit(self, stmt, context=None) -> None:
        """A statement kind without a ``visit_`` method: refused with the reason (or ignored: pragmas)."""
        ast = self.ast
        kind = type(stmt).__name__
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

    def visit_Include(self, stmt) -> None:
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

    def visit_QubitDeclaration(self, stmt) -> None:
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
        from ...limits import MAX_PROGRAM_QUBITS

        if total > MAX_PROGRAM_QUBITS:
            raise self.error(
                stmt, f"register {name!r} would bring the program to {total} {what}, more than "
                f"qbridge's limit of {MAX_PROGRAM_QUBITS} (qbridge.limits.MAX_PROGRAM_QUBITS); no "
                f"simulator or device runs that many: declare fewer {what}", QasmLimitError,
            )

    def visit_ClassicalDeclaration(self, stmt) -> None:
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

    def visit_IODeclaration(self, stmt) -> None:
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

    def visit_ConstantDeclaration(self, stmt) -> None:
        name = stmt.identifier.name
        self.declare(stmt, name)
        value = self.value(stmt.init_expression, self.global_scope(), stmt)
        if isinstance(value, ParameterExpression):
            raise self.error(stmt, f"constant {name!r} depends on an input parameter; constants must be constant")
        self.consts[name] = value

    def visit_QuantumGateDefinition(self, stmt) -> None:
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
    def visit_QuantumGate(self, stmt) -> None:
        operands = [self.qubits_of(q) for q in stmt.qubits]
        params = tuple(self.value(a, self.global_scope(), stmt) for a in stmt.arguments)
        for qubits in self.broadcast(stmt, operands):
            ops, phase = self.apply(stmt, stmt.name.name, params, stmt.modifiers, len(qubits), scope=None)
            self.emit(stmt, ops, qubits)
            self.phase = as_param_value(self.phase + phase)

    def visit_QuantumPhase(self, stmt) -> None:
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
        from ...limits import MAX_PROGRAM_INSTRUCTIONS

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

    def visit_QuantumBarrier(self, stmt) -> None:
        if not stmt.qubits:
            qubits = list(range(self.num_qubits))
        else:
            qubits = list(dict.fromkeys(q for operand in stmt.qubits for q in self.qubits_of(operand)))
        if qubits:
            self.ops.append((Instruction("barrier", tuple(qubits)), self._where(stmt)[0] or 0))

    def visit_QuantumMeasurementStatement(self, stmt) -> None:
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
    if len(text) >= FAST_READER_MIN_CHARS:  # large programs: the fast readers first
        for reader in _fast_readers():
            circuit = reader(text)
            if circuit is not None:
                return circuit
    return _Importer(text).run()


#: Programs of at least this many characters are offered first to the readers registered under
#: the :data:`QASM_READER_GROUP` entry-point group, in name order; the reference parser reads the
#: rest and whatever they decline. qbridge registers one: Qiskit's Rust loader for large flat
#: programs (:mod:`qbridge.interop.qasm_stream`), an SDK adapter the IR does not import.
FAST_READER_MIN_CHARS = 256 * 1024
QASM_READER_GROUP = "qbridge.qasm_readers"


def _fast_readers() -> list:
    from importlib import metadata

    readers = []
    for ep in sorted(metadata.entry_points(group=QASM_READER_GROUP), key=lambda e: e.name):
        try:
            readers.append(ep.load())
        except ImportError:  # its SDK is not installed here
            continue
    return readers


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
