"""Small language models for training runs: a nanoGPT-style GPT with pluggable quantum parts,
and tiny Hugging Face configurations (GPT-2, LLaMA, Qwen2) built from a few numbers.

:class:`TinyGPT` (no transformers needed): token + position embeddings, ``n_layer`` pre-LN blocks
``x + attn(LN(x))``, ``x + ffn(LN(x))``, a final LayerNorm and a linear head. Per layer:

- FFN: classical ``Linear(d, m d) - act - Linear(m d, d) - Dropout`` (act GELU or ReLU), or the
  quantum :class:`~qbridge.nn.QFFN` (depth D) followed by the same dropout, for the layers listed
  in ``quantum_ffn_layers``.
- attention: ``"standard"`` (causal scaled dot-product, ``n_head`` heads, dropout on the weights),
  or QISA heads (:class:`~qbridge.nn.QISAAttention`, ``"qisa"`` / ``"qisa_a"``, each head of width
  ``d / n_head``, concatenated), in both cases followed by a ``Linear(d, d)`` projection and dropout.

:func:`build_hf_model` makes ``GPT2LMHeadModel`` / ``LlamaForCausalLM`` / ``Qwen2ForCausalLM`` from
(vocab, d, layers, heads, context): transformers is imported only there.
:func:`hybridize` turns half (or any fraction) of a model's FFNs quantum: for a TinyGPT it rebuilds
the listed layers; for a Hugging Face model it calls ``qbridge.hf.hybridize``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..nn.selection import PATTERNS, select_layers  # noqa: F401 - PATTERNS: importable from here too

__all__ = [
    "GPTConfig",
    "TinyGPT",
    "select_layers",
    "build_hf_model",
    "hybridize",
    "count_parameters",
    "logits_of",
    "HF_FAMILIES",
]

HF_FAMILIES = ("gpt2", "llama", "qwen2")


@dataclass
class GPTConfig:
    vocab_size: int
    context: int = 64
    d_model: int = 64
    n_layer: int = 4
    n_head: int = 4
    ffn_mult: int = 4
    activation: str = "gelu"  # classical FFN: "gelu" (the seed paper) or "relu" (the QISA code)
    dropout: float = 0.0
    quantum_ffn_layers: tuple[int, ...] = ()
    qffn_depth: int = 4
    qffn_backend: str = "torch"
    qffn_readout: str = "probabilities"
    qffn_noise: str | None = None  # noise model of the QFFNs: JSON text or an IBM fake device name
    qffn_normalize: bool | str = False  # QuantumNAT's normalisation of the measured outputs
    attention: str = "standard"  # "standard" | "qisa" | "qisa_a"
    qisa_aggregation: str = "causal"  # "causal" | "as_published"
    seed: int = 0  # Pauli-string draws of QISA heads

    def __post_init__(self) -> None:
        if self.d_model % self.n_head:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_head {self.n_head}")
        if self.activation not in ("gelu", "relu"):
            raise ValueError(f"activation must be 'gelu' or 'relu', got {self.activation!r}")
        if self.attention not in ("standard", "qisa", "qisa_a"):
            raise ValueError(f"attention must be 'standard', 'qisa' or 'qisa_a', got {self.attention!r}")
        self.quantum_ffn_layers = tuple(sorted(set(int(i) for i in self.quantum_ffn_layers)))
        bad = [i for i in self.quantum_ffn_layers if not 0 <= i < self.n_layer]
        if bad:
            raise ValueError(f"quantum_ffn_layers {bad} outside 0..{self.n_layer - 1}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["quantum_ffn_layers"] = list(self.quantum_ffn_layers)
        return d


class FeedForward(nn.Module):
    def __init__(self, d: int, mult: int, activation: str, dropout: float) -> None:
        super().__init__()
        self.fc = nn.Linear(d, mult * d)
        self.act = nn.GELU() if activation == "gelu" else nn.ReLU()
        self.proj = nn.Linear(mult * d, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.proj(self.act(self.fc(x))))


class QuantumFeedForward(nn.Module):
    """The QFFN in the FFN's place (same dropout after it)."""

    def __init__(self, d: int, depth: int, backend: str, readout: str, dropout: float, noise: str | None = None,
                 normalize: bool | str = False) -> None:
        super().__init__()
        from ..nn import QFFN

        self.qffn = QFFN(d, depth=depth, backend=backend, readout=readout, noise=noise, normalize=normalize)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.qffn(x))


class CausalSelfAttention(nn.Module):
    def __init__(self, d: int, n_head: int, dropout: float) -> None:
        super().__init__()
        self.n_head, self.dropout = n_head, dropout
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, h, T, C/h)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        return self.drop(self.proj(y))


class QISASelfAttention(nn.Module):
    """``n_head`` QISA heads of width d / n_head, concatenated, projected (as the QISA code)."""

    def __init__(self, d: int, n_head: int, variant: str, aggregation: str, dropout: float, seed: int) -> None:
        super().__init__()
        from ..nn import QISAAttention

        hs = d // n_head
        self.heads = nn.ModuleList(
            QISAAttention(d, n_pauli=hs, variant=variant, aggregation=aggregation, seed=seed + i) for i in range(n_head)
        )
        self.proj = nn.Linear(d, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.proj(torch.cat([h(x) for h in self.heads], dim=-1)))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig, layer: int) -> None:
        super().__init__()
        d = cfg.d_model
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        if cfg.attention == "standard":
            self.attn: nn.Module = CausalSelfAttention(d, cfg.n_head, cfg.dropout)
        else:
            self.attn = QISASelfAttention(d, cfg.n_head, cfg.attention, cfg.qisa_aggregation, cfg.dropout,
                                          seed=cfg.seed + 1000 * layer)
        if layer in cfg.quantum_ffn_layers:
            self.ffn: nn.Module = QuantumFeedForward(d, cfg.qffn_depth, cfg.qffn_backend, cfg.qffn_readout, cfg.dropout,
                                                     cfg.qffn_noise, cfg.qffn_normalize)
        else:
            self.ffn = FeedForward(d, cfg.ffn_mult, cfg.activation, cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.ffn(self.ln2(x))


class TinyGPT(nn.Module):
    """A small decoder-only GPT: (B, T) token ids -> (B, T, vocab) logits. See the module docstring."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.config = cfg
        self.tok = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos = nn.Embedding(cfg.context, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        B, T = idx.shape
        if T > self.config.context:
            raise ValueError(f"sequence of {T} tokens is longer than the context {self.config.context}")
        x = self.drop(self.tok(idx) + self.pos(torch.arange(T, device=idx.device)))  # (B, T, d)
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln_f(x))  # (B, T, V)

    def quantum_ffns(self) -> list[nn.Module]:
        """The QFFN modules, in layer order."""
        return [b.ffn.qffn for b in self.blocks if isinstance(b.ffn, QuantumFeedForward)]


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (shared tensors counted once)."""
    seen, n = set(), 0
    for p in model.parameters():
        if p.requires_grad and id(p) not in seen:
            seen.add(id(p))
            n += p.numel()
    return n


def logits_of(model: nn.Module, idx: torch.Tensor) -> torch.Tensor:
    """(B, T, V) logits of a TinyGPT or a Hugging Face causal LM."""
    if isinstance(model, TinyGPT):
        return model(idx)
    out = model(input_ids=idx, use_cache=False) if _is_hf(model) else model(idx)
    if torch.is_tensor(out):
        return out
    return out.logits


def _is_hf(model: nn.Module) -> bool:
    return hasattr(model, "config") and hasattr(model.config, "model_type")


def build_hf_model(
    family: str,
    vocab_size: int,
    *,
    d_model: int = 64,
    n_layer: int = 4,
    n_head: int = 4,
    context: int = 64,
    ffn_mult: float = 4,
    dropout: float = 0.0,
    seed: int = 0,
) -> nn.Module:
    """A freshly initialised tiny causal LM of ``family`` ("gpt2", "llama" or "qwen2").

    GPT-2: GELU MLP of width ``ffn_mult * d``, tied embeddings (the library's default). LLaMA and
    Qwen2: SwiGLU MLP; its intermediate width is ``2/3 * ffn_mult * d`` rounded up to a multiple
    of 8, so that its three matrices hold about as many weights as GPT-2's two; untied embeddings;
    as many key/value heads as query heads.
    """
    if family not in HF_FAMILIES:
        raise ValueError(f"family must be one of {HF_FAMILIES}, got {family!r}")
    try:
        import transformers
    except ImportError as exc:
        raise ImportError(
            f"the {family} model needs the 'transformers' package: pip install 'qbridge[ml]' (or use family 'tiny')"
        ) from exc
    torch.manual_seed(seed)
    if family == "gpt2":
        cfg = transformers.GPT2Config(
            vocab_size=vocab_size, n_positions=context, n_embd=d_model, n_layer=n_layer, n_head=n_head,
            n_inner=int(ffn_mult * d_model), resid_pdrop=dropout, embd_pdrop=dropout, attn_pdrop=dropout,
            bos_token_id=0, eos_token_id=0,
        )
        return transformers.GPT2LMHeadModel(cfg)
    inter = int(math.ceil(2 * ffn_mult * d_model / 3 / 8) * 8)
    common = dict(
        vocab_size=vocab_size, hidden_size=d_model, intermediate_size=inter, num_hidden_layers=n_layer,
        num_attention_heads=n_head, num_key_value_heads=n_head, max_position_embeddings=context,
        tie_word_embeddings=False, attention_dropout=dropout, bos_token_id=0, eos_token_id=0, pad_token_id=None,
    )
    if family == "llama":
        return transformers.LlamaForCausalLM(transformers.LlamaConfig(**common))
    return transformers.Qwen2ForCausalLM(transformers.Qwen2Config(**common))


def hybridize(
    model: nn.Module,
    *,
    ffn_fraction: float = 0.5,
    head_fraction: float = 0.0,
    depth: int = 4,
    pattern: str = "alternate",
    seed: int = 0,
    backend: str = "torch",
    noise: str | None = None,
    normalize: bool | str = False,
) -> nn.Module:
    """Make ``ffn_fraction`` of the FFNs (and ``head_fraction`` of the heads) quantum.

    TinyGPT: a new TinyGPT whose listed layers have QFFNs, with every other weight copied (only
    FFNs; quantum heads for a TinyGPT are QISA attention, chosen in :class:`GPTConfig`).
    Hugging Face models: ``qbridge.hf.hybridize`` (in place; returns the model).
    """
    if isinstance(model, TinyGPT):
        if head_fraction:
            raise ValueError("TinyGPT takes quantum attention through GPTConfig(attention='qisa'); use head_fraction=0")
        layers = select_layers(model.config.n_layer, ffn_fraction, pattern, seed)
        cfg = replace(model.config, quantum_ffn_layers=tuple(sorted(set(model.config.quantum_ffn_layers) | set(layers))),
                      qffn_depth=depth, qffn_backend=backend, qffn_noise=noise, qffn_normalize=normalize)
        new = TinyGPT(cfg)
        own = new.state_dict()
        # copy everything whose name and shape still match (the replaced FFNs do not)
        src = {k: v for k, v in model.state_dict().items() if k in own and own[k].shape == v.shape}
        new.load_state_dict(src, strict=False)
        return new
    try:
        from .. import hf
    except ImportError as exc:
        raise ImportError(
            "hybridizing a Hugging Face model needs qbridge.hf and transformers: pip install 'qbridge[ml]'"
        ) from exc
    extra: dict = {"noise": noise} if noise is not None else {}
    if normalize:
        extra["normalize"] = normalize
    return hf.hybridize(model, ffn_fraction=ffn_fraction, head_fraction=head_fraction, depth=depth,
                        backend=backend, pattern=pattern, seed=seed, **extra)

