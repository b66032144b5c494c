"""Pauli twirling of two-qubit gates, on the IR.

Each twirled gate U gets a random Pauli pair P (before) and R (after) with R U P = w U for a
phase w, so the ideal circuit is unchanged (the phase is taken back out of the circuit's global
phase, which makes the twirled circuit *equal* to the original, not only up to phase). Averaging
over random instances turns the gate's noise into a Pauli channel, which zero-noise
extrapolation and readout correction model much better than coherent errors.

The pairs are derived from the gate matrices, not tabulated by hand: for P in the 16 two-qubit
Paulis, R ~ U P U^dag must again be a Pauli. Clifford gates (cx, cz, cy, swap) admit all 16; a
parametric gate such as rzz(theta) admits the pairs whose R does not depend on theta (checked at
two angles), so symbolic parameters stay symbolic and a whole binding batch still goes out at once.

Pure functions: (circuit, rng) -> circuit.
"""

from __future__ import annotations

import cmath
import itertools
from functools import lru_cache
from typing import Any, Iterable, Sequence

import numpy as np

from ..ir.circuit import Circuit, Instruction
from ..ir.gates import GATES, gate_matrix
from .technique import Technique, Variant, register_technique

__all__ = ["twirl_pairs", "twirl_circuit", "twirl_instances", "twirlable_gates", "TwirlTemplate", "TwirlTechnique"]

_P1 = {
    "I": np.eye(2, dtype=complex),
    "X": np.array([[0, 1], [1, 0]], dtype=complex),
    "Y": np.array([[0, -1j], [1j, 0]], dtype=complex),
    "Z": np.array([[1, 0], [0, -1]], dtype=complex),
}
_WORDS = ["".join(w) for w in itertools.product("IXYZ", repeat=2)]
_GATE_OF = {"X": "x", "Y": "y", "Z": "z"}


def _pauli2(word: str) -> np.ndarray:
    # first letter on the gate's first qubit, the most significant bit (gates.py's convention)
    return np.kron(_P1[word[0]], _P1[word[1]])


_PAULIS = np.stack([_pauli2(w) for w in _WORDS])  # (16, 4, 4)


def _as_pauli(m: np.ndarray) -> tuple[str, complex] | None:
    """(word, w) with m == w * Pauli(word), or None when m is not a multiple of a Pauli."""
    coeffs = np.einsum("kij,ji->k", _PAULIS, m) / 4  # tr(P m) / 4: Paulis are Hermitian
    k = int(np.argmax(np.abs(coeffs)))
    if abs(abs(coeffs[k]) - 1) < 1e-9 and np.allclose(m, coeffs[k] * _PAULIS[k], atol=1e-9):
        return _WORDS[k], complex(coeffs[k])
    return None


@lru_cache(maxsize=None)
def twirl_pairs(name: str) -> tuple[tuple[str, str, float], ...]:
    """(before, after, phase) triples for gate ``name``: after . U . before == exp(i phase) U.

    For parametric gates only the pairs valid at every angle are returned (the relation is
    checked at two unrelated angles). The identity pair is always among them.
    """
    gate = GATES.get(name)
    if gate is None or gate.num_qubits != 2:
        return ()
    param_sets = [()] if gate.num_params == 0 else [
        tuple(0.37 + 0.91 * k for k in range(gate.num_params)),
        tuple(1.93 - 0.53 * k for k in range(gate.num_params)),
    ]
    if gate.num_params == 0:
        mats = [gate_matrix(name)]
    else:  # both angle sets in one batched call (gate matrices are torch functions)
        import torch

        cols = [torch.tensor([a[i] for a in param_sets], dtype=torch.float64) for i in range(gate.num_params)]
        mats = list(gate.matrix(*cols, dtype=torch.complex128).numpy())
    out = []
    for before in _WORDS:
        found = None
        for u in mats:
            hit = _as_pauli(u @ _pauli2(before) @ u.conj().T)
            if hit is None or (found is not None and (hit[0] != found[0] or abs(hit[1] - found[1]) > 1e-9)):
                found = None
                break
            found = hit
        if found is not None:
            after, w = found
            # U P U^dag = w R  =>  R U P = w R R U = w U
            out.append((before, after, cmath.phase(w)))
    return tuple(out)


@lru_cache(maxsize=1)
def twirlable_gates() -> tuple[str, ...]:
    """Two-qubit gates of the library with a non-trivial twirling group."""
    return tuple(n for n in sorted(GATES) if len(twirl_pairs(n)) > 1)


def _check_gates(gates: Iterable[str] | None) -> frozenset[str] | None:
    """The gate names to twirl; None: every gate with a non-trivial twirling group."""
    if gates is None:
        return None
    if isinstance(gates, str):
        gates = [g.strip() for g in gates.split(",") if g.strip()]
    bad = [g for g in gates if len(twirl_pairs(g)) <= 1]
    if bad:
        raise ValueError(
            f"cannot twirl {bad}: only two-qubit gates with Pauli frames that leave them unchanged "
            f"can be twirled: {list(twirlable_gates())}"
        )
    return frozenset(gates)


def _pauli_ops(word: str, qubits: Sequence[int]) -> list[Instruction]:
    return [Instruction(_GATE_OF[p], (q,)) for p, q in zip(word, qubits) if p != "I"]


def twirl_circuit(
    circuit: Circuit,
    rng: np.random.Generator | int | None = None,
    gates: Iterable[str] | None = None,
) -> Circuit:
    """One random twirl of ``circuit``: every two-qubit gate named in ``gates`` (default: every
    one of :func:`twirlable_gates`) gets a random Pauli frame. Measurements, barriers and state
    preparation are kept where they are. The result equals ``circuit`` as a unitary, global phase
    included."""
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    chosen = _check_gates(gates)
    ops: list[Instruction] = []
    phase = circuit.global_phase
    for op in circuit:
        pairs = twirl_pairs(op.name) if chosen is None or op.name in chosen else ()
        if len(pairs) <= 1:
            ops.append(op)
            continue
        before, after, ph = pairs[int(rng.integers(len(pairs)))]
        ops.extend(_pauli_ops(before, op.qubits))
        ops.append(op)
        ops.extend(_pauli_ops(after, op.qubits))
        phase = phase - ph
    return Circuit(circuit.num_qubits, ops, global_phase=phase, name=circuit.name)


def twirl_instances(
    circuit: Circuit, num: int, seed: int | np.random.Generator | None = None, gates: Iterable[str] | None = None
) -> list[Circuit]:
    """``num`` independent random twirls of ``circuit`` (seeded)."""
    if isinstance(num, bool) or not isinstance(num, int) or num < 1:
        raise ValueError(f"the number of twirled instances must be a positive integer, got {num!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    gates = None if gates is None else tuple(gates)
    return [twirl_circuit(circuit, rng, gates) for _ in range(num)]


# -- parametric twirling: every instance from one compiled circuit ----------------------------------
#
# Random instances as separate circuits each cost a compile (a transpilation on Qiskit backends).
# The template puts a parametrised frame wherever a Pauli may go; each instance is then a row of
# parameter values, so all instances of a circuit run as one task with one compile. The frame is
# sx, rz(a), sx, rz(b) -- the operator rz(b) sx rz(a) sx -- which for a, b in {0, pi} is, up to
# a global phase, X (0, 0), Y (0, pi), Z (pi, 0) or I (pi, pi). Those gates are the native
# single-qubit basis of IBM devices and of noise models built from them, so the template needs
# no basis translation of symbolic angles (Qiskit's translation of parametrised ``u`` gates can
# take minutes on some hash seeds). The instances' global phases are dropped: counts do not
# depend on them.

_FRAME_ANGLES = {"X": (0.0, 0.0), "Y": (0.0, np.pi), "Z": (np.pi, 0.0), "I": (np.pi, np.pi)}


class TwirlTemplate:
    """A circuit with a parametrised Pauli frame around each twirled gate.

    ``circuit`` holds the circuit's own parameters plus ``2 * 4`` frame angles per twirled gate
    (named ``{prefix}{k}``); :meth:`frames` draws instances as rows of those angles.
    """

    def __init__(self, circuit: Circuit, gates: Iterable[str] | None = None, prefix: str = "qbtw_") -> None:
        from ..ir.parameters import Parameter

        taken = set(circuit.parameter_names)
        if any(name.startswith(prefix) for name in taken):
            raise ValueError(f"parameter names starting with {prefix!r} are reserved for twirling frames")
        chosen = _check_gates(gates)
        ops: list[Instruction] = []
        self.slots: list[str] = []  # twirled gate name per slot
        self.names: list[str] = []
        k = 0

        def frame(q: int) -> list[Instruction]:
            nonlocal k
            a, b = Parameter(f"{prefix}{k}"), Parameter(f"{prefix}{k + 1}")
            self.names += [a.name, b.name]
            k += 2
            return [Instruction("sx", (q,)), Instruction("rz", (q,), (a,)), Instruction("sx", (q,)),
                    Instruction("rz", (q,), (b,))]

        for op in circuit:
            if (chosen is None or op.name in chosen) and len(twirl_pairs(op.name)) > 1:
                self.slots.append(op.name)
                for q in op.qubits:
                    ops.extend(frame(q))
                ops.append(op)
                for q in op.qubits:
                    ops.extend(frame(q))
            else:
                ops.append(op)
        self.circuit = Circuit(circuit.num_qubits, ops, global_phase=circuit.global_phase, name=circuit.name)

    def frames(self, num: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """(num, len(names)) frame angles of ``num`` random instances, in ``names`` order."""
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        out = np.zeros((num, len(self.names)))
        for i in range(num):
            row: list[float] = []
            for gate in self.slots:
                pairs = twirl_pairs(gate)
                before, after, _ = pairs[int(rng.integers(len(pairs)))]
                for p in before:
                    row.extend(_FRAME_ANGLES[p])
                for p in after:
                    row.extend(_FRAME_ANGLES[p])
            out[i] = row
        return out


# -- the technique, as the pipeline runs it ----------------------------------------------------------


@register_technique
class TwirlTechnique(Technique):
    """Pauli twirling: each variant runs as ``twirl_instances`` random twirls, pooled. Separate
    circuits (``twirl_mode="explicit"``, default: the fewest extra gates) or the rows of one
    template (``"parametric"``: one compile for all instances, four extra gates per frame)."""

    name = "twirl"
    stage = 20

    def needs_seed(self) -> bool:
        return True

    def expand(self, variants: list[Variant], rng: np.random.Generator) -> list[Variant]:
        o = self.settings.options
        out: list[Variant] = []
        for v in variants:
            if o.twirl_mode == "parametric" and v.frames is None:
                tpl = TwirlTemplate(v.circuit, o.twirl_gates)
                if tpl.slots:
                    out.append(Variant(v.scale, tpl.circuit, tpl.frames(o.twirl_instances, rng), tuple(tpl.names), v.flip))
                    continue
            elif o.twirl_mode != "parametric" and any(len(twirl_pairs(op.name)) > 1 for op in v.circuit):
                out.extend(Variant(v.scale, twirl_circuit(v.circuit, rng, o.twirl_gates), v.frames, v.frame_names, v.flip)
                           for _ in range(o.twirl_instances))
                continue
            out.append(v)
        return out

    def report(self, token: Any, context: dict[str, Any]) -> dict[str, Any]:
        o = self.settings.options
        if context["kind"] == "sampling":
            return {"instances": o.twirl_instances}
        return {"instances": o.twirl_instances, "gates": list(o.twirl_gates) if o.twirl_gates else "all"}

