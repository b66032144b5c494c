"""QFFN speed on a GPU, side by side in one run: qbridge against a plain-torch floor, the
two-GEMM bound and PennyLane, then whole models (classical against hybrid TinyGPT).

Layer table (the workload of ``benchmarks/layer_speed.py``: QFFN depth 4, amplitude encoding, the
probabilities readout; one step = forward + backward of the circuit weights), on the GPU:

- qbridge: ``qbridge.nn.QFFN`` moved to the device (the default backend follows it);
- floor: the same computation written directly in torch (U from Kronecker factors, one GEMM);
- bound: the two GEMMs any unitary-path implementation must do, with U handed over;
- PennyLane default.qubit: torch interface, backprop, broadcasting, CUDA tensors (when installed).
  ``pennylane.lightning.gpu`` and ``aer.gpu`` rows need their CUDA builds; where those are not
  installed the row says so.

Model table: qbridge's TinyGPT, 4 layers, AdamW steps, fp32, classical against hybrid (half the
FFNs quantum, depth 4), tokens per second and parameter counts.

Timing: CUDA events around each step after warm-up, the median of ``--reps`` steps; the
implementations take turns. float32 matmuls at full precision (TF32 off) unless ``--tf32``.
On a machine without a GPU it runs on the CPU at the sizes given (``--device cpu --quick``), to
check the script. Run: ``python benchmarks/gpu_speed.py`` (under 5 minutes on an H200).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from layer_speed import DEPTH, Floor, GemmBound, Impl, PennyLaneDefault, QbridgeTorch, make_data  # noqa: E402


class Timer:
    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"

    def __call__(self, fn, reps: int) -> float:
        """Median seconds of ``reps`` calls of ``fn`` (after one warm-up call)."""
        fn()
        times = []
        for _ in range(reps):
            if self.cuda:
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                fn()
                b.record()
                b.synchronize()
                times.append(a.elapsed_time(b) / 1e3)
            else:
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
        return statistics.median(times)


class OnDevice(Impl):
    """An implementation of layer_speed set up on the CPU's data moved to ``device``."""

    def __init__(self, inner: Impl, device: torch.device) -> None:
        self.inner, self.device = inner, device
        self.name = inner.name

    def setup(self, n, x, w):
        x = x.to(self.device)
        if isinstance(self.inner, QbridgeTorch):
            self.inner.setup(n, x, w)
            self.inner.m.to(self.device)
        else:
            self.inner.setup(n, x, w.to(self.device))

    def forward(self):
        return self.inner.forward()

    def step(self):
        out = self.inner.forward()
        (out * out).sum().backward()


class GraphsOff(OnDevice):
    """qbridge with the fast path's CUDA graphs switched off (qbridge.sim.graphs.ENABLED)."""

    def __init__(self, device):
        super().__init__(QbridgeTorch(), device)
        self.name = "qbridge, CUDA graphs off"

    def step(self):
        from qbridge.sim import graphs

        before, graphs.ENABLED = graphs.ENABLED, False
        try:
            super().step()
        finally:
            graphs.ENABLED = before


def ms(t: float | None) -> str:
    return "-" if t is None else (f"{t * 1e3:.2f} ms" if t < 1 else f"{t:.2f} s")


def layer_table(device, sizes, token_counts, reps, pennylane_max_n) -> list[dict]:
    timer = Timer(device)
    rows = []
    for n in sizes:
        for tokens in token_counts:
            x, w = make_data(n, tokens)
            impls = [OnDevice(QbridgeTorch(), device), GraphsOff(device), OnDevice(Floor(), device),
                     OnDevice(GemmBound(), device)]
            have_pl = n <= pennylane_max_n and _have("pennylane")
            if have_pl:
                impls.append(OnDevice(PennyLaneDefault(), device))
            row = {"n": n, "d": 2**n, "tokens": tokens}
            try:
                for impl in impls:
                    impl.setup(n, x, w)
                ref = impls[0].forward().detach()
                for impl in impls[1:]:
                    err = float((impl.forward().detach() - ref).abs().max() / ref.abs().max())
                    if err > 1e-4:
                        raise AssertionError(f"{impl.name} disagrees with qbridge at n={n}: {err:.1e}")
                for impl in impls:
                    row[impl.name] = timer(impl.step, reps)
            except torch.OutOfMemoryError:
                row["note"] = "out of memory"
            except Exception as exc:  # a row that fails is reported, the table goes on
                row["note"] = f"failed: {exc!r}"[:300]
                print(f"n={n} tokens={tokens}: {row['note']}", flush=True)
            finally:
                del impls
                if device.type == "cuda":
                    torch.cuda.empty_cache()
            rows.append(row)
            q, b = row.get(QbridgeTorch.name), row.get(GemmBound.name)
            print(f"n={n:2d} tokens={tokens:6d}  qbridge {ms(q):>10}  (graphs off {ms(row.get('qbridge, CUDA graphs off')):>10})  "
                  f"floor {ms(row.get(Floor.name)):>10}  "
                  f"bound {ms(b):>10}  default.qubit {ms(row.get(PennyLaneDefault.name)):>10}  "
                  f"qbridge/bound {q / b if q and b else float('nan'):.2f}x", flush=True)
    return rows


def _have(mod: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(mod) is not None


def model_table(device, widths, reps, context=256) -> list[dict]:
    from qbridge.train.models import GPTConfig, TinyGPT, count_parameters

    timer = Timer(device)
    rows = []
    for d, batch in widths:
        row = {"d": d, "batch": f"{batch} x {context}"}
        for label, layers in (("classical", ()), ("hybrid", (1, 3))):
            torch.manual_seed(0)
            cfg = GPTConfig(vocab_size=256, context=context, d_model=d, n_layer=4, n_head=max(1, d // 64),
                            quantum_ffn_layers=layers, qffn_depth=DEPTH)
            try:
                model = TinyGPT(cfg).to(device)
                opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
                ids = torch.randint(0, 256, (batch, context + 1), device=device)

                def step():
                    logits = model(ids[:, :-1])
                    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 256), ids[:, 1:].reshape(-1))
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()

                row[f"{label}_tok_s"] = batch * context / timer(step, reps)
                row[f"{label}_params"] = count_parameters(model)
            except torch.OutOfMemoryError:
                row[f"{label}_tok_s"] = None
            finally:
                model = opt = None
                if device.type == "cuda":
                    torch.cuda.empty_cache()
        c, h = row.get("classical_tok_s"), row.get("hybrid_tok_s")
        row["ratio"] = h / c if c and h else None
        rows.append(row)
        print(f"d={d:5d} batch {row['batch']:>9}: classical {c or 0:12,.0f} tok/s ({row.get('classical_params', 0):,} params)  "
              f"hybrid {h or 0:12,.0f} tok/s ({row.get('hybrid_params', 0):,} params)  "
              f"hybrid/classical {row['ratio'] or float('nan'):.2f}", flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--sizes", default="8,10,12")
    ap.add_argument("--tokens", default="4096,65536")
    ap.add_argument("--widths", default="256:32,512:32,1024:16,4096:4", help="d:batch of 256-token sequences")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--pennylane-max-n", type=int, default=10)
    ap.add_argument("--tf32", action="store_true", help="allow TF32 matmuls (an opt-in, shown as such)")
    ap.add_argument("--quick", action="store_true", help="small sizes (to check the script on a CPU)")
    ap.add_argument("--skip-models", action="store_true")
    a = ap.parse_args(argv)
    from qbridge.train.loop import device_info, resolve_device

    device = resolve_device(a.device)
    if a.quick:
        a.sizes, a.tokens, a.widths, a.reps = "4,6", "64,512", "32:2,64:2", 3
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    torch.backends.cudnn.allow_tf32 = a.tf32
    torch.set_float32_matmul_precision("high" if a.tf32 else "highest")
    info = device_info(device)
    print(f"device {info}; torch {torch.__version__} (CUDA {torch.version.cuda}); python {platform.python_version()}; "
          f"float32 matmul precision {torch.get_float32_matmul_precision()} (TF32 {'on' if a.tf32 else 'off'}); "
          f"QFFN depth {DEPTH}; medians of {a.reps} steps", flush=True)
    sizes = [int(s) for s in a.sizes.split(",")]
    tokens = [int(t) for t in a.tokens.split(",")]
    print("\n## Layer: one QFFN step (forward + backward)")
    layer_table(device, sizes, tokens, a.reps, a.pennylane_max_n)
    for name in ("pennylane.lightning.gpu", "aer.gpu"):
        print(f"{name}: not measured here" + ("" if device.type == "cuda" else " (no GPU)")
              + " (needs its CUDA build; see docs)")
    if not a.skip_models:
        print("\n## Whole model: TinyGPT, 4 layers, AdamW training steps")
        widths = [tuple(int(v) for v in w.split(":")) for w in a.widths.split(",")]
        model_table(device, widths, max(3, a.reps // 4))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
