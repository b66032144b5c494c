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

__all__ = ["plot_training_curves", "plot_bars", "have_matplotlib", "readable"]


def readable(v: float) -> str:
    """A number as a person reads it on a chart: 525,568 / 1,234 / 12.3 / 4.567 / 0.0123."""
    if not math.isfinite(v):
        return "n/a"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 0.01 or a == 0:
        return f"{v:.3f}"
    return f"{v:.2e}"


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
    running means over ``smooth`` steps (default: 5% of the run, said in the legend), test points
    as markers.
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
            what = f"{label} (train, running mean of {w} steps)" if w > 1 else f"{label} (train)"
            axes[0].plot(steps, sm, color=color, label=what)
            axes[1].plot(steps, [math.exp(min(v, 50)) for v in sm], color=color, label=what)
        evals = list(run.get("evals", []))
        if evals:
            s = [e["step"] for e in evals]
            axes[0].plot(s, [e["test_loss"] for e in evals], "o--", color=color, label=f"{label} (test)")
            axes[1].plot(s, [math.exp(min(e["test_loss"], 50)) for e in evals], "o--", color=color, label=f"{label} (test)")
    axes[0].set_ylabel("cross-entropy (nats per token)")
    axes[1].set_ylabel("perplexity (per token, log scale)")
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
              title: str = "", labels: Mapping[str, str] | None = None, log: Sequence[str] = (),
              units: Mapping[str, str] | None = None, zero_based: Sequence[str] | None = None) -> Path:
    """One panel per metric: a bar per row (rows with a non-finite value are drawn as empty).

    ``labels`` title each panel, ``units`` label its y axis. Bars of metrics not in
    ``zero_based`` (default: all of them are) start from an axis just below the smallest value,
    so that two perplexities of 5.1 and 5.4 do not look equal; the value is printed on each bar.
    """
    plt = _plt()
    from matplotlib.ticker import FuncFormatter

    labels = dict(labels or {})
    units = dict(units or {})
    zero_based = set(metrics if zero_based is None else zero_based)
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.8), squeeze=False)
    names = [str(r[label_key]) for r in rows]
    for ax, m in zip(axes[0], metrics):
        vals = [float(r.get(m, float("nan"))) for r in rows]
        finite = [v for v in vals if math.isfinite(v)]
        floor = 0.0
        if m not in zero_based and m not in log and finite:
            lo, hi = min(finite), max(finite)
            floor = max(0.0, lo - 0.5 * max(hi - lo, 0.05 * abs(hi)))
        shown = [v - floor if math.isfinite(v) else 0.0 for v in vals]
        ax.bar(range(len(rows)), shown, bottom=floor, color=[f"C{i % 10}" for i in range(len(rows))])
        for i, v in enumerate(vals):
            ax.text(i, floor + shown[i], readable(v), ha="center", va="bottom", fontsize=8)
        if floor > 0:
            ax.set_ylim(bottom=floor)
        if m in units:
            ax.set_ylabel(units[m], fontsize=9)
        if m not in log:
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if abs(v) >= 1000 else f"{v:g}"))
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
