"""The standard gate library: every gate's matrix, parameter count, inverse and decomposition.

Owns: the one definition of each gate. Matrices are written once, in torch, batched over
parameter values, so the embedded simulator differentiates through them and NumPy callers get the
same numbers (:func:`gate_matrix`). Decompositions are exact, global phase included, and use only
linear arithmetic on parameters so they stay valid for symbolic parameters.

Must not touch: circuits, backends or any quantum SDK.

Matrix convention: for a gate on qubits (a, b, ...), the first listed qubit is the most
significant bit of the gate's matrix index (the bit order of docs/architecture.md), so ``cx(0, 1)`` is
``[[1,0,0,0],[0,1,0,0],[0,0,0,1],[0,0,1,0]]`` with qubit 0 the control.
"""

from __future__ import annotations

import cmath
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..exceptions import GateError

__all__ = ["GateDef", "GATES", "get_gate", "gate_matrix", "zyz_angles"]

PI = math.pi

# A decomposition returns ([(gate name, local qubit indices, params), ...], global phase).
Rule = Callable[[Sequence[Any]], "tuple[list[tuple[str, tuple[int, ...], tuple[Any, ...]]], Any]"]


@dataclass(frozen=True)
class GateDef:
    name: str
    num_qubits: int
    num_params: int
    matrix_fn: Callable[..., torch.Tensor]
    inverse_fn: Callable[[tuple], tuple[str, tuple]]
    rule: Rule | None = None
    real: bool = False  # the matrix is real for every real parameter value
    diagonal: bool = False

    def matrix(self, *params: Any, dtype: torch.dtype = torch.complex128, device=None) -> torch.Tensor:
        """Matrix of the gate, batched over tensor parameters: shape (..., 2^k, 2^k)."""
        if len(params) != self.num_params:
            raise GateError(
                f"gate {self.name!r} takes {self.num_params} parameter(s), got {len(params)}",
                instruction=self.name,
            )
        rdtype = torch.float64 if dtype == torch.complex128 else torch.float32
        ps = [torch.as_tensor(p, dtype=rdtype, device=device) if not torch.is_tensor(p)
              else p.to(dtype=rdtype, device=device) for p in params]
        return self.matrix_fn(*ps, cdtype=dtype, device=device)

    def inverse(self, params: tuple) -> tuple[str, tuple]:
        return self.inverse_fn(tuple(params))

    def decompose(self, params: Sequence[Any]):
        if self.rule is None:
            return None
        return self.rule(tuple(params))


# -- matrix construction helpers -------------------------------------------------------------

def _assemble(rows: list[list[Any]], cdtype: torch.dtype, device) -> torch.Tensor:
    """Stack scalar or batched entries into a (..., d, d) complex tensor."""
    flat = [e for row in rows for e in row]
    shapes = [e.shape for e in flat if torch.is_tensor(e)]
    batch = torch.broadcast_shapes(*shapes) if shapes else torch.Size()
    dev = device
    for e in flat:
        if torch.is_tensor(e):
            dev = e.device
            break
    parts = [
        (e.to(cdtype) if torch.is_tensor(e) else torch.tensor(e, dtype=cdtype, device=dev)).expand(batch)
        for e in flat
    ]
    d = len(rows)
    return torch.stack(parts, dim=-1).reshape(*batch, d, d)


def _eix(x: torch.Tensor, cdtype) -> torch.Tensor:
    """exp(i x) for a real tensor x."""
    return torch.polar(torch.ones_like(x), x).to(cdtype)


@lru_cache(maxsize=None)
def _const(name: str, cdtype: torch.dtype, device_str: str) -> torch.Tensor:
    return torch.tensor(_FIXED[name], dtype=cdtype, device=torch.device(device_str))


def _fixed(name: str):
    def fn(*, cdtype, device):
        dev = torch.device(device) if device is not None else torch.device("cpu")
        return _const(name, cdtype, str(dev))
    return fn


_S2 = 1 / math.sqrt(2)
_FIXED: dict[str, list[list[complex]]] = {
    "id": [[1, 0], [0, 1]],
    "x": [[0, 1], [1, 0]],
    "y": [[0, -1j], [1j, 0]],
    "z": [[1, 0], [0, -1]],
    "h": [[_S2, _S2], [_S2, -_S2]],
    "s": [[1, 0], [0, 1j]],
    "sdg": [[1, 0], [0, -1j]],
    "t": [[1, 0], [0, cmath.exp(1j * PI / 4)]],
    "tdg": [[1, 0], [0, cmath.exp(-1j * PI / 4)]],
    "sx": [[(1 + 1j) / 2, (1 - 1j) / 2], [(1 - 1j) / 2, (1 + 1j) / 2]],
    "sxdg": [[(1 - 1j) / 2, (1 + 1j) / 2], [(1 + 1j) / 2, (1 - 1j) / 2]],
    "cx": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]],
    "cy": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, -1j], [0, 0, 1j, 0]],
    "cz": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, -1]],
    "ch": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, _S2, _S2], [0, 0, _S2, -_S2]],
    "swap": [[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]],
}
_ccx = np.eye(8, dtype=complex)
_ccx[[6, 7]] = _ccx[[7, 6]]
_FIXED["ccx"] = _ccx.tolist()
_cswap = np.eye(8, dtype=complex)
_cswap[[5, 6]] = _cswap[[6, 5]]
_FIXED["cswap"] = _cswap.tolist()


def _rx(t, *, cdtype, device):
    c, s = torch.cos(t / 2), torch.sin(t / 2)
    ms = -1j * s.to(cdtype)
    return _assemble([[c, ms], [ms, c]], cdtype, device)


def _ry(t, *, cdtype, device):
    c, s = torch.cos(t / 2), torch.sin(t / 2)
    return _assemble([[c, -s], [s, c]], cdtype, device)


def _rz(t, *, cdtype, device):
    return _assemble([[_eix(-t / 2, cdtype), 0], [0, _eix(t / 2, cdtype)]], cdtype, device)


def _p(t, *, cdtype, device):
    return _assemble([[1, 0], [0, _eix(t, cdtype)]], cdtype, device)


def _u(theta, phi, lam, *, cdtype, device):
    c, s = torch.cos(theta / 2), torch.sin(theta / 2)
    return _assemble(
        [[c, -_eix(lam, cdtype) * s], [_eix(phi, cdtype) * s, _eix(phi + lam, cdtype) * c]],
        cdtype, device,
    )


def _controlled(one: Callable):
    def fn(*ps, cdtype, device):
        m = one(*ps, cdtype=cdtype, device=device)
        return _assemble(
            [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, m[..., 0, 0], m[..., 0, 1]],
             [0, 0, m[..., 1, 0], m[..., 1, 1]]],
            cdtype, device,
        )
    return fn


def _rxx(t, *, cdtype, device):
    c, s = torch.cos(t / 2), torch.sin(t / 2)
    ms = -1j * s.to(cdtype)
    return _assemble([[c, 0, 0, ms], [0, c, ms, 0], [0, ms, c, 0], [ms, 0, 0, c]], cdtype, device)


def _ryy(t, *, cdtype, device):
    c, s = torch.cos(t / 2), torch.sin(t / 2)
    js = 1j * s.to(cdtype)
    return _assemble([[c, 0, 0, js], [0, c, -js, 0], [0, -js, c, 0], [js, 0, 0, c]], cdtype, device)


def _rzz(t, *, cdtype, device):
    a, b = _eix(-t / 2, cdtype), _eix(t / 2, cdtype)
    return _assemble([[a, 0, 0, 0], [0, b, 0, 0], [0, 0, b, 0], [0, 0, 0, a]], cdtype, device)


# -- inverses --------------------------------------------------------------------------------

def _self_inverse(name):
    return lambda ps: (name, ps)


def _swap_name(other):
    return lambda ps: (other, ps)


def _negate(name):
    return lambda ps: (name, tuple(-p for p in ps))


# -- decompositions (exact, with global phase) -----------------------------------------------
# Every rule eventually reaches {u, cx}; u reaches {rz, ry}; cx and cz reach each other, so any
# basis holding one entangler and either u or rz+ry is reachable (see qbridge.ir.decompose).

def _g(name, qubits, *params):
    return (name, tuple(qubits), tuple(params))


_RULES: dict[str, Rule] = {
    "id": lambda ps: ([], 0.0),
    "x": lambda ps: ([_g("u", [0], PI, 0.0, PI)], 0.0),
    "y": lambda ps: ([_g("u", [0], PI, PI / 2, PI / 2)], 0.0),
    "z": lambda ps: ([_g("p", [0], PI)], 0.0),
    "h": lambda ps: ([_g("u", [0], PI / 2, 0.0, PI)], 0.0),
    "s": lambda ps: ([_g("p", [0], PI / 2)], 0.0),
    "sdg": lambda ps: ([_g("p", [0], -PI / 2)], 0.0),
    "t": lambda ps: ([_g("p", [0], PI / 4)], 0.0),
    "tdg": lambda ps: ([_g("p", [0], -PI / 4)], 0.0),
    "sx": lambda ps: ([_g("rx", [0], PI / 2)], PI / 4),
    "sxdg": lambda ps: ([_g("rx", [0], -PI / 2)], -PI / 4),
    "rx": lambda ps: ([_g("u", [0], ps[0], -PI / 2, PI / 2)], 0.0),
    "ry": lambda ps: ([_g("u", [0], ps[0], 0.0, 0.0)], 0.0),
    "rz": lambda ps: ([_g("p", [0], ps[0])], -0.5 * ps[0]),
    "p": lambda ps: ([_g("u", [0], 0.0, 0.0, ps[0])], 0.0),
    "u": lambda ps: (
        [_g("rz", [0], ps[2]), _g("ry", [0], ps[0]), _g("rz", [0], ps[1])],
        0.5 * (ps[1] + ps[2]),
    ),
    "cx": lambda ps: ([_g("h", [1]), _g("cz", [0, 1]), _g("h", [1])], 0.0),
    "cz": lambda ps: ([_g("h", [1]), _g("cx", [0, 1]), _g("h", [1])], 0.0),
    "cy": lambda ps: ([_g("sdg", [1]), _g("cx", [0, 1]), _g("s", [1])], 0.0),
    "ch": lambda ps: (
        [_g("s", [1]), _g("h", [1]), _g("t", [1]), _g("cx", [0, 1]), _g("tdg", [1]),
         _g("h", [1]), _g("sdg", [1])],
        0.0,
    ),
    "swap": lambda ps: ([_g("cx", [0, 1]), _g("cx", [1, 0]), _g("cx", [0, 1])], 0.0),
    "crz": lambda ps: (
        [_g("rz", [1], 0.5 * ps[0]), _g("cx", [0, 1]), _g("rz", [1], -0.5 * ps[0]), _g("cx", [0, 1])],
        0.0,
    ),
    "cry": lambda ps: (
        [_g("ry", [1], 0.5 * ps[0]), _g("cx", [0, 1]), _g("ry", [1], -0.5 * ps[0]), _g("cx", [0, 1])],
        0.0,
    ),
    "crx": lambda ps: ([_g("h", [1]), _g("crz", [0, 1], ps[0]), _g("h", [1])], 0.0),
    "cp": lambda ps: (
        [_g("p", [0], 0.5 * ps[0]), _g("cx", [0, 1]), _g("p", [1], -0.5 * ps[0]), _g("cx", [0, 1]),
         _g("p", [1], 0.5 * ps[0])],
        0.0,
    ),
    "rzz": lambda ps: ([_g("cx", [0, 1]), _g("rz", [1], ps[0]), _g("cx", [0, 1])], 0.0),
    "rxx": lambda ps: (
        [_g("h", [0]), _g("h", [1]), _g("rzz", [0, 1], ps[0]), _g("h", [0]), _g("h", [1])],
        0.0,
    ),
    "ryy": lambda ps: (
        [_g("rx", [0], PI / 2), _g("rx", [1], PI / 2), _g("rzz", [0, 1], ps[0]),
         _g("rx", [0], -PI / 2), _g("rx", [1], -PI / 2)],
        0.0,
    ),
    "ccx": lambda ps: (
        [_g("h", [2]), _g("cx", [1, 2]), _g("tdg", [2]), _g("cx", [0, 2]), _g("t", [2]),
         _g("cx", [1, 2]), _g("tdg", [2]), _g("cx", [0, 2]), _g("t", [1]), _g("t", [2]),
         _g("h", [2]), _g("cx", [0, 1]), _g("t", [0]), _g("tdg", [1]), _g("cx", [0, 1])],
        0.0,
    ),
    "cswap": lambda ps: ([_g("cx", [2, 1]), _g("ccx", [0, 1, 2]), _g("cx", [2, 1])], 0.0),
}


def _def(name, nq, npar, fn, inv, *, real=False, diagonal=False):
    return GateDef(name, nq, npar, fn, inv, _RULES.get(name), real, diagonal)


GATES: dict[str, GateDef] = {
    g.name: g
    for g in [
        _def("id", 1, 0, _fixed("id"), _self_inverse("id"), real=True, diagonal=True),
        _def("x", 1, 0, _fixed("x"), _self_inverse("x"), real=True),
        _def("y", 1, 0, _fixed("y"), _self_inverse("y")),
        _def("z", 1, 0, _fixed("z"), _self_inverse("z"), real=True, diagonal=True),
        _def("h", 1, 0, _fixed("h"), _self_inverse("h"), real=True),
        _def("s", 1, 0, _fixed("s"), _swap_name("sdg"), diagonal=True),
        _def("sdg", 1, 0, _fixed("sdg"), _swap_name("s"), diagonal=True),
        _def("t", 1, 0, _fixed("t"), _swap_name("tdg"), diagonal=True),
        _def("tdg", 1, 0, _fixed("tdg"), _swap_name("t"), diagonal=True),
        _def("sx", 1, 0, _fixed("sx"), _swap_name("sxdg")),
        _def("sxdg", 1, 0, _fixed("sxdg"), _swap_name("sx")),
        _def("rx", 1, 1, _rx, _negate("rx")),
        _def("ry", 1, 1, _ry, _negate("ry"), real=True),
        _def("rz", 1, 1, _rz, _negate("rz"), diagonal=True),
        _def("p", 1, 1, _p, _negate("p"), diagonal=True),
        _def("u", 1, 3, _u, lambda ps: ("u", (-ps[0], -ps[2], -ps[1]))),
        _def("cx", 2, 0, _fixed("cx"), _self_inverse("cx"), real=True),
        _def("cy", 2, 0, _fixed("cy"), _self_inverse("cy")),
        _def("cz", 2, 0, _fixed("cz"), _self_inverse("cz"), real=True, diagonal=True),
        _def("ch", 2, 0, _fixed("ch"), _self_inverse("ch"), real=True),
        _def("swap", 2, 0, _fixed("swap"), _self_inverse("swap"), real=True),
        _def("crx", 2, 1, _controlled(_rx), _negate("crx")),
        _def("cry", 2, 1, _controlled(_ry), _negate("cry"), real=True),
        _def("crz", 2, 1, _controlled(_rz), _negate("crz"), diagonal=True),
        _def("cp", 2, 1, _controlled(_p), _negate("cp"), diagonal=True),
        _def("rxx", 2, 1, _rxx, _negate("rxx")),
        _def("ryy", 2, 1, _ryy, _negate("ryy")),
        _def("rzz", 2, 1, _rzz, _negate("rzz"), diagonal=True),
        _def("ccx", 3, 0, _fixed("ccx"), _self_inverse("ccx"), real=True),
        _def("cswap", 3, 0, _fixed("cswap"), _self_inverse("cswap"), real=True),
    ]
}


def get_gate(name: str) -> GateDef:
    try:
        return GATES[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(GATES) + ["unitary"], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise GateError(
            f"unknown gate {name!r}{hint} Known gates: {', '.join(sorted(GATES))}, unitary",
            instruction=name,
        ) from None


def gate_matrix(name: str, params: Sequence[float] = ()) -> np.ndarray:
    """The gate's matrix as a complex128 NumPy array (qubit order as in the module docstring)."""
    return get_gate(name).matrix(*params, dtype=torch.complex128).numpy().copy()


def zyz_angles(matrix: np.ndarray) -> tuple[float, float, float, float]:
    """(theta, phi, lam, phase) with ``matrix == exp(i phase) * U(theta, phi, lam)``."""
    m = np.asarray(matrix, dtype=complex)
    det = np.linalg.det(m)
    phase = cmath.phase(det) / 2
    su = m * cmath.exp(-1j * phase)  # now det(su) == 1
    theta = 2 * math.atan2(abs(su[1, 0]), abs(su[0, 0]))
    a = cmath.phase(su[1, 1]) if abs(su[1, 1]) > 1e-12 else 0.0
    b = cmath.phase(su[1, 0]) if abs(su[1, 0]) > 1e-12 else 0.0
    # su = [[e^{-i(phi+lam)/2} c, -e^{-i(phi-lam)/2} s], [e^{i(phi-lam)/2} s, e^{i(phi+lam)/2} c]]
    if abs(su[1, 1]) > 1e-12 and abs(su[1, 0]) > 1e-12:
        phi, lam = a + b, a - b
    elif abs(su[1, 0]) <= 1e-12:  # diagonal
        phi, lam = 2 * a, 0.0
    else:  # anti-diagonal
        phi, lam = b, -b
    # U(theta, phi, lam) = e^{i(phi+lam)/2} RZ(phi) RY(theta) RZ(lam) and su = RZ RY RZ.
    return theta, phi, lam, phase - (phi + lam) / 2
