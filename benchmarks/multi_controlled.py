"""``ctrl(k) @ g`` on k + 1 qubits (no idle qubit): instructions, parse and run times.

For each k and gate: the instruction count of the parsed circuit (one ``mcu`` per basis gate of
``g``), the count after lowering to ``u``/``cx``/``ccx`` for a backend without ``mcu`` (the route
qbridge takes, the O(k) phase-gradient route alone, the O(k^2) recursion alone), and the wall
time to parse and to run on the torch backend (native ``mcu``) and, for k <= 11, on Aer (which
gets the lowering). Usage::

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ks", type=int, nargs="+", default=[4, 8, 11, 16, 24, 32, 64, 128])
    ap.add_argument("--gates", nargs="+", default=["x", "p(0.4)", "rz(0.3)"])
    args = ap.parse_args()
    from qbridge.backends.registry import get_backend

    torch_backend = get_backend("torch")
    try:
        aer = get_backend("aer")
    except Exception:  # noqa: BLE001 - the Aer column is optional
        aer = None
    print(f"{'gate':<8} {'k':>4} {'instr':>6} {'lowered':>8} {'linear':>8} {'recursion':>9} "
          f"{'per k':>6} {'parse s':>8} {'torch s':>8} {'aer s':>7}")
    for gate in args.gates:
        for k in args.ks:
            start = time.perf_counter()
            circuit = from_qasm(text(k, gate))
            parse = time.perf_counter() - start
            chosen = len(circuit.decompose(BASIS))
            linear = lowered(circuit, 3)
            recursion = lowered(circuit, 10**9) if k <= 64 else None
            run = aer_s = None
            if k <= 20:
                start = time.perf_counter()
                torch_backend.run(circuit, precision="double").result()
                run = time.perf_counter() - start
            if aer is not None and k <= 11:
                start = time.perf_counter()
                aer.run(circuit, precision="double").result()
                aer_s = time.perf_counter() - start
            fmt = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
            print(f"{gate:<8} {k:>4} {len(circuit):>6} {chosen:>8} {linear:>8} {fmt(recursion, '>9')} "
                  f"{chosen / k:>6.1f} {parse:>8.3f} {fmt(run, '>8.3f')} {fmt(aer_s, '>7.3f')}")


if __name__ == "__main__":
    main()
