"""A noisy QFFN step, forward + backward, on ``torch`` (exact density matrices) against PennyLane's
``default.mixed`` with the same noise and torch backprop, and against the noiseless step.

Usage::

    python benchmarks/noise_speed.py                  # n = 6 and 8, 1,024 tokens (about 6 minutes)
    python benchmarks/noise_speed.py --qubits 6 --no-pennylane

The step: ``QFFN(2^n, depth=4)`` (amplitude encoding, RY and RZ on every qubit, a CNOT ring; all
2^n probabilities read out) on 1,024 tokens, forward and backward to the weights and the inputs.
The noise: a one-qubit depolarizing error (p = 0.001) after every RY and RZ and a two-qubit one
(p = 0.01) after every CNOT (Qiskit's convention; PennyLane's ``DepolarizingChannel(3p/4)`` and a
``QubitChannel`` of the same Kraus operators). Everything in double precision (default.mixed
computes in complex128), plus qbridge in single precision beside it. Medians of ``--repeat``
steps after one warm-up. default.mixed keeps a (tokens, 4^n) density matrix per operation for
autograd: at n = 8 that is beyond this machine's memory for 1,024 tokens, so it is timed on
``--pennylane-tokens`` tokens and scaled linearly to 1,024 (its cost is linear in the tokens;
the cell says so). Reported in docs/noise-aware-training.md.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

from qbridge.nn import QFFN
from qbridge.noise import Depolarizing, NoiseModel

DEPTH, P1, P2 = 4, 0.001, 0.01


def noise_model() -> NoiseModel:
    return (NoiseModel().with_gate_error("ry", Depolarizing(P1)).with_gate_error("rz", Depolarizing(P1))
            .with_gate_error("cx", Depolarizing(P2, 2)))


def time_step(fn, repeat: int) -> float:
    fn()  # warm-up
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def qbridge_step(n: int, tokens: int, noisy: bool, dtype: torch.dtype):
    torch.manual_seed(0)
    layer = QFFN(2**n, depth=DEPTH, noise=noise_model() if noisy else None).to(dtype)
    x = torch.randn(tokens, 2**n, dtype=dtype, requires_grad=True)

    def step():
        layer.zero_grad(set_to_none=True)
        x.grad = None
        layer(x).sum().backward()

    return step


def pennylane_step(n: int, tokens: int):
    import pennylane as qml

    kraus2 = [torch.tensor(k) for k in Depolarizing(P2, 2).kraus()]
    dev = qml.device("default.mixed", wires=n)

    @qml.qnode(dev, interface="torch", diff_method="backprop")
    def circuit(feats, w):
        qml.AmplitudeEmbedding(feats, wires=range(n), normalize=True)
        k = 0
        for _ in range(DEPTH):
            for q in range(n):
                qml.RY(w[k], wires=q)
                qml.DepolarizingChannel(3 * P1 / 4, wires=q)
                qml.RZ(w[k + 1], wires=q)
                qml.DepolarizingChannel(3 * P1 / 4, wires=q)
                k += 2
            for q in range(n):
                qml.CNOT(wires=[q, (q + 1) % n])
                qml.QubitChannel(kraus2, wires=[q, (q + 1) % n])
        return qml.probs(wires=range(n))

    torch.manual_seed(0)
    w = (0.1 * torch.randn(2 * n * DEPTH, dtype=torch.float64)).requires_grad_()
    x = torch.randn(tokens, 2**n, dtype=torch.float64, requires_grad=True)
    N = 2**n

    def step():
        w.grad = x.grad = None
        p = circuit(x, w)
        r = torch.linalg.vector_norm(x, dim=1, keepdim=True)
        (r * (N * p - 1) / math.sqrt(N)).sum().backward()  # QFFN's readout

    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--qubits", default="6,8")
    ap.add_argument("--tokens", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pennylane-tokens", type=int, default=16, help="tokens default.mixed is timed on at n >= 8")
    ap.add_argument("--no-pennylane", action="store_true")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"noisy QFFN step (depth {DEPTH}, {args.tokens} tokens, forward + backward), torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; medians of {args.repeat}")
    head = f"{'n':>3} {'noiseless f64':>14} {'noisy f64':>12} {'noisy f32':>12} {'noisy/noiseless':>16} " \
           f"{'default.mixed f64':>22} {'default.mixed / qbridge':>24}"
    print(head)
    for n in [int(q) for q in args.qubits.split(",") if q]:
        clean = time_step(qbridge_step(n, args.tokens, False, torch.float64), args.repeat)
        noisy = time_step(qbridge_step(n, args.tokens, True, torch.float64), args.repeat)
        noisy32 = time_step(qbridge_step(n, args.tokens, True, torch.float32), args.repeat)
        pl_cell, ratio = "-", "-"
        if not args.no_pennylane:
            try:
                import pennylane  # noqa: F401
            except ImportError:
                pl_cell = "not installed"
            else:
                t = args.tokens if n < 8 else min(args.tokens, args.pennylane_tokens)
                pl = time_step(pennylane_step(n, t), 1 if t == args.tokens else args.repeat) * args.tokens / t
                pl_cell = f"{pl:.2f} s" + ("" if t == args.tokens else f" (x{args.tokens // t} of {t} tok)")
                ratio = f"{pl / noisy:.0f}x"
        print(f"{n:>3} {clean * 1e3:>11.1f} ms {noisy * 1e3:>9.0f} ms {noisy32 * 1e3:>9.0f} ms {noisy / clean:>15.0f}x "
              f"{pl_cell:>22} {ratio:>24}", flush=True)


if __name__ == "__main__":
    main()
