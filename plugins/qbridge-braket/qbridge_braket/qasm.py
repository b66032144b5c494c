"""qbridge circuits as Braket OpenQASM 3 programs: a pure translator (no SDK import).

Owns: the gate table (qbridge name -> Braket OpenQASM gate), free parameters as ``input float``
declarations, the unitary pragma, Braket's result-type pragmas (``probability``,
``state_vector``, ``expectation``), terminal measurement, and noise pragmas for the density-matrix
simulator (:class:`NoiseModel`).

Conventions (checked by the tests against qbridge's gate matrices on Braket's simulator):

- bit order: Braket's qubit 0 is the most significant bit of ``probability``/``state_vector``
  and the first character of a measured bitstring, as in qbridge; a unitary pragma's first
  target is its matrix's most significant bit, as in qbridge. Nothing is reordered.
- names: ``sdg``/``tdg``/``sx``/``sxdg`` are Braket's ``si``/``ti``/``v``/``vi``; ``p`` is
  ``phaseshift``, ``cp`` is ``cphaseshift``, ``rxx/ryy/rzz`` are ``xx/yy/zz`` (exp(-i t/2 PP)),
  ``u`` is OpenQASM's ``U`` (the same matrix as qbridge's ``u``), ``ccx`` is ``ccnot``.
  ``ch``, ``crx``, ``cry`` and ``crz`` have no Braket gate and are decomposed by qbridge first.
- parameters: qbridge parameter ``theta`` is the program input ``p_theta`` (the prefix keeps
  inputs apart from gate and register names such as ``x`` or ``q``); linear expressions are
  written out (``rx(0.5*p_theta - 0.25) q[0];``).
- global phase: ``gphase(g);`` (OpenQASM: multiplies by exp(i g)); written only when a state
  vector is read, since no other result can see it.
- exact results read every qubit, so a qubit no gate touches gets an ``i`` gate: Braket's
  simulators drop unused qubits from their results otherwise.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from qbridge.exceptions import GateError, ValidationError
from qbridge.ir.circuit import Circuit
from qbridge.ir.gates import GATES
from qbridge.ir.parameters import ParameterExpression

__all__ = [
    "BRAKET_GATES",
    "INPUT_PREFIX",
    "NoiseModel",
    "native_gates",
    "input_name",
    "format_param",
    "to_openqasm",
    "pauli_word_observable",
]

# qbridge gate -> Braket OpenQASM gate name (as written in a program).
BRAKET_GATES: dict[str, str] = {
    "id": "i",
    "x": "x",
    "y": "y",
    "z": "z",
    "h": "h",
    "s": "s",
    "sdg": "si",
    "t": "t",
    "tdg": "ti",
    "sx": "v",
    "sxdg": "vi",
    "rx": "rx",
    "ry": "ry",
    "rz": "rz",
    "p": "phaseshift",
    "u": "U",
    "cx": "cnot",
    "cy": "cy",
    "cz": "cz",
    "swap": "swap",
    "cp": "cphaseshift",
    "rxx": "xx",
    "ryy": "yy",
    "rzz": "zz",
    "ccx": "ccnot",
    "cswap": "cswap",
}
if set(BRAKET_GATES) - set(GATES):  # pragma: no cover - guards a renamed library gate
    raise ImportError(f"qbridge_braket's gate table names unknown gates {sorted(set(BRAKET_GATES) - set(GATES))}")

INPUT_PREFIX = "p_"


def _canon(op: str) -> str:
    # Braket compares operation names case-insensitively without underscores ("GPhase" ~ "gphase").
    return op.lower().replace("_", "")


def native_gates(supported_operations: Iterable[str], supported_pragmas: Iterable[str] = ()) -> frozenset[str]:
    """qbridge gates a Braket device runs as they are, from its ``supportedOperations``."""
    ops = {_canon(o) for o in supported_operations}
    out = {qb for qb, bk in BRAKET_GATES.items() if _canon(bk) in ops}
    if "unitary" in ops or "braket_unitary_matrix" in set(supported_pragmas):
        out.add("unitary")
    return frozenset(out)


def supports_gphase(supported_operations: Iterable[str]) -> bool:
    return "gphase" in {_canon(o) for o in supported_operations}


def input_name(parameter: str) -> str:
    return INPUT_PREFIX + parameter


def _num(x: float) -> str:
    # repr keeps all 17 significant digits; OpenQASM reads 1e-05 and -0.5 as written
    return repr(float(x))


def format_param(p: Any) -> str:
    """A gate argument: a float, or a linear expression over program inputs."""
    if not isinstance(p, ParameterExpression):
        return _num(p)
    parts: list[str] = []
    for name, coeff in p.terms:
        var = input_name(name)
        term = var if coeff == 1.0 else (f"-{var}" if coeff == -1.0 else f"{_num(coeff)}*{var}")
        parts.append(term)
    if p.const != 0.0 or not parts:
        parts.append(_num(p.const))
    text = parts[0]
    for part in parts[1:]:
        text += f" - {part[1:]}" if part.startswith("-") else f" + {part}"
    return text


def _format_complex(z: complex) -> str:
    # the form Braket's unitary pragma reads: "a", "bim" or "a + bim"
    re_, im = float(z.real), float(z.imag)
    if im == 0.0:
        return _num(re_)
    if re_ == 0.0:
        return f"{_num(im)}im"
    return f"{_num(re_)} {'+' if im > 0 else '-'} {_num(abs(im))}im"


@dataclass(frozen=True)
class NoiseModel:
    """Noise for Braket's density-matrix simulator, from the backend option ``noise``.

    Format: ``{"depolarizing": p1, "two_qubit_depolarizing": p2, "readout": pr,
    "amplitude_damping": g, "phase_damping": g}``, every key optional, every value a
    probability. After each one-qubit gate: ``depolarizing(p1)`` on its qubit; after each
    two-qubit gate: ``two_qubit_depolarizing(p2)`` on its pair; after every gate:
    ``amplitude_damping``/``phase_damping`` on each qubit it acts on. ``readout`` flips each
    measured bit with probability pr (a ``bit_flip`` before measurement with shots; applied to
    exact probabilities and expectation values as the same classical flip). Gates on three or
    more qubits are decomposed into one- and two-qubit gates first, so every gate carries its
    channel.
    """

    depolarizing: float = 0.0
    two_qubit_depolarizing: float = 0.0
    readout: float = 0.0
    amplitude_damping: float = 0.0
    phase_damping: float = 0.0

    LIMITS = {  # the largest physical value of each (Braket's own bounds)
        "depolarizing": 0.75,
        "two_qubit_depolarizing": 15 / 16,
        "readout": 0.5,
        "amplitude_damping": 1.0,
        "phase_damping": 1.0,
    }

    @classmethod
    def parse(cls, noise: Mapping[str, Any] | None) -> "NoiseModel":
        if noise is None:
            return cls()
        if isinstance(noise, NoiseModel):
            return noise
        if not isinstance(noise, Mapping):
            raise TypeError(
                "noise must be a mapping such as {'depolarizing': 0.01, 'two_qubit_depolarizing': 0.02, "
                f"'readout': 0.03}}, got {type(noise).__name__}"
            )
        unknown = sorted(set(noise) - set(cls.LIMITS))
        if unknown:
            raise ValueError(f"unknown noise channel(s) {unknown}; known: {sorted(cls.LIMITS)}")
        values = {}
        for key, value in noise.items():
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise ValueError(f"noise {key!r} must be a probability, got {value!r}")
            if not 0.0 <= float(value) <= cls.LIMITS[key]:
                raise ValueError(f"noise {key!r} must lie in [0, {cls.LIMITS[key]:g}], got {value}")
            values[key] = float(value)
        return cls(**values)

    @property
    def active(self) -> bool:
        return any(getattr(self, k) > 0.0 for k in self.LIMITS)

    @property
    def gate_noise(self) -> bool:
        return any(getattr(self, k) > 0.0 for k in self.LIMITS if k != "readout")

    def after(self, qubits: Sequence[str]) -> list[str]:
        """Noise pragmas after a gate on ``qubits`` (formatted qubit references)."""
        out: list[str] = []
        if len(qubits) == 1 and self.depolarizing > 0.0:
            out.append(f"#pragma braket noise depolarizing({_num(self.depolarizing)}) {qubits[0]}")
        if len(qubits) == 2 and self.two_qubit_depolarizing > 0.0:
            out.append(
                f"#pragma braket noise two_qubit_depolarizing({_num(self.two_qubit_depolarizing)}) "
                f"{qubits[0]}, {qubits[1]}"
            )
        for q in qubits:
            if self.amplitude_damping > 0.0:
                out.append(f"#pragma braket noise amplitude_damping({_num(self.amplitude_damping)}) {q}")
            if self.phase_damping > 0.0:
                out.append(f"#pragma braket noise phase_damping({_num(self.phase_damping)}) {q}")
        return out

    def to_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in self.LIMITS if getattr(self, k) > 0.0}

    # the interface to_openqasm and the backend use (shared with qbridge_braket.noise.ModelNoise)
    def after_op(self, gate: str, qubits: Sequence[int], refs: Sequence[str]) -> list[str]:
        return self.after(refs)

    def readout_pragmas(self, n: int, qref) -> list[str]:
        if self.readout <= 0.0:
            return []
        return [f"#pragma braket noise bit_flip({_num(self.readout)}) {qref(q)}" for q in range(n)]


_PAULI_OBS = {"X": "x", "Y": "y", "Z": "z"}


def pauli_word_observable(word: str, qref) -> str:
    """``x(q[0]) @ z(q[2])`` for the Pauli word ``XIZ``."""
    return " @ ".join(f"{_PAULI_OBS[p]}({qref(q)})" for q, p in enumerate(word) if p != "I")


def to_openqasm(
    circuit: Circuit,
    *,
    shots: bool,
    probability: bool = True,
    statevector: bool = False,
    words: Sequence[str] = (),
    noise: Any = None,
    physical_qubits: Sequence[int] | None = None,
    gphase: bool = True,
) -> tuple[str, tuple[str, ...]]:
    """The Braket OpenQASM 3 source of a native ``circuit`` and the input names it declares.

    ``circuit`` holds only gates of :data:`BRAKET_GATES`, ``unitary`` and ``barrier`` (the
    backend decomposes everything else first). With ``shots`` every qubit is measured into
    ``b`` (bit i = qubit i); otherwise the result pragmas are written: ``probability`` over all
    qubits, ``state_vector``, then one ``expectation`` per Pauli word in ``words``, in that
    order. ``noise`` is a :class:`NoiseModel` (the legacy option) or a
    :class:`qbridge_braket.noise.ModelNoise` (a qbridge model): pragmas after each gate, and before
    measurement with shots. ``physical_qubits[i]`` is the physical qubit of circuit qubit i (``$k``
    references, no qubit rewiring); None uses the virtual register ``q``.
    """
    noise = noise or NoiseModel()
    n = circuit.num_qubits
    if physical_qubits is not None:
        if len(physical_qubits) < n:
            raise ValidationError(f"{n} qubits need {n} physical qubits, got a layout of {len(physical_qubits)}")
        phys = list(physical_qubits)

        def qref(q: int) -> str:
            return f"${phys[q]}"
    else:

        def qref(q: int) -> str:
            return f"q[{q}]"

    used_params: dict[str, None] = {}
    body: list[str] = []
    touched: set[int] = set()

    def arg(p: Any) -> str:
        if isinstance(p, ParameterExpression):
            for name in p.parameter_names:
                used_params.setdefault(name, None)
        return format_param(p)

    for op in circuit:
        if op.name in ("barrier", "measure"):
            continue
        qs = [qref(q) for q in op.qubits]
        if op.name == "unitary":
            if noise.gate_noise and len(op.qubits) > 2:
                raise ValidationError(
                    f"a {len(op.qubits)}-qubit unitary cannot carry the noise model (channels are one- and "
                    "two-qubit); write it as one- and two-qubit gates",
                    instruction="unitary",
                )
            rows = ", ".join("[" + ", ".join(_format_complex(z) for z in row) + "]" for row in op.matrix)
            body.append(f"#pragma braket unitary([{rows}]) {', '.join(qs)}")
        elif op.name in BRAKET_GATES:
            gate = BRAKET_GATES[op.name]
            params = f"({', '.join(arg(p) for p in op.params)})" if op.params else ""
            body.append(f"{gate}{params} {', '.join(qs)};")
        else:
            raise GateError(f"gate {op.name!r} has no Braket equivalent; decompose it first", instruction=op.name)
        touched.update(op.qubits)
        if noise.gate_noise:
            body.extend(noise.after_op(op.name, op.qubits, qs))
    phase = circuit.global_phase
    if statevector and gphase and not shots and (isinstance(phase, ParameterExpression) or phase != 0.0):
        body.append(f"gphase({arg(phase)});")
    lines = ["OPENQASM 3.0;"]
    lines += [f"input float {input_name(p)};" for p in used_params]
    if physical_qubits is None:
        lines.append(f"qubit[{n}] q;")
    if shots:
        lines.append(f"bit[{n}] b;")
        lines += body
        lines += noise.readout_pragmas(n, qref)
        if physical_qubits is None:
            lines.append("b = measure q;")
        else:
            lines += [f"b[{q}] = measure {qref(q)};" for q in range(n)]
    else:
        lines += body
        lines += [f"i {qref(q)};" for q in range(n) if q not in touched]
        if probability:
            lines.append("#pragma braket result probability")
        if statevector:
            lines.append("#pragma braket result state_vector")
        for w in words:
            lines.append(f"#pragma braket result expectation {pauli_word_observable(w, qref)}")
    return "\n".join(lines) + "\n", tuple(input_name(p) for p in used_params)
