"""A versioned JSON form of qbridge circuits, exact to the last bit.

Owns: :func:`to_json` / :func:`from_json` (and :func:`to_dict` / :func:`from_dict` for embedding a
circuit in a larger JSON document, such as a job record). Unlike OpenQASM, this form holds every
instruction kind (unitary matrices of any size, amplitude encoding of run-time inputs), so
``from_json(to_json(c)) == c`` for every circuit. Floats are written with ``repr`` and read back
unchanged.

Must not touch: simulation, backends, SDKs.

Schema, format version 1::

    {
      "qbridge_circuit": 1,                  # format version (an integer; required)
      "num_qubits": 3,                       # positive integer (required)
      "name": "ansatz",                      # string or null (optional)
      "global_phase": <param>,               # optional, default 0.0
      "instructions": [<instruction>, ...]   # in order (required)
    }

    <param>       := number
                   | {"const": number, "terms": [[name, coefficient], ...]}
                     # the linear expression const + sum(coefficient * name), terms in order of
                     # first appearance; names follow qbridge.ir.Parameter's rules
    <complex>     := [real, imag]
    <instruction> := {"op": <gate name>, "qubits": [int, ...], "params": [<param>, ...]}
                     # a gate of qbridge.ir.gates.GATES; "params" may be left out when empty
                   | {"op": "mcu", "qubits": [control, ..., target], "params": [theta, phi, lam, gamma]}
                     # e^{i gamma} u(theta, phi, lam) on the target where every control is 1
                   | {"op": "unitary", "qubits": [...], "matrix": [[<complex>, ...], ...]}
                     # row-major, rows indexed like the gate matrices (first qubit most significant)
                   | {"op": "amplitude_encode", "qubits": [...], "input": <name>}
                   | {"op": "amplitude_encode", "qubits": [...], "vector": [<complex>, ...]}
                     # a fixed vector of 2^len(qubits) amplitudes, normalised
                   | {"op": "measure", "qubits": [...]}
                   | {"op": "barrier", "qubits": [...]}

Readers refuse unknown keys, unknown ops and newer format versions with a
:class:`SerializationError` (a :class:`~qbridge.exceptions.CircuitError`) whose ``path`` names the
offending field, e.g. ``instructions[3].params[0]``.
"""

from __future__ import annotations

import json
import math
import numbers
from typing import Any

import numpy as np

from ..exceptions import CircuitError, QBridgeError
from .circuit import Circuit, Instruction
from .gates import GATES
from .parameters import Parameter, ParameterExpression, ParamValue

__all__ = ["FORMAT_VERSION", "SerializationError", "to_json", "from_json", "to_dict", "from_dict"]

FORMAT_VERSION = 1
_TOP_KEYS = {"qbridge_circuit", "num_qubits", "name", "global_phase", "instructions"}


class SerializationError(CircuitError):
    """A JSON document is not a valid qbridge circuit; ``path`` names the offending field."""


# -- writing ---------------------------------------------------------------------------------

def _param_doc(value: ParamValue) -> Any:
    if isinstance(value, ParameterExpression) and not value.is_constant():
        return {"const": value.const, "terms": [[name, coeff] for name, coeff in value.terms]}
    return float(value.const if isinstance(value, ParameterExpression) else value)


def _complex_doc(z: complex) -> list[float]:
    return [float(z.real), float(z.imag)]


def _instruction_doc(op: Instruction) -> dict[str, Any]:
    doc: dict[str, Any] = {"op": op.name, "qubits": list(op.qubits)}
    if op.name == "unitary":
        doc["matrix"] = [[_complex_doc(v) for v in row] for row in op.matrix]
    elif op.name == "amplitude_encode":
        if isinstance(op.source, str):
            doc["input"] = op.source
        else:
            doc["vector"] = [_complex_doc(v) for v in op.source]
    elif op.params:
        doc["params"] = [_param_doc(p) for p in op.params]
    return doc


def to_dict(circuit: Circuit) -> dict[str, Any]:
    """The circuit as plain JSON-ready Python data (format version 1)."""
    if not isinstance(circuit, Circuit):
        raise TypeError(f"expected a Circuit, got {type(circuit).__name__}")
    return {
        "qbridge_circuit": FORMAT_VERSION,
        "num_qubits": circuit.num_qubits,
        "name": circuit.name,
        "global_phase": _param_doc(circuit.global_phase),
        "instructions": [_instruction_doc(op) for op in circuit],
    }


def to_json(circuit: Circuit) -> str:
    """The circuit as JSON text, one instruction per line (diff-friendly)."""
    doc = to_dict(circuit)

    def dump(v: Any) -> str:
        return json.dumps(v, allow_nan=False)

    head = [f'  "{key}": {dump(doc[key])}' for key in ("qbridge_circuit", "num_qubits", "name", "global_phase")]
    ops = ",\n".join(f"    {dump(op)}" for op in doc["instructions"])
    body = f'  "instructions": [\n{ops}\n  ]' if ops else '  "instructions": []'
    return "{\n" + ",\n".join(head + [body]) + "\n}\n"


# -- reading ---------------------------------------------------------------------------------

def _fail(path: str, message: str) -> SerializationError:
    where = f"{path}: " if path else ""
    return SerializationError(f"invalid qbridge circuit JSON: {where}{message}", path=path or None)


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _fail(path, f"expected a number, got {json.dumps(value) if _jsonable(value) else type(value).__name__}")
    out = float(value)
    if not math.isfinite(out):
        raise _fail(path, "numbers must be finite")
    return out


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


def _int(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _fail(path, f"expected an integer, got {value!r}")
    return int(value)


def _list(value: Any, path: str) -> list:
    if not isinstance(value, list):
        raise _fail(path, f"expected a list, got {type(value).__name__}")
    return value


def _object(value: Any, path: str, allowed: set[str], required: set[str]) -> dict:
    if not isinstance(value, dict):
        raise _fail(path, f"expected an object, got {type(value).__name__}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise _fail(path, f"unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    missing = sorted(required - set(value))
    if missing:
        raise _fail(path, f"missing key(s) {missing}")
    return value


def _param(value: Any, path: str) -> ParamValue:
    if isinstance(value, dict):
        doc = _object(value, path, {"const", "terms"}, {"terms"})
        const = _number(doc.get("const", 0.0), f"{path}.const")
        terms: dict[str, float] = {}
        for i, term in enumerate(_list(doc["terms"], f"{path}.terms")):
            tpath = f"{path}.terms[{i}]"
            if not isinstance(term, list) or len(term) != 2 or not isinstance(term[0], str):
                raise _fail(tpath, "a term is [name, coefficient]")
            name = term[0]
            try:
                Parameter(name)
            except QBridgeError as exc:
                raise _fail(tpath, str(exc)) from None
            if name in terms:
                raise _fail(tpath, f"parameter {name!r} appears twice; add the coefficients")
            terms[name] = _number(term[1], f"{tpath}[1]")
        expr = ParameterExpression(terms, const)
        if expr.is_constant():
            return expr.const
        if len(expr.terms) == 1 and expr.terms[0][1] == 1.0 and expr.const == 0.0:
            return Parameter(expr.terms[0][0])
        return expr
    return _number(value, path)


def _complex(value: Any, path: str) -> complex:
    if not isinstance(value, list) or len(value) != 2:
        raise _fail(path, "a complex number is [real, imag]")
    return complex(_number(value[0], f"{path}[0]"), _number(value[1], f"{path}[1]"))


def _instruction(doc: Any, path: str, touched: set[int]) -> Instruction:
    if not isinstance(doc, dict):
        raise _fail(path, f"expected an object, got {type(doc).__name__}")
    op = doc.get("op")
    if not isinstance(op, str):
        raise _fail(f"{path}.op", "every instruction needs an 'op' name (a string)")
    base = {"op", "qubits"}
    if op == "unitary":
        doc = _object(doc, path, base | {"matrix"}, base | {"matrix"})
    elif op == "amplitude_encode":
        doc = _object(doc, path, base | {"input", "vector"}, base)
        if ("input" in doc) == ("vector" in doc):
            raise _fail(path, "amplitude_encode needs exactly one of 'input' (a name) or 'vector'")
    elif op in ("measure", "barrier"):
        doc = _object(doc, path, base, base)
    elif op in GATES or op == "mcu":
        doc = _object(doc, path, base | {"params"}, base)
    else:
        import difflib

        close = difflib.get_close_matches(op, list(GATES) + ["unitary", "mcu", "amplitude_encode", "measure", "barrier"], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise _fail(f"{path}.op", f"unknown instruction {op!r}{hint}")
    qubits = tuple(_int(q, f"{path}.qubits[{i}]") for i, q in enumerate(_list(doc["qubits"], f"{path}.qubits")))
    if op == "unitary":
        rows = _list(doc["matrix"], f"{path}.matrix")
        matrix = tuple(
            tuple(_complex(v, f"{path}.matrix[{r}][{c}]") for c, v in enumerate(_list(row, f"{path}.matrix[{r}]")))
            for r, row in enumerate(rows)
        )
        if len({len(row) for row in matrix}) > 1:
            raise _fail(f"{path}.matrix", "rows of different lengths")
        return Instruction("unitary", qubits, (), matrix)
    if op == "amplitude_encode":
        fresh = touched.intersection(qubits)
        if fresh:
            raise _fail(path, f"amplitude_encode on qubits {sorted(fresh)} that were already acted on")
        if "input" in doc:
            name = doc["input"]
            if not isinstance(name, str):
                raise _fail(f"{path}.input", "the input name must be a string")
            try:
                Parameter(name)
            except QBridgeError as exc:
                raise _fail(f"{path}.input", str(exc)) from None
            return Instruction(op, qubits, (), None, name)
        vec = tuple(_complex(v, f"{path}.vector[{i}]") for i, v in enumerate(_list(doc["vector"], f"{path}.vector")))
        if len(vec) != 2 ** len(qubits):
            raise _fail(f"{path}.vector", f"{len(vec)} amplitudes for {len(qubits)} qubit(s); expected {2 ** len(qubits)}")
        norm = float(np.linalg.norm(np.array(vec)))
        if abs(norm - 1.0) > 1e-9:
            raise _fail(f"{path}.vector", f"the amplitudes must be normalised (norm {norm!r})")
        return Instruction(op, qubits, (), None, vec)
    params = tuple(_param(p, f"{path}.params[{i}]") for i, p in enumerate(_list(doc.get("params", []), f"{path}.params")))
    return Instruction(op, qubits, params)


def from_dict(doc: Any) -> Circuit:
    """Build a circuit from data in the format of :func:`to_dict`."""
    doc = _object(doc, "", _TOP_KEYS, {"qbridge_circuit", "num_qubits", "instructions"})
    version = doc["qbridge_circuit"]
    if isinstance(version, bool) or not isinstance(version, int):
        raise _fail("qbridge_circuit", f"the format version must be an integer, got {version!r}")
    if version != FORMAT_VERSION:
        newer = " (written by a newer qbridge; upgrade qbridge)" if version > FORMAT_VERSION else ""
        raise _fail("qbridge_circuit", f"unsupported format version {version}{newer}; this qbridge reads version {FORMAT_VERSION}")
    n = _int(doc["num_qubits"], "num_qubits")
    name = doc.get("name")
    if name is not None and not isinstance(name, str):
        raise _fail("name", "the name must be a string or null")
    phase = _param(doc.get("global_phase", 0.0), "global_phase")
    ops: list[Instruction] = []
    touched: set[int] = set()
    for i, entry in enumerate(_list(doc["instructions"], "instructions")):
        op = _instruction(entry, f"instructions[{i}]", touched)
        if op.name != "barrier":
            touched.update(op.qubits)
        ops.append(op)
    try:
        return Circuit(n, ops, global_phase=phase, name=name)
    except QBridgeError as exc:
        raise _fail(_fault(n, ops), str(exc)) from None


def _fault(n: int, ops: list[Instruction]) -> str:
    """The field a circuit error comes from (run on the error path only: quadratic is fine)."""
    try:
        partial = Circuit(n)
    except QBridgeError:
        return "num_qubits"
    for i, op in enumerate(ops):
        try:
            partial = partial.add(op)
        except QBridgeError:
            return f"instructions[{i}]"
    return ""


def from_json(text: str | bytes) -> Circuit:
    """Read a circuit written by :func:`to_json` (exact: ``from_json(to_json(c)) == c``)."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _fail("", f"the document is not UTF-8 ({exc})") from None
    if not isinstance(text, str):
        raise TypeError(f"from_json expects JSON text, got {type(text).__name__}")

    def no_constants(name: str):
        raise _fail("", f"{name} is not a valid number; circuits hold finite numbers only")

    try:
        doc = json.loads(text, parse_constant=no_constants)
    except json.JSONDecodeError as exc:
        raise SerializationError(
            f"invalid qbridge circuit JSON: not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})",
            line=exc.lineno, column=exc.colno,
        ) from None
    return from_dict(doc)
