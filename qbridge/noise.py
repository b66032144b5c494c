"""One noise description for every noisy backend: :class:`NoiseModel`.

Owns: the noise channels (:class:`Depolarizing`, :class:`AmplitudeDamping`,
:class:`PhaseDamping`, :class:`ThermalRelaxation`, :class:`ReadoutError`) with their physical
ranges and Kraus operators, the frozen :class:`NoiseModel` that attaches them to gates (per gate
name, for all qubits or for given qubits) and to the readout of qubits, its JSON round trip, the
classical readout confusion applied to exact probabilities (:func:`apply_readout`), and
:meth:`NoiseModel.from_backend`, which reads a calibrated IBM fake device through
qiskit-ibm-runtime (imported only inside that method).

Must not touch: backends, simulators or any SDK at import time. Backends convert a model into
their own form (the torch density-matrix kernels in :mod:`qbridge.sim.density`, Aer's noise
model in ``qbridge_aer``, Braket noise pragmas in ``qbridge_braket``); this module is the one
definition of what a model means, which every conversion follows:

- **Gate errors** act right after every gate of their name, as the backend runs it (after its own
  rewrite into native gates: run circuits written in the gates you gave errors to). Errors given
  for specific qubits replace the all-qubit error of that gate on those qubits (as in Aer).
  Channels of one entry act in the order given. A one-qubit channel on a k-qubit gate acts on each
  of its qubits; a k-qubit channel acts on the gate's qubits in their order.
- **Readout errors** flip measured bits: ``ReadoutError(p01, p10)`` reads 1 for a prepared 0
  with probability p01 and 0 for a 1 with p10, independently per qubit. They are part of counts
  and of exact probabilities (the distribution that infinitely many shots would give); exact
  expectation values are Tr(rho O) of the state and exclude readout errors.
- Conventions: ``Depolarizing(p, k)`` is rho -> (1 - p) rho + p I/2^k (Qiskit's convention,
  p <= 4^k/(4^k - 1)); ``AmplitudeDamping(g)`` has Kraus operators [[1, 0], [0, sqrt(1-g)]] and
  [[0, sqrt(g)], [0, 0]]; ``PhaseDamping(g)`` [[1, 0], [0, sqrt(1-g)]] and [[0, 0], [0, sqrt(g)]];
  ``ThermalRelaxation(t1, t2, time)`` relaxes towards |0> (no excited-state population):
  populations decay as exp(-time/t1), coherences as exp(-time/t2), which needs t2 <= 2 t1.
  ``Product(a, b)`` is the one-qubit channels a and b acting independently on a two-qubit gate's
  first and second qubit.

Why one file of about 700 lines: the channels, the model and its device constructor are one
definition that every backend's conversion follows; ``from_backend`` is about 150 lines of it.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from .exceptions import NoiseModelError
from .ir.gates import GATES

__all__ = [
    "Channel",
    "Depolarizing",
    "AmplitudeDamping",
    "PhaseDamping",
    "ThermalRelaxation",
    "Product",
    "ReadoutError",
    "GateNoise",
    "NoiseModel",
    "apply_readout",
    "as_noise_model",
    "check_gates",
]

_I = np.eye(2, dtype=complex)
_X = np.array([[0, 1], [1, 0]], dtype=complex)
_Y = np.array([[0, -1j], [1j, 0]], dtype=complex)
_Z = np.array([[1, 0], [0, -1]], dtype=complex)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise NoiseModelError(f"{what} must be a finite real number, got {value!r}")
    return float(value)


def _probability(value: Any, what: str, top: float = 1.0) -> float:
    v = _number(value, what)
    if not 0.0 <= v <= top:
        raise NoiseModelError(f"{what} must lie in [0, {top:g}] to be physical, got {v}; use a value in that range")
    return v


class Channel:
    """A noise channel on ``num_qubits`` qubits, with Kraus operators (qubit 0 of the channel is
    the most significant bit of their index, as for gate matrices)."""

    kind: str = ""
    num_qubits: int = 1

    def kraus(self) -> np.ndarray:  # (m, 2^k, 2^k) complex128
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def is_identity(self) -> bool:
        return False


@dataclass(frozen=True)
class Depolarizing(Channel):
    """rho -> (1 - p) rho + p I / 2^k on k = ``num_qubits`` (1 or 2) qubits."""

    p: float
    num_qubits: int = 1
    kind = "depolarizing"

    def __post_init__(self) -> None:
        if self.num_qubits not in (1, 2) or isinstance(self.num_qubits, bool):
            raise NoiseModelError(f"depolarizing noise acts on 1 or 2 qubits, got num_qubits={self.num_qubits!r}")
        top = 4**self.num_qubits / (4**self.num_qubits - 1)
        object.__setattr__(self, "p", _probability(self.p, f"the {self.num_qubits}-qubit depolarizing parameter p", top))

    def kraus(self) -> np.ndarray:
        k = self.num_qubits
        paulis = [_I, _X, _Y, _Z]
        ops = [paulis[i] if k == 1 else np.kron(paulis[i // 4], paulis[i % 4]) for i in range(4**k)]
        w0 = 1.0 - self.p * (4**k - 1) / 4**k
        weights = [w0] + [self.p / 4**k] * (4**k - 1)
        return np.stack([math.sqrt(max(w, 0.0)) * op for w, op in zip(weights, ops)])

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "p": self.p, "num_qubits": self.num_qubits}

    @property
    def is_identity(self) -> bool:
        return self.p == 0.0


@dataclass(frozen=True)
class AmplitudeDamping(Channel):
    """Energy relaxation towards |0> with probability ``gamma``."""

    gamma: float
    kind = "amplitude_damping"

    def __post_init__(self) -> None:
        object.__setattr__(self, "gamma", _probability(self.gamma, "the amplitude damping gamma"))

    def kraus(self) -> np.ndarray:
        g = self.gamma
        return np.array([[[1, 0], [0, math.sqrt(1 - g)]], [[0, math.sqrt(g)], [0, 0]]], dtype=complex)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "gamma": self.gamma}

    @property
    def is_identity(self) -> bool:
        return self.gamma == 0.0


@dataclass(frozen=True)
class PhaseDamping(Channel):
    """Loss of coherence without energy loss: off-diagonal terms scale by sqrt(1 - gamma)."""

    gamma: float
    kind = "phase_damping"

    def __post_init__(self) -> None:
        object.__setattr__(self, "gamma", _probability(self.gamma, "the phase damping gamma"))

    def kraus(self) -> np.ndarray:
        g = self.gamma
        return np.array([[[1, 0], [0, math.sqrt(1 - g)]], [[0, 0], [0, math.sqrt(g)]]], dtype=complex)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "gamma": self.gamma}

    @property
    def is_identity(self) -> bool:
        return self.gamma == 0.0


@dataclass(frozen=True)
class ThermalRelaxation(Channel):
    """T1/T2 relaxation (towards |0>) for ``time``, in the same unit as t1 and t2.

    Equal to :class:`AmplitudeDamping` with gamma = 1 - exp(-time/t1) followed by
    :class:`PhaseDamping` with gamma = 1 - exp(time/t1 - 2 time/t2) (:meth:`as_damping`).
    """

    t1: float
    t2: float
    time: float
    kind = "thermal_relaxation"

    def __post_init__(self) -> None:
        t1 = _number(self.t1, "T1")
        t2 = _number(self.t2, "T2")
        time = _number(self.time, "the gate time")
        if t1 <= 0 or t2 <= 0:
            raise NoiseModelError(f"T1 and T2 must be positive, got T1={t1}, T2={t2}")
        if time < 0:
            raise NoiseModelError(f"the gate time must be >= 0, got {time}")
        if t2 > 2 * t1 * (1 + 1e-12):
            raise NoiseModelError(
                f"T2={t2} exceeds 2*T1={2 * t1}: no physical channel has that; use T2 <= 2*T1 "
                "(NoiseModel.from_backend clips a device's T2 to 2*T1)"
            )
        object.__setattr__(self, "t1", t1)
        object.__setattr__(self, "t2", min(t2, 2 * t1))
        object.__setattr__(self, "time", time)

    def as_damping(self) -> tuple[AmplitudeDamping, PhaseDamping]:
        g_amp = -math.expm1(-self.time / self.t1)
        g_phase = -math.expm1(self.time / self.t1 - 2 * self.time / self.t2)
        return AmplitudeDamping(min(max(g_amp, 0.0), 1.0)), PhaseDamping(min(max(g_phase, 0.0), 1.0))

    def kraus(self) -> np.ndarray:
        amp, phase = self.as_damping()
        return np.stack([p @ a for p in phase.kraus() for a in amp.kraus()])

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "t1": self.t1, "t2": self.t2, "time": self.time}

    @property
    def is_identity(self) -> bool:
        return self.time == 0.0


@dataclass(frozen=True)
class Product(Channel):
    """One-qubit channels acting independently, the first on the first qubit, and so on (for a
    two-qubit gate whose qubits relax with their own T1 and T2)."""

    channels: tuple[Channel, ...]
    kind = "product"

    def __post_init__(self) -> None:
        chans = tuple(self.channels)
        if not 2 <= len(chans) <= 3 or not all(isinstance(c, Channel) and c.num_qubits == 1 for c in chans):
            raise NoiseModelError("a Product holds two or three one-qubit channels (one per gate qubit)")
        object.__setattr__(self, "channels", chans)

    @property
    def num_qubits(self) -> int:  # type: ignore[override]
        return len(self.channels)

    def kraus(self) -> np.ndarray:
        out = self.channels[0].kraus()
        for ch in self.channels[1:]:
            out = np.stack([np.kron(a, b) for a in out for b in ch.kraus()])
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "channels": [c.to_dict() for c in self.channels]}

    @property
    def is_identity(self) -> bool:
        return all(c.is_identity for c in self.channels)


@dataclass(frozen=True)
class ReadoutError:
    """A measured bit reads 1 for a prepared 0 with probability ``p01``, 0 for a 1 with ``p10``."""

    p01: float
    p10: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "p01", _probability(self.p01, "the readout error P(read 1 | 0)"))
        object.__setattr__(self, "p10", _probability(self.p10, "the readout error P(read 0 | 1)"))

    def confusion(self) -> np.ndarray:
        """M[read, prepared]: columns sum to one."""
        return np.array([[1 - self.p01, self.p10], [self.p01, 1 - self.p10]])

    def to_dict(self) -> dict[str, Any]:
        return {"p01": self.p01, "p10": self.p10}

    @property
    def is_identity(self) -> bool:
        return self.p01 == 0.0 and self.p10 == 0.0


_KINDS = {c.kind: c for c in (Depolarizing, AmplitudeDamping, PhaseDamping, ThermalRelaxation, Product)}


def _channel_from_dict(d: Mapping[str, Any]) -> Channel:
    if not isinstance(d, Mapping) or "kind" not in d:
        raise NoiseModelError(f"a channel is a mapping with a 'kind' ({sorted(_KINDS)}), got {d!r}")
    cls = _KINDS.get(d["kind"])
    if cls is None:
        raise NoiseModelError(f"unknown channel kind {d['kind']!r}; known: {sorted(_KINDS)}")
    args = {k: v for k, v in d.items() if k != "kind"}
    if cls is Product:
        args["channels"] = tuple(_channel_from_dict(c) for c in args.get("channels", ()))
    try:
        return cls(**args)
    except TypeError as exc:
        raise NoiseModelError(f"channel {d['kind']!r}: {exc}") from None


def _gate_arity(gate: str) -> int | None:
    if gate == "unitary":
        return None
    if gate not in GATES:
        import difflib

        aliases = {"cnot": "cx", "toffoli": "ccx", "ccnot": "ccx", "i": "id", "phase": "p", "v": "sx", "ecr": None}
        close = [aliases[gate.lower()]] if aliases.get(gate.lower()) else difflib.get_close_matches(gate, list(GATES), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else "."
        raise NoiseModelError(f"noise on unknown gate {gate!r}{hint} Gates: {', '.join(sorted(GATES))}, unitary",
                              instruction=gate)
    return GATES[gate].num_qubits


def _qubit_tuple(qubits: Any) -> tuple[int, ...] | None:
    if qubits is None:
        return None
    if isinstance(qubits, numbers.Integral) and not isinstance(qubits, bool):
        qubits = (qubits,)
    try:
        out = tuple(qubits)
    except TypeError:
        raise NoiseModelError(f"qubits must be an int, a sequence of ints or None (all qubits), got {qubits!r}") from None
    if not all(isinstance(q, numbers.Integral) and not isinstance(q, bool) and q >= 0 for q in out):
        raise NoiseModelError(f"qubits must be non-negative integers, got {qubits!r}")
    if len(set(out)) != len(out):
        raise NoiseModelError(f"qubits must be distinct, got {qubits!r}")
    return tuple(int(q) for q in out)


# gate -> (native gate whose errors it inherits, how many times): IBM-like bases (extended_to)
_NATIVE_TRANSLATION: dict[str, tuple[str, int]] = {
    **{g: ("sx", 2) for g in ("rx", "ry", "u")},
    **{g: ("sx", 1) for g in ("h", "sxdg")},
    "y": ("x", 1),
    **{g: ("sx", 0) for g in ("rz", "p", "s", "sdg", "t", "tdg", "z")},
    **{g: ("cx", 1) for g in ("cz", "cy")},
    **{g: ("cx", 2) for g in ("rzz", "crz", "cp", "crx", "cry", "rxx", "ryy")},
    "swap": ("cx", 3),
}


@dataclass(frozen=True)
class GateNoise:
    """The channels that follow ``gate`` on ``qubits`` (None: on every qubit set without its own entry)."""

    gate: str
    qubits: tuple[int, ...] | None
    channels: tuple[Channel, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"gate": self.gate, "qubits": None if self.qubits is None else list(self.qubits),
                "channels": [c.to_dict() for c in self.channels]}


@dataclass(frozen=True)
class NoiseModel:
    """A frozen, backend-neutral noise model (semantics in the module docstring).

    Build one with :meth:`with_gate_error` and :meth:`with_readout_error` (each returns a new
    model), from JSON (:meth:`from_json`), or from a calibrated IBM fake device
    (:meth:`from_backend`). Pass it to a backend as ``noise=``: ``get_backend("torch", noise=m)``,
    ``get_backend("aer", noise=m)``, ``get_backend("braket.dm", noise=m)``.
    """

    gate_noise: tuple[GateNoise, ...] = ()
    readout: tuple[tuple[int | None, ReadoutError], ...] = ()
    num_qubits: int | None = None  # qubits of the device it describes (circuits may not be wider)
    source: str = ""  # where it came from ("fake_manila", "json", ...): for reports

    def __post_init__(self) -> None:
        object.__setattr__(self, "gate_noise", tuple(self.gate_noise))
        object.__setattr__(self, "readout", tuple(self.readout))
        if self.num_qubits is not None and (isinstance(self.num_qubits, bool) or not isinstance(self.num_qubits, int)
                                            or self.num_qubits < 1):
            raise NoiseModelError(f"num_qubits must be a positive integer or None, got {self.num_qubits!r}")
        seen = set()
        for entry in self.gate_noise:
            if not isinstance(entry, GateNoise):
                raise NoiseModelError(f"gate_noise holds GateNoise entries, got {type(entry).__name__}")
            key = (entry.gate, entry.qubits)
            if key in seen:
                raise NoiseModelError(f"two entries for gate {entry.gate!r} on qubits {entry.qubits}; merge them")
            seen.add(key)
            arity = _gate_arity(entry.gate)
            if entry.qubits is not None and arity is not None and len(entry.qubits) != arity:
                raise NoiseModelError(
                    f"gate {entry.gate!r} acts on {arity} qubit(s) but its error was given for qubits {entry.qubits}",
                    instruction=entry.gate)
            for ch in entry.channels:
                if not isinstance(ch, Channel):
                    raise NoiseModelError(f"a gate error is a Channel (Depolarizing, ...), got {type(ch).__name__}")
                if ch.num_qubits != 1 and arity is not None and ch.num_qubits != arity:
                    raise NoiseModelError(
                        f"a {ch.num_qubits}-qubit {ch.kind} channel cannot follow the {arity}-qubit gate "
                        f"{entry.gate!r}; use a 1-qubit channel (it acts on each qubit) or a {arity}-qubit one",
                        instruction=entry.gate)
            self._check_range(entry.qubits)
        qs = [q for q, _ in self.readout]
        if len(set(qs)) != len(qs):
            raise NoiseModelError("two readout errors for the same qubit; give one per qubit (None: all qubits)")
        for q, err in self.readout:
            if not isinstance(err, ReadoutError):
                raise NoiseModelError(f"readout errors are ReadoutError objects, got {type(err).__name__}")
            self._check_range(None if q is None else (q,))

    def _check_range(self, qubits: tuple[int, ...] | None) -> None:
        if qubits and self.num_qubits is not None and max(qubits) >= self.num_qubits:
            raise NoiseModelError(f"qubit {max(qubits)} is outside this {self.num_qubits}-qubit model")

    # -- building -------------------------------------------------------------------------------
    def with_gate_error(self, gate: str, *channels: Channel, qubits: Any = None) -> "NoiseModel":
        """A new model in which ``channels`` also follow ``gate`` (on ``qubits``; None: all)."""
        if not channels:
            raise NoiseModelError("with_gate_error needs at least one channel")
        qs = _qubit_tuple(qubits)
        entries = list(self.gate_noise)
        for i, e in enumerate(entries):
            if e.gate == gate and e.qubits == qs:
                entries[i] = GateNoise(gate, qs, e.channels + tuple(channels))
                break
        else:
            entries.append(GateNoise(gate, qs, tuple(channels)))
        return NoiseModel(tuple(entries), self.readout, self.num_qubits, self.source)

    def with_readout_error(self, error: ReadoutError, qubit: int | None = None) -> "NoiseModel":
        """A new model with ``error`` on the readout of ``qubit`` (None: every qubit without its own)."""
        if qubit is not None and (isinstance(qubit, bool) or not isinstance(qubit, numbers.Integral) or qubit < 0):
            raise NoiseModelError(f"qubit must be a non-negative integer or None, got {qubit!r}")
        rest = tuple((q, e) for q, e in self.readout if q != qubit)
        return NoiseModel(self.gate_noise, rest + ((qubit, error),), self.num_qubits, self.source)

    def with_errors_of(self, source: str, *gates: str, repeat: int = 1) -> "NoiseModel":
        """A new model in which each of ``gates`` carries ``source``'s errors, ``repeat`` times.

        Every entry of ``source`` (all-qubit and per-qubit) is copied, its channels repeated
        ``repeat`` times in order; entries the model already has for ``gates`` are replaced.
        ``repeat=0`` names the gates as noiseless. The gates must act on as many qubits as ``source``.
        """
        if isinstance(repeat, bool) or not isinstance(repeat, numbers.Integral) or repeat < 0:
            raise NoiseModelError(f"repeat must be a non-negative integer, got {repeat!r}")
        arity = _gate_arity(source)
        for g in gates:
            if g not in GATES:
                raise NoiseModelError(f"unknown gate {g!r}; name gates of qbridge's library (qbridge.ir.gates.GATES)")
            if _gate_arity(g) != arity:
                raise NoiseModelError(f"{g!r} acts on {_gate_arity(g)} qubit(s) and {source!r} on {arity}: "
                                      "copy errors between gates of the same size")
        keep = tuple(e for e in self.gate_noise if e.gate not in gates)
        # repeat=0 still writes (empty) entries: the gates are then named as noiseless, not forgotten
        copies = tuple(GateNoise(g, e.qubits, e.channels * int(repeat))
                       for g in gates for e in self.gate_noise if e.gate == source)
        return NoiseModel(keep + copies, self.readout, self.num_qubits, self.source)

    def extended_to(self, gates: Sequence[str] | None = None) -> "NoiseModel":
        """The model with errors for ``gates`` it has none for, as a device's native gates give them.

        For a model of an IBM-like device (native ``sx``, ``x``, virtual ``rz``, ``cx``), each gate
        inherits the errors of the native gates its usual translation needs: a general one-qubit
        rotation (``rx``, ``ry``, ``u``) two ``sx``, ``h``/``sxdg`` one ``sx``, ``y`` one ``x``,
        diagonal gates (``rz``, ``p``, ``s``, ``t``, ``z`` and their inverses) nothing, ``cz``/``cy``
        one ``cx``, ``rzz``/``crz``/``cp``/``crx``/``cry`` two, ``swap`` three. This is how a layer
        written in ``ry``/``rz``/``cx`` trains under a device's noise on ``torch``
        (``qbridge train --noise fake_manila``); on the device itself the transpiler's exact
        translation (and routing) decides, so treat it as an estimate. Gates the model already
        names, and gates without a native source in the model, are left alone. ``gates=None``:
        every gate of that table.
        """
        have = {e.gate for e in self.gate_noise}
        gates = list(_NATIVE_TRANSLATION) if gates is None else list(gates)
        model = self
        for g in gates:
            rule = _NATIVE_TRANSLATION.get(g)
            if g in have or rule is None or rule[0] not in have:
                continue
            model = model.with_errors_of(rule[0], g, repeat=rule[1])
        return model

    # -- reading --------------------------------------------------------------------------------
    def channels_for(self, gate: str, qubits: Sequence[int]) -> list[tuple[Channel, tuple[int, ...]]]:
        """The channels after ``gate`` on ``qubits``, each with the qubits it acts on, in order."""
        qubits = tuple(qubits)
        entry = None
        for e in self.gate_noise:
            if e.gate == gate and e.qubits == qubits:
                entry = e
                break
        if entry is None:
            for e in self.gate_noise:
                if e.gate == gate and e.qubits is None:
                    entry = e
                    break
        if entry is None:
            return []
        out: list[tuple[Channel, tuple[int, ...]]] = []
        for ch in entry.channels:
            if ch.is_identity:
                continue
            if ch.num_qubits == len(qubits):
                out.append((ch, qubits))
            elif ch.num_qubits == 1:
                out.extend((ch, (q,)) for q in qubits)
            else:
                raise NoiseModelError(
                    f"a {ch.num_qubits}-qubit {ch.kind} channel cannot follow {gate!r} on {len(qubits)} qubit(s)",
                    instruction=gate)
        return out

    def readout_for(self, qubit: int) -> ReadoutError | None:
        default = None
        for q, err in self.readout:
            if q == qubit:
                return None if err.is_identity else err
            if q is None:
                default = err
        return None if default is None or default.is_identity else default

    @property
    def gate_names(self) -> frozenset[str]:
        return frozenset(e.gate for e in self.gate_noise if any(not c.is_identity for c in e.channels))

    @property
    def has_gate_noise(self) -> bool:
        return bool(self.gate_names)

    @property
    def has_readout(self) -> bool:
        return any(not e.is_identity for _, e in self.readout)

    # -- JSON -----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "qbridge.noise/1",
            "num_qubits": self.num_qubits,
            "source": self.source,
            "gates": [e.to_dict() for e in self.gate_noise],
            "readout": [{"qubit": q, **e.to_dict()} for q, e in self.readout],
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "NoiseModel":
        if not isinstance(d, Mapping) or d.get("format") != "qbridge.noise/1":
            raise NoiseModelError("not a qbridge noise model: expected a mapping with \"format\": \"qbridge.noise/1\"")
        try:
            gates = tuple(
                GateNoise(str(g["gate"]), _qubit_tuple(g.get("qubits")),
                          tuple(_channel_from_dict(c) for c in g["channels"]))
                for g in d.get("gates", ())
            )
            readout = tuple((r.get("qubit"), ReadoutError(r["p01"], r["p10"])) for r in d.get("readout", ()))
        except (KeyError, TypeError) as exc:
            raise NoiseModelError(f"malformed noise model document: missing or wrong field {exc}") from None
        return cls(gates, readout, d.get("num_qubits"), str(d.get("source", "")))

    @classmethod
    def from_json(cls, text: str) -> "NoiseModel":
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise NoiseModelError(f"the noise model is not valid JSON: {exc}") from None
        return cls.from_dict(d)

    # -- devices --------------------------------------------------------------------------------
    @classmethod
    def from_backend(cls, backend: Any) -> "NoiseModel":
        """The noise of a calibrated IBM fake device (``"fake_manila"`` or a fake backend object).

        Per gate and qubits of the device's calibration: a depolarizing error sized so that,
        with the thermal relaxation of the gate's duration on each of its qubits, the average
        gate infidelity equals the calibrated gate error (Qiskit's ``NoiseModel.from_backend``
        recipe); per qubit: the readout error, asymmetric where the calibration gives both
        directions. Gates outside qbridge's library (``ecr``, ``delay``, ``reset``) are skipped.
        ``rz`` is virtual on IBM devices and carries no error. T2 above 2*T1 is clipped to 2*T1.
        On two-qubit gates each qubit relaxes with its own T1/T2 (a :class:`Product`).
        Needs qiskit-ibm-runtime (imported here, not by ``import qbridge``).
        """
        try:
            from .interop.qiskit import fake_backend
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise NoiseModelError(f"NoiseModel.from_backend needs qiskit and qiskit-ibm-runtime: {exc}") from None
        dev = fake_backend(backend) if isinstance(backend, str) else backend
        target = dev.target
        n = int(dev.num_qubits)
        t12 = {}
        for q in range(n):
            props = target.qubit_properties[q] if target.qubit_properties else None
            t1 = getattr(props, "t1", None)
            t2 = getattr(props, "t2", None)
            if t1 and t2:
                t12[q] = (float(t1), min(float(t2), 2 * float(t1)))
        model = cls(num_qubits=n, source=getattr(dev, "name", str(backend)))
        for gate in sorted(target.operation_names):
            if gate not in GATES or gate == "rz":
                continue
            for qargs, props in sorted((target[gate] or {}).items(), key=lambda kv: kv[0] or ()):
                if qargs is None or props is None:
                    continue
                channels = _device_gate_channels(props, tuple(qargs), t12)
                if channels:
                    model = model.with_gate_error(gate, *channels, qubits=tuple(qargs))
        calib = _measure_errors(dev, target, n)
        for q, err in sorted(calib.items()):
            model = model.with_readout_error(err, q)
        return model


def _process_fidelity(kraus: np.ndarray) -> float:
    d = kraus.shape[-1]
    return float(sum(abs(np.trace(k)) ** 2 for k in kraus) / d**2)


def _device_gate_channels(props: Any, qubits: tuple[int, ...], t12: Mapping[int, tuple[float, float]]) -> list[Channel]:
    error = getattr(props, "error", None)
    duration = getattr(props, "duration", None)
    k = len(qubits)
    relax: list[Channel] = []
    f_pro = 1.0
    if duration and all(q in t12 for q in qubits):
        for q in qubits:
            ch = ThermalRelaxation(t12[q][0], t12[q][1], float(duration))
            relax.append(ch)
            f_pro *= _process_fidelity(ch.kraus())
    dim = 2**k
    relax_fid = (dim * f_pro + 1) / (dim + 1)  # average gate fidelity of the relaxation alone
    channels: list[Channel] = []
    if error and k <= 2:
        e = min(float(error), dim / (dim + 1))
        if e > 1 - relax_fid:
            p = dim * (e - (1 - relax_fid)) / (dim * relax_fid - 1)
            channels.append(Depolarizing(min(p, 4**k / (4**k - 1)), k))
    if k == 1:
        return channels + relax
    # on a multi-qubit gate each qubit relaxes with its own T1/T2
    return channels + ([Product(tuple(relax))] if relax else [])


def _measure_errors(dev: Any, target: Any, n: int) -> dict[int, ReadoutError]:
    out: dict[int, ReadoutError] = {}
    props = None
    try:
        props = dev.properties()
    except Exception:  # BackendV2 fakes without a properties document: the target's symmetric error
        props = None
    for q in range(n):
        p01 = p10 = None
        if props is not None:
            try:
                p01 = props.qubit_property(q, "prob_meas1_prep0")[0]
                p10 = props.qubit_property(q, "prob_meas0_prep1")[0]
            except Exception:  # the document lacks the asymmetric pair for this qubit
                p01 = p10 = None
        if p01 is None or p10 is None:
            m = target["measure"].get((q,)) if "measure" in target.operation_names else None
            e = getattr(m, "error", None)
            if e is None:
                continue
            p01 = p10 = float(e)
        out[q] = ReadoutError(float(p01), float(p10))
    return out


def apply_readout(probs: Any, model: NoiseModel, qubits: Sequence[int]) -> Any:
    """Exact probabilities (B, 2^m) over ``qubits`` (first = most significant) with the model's
    readout errors applied. NumPy in, NumPy out; a torch tensor stays a torch tensor (on its
    device, differentiable)."""
    errors = [(i, model.readout_for(q)) for i, q in enumerate(qubits)]
    errors = [(i, e) for i, e in errors if e is not None]
    if not errors:
        return probs
    m = len(qubits)
    is_torch = hasattr(probs, "dim")
    B = probs.shape[0]
    t = probs.reshape(B, *([2] * m))
    for i, err in errors:
        conf = err.confusion()
        if is_torch:
            import torch

            M = torch.as_tensor(conf, dtype=probs.dtype, device=probs.device)
            t = torch.movedim(torch.tensordot(t, M, dims=([i + 1], [1])), -1, i + 1)
        else:
            t = np.moveaxis(np.tensordot(t, conf, axes=([i + 1], [1])), -1, i + 1)
    return t.reshape(B, 2**m)


def as_noise_model(noise: Any, backend: str | None = None) -> NoiseModel | None:
    """A backend's ``noise=`` option as a :class:`NoiseModel` (None stays None): a model, a
    mapping in the JSON format, a JSON string, or the name of an IBM fake device."""
    if noise is None or isinstance(noise, NoiseModel):
        return noise
    if isinstance(noise, Mapping) and noise.get("format") == "qbridge.noise/1":
        return NoiseModel.from_dict(noise)
    if isinstance(noise, str):
        text = noise.strip()
        if text.startswith("{"):
            return NoiseModel.from_json(text)
        return NoiseModel.from_backend(text)
    raise TypeError(
        f"noise must be a qbridge.noise.NoiseModel, its JSON (a str or dict), or an IBM fake device name such as "
        f"'fake_manila'; got {type(noise).__name__}" + (f" for backend {backend!r}" if backend else "")
    )


def check_gates(model: NoiseModel, native: frozenset[str] | set[str], backend: str) -> None:
    """Refuse a model that gives errors to gates ``backend`` never runs (it rewrites them into
    others first), so that its errors would silently not act there."""
    missing = sorted(model.gate_names - set(native))
    if missing:
        from .exceptions import ValidationError

        raise ValidationError(
            f"the noise model gives errors to {missing}, which {backend} does not run as such (it rewrites them "
            "into other gates first), so those errors would not act; give the errors to the gates it runs "
            f"({', '.join(sorted(native))}) or use the torch backend, which runs every library gate",
            backend=backend,
        )
