"""The ``qbridge`` command line.

Each sub-command lives in its own module and is imported only when it runs, so that
``qbridge backends`` stays fast and no command pays for another's imports (torch layers,
transformers). Register a command in ``_COMMANDS`` as ``name: (module, attribute, help)``.
"""

from __future__ import annotations

import importlib
import importlib.util

import click

_COMMANDS: dict[str, tuple[str, str, str]] = {
    "backends": ("qbridge.cli.backends", "backends", "List installed backends and whether they can run here."),
    "run": ("qbridge.cli.run", "run", "Run OpenQASM programs on a backend."),
    "demo": ("qbridge.cli.demo", "demo", "Train a classical GPT and its hybrid twin, compare backends, write a report."),
    "devices": ("qbridge.cli.devices", "devices", "Cloud QPUs and simulators: qubits, gates, prices and snapshot dates (offline)."),
    "jobs": ("qbridge.cli.jobs", "jobs", "Inspect, resume and cancel recorded cloud jobs."),
    "plugin": ("qbridge.cli.plugin", "plugin", "Write a new backend plugin (qbridge plugin new NAME) that passes the conformance suite."),
    "train": ("qbridge.cli.train", "train", "Train a classical or hybrid GPT-2/LLaMA/Qwen2 on a text file; metrics, checkpoints, plots."),
}


def _installed(name: str) -> bool:
    return importlib.util.find_spec(_COMMANDS[name][0]) is not None


class _LazyGroup(click.Group):
    def list_commands(self, ctx):
        return [name for name in sorted(_COMMANDS) if _installed(name)]

    def get_command(self, ctx, name):
        if name not in _COMMANDS:
            return None
        module, attr, _ = _COMMANDS[name]
        try:
            return getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as exc:
            if exc.name == module:  # the command is not part of this installation yet
                return None
            raise

    def format_commands(self, ctx, formatter):
        rows = [(name, help_) for name, (_, _, help_) in sorted(_COMMANDS.items()) if _installed(name)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_LazyGroup)
@click.version_option(package_name="qbridge")
def main() -> None:
    """qbridge: one hybrid quantum-classical program, any quantum backend."""


__all__ = ["main"]
