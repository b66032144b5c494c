"""OpenQASM 3 export, and OpenQASM 2 and 3 import, of qbridge circuits.

The package: :mod:`.export` (``to_qasm``), :mod:`.importer` (``from_qasm``, an ``openqasm3``
visitor), :mod:`.gates` (the gate tables a program sees), :mod:`.errors`; large flat programs are
streamed by :mod:`qbridge.interop.qasm_stream` (a reader of the ``qbridge.qasm_readers`` entry-point group).

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
  instruction (a scaled rotation angle, or the matrix power) whatever ``k``; ``ctrl(n)`` is
  one ``mcu`` instruction per basis gate whatever ``n`` (``ctrl(11) @ x`` is one instruction).
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

from ...exceptions import QasmError
from .errors import STDGATES, QasmLimitError, QasmUnsupportedError
from .export import to_qasm
from .importer import from_qasm, from_qasm_file

__all__ = ["to_qasm", "from_qasm", "from_qasm_file", "QasmError", "QasmUnsupportedError", "QasmLimitError", "STDGATES"]
