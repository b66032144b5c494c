"""``qbridge devices``: the catalogue of cloud QPUs and managed simulators, offline.

Lists what each cloud adapter knows without contacting any service: qubits, native gates,
connectivity, price and its date, the date of the offline snapshot the device is planned against
without credentials, and whether live access is configured here (:mod:`qbridge.jobs.devices`).
"""

from __future__ import annotations

import json
from typing import Any

import click

from ._common import reports_errors

__all__ = ["devices"]


def _price(row: dict[str, Any], short: bool = False) -> str:
    p = row.get("price")
    if not p:
        if short and row.get("kind") == "simulator":
            return "per minute; not in the shipped table"
        return row.get("price_note") or "unknown"
    if "usd_per_second" in p:
        return f"USD {p['usd_per_second']:g}/s of QPU time"
    if p.get("per_minute_usd") is not None:
        return f"USD {p['per_minute_usd']:g}/min"
    return f"USD {p['per_task_usd']:.2f}/task + {p['per_shot_usd']:g}/shot"


def _access(row: dict[str, Any]) -> str:
    a = row.get("live_access") or {}
    return "configured" if a.get("configured") else "not configured"


@click.group("devices", invoke_without_command=True)
@click.option("--provider", type=click.Choice(["braket", "ibm"]), default=None, help="Only this provider's devices.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@reports_errors
def devices(ctx: click.Context, provider: str | None, as_json: bool) -> None:
    """List cloud QPUs and managed simulators: qubits, gates, prices, snapshot dates (offline)."""
    if ctx.invoked_subcommand is not None:
        return
    from ..jobs.devices import list_devices

    rows, notes = list_devices(provider)
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="qbridge devices (offline catalogue; `qbridge devices show NAME` for one)")
    for col in ("name", "provider", "backend", "qubits", "connectivity", "price", "price date", "snapshot", "live access"):
        table.add_column(col, justify="right" if col == "qubits" else "left")
    for r in rows:
        table.add_row(r["name"], r["provider"], r["backend"], "-" if r.get("qubits") is None else str(r["qubits"]),
                      r.get("connectivity") or "-", _price(r, short=True), r.get("price_date") or "-", r.get("snapshot_date") or "none",
                      _access(r))
    console = Console()
    console.print(table)
    for n in notes:
        console.print(n, markup=False, highlight=False)


@devices.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@reports_errors
def show(name: str, as_json: bool) -> None:
    """One device in full (NAME: iqm/Garnet, Garnet, ibm_brisbane or a Braket ARN)."""
    from ..jobs.devices import find_device

    row = find_device(name)
    if as_json:
        click.echo(json.dumps(row, indent=2, default=str))
        return
    lines = [
        f"{row['name']}: {row.get('title') or row['name']}",
        f"provider        {row['provider']} (backend {row['backend']}, options {json.dumps(row['options'])})",
        f"qubits          {row.get('qubits') if row.get('qubits') is not None else 'not in a snapshot'}",
        f"native gates    {', '.join(row.get('native_gates') or []) or '-'}",
    ]
    if row.get("accepted_gates"):
        lines.append(f"qbridge sends   {', '.join(row['accepted_gates'])} (others are decomposed)")
    lines += [
        f"connectivity    {row.get('connectivity') or '-'}",
        f"shots           {row.get('shots_range') or '-'}",
        f"program sets    {row.get('program_sets') or 'none listed (one quantum task per execution assumed)'}"
        if row["backend"] == "braket.device" else "program sets    -",
        f"price           {_price(row)}" + (f" (as of {row['price_date']})" if row.get("price_date") else ""),
        f"snapshot        {row.get('snapshot_date') or 'none'}: {row.get('snapshot_source') or ''}",
    ]
    if row.get("status"):
        lines.append(f"status          {row['status']}")
    access = row.get("live_access") or {}
    lines.append(f"live access     {_access(row)}: {access.get('how', '')}")
    for line in lines:
        click.echo(line)
