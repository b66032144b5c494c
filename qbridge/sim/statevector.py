"""Batched state-vector simulation in PyTorch.

Owns: the kernels of the embedded ``torch`` backend, written as pure functions so that other
code (references, the layers' fast path) can call them without a backend object:
``simulate`` (circuit + a batch of bindings + a batch of inputs -> states), ``probabilities``,
``marginal_probabilities``, ``expectation_values`` and seeded ``sample_counts``.

Layout: a batch of states is a tensor of shape (B, 2, ..., 2) with axis 1 + q holding qubit q, so
flattening puts qubit 0 in the most significant bit (the bit order of docs/architecture.md) with no conversion.

Batching: parameter bindings (B_p rows) and inputs (B_i rows) broadcast like NumPy's leading axis:
equal sizes pair row by row, and a size of 1 is shared by every row of the other.

Everything is differentiable by autograd with respect to parameter values and input vectors.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ..exceptions import EncodingError, ParameterError
from ..ir.circuit import Circuit
from ..ir.gates import GATES
from ..ir.observables import PauliSum
from ..ir.parameters import ParameterExpression, batch_size_of
from . import fusion

__all__ = [
    "simulate",
    "apply_matrix",
    "apply_controlled",
    "probabilities",
    "marginal_probabilities",
    "expectation_values",
    "sample_counts",
    "circuit_unitary",
    "batch_size_of",
]


def _real_dtype(cdtype: torch.dtype) -> torch.dtype:
    return torch.float64 if cdtype == torch.complex128 else torch.float32


def _as_tensor(x: Any, dtype: torch.dtype, device) -> torch.Tensor:
    if torch.is_tensor(x):
        return x.to(device=device, dtype=dtype) if (x.dtype != dtype or x.device != torch.device(device)) else x
    return torch.as_tensor(np.asarray(x), dtype=dtype, device=device)


def _param_columns(circuit: Circuit, parameter_values: Any, rdtype, device) -> tuple[dict[str, torch.Tensor], int]:
    names = circuit.parameter_names
    if not names:
        return {}, 1
    if parameter_values is None:
        raise ParameterError(
            f"the circuit has free parameters {list(names)}; pass parameter_values",
        )
    if isinstance(parameter_values, Mapping):
        cols = {}
        for n in names:
            if n not in parameter_values:
                raise ParameterError(f"no value for parameter {n!r}", parameter=n)
            v = _as_tensor(parameter_values[n], rdtype, device)
            cols[n] = v.reshape(-1)
        return cols, batch_size_of(*(c.shape[0] for c in cols.values()))
    values = _as_tensor(parameter_values, rdtype, device)
    if values.dim() == 1:
        values = values.unsqueeze(0)
    if values.dim() != 2 or values.shape[1] != len(names):
        raise ParameterError(
            f"parameter_values must have shape (batch, {len(names)}) for parameters "
            f"{list(names)}, got {tuple(values.shape)}"
        )
    return {n: values[:, i] for i, n in enumerate(names)}, values.shape[0]


def _eval_param(p: Any, cols: Mapping[str, torch.Tensor]) -> Any:
    return p.evaluate(cols) if isinstance(p, ParameterExpression) else p


def apply_matrix(state: torch.Tensor, matrix: torch.Tensor, qubits: Sequence[int]) -> torch.Tensor:
    """Apply a (..., 2^k, 2^k) matrix to ``qubits`` of a (B, 2, ..., 2) state batch."""
    n = state.dim() - 1
    k = len(qubits)
    src = [q + 1 for q in qubits]
    dst = list(range(n + 1 - k, n + 1))
    moved = torch.movedim(state, src, dst)
    shape = moved.shape
    flat = moved.reshape(shape[0], -1, 2**k)
    mt = matrix.transpose(-1, -2)
    if mt.dim() == 3:
        out = torch.matmul(flat, mt)
    else:
        out = flat @ mt
    out = out.reshape(out.shape[0], *shape[1:])
    return torch.movedim(out, dst, src)


def apply_controlled(state: torch.Tensor, matrix: torch.Tensor, controls: Sequence[int], target: int) -> torch.Tensor:
    """A (..., 2, 2) matrix on ``target`` where every control is 1, in a (B, 2, ..., 2) state batch.

    The matrix acts on the slice where the controls are 1 only (a 2^-k part of the state), never
    as a dense 2^(k+1) matrix; the rest is copied once.
    """
    n = state.dim() - 1
    b = batch_size_of(state.shape[0], matrix.shape[0] if matrix.dim() == 3 else 1)
    if state.shape[0] != b:
        state = state.expand(b, *state.shape[1:])
    index: list[Any] = [slice(None)] * (n + 1)
    for c in controls:
        index[c + 1] = 1
    where = tuple(index)
    axis = target - sum(1 for c in controls if c < target)  # the target's axis in the slice
    out = state.clone()
    out[where] = apply_matrix(state[where], matrix, [axis])
    return out


def op_params(op: Any, cols: Mapping[str, torch.Tensor], rdtype: torch.dtype, device: Any) -> list[torch.Tensor]:
    """An instruction's parameters as tensors: bound columns for symbols, scalars for numbers."""
    ps = [_eval_param(p, cols) for p in op.params]
    return [p if torch.is_tensor(p) else torch.tensor(float(p), dtype=rdtype, device=device) for p in ps]


def mcu_matrix(params: Sequence[torch.Tensor], cdtype: torch.dtype, device: Any) -> torch.Tensor:
    """``e^{i gamma} u(theta, phi, lam)``, batched over tensor parameters like the gate matrices."""
    theta, phi, lam, gamma = params
    u = GATES["u"].matrix_fn(theta, phi, lam, cdtype=cdtype, device=device)
    phase = torch.polar(torch.ones_like(gamma), gamma).to(cdtype)
    return u * phase.reshape(*phase.shape, 1, 1)


def _encode(state: torch.Tensor, vec: torch.Tensor, qubits: Sequence[int], fresh: bool) -> torch.Tensor:
    """Replace |0...0> on ``qubits`` by ``vec`` (B_v, 2^k) in a (B, 2, ..., 2) state batch."""
    n = state.dim() - 1
    k = len(qubits)
    if fresh and k == n and list(qubits) == list(range(n)):
        return vec.reshape(vec.shape[0], *([2] * n))
    rest = state
    for q in sorted(qubits, reverse=True):
        rest = rest.select(q + 1, 0)
    others = [q for q in range(n) if q not in qubits]
    b = batch_size_of(rest.shape[0], vec.shape[0])
    joined = rest.reshape(rest.shape[0], -1, 1) * vec.reshape(vec.shape[0], 1, 2**k)
    joined = joined.reshape(b, *([2] * n))  # axes: others in order, then qubits in order
    order = others + list(qubits)
    return torch.movedim(joined, list(range(1, n + 1)), [q + 1 for q in order])


def _rows_text(rows: list[int], total: int) -> str:
    shown = ", ".join(map(str, rows[:10])) + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")
    return f"row{'s' if len(rows) > 1 else ''} {shown}"


def row_scales(t: torch.Tensor, name: str) -> torch.Tensor:
    """Each row's largest |entry|, (B, 1), detached, in the dtype of ``t``. Rows with NaN or inf
    entries raise :class:`EncodingError` naming them."""
    with torch.no_grad():
        entries = torch.view_as_real(t) if t.is_complex() else t
        # NaN and inf survive the maximum: one reduction checks the rows and gives their scales
        # (an isfinite pass over every entry costs ten times as much)
        scale = entries.flatten(1).abs().amax(1, keepdim=True)
        finite = torch.isfinite(scale).squeeze(1)
        if not bool(finite.all()):
            bad = (~finite).nonzero().flatten().tolist()
            raise EncodingError(
                f"input {name!r} has non-finite entries (NaN or inf) in {_rows_text(bad, t.shape[0])}; "
                "clean or drop those rows before encoding", instruction="amplitude_encode", rows=bad,
            )
        return scale


def checked_row_norms(t: torch.Tensor, name: str) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Norms of the rows of a 2-D real or complex tensor, checked in one pass: ``(norms, None)``
    with norms (B, 1) when all are finite and none underflows, or ``(None, scale)`` when finite
    entries overflow or underflow the norm (scale (B, 1): each row's largest |entry|, 0 for a zero
    row). NaN or inf entries raise :class:`EncodingError` naming ``name`` and the rows. The norms
    keep autograd history; the checks do not."""
    scale = row_scales(t, name)
    norms = torch.linalg.vector_norm(t, dim=1, keepdim=True)
    with torch.no_grad():
        if bool(torch.isfinite(norms).all()) and bool(((norms > 0) == (scale > 0)).all()):
            return norms, None
    return None, scale


def normalised_rows(x: Any, size: int, cdtype, device, name: str) -> torch.Tensor:
    """Rows of ``x`` (B, d <= size) divided by their norms; real stays real (in the real dtype
    of ``cdtype``). NaN/inf entries and zero rows are refused with a typed error naming the rows.
    Every row is first divided by its largest |entry|, in the input's own precision, so that
    finite rows whose norm would overflow or underflow (1e300, 1e-300, or 1e-30 in single
    precision) are encoded like any other row, never called zero or non-finite."""
    t = x if torch.is_tensor(x) else torch.as_tensor(np.asarray(x), device=device)
    if t.dim() == 1:
        t = t.unsqueeze(0)
    if t.dim() != 2:
        raise EncodingError(f"input {name!r} must have shape (batch, d), got {tuple(t.shape)}", instruction="amplitude_encode")
    if t.shape[1] > size or t.shape[1] == 0:
        raise EncodingError(
            f"input {name!r} has {t.shape[1]} features but the encoding register holds {size} amplitudes",
            instruction="amplitude_encode",
        )
    if t.dtype == torch.bool or not (t.is_floating_point() or t.is_complex()):
        t = t.to(torch.float64)  # integers: exact in double, then scaled like any row
    t = t.to(device=device)
    scale = row_scales(t, name)
    zero = (scale.squeeze(1) == 0).nonzero().flatten().tolist()
    if zero:
        raise EncodingError(
            f"input {name!r} {_rows_text(zero, t.shape[0])} {'is a zero vector' if len(zero) == 1 else 'are zero vectors'} "
            "and cannot be amplitude-encoded; add a bias or drop the row",
            instruction="amplitude_encode", rows=zero,
        )
    if not bool(((scale >= 1e-18) & (scale <= 1e18)).all()):
        # squares of such entries leave single precision's range: rescale (the common case skips it)
        t = t / scale
    t = t.to(dtype=cdtype if t.is_complex() else _real_dtype(cdtype))
    norms = torch.linalg.vector_norm(t, dim=1, keepdim=True)
    with torch.no_grad():
        tiny = not bool((torch.isfinite(norms) & (norms > 0)).all())
    if tiny:  # single precision from a single-precision input at its limits
        t = t / row_scales(t, name).clamp_min(torch.finfo(t.real.dtype if t.is_complex() else t.dtype).tiny)
        norms = torch.linalg.vector_norm(t, dim=1, keepdim=True)
    return t / norms


def _normalise_inputs(x: Any, size: int, cdtype, device, name: str) -> torch.Tensor:
    """:func:`normalised_rows`, zero-padded to ``size`` amplitudes, as complex."""
    t = normalised_rows(x, size, cdtype, device, name)
    if t.shape[1] < size:
        t = torch.nn.functional.pad(t, (0, size - t.shape[1]))
    return t.to(cdtype)


#: Runs of at least this many consecutive constant gates are fused into dense blocks
#: (:mod:`qbridge.sim.fusion`); shorter runs are applied gate by gate, as before, because fusing
#: them saves less than its own bookkeeping costs.
FUSE_MIN_GATES = 64


def _fused_runs(ops: Sequence[Any]) -> dict[int, int]:
    """Start -> stop of each run of at least FUSE_MIN_GATES consecutive constant gates."""
    runs: dict[int, int] = {}
    start = None
    for i, op in enumerate([*ops, None]):
        if op is not None and fusion.fusable(op):
            start = i if start is None else start
            continue
        if start is not None and i - start >= FUSE_MIN_GATES:
            runs[start] = i
        start = None
    return runs


def simulate(
    circuit: Circuit,
    parameter_values: Any = None,
    inputs: Mapping[str, Any] | None = None,
    *,
    dtype: torch.dtype = torch.complex64,
    device: Any = "cpu",
    initial_state: torch.Tensor | None = None,
) -> torch.Tensor:
    """Final state vectors, shape (B, 2^n), in the bit order of docs/architecture.md."""
    n = circuit.num_qubits
    rdtype = _real_dtype(dtype)
    cols, bp = _param_columns(circuit, parameter_values, rdtype, device)
    inputs = dict(inputs or {})
    missing = set(circuit.inputs) - set(inputs)
    if missing:
        raise EncodingError(
            f"no value for encoded input(s) {sorted(missing)}; pass inputs={{name: array of shape (batch, d)}}",
            instruction="amplitude_encode",
        )
    vecs = {
        name: _normalise_inputs(inputs[name], size, dtype, device, name) for name, size in circuit.inputs.items()
    }
    batch_size_of(bp, *(v.shape[0] for v in vecs.values()))
    if initial_state is None:
        state = torch.zeros((1, 2**n), dtype=dtype, device=device)
        state[:, 0] = 1
    else:
        state = _as_tensor(initial_state, dtype, device).reshape(-1, 2**n)
    state = state.reshape(state.shape[0], *([2] * n))
    touched: set[int] = set()
    ops = [op for op in circuit if op.name not in ("barrier", "measure")]
    fused_from = _fused_runs(ops)
    i = 0
    while i < len(ops):
        op = ops[i]
        if i in fused_from:
            stop = fused_from[i]
            state = fusion.apply_blocks(state, fusion.fuse(ops[i:stop]))
            for o in ops[i:stop]:
                touched.update(o.qubits)
            i = stop
            continue
        i += 1
        if op.name == "amplitude_encode":
            if isinstance(op.source, str):
                vec = vecs[op.source]
            else:
                vec = torch.tensor(op.source, dtype=dtype, device=device).reshape(1, -1)
            state = _encode(state, vec, op.qubits, fresh=not touched and initial_state is None)
        elif op.name == "unitary":
            state = apply_matrix(state, torch.tensor(op.matrix, dtype=dtype, device=device), op.qubits)
        else:
            ps = op_params(op, cols, rdtype, device)
            if op.name == "mcu":
                state = apply_controlled(state, mcu_matrix(ps, dtype, device), op.qubits[:-1], op.qubits[-1])
            else:
                state = apply_matrix(state, GATES[op.name].matrix_fn(*ps, cdtype=dtype, device=device), op.qubits)
        touched.update(op.qubits)
    out = state.reshape(state.shape[0], 2**n)
    phase = _eval_param(circuit.global_phase, cols)
    if torch.is_tensor(phase) or phase != 0.0:
        ph = phase if torch.is_tensor(phase) else torch.tensor(float(phase), dtype=rdtype, device=device)
        out = out * torch.polar(torch.ones_like(ph), ph).to(dtype).reshape(-1, 1)
    return out


def probabilities(state: torch.Tensor) -> torch.Tensor:
    """|amplitude|^2, shape (B, 2^n), real."""
    return state.real**2 + state.imag**2


def marginal_probabilities(probs: torch.Tensor, num_qubits: int, qubits: Sequence[int]) -> torch.Tensor:
    """Probabilities of ``qubits`` (first listed = most significant), summed over the rest."""
    qubits = list(qubits)
    if qubits == list(range(num_qubits)):
        return probs
    t = probs.reshape(probs.shape[0], *([2] * num_qubits))
    others = [q + 1 for q in range(num_qubits) if q not in qubits]
    if others:
        t = t.sum(dim=others)
    kept = sorted(qubits)
    perm = [0] + [kept.index(q) + 1 for q in qubits]
    return t.permute(perm).reshape(probs.shape[0], 2 ** len(qubits))


def _z_signs(num_qubits: int, support: Sequence[int], dtype, device) -> torch.Tensor:
    idx = torch.arange(2**num_qubits, device=device)
    parity = torch.zeros_like(idx)
    for q in support:
        parity ^= (idx >> (num_qubits - 1 - q)) & 1
    return (1 - 2 * parity).to(dtype)


def expectation_values(state: torch.Tensor, observables: Sequence[PauliSum]) -> torch.Tensor:
    """<psi|O|psi> for each observable, shape (B, len(observables)), real."""
    B, dim = state.shape
    n = int(math.log2(dim))
    rdtype = _real_dtype(state.dtype)
    probs = None
    psi = state.reshape(B, *([2] * n))
    out = []
    for obs in observables:
        total = torch.zeros(B, dtype=rdtype, device=state.device)
        for term in obs.terms:
            if set(term.paulis) <= {"I", "Z"}:
                if probs is None:
                    probs = probabilities(state)
                val = probs @ _z_signs(n, term.support, rdtype, state.device)
            else:
                phi = psi
                for q, p in enumerate(term.paulis):
                    if p in ("Z", "Y"):
                        sign = torch.tensor([1.0, -1.0], dtype=rdtype, device=state.device)
                        phi = phi * sign.reshape([1] * (q + 1) + [2] + [1] * (n - q - 1))
                flips = [q + 1 for q, p in enumerate(term.paulis) if p in ("X", "Y")]
                if flips:
                    phi = phi.flip(flips)
                inner = (psi.conj() * phi).reshape(B, -1).sum(dim=1)
                ny = term.paulis.count("Y") % 4
                # Y = i X Z: the factor i^ny multiplies the inner product
                val = [inner.real, -inner.imag, -inner.real, inner.imag][ny]
            total = total + term.coeff * val
        out.append(total)
    return torch.stack(out, dim=1) if out else torch.zeros((B, 0), dtype=rdtype, device=state.device)


def sample_counts(probs: Any, shots: int, seed: int | None) -> np.ndarray:
    """Seeded multinomial counts, shape (B, 2^m): the same seed gives the same counts."""
    p = probs.detach().to("cpu", torch.float64).numpy() if torch.is_tensor(probs) else np.asarray(probs, float)
    p = np.clip(p, 0.0, None)
    p = p / p.sum(axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    return rng.multinomial(shots, p)


def circuit_unitary(circuit: Circuit, parameter_values: Any = None, *, dtype=torch.complex128, device="cpu") -> Any:
    """The circuit's unitary, U[i, j] = <i|U|j>; NumPy for bound circuits, else torch (B, d, d)."""
    if circuit.inputs or any(op.name == "amplitude_encode" for op in circuit):
        raise EncodingError("a circuit with amplitude encoding is a state preparation, not a unitary")
    dim = 2**circuit.num_qubits
    from ..limits import check_memory, statevector_bytes

    itemsize = torch.empty((), dtype=dtype).element_size()
    check_memory(statevector_bytes(circuit.num_qubits, dim, itemsize),
                 f"the {dim}x{dim} unitary of a {circuit.num_qubits}-qubit circuit",
                 "simulate states instead of the unitary, or use fewer qubits", device=device)
    eye = torch.eye(dim, dtype=dtype, device=device)
    if not circuit.parameter_names:
        out = simulate(circuit, None, dtype=dtype, device=device, initial_state=eye)
        return out.T.cpu().numpy()
    # one column block per binding: simulate the identity basis for every binding
    cols, bp = _param_columns(circuit, parameter_values, _real_dtype(dtype), device)
    rep = {k: v.repeat_interleave(dim) for k, v in cols.items()}
    states = simulate(circuit, rep, dtype=dtype, device=device, initial_state=eye.repeat(bp, 1))
    return states.reshape(bp, dim, dim).transpose(1, 2)
