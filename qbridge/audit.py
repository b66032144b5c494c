"""Audits of trained or untrained models: does information flow only where it should?

Owns: :func:`check_causal`, an empirical causality test for sequence models. For every cut
position t it replaces all inputs after t (tokens, or input vectors) with fresh random ones and
checks that the outputs at positions 0..t are unchanged. A model that passes for every cut, on
several random batches, does not read the future through any path the test exercised; one that
fails is certainly leaking, and the verdict says from which output position on.

It needs a deterministic model: it switches the model to eval mode (dropout off) for the check
and restores the mode afterwards. Shot-based quantum layers are random: audit them on an exact
backend.

Must not touch: the model's parameters (everything runs under ``torch.no_grad``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

__all__ = ["CausalityVerdict", "check_causal"]


@dataclass(frozen=True)
class CausalityVerdict:
    """Result of :func:`check_causal`.

    ``causal``: no earlier output changed beyond ``tolerance``; ``first_leaking_position``: the
    earliest output position that changed when only later inputs changed (None if causal);
    ``max_change``: the largest such change; ``per_position``: the largest change seen at each
    output position (over every cut after it).
    """

    causal: bool
    first_leaking_position: int | None
    max_change: float
    tolerance: float
    seq_len: int
    trials: int
    per_position: tuple[float, ...] = field(default=())

    def __bool__(self) -> bool:
        return self.causal

    def __str__(self) -> str:
        if self.causal:
            return (
                f"causal: no output changed when later inputs changed (max change {self.max_change:.3g} "
                f"<= tolerance {self.tolerance:.3g}; seq_len {self.seq_len}, {self.trials} trial(s))"
            )
        return (
            f"NOT causal: output position {self.first_leaking_position} changes when later inputs change "
            f"(max change {self.max_change:.3g} > tolerance {self.tolerance:.3g})"
        )


def _output_tensor(out: Any) -> torch.Tensor:
    """The per-position tensor of a model output: a tensor, ``.logits``, or the first item."""
    if torch.is_tensor(out):
        return out
    if hasattr(out, "logits") and torch.is_tensor(out.logits):
        return out.logits
    if isinstance(out, dict):
        for key in ("logits", "last_hidden_state"):
            if key in out:
                return out[key]
    if isinstance(out, (tuple, list)) and out and torch.is_tensor(out[0]):
        return out[0]
    raise TypeError(
        f"cannot read a per-position tensor from a model output of type {type(out).__name__}; "
        "pass output_fn to pick it"
    )


def _infer_input(model: nn.Module, vocab_size: int | None, d_model: int | None) -> tuple[str, int]:
    if vocab_size is not None:
        return "tokens", int(vocab_size)
    if d_model is not None:
        return "vectors", int(d_model)
    cfg = getattr(model, "config", None)
    if cfg is not None and getattr(cfg, "vocab_size", None):
        return "tokens", int(cfg.vocab_size)
    for m in model.modules():
        if isinstance(m, nn.Embedding):
            return "tokens", m.num_embeddings
        if isinstance(m, nn.Linear):
            return "vectors", m.in_features
    raise ValueError("cannot tell what the model takes: pass vocab_size (token ids), d_model (vectors) or input_builder")


def check_causal(
    model: nn.Module | Callable[[torch.Tensor], Any],
    seq_len: int,
    *,
    vocab_size: int | None = None,
    d_model: int | None = None,
    input_builder: Callable[[torch.Generator, int, int], torch.Tensor] | None = None,
    batch_size: int = 2,
    trials: int = 2,
    tolerance: float | None = None,
    seed: int = 0,
    output_fn: Callable[[Any], torch.Tensor] | None = None,
    dtype: torch.dtype | None = None,
    device: Any = None,
) -> CausalityVerdict:
    """Find leaks from future positions into earlier outputs (module docstring).

    Args:
        model: a module (or callable) taking (B, T) token ids or (B, T, d) vectors and returning
            (B, T, ...) per-position outputs (a tensor, an object with ``.logits``, or a tuple
            whose first item is that tensor). Flattened (B*T, ...) outputs are reshaped.
        seq_len: T.
        vocab_size / d_model: what inputs to draw (inferred from the model when omitted:
            ``config.vocab_size``, the first Embedding, or the first Linear).
        input_builder: ``(generator, batch, seq_len) -> inputs`` to draw inputs yourself.
        batch_size, trials: random batches per cut, and independent repetitions.
        tolerance: largest change counted as numerical noise; default
            ``1e-5 * (1 + max |output|)`` (float64: 1e-10 relative).
        seed: the random draws are reproducible.
    """
    if seq_len < 2:
        raise ValueError("seq_len must be at least 2 to test causality")
    gen = torch.Generator().manual_seed(seed)
    if input_builder is None:
        kind, size = _infer_input(model, vocab_size, d_model) if isinstance(model, nn.Module) else (
            ("tokens", vocab_size) if vocab_size is not None else ("vectors", d_model)
        )
        if size is None:
            raise ValueError("pass vocab_size or d_model (or input_builder) for a plain callable")
        if dtype is None and kind == "vectors" and isinstance(model, nn.Module):
            p = next(iter(model.parameters()), None)
            dtype = p.dtype if p is not None and p.is_floating_point() else torch.get_default_dtype()

        def build(g: torch.Generator, B: int, T: int) -> torch.Tensor:
            if kind == "tokens":
                return torch.randint(0, size, (B, T), generator=g)
            return torch.randn(B, T, size, generator=g, dtype=dtype or torch.get_default_dtype())
    else:
        build = input_builder
    if device is None and isinstance(model, nn.Module):
        p = next(iter(model.parameters()), None)
        device = p.device if p is not None else None
    read = output_fn or _output_tensor
    was_training = model.training if isinstance(model, nn.Module) else None
    if isinstance(model, nn.Module):
        model.eval()
    T = seq_len
    per_pos = torch.zeros(T, dtype=torch.float64)
    scale = 0.0
    try:
        with torch.no_grad():
            for _ in range(trials):
                base = build(gen, batch_size, T)
                variants = []
                for t in range(T - 1):  # cut after position t: positions t+1.. are redrawn
                    fresh = build(gen, batch_size, T)
                    v = base.clone()
                    v[:, t + 1:] = fresh[:, t + 1:]
                    variants.append(v)
                inputs = torch.cat([base] + variants, dim=0)
                if device is not None:
                    inputs = inputs.to(device)
                out = read(model(inputs))
                raw_dtype = out.dtype
                out = out.reshape(inputs.shape[0], T, -1).to(torch.float64).cpu()
                ref = out[:batch_size]
                scale = max(scale, float(ref.abs().max()) if ref.numel() else 0.0)
                for t in range(T - 1):
                    o = out[batch_size * (t + 1): batch_size * (t + 2)]
                    diff = (o[:, : t + 1] - ref[:, : t + 1]).abs().amax(dim=(0, 2))  # (t+1,)
                    per_pos[: t + 1] = torch.maximum(per_pos[: t + 1], diff)
    finally:
        if was_training:
            model.train()
    if tolerance is None:
        rel = 1e-10 if raw_dtype == torch.float64 else 1e-5
        tolerance = rel * (1.0 + scale)
    leaks = (per_pos > tolerance).nonzero()
    first = int(leaks[0]) if len(leaks) else None
    return CausalityVerdict(
        causal=first is None,
        first_leaking_position=first,
        max_change=float(per_pos.max()),
        tolerance=float(tolerance),
        seq_len=T,
        trials=trials,
        per_position=tuple(float(v) for v in per_pos),
    )
