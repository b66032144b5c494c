"""Helpers shared by the CLI commands: option parsing and error reporting."""

from __future__ import annotations

import functools
import json
import math
import re
import sys
from typing import Any, Callable, Iterable

import click

from ..exceptions import QBridgeError


def parse_options(pairs: Iterable[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; a VALUE that reads as JSON (numbers, true/false, null, lists) is decoded."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--option")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        out[key.strip()] = value
    return out


_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def parse_params(pairs: Iterable[str]) -> dict[str, float]:
    """``NAME=VALUE`` pairs of ``--param``: VALUE must be a finite decimal number (``true``,
    ``nan``, ``0x10`` and the like are refused, not read as numbers)."""
    from ..exceptions import ParameterError

    out: dict[str, float] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        name, raw = name.strip(), raw.strip()
        if not sep or not name:
            raise ParameterError(
                f"--param {pair!r} is not NAME=VALUE; write for example --param theta=0.5", expected="NAME=VALUE",
            )
        if not _NUMBER.fullmatch(raw) or not math.isfinite(float(raw)):
            raise ParameterError(
                f"--param {name}={raw!r}: the value must be a finite decimal number such as 0.5, -1 or "
                f"3.2e-3; write --param {name}=<number>", parameter=name, expected="finite decimal number",
            )
        if name in out:
            raise ParameterError(f"--param {name} is given twice; give each parameter once", parameter=name)
        out[name] = float(raw)
    return out


def reports_errors(fn: Callable) -> Callable:
    """Turn qbridge errors into a one-line message and exit status 2, without a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except QBridgeError as exc:
            click.echo(f"error: {type(exc).__name__}: {exc}", err=True)
            sys.exit(2)
        except (ValueError, TypeError, OSError) as exc:
            click.echo(f"error: {type(exc).__name__}: {exc}", err=True)
            sys.exit(2)

    return wrapper
