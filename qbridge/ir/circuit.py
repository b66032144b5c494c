"""The frozen, backend-neutral circuit.

Owns: :class:`Instruction` and :class:`Circuit` (immutable; every builder method returns a new
circuit), structural validation (qubit range, arity, terminal measurement), symbolic parameters
and encoded inputs, inversion, composition and decomposition into a gate basis.

Must not touch: simulation, backends, SDKs. Conversions live in ``qasm.py`` and ``serialize.py``.

Building reads like Qiskit or Braket, chained::

    bell = Circuit(2).h(0).cx(0, 1)
    theta = Parameter("theta")
    ansatz = Circuit(2).amplitude_encode("x").ry(0, theta).cx(0, 1)

Instruction kinds besides the gates of :mod:`qbridge.ir.gates`:

- ``unitary``: an explicit matrix (checked to be unitary), carried in ``Instruction.matrix``;
- ``mcu``: a multi-controlled one-qubit gate, one instruction however many controls: qubits
  ``(c_1, ..., c_m, t)``, params ``(theta, phi, lam, gamma)``; it applies ``e^{i gamma}
  u(theta, phi, lam)`` to ``t`` where every control is 1 (``negctrl`` is X around it). Backends
  that do not list it in ``native_gates`` get an exact, ancilla-free decomposition
  (:mod:`qbridge.ir.modifiers`, borrowing idle qubits of the circuit);
- ``amplitude_encode``: state preparation on fresh qubits, from a run-time input (``source`` is
  the input's name, bound per batch element) or a fixed vector; inputs are padded with zeros to
  2^k and normalised at run time;
- ``measure``: terminal measurement; nothing may act on a qubit after it is measured;
- ``barrier``: no effect on results, kept for export.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from ..exceptions import CircuitError, EncodingError, GateError, ParameterError, UnsupportedFeatureError
from .gates import GATES, get_gate, zyz_angles
from .parameters import Parameter, ParameterExpression, ParamValue, as_param_value

__all__ = ["Instruction", "Circuit", "SPECIAL_INSTRUCTIONS", "MCU_NUM_PARAMS"]

SPECIAL_INSTRUCTIONS = ("unitary", "mcu", "amplitude_encode", "measure", "barrier")

#: parameters of an ``mcu`` instruction
MCU_NUM_PARAMS = 4


def _matrix_tuple(matrix: Any) -> tuple[tuple[complex, ...], ...]:
    m = np.asarray(matrix, dtype=complex)
    return tuple(tuple(complex(v) for v in row) for row in m)


@dataclass(frozen=True)
class Instruction:
    """One operation. ``params`` are floats or linear parameter expressions."""

    name: str
    qubits: tuple[int, ...]
    params: tuple[ParamValue, ...] = ()
    matrix: tuple[tuple[complex, ...], ...] | None = None  # for ``unitary``
    source: str | tuple[complex, ...] | None = None  # for ``amplitude_encode``

    @property
    def is_gate(self) -> bool:
        return self.name in GATES or self.name in ("unitary", "mcu")

    @property
    def is_parametric(self) -> bool:
        return any(isinstance(p, ParameterExpression) for p in self.params)

    def matrix_array(self) -> np.ndarray:
        if self.matrix is None:
            raise CircuitError(f"instruction {self.name!r} carries no matrix")
        return np.array(self.matrix, dtype=complex)

    def __repr__(self) -> str:
        extra = f", params={self.params}" if self.params else ""
        if self.source is not None:
            extra += f", source={self.source!r}" if isinstance(self.source, str) else ", source=<vector>"
        return f"Instruction({self.name!r}, qubits={self.qubits}{extra})"


def _qubit_tuple(qubits: Any) -> tuple[Any, ...]:
    """One qubit or a sequence of them as a tuple; true integers (NumPy's too) become ints.

    Only integers are converted: int(0.5) or int(True) would silently pick a wrong qubit, so
    anything else is kept for :meth:`Circuit._validate` to refuse with a CircuitError.
    """
    if isinstance(qubits, numbers.Integral) or isinstance(qubits, (float, complex, str)):
        qubits = (qubits,)
    return tuple(int(q) if isinstance(q, numbers.Integral) and not isinstance(q, bool) else q for q in qubits)


def _check_fresh(previous: Sequence[Instruction], op: Instruction) -> None:
    """State preparation needs qubits nothing has acted on (barriers aside): on a used qubit the
    simulator could only project onto |0>, which is not what the circuit says. Checked for every
    way an instruction gets into a circuit (builder, compose, add, the constructor)."""
    touched = {q for prev in previous if prev.name != "barrier" for q in prev.qubits}
    clash = touched.intersection(op.qubits)
    if clash:
        raise EncodingError(
            f"amplitude_encode on qubits {sorted(clash)} that were already acted on: state "
            "preparation needs fresh qubits; encode first",
            instruction="amplitude_encode",
            qubit=min(clash),
        )


def _check_unitary(m: np.ndarray, atol: float = 1e-8) -> None:
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 2 or (m.shape[0] & (m.shape[0] - 1)):
        raise GateError(
            f"a unitary gate needs a square 2^k x 2^k matrix, got shape {m.shape}",
            instruction="unitary",
        )
    if not np.all(np.isfinite(m)):
        raise GateError("unitary matrix has non-finite entries", instruction="unitary")
    err = np.max(np.abs(m.conj().T @ m - np.eye(m.shape[0])))
    if err > atol:
        raise GateError(
            f"matrix is not unitary (max |U^dag U - I| = {err:.2e} > {atol:g}); "
            "orthonormalise it (for example with scipy.linalg.polar) before use",
            instruction="unitary",
        )


class Circuit:
    """An immutable quantum circuit on ``num_qubits`` qubits.

    Builder methods (``h``, ``cx``, ``ry``, ..., ``append``, ``measure``) return a new circuit and
    leave this one unchanged. Equality is structural (same instructions, same parameters).
    """

    # __dict__ for the cached properties below; __weakref__ so that the simulator can cache compiled
    # plans per circuit object without writing into it (qbridge.sim.fastpath)
    __slots__ = ("_n", "_ops", "_phase", "_name", "__dict__", "__weakref__")

    def __init__(
        self,
        num_qubits: int,
        instructions: Iterable[Instruction] = (),
        *,
        global_phase: Any = 0.0,
        name: str | None = None,
    ) -> None:
        if isinstance(num_qubits, bool) or not isinstance(num_qubits, numbers.Integral) or num_qubits < 1:
            raise CircuitError(f"a circuit needs a positive whole number of qubits, got {num_qubits!r}")
        self._n = int(num_qubits)
        self._phase = as_param_value(global_phase, "global phase")
        self._name = name
        ops = tuple(instructions)
        measured: set[int] = set()
        for i, op in enumerate(ops):
            self._validate(op, measured)
            if op.name == "amplitude_encode":
                _check_fresh(ops[:i], op)
        self._ops = ops

    # -- validation ---------------------------------------------------------------------------
    def _validate(self, op: Instruction, measured: set[int]) -> None:
        if not isinstance(op, Instruction):
            raise TypeError(f"expected an Instruction, got {type(op).__name__}")
        for q in op.qubits:
            if isinstance(q, bool) or not isinstance(q, numbers.Integral):
                raise CircuitError(f"qubit indices must be integers, got {q!r}", instruction=op.name)
            if not 0 <= q < self._n:
                raise CircuitError(
                    f"{op.name}: qubit {q} is out of range for a {self._n}-qubit circuit "
                    f"(valid: 0..{self._n - 1})",
                    instruction=op.name,
                    qubit=q,
                )
        if len(set(op.qubits)) != len(op.qubits):
            raise CircuitError(f"{op.name}: repeated qubit in {op.qubits}", instruction=op.name)
        if op.name == "barrier":
            return
        if op.name == "measure":
            measured.update(op.qubits)
            return
        after = measured.intersection(op.qubits)
        if after:
            raise UnsupportedFeatureError(
                f"{op.name} acts on qubit {min(after)} after it was measured: mid-circuit "
                "measurement is not supported; move measurements to the end of the circuit",
                instruction=op.name,
                qubit=min(after),
            )
        if op.name == "unitary":
            m = op.matrix_array()
            _check_unitary(m)
            if m.shape[0] != 2 ** len(op.qubits):
                raise GateError(
                    f"unitary: a {m.shape[0]}x{m.shape[0]} matrix acts on "
                    f"{int(math.log2(m.shape[0]))} qubits, got {len(op.qubits)}",
                    instruction="unitary",
                )
            return
        if op.name == "amplitude_encode":
            if not op.qubits:
                raise EncodingError("amplitude_encode needs at least one qubit")
            return
        if op.name == "mcu":
            if len(op.qubits) < 2 or len(op.params) != MCU_NUM_PARAMS:
                raise GateError(
                    f"mcu acts on its controls and one target (at least 2 qubits) with "
                    f"{MCU_NUM_PARAMS} parameters (theta, phi, lam, gamma); got {len(op.qubits)} "
                    f"qubit(s) and {len(op.params)} parameter(s)",
                    instruction="mcu",
                )
            return
        gate = get_gate(op.name)
        if len(op.qubits) != gate.num_qubits:
            raise GateError(
                f"gate {op.name!r} acts on {gate.num_qubits} qubit(s), got {len(op.qubits)}",
                instruction=op.name,
            )
        if len(op.params) != gate.num_params:
            raise GateError(
                f"gate {op.name!r} takes {gate.num_params} parameter(s), got {len(op.params)}",
                instruction=op.name,
            )

    # -- basic properties ---------------------------------------------------------------------
    @property
    def num_qubits(self) -> int:
        return self._n

    @property
    def instructions(self) -> tuple[Instruction, ...]:
        return self._ops

    @property
    def global_phase(self) -> ParamValue:
        return self._phase

    @property
    def name(self) -> str | None:
        return self._name

    def __len__(self) -> int:
        return len(self._ops)

    def __iter__(self) -> Iterator[Instruction]:
        return iter(self._ops)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Circuit):
            return NotImplemented
        return (self._n, self._ops, self._phase) == (other._n, other._ops, other._phase)

    def __hash__(self) -> int:
        return hash((self._n, self._ops, self._phase))

    def __repr__(self) -> str:
        return f"Circuit({self._n} qubits, {len(self._ops)} instructions)"

    @cached_property
    def parameters(self) -> tuple[Parameter, ...]:
        """Free parameters in order of first appearance (the column order of binding arrays)."""
        seen: dict[str, None] = {}
        for p in [self._phase, *(p for op in self._ops for p in op.params)]:
            if isinstance(p, ParameterExpression):
                for name in p.parameter_names:
                    seen.setdefault(name, None)
        return tuple(Parameter(n) for n in seen)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    @property
    def num_parameters(self) -> int:
        return len(self.parameters)

    @cached_property
    def inputs(self) -> dict[str, int]:
        """Run-time encoded inputs: name -> the number of amplitudes it fills (2^k)."""
        out: dict[str, int] = {}
        for op in self._ops:
            if op.name == "amplitude_encode" and isinstance(op.source, str):
                size = 2 ** len(op.qubits)
                if out.setdefault(op.source, size) != size:
                    raise EncodingError(
                        f"input {op.source!r} is encoded on registers of different sizes",
                        instruction="amplitude_encode",
                    )
        return out

    @cached_property
    def measured_qubits(self) -> tuple[int, ...]:
        """Qubits measured at the end, in classical-bit order; empty when none are measured."""
        out: list[int] = []
        for op in self._ops:
            if op.name == "measure":
                out.extend(q for q in op.qubits if q not in out)
        return tuple(out)

    @property
    def has_measurements(self) -> bool:
        return bool(self.measured_qubits)

    def count_ops(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for op in self._ops:
            counts[op.name] = counts.get(op.name, 0) + 1
        return counts

    def depth(self) -> int:
        level = [0] * self._n
        for op in self._ops:
            if op.name == "barrier" or not op.qubits:
                continue
            d = max(level[q] for q in op.qubits) + 1
            for q in op.qubits:
                level[q] = d
        return max(level, default=0)

    # -- building (each returns a new Circuit) ------------------------------------------------
    def _with(self, ops: Iterable[Instruction], phase: Any = None, *, appended: bool = False) -> "Circuit":
        """A sibling circuit; with ``appended`` only the ops past this circuit's are validated."""
        new = object.__new__(Circuit)
        new._n = self._n
        new._phase = self._phase if phase is None else as_param_value(phase, "global phase")
        new._name = self._name
        ops = tuple(ops)
        start = len(self._ops) if appended else 0
        measured = set(self.measured_qubits) if appended else set()
        for i in range(start, len(ops)):
            new._validate(ops[i], measured)
            if ops[i].name == "amplitude_encode":
                _check_fresh(ops[:i], ops[i])
        new._ops = ops
        return new

    def append(self, name: str, qubits: int | Sequence[int], params: Sequence[Any] = ()) -> "Circuit":
        """Append a named gate from the standard library."""
        qs = _qubit_tuple(qubits)
        get_gate(name)
        ps = tuple(as_param_value(p, f"parameter of {name}") for p in params)
        return self._with(appended=True, ops=self._ops + (Instruction(name, qs, ps),))

    def add(self, instruction: Instruction) -> "Circuit":
        return self._with(appended=True, ops=self._ops + (instruction,))

    def compose(self, other: "Circuit", qubits: Sequence[int] | None = None) -> "Circuit":
        """This circuit followed by ``other``, whose qubit i maps to ``qubits[i]``."""
        if qubits is None:
            if other.num_qubits > self._n:
                raise CircuitError(f"cannot compose a {other.num_qubits}-qubit circuit onto {self._n} qubits")
            qubits = range(other.num_qubits)
        qmap = _qubit_tuple(qubits)
        if len(qmap) != other.num_qubits:
            raise CircuitError(f"compose: {len(qmap)} qubits given for a {other.num_qubits}-qubit circuit")
        # the map itself must be valid even where `other` leaves a qubit idle: a repeated target
        # would merge two qubits of `other` into one without any instruction noticing
        bad = [q for q in qmap if isinstance(q, bool) or not isinstance(q, numbers.Integral) or not 0 <= q < self._n]
        if bad or len(set(qmap)) != len(qmap):
            raise CircuitError(
                f"compose: qubit map {qmap} must list {other.num_qubits} distinct qubits of 0..{self._n - 1}"
            )
        ops = [
            Instruction(op.name, tuple(qmap[q] for q in op.qubits), op.params, op.matrix, op.source)
            for op in other
        ]
        return self._with(self._ops + tuple(ops), self._phase + other.global_phase, appended=True)

    def unitary(self, matrix: Any, qubits: int | Sequence[int]) -> "Circuit":
        qs = _qubit_tuple(qubits)
        return self._with(appended=True, ops=self._ops + (Instruction("unitary", tuple(qs), (), _matrix_tuple(matrix)),))

    def mcu(self, controls: int | Sequence[int], target: int, theta: Any, phi: Any, lam: Any,
            gamma: Any = 0.0) -> "Circuit":
        """``e^{i gamma} u(theta, phi, lam)`` on ``target`` where every qubit of ``controls`` is 1.

        One instruction whatever the number of controls (OpenQASM's ``ctrl(m) @ U``); backends
        without it natively receive an exact decomposition without ancillas.
        """
        cs = _qubit_tuple(controls)
        ps = tuple(as_param_value(p, "parameter of mcu") for p in (theta, phi, lam, gamma))
        return self._with(appended=True, ops=self._ops + (Instruction("mcu", (*cs, target), ps),))

    def mcx(self, controls: int | Sequence[int], target: int) -> "Circuit":
        """X on ``target`` where every qubit of ``controls`` is 1 (one ``mcu`` instruction)."""
        return self.mcu(controls, target, math.pi, 0.0, math.pi)

    def amplitude_encode(self, source: str | Sequence[complex] = "x", qubits: Sequence[int] | None = None) -> "Circuit":
        """Prepare the amplitudes of ``source`` on ``qubits`` (all qubits by default).

        ``source`` is the name of a run-time input (a batch of vectors bound per task) or a fixed
        vector. Vectors shorter than 2^k are zero-padded; all are normalised. The qubits must not
        have been acted on before.
        """
        qs = tuple(range(self._n)) if qubits is None else _qubit_tuple(qubits)
        _check_fresh(self._ops, Instruction("amplitude_encode", qs))  # before the vector is normalised
        if isinstance(source, str):
            Parameter(source)  # same naming rules as parameters
            src: str | tuple[complex, ...] = source
        else:
            vec = np.asarray(source, dtype=complex).ravel()
            src = tuple(complex(v) for v in normalize_amplitudes(vec, 2 ** len(qs)))
        return self._with(appended=True, ops=self._ops + (Instruction("amplitude_encode", qs, (), None, src),))

    def measure(self, qubits: int | Sequence[int] | None = None) -> "Circuit":
        """Terminal measurement of ``qubits`` (all by default)."""
        qs = tuple(range(self._n)) if qubits is None else _qubit_tuple(qubits)
        return self._with(appended=True, ops=self._ops + (Instruction("measure", qs),))

    def measure_all(self) -> "Circuit":
        return self.measure(None)

    def barrier(self, qubits: Sequence[int] | None = None) -> "Circuit":
        qs = tuple(range(self._n)) if qubits is None else _qubit_tuple(qubits)
        return self._with(appended=True, ops=self._ops + (Instruction("barrier", qs),))

    def with_global_phase(self, phase: Any) -> "Circuit":
        return self._with(self._ops, phase)

    def without_measurements(self) -> "Circuit":
        if not any(op.name == "measure" for op in self._ops):
            return self  # immutable: the same object keeps caches keyed on it (compiled plans)
        return self._with([op for op in self._ops if op.name != "measure"])

    # standard gates, one line each so that editors can complete them
    def id(self, q: int) -> "Circuit": return self.append("id", q)
    def x(self, q: int) -> "Circuit": return self.append("x", q)
    def y(self, q: int) -> "Circuit": return self.append("y", q)
    def z(self, q: int) -> "Circuit": return self.append("z", q)
    def h(self, q: int) -> "Circuit": return self.append("h", q)
    def s(self, q: int) -> "Circuit": return self.append("s", q)
    def sdg(self, q: int) -> "Circuit": return self.append("sdg", q)
    def t(self, q: int) -> "Circuit": return self.append("t", q)
    def tdg(self, q: int) -> "Circuit": return self.append("tdg", q)
    def sx(self, q: int) -> "Circuit": return self.append("sx", q)
    def sxdg(self, q: int) -> "Circuit": return self.append("sxdg", q)
    def rx(self, q: int, theta: Any) -> "Circuit": return self.append("rx", q, (theta,))
    def ry(self, q: int, theta: Any) -> "Circuit": return self.append("ry", q, (theta,))
    def rz(self, q: int, theta: Any) -> "Circuit": return self.append("rz", q, (theta,))
    def p(self, q: int, lam: Any) -> "Circuit": return self.append("p", q, (lam,))
    def u(self, q: int, theta: Any, phi: Any, lam: Any) -> "Circuit": return self.append("u", q, (theta, phi, lam))
    def cx(self, c: int, t: int) -> "Circuit": return self.append("cx", (c, t))
    def cy(self, c: int, t: int) -> "Circuit": return self.append("cy", (c, t))
    def cz(self, c: int, t: int) -> "Circuit": return self.append("cz", (c, t))
    def ch(self, c: int, t: int) -> "Circuit": return self.append("ch", (c, t))
    def swap(self, a: int, b: int) -> "Circuit": return self.append("swap", (a, b))
    def crx(self, c: int, t: int, theta: Any) -> "Circuit": return self.append("crx", (c, t), (theta,))
    def cry(self, c: int, t: int, theta: Any) -> "Circuit": return self.append("cry", (c, t), (theta,))
    def crz(self, c: int, t: int, theta: Any) -> "Circuit": return self.append("crz", (c, t), (theta,))
    def cp(self, c: int, t: int, lam: Any) -> "Circuit": return self.append("cp", (c, t), (lam,))
    def rxx(self, a: int, b: int, theta: Any) -> "Circuit": return self.append("rxx", (a, b), (theta,))
    def ryy(self, a: int, b: int, theta: Any) -> "Circuit": return self.append("ryy", (a, b), (theta,))
    def rzz(self, a: int, b: int, theta: Any) -> "Circuit": return self.append("rzz", (a, b), (theta,))
    def ccx(self, c1: int, c2: int, t: int) -> "Circuit": return self.append("ccx", (c1, c2, t))
    def cswap(self, c: int, a: int, b: int) -> "Circuit": return self.append("cswap", (c, a, b))

    # -- transformations ----------------------------------------------------------------------
    def bind(self, values: Mapping[str | Parameter, float]) -> "Circuit":
        """Substitute numbers for (some of) the free parameters."""
        vals = {(k.name if isinstance(k, Parameter) else k): v for k, v in values.items()}
        unknown = set(vals) - set(self.parameter_names)
        if unknown:
            raise ParameterError(
                f"bind: unknown parameter(s) {sorted(unknown)}; the circuit has {list(self.parameter_names)}"
            )

        def sub(p):
            return p.bind(vals) if isinstance(p, ParameterExpression) else p

        ops = [
            Instruction(op.name, op.qubits, tuple(sub(p) for p in op.params), op.matrix, op.source)
            for op in self._ops
        ]
        return self._with(ops, sub(self._phase))

    def inverse(self) -> "Circuit":
        """The adjoint circuit. Measurements and state preparation have no inverse."""
        ops: list[Instruction] = []
        for op in reversed(self._ops):
            if op.name in ("measure", "amplitude_encode"):
                raise CircuitError(f"cannot invert a circuit containing {op.name!r}", instruction=op.name)
            if op.name == "barrier":
                ops.append(op)
            elif op.name == "unitary":
                ops.append(Instruction("unitary", op.qubits, (), _matrix_tuple(op.matrix_array().conj().T)))
            elif op.name == "mcu":  # (e^{ig} u(t, p, l))^dagger = e^{-ig} u(-t, -l, -p)
                theta, phi, lam, gamma = op.params
                ops.append(Instruction("mcu", op.qubits, tuple(as_param_value(-v) for v in (theta, lam, phi, gamma))))
            else:
                name, params = get_gate(op.name).inverse(op.params)
                ops.append(Instruction(name, op.qubits, tuple(as_param_value(p) for p in params)))
        return self._with(ops, -self._phase)

    def decompose(self, basis: Iterable[str]) -> "Circuit":
        """Rewrite every gate outside ``basis`` into gates of ``basis`` (global phase kept).

        ``amplitude_encode`` is replaced by rotations and CNOTs when it is not in ``basis`` and
        its source is a fixed vector; run-time inputs are expanded per binding by the backend
        (see :func:`qbridge.ir.stateprep.expand_encodings`).
        """
        from .decompose import decompose_circuit

        if isinstance(basis, str):  # frozenset("cx") would be {"c", "x"}
            raise TypeError(f"basis must be a collection of gate names such as {{'u', 'cx'}}, got the string {basis!r}")
        return decompose_circuit(self, frozenset(basis))

    def remap(self, num_qubits: int, mapping: Sequence[int]) -> "Circuit":
        """The same circuit on ``num_qubits`` qubits with qubit i moved to ``mapping[i]``."""
        # compose adds this circuit's global phase; starting from phase 0 keeps it counted once
        out = Circuit(num_qubits, name=self._name)
        return out.compose(self, mapping)

    # -- conversions (implemented in sibling modules) -----------------------------------------
    def to_qasm(self, version: int = 3) -> str:
        from .qasm import to_qasm

        return to_qasm(self, version=version)

    @staticmethod
    def from_qasm(text: str) -> "Circuit":
        from .qasm import from_qasm

        return from_qasm(text)

    def to_json(self) -> str:
        from .serialize import to_json

        return to_json(self)

    @staticmethod
    def from_json(text: str) -> "Circuit":
        from .serialize import from_json

        return from_json(text)

    def to_matrix(self) -> np.ndarray:
        """The circuit's unitary (complex128, bit order of docs/architecture.md); needs bound parameters."""
        from .unitary import circuit_matrix

        return circuit_matrix(self)


def normalize_amplitudes(vec: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad ``vec`` to ``size`` and normalise it; refuses empty, zero or non-finite input."""
    vec = np.asarray(vec)
    if vec.ndim != 1:
        raise EncodingError(f"an amplitude vector must be one-dimensional, got shape {vec.shape}")
    if vec.size == 0 or vec.size > size:
        raise EncodingError(
            f"an amplitude vector of length {vec.size} does not fit {size} amplitudes; "
            f"use at least ceil(log2({max(vec.size, 1)})) qubits",
            instruction="amplitude_encode",
        )
    if not np.all(np.isfinite(vec)):
        raise EncodingError("amplitude vector has non-finite entries (NaN or inf)", instruction="amplitude_encode")
    norm = float(np.linalg.norm(vec))
    if norm == 0.0:
        raise EncodingError(
            "cannot amplitude-encode a zero vector: it has no direction; add a bias or skip it",
            instruction="amplitude_encode",
        )
    out = np.zeros(size, dtype=complex)
    out[: vec.size] = vec / norm
    return out


def single_qubit_unitary_as_u(matrix: np.ndarray) -> tuple[tuple[float, float, float], float]:
    theta, phi, lam, phase = zyz_angles(matrix)
    return (theta, phi, lam), phase
