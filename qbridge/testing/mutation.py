"""Mutation testing of the conformance suite: copies of a plugin, each with one bug, run through it.

    python -m qbridge.testing.mutation                      # the example plugin, 2 workers
    python -m qbridge.testing.mutation --markdown report.md # also write the table for docs/plugins.md

A mutant is a copy of the plugin's package with one edit of the kind a plugin author writes by
mistake (a flipped bit order, a dropped global phase, a seed that never reaches the sampler, ...).
Every mutant, and an unedited copy as the control, is bound to the suite with
:func:`qbridge.testing.conformance_tests` in one generated test module, run by one pytest process,
and read back from its JUnit XML. A mutant is *caught* when at least one suite test fails on it,
and *caught twice* when tests of two different test functions fail (the suite's rule: no
behaviour rests on a single test). The control must pass, or the run means nothing.

Owns: :class:`Mutant`, the example plugin's catalogue :data:`EXAMPLE_MUTANTS`, :func:`run_mutants`
and :class:`MutationReport`. Must not touch: the plugin's own files (mutants are copies in a
temporary directory) and the suite's checks.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

__all__ = ["Mutant", "MutantOutcome", "MutationReport", "EXAMPLE_MUTANTS", "run_mutants", "main"]

# (file inside the package, text that must occur exactly once, replacement)
Edit = tuple[str, str, str]


@dataclass(frozen=True)
class Mutant:
    """One bug: a short ``kind`` (an identifier), what it does, and the edits that make it."""

    kind: str
    what: str
    edits: tuple[Edit, ...]

    def apply(self, package_dir: Path) -> None:
        for filename, old, new in self.edits:
            path = package_dir / filename
            text = path.read_text()
            found = text.count(old)
            if found != 1:
                raise ValueError(
                    f"mutant {self.kind!r}: the text to replace occurs {found} times in {filename} (must be once); "
                    f"the plugin changed, so update the edit: {old!r}"
                )
            path.write_text(text.replace(old, new))


_B, _S = "backend.py", "simulator.py"
_RNG = "        rng = np.random.default_rng(config.seed)\n"
_SEEDED = "            seeded=True,  # one numpy Generator per run, from RunConfig.seed\n"
_GATE = "            state = apply_matrix(state, gate_matrix(op.name, op.params), op.qubits)\n"
_PHASE = "    return state.reshape(-1) * np.exp(1j * float(circuit.global_phase))\n"
_BIND = "            bound = circuit.bind({k: v for k, v in params.items() if k in names})\n"
_SAMPLE = "                counts = tuple(simulator.sample_counts(p, config.shots, rng) for p in probs)\n"
_EVS = "                    evs = np.array([[simulator.expectation(s, o) for o in task.observables] for s in states])\n"


def _gate(new_call: str) -> Edit:
    return (_S, _GATE, f"            state = apply_matrix(state, {new_call})\n")


# The catalogue for plugins/qbridge-example: each edit is a bug a real author could write.
EXAMPLE_MUTANTS: tuple[Mutant, ...] = (
    Mutant("bit_order", "states flattened with qubit n-1 as the most significant bit (Qiskit's order leaking through)",
           ((_S, _PHASE, "    return state.transpose().reshape(-1) * np.exp(1j * float(circuit.global_phase))\n"),)),
    Mutant("counts_bit_order", "counts keys written q(n-1) first; exact results right",
           ((_S, '    return {format(int(i), f"0{n}b"): int(counts[i])', '    return {format(int(i), f"0{n}b")[::-1]: int(counts[i])'),)),
    Mutant("rz_sign", "a sign error in one native rotation: rz(-theta)",
           (_gate("gate_matrix(op.name, [-p for p in op.params] if op.name == 'rz' else op.params), op.qubits"),)),
    Mutant("u_param_order", "u(theta, phi, lambda) read as u(theta, lambda, phi)",
           (_gate("gate_matrix(op.name, (op.params[0], op.params[2], op.params[1]) if op.name == 'u' else op.params), op.qubits"),)),
    Mutant("dropped_gate", "h gates skipped like barriers",
           ((_S, '        if op.name in ("barrier", "measure"):', '        if op.name in ("barrier", "measure", "h"):'),)),
    Mutant("swapped_qubits", "multi-qubit gates applied with their qubits reversed (control and target swapped)",
           (_gate("gate_matrix(op.name, op.params), tuple(reversed(op.qubits))"),)),
    Mutant("transposed_matrix", "gate matrices applied transposed (row/column convention mixed up)",
           ((_S, "    gate = matrix.reshape((2,) * (2 * k))", "    gate = matrix.T.reshape((2,) * (2 * k))"),)),
    Mutant("global_phase_dropped", "state vectors returned without circuit.global_phase",
           ((_S, _PHASE, "    return state.reshape(-1)\n"),)),
    Mutant("global_phase_sign", "global phase applied as exp(-i phase)",
           ((_S, _PHASE, "    return state.reshape(-1) * np.exp(-1j * float(circuit.global_phase))\n"),)),
    Mutant("global_phase_const_only", "a parametrised global phase reduced to its constant term (.const), as a symbolic translator might",
           ((_B, _BIND, _BIND.rstrip("\n") + '.with_global_phase(getattr(circuit.global_phase, "const", circuit.global_phase))\n'),)),
    Mutant("precision_complex64", "the engine computes in complex64 whatever config.precision asks",
           ((_S, "dtype=np.complex128)", "dtype=np.complex64)"),
            (_S, "    gate = matrix.reshape((2,) * (2 * k))", "    gate = matrix.astype(np.complex64).reshape((2,) * (2 * k))"),
            (_S, "amplitudes.reshape((2,) * k))", "amplitudes.astype(np.complex64).reshape((2,) * k))"))),
    Mutant("precision_float32_results", "computed in complex128, probabilities handed back as float32",
           ((_B, "            probs = np.abs(states) ** 2  # (B, 2^n)", "            probs = (np.abs(states) ** 2).astype(np.float32)"),)),
    Mutant("seed_ignored", "the sampler never sees config.seed (seeded=True declared)",
           ((_B, _RNG, "        rng = np.random.default_rng()\n"),)),
    Mutant("seed_ignored_undeclared", "the seed is ignored and Target.seeded left at its default (False), no refusal",
           ((_B, _RNG, "        rng = np.random.default_rng()\n"), (_B, _SEEDED, ""))),
    Mutant("seeds_collapse", "every seed maps to one stream (a constant seed where config.seed was meant)",
           ((_B, _RNG, "        rng = np.random.default_rng(None if config.seed is None else 1234)\n"),)),
    Mutant("unseeded_fixed_stream", "runs without a seed all draw from seed 0",
           ((_B, _RNG, "        rng = np.random.default_rng(0 if config.seed is None else config.seed)\n"),)),
    Mutant("stream_per_row", "a fresh generator with the run's seed for every row",
           ((_B, _SAMPLE, _SAMPLE.replace("config.shots, rng)", "config.shots, np.random.default_rng(config.seed))")),)),
    Mutant("stream_per_task", "a fresh generator with the run's seed for every task of a submission",
           ((_B, "        for compiled in tasks:\n", "        for compiled in tasks:\n            rng = np.random.default_rng(config.seed)\n"),)),
    Mutant("counts_row0", "every row of a batch gets row 0's counts",
           ((_B, _SAMPLE, _SAMPLE.replace("for p in probs)", "for p in probs[:1].repeat(len(probs), axis=0))")),)),
    Mutant("shots_capped", "sampling silently capped at 10^5 shots (the declared max_shots is 10^6)",
           ((_B, _SAMPLE, _SAMPLE.replace("config.shots, rng)", "min(config.shots, 100_000), rng)")),)),
    Mutant("bind_row0", "every row bound with row 0's parameter values",
           ((_B, "            params, inputs = task.binding(i)\n",
             "            params, inputs = task.binding(0)[0], task.binding(i)[1]\n"),)),
    # (zipping the values with circuit.parameter_names unsorted is no bug for this plugin: with u
    # native, its rewrite never reorders parameters; for a backend whose rewrite does, it is)
    Mutant("bind_by_position", "row values bound by position to the parameter names in sorted order (a set of names iterated)",
           ((_B, _BIND, "            bound = circuit.bind(dict(zip(sorted(circuit.parameter_names), params.values())))\n"),)),
    Mutant("inputs_row0", "every row encodes row 0's input vectors",
           ((_B, "            params, inputs = task.binding(i)\n",
             "            params, inputs = task.binding(i)[0], task.binding(0)[1]\n"),)),
    Mutant("encode_reversed", "amplitudes written onto the encoding register in reversed qubit order",
           ((_S, "amplitudes.reshape((2,) * k))", "amplitudes.reshape((2,) * k).T)"),)),
    Mutant("pauli_reversed", "Pauli words read right to left in exact expectation values",
           ((_S, "        for q, letter in enumerate(term.paulis):", "        for q, letter in enumerate(reversed(term.paulis)):"),)),
    Mutant("observables_reversed", "exact expectation values returned in reversed observable order",
           ((_B, _EVS, _EVS.replace("for o in task.observables]", "for o in task.observables[::-1]]")),)),
    Mutant("coefficients_dropped", "Pauli-sum coefficients ignored in exact expectation values",
           ((_S, "        total += term.coeff * float(np.vdot(psi, phi).real)", "        total += float(np.vdot(psi, phi).real)"),)),
    Mutant("statevector_missing", "no state vector returned although the target declares supports_statevector",
           ((_B, "statevector=states if task.statevector else None", "statevector=None"),)),
    Mutant("expectations_missing", "exact runs with observables return no expectation values",
           ((_B, "                    evs = np.array([[", "                    evs = None and np.array([["),)),
    Mutant("statevector_rows_mixed", "state vectors of a batch returned in reversed row order",
           ((_B, "statevector=states if task.statevector else None", "statevector=states[::-1] if task.statevector else None"),)),
)


@dataclass
class MutantOutcome:
    mutant: Mutant
    failed: list[str] = field(default_factory=list)  # "Family::test[param]"
    passed: int = 0
    skipped: int = 0

    @property
    def functions(self) -> list[str]:
        """The distinct test functions that failed ("Family::test", parameters dropped)."""
        return sorted({re.sub(r"\[.*\]$", "", f) for f in self.failed})

    @property
    def caught(self) -> bool:
        return bool(self.failed)

    @property
    def caught_twice(self) -> bool:
        return len(self.functions) >= 2


@dataclass
class MutationReport:
    control: MutantOutcome
    outcomes: list[MutantOutcome]
    seconds: float

    @property
    def missed(self) -> list[MutantOutcome]:
        return [o for o in self.outcomes if not o.caught]

    @property
    def single(self) -> list[MutantOutcome]:
        return [o for o in self.outcomes if o.caught and not o.caught_twice]

    def summary(self) -> str:
        n = len(self.outcomes)
        caught = n - len(self.missed)
        return (f"{n} mutant kinds: {caught} caught ({100 * caught / n:.0f}%), "
                f"{caught - len(self.single)} by two or more test functions, {len(self.missed)} missed; "
                f"control: {self.control.passed} passed, {len(self.control.failed)} failed; {self.seconds:.0f} s")

    def markdown(self) -> str:
        rows = ["| mutant | the bug | failing tests | test functions | e.g. |", "|---|---|---|---|---|"]
        for o in self.outcomes:
            example = ", ".join(f"`{f}`" for f in o.functions[:2]) or "**missed**"
            rows.append(f"| `{o.mutant.kind}` | {o.mutant.what} | {len(o.failed)} | {len(o.functions)} | {example} |")
        return "\n".join(rows) + "\n\n" + self.summary() + "\n"


def _ident(kind: str) -> str:
    return re.sub(r"\W", "_", kind)


def _write_packages(plugin_package: Path, mutants: Sequence[Mutant], root: Path) -> list[tuple[str, str]]:
    """Copies of the package (control first), each edited; returns (class name, module) pairs."""
    made = []
    for kind, edits in [("control", None), *((m.kind, m) for m in mutants)]:
        name = f"qbridge_mutant_{_ident(kind)}"
        target = root / name
        shutil.copytree(plugin_package, target, ignore=shutil.ignore_patterns("__pycache__"))
        if edits is not None:
            edits.apply(target)
        made.append((f"TestMutant_{_ident(kind)}", name))
    return made


def _test_module(root: Path, packages: Sequence[tuple[str, str]], backend_class: str, backend_name: str) -> str:
    lines = [
        '"""Generated by qbridge.testing.mutation: the conformance suite against each mutant."""',
        "import importlib, sys",
        f"sys.path.insert(0, {str(root)!r})",
        "from qbridge.testing import conformance_tests",
        "",
        "def _factory(module):",
        f"    return lambda: getattr(importlib.import_module(module + '.backend'), {backend_class!r})(name={backend_name!r})",
        "",
    ]
    for cls, module in packages:
        lines.append(f"{cls} = conformance_tests(_factory({module!r}))")
    return "\n".join(lines) + "\n"


def _read_junit(path: Path, packages: Sequence[tuple[str, str]]) -> dict[str, MutantOutcome]:
    by_class: dict[str, dict] = {cls: {"failed": [], "passed": 0, "skipped": 0} for cls, _ in packages}
    for case in ET.parse(path).getroot().iter("testcase"):
        parts = case.get("classname", "").split(".")  # test_mutants.TestMutant_x.TestGates
        cls = next((p for p in parts if p in by_class), None)
        if cls is None:
            continue
        family = parts[-1]
        entry = by_class[cls]
        if case.find("failure") is not None or case.find("error") is not None:
            entry["failed"].append(f"{family}::{case.get('name')}")
        elif case.find("skipped") is not None:
            entry["skipped"] += 1
        else:
            entry["passed"] += 1
    return by_class


def run_mutants(
    plugin_package: Path | str,
    mutants: Sequence[Mutant] = EXAMPLE_MUTANTS,
    *,
    backend_class: str = "ExampleBackend",
    backend_name: str = "example",
    workers: int = 2,
    pytest_args: Sequence[str] = (),
) -> MutationReport:
    """Run the suite against an unedited copy of ``plugin_package`` and against every mutant."""
    plugin_package = Path(plugin_package)
    if not (plugin_package / "backend.py").is_file():
        raise FileNotFoundError(f"{plugin_package} is not a plugin package with a backend.py (e.g. plugins/qbridge-example/qbridge_example)")
    kinds = [m.kind for m in mutants]
    if len(set(kinds)) != len(kinds):
        raise ValueError(f"mutant kinds must be unique, got {kinds}")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="qbridge-mutants-") as tmp:
        root = Path(tmp)
        packages = _write_packages(plugin_package, mutants, root / "pkgs")
        (root / "test_mutants.py").write_text(_test_module(root / "pkgs", packages, backend_class, backend_name))
        junit = root / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", "test_mutants.py", "-q", "-p", "no:cacheprovider",
               "-o", "addopts=", f"--junitxml={junit}", "--rootdir", str(root), *pytest_args]
        if workers > 1 and importlib.util.find_spec("xdist") is not None:  # else one process
            cmd += ["-n", str(workers)]
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env)
        if not junit.is_file():
            raise RuntimeError(f"the mutants' pytest run produced no report (exit {proc.returncode}):\n"
                               f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        found = _read_junit(junit, packages)
    outcomes = []
    for (cls, _), mutant in zip(packages, [None, *mutants]):
        f = found[cls]
        outcomes.append(MutantOutcome(mutant or Mutant("control", "the plugin unedited", ()), f["failed"], f["passed"], f["skipped"]))
    return MutationReport(outcomes[0], outcomes[1:], time.perf_counter() - start)


def _default_package() -> Path:
    return Path(__file__).resolve().parents[2] / "plugins" / "qbridge-example" / "qbridge_example"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qbridge.testing.mutation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--package", type=Path, default=_default_package(),
                        help="the plugin's package directory (default: the example plugin in this checkout)")
    parser.add_argument("-n", "--workers", type=int, default=2, help="pytest-xdist workers (1: none)")
    parser.add_argument("--markdown", type=Path, help="also write the report table to this file")
    args = parser.parse_args(argv)
    report = run_mutants(args.package, workers=args.workers)
    for o in report.outcomes:
        mark = "MISSED" if not o.caught else ("once  " if not o.caught_twice else "caught")
        print(f"{mark} {o.mutant.kind:26s} {len(o.failed):4d} failing tests in {len(o.functions):2d} functions  "
              f"{', '.join(o.functions[:3])}")
    print(report.summary())
    if args.markdown:
        args.markdown.write_text(report.markdown())
    return 0 if not report.missed and not report.single and not report.control.failed else 1


if __name__ == "__main__":
    sys.exit(main())
