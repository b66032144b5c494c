"""Error-mitigation benchmark on the noisy emulators that run here.

For each backend and workload, every technique runs once (one submission each) and is compared
with the unmitigated values of the same run (``metadata["unmitigated"]``: the scale-1 circuits'
raw counts). Errors are absolute, against exact noiseless values from the torch backend
(complex128), averaged over the workload's observables. The shot cost is per binding, all
circuits included (measurement groups x noise scales, and the readout calibration).

Backends:
- ``aer[fake_manila]``: Qiskit Aer with the noise model of IBM's fake Manila (5 qubits);
- ``ibm.fake``: the fake Manila device in Qiskit Runtime's local testing mode (transpiled to its
  ISA, routed on its coupling map);
- ``braket.dm``: Braket's density-matrix simulator, depolarizing 1% (one-qubit gates), 4%
  (two-qubit gates), readout flips 3%.

Workloads: GHZ states on 3, 4, 5 qubits (nearest-neighbour CNOT chain; observables Z_i Z_i+1 and
X^n, all ideally 1); two random shallow circuits (4 qubits, 3 layers of random RY/RZ and a CNOT
chain; observables Z_i, Z_i Z_i+1, X_i with |ideal| >= 0.2, chosen from the exact values before
any noisy run); a QFFN layer's Pauli readout (qbridge.nn.QFFN, d = 8, 3 qubits, depth 2, weights
N(0, 1), amplitude-encoded inputs, 2 rows; ZNE with ``fold_encoding`` so that the encoding's
noise is scaled too). ZNE: scale factors (1, 3, 5), global folding, Richardson; twirling: 8
explicit instances; readout: tensored calibration with as many shots as each circuit.

Run: ``python benchmarks/mitigation.py [--shots 8000] [--seed 1] [--backends aer,ibm.fake,braket.dm]
[--markdown]``.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from dataclasses import dataclass

import numpy as np

import qbridge
from qbridge import Circuit, Estimator

TECHNIQUES = ["readout", "zne", "readout,zne", "readout,zne,twirl"]


@dataclass
class Workload:
    name: str
    circuit: Circuit
    observables: list[str]
    parameter_values: np.ndarray | None = None
    inputs: dict | None = None
    options: dict | None = None


def ghz(n: int) -> Workload:
    c = Circuit(n).h(0)
    for q in range(n - 1):
        c = c.cx(q, q + 1)
    obs = []
    for q in range(n - 1):
        w = ["I"] * n
        w[q] = w[q + 1] = "Z"
        obs.append("".join(w))
    obs.append("X" * n)
    return Workload(f"GHZ-{n}", c, obs)


def _word(n: int, letters: dict[int, str]) -> str:
    return "".join(letters.get(q, "I") for q in range(n))


def random_shallow(seed: int, n: int = 4, layers: int = 3) -> Workload:
    rng = np.random.default_rng(seed)
    c = Circuit(n)
    for layer in range(layers):
        for q in range(n):
            c = c.ry(q, float(rng.uniform(-np.pi, np.pi))).rz(q, float(rng.uniform(-np.pi, np.pi)))
        for q in range(layer % 2, n - 1, 2):
            c = c.cx(q, q + 1)
    candidates = [_word(n, {q: "Z"}) for q in range(n)] + [_word(n, {q: "Z", q + 1: "Z"}) for q in range(n - 1)]
    candidates += [_word(n, {q: "X"}) for q in range(n)]
    exact = np.asarray(Estimator("torch").run(c, candidates, precision="double").values)[0]
    obs = [o for o, v in zip(candidates, exact) if abs(v) >= 0.2]
    return Workload(f"random-{seed}", c, obs)


def qffn_workload(seed: int) -> Workload | None:
    try:
        import torch

        from qbridge.nn import QFFN
    except ImportError:
        return None
    torch.manual_seed(seed)
    layer = QFFN(8, depth=2, readout="pauli", init_scale=1.0)
    names = layer.quantum.parameter_names
    c = layer.circuit
    w = layer.quantum.weights.detach().double().numpy()
    pv = np.array([[dict(zip(names, w))[p] for p in c.parameter_names]])
    x = np.random.default_rng(seed).normal(size=(2, 8))
    obs = [str(o.terms[0].paulis) for o in layer.quantum.programs[0].observables]
    # fold_encoding: the amplitude encoding holds most of the circuit's CNOTs; without it ZNE
    # would scale only the ansatz's noise
    return Workload("QFFN d=8", c, obs, np.repeat(pv, 2, axis=0), {"x": x}, {"fold_encoding": True})


def exact_values(w: Workload) -> np.ndarray:
    res = Estimator("torch").run(w.circuit, w.observables, w.parameter_values, inputs=w.inputs, precision="double")
    return np.asarray(res.values)


BACKENDS = {
    "aer[fake_manila]": lambda: qbridge.get_backend("aer", noise_backend="fake_manila"),
    "ibm.fake[fake_manila]": lambda: qbridge.get_backend("ibm.fake"),
    "braket.dm[1%,4%,ro 3%]": lambda: qbridge.get_backend(
        "braket.dm", noise={"depolarizing": 0.01, "two_qubit_depolarizing": 0.04, "readout": 0.03}),
}


def run(backends: list[str], shots: int, seed: int, verbose: bool = True) -> list[dict]:
    workloads = [ghz(3), ghz(4), ghz(5), random_shallow(11), random_shallow(12)]
    q = qffn_workload(seed)
    if q is not None:
        workloads.append(q)
    exact = {w.name: exact_values(w) for w in workloads}
    rows = []
    for label, make in BACKENDS.items():
        if not any(label.startswith(b) for b in backends):
            continue
        name = label.split("[")[0]
        ok, why = next(((i.available, i.reason) for i in qbridge.list_backends() if i.name == name), (False, "unknown"))
        if not ok:
            print(f"skipping {label}: {why}")
            continue
        be = make()
        for w in workloads:
            for tech in TECHNIQUES:
                t0 = time.time()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res = Estimator(be).run(w.circuit, w.observables, w.parameter_values, inputs=w.inputs,
                                            shots=shots, seed=seed, mitigation=tech, options=w.options)
                raw = res.metadata["unmitigated"]["expectation_values"]
                err_raw = float(np.mean(np.abs(raw - exact[w.name])))
                err_mit = float(np.mean(np.abs(res.values - exact[w.name])))
                mit = res.metadata["mitigation"]
                B = res.values.shape[0]
                cost = mit["shots"]["per_binding"] + mit["shots"]["readout_calibration"] / B
                rows.append({
                    "backend": label, "workload": w.name, "technique": tech, "observables": len(w.observables) * B,
                    "err_unmitigated": err_raw, "err_mitigated": err_mit, "ratio": err_mit / err_raw if err_raw else math.nan,
                    "stderr": float(np.mean(res.stderr)),
                    "shots_unmitigated": mit["shots"]["unmitigated_equivalent"], "shots_total": int(round(cost)),
                    "seconds": time.time() - t0,
                })
                if verbose:
                    r = rows[-1]
                    print(f"{label:24s} {w.name:12s} {tech:18s} raw {err_raw:.4f} mit {err_mit:.4f} "
                          f"ratio {r['ratio']:.2f}  shots {r['shots_unmitigated']}->{r['shots_total']}  "
                          f"{r['seconds']:.1f}s", flush=True)
    return rows


def table(rows: list[dict]) -> str:
    out = ["| backend | workload | technique | mean abs err, unmitigated | mean abs err, mitigated | ratio | "
           "mean stderr (mitigated) | shots per binding: unmitigated -> mitigated |",
           "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['backend']} | {r['workload']} | {r['technique']} | {r['err_unmitigated']:.4f} | "
                   f"{r['err_mitigated']:.4f} | {r['ratio']:.2f} | {r['stderr']:.4f} | "
                   f"{r['shots_unmitigated']} -> {r['shots_total']} |")
    return "\n".join(out)


def summary(rows: list[dict]) -> str:
    out = ["| backend | technique | mean abs err, unmitigated | mean abs err, mitigated | ratio of means | "
           "workloads at or under 1/2 | shot cost (x unmitigated) |",
           "|---|---|---:|---:|---:|---:|---:|"]
    keys = []
    for r in rows:
        if (r["backend"], r["technique"]) not in keys:
            keys.append((r["backend"], r["technique"]))
    for b, t in keys:
        sel = [r for r in rows if r["backend"] == b and r["technique"] == t]
        raw = np.mean([r["err_unmitigated"] for r in sel])
        mit = np.mean([r["err_mitigated"] for r in sel])
        half = sum(r["err_mitigated"] <= 0.5 * r["err_unmitigated"] for r in sel)
        cost = np.mean([r["shots_total"] / r["shots_unmitigated"] for r in sel])
        out.append(f"| {b} | {t} | {raw:.4f} | {mit:.4f} | {mit / raw:.2f} | {half}/{len(sel)} | {cost:.1f} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shots", type=int, default=8000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--backends", default="aer,ibm.fake,braket.dm")
    ap.add_argument("--markdown", action="store_true", help="print the tables as Markdown at the end")
    args = ap.parse_args()
    t0 = time.time()
    rows = run(args.backends.split(","), args.shots, args.seed)
    print()
    print(summary(rows))
    print()
    print(table(rows))
    print(f"\n{len(rows)} runs in {time.time() - t0:.0f} s, {args.shots} shots per circuit, seed {args.seed}")


if __name__ == "__main__":
    main()
