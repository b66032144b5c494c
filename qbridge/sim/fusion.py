"""Gate fusion for long runs of constant gates in the state-vector simulator.

Owns: turning a sequence of constant gate instructions (no free parameters, no encoded inputs)
into fewer dense blocks on at most ``max_qubits`` qubits (``fuse``), and applying those blocks to
a batch of states with as few copies of the state as possible (``apply_blocks``).

Why: the simulator applies each gate as its own tensor operation, and on a 16-qubit state a gate
costs a permuted copy of the whole state in, a tiny matrix product, and a copy back. A 667k-gate
program (the hostile-input benchmark, ``benchmarks/qasm_large.py``) then spends minutes on
copies. Fusing gates into blocks of up to 5 qubits (about 7 gates per block on random
circuits) and keeping the state in whatever axis order the last block left it in (one copy per
block instead of two) makes the per-gate cost a fraction of that.

Must not touch: parametric instructions and encodings (the caller applies them with autograd);
the IR (circuits are read, never changed). Blocks are built in complex128 NumPy and cast to the
state's dtype once, so fusing loses nothing against gate-by-gate application in either precision.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np
import torch

from ..ir.circuit import Instruction
from ..ir.gates import GATES

__all__ = ["MAX_BLOCK_QUBITS", "fusable", "fuse", "apply_blocks", "apply_lazily"]

#: The largest block. Five qubits (32 x 32) keeps a block's matrix product cheap next to the
#: copy of the state that each block costs, and fuses about 7 gates per block on random circuits.
MAX_BLOCK_QUBITS = 5


def fusable(op: Instruction) -> bool:
    """A gate whose matrix is known before the run: constant parameters, no encoded input."""
    if op.name == "unitary":
        return True
    return op.name in GATES and not op.is_parametric


def _gate_matrices(ops: Sequence[Instruction]) -> list[np.ndarray]:
    """complex128 matrices of constant gates; rotations of one kind are built in one batched call."""
    out: list[np.ndarray | None] = [None] * len(ops)
    fixed: dict[str, np.ndarray] = {}
    by_gate: dict[str, list[int]] = {}
    for i, op in enumerate(ops):
        if op.name == "unitary":
            out[i] = op.matrix_array()
        elif not op.params:
            if op.name not in fixed:
                fixed[op.name] = GATES[op.name].matrix(dtype=torch.complex128).numpy()
            out[i] = fixed[op.name]
        else:
            by_gate.setdefault(op.name, []).append(i)
    for name, idx in by_gate.items():
        gate = GATES[name]
        cols = [torch.tensor([float(ops[i].params[j]) for i in idx], dtype=torch.float64)
                for j in range(gate.num_params)]
        mats = gate.matrix(*cols, dtype=torch.complex128).numpy()
        for pos, i in enumerate(idx):
            out[i] = mats[pos]
    return out  # type: ignore[return-value]


@lru_cache(maxsize=4096)
def _embedding(m: int, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """For a k-qubit gate on positions ``axes`` of an m-qubit block: each block basis state's
    row in the gate's matrix, and where two block basis states agree on the other qubits."""
    idx = np.arange(2**m)
    bits = [(idx >> (m - 1 - a)) & 1 for a in axes]
    k = len(axes)
    gate_row = sum(b << (k - 1 - j) for j, b in enumerate(bits))
    rest = idx.copy()
    for a in axes:
        rest &= ~(1 << (m - 1 - a))
    return gate_row, rest[:, None] == rest[None, :]


def _kron(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.kron for square matrices, without its generality (it is called once per block merge)."""
    return (a[:, None, :, None] * b[None, :, None, :]).reshape(a.shape[0] * b.shape[0], -1)


def _apply_to_block(block: np.ndarray, qubits: list[int], gate: np.ndarray, targets: Sequence[int]) -> np.ndarray:
    """gate @ block, the gate acting on ``targets`` (a subset of the block's ``qubits``): the gate
    embedded in the block's space by one gather and a mask, then one small matrix product."""
    rows, same = _embedding(len(qubits), tuple(qubits.index(q) for q in targets))
    return (gate[rows[:, None], rows[None, :]] * same) @ block


def fuse(ops: Sequence[Instruction], max_qubits: int = MAX_BLOCK_QUBITS) -> list[tuple[np.ndarray, tuple[int, ...]]]:
    """Dense blocks ``(matrix, qubits)`` whose product, in order, equals the gates' product.

    Greedy, with several blocks open at once on disjoint qubits (they commute, so their order
    among themselves is free): a gate joins the open blocks it touches when their union stays
    within ``max_qubits``; otherwise those blocks are closed first and the gate opens a new one.
    Matrices use the IR's bit order (the block's first qubit is the most significant bit)."""
    mats = _gate_matrices(ops)
    open_blocks: list[tuple[np.ndarray, list[int]]] = []
    out: list[tuple[np.ndarray, tuple[int, ...]]] = []
    for op, gate in zip(ops, mats):
        targets = list(op.qubits)
        tset = set(targets)
        hit = [b for b in open_blocks if tset.intersection(b[1])]
        union = tset.union(*(b[1] for b in hit))
        if len(union) <= max_qubits:
            if hit:
                block, qubits = hit[0][0], list(hit[0][1])
                for other, oq in hit[1:]:
                    block, qubits = _kron(block, other), qubits + list(oq)
            else:
                block, qubits = np.ones((1, 1), dtype=complex), []
            extra = [q for q in targets if q not in qubits]
            if extra:
                block, qubits = _kron(block, np.eye(2 ** len(extra))), qubits + extra
            block = _apply_to_block(block, qubits, gate, targets)
            open_blocks = [b for b in open_blocks if all(b is not h for h in hit)]
            open_blocks.append((block, qubits))
        else:
            open_blocks = [b for b in open_blocks if all(b is not h for h in hit)]
            out.extend((b, tuple(q)) for b, q in hit)
            open_blocks.append((gate, targets))
    out.extend((b, tuple(q)) for b, q in open_blocks)
    return out


def apply_lazily(state: torch.Tensor, mats: Sequence[tuple[torch.Tensor, Sequence[int]]]) -> torch.Tensor:
    """Apply each ``(matrix, axes)`` in order to a (B, 2, ..., 2) tensor; returns the same layout.

    The tensor stays in the axis order the previous matrix left it in: a matrix whose axes are
    already the last ones costs no copy, any other one permuted copy; the order is restored once
    at the end. Differentiable (the density-matrix kernels apply superoperators with it)."""
    n = state.dim() - 1
    b = state.shape[0]
    layout = list(range(n))  # layout[i]: the axis held at position 1 + i
    flat = state.reshape(b, -1)
    for m, axes in mats:
        k = len(axes)
        if layout[n - k:] != list(axes):
            new = [a for a in layout if a not in axes] + list(axes)
            flat = flat.reshape(b, *([2] * n)).permute([0] + [1 + layout.index(a) for a in new]).reshape(b, -1)
            layout = new
        flat = (flat.reshape(b, -1, 2**k) @ m.transpose(0, 1)).reshape(b, -1)
    back = [0] + [1 + layout.index(a) for a in range(n)]
    return flat.reshape(b, *([2] * n)).permute(back).contiguous()


def apply_blocks(state: torch.Tensor, blocks: Sequence[tuple[np.ndarray, tuple[int, ...]]]) -> torch.Tensor:
    """Apply the blocks of :func:`fuse` in order to a (B, 2, ..., 2) state batch (:func:`apply_lazily`)."""
    return apply_lazily(state, [(torch.from_numpy(matrix).to(dtype=state.dtype, device=state.device), qubits)
                                for matrix, qubits in blocks])
