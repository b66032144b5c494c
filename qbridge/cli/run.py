"""``qbridge run``: run OpenQASM programs on any backend, as one batch.

Output per program: ``probabilities`` (exact) or ``counts`` (with shots), over the measured
qubits (all when the program measures none), keys in the bit order of docs/architecture.md (q0 first); with
observables, ``expectation_values`` as ``{observable, value, stderr}`` (stderr 0 when exact);
with ``--mitigation`` value and stderr are the mitigated ones, ``unmitigated_value`` and
``unmitigated_stderr`` sit beside them, and ``mitigation`` says what ran and its shot cost.
Several programs go to the backend in one submission; ``--json`` then prints a list.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import numpy as np

from ..limits import MAX_SHOTS
from ._common import parse_options, parse_params, reports_errors


def _to_float(x: Any) -> float:
    return float(x.detach().cpu().item()) if hasattr(x, "detach") else float(x)


def _program_report(res, task, observables_text, backend_name: str, shots: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {"backend": backend_name, "shots": shots}
    if task.observables:
        ev = res.expectation_values
        err = res.stderr
        out["expectation_values"] = [
            {"observable": text, "value": _to_float(ev[0][i]), "stderr": _to_float(err[0][i]) if err is not None else 0.0}
            for i, text in enumerate(observables_text)
        ]
        _add_mitigation(out, res)
    elif shots is None:
        probs = res.get_probabilities(0)
        out["probabilities"] = {k: v for k, v in probs.items()}
    else:
        out["counts"] = dict(sorted(res.get_counts(0).items()))
    return out


def _add_mitigation(out: dict[str, Any], res) -> None:
    """With --mitigation: the unmitigated values beside the mitigated ones, and what it cost."""
    raw = res.metadata.get("unmitigated")
    mit = res.mitigation
    if raw is None or mit is None:
        return
    for i, entry in enumerate(out["expectation_values"]):
        entry["unmitigated_value"] = float(raw["expectation_values"][0][i])
        entry["unmitigated_stderr"] = float(raw["stderr"][0][i])
    summary: dict[str, Any] = {"techniques": list(mit.techniques), "circuits": mit.circuits}
    if mit.shots is not None:
        summary["shots"] = res.metadata["mitigation"]["shots"]
    if "native" in mit.details:
        summary["native"] = mit["native"]
    if mit.warnings:
        summary["warnings"] = list(mit.warnings)
    if "zne" in mit.details:
        summary["scale_factors"] = mit["zne"]["actual_scales"]
        summary["extrapolation"] = mit["zne"]["extrapolation"]
    out["mitigation"] = summary


@click.command("run")
@click.argument("programs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--backend", "-b", default="torch", show_default=True, help="Backend name (see `qbridge backends`).")
@click.option("--option", "-o", "options", multiple=True, metavar="KEY=VALUE", help="Backend option (repeatable).")
@click.option("--shots", type=click.IntRange(min=1, max=MAX_SHOTS), default=None,
              help="Sample this many shots (default: exact).")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Seed for sampling (an integer >= 0).")
@click.option("--observable", "observables", multiple=True, metavar="EXPR", help="Pauli sum, e.g. '0.5*ZZ - 1.2*XI' (repeatable).")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="Value of an `input float` parameter (repeatable).")
@click.option("--precision", type=click.Choice(["single", "double"]), default="double", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (a list when several programs are given).")
@click.option("--mitigation", default="", metavar="LIST",
              help="Error mitigation, comma-separated: readout, zne, twirl, native (zne needs --observable).")
@click.option("--run-option", "run_options", multiple=True, metavar="KEY=VALUE",
              help="Run option (repeatable), e.g. allocation=proportional, target_stderr=0.01, scale_factors=1,3,5 (unknown names are errors).")
# cloud runs (qbridge.jobs): a budget checked before anything is sent, and a dry run
@click.option("--max-cost", type=click.FloatRange(min=0), default=None, metavar="USD",
              help="Refuse the run if its estimated cost exceeds USD (checked before any network call).")
@click.option("--max-shots", type=click.IntRange(min=1), default=None,
              help="Refuse the run if it needs more shots in total (all circuits, bindings and measurement groups).")
@click.option("--max-seconds", type=click.FloatRange(min=0), default=None, metavar="S",
              help="Refuse the run if its estimated QPU usage time exceeds S seconds (devices billed by time: IBM).")
@click.option("--dry-run", is_flag=True,
              help="Compile and validate against the device, print the native programs and the estimated cost; send nothing.")
@reports_errors
def run(programs, backend, options, shots, seed, observables, params, precision, as_json, mitigation, run_options,
        max_cost, max_shots, max_seconds, dry_run) -> None:
    """Run OpenQASM 2/3 programs on a backend."""
    from ..backends.base import RunConfig, Task
    from ..backends.registry import get_backend
    from ..exceptions import ParameterError
    from ..ir.qasm import from_qasm_file

    opts = parse_options(options)
    values = parse_params(params)
    tasks = []
    used: set[str] = set()
    for path in programs:
        circuit = from_qasm_file(path)
        names = circuit.parameter_names
        used.update(names)
        missing = [n for n in names if n not in values]
        if missing:
            raise click.UsageError(f"{path}: give values for input parameter(s) {missing} with --param NAME=VALUE")
        pv = np.array([[values[n] for n in names]]) if names else None
        tasks.append(Task(circuit, pv, {}, tuple(observables)))
    unknown = sorted(set(values) - used)
    if unknown:  # a misspelt name would otherwise be ignored and the program run with the others
        known = ", ".join(sorted(used)) or "none"
        raise ParameterError(
            f"--param {', '.join(unknown)}: no program declares {'this input' if len(unknown) == 1 else 'these inputs'} "
            f"(their inputs: {known}); check the spelling or drop the --param", parameter=unknown[0],
        )
    budget = {k: v for k, v in (("max_cost", max_cost), ("max_shots", max_shots), ("max_seconds", max_seconds))
              if v is not None}
    if budget:  # from the circuits and the price data alone: refused before any network call
        from .jobs import precheck_budget

        precheck_budget(tasks, backend, opts, shots, budget)
    be = get_backend(backend, **opts)
    config = RunConfig(shots=shots, seed=seed, precision=precision, mitigation=mitigation,
                       options={**parse_options(run_options), **budget})
    if dry_run:
        from .jobs import print_dry_run

        print_dry_run(be, tasks, config, programs, as_json)
        return
    result = be.run(tasks, config).result()
    reports = [_program_report(r, t, observables, be.backend_name, shots) for r, t in zip(result, tasks)]
    if as_json:
        click.echo(json.dumps(reports[0] if len(reports) == 1 else reports, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for path, rep in zip(programs, reports):
        table = Table(title=f"{path.name} on {rep['backend']}" + (f", {shots} shots" if shots else ", exact"))
        if "expectation_values" in rep:
            table.add_column("observable")
            table.add_column("value", justify="right")
            table.add_column("stderr", justify="right")
            mitigated = "unmitigated_value" in rep["expectation_values"][0]
            if mitigated:
                table.add_column("unmitigated", justify="right")
                table.add_column("stderr", justify="right")
            for e in rep["expectation_values"]:
                extra = [f"{e['unmitigated_value']:.6f}", f"{e['unmitigated_stderr']:.6f}"] if mitigated else []
                table.add_row(e["observable"], f"{e['value']:.6f}", f"{e['stderr']:.6f}", *extra)
        else:
            key = "probabilities" if "probabilities" in rep else "counts"
            table.add_column("bitstring (q0 first)")
            table.add_column(key, justify="right")
            for k, v in rep[key].items():
                if v:
                    table.add_row(k, f"{v:.6f}" if key == "probabilities" else str(v))
        console.print(table)
