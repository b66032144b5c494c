"""qbridge <-> Qiskit: circuits, parameters, observables and bit order.

Owns: :func:`to_qiskit` / :func:`from_qiskit` (a qbridge :class:`~qbridge.ir.circuit.Circuit` and a
``qiskit.QuantumCircuit``, free parameters as ``qiskit.circuit.Parameter`` objects of the same
name), the bit-order conversions that Qiskit-based adapters apply at their edge, and
:func:`to_qiskit_template`, the circuit an adapter transpiles once and runs for a whole batch.

Imports Qiskit at module import: only adapters (``qbridge-aer``, ``qbridge-ibm``) and tests import
this module, never ``import qbridge``. Fake IBM devices (:func:`fake_backend`) need
``qiskit-ibm-runtime`` and import it on first use.

Bit order. A qbridge gate on qubits (a, b) is the same *operation* as the Qiskit gate of the same
name on (a, b) (control first for controlled gates), so named gates map one to one. Only matrices
and vectors indexed by basis states differ: qbridge's first listed qubit is the most significant
bit, Qiskit's the least. So ``unitary`` matrices and amplitude vectors keep their numbers and go on
the reversed qubit list; Pauli strings are reversed; probability and state vectors from Qiskit are
permuted by :func:`reverse_bits`; Qiskit count keys (highest classical bit first) are reversed by
:func:`counts_from_qiskit`. A measured qbridge circuit measures ``measured_qubits[k]`` into
classical bit k, so a Qiskit count key read right to left is the qbridge key.

Run-time amplitude encoding (``amplitude_encode("x")``) is data, not a parameter, so it cannot be
bound like one. :func:`to_qiskit_template` offers two ways to keep one transpiled circuit for a
whole batch: ``"initialize"`` (a labelled ``Initialize`` placeholder that the adapter swaps per
row, for simulators that run it natively) and ``"rotations"`` (the Möttönen cascade of uniformly
controlled RY/RZ rotations with *symbolic* angles, whose CNOT pattern does not depend on the data,
so the angles of every row are bound as parameter values; for hardware and noisy simulation).

Why one file of about 700 lines: both directions of the Qiskit conversion share the gate and
parameter tables and the bit-order conventions above (the fake-device helpers at the end need the
same Qiskit imports); apart, each half would restate them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
from qiskit import ClassicalRegister, QuantumCircuit
from qiskit.circuit import Parameter as QkParameter
from qiskit.circuit import ParameterExpression as QkParameterExpression
from qiskit.circuit import library as qlib

from ..exceptions import (
    BackendUnavailableError,
    EncodingError,
    GateError,
    ParameterError,
    UnsupportedFeatureError,
)
from ..ir.circuit import Circuit, Instruction, _matrix_tuple, normalize_amplitudes
from ..ir.observables import PauliSum
from ..ir.parameters import ParameterExpression, _RESERVED
from ..ir.stateprep import cascade_angles, gray_schedule

__all__ = [
    "expand_symbolic_u",
    "to_qiskit",
    "from_qiskit",
    "to_qiskit_template",
    "QiskitTemplate",
    "EncodingSlot",
    "qiskit_value",
    "qbridge_value",
    "qbridge_parameter_name",
    "reverse_bits",
    "counts_from_qiskit",
    "pauli_to_qiskit",
    "pauli_sum_to_qiskit",
    "fake_backend",
    "fake_backend_names",
    "GATE_CLASSES",
]

# qbridge gate name -> Qiskit gate class; the names are the same in both libraries and so are the
# operations (checked against matrices in tests/test_interop_qiskit.py).
GATE_CLASSES: dict[str, type] = {
    "id": qlib.IGate,
    "x": qlib.XGate,
    "y": qlib.YGate,
    "z": qlib.ZGate,
    "h": qlib.HGate,
    "s": qlib.SGate,
    "sdg": qlib.SdgGate,
    "t": qlib.TGate,
    "tdg": qlib.TdgGate,
    "sx": qlib.SXGate,
    "sxdg": qlib.SXdgGate,
    "rx": qlib.RXGate,
    "ry": qlib.RYGate,
    "rz": qlib.RZGate,
    "p": qlib.PhaseGate,
    "u": qlib.UGate,
    "cx": qlib.CXGate,
    "cy": qlib.CYGate,
    "cz": qlib.CZGate,
    "ch": qlib.CHGate,
    "swap": qlib.SwapGate,
    "crx": qlib.CRXGate,
    "cry": qlib.CRYGate,
    "crz": qlib.CRZGate,
    "cp": qlib.CPhaseGate,
    "rxx": qlib.RXXGate,
    "ryy": qlib.RYYGate,
    "rzz": qlib.RZZGate,
    "ccx": qlib.CCXGate,
    "cswap": qlib.CSwapGate,
}
# A gate added to the library but not mapped here is refused at conversion (GateError), and
# tests/test_interop_qiskit.py fails for it: the mapping must cover GATES.

_PI = math.pi
# Qiskit gates that are a library gate under another name: name -> (qbridge name, params fn).
_ALIASES = {
    "u1": ("p", lambda ps: ps),
    "u3": ("u", lambda ps: ps),
    "u2": ("u", lambda ps: [_PI / 2, ps[0], ps[1]]),
    "cu1": ("cp", lambda ps: ps),
    "cnot": ("cx", lambda ps: ps),
    "toffoli": ("ccx", lambda ps: ps),
    "fredkin": ("cswap", lambda ps: ps),
}

INPUT_LABEL = "qbridge-input:"


# -- parameters ------------------------------------------------------------------------------

_GREEK = {
    "α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "epsilon", "ζ": "zeta",
    "η": "eta", "θ": "theta", "ι": "iota", "κ": "kappa", "λ": "lam", "μ": "mu", "ν": "nu",
    "ξ": "xi", "π": "pi_", "ρ": "rho", "σ": "sigma", "τ": "tau_", "υ": "upsilon", "φ": "phi",
    "ϕ": "phi", "χ": "chi", "ψ": "psi", "ω": "omega",
}


def qbridge_parameter_name(name: str) -> str:
    """The qbridge name given to a Qiskit parameter named ``name``.

    qbridge names are ASCII identifiers (they must survive OpenQASM 3 export), so Qiskit's
    ``θ[3]`` (a ParameterVector element) becomes ``theta_3``; other characters become ``_``.
    """
    out = re.sub(r"\[(\d+)\]", r"_\1", name)
    out = "".join(_GREEK.get(ch, ch) for ch in out)
    out = re.sub(r"[^A-Za-z0-9_]", "_", out)
    if not out or out[0].isdigit():
        out = "p_" + out
    if out in _RESERVED:
        out = out + "_"
    return out


def qiskit_value(value: Any, params: dict[str, QkParameter]) -> Any:
    """A qbridge float or linear expression as a Qiskit float or ParameterExpression.

    ``params`` maps names to the Qiskit parameters already made (filled in as needed), so every
    occurrence of a name is one Qiskit parameter.
    """
    if not isinstance(value, ParameterExpression):
        return float(value)
    expr: Any = value.const
    for name, coeff in value.terms:
        p = params.get(name)
        if p is None:
            p = params[name] = QkParameter(name)
        expr = expr + (p if coeff == 1.0 else coeff * p)
    return expr


def qbridge_value(value: Any, names: dict[Any, str]) -> Any:
    """A Qiskit angle (number or linear ParameterExpression) as a qbridge float or expression.

    ``names`` maps Qiskit parameters to qbridge names (filled in as needed); two Qiskit parameters
    that would get the same qbridge name are refused.
    """
    if not isinstance(value, QkParameterExpression):
        v = complex(value)
        if abs(v.imag) > 1e-12:
            raise ParameterError(f"gate parameter {value!r} is complex; qbridge gate angles are real")
        return float(v.real)
    qparams = list(value.parameters)
    if not qparams:
        return qbridge_value(complex(value), names)
    terms: dict[str, float] = {}
    for p in qparams:
        grad = value.gradient(p)
        if isinstance(grad, QkParameterExpression) and grad.parameters:
            raise ParameterError(
                f"the Qiskit expression {value} is not linear in {p.name}: qbridge parameters "
                "enter gates as a*theta + b; bind the parameter or introduce a new one",
                parameter=p.name,
            )
        name = names.get(p)
        if name is None:
            name = qbridge_parameter_name(p.name)
            if name in names.values():
                raise ParameterError(
                    f"Qiskit parameters {p.name!r} and another one both map to the qbridge name "
                    f"{name!r}; rename one of them",
                    parameter=name,
                )
            names[p] = name
        terms[name] = float(complex(grad).real)
    const = value.bind({p: 0.0 for p in qparams})
    return ParameterExpression(terms, float(complex(const).real)) if any(terms.values()) else float(complex(const).real)


# -- bit order -------------------------------------------------------------------------------

def reverse_bits(array: Any, num_qubits: int) -> np.ndarray:
    """Permute the last axis (length 2^n) between Qiskit's and qbridge's basis-state order.

    The permutation reverses the bits of the index, so it is its own inverse.
    """
    a = np.asarray(array)
    lead = a.shape[:-1]
    if a.shape[-1] != 2**num_qubits:
        raise ValueError(f"expected a last axis of length 2^{num_qubits}, got {a.shape[-1]}")
    if num_qubits <= 1:
        return a.copy()
    t = a.reshape(*lead, *([2] * num_qubits))
    k = len(lead)
    axes = list(range(k)) + [k + num_qubits - 1 - i for i in range(num_qubits)]
    return np.ascontiguousarray(t.transpose(axes)).reshape(*lead, 2**num_qubits)


def counts_from_qiskit(counts: Mapping[str, int]) -> dict[str, int]:
    """Qiskit count keys (highest classical bit first, registers space-separated) in qbridge order."""
    out: dict[str, int] = {}
    for key, v in counts.items():
        k = key.replace(" ", "")[::-1]
        out[k] = out.get(k, 0) + int(v)
    return out


def pauli_to_qiskit(word: str) -> str:
    """A qbridge Pauli string (qubit 0 first) as a Qiskit label (qubit 0 last)."""
    return word[::-1]


def pauli_sum_to_qiskit(obs: PauliSum):
    """A :class:`~qbridge.ir.observables.PauliSum` as a ``qiskit.quantum_info.SparsePauliOp``."""
    from qiskit.quantum_info import SparsePauliOp

    if not obs.terms:
        return SparsePauliOp(["I" * obs.num_qubits], [0.0])
    return SparsePauliOp([pauli_to_qiskit(t.paulis) for t in obs.terms], [t.coeff for t in obs.terms])


# -- qbridge -> Qiskit -----------------------------------------------------------------------

@dataclass(frozen=True)
class EncodingSlot:
    """One run-time ``amplitude_encode`` in a template circuit.

    ``ry``/``rz`` hold, per cascade level, the names of the Qiskit parameters of the uniformly
    controlled rotations (``"rotations"`` mode); ``label`` names the Initialize placeholder
    (``"initialize"`` mode).
    """

    source: str
    qubits: tuple[int, ...]
    ry: tuple[tuple[str, ...], ...] = ()
    rz: tuple[tuple[str, ...], ...] = ()
    label: str | None = None


@dataclass(frozen=True, eq=False)
class QiskitTemplate:
    """A circuit to transpile once, and how to fill it for each row of a batch."""

    circuit: QuantumCircuit
    encoding: str  # "none", "initialize" or "rotations"
    slots: tuple[EncodingSlot, ...] = ()
    parameter_names: tuple[str, ...] = ()  # the qbridge circuit's parameters
    phases: bool = True
    global_phase: Any = 0.0  # the qbridge circuit's (dropped from ``circuit``), float or expression
    info: dict = field(default_factory=dict)

    def input_angles(self, inputs: Mapping[str, Any], batch: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Parameter values (name -> (B,)) of every rotation, and the phase (B,) they leave out."""
        values: dict[str, np.ndarray] = {}
        phase = np.zeros(batch)
        for slot in self.slots:
            vecs = encoding_rows(inputs[slot.source], 2 ** len(slot.qubits), batch)
            ry, rz, ph = cascade_angles(vecs, len(slot.qubits), self.phases)
            for names, angles in zip(slot.ry, ry):
                for j, name in enumerate(names):
                    values[name] = angles[:, j]
            for names, angles in zip(slot.rz, rz):
                for j, name in enumerate(names):
                    values[name] = angles[:, j]
            phase = phase + ph
        return values, phase


def encoding_rows(x: Any, size: int, batch: int) -> np.ndarray:
    """Input rows as normalised complex vectors of length ``size``, broadcast to ``batch`` rows."""
    a = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
    a = np.atleast_2d(a)
    rows = np.stack([normalize_amplitudes(np.asarray(r).ravel(), size) for r in a])
    return np.broadcast_to(rows, (batch, size)) if rows.shape[0] == 1 else rows


def needs_phases(inputs: Mapping[str, Any]) -> bool:
    """Whether any input row has a non-trivial phase (complex or negative entries)."""
    for x in inputs.values():
        a = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
        if np.iscomplexobj(a):
            if np.any(np.abs(a.imag) > 0) or np.any(a.real < 0):
                return True
        elif np.any(a < 0):
            return True
    return False


def _append_ucr(qc: QuantumCircuit, gate: str, params: Sequence[Any], controls: Sequence[int], target: int) -> None:
    """Uniformly controlled RY/RZ in qbridge qubit indices (one rotation per control pattern)."""
    k = len(controls)
    rot = qc.ry if gate == "ry" else qc.rz
    if k == 0:
        rot(params[0], target)
        return
    for i, nxt in enumerate(gray_schedule(k)):
        rot(params[i], target)
        qc.cx(controls[nxt], target)


class _ToQiskit:
    def __init__(self, circuit: Circuit, *, inputs: Mapping[str, Any] | None, encoding: str,
                 phases: bool, fixed_state_prep: str, global_phase: bool) -> None:
        self.circuit = circuit
        self.inputs = dict(inputs or {})
        self.encoding = encoding
        self.phases = phases
        self.fixed_state_prep = fixed_state_prep
        self.params: dict[str, QkParameter] = {}
        self.slots: list[EncodingSlot] = []
        self.qc = QuantumCircuit(circuit.num_qubits, name=circuit.name)
        if global_phase:
            self.qc.global_phase = qiskit_value(circuit.global_phase, self.params)

    def state_prep(self, vec: Any, qubits: tuple[int, ...], kind: str, label: str | None = None) -> None:
        vec = normalize_amplitudes(np.asarray(vec, dtype=complex).ravel(), 2 ** len(qubits))
        # the vector's index has qubits[0] as its MSB; Qiskit's has its first qubit as the LSB
        qargs = list(reversed(qubits))
        if kind == "initialize":
            op = qlib.Initialize(vec)
            if label is not None:
                op.label = label
        else:
            op = qlib.StatePreparation(vec, label=label)
        self.qc.append(op, qargs)

    def encode(self, op: Instruction, index: int) -> None:
        src = op.source
        if not isinstance(src, str):
            self.state_prep(src, op.qubits, self.fixed_state_prep)
            return
        if src in self.inputs:
            self.state_prep(self.inputs[src], op.qubits, self.fixed_state_prep)
            return
        if self.encoding == "initialize":
            label = f"{INPUT_LABEL}{src}:{index}"
            self.state_prep(np.eye(1, 2 ** len(op.qubits)).ravel(), op.qubits, "initialize", label)
            self.slots.append(EncodingSlot(src, op.qubits, label=label))
            return
        if self.encoding != "rotations":
            raise EncodingError(
                f"amplitude_encode of run-time input {src!r} needs a value: pass inputs={{{src!r}: vector}}",
                instruction="amplitude_encode",
            )
        k = len(op.qubits)
        qs = op.qubits
        ry_names, rz_names = [], []
        # names with ':' cannot collide with qbridge parameter names (identifiers)
        for level in range(k):
            names = tuple(f"{INPUT_LABEL}{src}:{index}:ry{level}:{j:05d}" for j in range(2**level))
            _append_ucr(self.qc, "ry", [self._param(n) for n in names], qs[:level], qs[level])
            ry_names.append(names)
        if self.phases:
            for level in reversed(range(k)):
                names = tuple(f"{INPUT_LABEL}{src}:{index}:rz{level}:{j:05d}" for j in range(2**level))
                _append_ucr(self.qc, "rz", [self._param(n) for n in names], qs[:level], qs[level])
                rz_names.append(names)
        self.slots.append(EncodingSlot(src, qs, tuple(ry_names), tuple(rz_names)))

    def _param(self, name: str) -> QkParameter:
        p = self.params.get(name)
        if p is None:
            p = self.params[name] = QkParameter(name)
        return p

    def multi_controlled(self, op: Any) -> None:
        """``mcu``: Qiskit's controlled U (controls first, as here), and its phase as a
        (multi-)controlled phase on the controls; Qiskit's transpiler synthesises both."""
        theta, phi, lam, gamma = (qiskit_value(p, self.params) for p in op.params)
        *controls, target = op.qubits
        self.qc.append(qlib.UGate(theta, phi, lam).control(len(controls)), [*controls, target])
        if not (isinstance(gamma, (int, float)) and gamma == 0.0):
            if len(controls) == 1:
                self.qc.append(qlib.PhaseGate(gamma), controls)
            else:
                self.qc.append(qlib.MCPhaseGate(gamma, len(controls) - 1), controls)

    def build(self, measurements: bool) -> QuantumCircuit:
        qc = self.qc
        for index, op in enumerate(self.circuit):
            if op.name == "measure":
                continue
            if op.name == "barrier":
                qc.barrier(list(op.qubits))
            elif op.name == "amplitude_encode":
                self.encode(op, index)
            elif op.name == "unitary":
                qc.unitary(op.matrix_array(), list(reversed(op.qubits)))
            elif op.name == "mcu":
                self.multi_controlled(op)
            else:
                cls = GATE_CLASSES.get(op.name)
                if cls is None:
                    raise GateError(f"gate {op.name!r} has no Qiskit counterpart", instruction=op.name)
                qc.append(cls(*(qiskit_value(p, self.params) for p in op.params)), list(op.qubits))
        measured = self.circuit.measured_qubits
        if measurements and measured:
            creg = ClassicalRegister(len(measured), "c")
            qc.add_register(creg)
            qc.measure(list(measured), list(range(len(measured))))
        return qc


def to_qiskit(circuit: Circuit, inputs: Mapping[str, Any] | None = None, *, measurements: bool = True) -> QuantumCircuit:
    """``circuit`` as a ``qiskit.QuantumCircuit``.

    Free parameters become ``qiskit.circuit.Parameter`` objects of the same names (linear
    expressions stay expressions); ``unitary`` becomes a UnitaryGate and ``amplitude_encode`` a
    StatePreparation, both on the reversed qubit list (see the module docstring). Run-time inputs
    must be given in ``inputs`` (one vector each). Terminal measurements measure
    ``measured_qubits[k]`` into classical bit k of a register ``c`` (left out with
    ``measurements=False``).
    """
    b = _ToQiskit(circuit, inputs=inputs, encoding="error", phases=True,
                  fixed_state_prep="state_preparation", global_phase=True)
    return b.build(measurements)


def expand_symbolic_u(qc: QuantumCircuit, basis: Any) -> QuantumCircuit:
    """``u`` gates with symbolic angles written as rz sx rz sx rz when ``basis`` (names of the
    target's operations) has rz and sx but no u: exact, the phase goes into ``global_phase``.

    Why: Qiskit's BasisTranslator (2.6) can take minutes on a few dozen parametrised ``u`` gates,
    depending on ``PYTHONHASHSEED`` (0.07 s with one seed, 55 s with another, same circuit);
    gates already in the basis leave it nothing to search. Uses
    U(t, p, l) = exp(i ((p + l) / 2 + pi / 2)) RZ(p + pi) SX RZ(t + pi) SX RZ(l).
    """
    names = set(basis)
    if "u" in names or not {"rz", "sx"} <= names:
        return qc

    def symbolic(op: Any) -> bool:
        return op.name in ("u", "u3") and any(isinstance(p, QkParameterExpression) and p.parameters for p in op.params)

    if not any(symbolic(inst.operation) for inst in qc.data):
        return qc
    out = qc.copy_empty_like()
    phase = qc.global_phase
    for inst in qc.data:
        op = inst.operation
        if not symbolic(op):
            out.append(inst)
            continue
        t, p, l = op.params
        (q,) = inst.qubits
        out.rz(l, q)
        out.sx(q)
        out.rz(t + _PI, q)
        out.sx(q)
        out.rz(p + _PI, q)
        phase = phase + (p + l) / 2 + _PI / 2
    out.global_phase = phase
    return out


def to_qiskit_template(
    circuit: Circuit,
    *,
    encoding: str = "rotations",
    phases: bool = True,
    fixed_state_prep: str = "state_preparation",
    global_phase: bool = False,
) -> QiskitTemplate:
    """The circuit an adapter transpiles once for every batch of bindings and inputs.

    Measurements are left out (adapters measure every qubit into classical bit q). Run-time
    amplitude encodings become Initialize placeholders (``encoding="initialize"``) or symbolic
    rotation cascades (``"rotations"``; ``phases=False`` drops the RZ half, exact for inputs with
    non-negative real entries). ``global_phase=False`` leaves the qbridge circuit's global phase
    out of the Qiskit circuit (Aer ignores symbolic global phases; adapters apply it to state
    vectors themselves, from :attr:`QiskitTemplate.global_phase`).
    """
    if encoding not in ("initialize", "rotations"):
        raise ValueError(f"encoding must be 'initialize' or 'rotations', got {encoding!r}")
    b = _ToQiskit(circuit, inputs=None, encoding=encoding, phases=phases,
                  fixed_state_prep=fixed_state_prep, global_phase=global_phase)
    qc = b.build(measurements=False)
    mode = encoding if b.slots else "none"
    return QiskitTemplate(qc, mode, tuple(b.slots), circuit.parameter_names, phases,
                          0.0 if global_phase else circuit.global_phase)


# -- Qiskit -> qbridge -----------------------------------------------------------------------

_CONTROL_FLOW = {"if_else", "while_loop", "for_loop", "switch_case", "break_loop", "continue_loop", "box"}


class _FromQiskit:
    def __init__(self, qc: QuantumCircuit) -> None:
        self.qc = qc
        self.n = qc.num_qubits
        self.names: dict[Any, str] = {}
        self.ops: list[Instruction] = []
        self.phase: Any = 0.0
        self.touched: set[int] = set()
        self.measured: dict[int, int] = {}  # qubit -> classical bit

    def add_phase(self, value: Any) -> None:
        self.phase = self.phase + qbridge_value(value, self.names)

    def emit(self, name: str, qubits: Sequence[int], params: Sequence[Any] = ()) -> None:
        for q in qubits:
            if q in self.measured:
                raise UnsupportedFeatureError(
                    f"{name} acts on qubit {q} after it was measured: mid-circuit measurement is "
                    "not supported; move measurements to the end of the circuit",
                    instruction=name,
                    qubit=q,
                )
        ps = tuple(qbridge_value(p, self.names) for p in params)
        self.ops.append(Instruction(name, tuple(qubits), ps))
        self.touched.update(qubits)

    def walk(self, circuit: QuantumCircuit, qmap: Sequence[int]) -> None:
        for ci in circuit.data:
            op = ci.operation
            qubits = [qmap[circuit.find_bit(q).index] for q in ci.qubits]
            self.instruction(op, qubits, ci, circuit)

    def instruction(self, op: Any, qubits: list[int], ci: Any, circuit: QuantumCircuit) -> None:
        name = op.name
        if name in _CONTROL_FLOW:
            raise UnsupportedFeatureError(
                f"classical control flow ({name}) is not supported by qbridge circuits",
                instruction=name,
            )
        if name == "measure":
            q = qubits[0]
            c = circuit.find_bit(ci.clbits[0]).index
            if q in self.measured or c in self.measured.values():
                raise UnsupportedFeatureError(
                    f"qubit {q} or classical bit {c} is measured twice; qbridge measures each qubit once, at the end",
                    instruction="measure",
                    qubit=q,
                )
            self.measured[q] = c
            return
        if name == "barrier":
            self.ops.append(Instruction("barrier", tuple(qubits)))
            return
        if name == "delay":
            return  # no effect in an ideal circuit
        if name == "reset":
            if qubits[0] in self.touched:
                raise UnsupportedFeatureError(
                    f"reset of qubit {qubits[0]} after it was acted on is not supported",
                    instruction="reset",
                    qubit=qubits[0],
                )
            return  # a fresh qubit is already |0>
        if name == "global_phase":
            self.add_phase(op.params[0])
            return
        if name in ("initialize", "state_preparation") and self._vector(op) is not None:
            if any(q in self.measured for q in qubits):
                raise UnsupportedFeatureError("state preparation after measurement", instruction=name)
            vec = self._vector(op)
            src = tuple(complex(v) for v in normalize_amplitudes(vec, 2 ** len(qubits)))
            self.ops.append(Instruction("amplitude_encode", tuple(reversed(qubits)), (), None, src))
            self.touched.update(qubits)
            return
        if name == "unitary":
            m = np.asarray(op.to_matrix(), dtype=complex)
            self.ops.append(Instruction("unitary", tuple(reversed(qubits)), (), _matrix_tuple(m)))
            self.touched.update(qubits)
            return
        cls = GATE_CLASSES.get(name)
        if cls is not None and isinstance(op, cls):  # singleton gates are subclasses
            self.emit(name, qubits, op.params)
            return
        if name in _ALIASES:
            target, fn = _ALIASES[name]
            self.emit(target, qubits, fn(list(op.params)))
            return
        definition = getattr(op, "definition", None)
        if definition is not None:
            self.add_phase(definition.global_phase)
            self.walk(definition, qubits)
            return
        if hasattr(op, "to_matrix") and not getattr(op, "is_parameterized", lambda: False)():
            try:
                m = np.asarray(op.to_matrix(), dtype=complex)
            except Exception as exc:  # Qiskit raises various errors for matrix-less operations
                raise UnsupportedFeatureError(
                    f"Qiskit operation {name!r} has neither a definition nor a matrix: {exc}",
                    instruction=name,
                ) from None
            self.ops.append(Instruction("unitary", tuple(reversed(qubits)), (), _matrix_tuple(m)))
            self.touched.update(qubits)
            return
        raise UnsupportedFeatureError(
            f"Qiskit operation {name!r} cannot be converted: it is not a qbridge gate and has no "
            "definition; transpile the circuit to standard gates first",
            instruction=name,
        )

    @staticmethod
    def _vector(op: Any) -> np.ndarray | None:
        ps = op.params
        if len(ps) >= 2 and all(isinstance(p, (int, float, complex, np.number)) for p in ps):
            return np.asarray(ps, dtype=complex)
        return None

    def build(self) -> Circuit:
        self.add_phase(self.qc.global_phase)
        self.walk(self.qc, list(range(self.n)))
        ops = list(self.ops)
        if self.measured:
            order = sorted(self.measured, key=lambda q: self.measured[q])
            ops.append(Instruction("measure", tuple(order)))
        return Circuit(self.n, ops, global_phase=self.phase, name=self.qc.name)


def from_qiskit(qc: QuantumCircuit) -> Circuit:
    """A ``qiskit.QuantumCircuit`` as a qbridge :class:`~qbridge.ir.circuit.Circuit`.

    Standard gates map by name (``u1``/``u2``/``u3``/``cu1`` to ``p``/``u``/``cp``); other gates are
    expanded through their Qiskit definitions, or become ``unitary`` when they only have a matrix.
    Parameters keep their names where they are valid qbridge names
    (:func:`qbridge_parameter_name` otherwise). Measurements must be terminal; the measured qubits
    are ordered by classical bit, so a qbridge bitstring is the Qiskit count key reversed. Resets
    of fresh qubits and delays are dropped; classical control flow is refused.
    """
    if not isinstance(qc, QuantumCircuit):
        raise TypeError(f"from_qiskit needs a qiskit.QuantumCircuit, got {type(qc).__name__}")
    return _FromQiskit(qc).build()


# -- fake IBM devices ------------------------------------------------------------------------

def _fake_classes() -> dict[str, type]:
    try:
        import qiskit_ibm_runtime.fake_provider as fp
        from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2
    except ImportError as exc:
        raise BackendUnavailableError(
            f"fake IBM devices need qiskit-ibm-runtime ({exc}); pip install qiskit-ibm-runtime"
        ) from None
    out: dict[str, type] = {}
    for attr in dir(fp):
        cls = getattr(fp, attr)
        if isinstance(cls, type) and issubclass(cls, FakeBackendV2) and isinstance(getattr(cls, "backend_name", None), str):
            out.setdefault(cls.backend_name, cls)
    return out


def fake_backend_names() -> list[str]:
    """Names of the fake IBM devices of ``qiskit_ibm_runtime.fake_provider`` (``fake_manila``, ...)."""
    return sorted(_fake_classes())


def fake_backend(name: str) -> Any:
    """A fake IBM device by name (``"fake_manila"``; ``"manila"`` and ``"FakeManilaV2"`` also work)."""
    if not isinstance(name, str):
        raise TypeError(f"a fake backend is named by a string like 'fake_manila', got {type(name).__name__}")
    classes = _fake_classes()
    key = name.strip()
    if key not in classes:
        by_class = {cls.__name__.lower(): n for n, cls in classes.items()}
        low = key.lower()
        key = by_class.get(low) or (("fake_" + low) if ("fake_" + low) in classes else low)
    if key not in classes:
        import difflib

        close = difflib.get_close_matches(name, list(classes), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"unknown fake IBM backend {name!r}.{hint} Valid names: {', '.join(sorted(classes))}")
    return classes[key]()
