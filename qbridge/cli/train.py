"""``qbridge train``: train a tiny GPT-2 / LLaMA / Qwen2 (or qbridge TinyGPT) on a text file,
classical or hybrid, with checkpoints, metrics and plots in an output folder.

Output folder (``--out``): ``run.json`` (the arguments: what ``--resume`` rebuilds from),
``tokenizer.json``, per model ``<label>/checkpoint.pt`` and ``<label>/metrics.json``,
``summary.md`` (the table) and ``training_curves.png``. ``--compare`` trains the classical twin
beside the hybrid model (same initial weights where they share modules, same batches).
Perplexity is per token of the chosen tokenizer (characters, or BPE tokens): compare runs that
use the same tokenizer.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from ._common import reports_errors


def _parse_hybrid(value: str | None) -> tuple[float, float] | None:
    if value is None:
        return None
    parts = [p for p in value.split(",") if p.strip()]
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        raise click.BadParameter(f"{value!r}: give FFN[,HEADS] fractions such as 0.5 or 0.5,0.25", param_hint="--hybrid")
    if not 1 <= len(nums) <= 2:
        raise click.BadParameter("give one or two fractions: FFN[,HEADS]", param_hint="--hybrid")
    return nums[0], (nums[1] if len(nums) == 2 else 0.0)


def _noise_json(value: str | None, d_model: int, backend: str) -> str | None:
    """``--noise``: an IBM fake device name or a JSON file, as the JSON text of a model whose
    errors cover the layers' gates (``NoiseModel.extended_to``), checked against the width."""
    if value is None:
        return None
    import math

    from ..noise import as_noise_model

    path = Path(value)
    if path.suffix == ".json" or path.is_file():
        if not path.is_file():
            raise click.BadParameter(f"{value!r}: no such file; give a noise model JSON file or an IBM fake device "
                                     "name such as fake_manila", param_hint="--noise")
        model = as_noise_model(path.read_text())
    else:
        model = as_noise_model(value)
    model = model.extended_to()
    n = max(1, math.ceil(math.log2(d_model)))
    if model.num_qubits is not None and n > model.num_qubits:
        raise click.BadParameter(
            f"the quantum layers of --d-model {d_model} use {n} qubits but the noise model describes "
            f"{model.num_qubits} ({model.source or 'the file'}); use --d-model {2 ** model.num_qubits} or less, "
            "or a larger device (fake_guadalupe has 16 qubits)", param_hint="--noise")
    if backend != "torch":
        raise click.BadParameter(f"--noise trains under noise on the torch backend (density matrices with autograd); "
                                 f"--backend {backend} does not train through noise: drop --backend",
                                 param_hint="--noise")
    return model.to_json()


@click.command("train")
@click.option("--family", type=click.Choice(["gpt2", "llama", "qwen2", "tiny"]), default="gpt2", show_default=True,
              help="Model family: a tiny transformers config, or qbridge's own TinyGPT.")
@click.option("--corpus", type=click.Path(exists=True, dir_okay=False), default=None,
              help="UTF-8 text file (default: CPython's pydoc_data.topics).")
@click.option("--tokenizer", "tokenizer_kind", type=click.Choice(["char", "bpe"]), default="char", show_default=True,
              help="Character level, or byte-level BPE trained on the corpus.")
@click.option("--vocab-size", type=int, default=512, show_default=True, help="BPE vocabulary size.")
@click.option("--d-model", type=int, default=64, show_default=True)
@click.option("--layers", type=int, default=4, show_default=True)
@click.option("--heads", type=int, default=4, show_default=True)
@click.option("--context", type=int, default=64, show_default=True)
@click.option("--batch-size", type=int, default=16, show_default=True)
@click.option("--steps", type=int, default=200, show_default=True, help="Total steps (with --resume: continue up to this).")
@click.option("--lr", type=float, default=3e-3, show_default=True)
@click.option("--weight-decay", type=float, default=0.01, show_default=True)
@click.option("--warmup", type=int, default=20, show_default=True)
@click.option("--schedule", type=click.Choice(["constant", "cosine", "linear"]), default="constant", show_default=True,
              help="Learning rate after the warmup.")
@click.option("--clip", type=float, default=1.0, show_default=True, help="Gradient-norm clipping.")
@click.option("--dropout", type=float, default=0.0, show_default=True)
@click.option("--hybrid", "hybrid", default=None, metavar="FFN[,HEADS]",
              help="Quantum fractions, e.g. 0.5 (half the FFNs) or 0.5,0.5 (and half the heads).")
@click.option("--ffn-fraction", type=float, default=0.0, show_default=True)
@click.option("--head-fraction", type=float, default=0.0, show_default=True)
@click.option("--depth", type=int, default=4, show_default=True, help="Circuit depth D of the quantum layers.")
@click.option("--pattern", type=click.Choice(["alternate", "first", "random"]), default="alternate", show_default=True)
@click.option("--backend", default="torch", show_default=True, help="Backend of the quantum layers.")
@click.option("--attention", type=click.Choice(["standard", "qisa", "qisa_a"]), default="standard", show_default=True,
              help="Attention of the tiny family.")
@click.option("--noise", default=None, metavar="DEVICE|FILE.json",
              help="Noise-aware training: the quantum layers train on torch under this noise (an IBM fake device "
                   "such as fake_manila, or a qbridge noise model JSON file); the device's errors are carried over "
                   "to the layers' gates.")
@click.option("--normalize", type=click.Choice(["none", "batch", "running"]), default="none", show_default=True,
              help="QuantumNAT's normalisation of the quantum layers' measured outputs.")
@click.option("--compare", is_flag=True, help="Also train the classical twin and compare.")
@click.option("--eval-interval", type=int, default=0, help="Evaluate every N steps (0: at the end).")
@click.option("--eval-batches", type=int, default=20, show_default=True)
@click.option("--checkpoint-every", type=int, default=0, help="Save a checkpoint every N steps (always at the end).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoints (architecture from run.json).")
@click.option("--out", "out", type=click.Path(file_okay=False), default="qbridge-train-out", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=int, default=1, show_default=True, help="torch CPU threads.")
@click.option("--device", default="auto", show_default=True,
              help="auto (a CUDA GPU when torch sees one, else the CPU), cpu, cuda or cuda:N.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@reports_errors
def train(**kw) -> None:
    """Train a classical or hybrid language model and write metrics, checkpoints and plots."""
    import torch

    from ..train import TokenData, TrainConfig, Trainer, load_corpus, load_tokenizer, train_tokenizer
    from ..train.loop import device_info, resolve_device
    from ..train.plots import have_matplotlib, plot_training_curves
    from ..train.report import markdown_table, rich_table
    from ..train.runs import ModelSpec, build_model

    out = Path(kw["out"])
    run_file = out / "run.json"
    if kw["resume"]:
        if not run_file.is_file():
            raise FileNotFoundError(f"--resume: {run_file} not found; start the run without --resume first")
        saved = json.loads(run_file.read_text())
        steps = kw["steps"]
        kw = {**saved, "steps": steps, "resume": True, "quiet": kw["quiet"], "threads": kw["threads"], "device": kw["device"]}
    device = resolve_device(kw["device"])  # before any work: a missing GPU is an error, not a CPU run
    hyb = _parse_hybrid(kw["hybrid"])
    ffn_f, head_f = hyb if hyb is not None else (kw["ffn_fraction"], kw["head_fraction"])
    quantum = bool(ffn_f or head_f or kw["attention"] != "standard")
    for opt, given in (("--noise", kw.get("noise") is not None), ("--normalize", kw.get("normalize", "none") != "none")):
        if given and not quantum:
            raise click.BadParameter("acts on quantum layers and this model has none; add --hybrid 0.5 (or drop it)",
                                     param_hint=opt)
    torch.set_num_threads(max(1, kw["threads"]))
    text = load_corpus(kw["corpus"])
    out.mkdir(parents=True, exist_ok=True)
    if kw["resume"]:
        tok = load_tokenizer(out / "tokenizer.json")
    else:
        tok = train_tokenizer(text, kw["tokenizer_kind"], kw["vocab_size"])
        tok.save(out / "tokenizer.json")
        run_file.write_text(json.dumps({k: v for k, v in kw.items()}, indent=2))
    data = TokenData(tok.encode(text))
    spec = ModelSpec(family=kw["family"], vocab_size=tok.vocab_size, d_model=kw["d_model"], n_layer=kw["layers"],
                     n_head=kw["heads"], context=kw["context"], dropout=kw["dropout"], ffn_fraction=ffn_f,
                     head_fraction=head_f, depth=kw["depth"], pattern=kw["pattern"], backend=kw["backend"],
                     attention=kw["attention"], seed=kw["seed"],
                     noise=_noise_json(kw.get("noise"), kw["d_model"], kw["backend"]) if quantum else None,
                     normalize=False if kw.get("normalize", "none") == "none" else kw["normalize"])
    cfg = TrainConfig(steps=kw["steps"], batch_size=kw["batch_size"], context=kw["context"], lr=kw["lr"],
                      weight_decay=kw["weight_decay"], warmup=kw["warmup"], schedule=kw["schedule"], clip=kw["clip"],
                      seed=kw["seed"], device=str(device), eval_interval=kw["eval_interval"],
                      eval_batches=kw["eval_batches"])
    specs = [("hybrid" if spec.hybrid else "classical", spec)]
    if kw["compare"] and spec.hybrid:
        specs.insert(0, ("classical", spec.classical()))
    info = device_info(device)
    click.echo(f"device: {info['device']}" + (f" ({info['gpu']}, {info['gpu_memory_gb']} GiB)" if "gpu" in info else ""))
    click.echo(f"corpus: {kw['corpus'] or 'pydoc_data.topics'} ({len(text):,} characters), {tok.kind} tokenizer, "
               f"vocabulary {tok.vocab_size}; train {data.train.numel():,} / test {data.test.numel():,} tokens")
    results = {}
    for label, s in specs:
        model = build_model(s)
        tr = Trainer(model, data, cfg, label=label, progress=not kw["quiet"])
        ckpt = out / label / "checkpoint.pt"
        if kw["resume"] and ckpt.is_file():
            tr.load(ckpt)
            click.echo(f"{label}: resumed at step {tr.step}")
        every = kw["checkpoint_every"] or cfg.steps
        while tr.step < cfg.steps:
            tr.fit(min(cfg.steps, (tr.step // every + 1) * every))
            tr.save(ckpt)
        res = tr.result()
        tr.save(ckpt)
        (out / label).mkdir(parents=True, exist_ok=True)
        (out / label / "metrics.json").write_text(json.dumps({"spec": s.to_dict(), "train": asdict(cfg),
                                                              **res.to_dict()}, indent=2, default=str))
        results[label] = res
        click.echo(f"{label}: step {res.steps}, test loss {res.test_loss:.4f}, perplexity {res.test_ppl:.3f}, "
                   f"{res.train_tokens_per_s:,.0f} train tokens/s")
    base = results.get("classical")
    rows = [{"model": k, "params": r.params, "test_loss": r.test_loss, "test_ppl": r.test_ppl,
             "train_tok_s": r.train_tokens_per_s,
             "speed": (r.train_tokens_per_s / base.train_tokens_per_s) if base else None,
             "infer_tok_s": r.eval_tokens_per_s, "peak_mb": r.peak_memory_mb} for k, r in results.items()]
    cols = [("model", "model", None), ("params", "params", None), ("test_loss", "test loss", ".4f"),
            ("test_ppl", "test perplexity", ".3f"), ("train_tok_s", "train tokens/s", ",.0f"),
            ("speed", "speed vs classical", ".2f"), ("infer_tok_s", "inference tokens/s", ",.0f"),
            ("peak_mb", "peak GPU MB" if device.type == "cuda" else "peak RSS MB", ".0f")]
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console = Console(width=150)
    console.print(rich_table(rows, cols, title=f"{spec.family}: d={spec.d_model}, {spec.n_layer} layers"))
    (out / "summary.md").write_text(markdown_table(rows, cols) + "\n")
    if have_matplotlib():
        plot_training_curves({k: r.to_dict() for k, r in results.items()}, out / "training_curves.png",
                             title=f"{spec.family} d={spec.d_model}: training curves")
    else:
        click.echo("plots: skipped (matplotlib is not installed)")
    click.echo(f"written to {out}")
