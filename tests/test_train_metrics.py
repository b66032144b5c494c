"""Metrics against hand-computed values and an independent edit distance."""

from __future__ import annotations

import math
import random

import pytest
import torch

from qbridge.train import Throughput, cer, edit_distance, mean_cer_wer, perplexity, wer


def _dp_distance(a, b) -> int:
    """Textbook Levenshtein dynamic programme (the independent reference)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def test_cer_known_strings():
    assert cer("sitting", "kitten") == pytest.approx(3 / 6)  # k->s, e->i, +g
    assert cer("kitten", "sitting") == pytest.approx(3 / 7)
    assert cer("abc", "abc") == 0.0
    assert cer("", "abcd") == 1.0
    assert cer("", "") == 0.0


def test_wer_known_strings():
    assert wer("the cat sat", "the cat sat down") == pytest.approx(1 / 4)  # one deletion
    assert wer("the dog sat on", "the cat sat on") == pytest.approx(1 / 4)  # one substitution
    assert wer("a b c", "x y") == pytest.approx(3 / 2)  # 2 substitutions + 1 insertion
    assert wer("  spaced   out ", "spaced out") == 0.0  # whitespace runs do not count
    assert wer("", "   ") == 0.0 and wer("word", "") == 1.0


def test_edit_distance_matches_a_reference_dp():
    rng = random.Random(7)
    for _ in range(200):
        a = "".join(rng.choice("abc ") for _ in range(rng.randint(0, 12)))
        b = "".join(rng.choice("abc ") for _ in range(rng.randint(0, 12)))
        assert edit_distance(a, b) == _dp_distance(a, b)
        assert edit_distance(a.split(), b.split()) == _dp_distance(a.split(), b.split())


def test_mean_cer_wer_averages_per_window():
    c, w = mean_cer_wer(["abcd", "abcx"], ["abcd", "abcd"])
    assert c == pytest.approx((0 + 0.25) / 2)
    assert w == pytest.approx((0 + 1) / 2)
    with pytest.raises(ValueError):
        mean_cer_wer(["a"], ["a", "b"])


def test_perplexity_is_exp_of_loss():
    assert perplexity(math.log(20.0)) == pytest.approx(20.0)
    assert perplexity(0.0) == 1.0
    assert perplexity(1e6) == math.inf
    logits = torch.randn(50, 7, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 7, (50,), generator=torch.Generator().manual_seed(1))
    loss = torch.nn.functional.cross_entropy(logits, y)
    p = torch.softmax(logits, -1)[torch.arange(50), y]
    assert perplexity(float(loss)) == pytest.approx(float(torch.exp(-torch.log(p).mean())), rel=1e-5)


def test_throughput_counts_only_timed_regions():
    m = Throughput()
    m.add(1000, 0.5)
    m.add(1000, 1.5)
    assert m.tokens_per_second == pytest.approx(1000.0)
    with m.timed(10):
        pass
    assert m.tokens == 2010
    assert math.isnan(Throughput().tokens_per_second)


def test_peak_memory_sees_a_large_allocation():
    """In a fresh process: in a test worker, memory freed by earlier tests (numbers of MiB kept by
    the allocator, or a raised mmap threshold) can serve the allocation without the RSS growing."""
    import subprocess
    import sys

    code = (
        "import torch\n"
        "from qbridge.train.metrics import PeakMemory\n"
        "mem = PeakMemory('cpu')\n"
        "before = mem.sample()\n"
        "big = torch.ones(128 * 2**20 // 4)  # 128 MiB, every page written\n"
        "print(mem.sample() - before)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip().splitlines()[-1]) >= 100 * 2**20
