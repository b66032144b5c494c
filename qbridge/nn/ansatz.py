"""Circuit templates (ansätze) for the hybrid layers.

Owns: the variational circuits the layers use by default, written once as plain qbridge circuits
with named parameters, so that any backend runs them and :func:`qbridge.nn.gradients.shift_rule`
knows how to differentiate them.

- :func:`hardware_efficient`: per layer, the given rotations on every qubit, then an entangler
  (a CNOT ring by default). The QFFN default is ``rotations=("ry", "rz")``, ``entangler="ring"``.
- :func:`qisa_a`: the QISA-A value circuit: RX and RY on every qubit, a CNOT ring, RY on every
  qubit (3n parameters).
- :func:`cnot_ring`: the entangling pairs: none for one qubit, (0, 1) for two, (i, i+1 mod n)
  for three or more (a ring on two qubits would apply CNOT(0,1) and CNOT(1,0), which is not a
  ring but a different gate).

Parameter names are ``{prefix}{index}`` in the order the gates appear, which is also the column
order of ``Circuit.parameters``.
"""

from __future__ import annotations

from typing import Callable, Sequence

from ..ir.circuit import Circuit
from ..ir.parameters import Parameter

__all__ = ["cnot_ring", "hardware_efficient", "qisa_a", "num_parameters", "ANSATZE", "build_ansatz"]

_ROTATIONS = ("rx", "ry", "rz", "p")


def cnot_ring(n: int) -> list[tuple[int, int]]:
    if n < 2:
        return []
    if n == 2:
        return [(0, 1)]
    return [(i, (i + 1) % n) for i in range(n)]


def _chain(n: int) -> list[tuple[int, int]]:
    return [(i, i + 1) for i in range(n - 1)]


def hardware_efficient(
    num_qubits: int,
    depth: int,
    *,
    rotations: Sequence[str] = ("ry", "rz"),
    entangler: str = "ring",
    prefix: str = "theta",
    final_rotations: Sequence[str] = (),
) -> Circuit:
    """``depth`` layers of ``rotations`` on every qubit followed by CNOTs (ring, chain or none).

    Parameters: ``num_qubits * len(rotations) * depth`` (+ ``num_qubits * len(final_rotations)``).
    """
    if num_qubits < 1:
        raise ValueError(f"num_qubits must be at least 1, got {num_qubits}")
    if depth < 0:
        raise ValueError(f"depth must be non-negative, got {depth}")
    bad = [r for r in (*rotations, *final_rotations) if r not in _ROTATIONS]
    if bad:
        raise ValueError(f"unknown rotation(s) {bad}; use {list(_ROTATIONS)}")
    pairs = {"ring": cnot_ring, "chain": _chain, "none": lambda n: []}.get(entangler)
    if pairs is None:
        raise ValueError(f"entangler must be 'ring', 'chain' or 'none', got {entangler!r}")
    c = Circuit(num_qubits)
    k = 0
    for _ in range(depth):
        for q in range(num_qubits):
            for r in rotations:
                c = c.append(r, q, (Parameter(f"{prefix}{k}"),))
                k += 1
        for a, b in pairs(num_qubits):
            c = c.cx(a, b)
    for q in range(num_qubits):
        for r in final_rotations:
            c = c.append(r, q, (Parameter(f"{prefix}{k}"),))
            k += 1
    return c


def qisa_a(num_qubits: int, *, prefix: str = "theta") -> Circuit:
    """RX, RY on every qubit; a CNOT ring; RY on every qubit (3n parameters)."""
    return hardware_efficient(num_qubits, 1, rotations=("rx", "ry"), entangler="ring", prefix=prefix, final_rotations=("ry",))


ANSATZE: dict[str, Callable[..., Circuit]] = {
    "ry_rz_ring": lambda n, depth, prefix="theta": hardware_efficient(n, depth, rotations=("ry", "rz"), prefix=prefix),
    "ry_ring": lambda n, depth, prefix="theta": hardware_efficient(n, depth, rotations=("ry",), prefix=prefix),
    "rx_ry_ring": lambda n, depth, prefix="theta": hardware_efficient(n, depth, rotations=("rx", "ry"), prefix=prefix),
}


def build_ansatz(ansatz: str | Callable[..., Circuit] | Circuit, num_qubits: int, depth: int, prefix: str = "theta") -> Circuit:
    """An ansatz by name (:data:`ANSATZE`), from a callable ``(n, depth, prefix=...) -> Circuit``,
    or a ready circuit on ``num_qubits`` qubits."""
    if isinstance(ansatz, Circuit):
        c = ansatz
    elif isinstance(ansatz, str):
        if ansatz not in ANSATZE:
            raise ValueError(f"unknown ansatz {ansatz!r}; use one of {sorted(ANSATZE)}, a callable or a Circuit")
        c = ANSATZE[ansatz](num_qubits, depth, prefix=prefix)
    elif callable(ansatz):
        c = ansatz(num_qubits, depth, prefix=prefix)
    else:
        raise TypeError(f"ansatz must be a name, a callable or a Circuit, got {type(ansatz).__name__}")
    if not isinstance(c, Circuit) or c.num_qubits != num_qubits:
        raise ValueError(f"the ansatz must be a Circuit on {num_qubits} qubits")
    if c.inputs or c.has_measurements:
        raise ValueError("an ansatz must be gates only (no amplitude_encode, no measurements)")
    return c


def num_parameters(circuit: Circuit) -> int:
    return circuit.num_parameters
