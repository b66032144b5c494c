"""``qbridge backends``: every registered backend, and whether it can run here."""

from __future__ import annotations

import json

import click

from ..backends.registry import list_backends


@click.command("backends")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of {name, available, status, reason, ...}.")
def backends(as_json: bool) -> None:
    """List installed backends and whether they can run here.

    ``ready``: installed and, for paid services, credentials are configured. ``needs credentials``:
    installed, plans and prices runs offline (--dry-run), but cannot send until credentials are
    configured (the line says how). Decided from local files and the environment: no service is
    contacted, so a ready backend may still be refused by its service.
    """
    infos = list_backends()
    if as_json:
        click.echo(json.dumps([b.to_dict() for b in infos], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="qbridge backends")
    table.add_column("name", style="bold")
    table.add_column("status")
    table.add_column("description / reason")
    for b in infos:
        if b.status == "unavailable":
            table.add_row(b.name, "[red]unavailable[/]", b.reason)
        elif b.status == "needs credentials":
            table.add_row(b.name, "[yellow]installed, needs credentials[/]",
                          f"{b.description}\n{b.credentials}")
        else:
            extra = f"\ncredentials: {b.credentials}" if b.credentials_configured else ""
            table.add_row(b.name, "[green]ready[/]", b.description + extra)
    Console().print(table)
