"""Hugging Face transformers integration: hybrid GPT-2, LLaMA and Qwen2 models.

``import qbridge`` does not load this package (nor transformers); ``import qbridge.hf`` does.

Quick use::

    from transformers import GPT2Config, GPT2LMHeadModel
    import qbridge.hf

    model = GPT2LMHeadModel(GPT2Config(n_layer=4, n_embd=32, n_head=4, vocab_size=65))
    qbridge.hf.hybridize(model, ffn_fraction=0.5, head_fraction=0.5, depth=4)  # in place
    print(qbridge.hf.parameter_report(model))
    model.generate(ids, max_new_tokens=20, do_sample=False)   # KV cache supported
    model.save_pretrained("ckpt")                              # layout in config.json
    model = qbridge.hf.from_pretrained("ckpt")                 # identical weights and outputs

Public API:

- :func:`hybridize` (model, ffn_fraction=0.5, head_fraction=0.5, depth=4, backend="torch",
  pattern="alternate"|"first"|"random", seed=0, kind="overlap"|"qsann", *, ffn_layers=None,
  attention_layers=None, ffn_options=None, head_options=None, warm_start=True, **layer_options)
- :func:`from_pretrained` (path, *, backend=None, dtype=None, device=None, ffn_options=None,
  head_options=None); :func:`restore` (model built from a hybrid config)
- :func:`parameter_report` -> :class:`ParameterReport` (``.table()``)
- :func:`hybrid_layout`, :func:`is_hybrid`, :func:`select_layers`, ``SUPPORTED_MODEL_TYPES``,
  :class:`UnsupportedModelError`
- modules: :class:`QuantumMLP`, :class:`GPT2HybridAttention`, :class:`RotaryHybridAttention`
- data parallel training: :mod:`qbridge.hf.ddp`
"""

from __future__ import annotations

import importlib.util

if importlib.util.find_spec("transformers") is None:  # pragma: no cover - depends on the environment
    raise ImportError("qbridge.hf needs Hugging Face transformers (>= 5): pip install 'transformers>=5'")

from .hybridize import (  # noqa: E402
    SUPPORTED_MODEL_TYPES,
    UnsupportedModelError,
    from_pretrained,
    hybrid_layout,
    hybridize,
    is_hybrid,
    restore,
    select_layers,
)
from .modules import GPT2HybridAttention, HybridAttentionBase, QuantumMLP, RotaryHybridAttention  # noqa: E402
from .report import LayerParameters, ParameterReport, parameter_report  # noqa: E402

__all__ = [
    "SUPPORTED_MODEL_TYPES",
    "UnsupportedModelError",
    "hybridize",
    "restore",
    "from_pretrained",
    "hybrid_layout",
    "is_hybrid",
    "select_layers",
    "parameter_report",
    "ParameterReport",
    "LayerParameters",
    "QuantumMLP",
    "HybridAttentionBase",
    "GPT2HybridAttention",
    "RotaryHybridAttention",
]
