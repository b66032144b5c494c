"""qbridge circuits as PennyLane tapes: pure functions, no device objects.

Owns: the gate table (qbridge name -> PennyLane operation), which qbridge gates a device runs
natively (from its declared capabilities), amplitude encoding as one ``qml.StatePrep``, Pauli sums
as PennyLane Hamiltonians, and the tape of one task (a whole batch of bindings as one
broadcast tape).

Imports PennyLane at module level: :mod:`qbridge_pennylane.backend` imports this module only when
a backend is created.

Conventions checked by the tests (gate by gate against ``qbridge.ir.gates.gate_matrix``):

- bit order: PennyLane's wire 0 is the most significant bit of ``qml.probs``/``qml.state`` and the
  first wire of a multi-qubit matrix, exactly qbridge's order, so nothing is reordered;
- qbridge ``u(theta, phi, lam)`` is ``qml.U3(theta, phi, lam)`` (same matrix, no phase);
  ``p`` is ``PhaseShift``; ``rxx/ryy/rzz`` are ``IsingXX/YY/ZZ`` (exp(-i t/2 PP));
- ``sdg``/``tdg`` are ``PhaseShift(-pi/2)``/``PhaseShift(-pi/4)`` (the same matrices), ``sxdg``
  is ``adjoint(SX)``;
- global phase: ``qml.GlobalPhase(phi)`` multiplies the state by exp(-i phi), so a qbridge
  global phase ``g`` becomes ``GlobalPhase(-g)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pennylane as qml
import torch

from qbridge.exceptions import GateError
from qbridge.ir.circuit import Circuit, Instruction
from qbridge.ir.gates import GATES
from qbridge.ir.modifiers import is_mcx
from qbridge.ir.observables import PauliSum
from qbridge.ir.parameters import ParameterExpression
from qbridge.sim.statevector import _normalise_inputs

__all__ = [
    "GATE_TABLE",
    "native_gates",
    "pennylane_op",
    "pauli_word",
    "hamiltonian",
    "word_weights",
    "TapeSpec",
    "build_tape",
]


@dataclass(frozen=True)
class _PLGate:
    op: str  # PennyLane operation class name
    fixed: tuple[float, ...] = ()  # parameters fixed by the mapping (sdg -> PhaseShift(-pi/2))
    adjoint: bool = False


GATE_TABLE: dict[str, _PLGate] = {
    "id": _PLGate("Identity"),
    "x": _PLGate("PauliX"),
    "y": _PLGate("PauliY"),
    "z": _PLGate("PauliZ"),
    "h": _PLGate("Hadamard"),
    "s": _PLGate("S"),
    "sdg": _PLGate("PhaseShift", (-math.pi / 2,)),
    "t": _PLGate("T"),
    "tdg": _PLGate("PhaseShift", (-math.pi / 4,)),
    "sx": _PLGate("SX"),
    "sxdg": _PLGate("SX", adjoint=True),
    "rx": _PLGate("RX"),
    "ry": _PLGate("RY"),
    "rz": _PLGate("RZ"),
    "p": _PLGate("PhaseShift"),
    "u": _PLGate("U3"),
    "cx": _PLGate("CNOT"),
    "cy": _PLGate("CY"),
    "cz": _PLGate("CZ"),
    "ch": _PLGate("CH"),
    "swap": _PLGate("SWAP"),
    "crx": _PLGate("CRX"),
    "cry": _PLGate("CRY"),
    "crz": _PLGate("CRZ"),
    "cp": _PLGate("ControlledPhaseShift"),
    "rxx": _PLGate("IsingXX"),
    "ryy": _PLGate("IsingYY"),
    "rzz": _PLGate("IsingZZ"),
    "ccx": _PLGate("Toffoli"),
    "cswap": _PLGate("CSWAP"),
}
if set(GATE_TABLE) != set(GATES):  # a new library gate must be mapped here (caught at import in CI)
    raise ImportError(f"qbridge_pennylane's gate table is out of date: {sorted(set(GATES) ^ set(GATE_TABLE))}")


def native_gates(capabilities: Any) -> frozenset[str]:
    """qbridge gates (and ``unitary``) that a device with these capabilities runs as they are.

    ``capabilities`` is a ``pennylane.devices.capabilities.DeviceCapabilities`` or None; devices
    that declare none (default.qubit, default.mixed) apply any operation that has a matrix.
    """
    if capabilities is None or not getattr(capabilities, "operations", None):
        return frozenset(GATE_TABLE) | {"unitary"}
    ops = capabilities.operations
    out = set()
    for name, g in GATE_TABLE.items():
        props = ops.get(g.op)
        if props is None:
            continue
        if g.adjoint and not getattr(props, "invertible", False):
            continue
        out.add(name)
    if "QubitUnitary" in ops:
        out.add("unitary")
    if all(getattr(ops.get(name), "controllable", False) for name in _MCU_OPS):
        out.add("mcu")  # applied with its controls (lightning); never as a 2^(k+1) matrix
    return frozenset(out)


# mcu (controls..., target; theta, phi, lam, gamma) is e^{i gamma} u(theta, phi, lam) on the target when
# every control is 1, and u = e^{i(phi + lam)/2} RZ(phi) RY(theta) RZ(lam): three controlled
# rotations, and the phase as a PhaseShift on the last control controlled by the others
_MCU_OPS = ("RZ", "RY", "PhaseShift", "PauliX")


def _mcu_ops(op: Instruction, columns: Mapping[str, Any]) -> list[Any]:
    *controls, target = op.qubits
    if is_mcx(op.params):
        return [qml.ctrl(qml.PauliX(wires=target), control=controls)]  # X, as a multi-controlled X
    theta, phi, lam, gamma = (_value(p, columns) for p in op.params)
    out = [qml.ctrl(gate(angle, wires=target), control=controls)
           for gate, angle in ((qml.RZ, lam), (qml.RY, theta), (qml.RZ, phi))]
    shift = qml.PhaseShift(gamma + 0.5 * (phi + lam), wires=controls[-1])
    out.append(qml.ctrl(shift, control=controls[:-1]) if len(controls) > 1 else shift)
    return out


def _value(p: Any, columns: Mapping[str, Any]) -> Any:
    return p.evaluate(columns) if isinstance(p, ParameterExpression) else float(p)


def pennylane_op(op: Instruction, columns: Mapping[str, Any] | None = None, *, torch_params: bool = False):
    """The PennyLane operation of one qbridge gate; parameters evaluated on ``columns``.

    ``torch_params``: every parameter a float64 tensor, since PennyLane's matrices of
    multi-parameter gates (U3) cannot mix NumPy constants with torch tensors.
    """
    if op.name == "unitary":
        return qml.QubitUnitary(np.asarray(op.matrix, dtype=complex), wires=list(op.qubits))
    g = GATE_TABLE.get(op.name)
    if g is None:
        raise GateError(f"no PennyLane operation for {op.name!r}", instruction=op.name)
    params = list(g.fixed) if g.fixed else [_value(p, columns or {}) for p in op.params]
    if torch_params and len(params) > 1:
        params = [p if torch.is_tensor(p) else torch.tensor(float(p), dtype=torch.float64, device="cpu") for p in params]
    pl = getattr(qml, g.op)(*params, wires=list(op.qubits))
    return qml.adjoint(pl) if g.adjoint else pl


_LETTER = {"X": "PauliX", "Y": "PauliY", "Z": "PauliZ"}


def pauli_word(word: str):
    """The PennyLane observable of a Pauli word (``"XIZ"``: X on wire 0, Z on wire 2)."""
    factors = [getattr(qml, _LETTER[p])(q) for q, p in enumerate(word) if p != "I"]
    if not factors:
        return qml.Identity(0)
    return factors[0] if len(factors) == 1 else qml.prod(*factors)


def hamiltonian(obs: PauliSum) -> tuple[float, Any]:
    """(constant, PennyLane observable or None): identity terms are split off as a constant."""
    const = 0.0
    coeffs: list[float] = []
    ops: list[Any] = []
    for term in obs.terms:
        if not term.support:
            const += term.coeff
            continue
        ops.append(pauli_word(term.paulis))
        coeffs.append(term.coeff)
    if not ops:
        return const, None
    return const, qml.Hamiltonian(coeffs, ops)


def word_weights(observables: Sequence[PauliSum]) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Distinct non-identity Pauli words of ``observables``, their weights (n_obs, n_words) and
    the identity constants (n_obs,): ``<O_k> = const[k] + weights[k] @ <words>``.

    One ``expval`` per distinct word rather than one per Hamiltonian: devices evaluate named
    Pauli words with specialised kernels (lightning's Hamiltonian path is 2-20x slower), words
    shared between observables are measured once, and the same layout serves Braket's adapter.
    """
    words: list[str] = []
    for obs in observables:
        for term in obs.terms:
            if term.support and term.paulis not in words:
                words.append(term.paulis)
    index = {w: i for i, w in enumerate(words)}
    weights = np.zeros((len(observables), len(words)))
    consts = np.zeros(len(observables))
    for k, obs in enumerate(observables):
        for term in obs.terms:
            if term.support:
                weights[k, index[term.paulis]] += term.coeff
            else:
                consts[k] += term.coeff
    return tuple(words), weights, consts


def _encoded_state(circuit: Circuit, inputs: Mapping[str, Any], differentiable: bool):
    """One (B, 2^k) state over the wires of every ``amplitude_encode``, or None.

    Encodings act on fresh qubits, so they commute with every earlier gate on other qubits and
    can all move to the front; their tensor product is one ``StatePrep``, which every PennyLane
    device applies as an initial state (no decomposition). Normalisation and padding are
    qbridge's own (:func:`qbridge.sim.statevector._normalise_inputs`), so the prepared state is
    the one the torch backend prepares, complex rows included.
    """
    state = None
    wires: list[int] = []
    for op in circuit:
        if op.name != "amplitude_encode":
            continue
        size = 2 ** len(op.qubits)
        if isinstance(op.source, str):
            raw = inputs[op.source]
            name = op.source
        else:
            raw = np.asarray(op.source, dtype=complex)
            name = "<fixed vector>"
        if not differentiable and torch.is_tensor(raw):
            raw = raw.detach()
        vec = _normalise_inputs(raw, size, torch.complex128, "cpu", name)  # (B_i, size)
        if state is None:
            state = vec
        else:
            # |a> (x) |b> with the batch axes broadcast: (B, da, 1) * (B, 1, db) -> (B, da*db)
            state = (state[:, :, None] * vec[:, None, :]).reshape(max(state.shape[0], vec.shape[0]), -1)
        wires.extend(op.qubits)
    if state is None:
        return None, ()
    return (state if differentiable else state.numpy()), tuple(wires)


@dataclass(frozen=True)
class TapeSpec:
    """What a task's tape measures, in order, to read its results back."""

    tape: Any
    batch_size: int
    num_qubits: int
    shots: int | None
    probabilities: bool
    statevector: bool
    words: tuple[str, ...] = ()  # one expval each, after probs and state
    weights: Any = None  # (n_obs, n_words): observable k = constants[k] + weights[k] @ word values
    constants: Any = None  # (n_obs,)


def _columns(task: Any, differentiable: bool) -> dict[str, Any]:
    names = task.circuit.parameter_names
    if not names:
        return {}
    if differentiable and torch.is_tensor(task.parameter_values):
        pv = task.parameter_values.to(torch.float64)
        if pv.shape[0] == 1:
            return {n: pv[0, i] for i, n in enumerate(names)}
        return {n: pv[:, i] for i, n in enumerate(names)}
    pv = task.parameter_array()  # (B, P), float64
    if pv.shape[0] == 1:
        return {n: float(pv[0, i]) for i, n in enumerate(names)}
    # a column shared by every row stays a scalar, so gates it drives are not broadcast
    return {n: (float(pv[0, i]) if np.all(pv[:, i] == pv[0, i]) else np.ascontiguousarray(pv[:, i]))
            for i, n in enumerate(names)}


def build_tape(
    circuit: Circuit,
    task: Any,
    *,
    shots: int | None,
    statevector: bool,
    differentiable: bool = False,
    probabilities: bool = True,
    observables: Sequence[PauliSum] = (),
) -> TapeSpec:
    """The tape of one task: the native ``circuit`` (measurements removed) with the task's batch.

    Exact: ``probs`` over all wires (wire 0 = MSB), ``state`` when asked, one ``expval`` per
    distinct Pauli word of the observables (:func:`word_weights`). Shots: one ``sample`` over all
    wires. Gate parameters are the task's binding columns, so a batch is one broadcast tape.
    """
    n = circuit.num_qubits
    cols = _columns(task, differentiable)
    ops: list[Any] = []
    state, wires = _encoded_state(circuit, task.inputs, differentiable)
    if state is not None:
        if state.shape[0] == 1:
            state = state[0]
        # already normalised and padded; PennyLane's own check would only cost time
        ops.append(qml.StatePrep(state, wires=list(wires), normalize=False, validate_norm=False))
    for op in circuit:
        if op.name in ("barrier", "measure", "amplitude_encode"):
            continue
        if op.name == "mcu":
            ops.extend(_mcu_ops(op, cols))
            continue
        if op.name not in GATE_TABLE and op.name != "unitary":
            raise GateError(f"no PennyLane operation for {op.name!r}", instruction=op.name)
        ops.append(pennylane_op(op, cols, torch_params=differentiable))
    phase = circuit.global_phase
    if statevector and (isinstance(phase, ParameterExpression) or phase != 0.0):
        # only the state vector sees a global phase; probabilities and expectations do not
        ops.append(qml.GlobalPhase(-1.0 * _value(phase, cols), wires=list(range(n))))
    all_wires = list(range(n))
    meas: list[Any] = []
    words, weights, consts = word_weights(observables) if shots is None else ((), None, None)
    if shots is None:
        if probabilities:
            meas.append(qml.probs(wires=all_wires))
        if statevector:
            meas.append(qml.state())
        meas.extend(qml.expval(pauli_word(w)) for w in words)
    else:
        meas.append(qml.sample(wires=all_wires))
    if not ops:  # an empty circuit still needs its wires named
        ops = [qml.Identity(wires=all_wires)]
    tape = qml.tape.QuantumScript(ops, meas, shots=shots)
    if shots is not None and task.batch_size > 1 and tape.batch_size is None:
        # every row binds the same values, so the tape is not broadcast: draw all rows' shots in
        # one sample and split it, so that each row gets its own draws (one sample handed to
        # every row would give B identical count dicts)
        tape = qml.tape.QuantumScript(ops, meas, shots=shots * task.batch_size)
    return TapeSpec(tape, task.batch_size, n, shots, probabilities and shots is None, statevector and shots is None,
                    words, weights if observables else None, consts if observables else None)

