"""Normalisation of measured outputs (QuantumNAT's post-measurement normalisation).

Owns: :class:`MeasurementNorm`, which standardises each readout feature of a quantum layer
(every probability or expectation value) to zero mean and unit variance over the rows of a
forward pass; and :func:`as_normalize`, the check of the ``normalize=`` argument of the layers.

Why: noise mostly shrinks and shifts what a circuit measures (depolarizing noise pulls every
expectation value towards zero and every probability towards 1/2^n). A layer that sees only the
standardised readout is blind to that affine distortion, so weights trained on a simulator (with
or without injected noise) keep their meaning on a noisier device (Wang et al., QuantumNAT,
DAC 2022). Standardising with the statistics of the batch at hand is what makes it adapt to the
device it runs on; running statistics are kept for single-row forwards.

Modes (``normalize=``):

- ``"batch"`` (``True``): the statistics of the current rows, in training and evaluation alike
  (QuantumNAT's choice); a forward with one row uses the running statistics gathered in training.
- ``"running"``: as ``torch.nn.BatchNorm1d``: batch statistics in training, running statistics in
  evaluation (``model.eval()``): outputs of one row do not depend on the other rows.

Must not touch: the backend or the circuit; rows a layer did not send (zero rows) are excluded
by the caller. There is no affine part: the layers that use it (QFFN) carry their own gain and bias.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["MeasurementNorm", "NORMALIZE_MODES", "as_normalize"]

NORMALIZE_MODES = ("batch", "running")


def as_normalize(value: Any) -> str | None:
    """``normalize=`` as None (off) or one of :data:`NORMALIZE_MODES`."""
    if value is None or value is False:
        return None
    if value is True:
        return "batch"
    if isinstance(value, str) and value in NORMALIZE_MODES:
        return value
    raise ValueError(f"normalize must be False, True, 'batch' or 'running', got {value!r}")


class MeasurementNorm(nn.Module):
    """Standardise each of ``num_features`` readout features over the rows (module docstring).

    Input and output (N, num_features). Buffers ``running_mean`` and ``running_var`` follow
    ``torch.nn.BatchNorm1d`` (momentum 0.1, unbiased running variance), in the layer's dtype
    and device.
    """

    def __init__(self, num_features: int, mode: str = "batch", eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        mode = as_normalize(mode)
        if mode is None:
            raise ValueError("MeasurementNorm needs a mode: 'batch' or 'running'")
        if not 0.0 < float(momentum) <= 1.0:
            raise ValueError(f"momentum must lie in (0, 1], got {momentum!r}")
        if not float(eps) > 0.0:
            raise ValueError(f"eps must be positive, got {eps!r}")
        self.num_features = int(num_features)
        self.mode = mode
        self.eps = float(eps)
        self.momentum = float(momentum)
        self.register_buffer("running_mean", torch.zeros(self.num_features))
        self.register_buffer("running_var", torch.ones(self.num_features))
        self.register_buffer("num_batches_tracked", torch.zeros((), dtype=torch.long))

    def extra_repr(self) -> str:
        return f"{self.num_features}, mode={self.mode!r}, eps={self.eps}, momentum={self.momentum}"

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        if e.dim() != 2 or e.shape[1] != self.num_features:
            raise ValueError(f"MeasurementNorm expects (N, {self.num_features}) readouts, got {tuple(e.shape)}")
        rows = e.shape[0]
        use_batch = self.training or (self.mode == "batch" and rows > 1)
        if use_batch:
            if rows < 2:
                raise ValueError(
                    "normalize: training needs at least 2 rows per forward to standardise the readout over; "
                    "train on batches of 2 or more tokens, or build the layer with normalize=False")
            mean = e.mean(dim=0)
            var = e.var(dim=0, unbiased=False)
            if self.training:
                with torch.no_grad():
                    m = self.momentum
                    self.running_mean.mul_(1 - m).add_(mean.detach().to(self.running_mean.dtype), alpha=m)
                    unbiased = var.detach() * (rows / (rows - 1))
                    self.running_var.mul_(1 - m).add_(unbiased.to(self.running_var.dtype), alpha=m)
                    self.num_batches_tracked += 1
        else:
            if int(self.num_batches_tracked) == 0:
                raise ValueError(
                    "normalize: a forward on one row in evaluation uses the running statistics of training, "
                    "and this layer has not been trained; evaluate batches of 2 or more rows, or train first")
            mean = self.running_mean.to(e.dtype)
            var = self.running_var.to(e.dtype)
        return (e - mean) * torch.rsqrt(var + self.eps)
