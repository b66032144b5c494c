"""PNG plots are written (matplotlib, Agg)."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("matplotlib")

from qbridge.train.plots import plot_bars, plot_training_curves  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def test_training_curves_png(tmp_path):
    runs = {
        "classical": {"losses": [4 - 0.01 * i for i in range(200)], "evals": [{"step": 100, "test_loss": 3.2}, {"step": 200, "test_loss": 2.5}]},
        "hybrid": {"losses": [4.1 - 0.009 * i for i in range(200)], "evals": [{"step": 200, "test_loss": 2.7}]},
    }
    p = plot_training_curves(runs, tmp_path / "sub" / "curves.png")
    data = p.read_bytes()
    assert data.startswith(PNG) and len(data) > 10_000


def test_bars_png_with_a_missing_value(tmp_path):
    rows = [{"model": "classical", "ppl": 5.0, "tok_s": 1000.0}, {"model": "D=4", "ppl": math.nan, "tok_s": 800.0}]
    p = plot_bars(rows, ["ppl", "tok_s"], tmp_path / "bars.png", title="ablation", log=("tok_s",))
    assert p.read_bytes().startswith(PNG)
