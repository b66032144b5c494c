"""Gate modifiers without blow-up: ``pow(k) @`` and ``ctrl(k) @`` in O(1) instructions.

Owns: the expansion of OpenQASM's ``pow``, ``ctrl`` and ``negctrl`` modifiers into library gates
(``inv`` is a reversal, done by the importer). Ops are ``(name, local qubits, params)`` tuples as
in :mod:`qbridge.ir.qasm`; an op named ``"unitary"`` carries its matrix as its only parameter.

Must not touch: the OpenQASM syntax tree, circuits, backends.

- ``pow(k) @ g``: a rotation (``rx ry rz p crx cry crz cp rxx ryy rzz``) gets its angle scaled
  (``rx(t)^k == rx(k t)``, as Qiskit's ``RXGate.power`` does); a self-inverse gate is itself or
  nothing by the parity of ``k``; ``s t sdg tdg sx sxdg`` become rotations; any other gate with
  bound parameters becomes its matrix power (principal branch for real ``k``, via the Schur form),
  a ``u`` for one qubit or one ``unitary`` instruction for more -- except that an integer power
  whose copies fit in :data:`MAX_POW_REPEAT` instructions is written as the copies (library
  gates, which every backend takes). A parametrised definition beyond that is refused.
- ``ctrl(k) @ g``: ``g`` is rewritten in ``u``/``cx``/``ccx``; each of those with its controls
  becomes one ``mcu`` instruction (a multi-controlled ``e^{i gamma} u``, see
  :mod:`qbridge.ir.circuit`) once it has more controls than a library gate takes (``cx``/``ccx``
  for X, one control for ``u``), so ``ctrl(k) @ g`` costs as many instructions as ``g`` has basis
  gates, whatever ``k`` (``ctrl(11) @ x``: one). Backends without ``mcu`` in ``native_gates``
  get :func:`lower_mcu`, exact and without ancillas, borrowing the circuit's idle qubits dirty:
  a multi-controlled X on ``m`` controls is a V-chain of Toffolis when ``m - 2`` other qubits are
  idle, two halves sharing one idle qubit when one is (Barenco et al. 1995, lemmas 7.2 and 7.3,
  O(m) Toffolis); a multi-controlled ``u(theta, phi, lam)`` is ``A X B X C`` with ``ABC = I``
  (lemma 7.9), ``A, B, C`` controlled by the last control and the two X's by the others (O(m));
  its phase ``gamma + (phi + lam)/2``, when not zero, is a multi-controlled phase on the controls
  (:func:`mcphase`) borrowing the target: from :data:`LINEAR_PHASE_FROM` qubits on, a phase
  gradient conjugated by an increment (Gidney's construction with one borrowed qubit, and the
  ancilla-free adder of Takahashi, Tani and Kunihiro 2010), O(m); below it, lemma 7.9 again, which
  halves the phase at each level, O(m^2) but shorter there. So O(m) for every gate, with or
  without idle qubits: ``ctrl(11) @ x`` on 12 qubits is 529 instructions in ``u``/``cx``/``ccx``,
  ``ctrl(32) @ x`` 2,708 (was 6,041), ``ctrl(256) @ x`` 23,316, about 91 per control
  (``ctrl(11) @ rz``, in SU(2) and without the phase: 120). Qiskit 2.6's exact ancilla-free
  multi-controlled phase is quadratic (``synth_mcp_noaux_default``: 442 CX at 11 controls). The
  one-instruction form is still what a backend should take: torch and lightning do.
  Every step is exact (global phase included) and symbolic parameters stay linear expressions.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from .gates import GATES, PI, zyz_angles
from .parameters import ParameterExpression, as_param_value
from .unitary import ops_unitary

__all__ = ["pow_ops", "control_ops", "lower_mcu", "mcx", "is_mcx", "mcphase", "increment", "MAX_POW_REPEAT", "MAX_CONTROLLED_UNITARY_QUBITS"]

Op = tuple[str, tuple[int, ...], tuple[Any, ...]]

MAX_POW_REPEAT = 64  # pow(k) of a parametrised multi-gate definition: at most this many copies
MAX_CONTROLLED_UNITARY_QUBITS = 8  # ctrl @ of a multi-qubit matrix: controlled matrix up to 2^8

_SCALED = {"rx", "ry", "rz", "p", "crx", "cry", "crz", "cp", "rxx", "ryy", "rzz"}
_SELF_INVERSE = {"x", "y", "z", "h", "cx", "cy", "cz", "ch", "swap", "ccx", "cswap", "id"}
# gate -> (rotation it is a power of, angle, global phase): g == e^{i phase} rot(angle)
_AS_ROTATION = {
    "s": ("p", PI / 2, 0.0), "sdg": ("p", -PI / 2, 0.0),
    "t": ("p", PI / 4, 0.0), "tdg": ("p", -PI / 4, 0.0),
    "sx": ("rx", PI / 2, PI / 4), "sxdg": ("rx", -PI / 2, -PI / 4),
}


class ModifierError(ValueError):
    """Raised here; the importer turns it into a located QasmError/QasmUnsupportedError."""

    def __init__(self, message: str, unsupported: bool = False) -> None:
        super().__init__(message)
        self.unsupported = unsupported


def _bound(ps: Sequence[Any]) -> bool:
    return not any(isinstance(p, ParameterExpression) and not p.is_constant() for p in ps)


def _float(p: Any) -> float:
    return float(p.const) if isinstance(p, ParameterExpression) else float(p)


def matrix_power(u: np.ndarray, k: float) -> np.ndarray:
    """``u ** k`` of a unitary, principal branch (eigenphases in (-pi, pi]) for real k."""
    import scipy.linalg

    t, z = scipy.linalg.schur(u, output="complex")  # u normal: t is diagonal
    phases = np.angle(np.diag(t))
    phases = np.where(phases <= -PI + 1e-12, PI, phases)
    return (z * np.exp(1j * k * phases)) @ z.conj().T


def _unitary_op(m: np.ndarray, qubits: tuple[int, ...]) -> tuple[list[Op], float]:
    if len(qubits) == 1:
        theta, phi, lam, ph = zyz_angles(m)
        return [("u", qubits, (theta, phi, lam))], ph
    return [("unitary", qubits, (tuple(tuple(complex(v) for v in row) for row in m),))], 0.0


def pow_ops(ops: list[Op], phase: Any, k: float, num_qubits: int) -> tuple[list[Op], Any]:
    """``pow(k)`` of the expansion ``(ops, phase)`` of a gate on local qubits 0..num_qubits-1."""
    if not math.isfinite(k):
        raise ModifierError(f"pow({k}) needs a finite exponent")
    integer = float(k).is_integer()
    if integer and k == 0:
        return [], 0.0
    if not ops:  # a global phase (pow @ gphase)
        return [], as_param_value(phase * k)
    if len(ops) == 1 and (integer or ops[0][0] in _SCALED):
        name, qs, ps = ops[0]
        if name in _SCALED:
            return [(name, qs, tuple(as_param_value(p * k) for p in ps))], as_param_value(phase * k)
        if name in _SELF_INVERSE:
            odd = int(k) % 2 == 1
            return ([(name, qs, ps)] if odd else []), as_param_value(phase * k)
        if name in _AS_ROTATION:
            rot, angle, ph = _AS_ROTATION[name]
            return [(rot, qs, (angle * k,))], as_param_value((phase + ph) * k)
    n = abs(int(k)) if integer else 0
    if integer and n * max(len(ops), 1) <= MAX_POW_REPEAT:
        # a few copies stay in library gates, which every backend takes
        if k < 0:
            ops, phase = invert_ops(ops, phase)
        return list(ops) * n, as_param_value(phase * n)
    if all(_bound(ps) for name, _, ps in ops if name != "unitary") and _bound([phase]):
        u = ops_unitary(ops, _float(phase), num_qubits)
        return _unitary_op(matrix_power(u, k), tuple(range(num_qubits)))
    if not integer:
        raise ModifierError(
            f"pow({k}) @ of a gate with symbolic parameters is supported for integer exponents "
            "(and for rotations); bind the parameters or write the gate with a scaled angle",
            unsupported=True,
        )
    raise ModifierError(
        f"pow({int(k)}) @ of a parametrised {len(ops)}-instruction gate would repeat it {n} "
        f"times (limit {MAX_POW_REPEAT} instructions); bind its parameters so that qbridge can "
        "take the matrix power, or reduce the exponent",
        unsupported=True,
    )


def invert_ops(ops: Sequence[Op], phase: Any) -> tuple[list[Op], Any]:
    out: list[Op] = []
    for name, qs, ps in reversed(ops):
        if name == "unitary":
            m = np.asarray(ps[0], dtype=complex).conj().T
            out.append((name, qs, (tuple(tuple(complex(v) for v in row) for row in m),)))
            continue
        if name == "mcu":  # (e^{ig} u(t, p, l))^dagger = e^{-ig} u(-t, -l, -p)
            theta, phi, lam, gamma = ps
            out.append((name, qs, tuple(as_param_value(-v) for v in (theta, lam, phi, gamma))))
            continue
        inv_name, inv_ps = GATES[name].inverse(ps)
        out.append((inv_name, qs, tuple(as_param_value(p) for p in inv_ps)))
    return out, as_param_value(-phase)


# -- multi-controlled gates ------------------------------------------------------------------

def _ccx(a: int, b: int, t: int) -> Op:
    return ("ccx", (a, b, t), ())


def _vchain(controls: Sequence[int], target: int, dirty: Sequence[int]) -> list[Op]:
    """C^m X with m - 2 dirty ancillas (restored): 4(m - 2) Toffolis (Barenco lemma 7.2)."""
    c, a, m = list(controls), list(dirty), len(controls)
    top = _ccx(c[m - 1], a[m - 3], target)
    down = [_ccx(c[j + 2], a[j], a[j + 1]) for j in range(m - 4, -1, -1)]
    bottom = _ccx(c[0], c[1], a[0])
    half = [top, *down, bottom, *reversed(down)]
    return half + half


def mcx(controls: Sequence[int], target: int, spare: Sequence[int]) -> list[Op]:
    """X on ``target`` controlled by all of ``controls``; ``spare`` qubits may be borrowed dirty."""
    controls, spare = list(controls), [q for q in spare if q != target and q not in controls]
    m = len(controls)
    if m == 0:
        return [("x", (target,), ())]
    if m == 1:
        return [("cx", (controls[0], target), ())]
    if m == 2:
        return [_ccx(controls[0], controls[1], target)]
    if len(spare) >= m - 2:
        return _vchain(controls, target, spare[: m - 2])
    if spare:
        a, m1 = spare[0], (m + 1) // 2
        g1, g2 = controls[:m1], controls[m1:]
        first = mcx(g1, a, g2 + [target] + spare[1:])
        second = mcx(g2 + [a], target, g1 + spare[1:])
        return first + second + first + second
    return mcu(controls, target, (PI, 0.0, PI), 0.0, [])  # X == u(pi, 0, pi)


def mcu(controls: Sequence[int], target: int, u: Sequence[Any], phase: Any, spare: Sequence[int]) -> list[Op]:
    """``e^{i phase} u(theta, phi, lam)`` on ``target`` controlled by ``controls`` (exact)."""
    theta, phi, lam = (as_param_value(p) for p in u)
    controls = list(controls)
    total = as_param_value(phase + 0.5 * (phi + lam))  # u = e^{i(phi+lam)/2} RZ(phi) RY(theta) RZ(lam)
    if not controls:
        raise AssertionError("mcu needs at least one control")
    a_ops = lambda ctl: [(f"{ctl}ry", (), (0.5 * theta,)), (f"{ctl}rz", (), (phi,))]  # noqa: E731
    b_ops = lambda ctl: [(f"{ctl}rz", (), (-0.5 * (phi + lam),)), (f"{ctl}ry", (), (-0.5 * theta,))]  # noqa: E731
    c_ops = lambda ctl: [(f"{ctl}rz", (), (0.5 * (lam - phi),))]  # noqa: E731

    def place(seq, ctl_qubit):
        out = []
        for name, _, ps in seq:
            ps = tuple(as_param_value(p) for p in ps)
            if _is_zero(ps[0]):
                continue
            out.append((name, (ctl_qubit, target) if name.startswith("c") else (target,), ps))
        return out

    if len(controls) == 1:
        c = controls[0]
        flip = [("cx", (c, target), ())]
        ops = place(c_ops(""), c) + flip + place(b_ops(""), c) + flip + place(a_ops(""), c)
        if not _is_zero(total):
            ops.append(("p", (c,), (total,)))
        return ops
    last, rest = controls[-1], controls[:-1]
    flip = mcx(rest, target, [last, *spare])
    ops = place(c_ops("c"), last) + flip + place(b_ops("c"), last) + flip + place(a_ops("c"), last)
    if not _is_zero(total):  # the phase: p(total) on the last control, controlled by the others
        ops += mcphase(controls, total, [target, *spare])
    return ops


# -- a multi-controlled phase in O(m) with one borrowed qubit ----------------------------------
# The recursion of lemma 7.9 halves the phase at every level (O(m^2)). Instead: with D the phase
# gradient e^{i angle v / 2^w} on the register's value v, INC^-1 D^-1 INC D is
# e^{-i angle / 2^w} times the phase e^{i angle} on |1...1> (v = 2^w - 1 is the one value whose
# increment wraps). INC is classical (x, cx, ccx): Gidney's borrowed-bit increment, with the
# ancilla-free adder of Takahashi, Tani and Kunihiro (2010) for the subtractions.

LINEAR_PHASE_FROM = 15  # below, the recursion is shorter in u/cx/ccx (benchmarks/multi_controlled.py)
_CASCADE_UP_TO = 16  # increment: the quadratic cascade is tried up to this width, kept when shorter


def _add(a: Sequence[int], b: Sequence[int]) -> list[Op]:
    """``b <- a + b mod 2^w`` (registers LSB first, same width), ``a`` restored, no ancilla: 7w - 8 gates."""
    n = len(a)
    if n == 1:
        return [("cx", (a[0], b[0]), ())]
    ops: list[Op] = [("cx", (a[i], b[i]), ()) for i in range(1, n)]
    ops += [("cx", (a[i], a[i + 1]), ()) for i in range(n - 2, 0, -1)]
    ops += [_ccx(b[i], a[i], a[i + 1]) for i in range(n - 1)]
    for i in range(n - 1, 0, -1):
        ops += [("cx", (a[i], b[i]), ()), _ccx(b[i - 1], a[i - 1], a[i])]
    ops += [("cx", (a[i], a[i + 1]), ()) for i in range(1, n - 1)]
    return ops + [("cx", (a[i], b[i]), ()) for i in range(n)]


def _increment_borrowing(x: Sequence[int], dirty: Sequence[int]) -> list[Op]:
    """``x <- x + 1 mod 2^w`` borrowing ``w`` qubits ``g``: ``x - g - ~g == x + 1``."""
    g = list(dirty[: len(x)])
    subtract = list(reversed(_add(g, x)))  # every gate is self-inverse
    flip = [("x", (q,), ()) for q in g]
    return subtract + flip + subtract + flip


def _increment_cascade(x: Sequence[int], spare: Sequence[int]) -> list[Op]:
    """Bit i flips when every lower bit is 1, top bit first: O(w^2), shorter for small w."""
    ops: list[Op] = []
    for i in range(len(x) - 1, -1, -1):
        ops += mcx(x[:i], x[i], [*spare, *x[i + 1:]])
    return ops


def increment(x: Sequence[int], borrowed: int) -> list[Op]:
    """``x <- x + 1 mod 2^w`` (``x`` LSB first) borrowing one qubit dirty: O(w) gates.

    An odd register splits into a low half ``L`` of ``h + 1`` qubits and a high half ``H`` of
    ``h``. ``H`` is incremented when ``L`` is all ones (before ``L`` is): the borrowed qubit ``d``
    is toggled by that condition between a decrement and an increment of ``H`` controlled by
    ``d``; conjugating by ``~H`` when ``d`` is 1 makes the net effect ``+1`` whatever ``d`` held.
    The controlled increment is the increment of ``[d, H]`` followed by ``X`` on ``d``; it
    borrows ``L``, as ``L``'s own increment borrows ``H`` and ``d``.
    """
    x, d, w = list(x), borrowed, len(x)
    cascade = _increment_cascade(x, [d]) if w <= _CASCADE_UP_TO else None
    if w <= 4:
        return cascade
    if w % 2 == 0:
        ops = mcx(x[:-1], x[-1], [d]) + increment(x[:-1], d)
    else:
        low, high = x[: w // 2 + 1], x[w // 2 + 1:]
        negate = [("cx", (d, q), ()) for q in high]
        up = _increment_borrowing([d, *high], low) + [("x", (d,), ())]
        toggle = mcx(low, d, high)
        ops = (negate + list(reversed(up)) + toggle + up + toggle + negate
               + _increment_borrowing(low, [*high, d]))
    return cascade if cascade is not None and len(cascade) <= len(ops) else ops


def mcphase(qubits: Sequence[int], angle: Any, spare: Sequence[int]) -> list[Op]:
    """``e^{i angle}`` on ``|1...1>`` of ``qubits`` (a multi-controlled ``p``), exact.

    ``spare``: at least one qubit borrowed dirty. O(w) gates from :data:`LINEAR_PHASE_FROM`
    qubits on, the lemma 7.9 recursion (O(w^2), fewer gates) below.
    """
    qubits, angle = list(qubits), as_param_value(angle)
    w = len(qubits)
    if w == 1:
        return [("p", (qubits[0],), (angle,))]
    if w == 2:
        return [("cp", tuple(qubits), (angle,))]
    if w < LINEAR_PHASE_FROM:
        return mcu(qubits[:-1], qubits[-1], (0.0, 0.0, angle), 0.0, spare)
    d = spare[0]
    # qubit j carries 2^j in v: p(angle 2^j / 2^w) on it is the gradient (ldexp: 2^(j - w) neither
    # overflows nor raises for a thousand qubits and more)
    gradient = [("p", (q,), (as_param_value(angle * math.ldexp(1.0, j - w)),)) for j, q in enumerate(qubits)]
    ungradient = [("p", qs, (as_param_value(-ps[0]),)) for _, qs, ps in gradient]
    up = increment(qubits, d)
    offset = as_param_value(angle * math.ldexp(1.0, -w))  # the e^{-i angle/2^w} to undo: p X p X is a global phase
    fix = [("p", (d,), (offset,)), ("x", (d,), ()), ("p", (d,), (offset,)), ("x", (d,), ())]
    return gradient + up + ungradient + list(reversed(up)) + fix


def _is_zero(value: Any) -> bool:
    return not isinstance(value, ParameterExpression) and float(value) == 0.0 or (
        isinstance(value, ParameterExpression) and value.is_constant() and value.const == 0.0)


def _to_basis(ops: Sequence[Op], phase: Any) -> tuple[list[Op], Any]:
    """Rewrite ops into ``u``, ``x``, ``cx``, ``ccx``, ``mcu`` and ``unitary`` (exact, phase tracked)."""
    out: list[Op] = []
    total = [as_param_value(phase)]

    def visit(name, qs, ps):
        if name in ("u", "x", "cx", "ccx", "unitary", "mcu"):
            out.append((name, qs, ps))
            return
        if name == "id":
            return
        if name == "p":
            out.append(("u", qs, (0.0, 0.0, ps[0])))
            return
        sub, ph = GATES[name].decompose(ps)
        total[0] = as_param_value(total[0] + ph)
        for n, local, sps in sub:
            visit(n, tuple(qs[i] for i in local), tuple(as_param_value(p) for p in sps))

    for name, qs, ps in ops:
        visit(name, qs, ps)
    return out, total[0]


_X = (PI, 0.0, PI)  # u(pi, 0, pi) == X exactly


def _mcu_op(controls: Sequence[int], target: int, u: Sequence[Any], gamma: Any) -> Op:
    return ("mcu", (*controls, target), tuple(as_param_value(p) for p in (*u, gamma)))


def is_mcx(params: Sequence[Any]) -> bool:
    """Whether ``mcu`` parameters ``(theta, phi, lam, gamma)`` are exactly X (a multi-controlled X)."""
    return _bound(params) and tuple(_float(p) for p in params) == (*_X, 0.0)


def lower_mcu(qubits: Sequence[int], params: Sequence[Any], spare: Sequence[int]) -> list[Op]:
    """An ``mcu`` instruction (controls..., target; theta, phi, lam, gamma) in library gates.

    ``spare``: qubits the instruction does not touch, borrowed dirty (their state is restored).
    """
    *controls, target = qubits
    theta, phi, lam, gamma = params
    if is_mcx(params):
        return mcx(controls, target, spare)
    return mcu(controls, target, (theta, phi, lam), gamma, spare)


def control_ops(ops: Sequence[Op], phase: Any, controls: Sequence[int], num_qubits: int) -> list[Op]:
    """The expansion ``(ops, phase)`` controlled by the local qubits ``controls`` (all must be 1).

    ``num_qubits`` is the number of local qubits (controls included). Each basis gate with its
    controls is a library gate while one exists (``cx``, ``ccx``; ``u`` with one control) and one
    ``mcu`` instruction beyond.
    """
    controls = list(controls)
    basis, phase = _to_basis(ops, phase)
    everything = list(range(num_qubits))
    out: list[Op] = []
    for name, qs, ps in basis:
        if name in ("x", "cx", "ccx"):
            ctl = controls + list(qs[:-1])
            out += mcx(ctl, qs[-1], []) if len(ctl) <= 2 else [_mcu_op(ctl, qs[-1], _X, 0.0)]
        elif name == "mcu":
            out.append(("mcu", (*controls, *qs), ps))
        elif name == "u":
            # the block's global phase is diagonal on the controls and commutes with every op of the
            # block: it goes with this u (for rx, ry, rz it cancels u's own phase, which keeps the
            # decomposition of lower_mcu linear)
            if len(controls) == 1:
                spare = [q for q in everything if q not in qs and q not in controls]
                out += mcu(controls, qs[0], ps, phase, spare)
            else:
                out.append(_mcu_op(controls, qs[0], ps, phase))
            phase = 0.0
        else:  # a multi-qubit matrix: one controlled matrix, when small
            size = len(controls) + len(qs)
            if size > MAX_CONTROLLED_UNITARY_QUBITS:
                raise ModifierError(
                    f"ctrl({len(controls)}) @ of a {len(qs)}-qubit matrix would be a {size}-qubit "
                    f"matrix (limit {MAX_CONTROLLED_UNITARY_QUBITS} qubits); write the gate with "
                    "library gates so that it can be controlled gate by gate", unsupported=True,
                )
            m = np.asarray(ps[0], dtype=complex)
            big = np.eye(2**size, dtype=complex)
            big[-m.shape[0]:, -m.shape[0]:] = m
            out += _unitary_op(big, tuple(controls) + tuple(qs))[0]
    if not _is_zero(phase):  # a phase on the controls: p, cp, then a multi-controlled p
        if len(controls) == 1:
            out.append(("p", (controls[0],), (phase,)))
        elif len(controls) == 2:
            out.append(("cp", tuple(controls), (phase,)))
        else:
            out.append(_mcu_op(controls[:-1], controls[-1], (0.0, 0.0, phase), 0.0))
    return out
