"""``qbridge demo``: train a small classical GPT and its hybrid twin, run the trained quantum layer
on every backend, price a cloud run, and write a report.

Steps (each prints as it goes, and lands in ``report.md`` / ``results.json`` / PNG plots):

1. Corpus: ``--corpus PATH`` or CPython's ``pydoc_data.topics`` (on every installation);
   character-level tokenizer trained on it; the first 90% trains, the last 10% tests.
2. Models: a GPT-2 configuration (transformers, hybridized by ``qbridge.hf.hybridize``) when both
   are installed, otherwise qbridge's own :class:`~qbridge.train.TinyGPT`. The hybrid twin starts
   from the same initial weights with half of its FFNs replaced by QFFNs (depth 4, the embedded
   ``torch`` backend). Both are trained with the same batches (Algorithm 2: AdamW, warmup,
   clipping 1.0).
3. Table: parameters, test perplexity, training and inference tokens/s, speed relative to the
   classical model, peak memory (as the seed paper's Table 1, at toy scale, honestly measured).
4. Backends: the first QFFN of the trained hybrid, with its trained angles, on a few real
   activations, on every backend available here: exact, with shots, and with readout
   mitigation on noisy ones (:mod:`qbridge.train.agreement`).
5. Cost: what the same check, a forward pass and a training step would cost on named QPUs
   (``qbridge.jobs.estimate_cost``; nothing is sent).

``quick=True`` shrinks everything (for CI: well under a minute of training). Torch runs on
``threads`` threads (default 1: these models are too small to gain from more, and a second
OpenMP thread stalls badly when the cores are shared).
"""

from __future__ import annotations

import copy
import json
import math
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ._optional import have as _have
from .agreement import backend_agreement, cloud_costs
from .loop import TrainConfig, Trainer, device_info, resolve_device
from .metrics import speed_ratio
from .models import GPTConfig, TinyGPT, build_hf_model, hybridize
from .plots import have_matplotlib, plot_bars, plot_training_curves
from .report import fmt, markdown_table, rich_table
from .text import CharTokenizer, TokenData, load_corpus

__all__ = ["DemoOptions", "run_demo", "SIZES"]

SIZES: dict[str, dict[str, Any]] = {
    "full": dict(d_model=64, n_layer=4, n_head=4, context=64, batch_size=16, steps=400, warmup=40, lr=3e-3,
                 eval_batches=40, shots=8192, rows=4, max_chars=None),
    "quick": dict(d_model=32, n_layer=2, n_head=2, context=32, batch_size=8, steps=40, warmup=5, lr=3e-3,
                  eval_batches=4, shots=2000, rows=2, max_chars=120_000),
}


@dataclass
class DemoOptions:
    out: Path = Path("qbridge-demo-report")
    corpus: str | None = None
    quick: bool = False
    steps: int | None = None
    seed: int = 0
    threads: int = 1
    shots: int | None = None
    backends: list[str] | None = None  # None: every registered backend
    model: str = "auto"  # "auto" | "gpt2" | "tiny"
    depth: int = 4
    progress: bool = True
    device: str = "auto"  # "auto" (CUDA when present), "cpu", "cuda", "cuda:N"


def _quantum_params(model: nn.Module) -> int:
    from ..nn.layer import QuantumLayer

    return sum(m.weights.numel() for m in model.modules() if isinstance(m, QuantumLayer))


def _qffns(model: nn.Module) -> list[nn.Module]:
    from ..nn.qffn import QFFN

    return [m for m in model.modules() if isinstance(m, QFFN)]


def _use_hf(choice: str) -> bool:
    have = _have("transformers") and _have("qbridge.hf")
    if choice == "gpt2" and not have:
        raise ImportError("--model gpt2 needs transformers and qbridge.hf: pip install 'qbridge[ml]' (or --model tiny)")
    if choice not in ("auto", "gpt2", "tiny"):
        raise ValueError(f"model must be 'auto', 'gpt2' or 'tiny', got {choice!r}")
    return choice == "gpt2" or (choice == "auto" and have)


def _build_pair(use_hf: bool, vocab: int, size: dict[str, Any], depth: int, seed: int) -> tuple[nn.Module, nn.Module, str]:
    torch.manual_seed(seed)
    if use_hf:
        classical = build_hf_model("gpt2", vocab, d_model=size["d_model"], n_layer=size["n_layer"], n_head=size["n_head"],
                                   context=size["context"], seed=seed)
        hybrid = copy.deepcopy(classical)  # the twin starts from the same weights
        hybrid = hybridize(hybrid, ffn_fraction=0.5, head_fraction=0.0, depth=depth, pattern="alternate", seed=seed)
        kind = "GPT-2 (transformers GPT2LMHeadModel), hybridized by qbridge.hf.hybridize"
    else:
        cfg = GPTConfig(vocab_size=vocab, context=size["context"], d_model=size["d_model"], n_layer=size["n_layer"],
                        n_head=size["n_head"], activation="gelu")
        classical = TinyGPT(cfg)
        hybrid = hybridize(classical, ffn_fraction=0.5, depth=depth, pattern="alternate", seed=seed)
        kind = "qbridge TinyGPT (pre-LN, GELU FFN), half the FFNs replaced by QFFNs"
    return classical, hybrid, kind


def run_demo(opts: DemoOptions, echo: Callable[[Any], None] | None = None) -> dict[str, Any]:
    """Run the demo and write the report to ``opts.out``; returns everything that was measured."""
    from rich.console import Console

    # a report-like width when the output is a file or a pipe (rich assumes 80 columns there)
    console = Console(highlight=False, width=None if Console().is_terminal else 150)
    say = echo or console.print
    t_start = time.perf_counter()
    size = dict(SIZES["quick" if opts.quick else "full"])
    if opts.steps is not None:
        size["steps"] = opts.steps
        size["warmup"] = min(size["warmup"], max(0, opts.steps // 10))
    shots = opts.shots or size["shots"]
    device = resolve_device(opts.device)  # a missing GPU is an error before anything runs
    dev_info = device_info(device)
    device_text = dev_info["device"] + (f" ({dev_info['gpu']})" if "gpu" in dev_info else "")
    threads_before = torch.get_num_threads()
    torch.set_num_threads(max(1, opts.threads))
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"options": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()},
                               "size": size}
    try:
        # 1. corpus and tokenizer
        text = load_corpus(opts.corpus, max_chars=size["max_chars"])
        corpus_name = opts.corpus or "pydoc_data.topics (CPython standard library)"
        tok = CharTokenizer.train(text)
        data = TokenData(tok.encode(text), train_fraction=0.9, test_fraction=0.1)
        tok.save(out / "tokenizer.json")
        say(f"[bold]qbridge demo[/bold]{' (quick)' if opts.quick else ''} on {device_text}: corpus {corpus_name}, {len(text):,} characters, "
            f"{tok.vocab_size} symbols; train {data.train.numel():,} / test {data.test.numel():,} tokens")

        # 2. the two models
        use_hf = _use_hf(opts.model)
        classical, hybrid, kind = _build_pair(use_hf, tok.vocab_size, size, opts.depth, opts.seed)
        if opts.model == "auto" and not use_hf:
            say("transformers or qbridge.hf not installed: using qbridge's own TinyGPT")
        say(f"models: {kind}; d={size['d_model']}, {size['n_layer']} layers, {size['n_head']} heads, "
            f"context {size['context']}; hybrid: QFFN depth {opts.depth} in layers "
            f"{_quantum_layer_indices(hybrid)}")
        cfg = TrainConfig(steps=size["steps"], batch_size=size["batch_size"], context=size["context"], lr=size["lr"],
                          warmup=size["warmup"], weight_decay=0.01, clip=1.0, seed=opts.seed,
                          eval_interval=max(1, size["steps"] // 5), eval_batches=size["eval_batches"],
                          device=str(device))
        runs = {}
        for label, model in (("classical", classical), ("hybrid", hybrid)):
            tr = Trainer(model, data, cfg, label=label, progress=opts.progress)
            res = tr.fit()
            runs[label] = res
            say(f"  {label}: {res.steps} steps in {res.train_seconds:.1f} s, test loss {res.test_loss:.4f}, "
                f"perplexity {res.test_ppl:.3f}")

        # 3. the table
        base = runs["classical"].train_tokens_per_s
        base_inf = runs["classical"].eval_tokens_per_s
        spread = speed_ratio(runs["classical"].step_seconds, runs["hybrid"].step_seconds)
        rows = []
        for label, model in (("classical", classical), ("hybrid", hybrid)):
            r = runs[label]
            rows.append({
                "model": label, "params": r.params, "quantum_params": _quantum_params(model),
                "test_loss": r.test_loss, "test_ppl": r.test_ppl,
                "train_tok_s": r.train_tokens_per_s, "speed": r.train_tokens_per_s / base,
                "infer_tok_s": r.eval_tokens_per_s, "infer_speed": r.eval_tokens_per_s / base_inf,
                "peak_mb": r.peak_memory_mb,
            })
        columns = [("model", "model", None), ("params", "params", None), ("quantum_params", "circuit params", None),
                   ("test_ppl", "test perplexity", ".3f"), ("train_tok_s", "train tokens/s", ",.0f"),
                   ("speed", "train speed vs classical", ".2f"), ("infer_tok_s", "inference tokens/s", ",.0f"),
                   ("infer_speed", "inference speed vs classical", ".2f"),
                   ("peak_mb", "peak GPU MB" if device.type == "cuda" else "peak RSS MB", ".0f")]
        console.print(rich_table(rows, columns, title="Classical vs hybrid (cf. the seed paper's Table 1)"))
        if use_hf:
            from ..hf import parameter_report

            results["parameter_report"] = parameter_report(hybrid).table()
        results["models"] = {"kind": kind, "quantum_layers": _quantum_layer_indices(hybrid), "table": rows, "runs": {k: v.to_dict() for k, v in runs.items()},
                             "memory_method": runs["classical"].memory_method, "speed_spread": spread}
        say(f"  hybrid training speed vs classical: {spread['median']:.2f}x (per fifth of the run: "
            f"{spread['min']:.2f}x to {spread['max']:.2f}x)")
        plots = []
        if have_matplotlib():
            plots.append(plot_training_curves({k: v.to_dict() for k, v in runs.items()}, out / "training_curves.png",
                                              title="Training curves: classical vs hybrid (half the FFNs quantum)"))
            plots.append(plot_bars(rows, ["params", "test_ppl", "train_tok_s", "infer_tok_s"], out / "comparison.png",
                                   labels={"params": "trainable parameters", "test_ppl": "test perplexity (lower is better)",
                                           "train_tok_s": "training throughput", "infer_tok_s": "inference throughput"},
                                   units={"params": "parameters", "test_ppl": "perplexity per character",
                                          "train_tok_s": "tokens per second", "infer_tok_s": "tokens per second"},
                                   zero_based=("params", "train_tok_s", "infer_tok_s"),
                                   title=f"Classical vs hybrid on {device_text}"))
        else:
            say("plots: skipped (matplotlib is not installed: pip install 'qbridge[ml]')")

        # 4. the trained quantum layer on every backend
        qffn = _qffns(hybrid)[0]
        acts = _activations(hybrid, qffn, data, size, tok)
        say(f"backends: the trained QFFN ({qffn.num_qubits} qubits, depth {qffn.depth}, {qffn.quantum.num_weights} angles) "
            f"on {acts.shape[0]} real activations; reference: torch exact (complex128)")
        agree_rows, notes = backend_agreement(qffn, acts, shots=shots, seed=opts.seed + 1, backends=opts.backends,
                                              log=lambda s: say(s) if opts.progress else None)
        for n in notes:
            say(f"  {n}")
        a_cols = [("backend", "backend", None), ("mode", "mode", None), ("max_dp", "max |dp|", ".2e"),
                  ("tvd", "TVD", ".2e"), ("max_dy", "max |dy| (layer output)", ".2e"), ("max_z", "max z", ".2f"),
                  ("verdict", "verdict", None)]
        arows = [r.to_dict() for r in agree_rows]
        console.print(rich_table(arows, a_cols, title="The trained quantum layer on every backend (vs torch exact)"))
        results["backends"] = {"rows": arows, "notes": notes, "shots": shots, "activations": int(acts.shape[0]),
                               "qubits": qffn.num_qubits}

        # 5. cloud cost (dry run)
        results["cost"] = _costs(hybrid, qffn, acts, size, shots, say, out)

        results["seconds"] = time.perf_counter() - t_start
        results["environment"] = {"python": platform.python_version(), "torch": torch.__version__,
                                  "threads": torch.get_num_threads(), "platform": platform.platform(), **dev_info}
        if device.type == "cuda":
            results["environment"]["peak_gpu_mb"] = max(r.peak_memory_mb for r in runs.values())
        _write_report(out, results, rows, columns, arows, a_cols, plots, corpus_name, len(text), tok.vocab_size, data, cfg)
        (out / "results.json").write_text(json.dumps(results, indent=2, default=_json_default))
        say(f"report: {out / 'report.md'} ({results['seconds']:.0f} s in all)")
        return results
    finally:
        torch.set_num_threads(threads_before)


def _json_default(o: Any) -> Any:
    if isinstance(o, float) and not math.isfinite(o):
        return str(o)
    if isinstance(o, Path):
        return str(o)
    return repr(o)


def _quantum_layer_indices(model: nn.Module) -> list[int]:
    if isinstance(model, TinyGPT):
        return list(model.config.quantum_ffn_layers)
    layout = getattr(getattr(model, "config", None), "qbridge", None)
    return list(layout["ffn_layers"]) if isinstance(layout, dict) else []


@torch.no_grad()
def _activations(model: nn.Module, qffn: nn.Module, data: TokenData, size: dict[str, Any], tok: Any) -> torch.Tensor:
    """``rows`` real inputs of ``qffn``: hidden vectors at spread-out positions of the first test window."""
    from .models import logits_of

    seen: list[torch.Tensor] = []
    h = qffn.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach()))
    try:
        model.eval()
        x, _ = next(data.windows("test", size["context"], batch_size=1))
        logits_of(model, x.to(next(model.parameters()).device))
    finally:
        h.remove()
    acts = seen[0].reshape(-1, seen[0].shape[-1])  # (T, d)
    idx = torch.linspace(0, acts.shape[0] - 1, size["rows"]).round().long()
    return acts[idx]


def _costs(hybrid: nn.Module, qffn: Any, acts: torch.Tensor, size: dict[str, Any], shots: int, say,
           out_dir: Path) -> dict[str, Any]:
    if not _have("qbridge.jobs"):
        say("cost: skipped (qbridge.jobs is not part of this installation)")
        return {"skipped": "qbridge.jobs not installed"}
    from .. import Task
    from ..nn.qffn import QFFN

    n_layers = len(_qffns(hybrid))
    tokens = size["batch_size"] * size["context"]
    w = qffn.quantum.weights.detach().double().cpu().numpy()[None, :]
    task = Task(qffn.circuit, w, {"x": acts.double().cpu().numpy()})
    # what one training step sends with shots: parameter shift for the angles, the amplitude
    # shift rule for the inputs (no backprop on hardware); the preview counts it
    probe = QFFN(qffn.d_model, depth=qffn.depth, backend="torch", shots=shots)
    pv = probe.preview(size["batch_size"], size["context"])
    forward = tokens * n_layers
    step = pv.executions * n_layers
    rows = cloud_costs([task], forward, step, shots)
    qasm_note = _export_qasm(qffn, acts, w, out_dir)
    say(f"cost (dry run, nothing sent; {shots} shots per circuit execution):")
    for r in rows:
        say(f"  {r['device']:30s} this check ({acts.shape[0]} circuits): {_usd(r['this_check'])}; one forward pass "
            f"({forward:,} circuits): {_usd(r['forward_pass'])}; one training step ({step:,} circuits): "
            f"{_usd(r['training_step'])}")
    say(f"  {qasm_note}")
    return {"rows": rows, "shots": shots, "forward_executions": forward, "step_executions": step,
            "quantum_layers": n_layers, "tokens_per_batch": tokens, "preview": str(pv), "qasm": qasm_note}


def _export_qasm(qffn: Any, acts: torch.Tensor, w: Any, out_dir: Path) -> str:
    """The first activation's circuit (input and trained angles bound) as OpenQASM 3, for
    ``qbridge run --dry-run`` on a real device (which needs the provider's credentials to fetch
    the device's capabilities; the estimates above do not)."""
    from ..ir.stateprep import bind_inputs

    circuit = bind_inputs(qffn.circuit, {"x": acts[0].double().cpu().numpy()})
    circuit = circuit.bind(dict(zip(qffn.circuit.parameter_names, w[0].tolist()))).measure_all()
    path = out_dir / "qffn_circuit.qasm"
    path.write_text(circuit.to_qasm(), encoding="utf-8")
    return (f"{path.name}: the first check circuit (input and trained angles bound); with credentials, "
            f"`qbridge run {path.name} --backend braket.device --option arn=<device ARN> --shots N --dry-run` "
            "prints the native program and the estimate, sending nothing")


def _usd(v: float | None) -> str:
    return "unknown" if v is None else f"USD {v:,.2f}"


def _speed_sentence(sp: dict[str, float]) -> str:
    """The training speed ratio with its spread; a direction only where the spread allows one."""
    text = (f"It trains at {sp['median']:.2f}x the classical model's speed (median over {sp['segments']} equal blocks "
            f"of steps; {sp['min']:.2f}x to {sp['max']:.2f}x across them).")
    if sp["max"] < 1:
        return text + (" Here a simulated QFFN (a 2^n-amplitude state per token) costs more than the small classical "
                       "FFN it replaces; docs/reproductions.md measures where that turns around.")
    if sp["min"] > 1:
        return text + " Here the simulated QFFNs cost less than the classical FFNs they replace."
    return text + " The spread includes 1: this run shows no speed difference between the two."


def _write_report(out: Path, results, rows, columns, arows, a_cols, plots, corpus_name, n_chars, vocab, data, cfg) -> None:
    size = results["size"]
    m = results["models"]
    sp = m["speed_spread"]
    env = results["environment"]
    gpu = "gpu" in env
    where = (f"{env['device']} ({env['gpu']}, CUDA {env['cuda']}, peak {env['peak_gpu_mb']:,.0f} MB of GPU memory)"
             if gpu else f"the CPU ({env['threads']} thread(s))")
    c, h = rows
    lines = [
        "# qbridge demo report",
        "",
        f"Corpus: {corpus_name}, {n_chars:,} characters, character-level vocabulary of {vocab}; "
        f"train on the first 90% ({data.train.numel():,} tokens), test on the last 10% ({data.test.numel():,} tokens).",
        "",
        f"Models: {m['kind']}. d = {size['d_model']}, {size['n_layer']} layers, {size['n_head']} heads, context "
        f"{size['context']}. The hybrid twin starts from the classical model's initial weights with the FFNs of layers "
        f"{results['models'].get('quantum_layers', '')} replaced by QFFNs (amplitude encoding, depth-{results['options']['depth']} "
        "RY/RZ + CNOT-ring ansatz, probabilities readout; simulated exactly on the embedded torch backend).",
        "",
        f"Training (the seed paper's Algorithm 2): {cfg.steps} steps, batch {cfg.batch_size} x {cfg.context} tokens, AdamW "
        f"lr {cfg.lr:g} (linear warmup {cfg.warmup} steps, then constant), weight decay {cfg.weight_decay:g}, gradient "
        f"clipping {cfg.clip:g}, cross-entropy; the same batches for both models. Test perplexity over "
        f"{cfg.eval_batches} x {cfg.eval_batch_size} non-overlapping windows. Throughput is wall-clock time of the "
        f"training steps only, on {where}; peak memory is {m['memory_method']}"
        + (" (tensors on the GPU)." if gpu else " (whole process)."),
        "",
        "## Classical vs hybrid",
        "",
        markdown_table(rows, columns),
        "",
        f"The hybrid has {fmt(c['params'] - h['params'])} fewer parameters ({h['params'] / c['params']:.0%} of the classical "
        f"model); its test perplexity is {h['test_ppl']:.3f} against {c['test_ppl']:.3f}. {_speed_sentence(sp)}",
        "",
    ]
    if results.get("parameter_report"):
        lines += ["Where the hybrid's parameters are (`qbridge.hf.parameter_report`):", "", "```",
                  results["parameter_report"], "```", ""]
    for p in plots:
        lines += [f"![{p.stem}]({p.name})", ""]
    if not plots:
        lines += ["(plots skipped: matplotlib is not installed)", ""]
    b = results["backends"]
    lines += [
        "## The trained quantum layer on every backend",
        "",
        f"The first QFFN of the trained hybrid ({b['qubits']} qubits), with its trained angles, on {b['activations']} "
        f"real activations (its inputs in a test window). Reference: the torch backend, exact, complex128. "
        f"Shot runs use {b['shots']} shots; z is the largest binomial z-score of a count "
        "(consistent with shot noise when at most 5). max |dy| is the difference of the layer's output "
        "computed from each backend's probabilities.",
        "",
        markdown_table(arows, a_cols),
        "",
    ]
    lines += [f"- {n}" for n in b["notes"]] + [""]
    cost = results["cost"]
    lines += ["## What a run on a cloud QPU would cost (dry run, nothing sent)", ""]
    if "skipped" in cost:
        lines += [f"Skipped: {cost['skipped']}.", ""]
    else:
        lines += [
            f"{cost['shots']} shots per circuit execution. This check: the {b['activations']} circuits above. One forward "
            f"pass: {cost['tokens_per_batch']:,} tokens through {cost['quantum_layers']} QFFN layer(s) = "
            f"{cost['forward_executions']:,} circuits. One training step with hardware gradients (parameter shift for the "
            f"angles, the amplitude shift rule for the inputs) = {cost['step_executions']:,} circuits.",
            "",
            markdown_table(cost["rows"], [("device", "device", None), ("this_check", "this check (USD)", ",.2f"),
                                          ("forward_pass", "one forward pass (USD)", ",.0f"),
                                          ("training_step", "one training step (USD)", ",.0f")]),
            "",
            "Pricing models: " + "; ".join(sorted({r.get("this_check_model", "") for r in cost["rows"]})) + ".",
            "",
            f"{cost['qasm']}.",
            "",
            "Training belongs in simulation; a QPU is for inference checks like the one above.",
            "",
        ]
    env = results["environment"]
    lines += ["## Environment", "",
              f"Python {env['python']}, torch {env['torch']}, "
              + (f"device {where}, {env['threads']} CPU thread(s), " if gpu else f"{where}, ")
              + f"{env['platform']}; {results['seconds']:.0f} s in all.", ""]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
