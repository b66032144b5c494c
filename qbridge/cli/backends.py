"""``qbridge backends``: every registered backend, and whether it can run here."""

from __future__ import annotations

import json

import click

from ..backends.registry import list_backends


@click.command("backends")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of {name, available, reason, ...}.")
def backends(as_json: bool) -> None:
    """List installed backends and whether they can run here."""
    infos = list_backends()
    if as_json:
        click.echo(json.dumps([b.to_dict() for b in infos], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="qbridge backends")
    table.add_column("name", style="bold")
    table.add_column("available")
    table.add_column("description / reason")
    for b in infos:
        table.add_row(b.name, "[green]yes[/]" if b.available else "[red]no[/]", b.description if b.available else b.reason)
    Console().print(table)
