"""PNG plots with matplotlib (Agg backend, no display needed).

- :func:`plot_training_curves`: training loss and perplexity against the step for several runs
  (classical against hybrid, as the seed paper's Figure 3), with the test evaluations as markers.
- :func:`plot_bars`: one bar chart per metric over a list of rows (ablations: FFN fraction, depth).

matplotlib is imported when a plot is made; without it a clear ImportError says how to add it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

__all__ = ["plot_training_curves", "plot_bars", "have_matplotlib"]


def have_matplotlib() -> bool:
    from ._optional import have

    return have("matplotlib")


def _plt():
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError("plots need matplotlib: pip install 'qbridge[ml]'") from exc
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _smooth(values: Sequence[float], window: int) -> list[float]:
    out, acc = [], 0.0
    q: list[float] = []
    for v in values:
        q.append(v)
        acc += v
        if len(q) > window:
            acc -= q.pop(0)
        out.append(acc / len(q))
    return out


def plot_training_curves(runs: Mapping[str, Mapping[str, Any]], path: str | Path, *, title: str = "Training curves",
                         smooth: int | None = None) -> Path:
    """``runs``: label -> {"losses": [per-step training loss], "evals": [{"step", "test_loss"}, ...]}.

    Left: cross-entropy against the step; right: perplexity (exp of the same); training curves are
    running means over ``smooth`` steps (default: 5% of the run), test points as markers.
    """
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for i, (label, run) in enumerate(runs.items()):
        color = f"C{i}"
        losses = list(run.get("losses", []))
        if losses:
            w = smooth or max(1, len(losses) // 20)
            sm = _smooth(losses, w)
            steps = list(range(1, len(losses) + 1))
            axes[0].plot(steps, sm, color=color, label=f"{label} (train)")
            axes[1].plot(steps, [math.exp(min(v, 50)) for v in sm], color=color, label=f"{label} (train)")
        evals = list(run.get("evals", []))
        if evals:
            s = [e["step"] for e in evals]
            axes[0].plot(s, [e["test_loss"] for e in evals], "o--", color=color, label=f"{label} (test)")
            axes[1].plot(s, [math.exp(min(e["test_loss"], 50)) for e in evals], "o--", color=color, label=f"{label} (test)")
    axes[0].set_ylabel("cross-entropy (nats)")
    axes[1].set_ylabel("perplexity")
    axes[1].set_yscale("log")
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_bars(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str], path: str | Path, *, label_key: str = "model",
              title: str = "", labels: Mapping[str, str] | None = None, log: Sequence[str] = ()) -> Path:
    """One panel per metric: a bar per row (rows with a non-finite value are drawn as empty)."""
    plt = _plt()
    labels = dict(labels or {})
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.8), squeeze=False)
    names = [str(r[label_key]) for r in rows]
    for ax, m in zip(axes[0], metrics):
        vals = [float(r.get(m, float("nan"))) for r in rows]
        shown = [v if math.isfinite(v) else 0.0 for v in vals]
        ax.bar(range(len(rows)), shown, color=[f"C{i % 10}" for i in range(len(rows))])
        for i, v in enumerate(vals):
            ax.text(i, shown[i], f"{v:.3g}" if math.isfinite(v) else "n/a", ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
        ax.set_title(labels.get(m, m), fontsize=10)
        if m in log:
            ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
