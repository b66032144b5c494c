"""The fast exact path of the ``torch`` backend: one unitary, one matrix product.

Owns: recognising the circuits it applies to, compiling them once into a short list of fused
steps (a :class:`FastPlan`), building U(theta) from those steps, and applying U to a whole batch
of encoded inputs as one matrix product.

When it applies (:func:`choose_method`): the circuit starts with ``amplitude_encode`` of a
run-time input on all qubits (in order), every later instruction is a gate or ``unitary``, and
there is ONE parameter binding. With at least ``crossover(n)`` input rows (2^n up to n = 8, a
growing multiple of 2^n above: see :func:`crossover`, with the measurements behind it) the unitary
path is taken: building U column by column (the circuit applied to the 2^n basis states) costs
about as much as simulating 2^n inputs, and every further input costs one row of a BLAS matrix
product instead of a pass over every gate. Below the crossover the same fused steps are applied to
the input rows themselves ("layers": still gate by gate, a fused layer at a time). Other circuits,
or several bindings, are simulated gate by gate (:func:`qbridge.sim.statevector.simulate`). All
paths give the same numbers (tests check 1e-6 in double precision, gradients included).

Why one file of about 900 lines: the plan's steps, their hand-written backward and the CUDA-graph
capture (:mod:`qbridge.sim.graphs`) walk the same step list; kept together so that a new kind of
step is added to all three in one place.

How U is built (:meth:`FastPlan.apply_columns`): the plan's steps are applied to the columns of
the identity, so column j becomes U|j> (the "layers" path applies the same steps to the input
states instead). In this column layout a permutation is a gather of whole rows and a Kronecker
factor is one (batched) matrix product. The steps run inside one autograd function
(:class:`_ApplySteps`) whose backward is written by hand: the adjoint of each step applied to the
output gradient in reverse, and one contraction per matrix for its gradient, with the
intermediate blocks saved (or, above a memory limit, recomputed from the output by the inverse
steps). Only the small graph from the angles to the 2x2 and Kronecker factors is left to
autograd. Steps are fused at plan time:

- consecutive single-qubit gates on one qubit become one 2x2 matrix (RY then RZ: one matrix), and
  a run of single-qubit steps on distinct qubits becomes one layer, applied as Kronecker factors
  of up to 4 qubits (16 x 16), one small matrix product each;
- all layers' 2x2 matrices are built in one batched call per gate sequence, and every layer's
  Kronecker factors in one batched product per chunk;
- runs of permutation gates (x, cx, swap, ccx, cswap) become one index gather (a CNOT ring: one
  step), and single-qubit steps on untouched qubits are moved past them (they commute);
- everything else goes through :func:`qbridge.sim.statevector.apply_matrix`.

Real arithmetic: when every gate is real (``GateDef.real``, or a ``unitary`` with a real matrix)
U is built in real dtype, and a real input needs one real matrix product. A complex U applied to
real inputs is one real product against the blocks [Re U; Im U] (half the flops of a complex
product). Probabilities of such a batch come from one fused function
(:class:`_RealInputProbabilities`: that product and re^2 + im^2 forward; one elementwise product
and one GEMM per wanted gradient backward); the states themselves are formed only when asked for.

Speed (``python benchmarks/layer_speed.py``, 2-core CPU, n = 8, 1,024 rows, forward + backward):
the QFFN step on this path takes about 0.75x the time of a plain-torch autograd implementation of
the same unitary algorithm; the two GEMMs it cannot avoid are about a quarter of the step.

Must not touch: backends, the IR. Everything here is differentiable to first order; the two
hand-written backwards refuse a second order (``create_graph=True``) with a typed error that
names the fix (the backend's ``fast_path=False``).
"""

from __future__ import annotations

import warnings
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ..exceptions import EncodingError, UnsupportedFeatureError
from ..ir.circuit import Circuit, Instruction
from ..ir.gates import GATES
from ..ir.observables import PauliSum
from ..ir.parameters import ParameterExpression
from . import graphs
from . import statevector as sv

__all__ = [
    "choose_method",
    "FastPlan",
    "FastState",
    "plan_for",
    "crossover",
    "applicable",
    "run_fast",
    "simulate",
    "unitary",
]

# Gates whose matrices are permutations of the basis (0/1 entries): applied as one gather.
_PERMUTATION_GATES = frozenset({"x", "cx", "swap", "ccx", "cswap"})


def crossover(num_qubits: int) -> int:
    """Smallest input batch for which the unitary path is used: 2^n rows up to n = 8, then a
    growing multiple, 2^n (1 + (n - 8) / 4): 1.5 x 2^n at n = 10, 2 x 2^n at n = 12.

    Measured on a 2-core CPU (depth-4 RY/RZ/CNOT-ring ansatz, forward + backward, float32): the
    two paths tie at B = 2^n for n = 8, about 1.35 x 2^n for n = 10 and 1.9 x 2^n for n = 12
    (building U costs what the layer path costs on 2^n rows; the unitary path then adds a
    B x 2^n x 2^(n+1) product, relatively dearer as n grows)."""
    return int(2**num_qubits * max(1.0, 1.0 + (num_qubits - 8) / 4))


# -- plan ---------------------------------------------------------------------------------------

# Single-qubit layers are applied in chunks of at most this many qubits: a chunk is one
# (2^k x 2^k) Kronecker factor and one matrix product over the 2^n x 2^n state block.
_CHUNK = 4


@dataclass
class _Step:
    kind: str  # "1q" (fused single-qubit), "layer" (run of 1q steps), "perm" (gather), "gate"
    qubits: tuple[int, ...]
    ops: list[Instruction] = field(default_factory=list)  # "1q": applied first to last; "gate": one
    perm: np.ndarray | None = None  # "perm": new[:, i] = old[:, perm[i]]
    slots: list[list[int]] = field(default_factory=list)  # per op: indices into the angle vector
    layer: int = -1  # "layer": its index among the plan's layers
    chunks: list[tuple[int, int]] = field(default_factory=list)  # "layer": qubit ranges it acts on


@dataclass
class FastPlan:
    """A circuit compiled for the unitary path (see the module docstring)."""

    num_qubits: int
    input_name: str
    steps: list[_Step]
    real: bool  # every gate has a real matrix
    global_phase: Any
    parameter_names: tuple[str, ...]
    slot_matrix: np.ndarray  # (n_slots, P): gate angles = slot_matrix @ theta + slot_offset
    slot_offset: np.ndarray
    # single-qubit gates of every layer, grouped by gate sequence ("signature") across layers so
    # that each kind of matrix is built in one batched call: (signature, layers, qubits, slots)
    sig_groups: list[tuple[tuple, list[int], list[int], list[list[list[int]]]]] = field(default_factory=list)
    num_layers: int = 0
    _cache: dict = field(default_factory=dict, repr=False)

    def __deepcopy__(self, memo: dict) -> "FastPlan":
        # compiled once and never changed (but for its caches): copies of a circuit or of a
        # model share it; its CUDA graphs could not be copied anyway
        return self

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_cache"] = {}  # device tensors and CUDA graphs stay out of pickles (torch.save)
        return state

    def _tensor(self, key: Any, make, device) -> torch.Tensor:
        k = (key, str(device))
        t = self._cache.get(k)
        if t is None:
            t = make()
            self._cache[k] = t
        return t

    def angles(self, theta: torch.Tensor | None, rdtype, device) -> torch.Tensor:
        """Every gate angle of the plan from one binding ``theta`` (P,), by one small product."""
        off = self._tensor(("off", rdtype), lambda: torch.as_tensor(self.slot_offset, dtype=rdtype, device=device), device)
        if theta is None or not self.parameter_names:
            return off
        A = self._tensor(("A", rdtype), lambda: torch.as_tensor(self.slot_matrix, dtype=rdtype, device=device), device)
        return A @ theta.to(rdtype) + off

    # -- building U ---------------------------------------------------------------------------
    def unitary_rows(self, theta: torch.Tensor | None, cdtype: torch.dtype, device, real: bool | None = None) -> torch.Tensor:
        """S = U^T as a (2^n, 2^n) tensor (row j is U|j>), without the global phase.

        ``theta`` holds the binding (P,) in ``parameter_names`` order. Real dtype when the plan
        is real (or ``real`` says so), else ``cdtype``.
        """
        real = self.real if real is None else real
        return self.build_columns(theta, cdtype, device, real).transpose(0, 1)

    @property
    def graphable(self) -> bool:
        """Whether building U creates no tensor from host data (gathers and rotation layers
        only), so that it can be captured as a CUDA graph (:mod:`qbridge.sim.graphs`)."""
        return bool(self.parameter_names) and all(s.kind in ("perm", "layer") for s in self.steps) and all(
            isinstance(name, str) and name in _ROTATIONS for sig, _, _, _ in self.sig_groups for name in sig
        )

    def build_columns(self, theta: torch.Tensor | None, cdtype: torch.dtype, device, real: bool) -> torch.Tensor:
        """U's columns (every step applied to the identity; column j is U|j>): replayed from
        CUDA graphs where they apply, else step by step. The same numbers either way."""
        n = self.num_qubits
        rdtype = torch.float64 if cdtype == torch.complex128 else torch.float32
        eye = _eye(2**n, rdtype if real else cdtype, device)
        dev = torch.device(device)
        if theta is None or theta.dim() != 1 or not graphs.usable(dev, n) or not self.graphable:
            return self.apply_columns(eye, theta, cdtype, device, real=real)
        key = ("graphs", cdtype, real, str(dev))
        slots = self._cache.get(key)
        if slots is None:
            def build(t: torch.Tensor) -> torch.Tensor:
                return self.apply_columns(eye, t, cdtype, dev, real=real)

            slots = graphs.BuilderSlots(lambda: graphs.GraphedBuilder(build, theta.numel(), rdtype, dev))
            self._cache[key] = slots
        if slots is graphs.FAILED:
            return self.apply_columns(eye, theta, cdtype, device, real=real)
        try:
            return slots.next()(theta.to(rdtype))
        except RuntimeError as exc:  # a capture this CUDA build refuses: same numbers, step by step
            self._cache[key] = graphs.FAILED
            warnings.warn(f"qbridge: CUDA graph capture of U failed ({exc}); this circuit builds U step by step "
                          "on this device (QBRIDGE_CUDA_GRAPHS=0 silences this)", RuntimeWarning, stacklevel=2)
            return self.apply_columns(eye, theta, cdtype, device, real=real)

    def apply(self, states: torch.Tensor, theta: torch.Tensor | None, cdtype: torch.dtype, device, real: bool = False) -> torch.Tensor:
        """Every step applied to a (rows, 2^n) batch of states (real ones stay real while the
        gates are, when ``real``); the global phase is left out."""
        cols = self.apply_columns(states.transpose(0, 1), theta, cdtype, device, real=real)
        return cols.transpose(0, 1)

    def apply_columns(self, states: torch.Tensor, theta: torch.Tensor | None, cdtype: torch.dtype, device, real: bool = False) -> torch.Tensor:
        """Every step applied to the columns of a (2^n, cols) block (see :class:`_ApplySteps`)."""
        rdtype = torch.float64 if cdtype == torch.complex128 else torch.float32
        ang = self.angles(theta, rdtype, device)
        factors = self._layer_factors(ang, cdtype, device, real) if self.num_layers else {}
        chunk_starts = sorted(factors)
        mats: list[torch.Tensor] = [factors[lo] for lo in chunk_starts]
        program: list[tuple] = []
        for si, step in enumerate(self.steps):
            if step.kind == "perm":
                idx = self._tensor(("perm", si), lambda: torch.as_tensor(step.perm, dtype=torch.long, device=device), device)
                inv = self._tensor(("iperm", si), lambda: torch.as_tensor(np.argsort(step.perm), dtype=torch.long, device=device), device)
                program.append(("perm", idx, inv))
            elif step.kind == "layer":
                for lo, hi in step.chunks:
                    program.append(("chunk", chunk_starts.index(lo), step.layer, lo, hi))
            else:
                op = step.ops[0]
                m = _op_matrix(op, [ang[i] for i in step.slots[0]], cdtype, device)
                if real:
                    m = m.real
                program.append(("gate", len(mats), tuple(op.qubits)))
                mats.append(m)
        return _ApplySteps.apply(self.num_qubits, program, states, *mats)

    def _layer_factors(self, ang: torch.Tensor, cdtype, device, real: bool) -> dict[int, torch.Tensor]:
        """Kronecker factor of every chunk of every layer: {chunk start: (layers, 2^k, 2^k)}.

        All single-qubit matrices of the plan are built in one batched call per signature, put
        into a (layers, n, 2, 2) table (identity where a layer has no gate), and each chunk's
        Kronecker products are formed for all layers at once.
        """
        n, L = self.num_qubits, self.num_layers
        rdtype = torch.float64 if cdtype == torch.complex128 else torch.float32
        dt = rdtype if real else cdtype
        blocks = []
        for signature, _, qubits, slots in self.sig_groups:
            m = None
            for t, name in enumerate(signature):
                if isinstance(name, tuple):  # a fixed single-qubit unitary
                    g = torch.tensor(name[1], dtype=cdtype, device=device)
                else:
                    ps = [ang[self._tensor(("idx", tuple(col)), lambda col=col: torch.as_tensor(col, device=device), device)] for col in slots[t]]
                    g = _rotation(name, ps[0], cdtype, real) if name in _ROTATIONS else GATES[name].matrix_fn(*ps, cdtype=cdtype, device=device)
                m = g if m is None else g @ m
            if real and m.is_complex():
                m = m.real
            blocks.append(m.to(dt).expand(len(qubits), 2, 2))
        li = self._tensor(("layer_idx",), lambda: torch.as_tensor([l for _, ls, _, _ in self.sig_groups for l in ls], device=device), device)
        qi = self._tensor(("qubit_idx",), lambda: torch.as_tensor([q for _, _, qs, _ in self.sig_groups for q in qs], device=device), device)
        table = torch.eye(2, dtype=dt, device=device).repeat(L, n, 1, 1).index_put((li, qi), torch.cat(blocks))
        out = {}
        for lo in range(0, n, _CHUNK):
            F = table[:, lo]
            for q in range(lo + 1, min(lo + _CHUNK, n)):
                G = table[:, q]
                a, b = F.shape[-1], G.shape[-1]
                F = (F[:, :, None, :, None] * G[:, None, :, None, :]).reshape(L, a * b, a * b)  # batched kron
            out[lo] = F
        return out

    def phase_factor(self, theta: torch.Tensor | None, cdtype, device) -> torch.Tensor | None:
        ph = self.global_phase
        rdtype = torch.float64 if cdtype == torch.complex128 else torch.float32
        if isinstance(ph, ParameterExpression):
            ph = ph.evaluate({n: theta[i] for i, n in enumerate(self.parameter_names)})
        elif ph == 0.0:
            return None
        ph = ph.to(rdtype) if torch.is_tensor(ph) else torch.tensor(float(ph), dtype=rdtype, device=device)
        return torch.polar(torch.ones_like(ph), ph).to(cdtype).reshape(())


_ROTATIONS = frozenset({"rx", "ry", "rz", "p"})


def _rotation(name: str, t: torch.Tensor, cdtype: torch.dtype, real: bool) -> torch.Tensor:
    """(k, 2, 2) matrices of a one-parameter rotation for k angles, in as few ops as possible
    (the generic gate builders assemble entry by entry; these run once per layer per step)."""
    if name == "ry":
        c, s = torch.cos(0.5 * t), torch.sin(0.5 * t)
        m = torch.stack((c, -s, s, c), dim=-1).view(-1, 2, 2)
        return m if real else m.to(cdtype)
    zero = torch.zeros_like(t)
    if name == "rz":
        c, s = torch.cos(0.5 * t), torch.sin(0.5 * t)
        re, im = torch.stack((c, zero, zero, c), -1), torch.stack((-s, zero, zero, s), -1)
    elif name == "rx":
        c, s = torch.cos(0.5 * t), torch.sin(0.5 * t)
        re, im = torch.stack((c, zero, zero, c), -1), torch.stack((zero, -s, -s, zero), -1)
    else:  # p
        one = torch.ones_like(t)
        re, im = torch.stack((one, zero, zero, torch.cos(t)), -1), torch.stack((zero, zero, zero, torch.sin(t)), -1)
    return torch.complex(re, im).view(-1, 2, 2).to(cdtype)


def _op_matrix(op: Instruction, params: Sequence[torch.Tensor], cdtype, device) -> torch.Tensor:
    if op.name == "unitary":
        return torch.tensor(op.matrix, dtype=cdtype, device=device)
    return GATES[op.name].matrix_fn(*params, cdtype=cdtype, device=device)


def _refuse_second_order() -> None:
    """The hand-written backwards are first order: a graph of the gradient (create_graph=True,
    Hessians) through them would miss terms, so it is refused with the fix named."""
    if torch.is_grad_enabled():
        raise UnsupportedFeatureError(
            "second-order derivatives (create_graph=True) are not available on the torch backend's "
            "fast path; use get_backend('torch', fast_path=False), which simulates gate by gate "
            "with plain autograd"
        )


# -- applying steps to a block of column states ---------------------------------------------------
#
# Steps act on the row index of a (2^n, cols) block whose columns are states: a permutation is a
# gather of whole rows, and a factor on qubits lo..hi-1 is one batched product over the leading
# qubits (a single GEMM when lo = 0). Building U applies the steps to the identity this way.

# Intermediate blocks are kept for the backward up to this many bytes; beyond it the backward
# recomputes them by applying each step's inverse (every step is unitary), at twice the work.
_SAVE_LIMIT_BYTES = 256 * 2**20


def _apply_block(M: torch.Tensor, F: torch.Tensor, lo: int, hi: int, n: int) -> torch.Tensor:
    """F (2^k x 2^k) applied on qubits lo..hi-1 (consecutive) of every column of M."""
    k = hi - lo
    if lo == 0:
        return (F @ M.reshape(2**k, -1)).reshape(M.shape)
    # an explicit bmm: torch.matmul picks a slower unfolded path when F requires grad
    return torch.bmm(F.expand(2**lo, *F.shape), M.reshape(2**lo, 2**k, -1)).reshape(M.shape)


def _grad_block(G: torch.Tensor, M: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
    """sum over every other index of G (output gradient) times conj(M) (input): dL/dF."""
    k = hi - lo
    if lo == 0:
        return G.reshape(2**k, -1) @ M.reshape(2**k, -1).conj().transpose(0, 1)
    G3, M3 = G.reshape(2**lo, 2**k, -1), M.reshape(2**lo, 2**k, -1)
    return torch.bmm(G3, M3.conj().transpose(1, 2)).sum(0)


def _to_front(M: torch.Tensor, qubits: tuple[int, ...], n: int) -> torch.Tensor:
    g = len(qubits)
    return M.reshape([2] * n + [-1]).movedim(qubits, tuple(range(g))).reshape(2**g, -1)


def _from_front(T: torch.Tensor, qubits: tuple[int, ...], n: int, shape) -> torch.Tensor:
    g = len(qubits)
    return T.reshape([2] * n + [-1]).movedim(tuple(range(g)), qubits).reshape(shape)


def _consecutive(qubits: tuple[int, ...]) -> bool:
    return list(qubits) == list(range(qubits[0], qubits[0] + len(qubits)))


def _apply_gate(M: torch.Tensor, m: torch.Tensor, qubits: tuple[int, ...], n: int) -> torch.Tensor:
    if _consecutive(qubits):
        return _apply_block(M, m, qubits[0], qubits[0] + len(qubits), n)
    return _from_front(m @ _to_front(M, qubits, n), qubits, n, M.shape)


def _grad_gate(G: torch.Tensor, M: torch.Tensor, qubits: tuple[int, ...], n: int) -> torch.Tensor:
    if _consecutive(qubits):
        return _grad_block(G, M, qubits[0], qubits[0] + len(qubits))
    return _to_front(G, qubits, n) @ _to_front(M, qubits, n).conj().transpose(0, 1)


def _step_matrix(mats: Sequence[torch.Tensor], entry: tuple) -> torch.Tensor:
    """The matrix of a program entry: a layer's slice of stacked factors, or a gate's matrix."""
    return mats[entry[1]][entry[2]] if entry[0] == "chunk" else mats[entry[1]]


def _apply_step(M: torch.Tensor, F: torch.Tensor, entry: tuple, n: int) -> torch.Tensor:
    """F applied where a "chunk" or "gate" program entry says, to every column of M."""
    return _apply_block(M, F, entry[3], entry[4], n) if entry[0] == "chunk" else _apply_gate(M, F, entry[2], n)


def _match(M: torch.Tensor, F: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both operands in one dtype: real stays real only when both are."""
    if M.is_complex() and not F.is_complex():
        F = F.to(M.dtype)
    elif F.is_complex() and not M.is_complex():
        M = M.to(F.dtype)
    return M, F


class _ApplySteps(torch.autograd.Function):
    """A plan's program applied to the columns of a (2^n, cols) block, with a hand-written
    backward: the adjoint of each step is applied to the output gradient in reverse order, and
    each matrix's gradient is one contraction (G M^H) per step. Autograd through the same steps
    costs several times more (a node, strided copies and an index scatter per step).

    ``program`` entries: ("perm", idx, inverse idx), ("chunk", mat, layer, lo, hi) (slice
    ``layer`` of the stacked factors ``mats[mat]``), ("gate", mat, qubits). Inputs: the block,
    then the matrices. First order only (see :func:`_refuse_second_order`).
    """

    @staticmethod
    def forward(ctx, n, program, states, *mats):  # type: ignore[override]
        mats = tuple(m.detach() for m in mats)
        M = states.detach().contiguous()
        # bytes of the blocks a backward would read: one per matrix step, complex once any
        # matrix is (a real block is promoted on the first complex step)
        promoted = not states.is_complex() and any(m.is_complex() for m in mats)
        itemsize = states.element_size() * (2 if promoted else 1)
        save = itemsize * states.numel() * sum(e[0] != "perm" for e in program) <= _SAVE_LIMIT_BYTES
        saved: list[torch.Tensor] = []
        for entry in program:
            if entry[0] == "perm":
                M = M.index_select(0, entry[1])
                continue
            M, F = _match(M, _step_matrix(mats, entry))
            if save:
                saved.append(M)
            M = _apply_step(M, F, entry, n)
        if M.data_ptr() == states.data_ptr():
            M = M.clone()  # no step ran: never hand out the caller's block (or a cached identity)
        ctx.n, ctx.program = n, program
        ctx.saved = saved if save else None
        ctx.states_real = not states.is_complex()
        ctx.save_for_backward(*mats, *(() if save else (M,)))
        ctx.num_mats = len(mats)
        return M

    @staticmethod
    def backward(ctx, G):  # type: ignore[override]
        _refuse_second_order()
        n, program = ctx.n, ctx.program
        tensors = [t.detach() for t in ctx.saved_tensors]
        mats = tensors[: ctx.num_mats]
        saved = ctx.saved
        M = None if saved is not None else tensors[ctx.num_mats]
        grads: list[torch.Tensor | None] = [None] * len(mats)
        need = ctx.needs_input_grad[3:]
        j = len(saved) if saved is not None else 0
        # the gradient need not be carried past the first matrix step unless the states want it
        first = next((i for i, e in enumerate(program) if e[0] != "perm"), len(program))
        if not ctx.needs_input_grad[2]:
            program = program[first:]
        for pos, entry in zip(range(len(program) - 1, -1, -1), reversed(program)):
            if entry[0] == "perm":
                G = G.index_select(0, entry[2])
                if M is not None:
                    M = M.index_select(0, entry[2])
                continue
            G, F = _match(G, _step_matrix(mats, entry))
            Fh = F.conj().transpose(0, 1)
            if saved is not None:
                j -= 1
                Min = saved[j]
            else:
                M, _ = _match(M, F)
                M = Min = _apply_step(M, Fh, entry, n)
            if need[entry[1]]:
                Gi, Mi = _match(G, Min)
                gF = _grad_block(Gi, Mi, entry[3], entry[4]) if entry[0] == "chunk" else _grad_gate(Gi, Mi, entry[2], n)
                if not mats[entry[1]].is_complex() and gF.is_complex():
                    gF = gF.real
                if entry[0] == "chunk":
                    if grads[entry[1]] is None:
                        grads[entry[1]] = torch.zeros_like(mats[entry[1]])
                    grads[entry[1]][entry[2]] += gF
                else:
                    grads[entry[1]] = gF
            if pos == 0 and not ctx.needs_input_grad[2]:
                break
            G = _apply_step(G, Fh, entry, n)
        g_states = None
        if ctx.needs_input_grad[2]:
            g_states = G.real if (ctx.states_real and G.is_complex()) else G
        return (None, None, g_states, *grads)


def _is_real(op: Instruction) -> bool:
    if op.name == "unitary":
        return bool(np.all(np.imag(op.matrix_array()) == 0))
    return GATES[op.name].real


def _permutation_of(op: Instruction, n: int) -> np.ndarray:
    """perm with (P psi)[i] = psi[perm[i]] for a 0/1 gate matrix on ``op.qubits``."""
    m = GATES[op.name].matrix(dtype=torch.complex128).real.numpy()
    src_local = np.argmax(m, axis=1)  # row r of the gate takes amplitude from column src_local[r]
    k = len(op.qubits)
    idx = np.arange(2**n)
    local = np.zeros_like(idx)
    for j, q in enumerate(op.qubits):
        local |= ((idx >> (n - 1 - q)) & 1) << (k - 1 - j)
    src = src_local[local]
    out = idx.copy()
    for j, q in enumerate(op.qubits):
        bit = (src >> (k - 1 - j)) & 1
        out = (out & ~(1 << (n - 1 - q))) | (bit << (n - 1 - q))
    return out


def _compile(circuit: Circuit) -> FastPlan | None:
    n = circuit.num_qubits
    ops = [op for op in circuit if op.name not in ("barrier", "measure")]
    if not ops:
        return None
    first = ops[0]
    if (
        first.name != "amplitude_encode"
        or not isinstance(first.source, str)
        or tuple(first.qubits) != tuple(range(n))
    ):
        return None
    body = ops[1:]
    if any(op.name in ("amplitude_encode", "mcu") for op in body):  # mcu: the gate path applies it
        return None
    names = circuit.parameter_names
    col = {name: i for i, name in enumerate(names)}
    rows: list[np.ndarray] = []
    offsets: list[float] = []

    def slots_of(op: Instruction) -> list[int]:
        out = []
        for p in op.params:
            row = np.zeros(len(names))
            if isinstance(p, ParameterExpression):
                for name, coeff in p.terms:
                    row[col[name]] += coeff
                offsets.append(p.const)
            else:
                offsets.append(float(p))
            rows.append(row)
            out.append(len(rows) - 1)
        return out

    steps: list[_Step] = []
    pending: dict[int, list[Instruction]] = {}

    def insert_1q(q: int) -> None:
        # place the fused single-qubit step right after the last step touching q: it commutes
        # with everything after that, which lets permutations and single-qubit layers merge
        pos = len(steps)
        while pos > 0 and q not in steps[pos - 1].qubits:
            pos -= 1
        group = pending.pop(q)
        steps.insert(pos, _Step("1q", (q,), group, slots=[slots_of(op) for op in group]))

    for op in body:
        if len(op.qubits) == 1:
            pending.setdefault(op.qubits[0], []).append(op)
            continue
        for q in op.qubits:
            if q in pending:
                insert_1q(q)
        if op.name in _PERMUTATION_GATES:
            p = _permutation_of(op, n)
            if steps and steps[-1].kind == "perm":
                last = steps[-1]
                # new[:, i] = mid[:, p[i]] = old[:, last.perm[p[i]]]
                last.perm = last.perm[p]
                last.qubits = tuple(sorted(set(last.qubits) | set(op.qubits)))
            else:
                steps.append(_Step("perm", tuple(op.qubits), perm=p))
        else:
            steps.append(_Step("gate", tuple(op.qubits), [op], slots=[slots_of(op)]))
    for q in sorted(pending):
        insert_1q(q)
    # merge runs of single-qubit steps (distinct qubits, see insert_1q) into layers
    merged: list[_Step] = []
    for st in steps:
        if st.kind == "1q" and merged and merged[-1].kind == "layer" and st.qubits[0] not in merged[-1].qubits:
            merged[-1].ops.append(st)  # type: ignore[arg-type]
            merged[-1].qubits = merged[-1].qubits + st.qubits
        elif st.kind == "1q":
            merged.append(_Step("layer", st.qubits, [st]))  # type: ignore[list-item]
        else:
            merged.append(st)
    by_sig: dict[tuple, tuple[list[int], list[int], list[list[list[int]]]]] = {}
    num_layers = 0
    for st in merged:
        if st.kind != "layer":
            continue
        st.layer = num_layers
        num_layers += 1
        for one in st.ops:  # type: ignore[assignment]
            sig = tuple(("unitary", op.matrix) if op.name == "unitary" else op.name for op in one.ops)
            ls, qs, sl = by_sig.setdefault(sig, ([], [], []))
            ls.append(st.layer)
            qs.append(one.qubits[0])
            sl.append(one.slots)
        st.chunks = [
            (lo, min(lo + _CHUNK, n)) for lo in range(0, n, _CHUNK)
            if any(lo <= q < lo + _CHUNK for q in st.qubits)
        ]
        st.ops = []
    sig_groups = []
    for sig, (ls, qs, sl) in by_sig.items():
        # per position t in the signature, per parameter j: the slots of every entry
        per_t = [[[sl[i][t][j] for i in range(len(qs))] for j in range(len(sl[0][t]))] for t in range(len(sig))]
        sig_groups.append((sig, ls, qs, per_t))
    real = all(_is_real(op) for op in body)
    A = np.array(rows).reshape(len(rows), len(names))
    return FastPlan(n, first.source, merged, real, circuit.global_phase, names, A, np.array(offsets, dtype=float),
                    sig_groups, num_layers)


_PLANS: "OrderedDict[Any, FastPlan | None]" = OrderedDict()
_PLAN_CACHE_SIZE = 128


def plan_for(circuit: Circuit) -> FastPlan | None:
    """The circuit's plan, or None when the unitary path does not apply to its structure.

    Plans are cached here, per circuit object (circuits are immutable; a weak reference, so the
    entry goes with the circuit) and, for rebuilt copies, by structure.
    """
    hit = _BY_OBJECT.get(id(circuit))
    if hit is not None and hit[0]() is circuit:
        return hit[1]
    key = (circuit.num_qubits, circuit.instructions, circuit.global_phase)
    if key in _PLANS:
        plan = _PLANS[key]
        _PLANS.move_to_end(key)
    else:
        plan = _compile(circuit)
        _PLANS[key] = plan
        if len(_PLANS) > _PLAN_CACHE_SIZE:
            _PLANS.popitem(last=False)
    key_id = id(circuit)
    _BY_OBJECT[key_id] = (weakref.ref(circuit, lambda _ref: _BY_OBJECT.pop(key_id, None)), plan)
    return plan


#: id(circuit) -> (weak reference to it, its plan): the per-object cache of plan_for
_BY_OBJECT: dict[int, tuple[weakref.ref, "FastPlan | None"]] = {}


def _rows(x: Any) -> int:
    shape = getattr(x, "shape", None)
    if shape is None:
        shape = np.shape(x)
    return 1 if len(shape) < 2 else int(shape[0])


def choose_method(circuit: Circuit, parameter_values: Any, inputs: Mapping[str, Any] | None) -> str:
    """"unitary", "layers" or "gates" for this batch (see the module docstring)."""
    plan = plan_for(circuit)
    if plan is None or not inputs or plan.input_name not in inputs:
        return "gates"
    if parameter_values is not None and circuit.num_parameters and _rows(parameter_values) != 1:
        return "gates"
    return "unitary" if _rows(inputs[plan.input_name]) >= crossover(circuit.num_qubits) else "layers"


def applicable(circuit: Circuit, parameter_values: Any, inputs: Mapping[str, Any] | None) -> bool:
    """Whether the backend should take the unitary path for this batch (module docstring)."""
    return choose_method(circuit, parameter_values, inputs) == "unitary"


# -- running ------------------------------------------------------------------------------------

_EYES: "OrderedDict[Any, torch.Tensor]" = OrderedDict()


def _eye(dim: int, dtype, device) -> torch.Tensor:
    """A cached identity (read-only by contract: the step program never writes its input)."""
    key = (dim, dtype, str(device))
    t = _EYES.get(key)
    if t is None:
        t = torch.eye(dim, dtype=dtype, device=device)
        _EYES[key] = t
        if len(_EYES) > 8:
            _EYES.popitem(last=False)
    return t


def _squared_magnitude(data: torch.Tensor, dim: int) -> torch.Tensor:
    """re^2 + im^2 of (B, 2 dim) blocks [re | im], in two passes (square().sum() takes ~3x as long)."""
    re, im = data[:, :dim], data[:, dim:]
    return re.mul(re).addcmul_(im, im)


class _RealInputProbabilities(torch.autograd.Function):
    """|x U^T|^2 for real rows x (B, d) and a complex U (2^n, 2^n), fused: one real GEMM against
    [Re U; Im U] forward, returning the probabilities and the states as [re | im] blocks
    (B, 2 dim) from that one product; backward one elementwise product and one GEMM per needed
    gradient (the unfused autograd graph adds real/imag splits, a concatenation and their copies)."""

    @staticmethod
    def forward(ctx, x, U):  # type: ignore[override]
        d = x.shape[1]
        W = torch.cat((U.real[:, :d], U.imag[:, :d]), dim=0)  # (2 dim, d)
        data = x @ W.transpose(0, 1)  # (B, 2 dim): real parts, then imaginary parts
        ctx.save_for_backward(x, W, data)
        ctx.set_materialize_grads(False)
        dim = ctx.dim = U.shape[0]
        return _squared_magnitude(data, dim), data

    @staticmethod
    def backward(ctx, gp, gdata):  # type: ignore[override]
        _refuse_second_order()
        x, W, data = ctx.saved_tensors
        B, dim = x.shape[0], ctx.dim
        # the factor 2 of d|z|^2 goes on the smaller products when only probabilities want it
        g, scale = None, 1.0
        if gp is not None:
            g, scale = (data.view(B, 2, dim) * gp.unsqueeze(1)).view(B, 2 * dim), 2.0
        if gdata is not None:
            g, scale = (gdata if g is None else torch.add(gdata, g, alpha=scale)), 1.0
        if g is None:
            return None, None
        gx = scale * (g @ W) if ctx.needs_input_grad[0] else None
        gU = None
        if ctx.needs_input_grad[1]:
            gW = g.transpose(0, 1) @ x  # (2 dim, d)
            gU = torch.complex(scale * gW[:dim], scale * gW[dim:])
            if gU.shape[1] < dim:
                gU = torch.nn.functional.pad(gU, (0, dim - gU.shape[1]))
        return gx, gU


class FastState:
    """Final states of a batch, kept in the cheapest exact form:

    - real (B, 2^n): a real circuit on real inputs;
    - real (B, 2, 2^n): real and imaginary parts as two blocks (a complex U on real inputs: one
      real matrix product against [Re U; Im U], see :class:`_RealInputProbabilities`);
    - complex (B, 2^n): complex inputs, or the fused-layer path.

    Probabilities and diagonal observables are read without forming complex numbers (and without
    strided views, whose backward would fill and copy whole tensors); :meth:`statevector` builds
    the complex (B, 2^n) tensor when asked.
    """

    def __init__(
        self,
        data: torch.Tensor | None,
        num_qubits: int,
        cdtype: torch.dtype,
        phase: torch.Tensor | None,
        factored: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> None:
        self._stored = data
        # (x, U): real normalised inputs (B, d) and a complex U (2^n, 2^n); states and
        # probabilities come from one fused product, made on first use
        self._factored = factored
        self.num_qubits = num_qubits
        self.cdtype = cdtype
        self._phase = phase
        self._probs: torch.Tensor | None = None

    @property
    def _data(self) -> torch.Tensor:
        if self._stored is None:
            x, U = self._factored  # type: ignore[misc]
            self._probs, data = _RealInputProbabilities.apply(x, U)  # one GEMM serves both
            self._stored = data.view(x.shape[0], 2, -1)
        return self._stored

    @property
    def batch_size(self) -> int:
        return self._factored[0].shape[0] if self._stored is None else self._stored.shape[0]  # type: ignore[index]

    def probabilities(self) -> torch.Tensor:
        d = self._data
        if self._probs is not None:
            return self._probs
        if d.is_complex():
            return d.real**2 + d.imag**2
        return d * d

    def statevector(self) -> torch.Tensor:
        d = self._data
        if d.is_complex():
            psi = d
        elif d.dim() == 3:
            psi = torch.complex(d[:, 0], d[:, 1])
        else:
            psi = d.to(self.cdtype)
        if self._phase is not None:
            psi = psi * self._phase
        return psi

    def expectation_values(self, observables: Sequence[PauliSum]) -> torch.Tensor:
        diagonal = all(set(t.paulis) <= {"I", "Z"} for obs in observables for t in obs.terms)
        if not diagonal:
            return sv.expectation_values(self.statevector(), observables)
        probs = self.probabilities()
        return probs @ _diagonal_table(observables, self.num_qubits, probs.dtype, probs.device)


_DIAG_TABLES: "OrderedDict[Any, torch.Tensor]" = OrderedDict()


def _diagonal_table(observables: Sequence[PauliSum], n: int, dtype, device) -> torch.Tensor:
    """(2^n, K) table: column k holds the diagonal of observable k (I/Z terms only)."""
    key = (tuple(observables), n, dtype, str(device))
    t = _DIAG_TABLES.get(key)
    if t is None:
        idx = np.arange(2**n)
        table = np.zeros((2**n, len(observables)))
        for k, obs in enumerate(observables):
            for term in obs.terms:
                parity = np.zeros_like(idx)
                for q in term.support:
                    parity ^= (idx >> (n - 1 - q)) & 1
                table[:, k] += term.coeff * (1 - 2 * parity)
        t = torch.as_tensor(table, dtype=dtype, device=device)
        _DIAG_TABLES[key] = t
        if len(_DIAG_TABLES) > 64:
            _DIAG_TABLES.popitem(last=False)
    return t


def _theta(circuit: Circuit, parameter_values: Any, rdtype, device) -> torch.Tensor | None:
    """The one binding as a (P,) tensor in ``circuit.parameter_names`` order."""
    if not circuit.num_parameters:
        return None
    if torch.is_tensor(parameter_values) and tuple(parameter_values.shape) in ((1, circuit.num_parameters), (circuit.num_parameters,)):
        return parameter_values.reshape(-1).to(device=device, dtype=rdtype)  # the common case, no copies
    cols, bp = sv._param_columns(circuit, parameter_values, rdtype, device)
    if bp != 1:
        raise ValueError(f"the unitary path needs one parameter binding, got {bp}")
    if not isinstance(parameter_values, Mapping):
        pv = parameter_values if torch.is_tensor(parameter_values) else torch.as_tensor(np.asarray(parameter_values), device=device)
        return pv.to(device=device, dtype=rdtype).reshape(-1)
    return torch.stack([cols[n].reshape(()) for n in circuit.parameter_names])


def run_fast(
    circuit: Circuit,
    parameter_values: Any,
    inputs: Mapping[str, Any],
    *,
    dtype: torch.dtype = torch.complex64,
    device: Any = "cpu",
    method: str = "unitary",
) -> FastState:
    """Final states of every input row through U(theta), for one binding.

    ``method="unitary"``: U built once, then one matrix product for the whole batch;
    ``method="layers"``: the plan's fused steps applied to the input rows directly (cheaper
    below the crossover).
    """
    if method not in ("unitary", "layers"):
        raise ValueError(f"method must be 'unitary' or 'layers', got {method!r}")
    plan = plan_for(circuit)
    if plan is None:
        raise ValueError(
            "the unitary path needs a circuit that starts with amplitude_encode of a run-time "
            "input on all qubits and has only gates after it"
        )
    n = plan.num_qubits
    rdtype = torch.float64 if dtype == torch.complex128 else torch.float32
    theta = _theta(circuit, parameter_values, rdtype, device)
    extra = set(inputs) - {plan.input_name}
    if extra:
        raise EncodingError(f"inputs given for unknown name(s) {sorted(extra)}", instruction="amplitude_encode")
    if plan.input_name not in inputs:
        raise EncodingError(f"no value for encoded input {plan.input_name!r}", instruction="amplitude_encode")
    x = sv.normalised_rows(inputs[plan.input_name], 2**n, dtype, device, plan.input_name)
    d = x.shape[1]
    real_input = not x.is_complex()
    phase = plan.phase_factor(theta, dtype, device)
    if method == "layers":
        if d < 2**n:
            x = torch.nn.functional.pad(x, (0, 2**n - d))
        return FastState(plan.apply(x, theta, dtype, device, real=plan.real), n, dtype, phase)
    real = plan.real
    if real_input and not real:
        # complex U on real inputs: one real GEMM against the [Re U | Im U] blocks (half the
        # flops of a complex product), formed lazily (see FastState)
        U = plan.build_columns(theta, dtype, device, real=False)
        return FastState(None, n, dtype, phase, factored=(x, U))
    S = plan.unitary_rows(theta, dtype, device, real=real)[:d]  # only the rows inputs reach
    if S.is_complex() or not real_input:
        data = x @ S.to(dtype)
    else:
        data = x @ S
    return FastState(data, n, dtype, phase)


def simulate(
    circuit: Circuit,
    parameter_values: Any = None,
    inputs: Mapping[str, Any] | None = None,
    *,
    dtype: torch.dtype = torch.complex64,
    device: Any = "cpu",
    method: str = "auto",
) -> torch.Tensor:
    """Like :func:`qbridge.sim.statevector.simulate`, choosing the path by ``method``.

    ``method``: "auto" (as the torch backend chooses: :func:`choose_method`), "unitary" or
    "layers" (forced; errors when the circuit's structure does not allow it) or "gates" (plain
    gate by gate).
    """
    if method not in ("auto", "unitary", "layers", "gates"):
        raise ValueError(f"method must be 'auto', 'unitary', 'layers' or 'gates', got {method!r}")
    if method == "auto":
        method = choose_method(circuit, parameter_values, inputs)
    if method == "gates":
        return sv.simulate(circuit, parameter_values, inputs, dtype=dtype, device=device)
    return run_fast(circuit, parameter_values, inputs or {}, dtype=dtype, device=device, method=method).statevector()


def unitary(circuit: Circuit, parameter_values: Any = None, *, dtype: torch.dtype = torch.complex128, device: Any = "cpu") -> torch.Tensor:
    """U(theta) of a gate-only circuit for one binding, as a differentiable torch (d, d) tensor.

    U[i, j] = <i|U|j>, global phase included; real dtype is never returned (complex ``dtype``).
    """
    if any(op.name == "amplitude_encode" for op in circuit):
        raise EncodingError("a circuit with amplitude encoding is a state preparation, not a unitary")
    probe = Circuit(circuit.num_qubits).amplitude_encode("_fast_probe").compose(circuit)
    plan = plan_for(probe)
    rdtype = torch.float64 if dtype == torch.complex128 else torch.float32
    theta = _theta(probe, parameter_values, rdtype, device)
    S = plan.unitary_rows(theta, dtype, device, real=False)
    ph = plan.phase_factor(theta, dtype, device)
    U = S.transpose(0, 1)
    return U * ph if ph is not None else U
