"""The gate library as an OpenQASM program sees it: stdgates.inc, qelib1.inc and the built-ins,
each name mapped to an expansion into qbridge gates (exact, global phase tracked)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np

from ..gates import GATES, PI
from ..parameters import ParameterExpression, ParamValue, as_param_value
from .errors import STDGATES

# -- import: the gate library as seen from a program -----------------------------------------

# Ops are (qbridge gate name, local qubit indices, params); a gate expands to (ops, phase).
Op = tuple[str, tuple[int, ...], tuple[ParamValue, ...]]
Expansion = tuple[list[Op], ParamValue]


@dataclass(frozen=True)
class _Builtin:
    num_params: int
    num_qubits: int
    expand: Callable[[tuple[ParamValue, ...]], Expansion]


def _same(name: str) -> _Builtin:
    g = GATES[name]
    return _Builtin(g.num_params, g.num_qubits, lambda ps: ([(name, tuple(range(g.num_qubits)), ps)], 0.0))


def _one(name: str, nq: int, npar: int, build: Callable[[tuple], list[Op]]) -> _Builtin:
    return _Builtin(npar, nq, lambda ps: (build(ps), 0.0))


def _controlled_u(ps: tuple) -> list[Op]:
    """Controlled-U(theta, phi, lam) on (control 0, target 1), exact."""
    return _control([("u", (1,), tuple(ps))], 0.0, 0)


_STD_SAME = [n for n in GATES if n in STDGATES]  # every library gate of stdgates.inc, same name

_STDGATES_TABLE: dict[str, _Builtin] = {n: _same(n) for n in _STD_SAME}
_STDGATES_TABLE.update(
    {
        "CX": _one("CX", 2, 0, lambda ps: [("cx", (0, 1), ())]),
        "phase": _one("phase", 1, 1, lambda ps: [("p", (0,), ps)]),
        "cphase": _one("cphase", 2, 1, lambda ps: [("cp", (0, 1), ps)]),
        "u1": _one("u1", 1, 1, lambda ps: [("p", (0,), ps)]),
        "u2": _one("u2", 1, 2, lambda ps: [("u", (0,), (PI / 2, ps[0], ps[1]))]),
        "u3": _one("u3", 1, 3, lambda ps: [("u", (0,), ps)]),
        # cu(theta, phi, lam, gamma) = |0><0| x I + e^{i gamma} |1><1| x U(theta, phi, lam)
        "cu": _one("cu", 2, 4, lambda ps: [("p", (0,), (ps[3],))] + _controlled_u(ps[:3])),
    }
)

_QELIB1_TABLE: dict[str, _Builtin] = {
    n: _same(n)
    for n in "id p x y z h s sdg t tdg rx ry rz sx sxdg cx cz cy swap ch ccx cswap crx cry crz "
    "cp rxx rzz".split()
}
_QELIB1_TABLE.update(
    {
        "u": _same("u"),
        "u3": _STDGATES_TABLE["u3"],
        "u2": _STDGATES_TABLE["u2"],
        "u1": _STDGATES_TABLE["u1"],
        "u0": _one("u0", 1, 1, lambda ps: []),  # an idle of gamma time units: the identity
        "cu1": _STDGATES_TABLE["cphase"],
        "cu3": _one("cu3", 2, 3, _controlled_u),
        "cu": _STDGATES_TABLE["cu"],
        # controlled-(e^{i pi/4} RX(pi/2))
        "csx": _one("csx", 2, 0, lambda ps: _control([("sx", (1,), ())], 0.0, 0)),
    }
)
# qelib1.inc gates that are not qbridge gates: their qelib1.inc bodies are exact for the matrices
# Qiskit gives them (the tests compare), so they are read as ordinary definitions.
_QELIB1_SOURCE = """
gate rccx a,b,c { u2(0,pi) c; u1(pi/4) c; cx b, c; u1(-pi/4) c; cx a, c; u1(pi/4) c; cx b, c;
  u1(-pi/4) c; u2(0,pi) c; }
gate rc3x a,b,c,d { u2(0,pi) d; u1(pi/4) d; cx c,d; u1(-pi/4) d; u2(0,pi) d; cx a,d; u1(pi/4) d;
  cx b,d; u1(-pi/4) d; cx a,d; u1(pi/4) d; cx b,d; u1(-pi/4) d; u2(0,pi) d; u1(pi/4) d; cx c,d;
  u1(-pi/4) d; u2(0,pi) d; }
gate c3x a,b,c,d { h d; p(pi/8) a; p(pi/8) b; p(pi/8) c; p(pi/8) d; cx a, b; p(-pi/8) b; cx a, b;
  cx b, c; p(-pi/8) c; cx a, c; p(pi/8) c; cx b, c; p(-pi/8) c; cx a, c; cx c, d; p(-pi/8) d;
  cx b, d; p(pi/8) d; cx c, d; p(-pi/8) d; cx a, d; p(pi/8) d; cx c, d; p(-pi/8) d; cx b, d;
  p(pi/8) d; cx c, d; p(-pi/8) d; cx a, d; h d; }
gate c3sqrtx a,b,c,d { h d; cu1(pi/8) a,d; h d; cx a,b; h d; cu1(-pi/8) b,d; h d; cx a,b; h d;
  cu1(pi/8) b,d; h d; cx b,c; h d; cu1(-pi/8) c,d; h d; cx a,c; h d; cu1(pi/8) c,d; h d; cx b,c;
  h d; cu1(-pi/8) c,d; h d; cx a,c; h d; cu1(pi/8) c,d; h d; }
gate c4x a,b,c,d,e { h e; cu1(pi/2) d,e; h e; c3x a,b,c,d; h e; cu1(-pi/2) d,e; h e; c3x a,b,c,d;
  c3sqrtx a,b,c,e; }
"""

@lru_cache(maxsize=1)
def _qelib1_definitions() -> tuple:
    """The parsed qelib1.inc definitions above (parsing is the slow part of import; never mutated)."""
    import openqasm3

    return tuple(openqasm3.parse(_QELIB1_SOURCE).statements)


_ALWAYS_V3 = {"U": _one("U", 1, 3, lambda ps: [("u", (0,), ps)])}
_ALWAYS_V2 = {"U": _ALWAYS_V3["U"], "CX": _STDGATES_TABLE["CX"]}

# Gates whose controlled form is itself a library gate; the others are controlled through
# their decomposition, which always ends in these (u -> rz, ry; cx -> ccx; p -> cp).
_DIRECT_CONTROL = {
    "x": "cx", "y": "cy", "z": "cz", "h": "ch", "rx": "crx", "ry": "cry", "rz": "crz",
    "p": "cp", "swap": "cswap", "cx": "ccx",
}


def _is_zero(value: ParamValue) -> bool:
    return not isinstance(value, ParameterExpression) and value == 0.0


def _control(ops: list[Op], phase: ParamValue, ctrl: int) -> list[Op]:
    """The ops controlled by local qubit ``ctrl``; the phase becomes a phase gate on it."""
    out: list[Op] = []
    for name, qs, ps in ops:
        if name == "id":
            continue
        if name in _DIRECT_CONTROL:
            out.append((_DIRECT_CONTROL[name], (ctrl, *qs), ps))
            continue
        sub, ph = GATES[name].decompose(ps)
        out += _control(
            [(n, tuple(qs[i] for i in local), tuple(as_param_value(p) for p in sps)) for n, local, sps in sub],
            as_param_value(ph),
            ctrl,
        )
    if not _is_zero(phase):
        out.append(("p", (ctrl,), (phase,)))
    return out


def _equal_up_to_phase(a: np.ndarray, b: np.ndarray, atol: float = 1e-9) -> bool:
    idx = np.unravel_index(np.argmax(np.abs(b)), b.shape)
    ratio = a[idx] / b[idx]
    return abs(abs(ratio) - 1.0) < atol and bool(np.max(np.abs(a - ratio * b)) < atol)


# Parameter values at which a definition is compared with a library gate of the same name.
_PROBES = ((0.7231, -1.3142, 2.2351, 0.4187), (-2.6113, 0.9327, -0.3519, 1.8862))


def _probe(i: int, n: int) -> tuple[float, ...]:
    return tuple(_PROBES[i][j % 4] + 0.1 * (j // 4) for j in range(n))
