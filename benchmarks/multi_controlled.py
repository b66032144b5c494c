"""``ctrl(k) @ g`` on k + 1 qubits (no idle qubit): instructions, parse and run times.

For each k and gate: the instruction count of the parsed circuit (one ``mcu`` per basis gate of
``g``), the count after lowering to ``u``/``cx``/``ccx`` for a backend without ``mcu`` (the route
qbridge takes, the O(k) phase-gradient route alone, the O(k^2) recursion alone), and the wall
time to parse and to run on the torch backend (native ``mcu``), on PennyLane lightning (native,
as controlled rotations, and given the lowering instead) and, for k <= 11, on Aer (which gets
the lowering). Usage::

    python benchmarks/multi_controlled.py                 # k = 4, 8, 11, 16, 24, 32, 64, 128
    python benchmarks/multi_controlled.py --ks 11 64      # chosen k

Reported in docs/hostile-inputs.md.
"""

from __future__ import annotations

import argparse
import time

from qbridge.ir import modifiers
from qbridge.ir.qasm import from_qasm

BASIS = {"u", "cx", "ccx"}
HEAD = 'OPENQASM 3.0; include "stdgates.inc";\n'


def text(k: int, gate: str) -> str:
    qubits = ", ".join(f"q[{i}]" for i in range(k + 1))
    return HEAD + f"qubit[{k + 1}] q;\nctrl({k}) @ {gate} {qubits};\n"


def lowered(circuit, threshold: int) -> int:
    saved = modifiers.LINEAR_PHASE_FROM
    modifiers.LINEAR_PHASE_FROM = threshold
    try:
        return len(circuit.decompose(BASIS))
    finally:
        modifiers.LINEAR_PHASE_FROM = saved


def timed(backend, circuit, repeats: int = 3) -> float:
    """Best of ``repeats`` runs after one warm-up (device creation, transpilation caches)."""
    backend.run(circuit, precision="double").result()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        backend.run(circuit, precision="double").result()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ks", type=int, nargs="+", default=[4, 8, 11, 16, 24, 32, 64, 128])
    ap.add_argument("--gates", nargs="+", default=["x", "p(0.4)", "rz(0.3)"])
    args = ap.parse_args()
    from qbridge.backends.registry import get_backend

    torch_backend = get_backend("torch")
    aer = lightning = None
    try:
        aer = get_backend("aer")
        lightning = get_backend("pennylane.lightning.qubit")
    except Exception:  # noqa: BLE001 - the plugin columns are optional
        pass
    print(f"{'gate':<8} {'k':>4} {'instr':>6} {'lowered':>8} {'linear':>8} {'recursion':>9} "
          f"{'per k':>6} {'parse s':>8} {'torch s':>8} {'aer s':>7} {'light s':>8} {'light lowered s':>15}")
    for gate in args.gates:
        for k in args.ks:
            start = time.perf_counter()
            circuit = from_qasm(text(k, gate))
            parse = time.perf_counter() - start
            chosen = len(circuit.decompose(BASIS))
            linear = lowered(circuit, 3)
            recursion = lowered(circuit, 10**9) if k <= 64 else None
            run = aer_s = light = light_lowered = None
            if k <= 20:
                run = timed(torch_backend, circuit)
            if aer is not None and k <= 11:
                aer_s = timed(aer, circuit)
            if lightning is not None and k <= 16:
                light = timed(lightning, circuit)
                light_lowered = timed(lightning, circuit.decompose(BASIS))
            fmt = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
            print(f"{gate:<8} {k:>4} {len(circuit):>6} {chosen:>8} {linear:>8} {fmt(recursion, '>9')} "
                  f"{chosen / k:>6.1f} {parse:>8.3f} {fmt(run, '>8.4f')} {fmt(aer_s, '>7.4f')} "
                  f"{fmt(light, '>8.4f')} {fmt(light_lowered, '>15.4f')}")


if __name__ == "__main__":
    main()
