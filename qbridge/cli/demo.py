"""``qbridge demo``: the main job. Train a small classical GPT and its hybrid twin, run the
trained quantum layer on every backend, price a cloud run (dry run), write a report.

Everything is in :mod:`qbridge.train.demo`; this is the command line around it.
"""

from __future__ import annotations

import click

from ._common import reports_errors


@click.command("demo")
@click.option("--quick", is_flag=True, help="A smaller run in well under a minute (for CI).")
@click.option("--out", "out", type=click.Path(file_okay=False), default="qbridge-demo-report", show_default=True,
              help="Folder for report.md, results.json and the PNG plots.")
@click.option("--corpus", type=click.Path(exists=True, dir_okay=False), default=None,
              help="UTF-8 text file (default: CPython's pydoc_data.topics, on every installation).")
@click.option("--steps", type=int, default=None, help="Training steps per model (default 400; --quick 40).")
@click.option("--shots", type=int, default=None, help="Shots per circuit in the backend comparison (default 8192; --quick 2000).")
@click.option("--backends", default=None, help="Comma-separated backends to compare (default: every installed one).")
@click.option("--model", type=click.Choice(["auto", "gpt2", "tiny"]), default="auto", show_default=True,
              help="GPT-2 through transformers + qbridge.hf, or qbridge's TinyGPT (auto: GPT-2 when installed).")
@click.option("--depth", type=int, default=4, show_default=True, help="QFFN circuit depth.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=int, default=1, show_default=True, help="torch CPU threads.")
@click.option("--device", default="auto", show_default=True,
              help="Where the models train: auto (a CUDA GPU when torch sees one, else the CPU), cpu, cuda or cuda:N.")
@click.option("--quiet", is_flag=True, help="No progress bars or per-backend lines.")
@reports_errors
def demo(quick, out, corpus, steps, shots, backends, model, depth, seed, threads, device, quiet) -> None:
    """Train a classical GPT and its hybrid twin, compare backends, write a report."""
    from ..train.demo import DemoOptions, run_demo

    names = None if backends is None else [b.strip() for b in backends.split(",") if b.strip()]
    run_demo(DemoOptions(out=out, corpus=corpus, quick=quick, steps=steps, seed=seed, threads=threads, shots=shots,
                         backends=names, model=model, depth=depth, progress=not quiet, device=device))
