"""Training and evaluation of classical and hybrid quantum-classical language models.

- :mod:`.text`: corpora, tokenizers trained locally (character level; byte-level BPE with the
  ``tokenizers`` library), :class:`TokenData` (train/test split, windows);
- :mod:`.models`: :class:`TinyGPT` (nanoGPT-style, QFFN and QISA pluggable), tiny GPT-2 / LLaMA /
  Qwen2 configurations, :func:`hybridize`;
- :mod:`.loop`: :class:`Trainer` (the seed paper's Algorithm 2: AdamW, linear warmup, gradient
  clipping, cross-entropy), checkpoints that resume exactly, :func:`evaluate`,
  :func:`evaluate_windows` (CER/WER);
- :mod:`.metrics`: perplexity, CER, WER (rapidfuzz), throughput, peak memory;
- :mod:`.plots`: training curves and ablation bar charts (matplotlib, Agg);
- :mod:`.report`: Markdown and rich tables.

Optional packages (``pip install 'qbridge[ml]'``): transformers (Hugging Face models), tokenizers
(BPE), rapidfuzz (CER/WER), matplotlib (plots). Each is imported only where it is used.
"""

from .loop import TrainConfig, Trainer, TrainResult, evaluate, evaluate_windows, lr_at, make_optimizer
from .metrics import PeakMemory, Throughput, cer, edit_distance, mean_cer_wer, perplexity, wer
from .models import (
    HF_FAMILIES,
    GPTConfig,
    TinyGPT,
    build_hf_model,
    count_parameters,
    hybridize,
    logits_of,
    select_layers,
)
from .text import BPETokenizer, CharTokenizer, TokenData, load_corpus, load_tokenizer, pydoc_corpus, train_tokenizer

__all__ = [
    "BPETokenizer",
    "CharTokenizer",
    "GPTConfig",
    "HF_FAMILIES",
    "PeakMemory",
    "Throughput",
    "TinyGPT",
    "TokenData",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "build_hf_model",
    "cer",
    "count_parameters",
    "edit_distance",
    "evaluate",
    "evaluate_windows",
    "hybridize",
    "load_corpus",
    "load_tokenizer",
    "logits_of",
    "lr_at",
    "make_optimizer",
    "mean_cer_wer",
    "perplexity",
    "pydoc_corpus",
    "select_layers",
    "train_tokenizer",
    "wer",
]
