"""QFFN: the quantum feed-forward network of "Less Bits, More Qubits".

Owns: the quantum replacement of a transformer's FFN sub-layer: amplitude encoding of each hidden
vector, a variational circuit U(theta) of depth D, and a readout back to d outputs, with the
choices the paper leaves open made and written down here.

Shapes: input (..., d) (typically (B, T, d)); every row (token) is one circuit execution; output
(..., d). n = ceil(log2 d) qubits (at least 1); the vector is zero-padded to 2^n amplitudes.

The norm. Amplitude encoding keeps only the direction x / |x|. QFFN keeps r = |x| classically
and multiplies the readout by it, so the layer is positively homogeneous of degree one
(QFFN(a x) = a QFFN(x) for a > 0 before the bias), like a bias-free linear map, and its output
scale follows its input scale. The Jacobian of r * h(x / r) stays bounded as |x| shrinks.

Readout "probabilities" (default). With p_j the probability of basis state j (q0 the most
significant bit) and N = 2^n::

    y_j = gain_j * r * (N p_j - 1) / sqrt(N) + bias_j,     j < d

Why this scale: probabilities are non-negative and sum to one, so a raw readout would be a
positive, tiny (~1/N) vector. Centering on the uniform value 1/N makes the outputs signed;
for a state spread over the basis, N p_j - 1 has mean 0 and standard deviation about 1, so with
the 1/sqrt(N) factor |y| is about |x|: the layer neither shrinks nor blows up the residual stream
it is added to. Unlike sqrt(p_j) (whose derivative diverges at p_j = 0), the readout is a
quadratic form in the amplitudes: smooth everywhere, and exactly what a shot-based backend
estimates without bias. ``gain`` (ones) and ``bias`` (zeros) are a per-channel affine map
(``affine=False`` drops it).

Readout "pauli": K Pauli expectations e (default: Z_i on every qubit and Z_i Z_{i+1} on the
CNOT-ring pairs: K = 2n for n >= 3; all diagonal, so one measurement setting serves all) and
``y = r * (W e) + b`` with W a (d x K) matrix: a small Linear back to d.

Zero rows (padding tokens, dead activations): a row with |x| = 0 has no direction to encode. It
is never sent to the encoder; its quantum term is zero (the limit of r * h as r -> 0), so its
output is exactly ``bias`` (zeros at initialisation) and its gradients are finite. Never NaN.

Parameter count, beside the classical FFN Linear(d, 4d) - GELU - Linear(4d, d) with 8d^2 + 5d:

- probabilities readout: 2 n D (RY and RZ per qubit per layer) + 2 d (gain, bias);
- pauli readout: 2 n D + K d + d.

For d = 256, D = 4 (n = 8): 576 (probabilities) or 4,416 (pauli, K = 16) against 525,568.

Default ansatz per layer: RY and RZ on every qubit, then a CNOT ring (``ansatz=`` takes a name
from :data:`qbridge.nn.ansatz.ANSATZE`, a callable ``(n, depth, prefix=...) -> Circuit`` or a
circuit). Circuit weights start near zero (N(0, 0.1), ``init=`` to change), where U is close to
the CNOT-ring permutation and the layer starts as a signed, scaled map of squared features
rather than a random scrambler.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import torch
from torch import nn

from ..backends.base import Backend
from ..ir.circuit import Circuit
from ..ir.observables import PauliSum
from .ansatz import build_ansatz, cnot_ring
from .checks import check_d_model, check_finite_rows, check_int
from .layer import QuantumLayer, RunPreview, own_precision

__all__ = ["QFFN", "default_pauli_observables", "classical_ffn_parameters"]


def classical_ffn_parameters(d: int) -> int:
    """Parameters of Linear(d, 4d) + Linear(4d, d): 8 d^2 + 5 d."""
    return 8 * d * d + 5 * d


def default_pauli_observables(n: int) -> list[str]:
    """Z_i on every qubit, then Z_i Z_j on the CNOT-ring pairs."""
    obs = []
    for q in range(n):
        s = ["I"] * n
        s[q] = "Z"
        obs.append("".join(s))
    for a, b in cnot_ring(n):
        s = ["I"] * n
        s[a] = s[b] = "Z"
        obs.append("".join(s))
    return obs


class QFFN(nn.Module):
    """Quantum feed-forward network (see the module docstring for every choice made).

    Args:
        d_model: width d of the hidden vectors.
        depth: D, the number of ansatz layers (the paper used 4 to 8).
        backend: backend name or object (default "torch").
        readout: "probabilities" or "pauli".
        ansatz: ansatz name, callable or circuit (default RY+RZ layers with a CNOT ring).
        observables: Pauli strings for readout="pauli" (default :func:`default_pauli_observables`).
        affine: per-channel gain and bias after the probabilities readout.
        noise: a noise model for the backend (noise-aware training on ``torch``).
        normalize: standardise the readout over the tokens of a forward (QuantumNAT); with it,
            the probabilities readout is ``y = gain * r * p_hat / sqrt(N) + bias``, p_hat the
            standardised probabilities (the same scale as ``N p - 1``).
        shots, seed, gradient, input_gradient, init, init_scale, cost_estimator,
        backend_options: passed to :class:`~qbridge.nn.QuantumLayer`.
    """

    def __init__(
        self,
        d_model: int,
        depth: int = 4,
        backend: str | Backend | None = "torch",
        *,
        readout: str = "probabilities",
        ansatz: str | Callable[..., Circuit] | Circuit = "ry_rz_ring",
        observables: Sequence[str | PauliSum] | None = None,
        affine: bool = True,
        shots: int | None = None,
        seed: int | None = None,
        gradient: str = "auto",
        input_gradient: str = "shift",
        init: str | torch.Tensor = "normal",
        init_scale: float = 0.1,
        cost_estimator: Callable[[RunPreview], Any] | None = None,
        backend_options: dict | None = None,
        noise: Any = None,
        normalize: bool | str = False,
    ) -> None:
        super().__init__()
        d_model = check_d_model(d_model)
        depth = check_int("depth", depth, 0)
        if readout not in ("probabilities", "pauli"):
            raise ValueError(f"readout must be 'probabilities' or 'pauli', got {readout!r}")
        self.d_model = d_model
        self.depth = depth
        self.num_qubits = n = max(1, math.ceil(math.log2(d_model)))
        self.readout = readout
        U = build_ansatz(ansatz, n, depth)
        circuit = Circuit(n).amplitude_encode("x").compose(U)
        if readout == "probabilities":
            obs: Any = "probabilities"
        else:
            obs = list(observables) if observables is not None else default_pauli_observables(n)
        self.quantum = QuantumLayer(
            circuit, obs, backend, shots=shots, seed=seed, gradient=gradient, input_gradient=input_gradient,
            zero_rows="zero", init=init, init_scale=init_scale, cost_estimator=cost_estimator,
            backend_options=backend_options, noise=noise, normalize=normalize,
        )
        self.normalize = self.quantum.normalize
        dim = 2**n
        if readout == "probabilities":
            self.scale = math.sqrt(dim)  # y = r (N p - 1) / sqrt(N) = r (sqrt(N) p - 1/sqrt(N))
            self.gain = nn.Parameter(torch.ones(d_model)) if affine else None
            self.bias = nn.Parameter(torch.zeros(d_model)) if affine else None
            self.proj = None
        else:
            K = len(self.quantum.programs[0].observables)
            self.proj = nn.Linear(K, d_model, bias=False)
            self.bias = nn.Parameter(torch.zeros(d_model))
            self.gain = None

    @property
    def circuit(self) -> Circuit:
        return self.quantum.programs[0].circuit

    def parameter_count(self) -> dict[str, int]:
        """This layer's trainable parameters beside the classical FFN's 8d^2 + 5d."""
        return {
            "qffn": sum(p.numel() for p in self.parameters() if p.requires_grad),
            "circuit": self.quantum.num_weights,
            "classical_ffn": classical_ffn_parameters(self.d_model),
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.d_model:
            raise ValueError(f"QFFN expects (..., {self.d_model}) inputs, got {tuple(x.shape)}")
        lead = x.shape[:-1]
        w = self.quantum.weights
        check_finite_rows(x.reshape(-1, self.d_model), "x")  # NaN/inf rows: refused, named
        # the norm and the readout belong to the quantum part: they run in the module's own
        # precision, under autocast too (layer.own_precision), on bfloat16 inputs as well
        with own_precision(w.device):
            flat = x.reshape(-1, self.d_model).to(w.dtype)  # (N, d)
            r = torch.linalg.vector_norm(flat, dim=1, keepdim=True)  # (N, 1); its gradient at 0 is 0
            e = self.quantum(flat)  # (N, 2^n) or (N, K); zero rows come back as zeros
            if self.readout == "probabilities":
                # y = gain * r (N p - 1) / sqrt(N) + bias, as two fused multiply-adds; a zero row has
                # r = 0 and so gives exactly the bias
                if self.normalize:  # e is already standardised: y = gain * r * e / sqrt(N) + bias
                    t = e[:, : self.d_model] * (r / self.scale)
                else:
                    t = torch.addcmul(-r / self.scale, e[:, : self.d_model], r * self.scale)  # (N, d)
                y = torch.addcmul(self.bias, t, self.gain) if self.gain is not None else t
            else:
                y = torch.addcmul(self.bias, r, self.proj(e))
        return y.reshape(*lead, self.d_model)

    def preview(self, batch_size: int, seq_len: int = 1, **kwargs: Any) -> RunPreview:
        """One training step's circuits and shots for ``batch_size`` x ``seq_len`` tokens."""
        return self.quantum.preview(batch_size * seq_len, **kwargs)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, qubits={self.num_qubits}, depth={self.depth}, readout={self.readout!r}"
