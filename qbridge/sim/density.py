"""Noisy simulation in PyTorch: batched density matrices and Monte-Carlo trajectories.

Owns: the kernels of the ``torch`` backend under a :class:`qbridge.noise.NoiseModel`, as pure
functions: :func:`simulate_density` (circuit + bindings + inputs + model -> density matrices),
:func:`density_probabilities`, :func:`density_expectation_values`, the channels as
superoperators (:func:`channel_superoperator`), and :func:`simulate_trajectories` (state vectors
of sampled Kraus branches, seeded by a ``torch.Generator``).

Must not touch: backends, results or any SDK. Readout errors are classical and applied by the
caller (:func:`qbridge.noise.apply_readout`); these kernels apply gate errors only.

Layout: a batch of density matrices is (B, 2^n, 2^n) with rho[b, i, j] = <i|rho|j> in the bit
order of docs/architecture.md. Internally it is a (B, 2, ..., 2) tensor of 2n axes, row qubit q
on axis 1 + q and column qubit q on axis 1 + n + q, so a gate U on qubits qs is U on the row axes
and conj(U) on the column axes, and a channel with Kraus operators K_i is the matrix
sum_i K_i (x) conj(K_i) on the row and column axes of its qubits -- the state-vector kernel
:func:`qbridge.sim.statevector.apply_matrix` does both.

Every tensor is created on the device and in the dtype of the run (``device=``, ``dtype=``), never
on an implicit default device; everything is differentiable by autograd with respect to
parameter values and input vectors (trajectories: through the sampled branches; the choice of
branch itself is not differentiated).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ..exceptions import EncodingError
from ..ir.circuit import Circuit
from ..ir.gates import GATES
from ..ir.observables import PauliSum
from ..noise import Channel, NoiseModel
from . import statevector as sv
from .fusion import apply_lazily

__all__ = [
    "simulate_density",
    "encoded_readout_applies",
    "heisenberg_readout",
    "density_probabilities",
    "density_expectation_values",
    "channel_superoperator",
    "simulate_trajectories",
]


def channel_superoperator(channel: Channel, *, dtype: torch.dtype, device: Any) -> torch.Tensor:
    """sum_i K_i (x) conj(K_i): the channel on row-major vectorised density matrices (4^k, 4^k)."""
    kraus = channel.kraus()
    s = sum(np.kron(k, k.conj()) for k in kraus)
    return torch.as_tensor(s, dtype=dtype, device=device)


def _inputs(circuit: Circuit, inputs: Mapping[str, Any] | None, dtype, device) -> dict[str, torch.Tensor]:
    inputs = dict(inputs or {})
    missing = set(circuit.inputs) - set(inputs)
    if missing:
        raise EncodingError(
            f"no value for encoded input(s) {sorted(missing)}; pass inputs={{name: array of shape (batch, d)}}",
            instruction="amplitude_encode",
        )
    return {name: sv._normalise_inputs(inputs[name], size, dtype, device, name) for name, size in circuit.inputs.items()}


def _gate_matrix(op: Any, cols: Mapping[str, torch.Tensor], dtype, device) -> torch.Tensor:
    """The gate's matrix; for ``mcu`` the 2x2 matrix of its target (see :func:`_apply_gate`)."""
    if op.name == "unitary":
        return torch.tensor(op.matrix, dtype=dtype, device=device)
    ps = sv.op_params(op, cols, sv._real_dtype(dtype), device)
    if op.name == "mcu":
        return sv.mcu_matrix(ps, dtype, device)
    return GATES[op.name].matrix_fn(*ps, cdtype=dtype, device=device)


def _apply_gate(state: torch.Tensor, op: Any, u: torch.Tensor, shift: int = 0) -> torch.Tensor:
    """``u`` (from :func:`_gate_matrix`) on the op's qubits, moved by ``shift`` axes."""
    qs = [q + shift for q in op.qubits]
    if op.name == "mcu":
        return sv.apply_controlled(state, u, qs[:-1], qs[-1])
    return sv.apply_matrix(state, u, qs)


def simulate_density(
    circuit: Circuit,
    parameter_values: Any = None,
    inputs: Mapping[str, Any] | None = None,
    *,
    noise: NoiseModel | None = None,
    dtype: torch.dtype = torch.complex64,
    device: Any = "cpu",
) -> torch.Tensor:
    """Final density matrices (B, 2^n, 2^n) of ``circuit`` from |0...0> with the model's gate errors."""
    n = circuit.num_qubits
    noise = noise or NoiseModel()
    cols, bp = sv._param_columns(circuit, parameter_values, sv._real_dtype(dtype), device)
    vecs = _inputs(circuit, inputs, dtype, device)
    sv.batch_size_of(bp, *(v.shape[0] for v in vecs.values()))
    rho = torch.zeros((1, 4**n), dtype=dtype, device=device)
    rho[:, 0] = 1
    rho = rho.reshape(1, *([2] * (2 * n)))
    supers: dict[Channel, torch.Tensor] = {}
    for op in circuit:
        if op.name in ("barrier", "measure"):
            continue
        qs = list(op.qubits)
        cqs = [q + n for q in qs]
        if op.name == "amplitude_encode":
            vec = vecs[op.source] if isinstance(op.source, str) else torch.tensor(
                op.source, dtype=dtype, device=device).reshape(1, -1)
            # |0..0><0..0| on these qubits becomes |v><v| (the qubits are fresh: the state-vector
            # kernel's "replace |0...0>" on the row and the column axes)
            rho = sv._encode(rho, vec, qs, fresh=False)
            rho = sv._encode(rho, vec.conj(), cqs, fresh=False)
        else:
            u = _gate_matrix(op, cols, dtype, device)
            rho = _apply_gate(rho, op, u)
            rho = _apply_gate(rho, op, u.conj(), n)
        for channel, on in noise.channels_for(op.name, op.qubits):
            s = supers.get(channel)
            if s is None:
                s = supers[channel] = channel_superoperator(channel, dtype=dtype, device=device)
            rho = sv.apply_matrix(rho, s, list(on) + [q + n for q in on])
    out = rho.reshape(rho.shape[0], 2**n, 2**n)
    # a global phase cancels in rho: nothing to apply
    return out


def encoded_readout_applies(circuit: Circuit, batch_rows: int, param_rows: int) -> bool:
    """Whether :func:`heisenberg_readout` serves this run, and is the cheaper way.

    It needs the shape of the quantum layers: one run-time ``amplitude_encode`` of all qubits
    first, then gates whose parameters are shared by every row (one binding). It pays when there
    are more rows than the 2^n operators it evolves (module notes of :func:`heisenberg_readout`).
    """
    ops = [op for op in circuit if op.name not in ("barrier", "measure")]
    if not ops or param_rows != 1:
        return False
    first = ops[0]
    n = circuit.num_qubits
    if first.name != "amplitude_encode" or not isinstance(first.source, str) or tuple(first.qubits) != tuple(range(n)):
        return False
    if any(op.name in ("amplitude_encode", "mcu") for op in ops[1:]):  # blocks of at most 3 qubits
        return False
    return batch_rows > 2**n


def _then(total: torch.Tensor, s: torch.Tensor, pos: Sequence[int], k: int) -> torch.Tensor:
    """``s`` applied after the superoperator ``total`` on k qubits, ``s`` acting on the qubits at
    positions ``pos``: the columns of total are states of 2k "qubits" (rows, then columns)."""
    states = total.transpose(0, 1).reshape(4**k, *([2] * (2 * k)))
    return sv.apply_matrix(states, s, list(pos) + [p + k for p in pos]).reshape(4**k, 4**k).transpose(0, 1)


def _gate_superoperator(op: Any, u: torch.Tensor, noise: NoiseModel, dtype, device,
                        cache: dict) -> torch.Tensor:
    """The gate followed by its errors as ONE superoperator on [row axes of its qubits, column
    axes of its qubits] (4^k, 4^k), row-major vectorisation as in :func:`channel_superoperator`."""
    qs = list(op.qubits)
    k = len(qs)
    total = torch.kron(u, u.conj())
    for channel, on in noise.channels_for(op.name, op.qubits):
        s = cache.get(channel)
        if s is None:
            s = cache[channel] = channel_superoperator(channel, dtype=dtype, device=device)
        total = _then(total, s, [qs.index(q) for q in on], k)
    return total


#: Gates are multiplied into superoperators on up to this many qubits (64 x 64 matrices) before
#: they touch the evolved operators: one pass over 4^n * (2^n + K) numbers per block instead of per gate.
BLOCK_QUBITS = 3


def _embed_superoperator(s: torch.Tensor, pos: list[int], m: int, dtype, device) -> torch.Tensor:
    """``s`` on the qubits at positions ``pos`` of an m-qubit block, identity on the others."""
    return _then(torch.eye(4**m, dtype=dtype, device=device), s, pos, m)


def _superoperator_blocks(gates: list[tuple[list[int], torch.Tensor]], max_qubits: int, dtype,
                          device) -> list[tuple[list[int], torch.Tensor]]:
    """Consecutive gate superoperators multiplied into blocks on at most ``max_qubits`` qubits,
    in circuit order; each block's axes are [its qubits ascending (rows), the same (columns)]."""
    blocks: list[tuple[list[int], torch.Tensor]] = []
    cur_q: list[int] = []
    cur: torch.Tensor | None = None
    for qs, s in gates:
        union = sorted(set(cur_q) | set(qs))
        if cur is not None and len(union) > max_qubits:
            blocks.append((cur_q, cur))
            cur_q, cur, union = [], None, sorted(qs)
        m = len(union)
        if cur is None:
            cur = _embed_superoperator(s, [union.index(q) for q in qs], m, dtype, device)
        else:
            if len(union) > len(cur_q):
                cur = _embed_superoperator(cur, [union.index(q) for q in cur_q], m, dtype, device)
            cur = _then(cur, s, [union.index(q) for q in qs], m)
        cur_q = union
    if cur is not None:
        blocks.append((cur_q, cur))
    return blocks


def heisenberg_readout(
    circuit: Circuit,
    parameter_values: Any,
    inputs: Mapping[str, Any],
    *,
    noise: NoiseModel,
    observables: Sequence[PauliSum] = (),
    dtype: torch.dtype = torch.complex64,
    device: Any = "cpu",
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Noisy probabilities (B, 2^n) and expectation values (B, K) of an encode-then-evolve circuit.

    Why: a quantum layer encodes each row |psi_b> and then applies the same noisy channel E (the
    weights are shared). Evolving B density matrices costs B * 4^n per gate; instead the readout
    operators are evolved backwards once (the Heisenberg picture, E^dagger, 2^n projectors |j><j|
    and K observables) and each row is read with two small matrix products:
    p_j(b) = <psi_b| E^dagger(|j><j|) |psi_b>. Gate and errors are one superoperator per gate.
    Same results as :func:`simulate_density` (tests/test_noise_heisenberg.py), autograd-exact
    in the weights and the inputs; the caller checks :func:`encoded_readout_applies`.
    """
    n = circuit.num_qubits
    N = 2**n
    ops = [op for op in circuit if op.name not in ("barrier", "measure")]
    cols, _ = sv._param_columns(circuit, parameter_values, sv._real_dtype(dtype), device)
    psi = _inputs(circuit, inputs, dtype, device)[ops[0].source]  # (B, N), normalised rows
    # operators to evolve: the N projectors, then each observable as a dense matrix
    mats = [torch.diag_embed(torch.eye(N, dtype=dtype, device=device))]  # (N, N, N): |j><j|
    for obs in observables:
        mats.append(torch.as_tensor(obs.to_matrix(), dtype=dtype, device=device).reshape(1, N, N))
    x = torch.cat(mats, 0).reshape(-1, *([2] * (2 * n)))
    cache: dict = {}
    gates = []
    for op in ops[1:]:
        u = _gate_matrix(op, cols, dtype, device)
        if u.dim() == 3:  # one binding shared by every row
            u = u[0]
        gates.append((list(op.qubits), _gate_superoperator(op, u, noise, dtype, device, cache)))
    blocks = _superoperator_blocks(gates, BLOCK_QUBITS, dtype, device)
    x = apply_lazily(x, [(s.conj().transpose(0, 1), qs + [q + n for q in qs]) for qs, s in reversed(blocks)])
    m = x.reshape(-1, N, N)  # (N + K, N, N): M_j = E^dagger(|j><j|), then E^dagger(O_k)
    # <psi|M|psi> for every row and operator: (B, N) x (N, (N+K) N) then a row-wise dot product
    t = psi.conj() @ m.permute(1, 0, 2).reshape(N, -1)  # (B, (N+K) N)
    vals = (t.reshape(psi.shape[0], -1, N) * psi.unsqueeze(1)).sum(-1).real
    probs = vals[:, :N]
    ev = vals[:, N:] if observables else None
    return probs, ev


def density_probabilities(rho: torch.Tensor) -> torch.Tensor:
    """The diagonal of each density matrix, real, (B, 2^n)."""
    return torch.diagonal(rho, dim1=1, dim2=2).real


def density_expectation_values(rho: torch.Tensor, observables: Sequence[PauliSum]) -> torch.Tensor:
    """Tr(rho O) for each observable, (B, len(observables)), real.

    For a Pauli word P with flipped bits f (X, Y) and phase(k) = i^#Y prod_{Z,Y} (-1)^k_q,
    P|k> = phase(k) |k xor f>, so Tr(rho P) = sum_k phase(k) rho[k, k xor f].
    """
    B, dim, _ = rho.shape
    n = int(math.log2(dim))
    rdtype = sv._real_dtype(rho.dtype)
    t = rho.reshape(B, *([2] * (2 * n)))
    out = []
    for obs in observables:
        total = torch.zeros(B, dtype=rdtype, device=rho.device)
        for term in obs.terms:
            flips = [1 + n + q for q, p in enumerate(term.paulis) if p in ("X", "Y")]
            m = t.flip(flips) if flips else t
            diag = torch.diagonal(m.reshape(B, dim, dim), dim1=1, dim2=2)
            signs = sv._z_signs(n, [q for q, p in enumerate(term.paulis) if p in ("Z", "Y")], rdtype, rho.device)
            inner = (diag * signs).sum(dim=1)
            ny = term.paulis.count("Y") % 4
            val = [inner.real, -inner.imag, -inner.real, inner.imag][ny]
            total = total + term.coeff * val
        out.append(total)
    return torch.stack(out, dim=1) if out else torch.zeros((B, 0), dtype=rdtype, device=rho.device)


def simulate_trajectories(
    circuit: Circuit,
    parameter_values: Any = None,
    inputs: Mapping[str, Any] | None = None,
    *,
    noise: NoiseModel | None = None,
    trajectories: int,
    generator: torch.Generator,
    dtype: torch.dtype = torch.complex64,
    device: Any = "cpu",
) -> torch.Tensor:
    """State vectors of ``trajectories`` sampled noise histories per row, (B, T, 2^n).

    After each gate, each channel picks Kraus branch i with probability ||K_i psi||^2 (drawn with
    ``generator``, which must live on ``device``) and the state becomes K_i psi / ||K_i psi||.
    The mean of |psi|^2 over trajectories is an unbiased estimate of the density matrix's
    diagonal; its standard error is the spread over trajectories / sqrt(T).
    """
    if isinstance(trajectories, bool) or not isinstance(trajectories, int) or trajectories < 1:
        raise ValueError(f"trajectories must be a positive integer, got {trajectories!r}")
    n = circuit.num_qubits
    T = trajectories
    noise = noise or NoiseModel()
    cols, bp = sv._param_columns(circuit, parameter_values, sv._real_dtype(dtype), device)
    vecs = _inputs(circuit, inputs, dtype, device)
    B = sv.batch_size_of(bp, *(v.shape[0] for v in vecs.values()))

    def widen(x: torch.Tensor) -> torch.Tensor:  # rows (1 or B) -> B*T rows, trajectory fastest
        return x.expand(B, *x.shape[1:]).repeat_interleave(T, dim=0)

    cols = {k: widen(v.reshape(-1)) for k, v in cols.items()}
    vecs = {k: widen(v) for k, v in vecs.items()}
    state = torch.zeros((B * T, 2**n), dtype=dtype, device=device)
    state[:, 0] = 1
    state = state.reshape(B * T, *([2] * n))
    kraus: dict[Channel, torch.Tensor] = {}
    for op in circuit:
        if op.name in ("barrier", "measure"):
            continue
        if op.name == "amplitude_encode":
            vec = vecs[op.source] if isinstance(op.source, str) else torch.tensor(
                op.source, dtype=dtype, device=device).reshape(1, -1)
            state = sv._encode(state, vec, op.qubits, fresh=False)
        else:
            state = _apply_gate(state, op, _gate_matrix(op, cols, dtype, device))
        for channel, on in noise.channels_for(op.name, op.qubits):
            ks = kraus.get(channel)
            if ks is None:
                ks = kraus[channel] = torch.as_tensor(channel.kraus(), dtype=dtype, device=device)
            branches = torch.stack([sv.apply_matrix(state, k, on) for k in ks], dim=1)  # (BT, m, 2, ..)
            weights = (branches.real**2 + branches.imag**2).flatten(2).sum(2)  # (BT, m)
            with torch.no_grad():
                pick = torch.multinomial(weights.clamp_min(0), 1, generator=generator)  # (BT, 1)
            w = weights.gather(1, pick).squeeze(1)
            chosen = branches[torch.arange(B * T, device=device), pick.squeeze(1)]
            state = chosen / torch.sqrt(w).to(dtype).reshape(-1, *([1] * n))
    return state.reshape(B, T, 2**n)
