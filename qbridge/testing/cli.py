"""``qbridge-backend-test``: run the conformance suite against one backend.

    qbridge-backend-test --backend aer
    qbridge-backend-test --backend braket.device --option arn=arn:aws:braket:::device/quantum-simulator/amazon/sv1
    qbridge-backend-test --backend example -k "Gates or Shots" -x     # anything else goes to pytest

The command is a thin wrapper over ``pytest.main`` on the suite's directory inside the installed
package, so every pytest option works and the exit status is pytest's.
"""

from __future__ import annotations

import os
import sys
from typing import Sequence

import click

_SETTINGS = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": ["-h", "--help"]}


def build_args(backend: str, options: Sequence[str], require_available: bool, pytest_args: Sequence[str]) -> list[str]:
    """The pytest command line that runs the suite against ``backend``."""
    from .plugin import SUITE_DIR

    args = [str(SUITE_DIR), "--qbridge-backend", backend]
    for opt in options:
        args += ["--qbridge-option", opt]
    if require_available:
        args.append("--qbridge-require-available")
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        args += ["-p", "qbridge_pytest"]  # the options live in the plugin
    # the suite's directory may be inside site-packages: keep pytest's cache (--lf) in the cwd
    args += ["-o", f"cache_dir={os.path.join(os.getcwd(), '.pytest_cache')}", *pytest_args]
    return args


@click.command(context_settings=_SETTINGS)
@click.option("--backend", "-b", required=True, metavar="NAME", help="Backend to test, as registered (e.g. torch, aer).")
# no short form: -o belongs to pytest (ini overrides), which receives every unknown argument
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE", help="Backend option (repeatable).")
@click.option(
    "--require-available", is_flag=True, help="Fail instead of skipping when the backend cannot run here."
)
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def main(backend: str, options: tuple[str, ...], require_available: bool, pytest_args: tuple[str, ...]) -> None:
    """Run qbridge's backend conformance suite against BACKEND; other arguments go to pytest."""
    import pytest

    code = pytest.main(build_args(backend, options, require_available, pytest_args))
    sys.exit(int(code))


if __name__ == "__main__":  # python -m qbridge.testing.cli
    main()
