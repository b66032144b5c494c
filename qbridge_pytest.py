"""pytest plugin of qbridge's backend conformance suite (entry point ``pytest11: qbridge``).

A top-level module on purpose: pytest loads it in every run in an environment where qbridge is
installed, and importing anything under ``qbridge`` imports torch (about 1.3 s). Nothing here
imports qbridge until a run asks for the suite.

Inert unless asked for: it registers three command-line options and nothing else runs. The
suite's modules live inside the package (``qbridge/testing/suite``) and are collected only when a
run names them (``pytest --pyargs qbridge.testing.suite``, or the ``qbridge-backend-test``
command); a run that merely walks over the installed package (``pytest .`` in a checkout) skips
the directory unless ``--qbridge-backend`` is given.

Options:

- ``--qbridge-backend NAME``: the backend the suite tests (default ``torch``);
- ``--qbridge-option KEY=VALUE`` (repeatable): options for :func:`qbridge.get_backend`; values are
  Python literals when they read as one, else strings;
- ``--qbridge-require-available``: a backend that cannot run here fails the suite instead of
  skipping it (for CI jobs that must have the SDK or the GPU).

Importing this module must stay cheap (it must not import qbridge, torch or an SDK).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

# located without importing the package (a submodule's spec would import qbridge itself)
_spec = importlib.util.find_spec("qbridge")
SUITE_DIR = (
    Path(_spec.origin).resolve().parent / "testing" / "suite" if _spec is not None and _spec.origin else Path("qbridge-suite-missing")
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("qbridge", "qbridge backend conformance suite")
    group.addoption(
        "--qbridge-backend",
        action="store",
        dest="qbridge_backend",
        default=None,
        metavar="NAME",
        help="backend the conformance suite tests (pytest --pyargs qbridge.testing.suite; default torch)",
    )
    group.addoption(
        "--qbridge-option",
        action="append",
        dest="qbridge_option",
        default=[],
        metavar="KEY=VALUE",
        help="option passed to qbridge.get_backend for the suite's backend (repeatable)",
    )
    group.addoption(
        "--qbridge-require-available",
        action="store_true",
        dest="qbridge_require_available",
        default=False,
        help="fail, rather than skip, the suite when the backend cannot run here (no SDK, no GPU)",
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    # pytest consults this hook only for paths it reaches by walking a directory, never for the
    # paths named on the command line, so naming the suite always collects it.
    if collection_path == SUITE_DIR and not config.getoption("qbridge_backend"):
        return True
    return None


def pytest_report_header(config: pytest.Config) -> str | None:
    name = config.getoption("qbridge_backend")
    if not name:
        return None
    options = config.getoption("qbridge_option") or []
    return f"qbridge conformance suite: backend {name!r}" + (f", options {options}" if options else "")


def pytest_configure(config: pytest.Config) -> None:
    # a malformed option is a usage error at start-up, not a hundred failing fixtures later
    options = config.getoption("qbridge_option") or []
    if options:
        from qbridge.testing.conformance import parse_option

        for text in options:
            try:
                parse_option(text)
            except ValueError as exc:
                raise pytest.UsageError(f"--qbridge-option: {exc}") from None


@pytest.fixture
def qbridge_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a network connection fails the test (offline paths: dry runs, device
    snapshots, cost estimates). Loopback included: nothing on these paths may connect at all."""
    import socket

    def refuse(self, *args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: refuse(None, *a))
