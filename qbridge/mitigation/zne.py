"""Zero-noise extrapolation: noise scaling by unitary folding, and extrapolation to zero noise.

Two steps, as pure functions (the design of Mitiq's ``zne`` package, written anew here):

1. **Scale** -- ``fold(circuit, scale) -> (circuit, actual scale)``. Folding inserts identities
   built from the circuit itself, G -> G (G^dag G)^k, so that a device whose noise grows with the
   number of gates runs the same ideal unitary with ``scale`` times the noise.

   - ``"global"``: the whole circuit, G (G^dag G)^k, and for a fractional remainder the last s
     gates L of G once more, G (G^dag G)^k L^dag L.
   - ``"gates"``: every gate g -> g (g^dag g)^k, and for the remainder the first s gates once more.
   - ``"random"``: like ``"gates"``, the remainder's s gates drawn at random (seeded).

   The scale of a folded circuit is (gates after folding) / (gates before): with d gates, integer
   scales 1, 3, 5, ... are exact and a fractional scale is met to within 2/d; the *actual* scale is
   returned and is what the extrapolation uses. Barriers separate the folded pieces (on by
   default) so that a transpiler (Qiskit's at optimization level >= 1) cannot cancel G^dag G.
   State preparation (``amplitude_encode``, which has no inverse) stays in front, unfolded;
   measurements stay at the end. ``Circuit.inverse`` negates symbolic parameters, so folded
   circuits keep their parameters and a whole binding batch still runs as one task.

2. **Extrapolate** -- ``extrapolate(scales, values, stderr, method)`` returns the zero-noise value,
   its standard error and the Jacobian d(value)/d(values). Richardson, linear and polynomial
   extrapolation are linear in the values (value = sum_k w_k E_k), so the standard error is
   sqrt(sum_k w_k^2 s_k^2) exactly. The exponential fit is non-linear: its Jacobian is taken by
   finite differences and the error propagated linearly through it; its decay rate is bounded
   (``MAX_GAIN``) so that noisy points near the asymptote cannot extrapolate without limit.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..exceptions import CircuitError, ValidationError
from ..ir.circuit import Circuit, Instruction
from .technique import Technique, Variant, register_technique

__all__ = [
    "FOLD_METHODS",
    "EXTRAPOLATIONS",
    "fold",
    "fold_global",
    "fold_gates",
    "Extrapolation",
    "extrapolate",
    "extrapolation_weights",
    "ZNETechnique",
]

FOLD_METHODS = ("global", "gates", "random")
MAX_GAIN = 20.0  # exponential extrapolation: zero-noise signal / signal at the smallest scale, at most
EXTRAPOLATIONS = ("richardson", "linear", "polynomial", "exponential")


def _split(circuit: Circuit) -> tuple[list[Instruction], list[Instruction], list[Instruction]]:
    """(state preparation in front, foldable body, terminal measurements)."""
    prep: list[Instruction] = []
    body: list[Instruction] = []
    meas: list[Instruction] = []
    for op in circuit:
        if op.name == "measure":
            meas.append(op)
        elif op.name == "amplitude_encode":
            if any(o.name != "barrier" for o in body):
                # Circuit forbids encoding qubits that were acted on, but an encoding of fresh
                # qubits after other gates could not be moved in front without reordering
                raise CircuitError(
                    "cannot fold a circuit with amplitude_encode after other gates; encode first",
                    instruction="amplitude_encode",
                )
            prep.append(op)
        else:
            body.append(op)
    return prep, body, meas


def _gate_count(ops: Sequence[Instruction]) -> int:
    return sum(1 for op in ops if op.name != "barrier")


def _inverse_ops(ops: Sequence[Instruction], n: int) -> list[Instruction]:
    return list(Circuit(n, ops).inverse().instructions)


def _check_scale(scale: float) -> float:
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not math.isfinite(scale) or scale < 1:
        raise ValueError(f"a noise scale factor must be a real number >= 1, got {scale!r}")
    return float(scale)


def _assemble(circuit: Circuit, prep, ops, meas) -> Circuit:
    # the global phase is the original's: G (G^dag G)^k has the phase of G
    return Circuit(circuit.num_qubits, [*prep, *ops, *meas], global_phase=circuit.global_phase, name=circuit.name)


def fold_global(circuit: Circuit, scale: float, *, barriers: bool = True) -> tuple[Circuit, float]:
    """G (G^dag G)^k [L^dag L]; returns the folded circuit and its actual scale."""
    scale = _check_scale(scale)
    n = circuit.num_qubits
    prep, body, meas = _split(circuit)
    gates = [op for op in body if op.name != "barrier"]
    d = len(gates)
    if d == 0:
        return circuit, 1.0
    k = int((scale - 1) // 2)
    s = int(round((scale - 1 - 2 * k) / 2 * d))
    if s == d:  # rounding reached a full fold
        k, s = k + 1, 0
    inv = _inverse_ops(body, n)
    sep = [Instruction("barrier", tuple(range(n)))] if barriers else []
    ops = list(body)
    for _ in range(k):
        ops += sep + inv + sep + body
    if s:
        # the last s gates L of G: G L^dag L == G; barriers of the body are kept out of L
        tail = gates[-s:]
        ops += sep + _inverse_ops(tail, n) + sep + tail
    return _assemble(circuit, prep, ops, meas), (d * (2 * k + 1) + 2 * s) / d


def fold_gates(
    circuit: Circuit,
    scale: float,
    *,
    method: str = "gates",
    seed: int | np.random.Generator | None = None,
    barriers: bool = True,
) -> tuple[Circuit, float]:
    """Every gate g -> g (g^dag g)^k, a remainder of s gates folded once more (first s gates for
    ``method="gates"``, s random gates for ``"random"``); returns (circuit, actual scale)."""
    scale = _check_scale(scale)
    if method not in ("gates", "random"):
        raise ValueError(f"fold_gates method must be 'gates' or 'random', got {method!r}")
    n = circuit.num_qubits
    prep, body, meas = _split(circuit)
    positions = [i for i, op in enumerate(body) if op.name != "barrier"]
    d = len(positions)
    if d == 0:
        return circuit, 1.0
    k = int((scale - 1) // 2)
    s = int(round((scale - 1 - 2 * k) / 2 * d))
    if s == d:
        k, s = k + 1, 0
    extra: set[int] = set()
    if s:
        if method == "gates":
            extra = set(positions[:s])
        else:
            rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
            extra = set(int(i) for i in rng.choice(positions, size=s, replace=False))
    ops: list[Instruction] = []
    for i, op in enumerate(body):
        if op.name == "barrier":
            ops.append(op)
            continue
        times = k + (1 if i in extra else 0)
        ops.append(op)
        if times:
            (inv,) = _inverse_ops([op], n)
            sep = [Instruction("barrier", op.qubits)] if barriers else []
            for _ in range(times):
                ops += sep + [inv] + sep + [op]
    return _assemble(circuit, prep, ops, meas), (d * (2 * k + 1) + 2 * s) / d


def fold(
    circuit: Circuit,
    scale: float,
    method: str = "global",
    *,
    seed: int | np.random.Generator | None = None,
    barriers: bool = True,
) -> tuple[Circuit, float]:
    """Scale the noise of ``circuit`` by ``scale`` with unitary folding (see the module notes)."""
    if method == "global":
        return fold_global(circuit, scale, barriers=barriers)
    if method in ("gates", "random"):
        return fold_gates(circuit, scale, method=method, seed=seed, barriers=barriers)
    raise ValueError(f"unknown folding method {method!r}; choose one of {list(FOLD_METHODS)}")


# -- extrapolation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Extrapolation:
    """The zero-noise estimate of one quantity."""

    value: float
    stderr: float
    jacobian: np.ndarray  # d value / d values[k]
    method: str


def _check_points(scales: Sequence[float], values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(scales, dtype=float)
    y = np.asarray(values, dtype=float)
    if x.ndim != 1 or y.shape != x.shape:
        raise ValueError(f"need one value per scale factor, got {y.shape} values for {x.shape} scales")
    if len(np.unique(x)) != len(x):
        raise ValueError(f"scale factors must be distinct, got {x.tolist()}")
    return x, y


def extrapolation_weights(scales: Sequence[float], method: str = "richardson", order: int | None = None) -> np.ndarray:
    """Weights w with zero-noise value = sum_k w_k E_k, for the linear methods.

    ``richardson``: the polynomial through all points (degree K-1); ``linear``: least-squares
    line; ``polynomial``: least-squares polynomial of degree ``order``.
    """
    x = np.asarray(scales, dtype=float)
    K = len(x)
    if method == "richardson":
        deg = K - 1
    elif method == "linear":
        deg = 1
    elif method == "polynomial":
        if order is None or isinstance(order, bool) or not isinstance(order, numbers.Integral) or order < 1:
            raise ValueError(f"polynomial extrapolation needs an integer order >= 1, got {order!r}")
        deg = int(order)
    else:
        raise ValueError(f"{method!r} is not a linear extrapolation; choose richardson, linear or polynomial")
    if K < deg + 1 or K < 2:
        raise ValueError(
            f"{method} extrapolation of degree {deg} needs at least {max(deg + 1, 2)} scale factors, got {K}"
        )
    V = np.vander(x, deg + 1, increasing=True)  # (K, deg+1): columns 1, x, x^2, ...
    # value at zero = first coefficient of the least-squares fit = first row of pinv(V)
    return np.linalg.pinv(V)[0]


def _fit_exponential(x: np.ndarray, y: np.ndarray, asymptote: float) -> float:
    """Zero-noise value of y = a + b exp(-c x) (a fixed, c >= 0) fitted by least squares.

    For a given rate c the best b is linear, b(c) = <e, r> / <e, e> with e = exp(-c x) and
    r = y - a, so the fit is a one-dimensional minimisation over c (bounded Brent).
    """
    from scipy.optimize import minimize_scalar

    r = y - asymptote

    def loss(c: float) -> float:
        e = np.exp(-c * x)
        b = float(e @ r) / float(e @ e)
        return float(np.sum((b * e - r) ** 2))

    # the decay is bounded so that the zero-noise signal is at most MAX_GAIN times the signal at
    # the smallest scale: through noisy points near the asymptote an unbounded fit extrapolates
    # without limit (a steep exponential that only passes the first point)
    hi = math.log(MAX_GAIN) / max(float(np.min(x)), 1e-9)
    grid = np.linspace(0.0, hi, 41)
    k = int(np.argmin([loss(c) for c in grid]))
    lo_b, hi_b = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    c = float(minimize_scalar(loss, bounds=(lo_b, hi_b), method="bounded", options={"xatol": 1e-12}).x)
    if loss(0.0) <= loss(c):
        c = 0.0
    e = np.exp(-c * x)
    return asymptote + float(e @ r) / float(e @ e)


def extrapolate(
    scales: Sequence[float],
    values: Sequence[float],
    stderr: Sequence[float] | None = None,
    method: str = "richardson",
    *,
    order: int | None = None,
    asymptote: float = 0.0,
) -> Extrapolation:
    """Extrapolate ``values`` measured at noise ``scales`` to zero noise.

    ``exponential`` fits y = asymptote + b exp(-c x) with c >= 0; ``asymptote`` is the value at
    infinite noise (for a Pauli sum under depolarizing noise, its identity coefficient).
    The standard error propagates ``stderr`` (independent per scale) through the Jacobian.
    """
    x, y = _check_points(scales, values)
    s = np.zeros_like(y) if stderr is None else np.asarray(stderr, dtype=float)
    if s.shape != y.shape:
        raise ValueError(f"need one standard error per scale factor, got {s.shape} for {y.shape}")
    if method in ("richardson", "linear", "polynomial"):
        w = extrapolation_weights(x, method, order)
        return Extrapolation(float(w @ y), float(math.sqrt(float((w * w) @ (s * s)))), w, method)
    if method == "exponential":
        if len(x) < 2:
            raise ValueError("exponential extrapolation needs at least 2 scale factors")
        v0 = _fit_exponential(x, y, asymptote)
        jac = np.empty_like(y)
        for k in range(len(y)):
            h = 1e-6 * max(1.0, abs(y[k]))
            up, down = y.copy(), y.copy()
            up[k] += h
            down[k] -= h
            jac[k] = (_fit_exponential(x, up, asymptote) - _fit_exponential(x, down, asymptote)) / (2 * h)
        return Extrapolation(v0, float(math.sqrt(float((jac * jac) @ (s * s)))), jac, method)
    raise ValueError(f"unknown extrapolation {method!r}; choose one of {list(EXTRAPOLATIONS)}")


# -- the technique, as the pipeline runs it ----------------------------------------------------------


@register_technique
class ZNETechnique(Technique):
    """Zero-noise extrapolation: every variant folded at each noise scale (first among the
    techniques, so that twirling acts on the folded circuits), then each observable's per-scale
    values extrapolated to zero noise, standard errors through the extrapolation's Jacobian."""

    name = "zne"
    needs_observables = True
    stage = 10
    not_applied = "extrapolates expectation values; this task has none"

    @classmethod
    def validate(cls, settings: Any) -> None:
        scales = tuple(settings.options.scale_factors)
        if len(scales) < 2 or len(set(scales)) != len(scales) or min(scales) < 1:
            raise ValueError(f"scale_factors must be at least 2 distinct numbers >= 1, got {scales}")

    def check(self, backend: Any, tasks: Sequence[Any]) -> None:
        if not any(task.observables for task in tasks):
            # in a mixed run, tasks without observables (counts) skip ZNE and say so in their metadata
            raise ValidationError("zero-noise extrapolation extrapolates expectation values; give observables "
                                  "(Estimator) or drop 'zne'", backend=backend.backend_name)

    def needs_seed(self) -> bool:
        return self.settings.options.fold_method == "random"

    def expands_encodings(self) -> bool:
        return bool(self.settings.options.fold_encoding)

    def expand(self, variants: list[Variant], rng: np.random.Generator) -> list[Variant]:
        o = self.settings.options
        out = []
        for v in variants:
            for s in o.scale_factors:
                folded, actual = fold(v.circuit, s, o.fold_method, seed=rng, barriers=o.fold_barriers)
                out.append(Variant(actual * v.scale, folded, v.frames, v.frame_names, v.flip))
        return out

    def shot_factor(self, scales: Sequence[float]) -> float:
        # a linear extrapolation amplifies variance by sum_k w_k^2
        try:
            w = extrapolation_weights(list(scales), self.settings.options.extrapolation, self.settings.order)
        except ValueError:
            return 1.0  # exponential: no fixed weights; the precision then holds per scale
        return float(w @ w)

    def reduce(self, scales: Sequence[float], values: np.ndarray, stderr: np.ndarray,
               asymptote: float) -> tuple[float, np.ndarray]:
        o = self.settings.options
        asym = o.asymptote if o.asymptote is not None else asymptote
        ext = extrapolate(scales, values, stderr, o.extrapolation, order=self.settings.order, asymptote=asym)
        return ext.value, ext.jacobian

    def report(self, token: Any, context: dict[str, Any]) -> dict[str, Any]:
        o = self.settings.options
        return {"scale_factors": list(o.scale_factors), "actual_scales": list(context["scales"]),
                "fold_method": o.fold_method, "extrapolation": o.extrapolation, "order": self.settings.order,
                "values": context["values"], "stderr": context["stderr"]}

