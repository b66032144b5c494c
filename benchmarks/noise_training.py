"""Noise-aware training, measured: a QFFN classifier trained noiselessly and under a device's
noise on ``torch``, each evaluated noiselessly, under the training noise, and on ``ibm.fake``.

Usage::

    python benchmarks/noise_training.py                 # fake_manila and fake_quito, 3 seeds (~2 min)
    python benchmarks/noise_training.py --seeds 5 --devices fake_lima

The task: 3 classes of 8-dimensional Gaussian clusters (seeded), 240 training and 240 test points.
The model: ``QFFN(8, depth=4, affine=False)`` (3 qubits: amplitude encoding, RY/RZ layers, CNOT
ring, all 8 probabilities) whose first 3 outputs (basis states |000>, |001>, |010>) times one
learned temperature are the logits: no classical layer re-weights what was measured, so what the
device's noise does to the probabilities reaches the answer. Full-batch Adam (lr 0.05, 120
steps). Variants:

- ``noiseless``: trained on ``torch`` without noise (the usual way);
- ``noiseless + norm``: the same with QuantumNAT's normalisation of the measured outputs;
- ``noise-aware``: trained on ``torch`` under the device's noise model
  (``NoiseModel.from_backend(device).extended_to()``: the device's calibrated errors carried to
  the layer's gates) with the normalisation.

Evaluation: the test accuracy noiselessly (``torch``), under the training noise model on ``torch``
(exact), and on ``ibm.fake`` (the fake device in Qiskit Runtime's local testing mode: transpiled
to the device, its own Aer noise model, 4,000 shots per point). Normalised models standardise with
the statistics of the test batch they are evaluated on (QuantumNAT's choice). The last lines
give the gap between noiseless and ``ibm.fake`` accuracy of the noiseless twin and how much of it
the noise-aware model closes. Reported in docs/noise-aware-training.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import torch

from qbridge.nn import QFFN
from qbridge.noise import NoiseModel

D, DEPTH, CLASSES, TRAIN, TEST, STEPS, LR, SHOTS = 8, 4, 3, 240, 240, 120, 0.05, 4000


def data(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    g = np.random.default_rng(seed)
    centres = g.normal(size=(CLASSES, D))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True) / 1.6
    y = g.integers(0, CLASSES, TRAIN + TEST)
    x = centres[y] + g.normal(scale=0.8, size=(TRAIN + TEST, D))
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y)
    return xt[:TRAIN], yt[:TRAIN], xt[TRAIN:], yt[TRAIN:]


class ReadClasses(torch.nn.Module):
    """Logits straight from the measurement: the QFFN's first CLASSES outputs (basis states
    |0>, |1>, |2> of the register), times one learned temperature. No classical layer can
    re-weight the features, so what noise does to the measured probabilities reaches the answer."""

    def __init__(self) -> None:
        super().__init__()
        self.temperature = torch.nn.Parameter(torch.tensor(4.0))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.temperature * y[:, :CLASSES]


def model(noise=None, normalize=False, backend="torch", shots=None, seed=None, backend_options=None) -> torch.nn.Module:
    q = QFFN(D, depth=DEPTH, backend=backend, noise=noise, normalize=normalize, shots=shots, seed=seed,
             backend_options=backend_options, affine=False)
    return torch.nn.Sequential(q, ReadClasses())


def train(m: torch.nn.Module, x, y, seed: int) -> float:
    torch.manual_seed(seed)
    opt = torch.optim.Adam(m.parameters(), lr=LR)
    for _ in range(STEPS):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
    return loss.item()


@torch.no_grad()
def accuracy(m: torch.nn.Module, x, y) -> float:
    m.eval()
    return float((m(x).argmax(1) == y).float().mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--devices", default="fake_manila,fake_quito",
                    help="comma-separated IBM fake devices of qiskit-ibm-runtime")
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    devices = [d for d in args.devices.split(",") if d]
    try:
        noise = {d: NoiseModel.from_backend(d).extended_to() for d in devices}
    except Exception as exc:  # noqa: BLE001 - the benchmark needs qiskit-ibm-runtime
        sys.exit(f"needs qiskit-ibm-runtime and qiskit-aer (the ibm.fake backend): {exc}")
    x, y, xt, yt = data()
    t0 = time.perf_counter()
    # the noiseless variants are trained once and evaluated on every device
    trained: dict[tuple[str, str | None], list[tuple[float, dict]]] = {}
    plan = [("noiseless", None, {}), ("noiseless + norm", None, {"normalize": "batch"})]
    plan += [("noise-aware", d, {"noise": noise[d], "normalize": "batch"}) for d in devices]
    for name, dev, opts in plan:
        runs = []
        for seed in range(args.seeds):
            torch.manual_seed(seed)
            m = model(**opts)
            runs.append((train(m, x, y, seed), m.state_dict()))
        trained[(name, dev)] = runs
        print(f"trained {name}{' (' + dev + ')' if dev else ''} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr,
              flush=True)
    cols = ["train loss", "noiseless", "training noise", "ibm.fake"]
    print(f"QFFN classifier (d={D}, depth {DEPTH}, {CLASSES} classes read from the measured probabilities, "
          f"{TRAIN}/{TEST} points), {args.seeds} seeds; ibm.fake: {SHOTS} shots; test accuracy mean (min-max)")
    for dev in devices:
        print(f"\ndevice {dev} (training noise: NoiseModel.from_backend({dev!r}).extended_to(), exact on torch)")
        print(f"{'trained':<18}" + "".join(f"{c:>22}" for c in cols))
        table: dict[str, dict[str, list[float]]] = {}
        for name in ("noiseless", "noiseless + norm", "noise-aware"):
            runs = trained[(name, dev if name == "noise-aware" else None)]
            norm = "batch" if name != "noiseless" else False
            acc: dict[str, list[float]] = {c: [] for c in cols}
            for seed, (loss, state) in enumerate(runs):
                acc["train loss"].append(loss)
                for where in cols[1:]:
                    if where == "ibm.fake":
                        ev = model(normalize=norm, backend="ibm.fake", shots=SHOTS, seed=100 + seed,
                                   backend_options={"backend": dev})
                    else:
                        ev = model(normalize=norm, noise=noise[dev] if where == "training noise" else None)
                    ev.load_state_dict(state)
                    acc[where].append(accuracy(ev, xt, yt))
            table[name] = acc
            cells = [f"{statistics.mean(v):.3f} ({min(v):.3f}-{max(v):.3f})" for v in (acc[c] for c in cols)]
            print(f"{name:<18}" + "".join(f"{c:>22}" for c in cells), flush=True)
        base = table["noiseless"]
        gap = statistics.mean(base["noiseless"]) - statistics.mean(base["ibm.fake"])
        aware = statistics.mean(table["noise-aware"]["ibm.fake"]) - statistics.mean(base["ibm.fake"])
        print(f"gap of the noiseless twin (noiseless - ibm.fake): {gap:+.3f}; noise-aware on ibm.fake against the "
              f"twin: {aware:+.3f}" + (f" ({aware / gap:.0%} of the gap closed)" if gap > 0.01 else
                                       " (no gap to close)"))
    print(f"\ntotal {time.perf_counter() - t0:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
