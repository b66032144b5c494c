"""Which layers of a model become quantum: the one rule of TinyGPT (:mod:`qbridge.train`) and of
``qbridge.hf.hybridize``, kept beside the layers so that both import it from below.
"""

from __future__ import annotations

import math
import random

__all__ = ["PATTERNS", "select_layers"]

PATTERNS = ("alternate", "first", "random")


def select_layers(n_layer: int, fraction: float, pattern: str = "alternate", seed: int = 0) -> list[int]:
    """Which of ``n_layer`` layers to make quantum for a ``fraction`` (0..1), sorted; the one
    rule of qbridge's TinyGPT and of ``qbridge.hf.hybridize``.

    k = floor(fraction * n_layer + 1/2) layers; ``"alternate"`` spreads them evenly, ending at the
    last layer (layer ceil((i + 1) n_layer / k) - 1 for i < k: 1/2 of 4 gives layers 1 and 3),
    ``"first"`` takes layers 0..k-1, ``"random"`` draws k layers with ``random.Random(seed)``.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must lie in [0, 1], got {fraction}")
    if pattern not in PATTERNS:
        raise ValueError(f"pattern must be one of {PATTERNS}, got {pattern!r}")
    k = int(math.floor(fraction * n_layer + 0.5))
    if k == 0:
        return []
    if pattern == "first":
        return list(range(k))
    if pattern == "random":
        return sorted(random.Random(seed).sample(range(n_layer), k))
    return [math.ceil((i + 1) * n_layer / k) - 1 for i in range(k)]
