"""Corpora, tokenizers trained locally, and token data for language-model training.

Owns: reading a corpus (a file, or CPython's own ``pydoc_data.topics``, which every Python
installation has), the two tokenizers (character level; byte-level BPE trained on the corpus with
the ``tokenizers`` library; nothing is downloaded), and :class:`TokenData`, the train/test split
with random and sequential windows.

A tokenizer is saved as one JSON file (``{"kind": "char" | "bpe", ...}``); :func:`load_tokenizer`
reads either kind.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator, Sequence

import torch

__all__ = [
    "CharTokenizer",
    "BPETokenizer",
    "load_tokenizer",
    "train_tokenizer",
    "load_corpus",
    "pydoc_corpus",
    "TokenData",
]


def pydoc_corpus() -> str:
    """About 465,000 characters of English prose from CPython's standard library (``pydoc_data``).

    The topics are joined in sorted key order, so the text is the same on every run.
    """
    try:
        from pydoc_data.topics import topics
    except ImportError as exc:  # some distributions strip it
        raise FileNotFoundError(
            "this Python has no pydoc_data.topics (the distribution removed it); pass a text file with --corpus PATH"
        ) from exc
    return "\n\n".join(topics[k] for k in sorted(topics))


def load_corpus(path: str | Path | None = None, *, max_chars: int | None = None) -> str:
    """The text of ``path`` (UTF-8), or :func:`pydoc_corpus` when ``path`` is None.

    ``max_chars`` keeps only the beginning (for quick runs).
    """
    if path is None:
        text = pydoc_corpus()
    else:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"corpus file {str(p)!r} not found; pass an existing UTF-8 text file")
        text = p.read_text(encoding="utf-8")
    if max_chars is not None:
        if max_chars < 2:
            raise ValueError(f"max_chars must be at least 2, got {max_chars}")
        text = text[:max_chars]
    if len(text) < 2:
        raise ValueError("the corpus is empty (fewer than 2 characters)")
    return text


class CharTokenizer:
    """One token per character; the vocabulary is the sorted set of the training text's characters."""

    kind = "char"

    def __init__(self, chars: Sequence[str]) -> None:
        chars = list(chars)
        if not chars:
            raise ValueError("a character tokenizer needs at least one character")
        if len(set(chars)) != len(chars) or any(len(c) != 1 for c in chars):
            raise ValueError("chars must be distinct single characters")
        self.chars = chars
        self._index = {c: i for i, c in enumerate(chars)}

    @classmethod
    def train(cls, text: str) -> "CharTokenizer":
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        try:
            return [self._index[c] for c in text]
        except KeyError as exc:
            raise ValueError(
                f"character {exc.args[0]!r} is not in the tokenizer's vocabulary of {self.vocab_size}; "
                "train the tokenizer on a text that contains it"
            ) from None

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str:
        if torch.is_tensor(ids):
            ids = ids.tolist()
        return "".join(self.chars[i] for i in ids)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "chars": self.chars}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")


class BPETokenizer:
    """Byte-level BPE trained on the corpus with the ``tokenizers`` library (nothing downloaded).

    Byte level: every string round-trips exactly (no unknown tokens); the 256 byte symbols are
    always in the vocabulary and merges learned from the corpus fill the rest, up to ``vocab_size``.
    """

    kind = "bpe"

    def __init__(self, tokenizer) -> None:  # a tokenizers.Tokenizer
        self._tok = tokenizer

    @staticmethod
    def _lib():
        try:
            import tokenizers
        except ImportError as exc:
            raise ImportError(
                "the BPE tokenizer needs the 'tokenizers' package: pip install 'qbridge[ml]' (or use the "
                "character tokenizer)"
            ) from exc
        return tokenizers

    @classmethod
    def train(cls, text: str | Sequence[str], vocab_size: int = 512, min_frequency: int = 2) -> "BPETokenizer":
        """Learn merges on ``text`` (a string, or an iterable of strings) up to ``vocab_size`` tokens."""
        tk = cls._lib()
        if vocab_size < 257:
            raise ValueError(f"a byte-level BPE vocabulary needs more than the 256 byte symbols, got {vocab_size}")
        tok = tk.Tokenizer(tk.models.BPE())
        # no prefix space: decode(encode(s)) == s exactly
        tok.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = tk.decoders.ByteLevel()
        trainer = tk.trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
            special_tokens=[],
        )
        chunks = [text] if isinstance(text, str) else text
        # lines as the training iterator: the trainer counts words per item, whole-corpus items are slow
        tok.train_from_iterator((line for chunk in chunks for line in chunk.splitlines(keepends=True)), trainer=trainer)
        return cls(tok)

    @property
    def vocab_size(self) -> int:
        return self._tok.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text).ids

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str:
        if torch.is_tensor(ids):
            ids = ids.tolist()
        return self._tok.decode(list(ids), skip_special_tokens=False)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "tokenizer": json.loads(self._tok.to_str())}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")


def train_tokenizer(text: str, kind: str = "char", vocab_size: int = 512) -> CharTokenizer | BPETokenizer:
    """A tokenizer of ``kind`` ("char" or "bpe") trained on ``text``."""
    if kind == "char":
        return CharTokenizer.train(text)
    if kind == "bpe":
        return BPETokenizer.train(text, vocab_size=vocab_size)
    raise ValueError(f"tokenizer kind must be 'char' or 'bpe', got {kind!r}")


def load_tokenizer(path: str | Path) -> CharTokenizer | BPETokenizer:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    kind = data.get("kind")
    if kind == "char":
        return CharTokenizer(data["chars"])
    if kind == "bpe":
        tk = BPETokenizer._lib()
        return BPETokenizer(tk.Tokenizer.from_str(json.dumps(data["tokenizer"])))
    raise ValueError(f"{path}: not a qbridge tokenizer file (kind {kind!r}; expected 'char' or 'bpe')")


class TokenData:
    """A token sequence split into a training part (the beginning) and a test part (the end).

    ``train_fraction`` of the tokens from the start train; the last ``test_fraction`` test (the
    QISA setup uses 0.64 and 0.04; the default 0.9/0.1 uses everything). Windows of ``context``
    tokens predict the same window shifted by one.
    """

    def __init__(self, ids: Sequence[int] | torch.Tensor, *, train_fraction: float = 0.9, test_fraction: float = 0.1) -> None:
        t = ids if torch.is_tensor(ids) else torch.as_tensor(list(ids), dtype=torch.long)
        t = t.to(torch.long).reshape(-1)
        if not (0 < train_fraction <= 1 and 0 < test_fraction <= 1 and train_fraction + test_fraction <= 1 + 1e-12):
            raise ValueError(
                f"need 0 < train_fraction, test_fraction and train_fraction + test_fraction <= 1, got "
                f"{train_fraction} and {test_fraction}"
            )
        n = t.numel()
        self.train = t[: int(n * train_fraction)]
        self.test = t[n - int(n * test_fraction):]
        self.train_fraction, self.test_fraction = train_fraction, test_fraction

    def split(self, name: str) -> torch.Tensor:
        if name == "train":
            return self.train
        if name in ("test", "val"):
            return self.test
        raise ValueError(f"split must be 'train' or 'test', got {name!r}")

    def _check(self, ids: torch.Tensor, context: int, name: str) -> None:
        if ids.numel() < context + 1:
            raise ValueError(
                f"the {name} split has {ids.numel()} tokens, too few for windows of {context} + 1; "
                "use a longer corpus or a shorter context"
            )

    def batch(self, name: str, batch_size: int, context: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``batch_size`` random windows: inputs (B, T) and targets (B, T) (the next tokens)."""
        ids = self.split(name)
        self._check(ids, context, name)
        starts = torch.randint(0, ids.numel() - context, (batch_size,), generator=generator)
        offs = starts[:, None] + torch.arange(context + 1)  # (B, T + 1)
        w = ids[offs]
        return w[:, :-1], w[:, 1:]

    def windows(self, name: str, context: int, *, stride: int | None = None, batch_size: int = 64,
                max_windows: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Every window of ``context`` tokens with the given stride (default: non-overlapping), in order."""
        ids = self.split(name)
        self._check(ids, context, name)
        stride = stride or context
        starts = torch.arange(0, ids.numel() - context, stride)
        if max_windows is not None:
            starts = starts[:max_windows]
        for i in range(0, starts.numel(), batch_size):
            offs = starts[i: i + batch_size, None] + torch.arange(context + 1)
            w = ids[offs]
            yield w[:, :-1], w[:, 1:]

    def num_windows(self, name: str, context: int, stride: int | None = None) -> int:
        ids = self.split(name)
        stride = stride or context
        return max(0, len(range(0, ids.numel() - context, stride)))
