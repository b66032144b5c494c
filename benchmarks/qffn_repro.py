"""Reproduce the QFFN tables of "Less Bits, More Qubits" at small scale, plus the CPU speed goal.

Setup: character-level Tiny Shakespeare (the first 90% trains, the last 10% tests), tiny GPT-2-
and LLaMA-style models built from transformers configurations (``qbridge.train.build_hf_model``),
hybridized with ``qbridge.hf.hybridize`` (QFFN: amplitude encoding on n = ceil(log2 d) qubits,
depth-D RY/RZ + CNOT-ring ansatz, probabilities readout; exact simulation on the embedded torch
backend, gradients by backprop). Every model of a family starts from the same seed and sees the
same batches; training is the seed paper's Algorithm 2 (AdamW, linear warmup, clipping 1.0).

Tables (per family):

1. classical vs half the FFNs quantum (D = 4): parameters, test perplexity, tokens/s (Table 1);
2. ablation over the quantum FFN fraction 1/4, 1/2, full (D = 4) (Table 2);
3. depth ablation D in {2, 4, 8} at half the FFNs quantum.

Speed goal: at d >= 256 (``--speed-d``), a hybrid model with half the FFNs quantum against its
classical twin, trained for ``--speed-steps`` steps each on the paper's batch shape (8 windows of
128 tokens; ``--speed-batch``, ``--speed-context``), the two taking turns step by step in the same
process (so that load from other processes hits both alike); tokens/s side by side. The QFFN
builds its 2^n x 2^n unitary once per step and applies it to every token, so its share of the
cost falls as the tokens per step grow.
Also with the real-valued ansatz ``ry_ring`` (RY + CNOT ring: U is real, so the simulation
needs no complex arithmetic), which is one of the choices the paper leaves open.

Tokens/s in tables 1-3 are measured run after run (not interleaved); on a shared machine they
carry the load of the moment. Run: ``python benchmarks/qffn_repro.py [--steps N] [--d-model D]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "tinyshakespeare.txt"


def _floats(s: str) -> list[float]:
    return [float(eval(x, {}, {})) if "/" in x else float(x) for x in s.split(",") if x.strip()]  # noqa: S307 - "1/4"


def _ints(s: str) -> list[int]:
    return [int(x) for x in s.split(",") if x.strip()]


def _frac_label(f: float) -> str:
    return {0.25: "1/4", 0.5: "1/2", 1.0: "full", 0.75: "3/4"}.get(f, f"{f:g}")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="Tiny Shakespeare text file (default: %(default)s)")
    ap.add_argument("--families", default="gpt2,llama")
    ap.add_argument("--d-model", type=int, default=64)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--context", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--fractions", default="0.25,0.5,1", help="quantum FFN fractions (Table 2)")
    ap.add_argument("--depths", default="2,4,8", help="circuit depths at half the FFNs quantum")
    ap.add_argument("--eval-batches", type=int, default=20, help="test batches of 64 windows")
    ap.add_argument("--speed-d", type=int, default=256, help="width of the speed comparison (0: skip it)")
    ap.add_argument("--speed-layers", type=int, default=4)
    ap.add_argument("--speed-heads", type=int, default=4)
    ap.add_argument("--speed-steps", type=int, default=20)
    ap.add_argument("--speed-batch", type=int, default=8, help="windows per step in the speed comparison (the paper: 8)")
    ap.add_argument("--speed-context", type=int, default=128, help="context in the speed comparison (the paper: 128)")
    ap.add_argument("--speed-families", default="gpt2,llama")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="folder for results.json and PNG plots (optional)")
    args = ap.parse_args(argv)

    from qbridge.train import CharTokenizer, TokenData, TrainConfig, Trainer, count_parameters
    from qbridge.train.report import markdown_table
    from qbridge.train.runs import ModelSpec, build_model

    torch.set_num_threads(args.threads)
    text = Path(args.data).read_text(encoding="utf-8")
    tok = CharTokenizer.train(text)
    data = TokenData(tok.encode(text), train_fraction=0.9, test_fraction=0.1)
    fractions, depths = _floats(args.fractions), _ints(args.depths)
    print(f"data {args.data}: {len(text):,} characters, vocabulary {tok.vocab_size}"
          + ("" if not args.families.strip() else f"; models d={args.d_model}, "
          f"{args.layers} layers, {args.heads} heads, context {args.context}; {args.steps} steps x {args.batch_size} "
          f"windows, AdamW lr {args.lr:g} (warmup {args.warmup}), wd {args.weight_decay:g}, clip 1.0; "
          f"{args.threads} thread(s)"), flush=True)
    cfg = TrainConfig(steps=args.steps, batch_size=args.batch_size, context=args.context, lr=args.lr, warmup=args.warmup,
                      weight_decay=args.weight_decay, clip=1.0, seed=args.seed, eval_batches=args.eval_batches,
                      eval_batch_size=64, eval_interval=max(1, args.steps // 5))
    results: dict = {"args": vars(args), "families": {}}
    tables: list[str] = []
    for family in [f.strip() for f in args.families.split(",") if f.strip()]:
        base = ModelSpec(family=family, vocab_size=tok.vocab_size, d_model=args.d_model, n_layer=args.layers,
                         n_head=args.heads, context=args.context, seed=args.seed)
        plan = [("classical", base, "-", "-")]
        for f in fractions:
            plan.append((f"QFFN {_frac_label(f)}, D=4", replace(base, ffn_fraction=f, depth=4), _frac_label(f), 4))
        for D in depths:
            if D != 4 or 0.5 not in fractions:
                plan.append((f"QFFN 1/2, D={D}", replace(base, ffn_fraction=0.5, depth=D), "1/2", D))
        rows, runs = [], {}
        for label, spec, frac, depth in plan:
            t0 = time.perf_counter()
            model = build_model(spec)
            res = Trainer(model, data, cfg, label=f"{family} {label}").fit()
            rows.append({"model": label, "fraction": frac, "depth": depth, "params": count_parameters(model),
                         "test_loss": res.test_loss, "test_ppl": res.test_ppl, "train_tok_s": res.train_tokens_per_s,
                         "infer_tok_s": res.eval_tokens_per_s, "spec": spec.to_dict()})
            runs[label] = res.to_dict()
            print(f"{family} {label}: params {rows[-1]['params']:,}, test ppl {res.test_ppl:.3f}, "
                  f"{res.train_tokens_per_s:,.0f} train tok/s ({time.perf_counter() - t0:.0f} s)", flush=True)
        c = rows[0]
        for r in rows:
            r["params_ratio"] = r["params"] / c["params"]
            r["speed"] = r["train_tok_s"] / c["train_tok_s"]
            r["infer_speed"] = r["infer_tok_s"] / c["infer_tok_s"]
        cols = [("model", "model", None), ("params", "params", None), ("params_ratio", "params vs classical", ".2f"),
                ("test_ppl", "test perplexity", ".3f"), ("train_tok_s", "train tokens/s", ",.0f"),
                ("speed", "train speed vs classical", ".2f"), ("infer_speed", "inference speed vs classical", ".2f")]
        t1 = [r for r in rows if r["model"] in ("classical", "QFFN 1/2, D=4")]
        t2 = [rows[0]] + [r for r in rows if r["depth"] == 4]
        t3 = [r for r in rows if r["fraction"] == "1/2"]
        t3.sort(key=lambda r: r["depth"])
        block = [f"### {family}: Table 1 (classical vs half the FFNs quantum)", "", markdown_table(t1, cols), "",
                 f"### {family}: Table 2 (quantum FFN fraction, D = 4)", "", markdown_table(t2, cols), "",
                 f"### {family}: depth ablation (half the FFNs quantum)", "",
                 markdown_table(t3, [("depth", "D", None)] + cols[1:]), ""]
        tables += block
        print("\n" + "\n".join(block), flush=True)
        results["families"][family] = {"rows": rows, "runs": runs}
        if args.out:
            _plots(Path(args.out), family, rows, runs)
    if args.speed_d:
        speed_rows = speed_goal(args, tok, data)
        results["speed"] = speed_rows
        cols = [("family", "family", None), ("model", "model", None), ("params", "params", None),
                ("tok_s", "train tokens/s", ",.0f"), ("ratio", "vs classical", ".2f"), ("loss", "mean loss, last 5 steps", ".3f")]
        block = [f"### Speed goal: d = {args.speed_d}, {args.speed_layers} layers, half the FFNs quantum, "
                 f"{args.speed_steps} interleaved steps of {args.speed_batch} x {args.speed_context} tokens", "",
                 markdown_table(speed_rows, cols), ""]
        tables += block
        print("\n" + "\n".join(block), flush=True)
    results["tables"] = "\n".join(tables)
    results["environment"] = {"python": platform.python_version(), "torch": torch.__version__,
                              "platform": platform.platform(), "threads": torch.get_num_threads()}
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "qffn_results.json").write_text(json.dumps(results, indent=2, default=str))
    return results


def speed_goal(args, tok, data) -> list[dict]:
    """Classical vs hybrid at ``--speed-d``, trained in alternation, tokens/s side by side."""
    from qbridge.train import TrainConfig, Trainer, count_parameters
    from qbridge.train.metrics import Throughput
    from qbridge.train.runs import ModelSpec, build_model

    rows = []
    cfg = TrainConfig(steps=args.speed_steps, batch_size=args.speed_batch, context=args.speed_context, lr=1e-3, warmup=5,
                      clip=1.0, seed=args.seed)
    for family in [f.strip() for f in args.speed_families.split(",") if f.strip()]:
        base = ModelSpec(family=family, vocab_size=tok.vocab_size, d_model=args.speed_d, n_layer=args.speed_layers,
                         n_head=args.speed_heads, context=args.speed_context, seed=args.seed)
        variants = [("classical", base), ("QFFN 1/2, D=4", replace(base, ffn_fraction=0.5)),
                    ("QFFN 1/2, D=4, ry_ring ansatz", replace(base, ffn_fraction=0.5, ansatz="ry_ring"))]
        trainers = [(label, Trainer(build_model(spec), data, cfg, label=label)) for label, spec in variants]
        for _, tr in trainers:  # warm-up step, not timed
            tr.train_step()
            tr.throughput = Throughput()
        for _ in range(args.speed_steps):
            for _, tr in trainers:
                tr.train_step()
        c = trainers[0][1].throughput.tokens_per_second
        for label, tr in trainers:
            rows.append({"family": family, "model": label, "params": count_parameters(tr.model),
                         "tok_s": tr.throughput.tokens_per_second, "ratio": tr.throughput.tokens_per_second / c,
                         "loss": sum(tr.losses[-5:]) / len(tr.losses[-5:])})
            print(f"speed {family} d={args.speed_d} {label}: {rows[-1]['tok_s']:,.0f} tok/s ({rows[-1]['ratio']:.2f}x)",
                  flush=True)
    return rows


def _plots(out: Path, family: str, rows: list[dict], runs: dict) -> None:
    try:
        from qbridge.train.plots import plot_bars, plot_training_curves
    except ImportError:
        return
    try:
        pick = {k: v for k, v in runs.items() if k == "classical" or k.endswith("D=4")}
        plot_training_curves(pick, out / f"qffn_{family}_curves.png",
                             title=f"{family}: classical vs quantum FFN fractions (D=4)")
        plot_bars(rows, ["params", "test_ppl", "train_tok_s"], out / f"qffn_{family}_ablation.png",
                  title=f"{family}: QFFN ablation",
                  labels={"params": "parameters", "test_ppl": "test perplexity", "train_tok_s": "train tokens/s"})
    except ImportError as exc:
        print(f"plots skipped: {exc}")


if __name__ == "__main__":
    main(sys.argv[1:])
