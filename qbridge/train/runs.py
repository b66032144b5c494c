"""Models described by a few numbers, so that a command line, a benchmark and a resumed run
build exactly the same network.

:class:`ModelSpec` names a family (``gpt2``, ``llama``, ``qwen2`` from transformers, or ``tiny``,
qbridge's own :class:`~qbridge.train.TinyGPT`), its size, and what is quantum (a fraction of the
FFNs and of the attention heads, the circuit depth, the layer pattern, the backend).
:func:`build_model` makes it, with seeded initial weights: the same spec and seed give the same
model, and a spec with fractions 0 gives the classical twin of a hybrid spec, with the same
weights wherever the two share a module.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
from torch import nn

from .models import HF_FAMILIES, GPTConfig, TinyGPT, build_hf_model, hybridize

__all__ = ["ModelSpec", "build_model", "FAMILIES"]

FAMILIES = (*HF_FAMILIES, "tiny")


@dataclass(frozen=True)
class ModelSpec:
    family: str = "gpt2"
    vocab_size: int = 0
    d_model: int = 64
    n_layer: int = 4
    n_head: int = 4
    context: int = 64
    dropout: float = 0.0
    ffn_fraction: float = 0.0
    head_fraction: float = 0.0
    depth: int = 4
    pattern: str = "alternate"
    backend: str = "torch"
    ansatz: str = "ry_rz_ring"
    attention: str = "standard"  # tiny only: "standard" | "qisa" | "qisa_a"
    activation: str = "gelu"  # tiny only
    seed: int = 0
    noise: str | None = None  # JSON text of a qbridge.noise.NoiseModel, or an IBM fake device name
    normalize: bool | str = False  # QuantumNAT's normalisation of the quantum layers' readouts

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {self.family!r}")
        for name in ("ffn_fraction", "head_fraction"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise ValueError(f"{name} must be between 0 and 1, got {v}")
        if self.family == "tiny" and self.head_fraction:
            raise ValueError("the tiny family takes quantum attention as attention='qisa'; use head_fraction=0")

    @property
    def hybrid(self) -> bool:
        return bool(self.ffn_fraction or self.head_fraction or self.attention != "standard")

    def classical(self) -> "ModelSpec":
        """The same model with nothing quantum."""
        return replace(self, ffn_fraction=0.0, head_fraction=0.0, attention="standard", noise=None, normalize=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_model(spec: ModelSpec) -> nn.Module:
    """A freshly initialised model of ``spec`` (initial weights seeded by ``spec.seed``)."""
    if spec.vocab_size < 1:
        raise ValueError("ModelSpec.vocab_size must be set (the tokenizer's vocabulary size)")
    torch.manual_seed(spec.seed)
    if spec.family == "tiny":
        cfg = GPTConfig(vocab_size=spec.vocab_size, context=spec.context, d_model=spec.d_model, n_layer=spec.n_layer,
                        n_head=spec.n_head, dropout=spec.dropout, activation=spec.activation, attention=spec.attention,
                        seed=spec.seed)
        model: nn.Module = TinyGPT(cfg)
        if spec.ffn_fraction:
            model = hybridize(model, ffn_fraction=spec.ffn_fraction, depth=spec.depth, pattern=spec.pattern,
                              seed=spec.seed, backend=spec.backend, noise=spec.noise, normalize=spec.normalize)
            if spec.ansatz != "ry_rz_ring":
                model = _tiny_with_ansatz(model, spec)
        return model
    model = build_hf_model(spec.family, spec.vocab_size, d_model=spec.d_model, n_layer=spec.n_layer, n_head=spec.n_head,
                           context=spec.context, dropout=spec.dropout, seed=spec.seed)
    if spec.ffn_fraction or spec.head_fraction:
        from .. import hf

        extra: dict[str, Any] = {} if spec.ansatz == "ry_rz_ring" else {"ffn_options": {"ansatz": spec.ansatz}}
        if spec.noise is not None:
            extra["noise"] = spec.noise
        if spec.normalize:
            extra.setdefault("ffn_options", {})["normalize"] = spec.normalize
        model = hf.hybridize(model, ffn_fraction=spec.ffn_fraction, head_fraction=spec.head_fraction, depth=spec.depth,
                             backend=spec.backend, pattern=spec.pattern, seed=spec.seed, **extra)
    return model


def _tiny_with_ansatz(model: TinyGPT, spec: ModelSpec) -> TinyGPT:
    """Swap the QFFNs of a hybrid TinyGPT for ones with ``spec.ansatz`` (same gain/bias init)."""
    from ..nn import QFFN
    from .models import QuantumFeedForward

    for b in model.blocks:
        if isinstance(b.ffn, QuantumFeedForward):
            b.ffn.qffn = QFFN(spec.d_model, depth=spec.depth, backend=spec.backend, ansatz=spec.ansatz,
                              noise=spec.noise, normalize=spec.normalize)
    return model
