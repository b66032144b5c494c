"""What qbridge's adapters cost on top of the SDK they wrap, side by side in one run.

The workload: a 100-binding sweep of a 10-qubit parametrised circuit (3 layers of RY and RZ on
every qubit then a CNOT ring: 60 parameters), read out as exact probabilities and as 1,000-shot
counts. Each workload runs through a qbridge backend and through the same SDK used directly:

- ``aer`` against plain Aer: ``AerSimulator`` (state vector, double precision) on the circuit
  transpiled once outside the timing, all 100 bindings in one ``run`` with ``parameter_binds``;
  exact results are read with ``save_probabilities`` and turned into a (100, 1024) array in
  qbridge's bit order (qubit 0 the most significant bit), shot results into one counts dict per
  binding with keys in the same order. The plain side uses whichever simulator setting is faster
  (Aer's runtime parameter binding on or off, measured at start).
- ``pennylane.lightning.qubit`` against plain PennyLane on ``lightning.qubit`` (complex128), the
  100 bindings as one broadcast batch, in the faster of two styles (measured at start): a QNode
  returning ``qml.probs`` / ``qml.counts``, or a broadcast tape through ``qml.execute`` (samples
  turned into counts dicts with NumPy). Wire 0 is already the most significant bit.

qbridge's side includes everything a user pays per call: building the Task from a (100, 60) array,
validation, compilation (the transpiled circuit is cached, as it would be in a sweep or a training
loop), execution, and the result conversion. Before timing, both sides are checked: exact
probabilities equal to 1e-9, and each side's counts consistent with the exact distribution
(every qubit's marginal within 5 sigma).

Timing: one warm-up call per implementation (not timed: it pays the transpilation and the
imports), then the implementations take turns for ``--repeats`` rounds so that load from other
processes hits them alike; each cell is the median, the ratio is qbridge / plain (medians), and
best/best compares the fastest calls (on a shared machine the medians carry other processes' load).

Run: ``python benchmarks/adapter_overhead.py [--repeats 25] [--profile]``. ``--profile`` adds a
cProfile summary of the qbridge aer calls (where the time beyond Aer's own run goes).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import statistics
import sys
import time
import warnings
from typing import Any, Callable

import numpy as np

N_QUBITS = 10
LAYERS = 3
BINDINGS = 100
SHOTS = 1000
SEED = 7


def qbridge_circuit():
    from qbridge import Circuit, Parameter

    c = Circuit(N_QUBITS)
    k = 0
    for _ in range(LAYERS):
        for q in range(N_QUBITS):
            c = c.ry(q, Parameter(f"t{k}")).rz(q, Parameter(f"t{k + 1}"))
            k += 2
        for q in range(N_QUBITS):
            c = c.cx(q, (q + 1) % N_QUBITS)
    return c


def bindings() -> np.ndarray:
    return np.random.default_rng(SEED).uniform(-np.pi, np.pi, size=(BINDINGS, 2 * N_QUBITS * LAYERS))


def reverse_index(n: int) -> np.ndarray:
    """Permutation taking a little-endian (Qiskit) basis index to qbridge's big-endian one."""
    idx = np.arange(2**n)
    rev = np.zeros_like(idx)
    for b in range(n):
        rev |= ((idx >> b) & 1) << (n - 1 - b)
    return rev


# -- implementations ---------------------------------------------------------------------------------

class QbridgeSweep:
    def __init__(self, backend_name: str, shots: int | None) -> None:
        import qbridge

        self.backend = qbridge.get_backend(backend_name)
        self.circuit = qbridge_circuit()
        self.shots = shots
        self.Task = qbridge.Task

    def __call__(self, values: np.ndarray) -> Any:
        task = self.Task(self.circuit, values)
        if self.shots is None:
            return self.backend.run(task, precision="double").result()[0].probabilities
        return self.backend.run(task, shots=self.shots, seed=SEED).result()[0].counts


class PlainAer:
    """qiskit-aer used directly: transpiled once, one run with parameter_binds per sweep."""

    def __init__(self, shots: int | None, runtime_bind: bool) -> None:
        from qiskit import QuantumCircuit, transpile
        from qiskit.circuit import ParameterVector
        from qiskit_aer import AerSimulator

        theta = ParameterVector("t", 2 * N_QUBITS * LAYERS)
        qc = QuantumCircuit(N_QUBITS)
        k = 0
        for _ in range(LAYERS):
            for q in range(N_QUBITS):
                qc.ry(theta[k], q)
                qc.rz(theta[k + 1], q)
                k += 2
            for q in range(N_QUBITS):
                qc.cx(q, (q + 1) % N_QUBITS)
        if shots is None:
            qc.save_probabilities(label="probs")
        else:
            qc.measure_all()
        self.sim = AerSimulator(method="statevector", precision="double", runtime_parameter_bind_enable=runtime_bind)
        self.circuit = transpile(qc, backend=self.sim, optimization_level=0, seed_transpiler=0)
        self.params = list(theta)
        self.shots = shots
        self.rev = reverse_index(N_QUBITS)
        self.label = f"runtime parameter binding {'on' if runtime_bind else 'off'}"

    def __call__(self, values: np.ndarray) -> Any:
        binds = [{p: values[:, k].tolist() for k, p in enumerate(self.params)}]
        if self.shots is None:
            result = self.sim.run([self.circuit], parameter_binds=binds, shots=1).result()
            probs = np.stack([np.asarray(result.data(i)["probs"]) for i in range(len(values))])
            return probs[:, self.rev]
        result = self.sim.run([self.circuit], parameter_binds=binds, shots=self.shots, seed_simulator=SEED).result()
        # Qiskit keys read q(n-1) ... q0; qbridge's read q0 ... q(n-1)
        return [{key[::-1]: v for key, v in result.get_counts(i).items()} for i in range(len(values))]


class PlainPennyLane:
    """lightning.qubit (complex128) used directly, the bindings as one broadcast batch (a batch axis
    on every parameter). Two styles, the faster is used: ``qnode`` (a QNode returning ``qml.probs``
    or ``qml.counts``) and ``tape`` (a broadcast QuantumScript through ``qml.execute``, samples
    turned into counts dicts with NumPy)."""

    def __init__(self, shots: int | None, style: str) -> None:
        import pennylane as qml

        self.qml = qml
        self.dev = qml.device("lightning.qubit", wires=N_QUBITS, c_dtype=np.complex128)
        self.shots = shots
        self.style = style
        self.wires = list(range(N_QUBITS))
        self.label = f"PennyLane lightning.qubit, broadcast {style}"
        if style == "qnode":
            def body(w):
                self._ops(w)
                return qml.probs(wires=self.wires) if shots is None else qml.counts(wires=self.wires)

            qnode = qml.QNode(body, self.dev, diff_method=None)
            self.qnode = qml.set_shots(qnode, shots=shots) if shots is not None else qnode

    def _ops(self, w) -> list:
        qml = self.qml
        ops, k = [], 0
        for _ in range(LAYERS):
            for q in range(N_QUBITS):
                ops += [qml.RY(w[:, k], wires=q), qml.RZ(w[:, k + 1], wires=q)]
                k += 2
            for q in range(N_QUBITS):
                ops.append(qml.CNOT(wires=[q, (q + 1) % N_QUBITS]))
        return ops

    def __call__(self, values: np.ndarray) -> Any:
        if self.style == "qnode":
            return self.qnode(values)
        qml = self.qml
        if self.shots is None:
            tape = qml.tape.QuantumScript(self._ops(values), [qml.probs(wires=self.wires)])
            return qml.execute([tape], self.dev, diff_method=None)[0]
        tape = qml.tape.QuantumScript(self._ops(values), [qml.sample(wires=self.wires)], shots=self.shots)
        samples = np.asarray(qml.execute([tape], self.dev, diff_method=None)[0]).astype(np.int64)  # (B, shots, n)
        index = samples @ (1 << np.arange(N_QUBITS - 1, -1, -1))  # wire 0 is the most significant bit
        out = []
        for row in index:
            hist = np.bincount(row, minlength=2**N_QUBITS)
            out.append({format(int(i), f"0{N_QUBITS}b"): int(hist[i]) for i in np.flatnonzero(hist)})
        return out


def fastest(candidates: list, values: np.ndarray) -> Any:
    """The candidate with the smallest median of 3 calls (each warmed up first)."""
    speeds = []
    for c in candidates:
        c(values)
        speeds.append(statistics.median(time_rounds({"x": c}, values, 3)["x"]))
    return candidates[int(np.argmin(speeds))]


# -- checks and timing ---------------------------------------------------------------------------------

def check_same(name: str, a: Any, b: Any, shots: int | None, exact: np.ndarray) -> None:
    """Both sides computed the same thing: exact probabilities equal to 1e-9; counts well formed
    and, for each side, every qubit's marginal P(1) within 5 sigma of the exact value (the
    first 20 bindings), so that neither side samples a different circuit or bit order."""
    if shots is None:
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or np.max(np.abs(a - b)) > 1e-9:
            raise SystemExit(f"{name}: qbridge and the plain SDK disagree (max |dp| = {np.max(np.abs(a - b)):.3g})")
        return
    if len(a) != len(b) or any(sum(x.values()) != shots or sum(y.values()) != shots for x, y in zip(a, b)):
        raise SystemExit(f"{name}: counts are malformed")
    bits = (np.arange(2**N_QUBITS)[:, None] >> np.arange(N_QUBITS - 1, -1, -1)) & 1  # (2^n, n), qubit 0 first
    for side, counts in (("qbridge", a), ("plain", b)):
        for row, c in enumerate(counts[:20]):
            p1 = exact[row] @ bits  # exact P(qubit q reads 1)
            seen = np.zeros(N_QUBITS)
            for key, v in c.items():
                seen += v * np.array([int(ch) for ch in key])
            sigma = np.sqrt(np.maximum(p1 * (1 - p1), 1e-4) / shots)
            z = np.abs(seen / shots - p1) / sigma
            if z.max() > 5:
                raise SystemExit(f"{name}: {side} counts of binding {row} are off the exact marginals ({z.max():.1f} sigma)")


def time_rounds(impls: dict[str, Callable[[np.ndarray], Any]], values: np.ndarray, repeats: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {k: [] for k in impls}
    for _ in range(repeats):
        for key, fn in impls.items():
            t0 = time.perf_counter()
            fn(values)
            times[key].append(time.perf_counter() - t0)
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=25)
    parser.add_argument("--profile", action="store_true", help="cProfile the qbridge aer calls")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=DeprecationWarning)

    import qiskit
    import qiskit_aer
    import pennylane as qml

    import qbridge

    values = bindings()
    exact = np.asarray(PlainAer(None, True)(values))  # the exact distribution of every binding, qubit 0 first
    rows = []
    for shots in (None, SHOTS):
        mode = "exact probabilities" if shots is None else f"shots={shots}"
        # each plain SDK in its fastest setting (measured here; the table names the one used)
        plain_aer = fastest([PlainAer(shots, True), PlainAer(shots, False)], values)
        plain_pl = fastest([PlainPennyLane(shots, "qnode"), PlainPennyLane(shots, "tape")], values)
        pairs = {
            "aer": (QbridgeSweep("aer", shots), plain_aer, f"plain Aer ({plain_aer.label})"),
            "pennylane.lightning.qubit": (QbridgeSweep("pennylane.lightning.qubit", shots), plain_pl,
                                          f"plain {plain_pl.label}"),
        }
        impls: dict[str, Callable] = {}
        for name, (qb, plain, _) in pairs.items():
            check_same(f"{name}, {mode}", qb(values), plain(values), shots, exact)  # also the warm-up
            impls[f"{name}/qbridge"] = qb
            impls[f"{name}/plain"] = plain
        times = time_rounds(impls, values, args.repeats)
        for name, (_, _, plain_label) in pairs.items():
            tq, tp = times[f"{name}/qbridge"], times[f"{name}/plain"]
            rows.append((mode, name, statistics.median(tq), plain_label, statistics.median(tp),
                         statistics.median(tq) / statistics.median(tp), min(tq) / min(tp)))
        if args.profile and shots is None:
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(5):
                pairs["aer"][0](values)
            prof.disable()
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(30)
            profile_text = out.getvalue()

    print(f"adapter overhead: {BINDINGS} bindings of a {N_QUBITS}-qubit circuit ({LAYERS} layers RY+RZ + CNOT ring, "
          f"{2 * N_QUBITS * LAYERS} parameters); median of {args.repeats} interleaved repeats after one warm-up")
    print(f"python {platform.python_version()}, qbridge {qbridge.__version__}, qiskit {qiskit.__version__}, "
          f"qiskit-aer {qiskit_aer.__version__}, pennylane {qml.__version__}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}")
    print()
    header = (f"| {'readout':<20} | {'qbridge backend':<26} | {'qbridge (ms)':>12} | {'plain SDK':<50} | "
              f"{'plain (ms)':>10} | {'ratio':>6} | {'best/best':>9} |")
    print(header)
    print("|" + "|".join("-" * len(part) for part in header.split("|")[1:-1]) + "|")
    for mode, name, tq, plain_label, tp, ratio, best in rows:
        print(f"| {mode:<20} | {name:<26} | {tq * 1e3:>12.2f} | {plain_label:<50} | {tp * 1e3:>10.2f} | "
              f"{ratio:>5.2f}x | {best:>8.2f}x |")
    print()
    print("ratio: median / median; best/best: fastest qbridge call / fastest plain call (less sensitive to other "
          "processes on a shared machine)")
    if args.profile:
        print()
        print("cProfile of 5 qbridge aer exact sweeps:")
        print(profile_text)


if __name__ == "__main__":
    main(sys.argv[1:])
