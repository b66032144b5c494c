"""Large flat OpenQASM 3 programs, read statement by statement with Qiskit's Rust loader.

Owns: deciding whether a program can be streamed, splitting it into statements, and reading it
in chunks through ``qiskit.qasm3.loads_experimental`` (Qiskit's native OpenQASM 3 parser)
followed by :func:`qbridge.interop.qiskit.from_qiskit`, so that memory stays bounded by a chunk.

Must not touch: simulation, backends. An SDK adapter: registered under the ``qbridge.qasm_readers``
entry-point group (pyproject.toml), which :func:`qbridge.ir.qasm.from_qasm` offers programs of at
least ``FAST_READER_MIN_CHARS`` characters before its reference parser; :func:`read` declines
(None) what it does not stream.

Which parser reads a program (measured in ``benchmarks/qasm_large.py``; numbers in
docs/hostile-inputs.md):

- The reference ``openqasm3`` parser (ANTLR, pure Python) reads every program below
  :data:`STREAM_THRESHOLD` characters, every program that is not flat (below), and every
  program when Qiskit is not installed. It costs about 0.35 ms per gate statement (10 MB,
  667k statements: about 4 minutes).
- Streaming (this module) reads flat programs of at least :data:`STREAM_THRESHOLD` characters
  when ``qiskit`` (>= 1.3, with ``loads_experimental``) is installed: each chunk of
  :data:`CHUNK_STATEMENTS` gate statements, preceded by the program's declarations, goes through
  Qiskit's Rust parser; about 25x faster, and peak memory independent of the program's length.
- Flat, checked statement by statement against a whitelist: ``OPENQASM 3``, ``include
  "stdgates.inc"``, ``qubit[N] name;`` and ``bit[N] name;`` with literal sizes, all before the
  first gate; then calls of stdgates.inc gates with decimal-literal arguments (``rx(0.5)``, not
  ``rx(pi/2)``) on whole registers or non-negative literal indices, ``barrier``, and terminal
  ``c[i] = measure q[j];`` / ``c = measure q;``. Anything else (inputs, constants, expressions,
  negative indices, ranges, modifiers, ``gate`` definitions, ``gphase``, control flow,
  OpenQASM 2) is read by the reference parser with the importer's own semantics
  (:mod:`qbridge.ir.qasm`). The whitelist is that narrow on purpose: Qiskit's loader reads
  ``q[-1]`` of a 3-qubit register as ``q[1]`` (OpenQASM: ``q[2]``), so nothing outside what
  the tests compare is handed to it.
- When Qiskit's loader refuses a chunk (a syntax error, an unknown gate), the whole program is
  read again by the reference parser, whose error names the line and column; the time it takes
  is the reference parser's. This is logged (logger ``qbridge.ir.qasm``), not silent.

Tests check that both paths give the same circuit (unitary, parameters, measured qubits) on
every flat program of the test corpus and on randomized ones.
"""

from __future__ import annotations

import logging
import re
from typing import Iterator

from ..ir.circuit import Circuit, Instruction
from ..ir.parameters import as_param_value

__all__ = ["STREAM_THRESHOLD", "CHUNK_STATEMENTS", "streamable", "stream_from_qasm", "read", "split_statements"]

LOG = logging.getLogger("qbridge.ir.qasm")

STREAM_THRESHOLD = 256 * 1024  # characters
CHUNK_STATEMENTS = 20_000

_STDGATES = ("p x y z h s sdg t tdg sx rx ry rz cx cy cz cp crx cry crz ch swap ccx cswap cu CX phase cphase "
             "id u1 u2 u3").split()
_NUM = r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?"
_OPERAND = r"[A-Za-z_][A-Za-z0-9_]*(?:\s*\[\s*\d+\s*\])?"
_FLAT_GATE = re.compile(
    rf"(?:{'|'.join(sorted(_STDGATES, key=len, reverse=True))}|barrier)(?:\s*\(\s*{_NUM}(?:\s*,\s*{_NUM})*\s*\))?"
    rf"\s+{_OPERAND}(?:\s*,\s*{_OPERAND})*\s*;")
_FLAT_MEASURE = re.compile(rf"{_OPERAND}\s*=\s*measure\s+{_OPERAND}\s*;")
_FLAT_HEADER = re.compile(r"OPENQASM\s+3(?:\.\d+)?\s*;|include\s+\"stdgates\.inc\"\s*;|"
                          r"(?:qubit|bit)(?:\s*\[\s*\d+\s*\])?\s+[A-Za-z_][A-Za-z0-9_]*\s*;")
_TOKENS = re.compile(r"//[^\n]*|/\*.*?\*/|\"[^\"]*\"|[{};]", re.S)
_HEADER_WORDS = {"OPENQASM", "include", "qubit", "bit", "input", "const", "angle", "float", "int", "uint",
                 "bool", "complex", "array", "duration", "stretch", "output", "creg", "qreg"}
_WORD = re.compile(r"[A-Za-z_$][A-Za-z0-9_]*")


def split_statements(text: str) -> Iterator[tuple[str, int]]:
    """(statement text, 1-based line of its start); comments dropped, ``;`` ends a statement.
    Braces make a program non-flat, so they only need to be seen, not matched."""
    start = 0
    pieces: list[str] = []
    line = 1
    stmt_line = None
    for m in _TOKENS.finditer(text):
        tok = m.group()
        chunk = text[start:m.start()]
        if chunk.strip() and stmt_line is None:
            stmt_line = line + chunk[: len(chunk) - len(chunk.lstrip())].count("\n")
        pieces.append(chunk)
        line += chunk.count("\n")
        start = m.end()
        if tok.startswith("//") or tok.startswith("/*"):
            line += tok.count("\n")
            pieces.append(" ")
            continue
        if tok.startswith('"'):
            pieces.append(tok)
            if stmt_line is None:
                stmt_line = line
            line += tok.count("\n")
            continue
        pieces.append(tok)
        if tok == ";":
            yield "".join(pieces).strip(), stmt_line or line
            pieces, stmt_line = [], None
        else:  # a brace: not flat; hand the rest over as one piece
            yield "".join(pieces).strip() + text[start:], stmt_line or line
            return
    rest = "".join(pieces) + text[start:]
    if rest.strip():
        yield rest.strip(), stmt_line or line


def _kind(stmt: str) -> str:
    m = _WORD.match(stmt)
    word = m.group() if m else ""
    if word in _HEADER_WORDS:
        return "header"
    if word == "measure" or re.match(r"^[A-Za-z_][A-Za-z0-9_]*(\s*\[[^\]]*\])?\s*=\s*measure\b", stmt):
        return "measure"
    return "body"


def _qiskit_loader():
    try:
        from qiskit.qasm3 import loads_experimental  # noqa: F401
    except ImportError:
        return None
    return loads_experimental


def streamable(text: str) -> bool:
    """Whether :func:`stream_from_qasm` may read ``text`` (the module notes say when)."""
    if len(text) < STREAM_THRESHOLD or _qiskit_loader() is None:
        return False
    head = text.lstrip()[:200]
    return bool(re.match(r"(//[^\n]*\n\s*)*OPENQASM\s+3", head))  # the whitelist is checked in _split


def _split(text: str) -> tuple[list[str], list[str], list[str]] | None:
    header: list[str] = []
    body: list[str] = []
    tail: list[str] = []
    includes_ok = True
    sizes = {"qubit": 0, "bit": 0}
    from ..limits import MAX_PROGRAM_QUBITS

    for stmt, _ in split_statements(text):
        kind = _kind(stmt)
        if kind == "header":
            if body or tail or not _FLAT_HEADER.fullmatch(stmt):
                return None  # a declaration after the first gate, or one outside the whitelist
            if stmt.startswith("include") and '"stdgates.inc"' not in stmt:
                includes_ok = False
            m = re.match(r"(qubit|bit)\s*(?:\[\s*([^\]]*)\])?", stmt)
            if m:
                if m.group(2) is not None and not m.group(2).strip().isdigit():
                    return None  # a size expression: the importer evaluates it
                sizes[m.group(1)] += int(m.group(2)) if m.group(2) is not None else 1
                if sizes[m.group(1)] > MAX_PROGRAM_QUBITS:
                    return None  # the importer refuses it, with the line, before allocating
            header.append(stmt)
        elif kind == "measure" or tail:
            if not (_FLAT_MEASURE.fullmatch(stmt) or _FLAT_GATE.fullmatch(stmt)):
                return None
            tail.append(stmt)  # measurements are terminal: they and what follows go last
        elif _FLAT_GATE.fullmatch(stmt):
            body.append(stmt)
        else:
            return None
    return (header, body, tail) if includes_ok else None


def stream_from_qasm(text: str) -> Circuit | None:
    """The circuit of a flat program read in chunks, or None when the reference parser must read it."""
    import warnings

    loads = _qiskit_loader()
    parts = _split(text)
    if loads is None or parts is None:
        return None
    header, body, tail = parts
    head = "\n".join(header) + "\n"
    from .qiskit import from_qiskit  # imports qiskit: only when a program is streamed
    from ..limits import MAX_PROGRAM_INSTRUCTIONS

    ops: list[Instruction] = []
    phase = as_param_value(0.0)
    num_qubits = None
    chunks = [body[i:i + CHUNK_STATEMENTS] for i in range(0, len(body), CHUNK_STATEMENTS)] or [[]]
    chunks[-1] = chunks[-1] + tail
    for chunk in chunks:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Qiskit's ExperimentalWarning, once per chunk
                qc = loads(head + "\n".join(chunk) + "\n")
            part = from_qiskit(qc)
        except Exception as exc:  # noqa: BLE001 - any refusal: the reference parser reads it
            LOG.info("Qiskit's OpenQASM 3 loader refused a chunk (%s); reading the program with the "
                     "reference parser", exc)
            return None
        del qc
        num_qubits = part.num_qubits
        ops.extend(part.instructions)
        if len(ops) > MAX_PROGRAM_INSTRUCTIONS:
            from ..ir.qasm import QasmLimitError

            raise QasmLimitError(
                f"the program expands to more than {MAX_PROGRAM_INSTRUCTIONS} instructions "
                "(qbridge.limits.MAX_PROGRAM_INSTRUCTIONS); split it into several programs",
                line=None, column=None,
            )
        phase = as_param_value(phase + part.global_phase)
    return Circuit(num_qubits, ops, global_phase=phase)


def read(text: str) -> Circuit | None:
    """The entry point of the ``qbridge.qasm_readers`` group: the streamed circuit of a large flat
    program, or None (too small, not flat, or Qiskit's loader missing or refusing)."""
    if not streamable(text):
        return None
    return stream_from_qasm(text)
