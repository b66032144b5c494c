"""A 10 MB flat OpenQASM 3 program (667k gate statements): parse and run, time and peak memory.

Every measurement runs in a fresh Python process, so its peak resident memory (ru_maxrss) is its
own. Usage::

    python benchmarks/qasm_large.py                   # streaming parse, Qiskit's loader, runs
    python benchmarks/qasm_large.py --reference       # also the reference parser (minutes)
    python benchmarks/qasm_large.py --lines 100000    # a smaller program

Reported in docs/hostile-inputs.md. The program: 16 qubits, 40% cx, 40% rx/ry/rz with six
decimals, 20% h/x/s/t/sdg, terminal measurement; seeded, so every run reads the same text.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def program(lines: int, n: int = 16, seed: int = 7) -> str:
    rng = random.Random(seed)
    out = ["OPENQASM 3.0;", 'include "stdgates.inc";', f"qubit[{n}] q;", f"bit[{n}] c;"]
    for _ in range(lines):
        r = rng.random()
        a = rng.randrange(n)
        if r < 0.4:
            out.append(f"cx q[{a}], q[{(a + 1 + rng.randrange(n - 1)) % n}];")
        elif r < 0.8:
            out.append(f"{rng.choice(['rx', 'ry', 'rz'])}({rng.uniform(-3.1416, 3.1416):.6f}) q[{a}];")
        else:
            out.append(f"{rng.choice(['h', 'x', 's', 't', 'sdg'])} q[{a}];")
    out.append("c = measure q;")
    return "\n".join(out) + "\n"


# Each stage is a small script run in its own process; it prints one JSON line.
_STAGES = {
    "stream": """
from qbridge.ir.qasm import from_qasm
text = open(PATH).read()
t = time.perf_counter(); c = from_qasm(text); out['parse_s'] = time.perf_counter() - t
out['instructions'] = len(c)
""",
    "reference": """
from qbridge.ir.qasm.importer import _Importer
text = open(PATH).read()
t = time.perf_counter(); c = _Importer(text).run(); out['parse_s'] = time.perf_counter() - t
out['instructions'] = len(c)
""",
    "qiskit_loads_experimental": """
import warnings; warnings.simplefilter('ignore')
from qiskit.qasm3 import loads_experimental
text = open(PATH).read()
t = time.perf_counter(); qc = loads_experimental(text); out['parse_s'] = time.perf_counter() - t
out['instructions'] = len(qc.data)
""",
    "stream_and_run_aer": """
from qbridge.ir.qasm import from_qasm
from qbridge import get_backend, RunConfig
text = open(PATH).read()
t = time.perf_counter(); c = from_qasm(text); out['parse_s'] = time.perf_counter() - t
del text
t = time.perf_counter(); r = get_backend('aer').run(c, RunConfig(shots=1000, seed=1)).result()
out['run_s'] = time.perf_counter() - t
out['distinct_outcomes'] = len(r[0].get_counts(0))
""",
    "stream_and_run_torch": """
from qbridge.ir.qasm import from_qasm
from qbridge import get_backend, RunConfig
text = open(PATH).read()
t = time.perf_counter(); c = from_qasm(text); out['parse_s'] = time.perf_counter() - t
del text
t = time.perf_counter(); r = get_backend('torch').run(c, RunConfig(shots=1000, seed=1)).result()
out['run_s'] = time.perf_counter() - t
out['distinct_outcomes'] = len(r[0].get_counts(0))
""",
}


def run_stage(name: str, path: Path, timeout: float) -> dict:
    code = ("import json, resource, time\nPATH = %r\nout = {}\n" % str(path)) + _STAGES[name] + (
        "\nout['peak_rss_mib'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\nprint(json.dumps(out))\n")
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"stage": name, "error": f"did not finish in {timeout:.0f} s"}
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        return {"stage": name, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"stage": name, "process_wall_s": wall, **out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=667_000)
    ap.add_argument("--reference", action="store_true",
                    help="time the reference parser on the whole program (minutes) instead of a 20k-statement sample")
    ap.add_argument("--stages", default="stream,qiskit_loads_experimental,stream_and_run_torch",
                    help="comma-separated: stream, qiskit_loads_experimental, stream_and_run_torch, stream_and_run_aer")
    ap.add_argument("--timeout", type=float, default=1800)
    args = ap.parse_args()
    text = program(args.lines)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "large.qasm"
        path.write_text(text)
        print(f"program: {len(text) / 1e6:.1f} MB, {args.lines} gate statements, 16 qubits")
        for name in [s for s in args.stages.split(",") if s]:
            print(json.dumps(run_stage(name, path, args.timeout)), flush=True)
        if args.reference:
            print(json.dumps(run_stage("reference", path, args.timeout)), flush=True)
        else:  # the reference parser is linear in the statements: a sample, scaled
            sample = Path(tmp) / "sample.qasm"
            sample.write_text(program(20_000))
            out = run_stage("reference", sample, args.timeout)
            if "parse_s" in out:
                out["stage"] = "reference (20k-statement sample)"
                out["extrapolated_parse_s"] = out["parse_s"] * args.lines / 20_000
            print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
