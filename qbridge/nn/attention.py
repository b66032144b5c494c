"""Quantum attention heads, alone or mixed with classical heads.

Owns: :class:`OverlapAttentionHead` (the seed paper's "small circuit computing an interaction
or kernel" of query and key), :class:`QSANNAttentionHead` (Li et al. 2022, Gaussian
self-attention on per-token circuit readouts) and :class:`HybridMultiheadAttention` (a fraction
of the heads of a multi-head attention replaced by quantum heads).

Overlap head: the kernel, and why it is trainable
--------------------------------------------------
Queries and keys are projected to d_h and amplitude-encoded on m = ceil(log2 d_h) qubits. The
similarity is the transition probability

    s_ij = |<k_j| U(theta) |q_i>|^2        (q, k normalised)

i.e. encode q_i, apply U(theta), then un-prepare k_j and read the probability of |0...0>. The
symmetric overlap |<U q|U k>|^2 would equal |<q|k>|^2 for every U, so theta would learn nothing;
here U acts on the query side only, and s_ij is a learned, asymmetric kernel: for real inputs and
U = A + iB it is (k^T A q)^2 + (k^T B q)^2, a sum of two squared bilinear forms that a real
projection W_q alone cannot express. Logits are tau * s_ij with a trainable temperature tau
(init max(2, sqrt(d_h))), since s lies in [0, 1] and an untempered softmax would be nearly flat;
then the causal mask, softmax and classical values (Linear(d, d_h)) as usual.

Two ways to evaluate s_ij, chosen by ``method``:

- "statevector" (exact simulators with backprop, the default on ``torch``): one submission
  computes U|q_i> for every token; the overlaps with the (classically normalised) keys are then
  a matrix product. Exact and cheap (T circuits, not T^2).
- "swap_test" (every backend, shots or not): per pair (i, j <= i) one circuit on 2m + 1 qubits:
  encode q_i on register A and k_j on register B, U on A, then a swap test with ancilla qubit 0:
  <Z_anc> = |<k_j|U q_i>|^2. All pairs of the batch go out as one submission.

Both compute the same number (tests check it). A zero query or key row scores 0.

QSANN head
----------
Each token x is projected by a Linear(d, 2^m) (with bias) and amplitude-encoded; this replaces
QSANN's angle embedding so that one circuit template serves every backend. Three circuits with
their own weights act on the encoded token: U_q gives the scalar q = <Z_0>, U_k gives k = <Z_0>,
U_v gives the 3m values <X_i>, <Y_i>, <Z_i>. All three go out in one submission (a
:class:`~qbridge.nn.QuantumLayer` with three programs). Ansatz: ``depth`` layers of RX, RY on every
qubit and a CNOT ring, then a final RX, RY layer. Weights alpha_ij = exp(-(q_i - k_j)^2),
normalised over the unmasked j (a softmax of -(q_i - k_j)^2); the output is sum_j alpha_ij v_j
mapped by a Linear(3m, d_h). Causal by default (mask j > i), as a decoder needs; the original
QSANN is bidirectional (``causal=False``). Zero rows give q = k = 0 and zero values.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..backends.base import Backend, Task
from ..ir.circuit import Circuit
from .ansatz import build_ansatz, hardware_efficient
from .checks import check_d_model, check_int
from .layer import QuantumLayer, resolve_backend

__all__ = ["OverlapAttentionHead", "QSANNAttentionHead", "HybridMultiheadAttention"]


def _causal_mask(T: int, device) -> torch.Tensor:
    """(T, T) boolean, True where j > i (the future)."""
    return torch.ones(T, T, dtype=torch.bool, device=device).triu(1)


def _qubits_for(d: int) -> int:
    return max(1, math.ceil(math.log2(d)))


class OverlapAttentionHead(nn.Module):
    """One attention head whose scores are |<k_j|U(theta)|q_i>|^2 (module docstring)."""

    def __init__(
        self,
        d_model: int,
        d_head: int,
        *,
        backend: str | Backend | None = "torch",
        depth: int = 2,
        ansatz: Any = "ry_rz_ring",
        causal: bool = True,
        method: str = "auto",
        shots: int | None = None,
        seed: int | None = None,
        gradient: str = "auto",
        init: Any = "normal",
        init_scale: float = 0.1,
        backend_options: dict | None = None,
        noise: Any = None,
    ) -> None:
        super().__init__()
        check_int("d_model", d_model, 1), check_d_model(d_head, "d_head")
        if method not in ("auto", "statevector", "swap_test"):
            raise ValueError(f"method must be 'auto', 'statevector' or 'swap_test', got {method!r}")
        self.d_head = d_head
        self.causal = causal
        self.q_proj = nn.Linear(d_model, d_head)
        self.k_proj = nn.Linear(d_model, d_head)
        self.v_proj = nn.Linear(d_model, d_head)
        self.log_tau = nn.Parameter(torch.tensor(math.log(max(2.0, math.sqrt(d_head)))))
        m = self.num_qubits = _qubits_for(d_head)
        U = build_ansatz(ansatz, m, depth)
        backend_obj = resolve_backend(backend, backend_options, noise)
        target = backend_obj.target
        if method == "auto":
            can_sv = "backprop" in target.gradient_methods and target.supports_statevector and shots is None
            method = "statevector" if can_sv and gradient in ("auto", "backprop") else "swap_test"
        if method == "statevector" and ("backprop" not in target.gradient_methods or shots is not None):
            raise ValueError(
                "method='statevector' needs exact runs on a backend with backprop (the torch backend); "
                "use method='swap_test' on other backends or with shots"
            )
        self.method = method
        if method == "statevector":
            circuit = Circuit(m).amplitude_encode("q").compose(U)
            readout: Any = "probabilities"  # unused: the head reads the state vector itself
        else:
            A = list(range(1, m + 1))
            Bq = list(range(m + 1, 2 * m + 1))
            circuit = (
                Circuit(2 * m + 1).amplitude_encode("q", A).amplitude_encode("k", Bq).compose(U, A).h(0)
            )
            for a, b in zip(A, Bq):
                circuit = circuit.cswap(0, a, b)
            circuit = circuit.h(0)
            readout = "Z" + "I" * (2 * m)
        self.layer = QuantumLayer(
            circuit, readout, backend_obj, shots=shots, seed=seed,
            gradient="backprop" if method == "statevector" else gradient,
            zero_rows="zero", init=init, init_scale=init_scale,
        )

    def scores(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """s[b, i, j] = |<k_j|U|q_i>|^2 for q, k of shape (B, T, d_h); masked pairs are 0."""
        B, T, _ = q.shape
        if self.method == "statevector":
            return self._scores_statevector(q, k)
        if self.causal:
            ii, jj = torch.tril_indices(T, T, device=q.device)
        else:
            ii, jj = (t.reshape(-1) for t in torch.meshgrid(torch.arange(T, device=q.device), torch.arange(T, device=q.device), indexing="ij"))
        qp = q[:, ii, :].reshape(-1, self.d_head)  # (B * pairs, d_h)
        kp = k[:, jj, :].reshape(-1, self.d_head)
        z = self.layer(qp, kp).reshape(B, -1)  # (B, pairs): <Z_anc> = |<k|U q>|^2
        s = z.new_zeros((B, T, T))
        s = s.index_put((torch.arange(B, device=q.device)[:, None], ii[None, :], jj[None, :]), z)
        return s

    def _scores_statevector(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        B, T, dh = q.shape
        layer = self.layer
        flat_q = q.reshape(-1, dh)
        with torch.no_grad():
            q_ok = torch.linalg.vector_norm(flat_q, dim=1) > 0
        layer.executor.precision = layer._precision()
        psi = flat_q.new_zeros((flat_q.shape[0], 2**self.num_qubits), dtype=torch.complex128 if q.dtype == torch.float64 else torch.complex64)
        idx = q_ok.nonzero().squeeze(1)
        if idx.numel():
            prog = layer.programs[0]
            task = Task(prog.circuit, prog.binding(layer.weights), {"q": flat_q.index_select(0, idx)}, (), statevector=True)
            layer.executor.submissions += 1
            state = layer.backend.run(task, precision=layer.executor.precision).result()[0].statevector
            psi = psi.index_copy(0, idx, state.to(psi.dtype))
        psi = psi.reshape(B, T, -1)
        ksq = (k * k).sum(-1, keepdim=True)
        k_ok = ksq > 0
        khat = k * torch.rsqrt(torch.where(k_ok, ksq, torch.ones_like(ksq))) * k_ok  # zero keys stay zero
        khat = F.pad(khat, (0, psi.shape[-1] - dh)).to(psi.dtype)
        amp = torch.einsum("bjd,bid->bij", khat.conj(), psi)  # <k_j|U q_i>
        s = amp.real**2 + amp.imag**2
        return s.to(q.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, d_model) -> (B, T, d_head)."""
        B, T, _ = x.shape
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        logits = self.log_tau.exp() * self.scores(q, k)  # (B, T, T)
        if self.causal:
            logits = logits.masked_fill(_causal_mask(T, x.device), float("-inf"))
        return F.softmax(logits, dim=-1) @ v


class QSANNAttentionHead(nn.Module):
    """QSANN-style head: Gaussian weights of per-token <Z0> readouts (module docstring)."""

    def __init__(
        self,
        d_model: int,
        d_head: int,
        *,
        backend: str | Backend | None = "torch",
        num_qubits: int | None = None,
        depth: int = 1,
        causal: bool = True,
        shots: int | None = None,
        seed: int | None = None,
        gradient: str = "auto",
        init: Any = "normal",
        init_scale: float = 0.5,
        backend_options: dict | None = None,
        noise: Any = None,
    ) -> None:
        super().__init__()
        m = self.num_qubits = num_qubits or _qubits_for(d_head)
        self.causal = causal
        self.embed = nn.Linear(d_model, 2**m)
        circuits = []
        for role in ("q", "k", "v"):
            U = hardware_efficient(m, depth, rotations=("rx", "ry"), entangler="ring", prefix=f"{role}_", final_rotations=("rx", "ry"))
            circuits.append(Circuit(m).amplitude_encode("x").compose(U))
        z0 = "Z" + "I" * (m - 1)
        values = []
        for p in "XYZ":
            for q in range(m):
                s = ["I"] * m
                s[q] = p
                values.append("".join(s))
        self.layer = QuantumLayer(
            [(circuits[0], z0), (circuits[1], z0), (circuits[2], values)], backend=backend, shots=shots, seed=seed,
            gradient=gradient, zero_rows="zero", init=init, init_scale=init_scale, backend_options=backend_options,
            noise=noise,
        )
        self.out = nn.Linear(3 * m, d_head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, d_model) -> (B, T, d_head)."""
        B, T, _ = x.shape
        e = self.embed(x)  # (B, T, 2^m)
        q, k, v = self.layer(e)  # (B, T, 1), (B, T, 1), (B, T, 3m)
        logits = -(q - k.transpose(1, 2)) ** 2  # (B, T, T): -(q_i - k_j)^2
        if self.causal:
            logits = logits.masked_fill(_causal_mask(T, x.device), float("-inf"))
        alpha = F.softmax(logits, dim=-1)  # exp(-(q_i - k_j)^2) / sum_j
        return self.out(alpha @ v)


class HybridMultiheadAttention(nn.Module):
    """Multi-head self-attention with a fraction of quantum heads.

    ``round(n_heads * quantum_fraction)`` heads are quantum (``kind="overlap"`` or ``"qsann"``,
    each with its own projections), the rest are classical scaled dot-product heads sharing one
    QKV projection. Head outputs (d_h = d_model / n_heads each) are concatenated and mixed by an
    output Linear(d_model, d_model). Input and output (B, T, d_model). ``head_options`` go to
    every quantum head (depth, shots, gradient, ...).
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        quantum_fraction: float = 0.5,
        kind: str = "overlap",
        causal: bool = True,
        backend: str | Backend | None = "torch",
        dropout: float = 0.0,
        **head_options: Any,
    ) -> None:
        super().__init__()
        check_int("d_model", d_model, 1), check_int("n_heads", n_heads, 1)
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        if not 0.0 <= quantum_fraction <= 1.0:
            raise ValueError(f"quantum_fraction must lie in [0, 1], got {quantum_fraction}")
        if kind not in ("overlap", "qsann"):
            raise ValueError(f"kind must be 'overlap' or 'qsann', got {kind!r}")
        self.d_model, self.n_heads, self.causal = d_model, n_heads, causal
        self.d_head = d_model // n_heads
        self.n_quantum = int(round(n_heads * quantum_fraction))
        self.n_classical = n_heads - self.n_quantum
        self.kind = kind
        head_cls = OverlapAttentionHead if kind == "overlap" else QSANNAttentionHead
        self.quantum_heads = nn.ModuleList(
            head_cls(d_model, self.d_head, backend=backend, causal=causal, **head_options) for _ in range(self.n_quantum)
        )
        self.qkv = nn.Linear(d_model, 3 * self.n_classical * self.d_head) if self.n_classical else None
        self.out = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        heads = []
        if self.qkv is not None:
            q, k, v = self.qkv(x).split(self.n_classical * self.d_head, dim=2)
            # (B, T, h * d_h) -> (B, h, T, d_h)
            q, k, v = (t.view(B, T, self.n_classical, self.d_head).transpose(1, 2) for t in (q, k, v))
            y = F.scaled_dot_product_attention(
                q, k, v, is_causal=self.causal, dropout_p=self.dropout if self.training else 0.0
            )
            heads.append(y.transpose(1, 2).reshape(B, T, self.n_classical * self.d_head))
        heads += [h(x) for h in self.quantum_heads]
        return self.out(torch.cat(heads, dim=-1))
