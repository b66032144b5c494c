"""QISA: quantum-inspired self-attention (Kuznetsov, Ismagilov, Campos; arXiv 2603.03318).

Owns: one QISA attention head, in its two value variants and two aggregation forms, and the
fast inference path through precomputed observables.

Scores (both variants): ``q = W_q x + b_q``, ``k = W_k x + b_k`` (Linear(d, h) with bias),
``alpha_ij = exp(-||q_i - k_j||^2)``, causal mask (j > i set to -inf), softmax over j of alpha
itself, no 1/sqrt(d) scale and no attention dropout. (The softmax is applied to alpha, not to
its logarithm, as in the authors' code.)

Values:

- ``variant="qisa"``: ``v' = W_v x`` (Linear(d, d), no bias), zero-padded to 2^n amplitudes
  (n = ceil(log2 d)) and NOT normalised; ``val_m = Re <v'|P_m|v'>`` for h Pauli strings P_m.
  For real v' only strings with an even number of Y contribute: with an odd number, P_m is
  imaginary and the channel is identically zero (about 35% of the draws, kept as in the paper).
- ``variant="qisa_a"``: x amplitude-encoded (normalised) on n qubits, the 3n-parameter circuit
  RX, RY on every qubit, a CNOT ring, RY on every qubit (:func:`qbridge.nn.ansatz.qisa_a`), and
  ``val_m = <psi|U^dag P_m U|psi>``, run as a :class:`~qbridge.nn.QuantumLayer` on any backend.
  A zero x gives zero values (it is not sent to the encoder).

Pauli strings (:func:`draw_pauli_strings`): each character is I with probability 0.9, else X, Y
or Z uniformly; an all-identity string is redrawn; the first character acts on qubit 0, the most
significant bit of the amplitude index (the bit order of docs/architecture.md). ``seed`` fixes the draw.

Aggregation:

- ``"causal"`` (default, correct): ``out_i = sum_{j <= i} A[i, j] val_j``, i.e. ``A @ val``.
- ``"as_published"``: ``out = A^T @ val``, i.e. ``out_i = sum_{j >= i} A[j, i] val_j``, as in
  the public code. It reads the values of later positions, including the token to be predicted:
  NOT causal, for reproducing the paper's numbers only (:func:`qbridge.audit.check_causal`
  flags it).

Fast inference: ``val_m = x^T O'_m x`` with ``O'_m = W_v^T Re(P_m) W_v`` (QISA) or
``O'_m = Re(U^dag P_m U)`` restricted to the first d amplitudes, on the normalised x (QISA-A):
h quadratic forms per token, no simulation. Used automatically in eval mode without gradients
(the cache is rebuilt when the weights change) where it is exact by construction: QISA, and
QISA-A on the ``torch`` backend without shots. QISA-A on any other backend, or with shots, runs
its circuits there in eval mode too. :meth:`QISAAttention.fast_values` calls it directly.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..backends.base import Backend
from ..ir.circuit import Circuit
from ..ir.observables import PauliSum
from ..sim import fastpath
from .ansatz import qisa_a
from .checks import check_d_model
from .layer import QuantumLayer

__all__ = ["QISAAttention", "draw_pauli_strings", "pauli_action_tables"]


def draw_pauli_strings(count: int, num_qubits: int, seed: int | None = None) -> list[str]:
    """``count`` Pauli strings: I with probability 0.9, else X/Y/Z; all-identity redrawn."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        chars = []
        for _ in range(num_qubits):
            chars.append("I" if rng.random() < 0.9 else "XYZ"[int(rng.integers(3))])
        s = "".join(chars)
        if set(s) != {"I"}:
            out.append(s)
    return out


def pauli_action_tables(strings: list[str], num_qubits: int) -> tuple[np.ndarray, np.ndarray]:
    """(index, sign) tables with ``Re (P_m v)[i] = sign[m, i] * v[index[m, i]]`` for real v.

    sign is 0 for strings with an odd number of Y (their action on a real vector is imaginary).
    """
    N = 2**num_qubits
    idx = np.arange(N)
    index = np.zeros((len(strings), N), dtype=np.int64)
    sign = np.zeros((len(strings), N))
    for m, s in enumerate(strings):
        flip = 0
        phase = np.ones(N, dtype=complex)
        for q, c in enumerate(s):
            bit = (idx >> (num_qubits - 1 - q)) & 1
            if c in "XY":
                flip |= 1 << (num_qubits - 1 - q)
            if c == "Z":
                phase *= 1 - 2 * bit
            elif c == "Y":
                # (Y v)[0] = -i v[1], (Y v)[1] = i v[0]: the row's own bit picks the phase
                phase *= np.where(bit == 0, -1j, 1j)
        index[m] = idx ^ flip
        sign[m] = phase.real
    return index, sign


class QISAAttention(nn.Module):
    """One QISA head: (B, T, d_model) -> (B, T, n_pauli). See the module docstring.

    Args:
        d_model: input width d.
        n_pauli: h, the number of Pauli strings = query/key width = output width (default d).
        variant: "qisa" (classical quadratic values) or "qisa_a" (amplitude-encoded circuit).
        aggregation: "causal" (default) or "as_published" (leaks future tokens; paper only).
        seed: seeds the Pauli-string draw (and nothing else).
        backend, shots, gradient, ...: for the QISA-A circuit (a QuantumLayer).
        sample_seed: seeds the QISA-A circuit's shots (the QuantumLayer's ``seed``).
    """

    def __init__(
        self,
        d_model: int,
        n_pauli: int | None = None,
        *,
        variant: str = "qisa",
        aggregation: str = "causal",
        seed: int | None = 0,
        backend: str | Backend | None = "torch",
        shots: int | None = None,
        sample_seed: int | None = None,
        gradient: str = "auto",
        init: Any = "uniform",
        backend_options: dict | None = None,
    ) -> None:
        super().__init__()
        check_d_model(d_model)
        if variant not in ("qisa", "qisa_a"):
            raise ValueError(f"variant must be 'qisa' or 'qisa_a', got {variant!r}")
        if aggregation not in ("causal", "as_published"):
            raise ValueError(f"aggregation must be 'causal' or 'as_published', got {aggregation!r}")
        h = n_pauli or d_model
        self.d_model, self.n_pauli, self.variant, self.aggregation = d_model, h, variant, aggregation
        n = self.num_qubits = max(1, math.ceil(math.log2(d_model)))
        self.pauli_strings = draw_pauli_strings(h, n, seed)
        index, sign = pauli_action_tables(self.pauli_strings, n)
        self.register_buffer("_index", torch.as_tensor(index), persistent=False)
        self.register_buffer("_sign", torch.as_tensor(sign, dtype=torch.get_default_dtype()), persistent=False)
        self.q = nn.Linear(d_model, h)
        self.k = nn.Linear(d_model, h)
        if variant == "qisa":
            self.v = nn.Linear(d_model, d_model, bias=False)
            self.values_layer = None
        else:
            self.v = None
            circuit = Circuit(n).amplitude_encode("x").compose(qisa_a(n))
            self.values_layer = QuantumLayer(
                circuit, list(self.pauli_strings), backend, shots=shots, seed=sample_seed, gradient=gradient, zero_rows="zero",
                init=init, backend_options=backend_options,
            )
        self._fast_cache: tuple[Any, torch.Tensor] | None = None

    # -- values ---------------------------------------------------------------------------------
    def values(self, x: torch.Tensor) -> torch.Tensor:
        """(..., d) -> (..., h) values, by simulation (QISA-A) or the Pauli action (QISA)."""
        if self.variant == "qisa_a":
            return self.values_layer(x)
        N = 2**self.num_qubits
        v = F.pad(self.v(x), (0, N - self.d_model))  # (..., N), not normalised
        sign = self._sign.to(v.dtype)
        gathered = v[..., self._index]  # (..., h, N): v[index[m, i]]
        return (sign * v.unsqueeze(-2) * gathered).sum(-1)

    def observables(self) -> torch.Tensor:
        """O'_m as an (h, d, d) tensor (see the module docstring)."""
        d = self.d_model
        dev = self.q.weight.device
        # dense P_m (first character on qubit 0, the MSB); complex: QISA-A's U is complex, so
        # odd-Y strings contribute there
        P = torch.as_tensor(np.stack([PauliSum.parse(s).to_matrix() for s in self.pauli_strings]), device=dev)
        if self.variant == "qisa":
            W = self.v.weight.to(torch.float64)  # v' = W x: (d, d), real
            return torch.einsum("ai,mab,bj->mij", W, P.real[:, :d, :d], W)  # W^T Re(P_m) W
        layer = self.values_layer
        ansatz = Circuit(self.num_qubits).compose(qisa_a(self.num_qubits))
        U = fastpath.unitary(ansatz, layer.weights.detach().to(torch.float64).unsqueeze(0), dtype=torch.complex128, device=dev)
        O = torch.einsum("ai,mab,bj->mij", U.conj(), P, U).real  # Re(U^dag P_m U): x real
        return O[:, :d, :d]

    def fast_values(self, x: torch.Tensor) -> torch.Tensor:
        """Values by the precomputed quadratic forms x^T O'_m x (QISA-A: on x / |x|)."""
        key = self._weights_key()
        if self._fast_cache is None or self._fast_cache[0] != key:
            self._fast_cache = (key, self.observables())
        O = self._fast_cache[1].to(x.dtype)
        if self.variant == "qisa_a":
            sq = (x * x).sum(-1, keepdim=True)
            ok = sq > 0
            x = x * torch.rsqrt(torch.where(ok, sq, torch.ones_like(sq))) * ok
        return torch.einsum("...i,mij,...j->...m", x, O, x)

    def _fast_is_exact(self) -> bool:
        """Whether :meth:`fast_values` computes what :meth:`values` would: always for QISA; for
        QISA-A only when its circuit runs exactly on the embedded ``torch`` backend without a
        noise model. On any other backend, with noise or with shots, inference must go to that
        backend (a noisy emulator or a QPU) rather than quietly become a local exact computation."""
        if self.variant == "qisa":
            return True
        from ..backends.torch import TorchBackend

        layer = self.values_layer
        return (isinstance(layer.backend, TorchBackend) and getattr(layer.backend, "noise", None) is None
                and layer.shots is None)

    def _weights_key(self) -> tuple:
        w = self.v.weight if self.variant == "qisa" else self.values_layer.weights
        return (w.data_ptr(), w._version, w.dtype, str(w.device))

    # -- forward --------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        q, k = self.q(x), self.k(x)  # (B, T, h)
        alpha = torch.exp(-((q.unsqueeze(2) - k.unsqueeze(1)) ** 2).sum(-1))  # (B, T, T)
        future = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
        A = F.softmax(alpha.masked_fill(future, float("-inf")), dim=-1)
        fast = not self.training and not torch.is_grad_enabled() and self._fast_is_exact()
        val = self.fast_values(x) if fast else self.values(x)  # (B, T, h)
        if self.aggregation == "causal":
            return A @ val  # out_i = sum_{j<=i} A[i, j] val_j
        return A.transpose(-1, -2) @ val  # as published: out_i = sum_{j>=i} A[j, i] val_j (leaks)

    def extra_repr(self) -> str:
        return (
            f"d_model={self.d_model}, n_pauli={self.n_pauli}, variant={self.variant!r}, "
            f"aggregation={self.aggregation!r}, strings={self.pauli_strings}"
        )
