"""Metrics: perplexity, character and word error rates, throughput and peak memory.

- :func:`perplexity`: ``exp(mean cross-entropy in nats)``.
- :func:`cer` / :func:`wer`: Levenshtein distance (rapidfuzz, a maintained C++ implementation)
  between a prediction and its target, over characters or over whitespace-separated words,
  divided by the target's length in characters or words.
- :class:`Throughput`: tokens per second over timed regions only.
- :class:`PeakMemory`: the peak memory of a region. On CUDA, ``torch.cuda.max_memory_allocated``
  (tensors only). On CPU, the process's resident set size sampled with psutil whenever
  :meth:`PeakMemory.sample` is called (the trainer samples once per step), falling back to the
  process-lifetime peak ``ru_maxrss`` of the ``resource`` module. tracemalloc is not used: it sees
  only Python's own allocator, not the memory behind torch tensors.
"""

from __future__ import annotations

import math
import time
from typing import Sequence

import torch

__all__ = ["perplexity", "cer", "wer", "edit_distance", "mean_cer_wer", "Throughput", "PeakMemory", "speed_ratio"]


def speed_ratio(base_seconds: Sequence[float], other_seconds: Sequence[float], segments: int = 5) -> dict[str, float]:
    """How fast ``other`` trains relative to ``base`` (same steps, same tokens per step), with its
    spread: both runs are cut into ``segments`` equal blocks of steps, the ratio (base time /
    other time) is taken per block, and the median, min and max over blocks are returned. One
    number from one run reads as a direction where it is only noise; the spread says how far
    to trust it."""
    n = min(len(base_seconds), len(other_seconds))
    if n == 0:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan"), "segments": 0}
    k = max(1, min(segments, n))
    bounds = [round(i * n / k) for i in range(k + 1)]
    ratios = sorted(
        sum(base_seconds[a:b]) / sum(other_seconds[a:b])
        for a, b in zip(bounds, bounds[1:]) if b > a and sum(other_seconds[a:b]) > 0
    )
    mid = len(ratios) // 2
    median = ratios[mid] if len(ratios) % 2 else 0.5 * (ratios[mid - 1] + ratios[mid])
    return {"median": median, "min": ratios[0], "max": ratios[-1], "segments": len(ratios)}


def perplexity(loss: float) -> float:
    """``exp(loss)`` for a mean cross-entropy in nats (``inf`` when it overflows)."""
    loss = float(loss)
    if math.isnan(loss):
        return float("nan")
    try:
        return math.exp(loss)
    except OverflowError:
        return float("inf")


def _levenshtein():
    try:
        from rapidfuzz.distance import Levenshtein
    except ImportError as exc:
        raise ImportError("CER and WER need the 'rapidfuzz' package: pip install 'qbridge[ml]'") from exc
    return Levenshtein


def edit_distance(a: Sequence, b: Sequence) -> int:
    """Levenshtein distance (insertions, deletions, substitutions of cost 1) between two sequences."""
    return int(_levenshtein().distance(a, b))


def cer(prediction: str, target: str) -> float:
    """Character error rate: edit distance / number of target characters (0 for two empty strings)."""
    if not target:
        return 0.0 if not prediction else 1.0
    return edit_distance(prediction, target) / len(target)


def wer(prediction: str, target: str) -> float:
    """Word error rate: edit distance over whitespace-separated words / number of target words.

    A target without words (only whitespace): 0 if the prediction has none either, else 1.
    """
    p, t = prediction.split(), target.split()
    if not t:
        return 0.0 if not p else 1.0
    return edit_distance(p, t) / len(t)


def mean_cer_wer(predictions: Sequence[str], targets: Sequence[str]) -> tuple[float, float]:
    """CER and WER averaged over pairs (per window, as in the QISA evaluation)."""
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions for {len(targets)} targets")
    if not targets:
        raise ValueError("no windows to score")
    c = sum(cer(p, t) for p, t in zip(predictions, targets)) / len(targets)
    w = sum(wer(p, t) for p, t in zip(predictions, targets)) / len(targets)
    return c, w


class Throughput:
    """Tokens per second over timed regions: ``with meter.timed(tokens): ...``."""

    def __init__(self) -> None:
        self.tokens = 0
        self.seconds = 0.0

    def timed(self, tokens: int, device: torch.device | str | None = None):
        meter = self

        class _Region:
            def __enter__(self_inner):
                _sync(device)
                self_inner.t0 = time.perf_counter()

            def __exit__(self_inner, *exc):
                _sync(device)
                if exc[0] is None:
                    meter.seconds += time.perf_counter() - self_inner.t0
                    meter.tokens += tokens
                return False

        return _Region()

    def add(self, tokens: int, seconds: float) -> None:
        self.tokens += tokens
        self.seconds += seconds

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else float("nan")


def _sync(device) -> None:
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


class PeakMemory:
    """Peak memory of a region in bytes; see the module docstring for what is measured where."""

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.peak = 0
        self.method = ""
        self._proc = None
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self.method = "torch.cuda.max_memory_allocated"
        else:
            try:
                import psutil

                self._proc = psutil.Process()
                self.method = "process RSS (psutil, sampled per step)"
            except ImportError:
                self.method = "process peak RSS (resource.ru_maxrss, lifetime of the process)"
        self.sample()

    def sample(self) -> int:
        if self.device.type == "cuda":
            self.peak = max(self.peak, int(torch.cuda.max_memory_allocated(self.device)))
        elif self._proc is not None:
            self.peak = max(self.peak, int(self._proc.memory_info().rss))
        else:
            import resource
            import sys

            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            self.peak = max(self.peak, int(rss if sys.platform == "darwin" else rss * 1024))
        return self.peak

    @property
    def megabytes(self) -> float:
        return self.peak / 2**20
