"""The backend conformance suite: one set of tests that every qbridge backend passes.

Three ways to run it (docs/plugins.md has the details):

- ``qbridge-backend-test --backend NAME [--option KEY=VALUE]... [pytest args]``;
- ``pytest --pyargs qbridge.testing.suite --qbridge-backend NAME [--qbridge-option KEY=VALUE]``;
- in a plugin's own tests: ``TestMyConformance = conformance_tests("name")``.

Public helpers: :func:`conformance_tests`, :class:`BackendHarness` and the reference and tolerance
functions of :mod:`qbridge.testing.checks`. Beside the suite: :mod:`qbridge.testing.mutation`
(mutants of a plugin run through the suite: what it catches) and :mod:`qbridge.testing.scaffold`
(``qbridge plugin new``: a plugin that passes the suite as generated). This package is imported by the pytest plugin in every
test run, so it imports its submodules (and pytest's heavier parts) only when they are used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["conformance_tests", "BackendHarness", "BackendSpec"]


def __getattr__(name: str) -> Any:
    if name in ("conformance_tests", "BackendSpec"):
        from . import conformance

        return getattr(conformance, name)
    if name == "BackendHarness":
        from .checks import BackendHarness

        return BackendHarness
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
