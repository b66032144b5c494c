"""``qbridge jobs``: inspect, collect, resume and cancel recorded cloud jobs; the total budget.

Reads the job store (``--store``, ``$QBRIDGE_JOB_STORE`` or the user data folder). ``list`` and
``show`` never touch the network; ``result`` asks the provider only about unfinished tasks;
``resume`` sends what a crash left unsent (looking tasks up by their token first); ``cancel``
cancels. Credentials come from each SDK's own chain and are never printed.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

import click

from ._common import reports_errors

__all__ = ["jobs"]


def _store(ctx: click.Context):
    from ..jobs import JobStore

    return JobStore(ctx.obj["store_path"])


def _clients(ctx: click.Context) -> dict[str, Any]:
    # Tests (and embedding programs) can hand SDK clients in through click's ``obj``.
    return dict(ctx.obj.get("clients") or {})


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def _usd(v: float | None) -> str:
    return "?" if v is None else f"{v:.4f}"


@click.group("jobs")
@click.option("--store", "store_path", type=click.Path(dir_okay=False), default=None, envvar="QBRIDGE_JOB_STORE",
              help="Job store file (default: $QBRIDGE_JOB_STORE or the user data folder).")
@click.pass_context
def jobs(ctx: click.Context, store_path: str | None) -> None:
    """Inspect, resume and cancel recorded cloud jobs."""
    obj = ctx.obj if isinstance(ctx.obj, dict) else {}
    obj["store_path"] = store_path
    ctx.obj = obj


@jobs.command("list")
@click.option("--state", default=None, help="Only jobs in this state (done, queued, running, sending, failed, ...).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@reports_errors
def list_(ctx: click.Context, state: str | None, limit: int, as_json: bool) -> None:
    """List recorded jobs, newest first (reads the store only)."""
    with _store(ctx) as st:
        records = st.list_jobs(limit=limit, state=state)
        spent, cap = st.spent_usd(), st.total_cap_usd
        path = str(st.path)
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in records], indent=2))
        return
    if not records:
        what = f"no jobs in state {state!r}" if state else "no jobs recorded yet"
        click.echo(f"{what} in the job store {path}.\n"
                   "It fills with cloud runs: every submission to a paid device (braket.device, ibm.runtime), and any "
                   "run given a store (--run-option store=PATH, RunConfig(options={'store': PATH})), is recorded here "
                   "before it is sent. Dry runs (--dry-run) record nothing. Another store: qbridge jobs --store PATH "
                   "or QBRIDGE_JOB_STORE.")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"qbridge jobs ({len(records)} shown; committed USD {spent:.4f}"
                  + (f" of a USD {cap:.4f} cap)" if cap is not None else ")"))
    for col in ("id", "created (UTC)", "state", "backend", "device", "tasks", "shots", "est. USD", "actual USD"):
        table.add_column(col, justify="right" if col in ("tasks", "shots", "est. USD", "actual USD") else "left")
    for r in records:
        table.add_row(r.id, _when(r.created_at), r.state, r.backend, r.device, str(len(r.tasks)), str(r.shots),
                      _usd(r.estimated_cost_usd), _usd(r.actual_cost_usd))
    Console().print(table)


@jobs.command("show")
@click.argument("job_id")
@click.option("--payload", is_flag=True, help="Include what was sent for each task (native programs).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@reports_errors
def show(ctx: click.Context, job_id: str, payload: bool, as_json: bool) -> None:
    """Show one job and its provider tasks (reads the store only)."""
    with _store(ctx) as st:
        rec = st.get_job(job_id)
    if as_json:
        click.echo(json.dumps(rec.to_dict(with_payload=payload), indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{rec.id}[/bold]  {rec.state}  {rec.backend} on {rec.device}")
    console.print(f"created {_when(rec.created_at)}, {rec.shots} shots per circuit, estimated USD "
                  f"{_usd(rec.estimated_cost_usd)}, actual USD {_usd(rec.actual_cost_usd)}"
                  + (f", budget USD {rec.max_cost_usd:.4f}" if rec.max_cost_usd is not None else ""))
    table = Table()
    for col in ("#", "state", "provider ID", "client token", "circuits", "est. USD", "result", "error"):
        table.add_column(col)
    for t in rec.tasks:
        table.add_row(str(t.index), t.state, t.provider_id or "-", t.client_token, str(len(t.executables)),
                      _usd(t.estimated_cost_usd), "cached" if t.result is not None else "-", t.error or "")
    console.print(table)
    if payload:
        for t in rec.tasks:
            console.print(f"-- task {t.index} --")
            console.print(json.dumps(t.payload, indent=2), markup=False, highlight=False)


def _result_rows(result) -> list[dict[str, Any]]:
    out = []
    for i, tr in enumerate(result.tasks):
        for b in range(tr.batch_size):
            out.append({"circuit": i, "row": b, "counts": dict(sorted(tr.get_counts(b).items()))})
    return out


@jobs.command("result")
@click.argument("job_id")
@click.option("--timeout", type=float, default=0.0, show_default=True,
              help="Seconds to wait for unfinished tasks (0: ask once). A timeout cancels nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@reports_errors
def result(ctx: click.Context, job_id: str, timeout: float, as_json: bool) -> None:
    """Print a job's counts (q0 first), fetching finished results from the provider once."""
    from ..jobs import load_job

    job = load_job(job_id, _store(ctx), **_clients(ctx))
    res = job.result(timeout=timeout)
    rows = _result_rows(res)
    if as_json:
        click.echo(json.dumps({"id": job.job_id, "backend": res.backend, "shots": res.shots,
                               "device": res.metadata.get("device"), "results": rows,
                               "estimated_cost_usd": res.metadata.get("estimated_cost_usd"),
                               "actual_cost_usd": res.metadata.get("actual_cost_usd")}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for r in rows:
        table = Table(title=f"{job.job_id} circuit {r['circuit']} row {r['row']} ({res.shots} shots)")
        table.add_column("bitstring (q0 first)")
        table.add_column("counts", justify="right")
        for k, v in r["counts"].items():
            table.add_row(k, str(v))
        console.print(table)


@jobs.command("resume")
@click.argument("job_id")
@click.option("--resubmit", is_flag=True,
              help="Re-send tasks that may have been sent but cannot be found (IBM has no idempotency token: may pay twice).")
@click.option("--wait/--no-wait", default=False, show_default=True, help="Wait for the results after resuming.")
@click.option("--timeout", type=float, default=None, help="With --wait: seconds to wait (a timeout cancels nothing).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@reports_errors
def resume(ctx: click.Context, job_id: str, resubmit: bool, wait: bool, timeout: float | None, as_json: bool) -> None:
    """Finish sending a job a crash interrupted, re-attaching to tasks that already exist."""
    from ..jobs import load_job

    job = load_job(job_id, _store(ctx), **_clients(ctx))
    job.resume(resubmit=resubmit)
    rows = None
    if wait:
        rows = _result_rows(job.result(timeout=timeout))
    rec = job.record
    if as_json:
        d = rec.to_dict()
        if rows is not None:
            d["results"] = rows
        click.echo(json.dumps(d, indent=2))
        return
    click.echo(f"{rec.id}: {rec.state}; " + ", ".join(f"task {t.index} {t.state} {t.provider_id or ''}".strip() for t in rec.tasks))
    if rows is not None:
        for r in rows:
            click.echo(f"circuit {r['circuit']} row {r['row']}: {json.dumps(r['counts'])}")


@jobs.command("cancel")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@reports_errors
def cancel(ctx: click.Context, job_id: str, as_json: bool) -> None:
    """Cancel a job's unfinished tasks (unsent ones are dropped)."""
    from ..jobs import load_job

    job = load_job(job_id, _store(ctx), **_clients(ctx))
    changed = job.cancel()
    rec = job.record
    if as_json:
        click.echo(json.dumps({"id": rec.id, "cancelled": changed, "state": rec.state}, indent=2))
        return
    click.echo(f"{rec.id}: {'cancellation requested' if changed else 'nothing to cancel'}; state {rec.state}")


@jobs.command("budget")
@click.option("--total-cap", type=click.FloatRange(min=0), default=None, help="Set the total cap in USD for all runs.")
@click.option("--no-cap", is_flag=True, help="Remove the total cap.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@reports_errors
def budget(ctx: click.Context, total_cap: float | None, no_cap: bool, as_json: bool) -> None:
    """Show (or set) the running total of committed cloud spending and its cap."""
    if total_cap is not None and no_cap:
        raise click.UsageError("give --total-cap or --no-cap, not both")
    with _store(ctx) as st:
        if no_cap:
            st.set_total_cap(None)
        elif total_cap is not None:
            st.set_total_cap(total_cap)
        spent, cap = st.spent_usd(), st.total_cap_usd
        path = str(st.path)
    if as_json:
        click.echo(json.dumps({"store": path, "spent_usd": spent, "total_cap_usd": cap,
                               "left_usd": None if cap is None else max(cap - spent, 0.0)}, indent=2))
        return
    click.echo(f"committed USD {spent:.4f}" + (f" of a cap of USD {cap:.4f} (USD {max(cap - spent, 0):.4f} left)" if cap is not None
                                                else " (no total cap; set one with --total-cap USD)") + f"  [{path}]")


# -- helpers of `qbridge run --max-cost/--max-shots/--dry-run` ------------------------------------

def precheck_budget(tasks: list, backend: str, options: dict[str, Any], shots: int | None, budget: dict[str, Any]) -> None:
    """Refuse a run over budget from the circuits and price data alone (no backend is created,
    so no credentials are read and no network call is made). The job store's total cap applies to
    paid runs; the cloud adapters check again, atomically, when they record the submission."""
    from ..jobs import Budget, estimate_cost, open_store
    from ..jobs.plan import check_budget

    # only the device's offline description is used here (IBM: its snapshot times the circuits)
    estimate = estimate_cost(tasks, backend, shots, options=options)
    store = None
    if estimate.usd is None or estimate.usd > 0:
        store = open_store(options.get("store"))
    try:
        check_budget(estimate, Budget.from_options(budget), store)
    finally:
        if store is not None:
            store.close()


def print_dry_run(be: Any, tasks: list, config: Any, programs: list, as_json: bool) -> None:
    """Compile and validate everything, print native programs and the estimate; send nothing."""
    from ..jobs.plan import plan_run

    plan = plan_run(be, tasks, config)
    report = plan.to_dict()
    report.update({"backend": be.backend_name, "shots": config.shots})
    for c in report["circuits"]:
        c["program_file"] = str(programs[c["task"]])
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
        return
    from rich.console import Console

    console = Console()
    src = plan.device_source
    if src is not None:
        console.print(f"device: {_describe_source(src)}", markup=False, highlight=False)
    for c in report["circuits"]:
        console.print(f"[bold]{c['program_file']}[/bold] -> {be.backend_name}: {c['num_qubits']} qubits, "
                      f"native gates {c['native_gates']}")
        console.print(c["native_program"], markup=False, highlight=False)
    est = plan.estimate
    if plan.mitigation is not None:
        m = plan.mitigation
        console.print(f"mitigation {', '.join(m['techniques']) or '(shot allocation)'}: {m['circuits']} compiled "
                      f"circuit(s), {m['executions']} execution(s) of {m['shots_per_execution']} shots, all in the "
                      "estimate below (calibrations, noise-scaled and twirled variants, copies)",
                      markup=False, highlight=False)
    if plan.pilot_estimate is not None:
        console.print(f"pilot submission (sent first, sizes the run): {plan.pilot_estimate.describe()}; "
                      f"{plan.pilot_estimate.executables} circuit execution(s)", markup=False, highlight=False)
    console.print(f"estimated cost: {est.describe()}; {est.executables} circuit execution(s), "
                  f"{est.total_shots} shots in total. Dry run: nothing was sent.", markup=False, highlight=False)


def _describe_source(src: Any) -> str:
    """One line on where a dry run's device description came from."""
    if src.get("source") == "snapshot":
        why = str(src.get("credentials") or "").split(";")[0]
        return (f"offline snapshot {src.get('snapshot')} dated {src.get('snapshot_as_of')} ({why}; "
                "`qbridge backends` says how to configure credentials)")
    if src.get("source") == "live":
        diff = src.get("differences")
        same = ("no snapshot to compare with" if diff is None else
                f"matches the snapshot of {src.get('snapshot_as_of')}" if not diff else
                f"differs from the snapshot of {src.get('snapshot_as_of')}: {'; '.join(diff)}")
        return f"live properties ({same})"
    return str(src.get("note") or src.get("source"))
