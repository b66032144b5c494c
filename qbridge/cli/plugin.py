"""``qbridge plugin new NAME``: write a backend plugin distribution that passes the suite as is.

The template and its rules live in :mod:`qbridge.testing.scaffold`; this module is the command.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.group("plugin")
def plugin() -> None:
    """Write and check backend plugins."""


@plugin.command("new")
@click.argument("name")
@click.option("--path", "parent", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Folder to create qbridge-NAME/ in.")
def new(name: str, parent: Path) -> None:
    """Write qbridge-NAME/: a backend registered as NAME that passes the conformance suite unchanged.

    Its placeholder engine is qbridge's own simulator; replace the blocks marked FILL with your
    SDK's calls, one at a time, rerunning the suite after each.
    """
    from ..testing.scaffold import ScaffoldError, new_plugin

    try:
        root = new_plugin(name, parent)
    except ScaffoldError as exc:
        raise click.UsageError(exc.message) from None
    click.echo(f"wrote {root}/")
    click.echo(f"  pip install -e {root}            # registers the backend {name!r}")
    click.echo(f"  pytest {root / 'tests'}          # the conformance suite")
    click.echo(f"  grep -n FILL -r {root}           # the places to fill")
