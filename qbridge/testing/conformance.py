"""Binding the conformance suite to a backend: the fixture, the backend cache, ``conformance_tests``.

Owns: :class:`BackendSpec` (which backend, with which options), :class:`ConformanceBase` (the base
class of every suite class; its class-scoped ``harness`` fixture creates the backend once per test
session, or skips every test with the availability reason when the backend cannot run here), and
:func:`conformance_tests`, which turns the whole suite into one test class for a plugin's own test
file.

The fixture lives on the classes rather than in the pytest plugin so that a suite class works in
any test run, even one with plugin autoloading disabled; the plugin only adds command-line options.

Must not touch: the suite's checks (``checks.py``), the registry's internals.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping

import pytest

from ..backends.base import Backend
from ..backends.registry import get_backend
from ..exceptions import BackendUnavailableError
from .checks import BackendHarness

__all__ = ["BackendSpec", "ConformanceBase", "conformance_tests", "parse_option", "suite_classes"]

SUITE_PACKAGE = "qbridge.testing.suite"


def parse_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` -> (key, value); the value is a Python literal when it reads as one
    (``5``, ``0.1``, ``True``, ``None``, ``'a b'``), else the plain string (``arn:aws:...``)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise ValueError(f"backend option {text!r} is not KEY=VALUE with KEY an identifier (e.g. device=cuda)")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return key, value


@dataclass(frozen=True)
class BackendSpec:
    """Which backend the suite tests: a registry name with options, or a factory."""

    name: str | None
    options: Mapping[str, Any] = field(default_factory=dict)
    factory: Callable[[], Backend] | None = None

    @property
    def label(self) -> str:
        if self.factory is not None:
            return self.name or getattr(self.factory, "__qualname__", repr(self.factory))
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{self.name}({opts})" if opts else str(self.name)

    def key(self) -> tuple:
        if self.factory is not None:
            return ("factory", id(self.factory))
        return ("name", self.name, repr(sorted(self.options.items())))

    def create(self) -> Backend:
        if self.factory is not None:
            backend = self.factory()
            if not isinstance(backend, Backend):
                raise TypeError(f"the backend factory returned {type(backend).__name__}, not a qbridge Backend")
            return backend
        return get_backend(self.name, **dict(self.options))

    @classmethod
    def from_config(cls, config: pytest.Config) -> "BackendSpec":
        """The backend named by ``--qbridge-backend`` / ``--qbridge-option`` (default ``torch``)."""
        name = config.getoption("qbridge_backend", default=None) or "torch"
        options = dict(parse_option(o) for o in (config.getoption("qbridge_option", default=None) or []))
        return cls(name, options)


_CACHE = pytest.StashKey[dict]()


def _harness_for(config: pytest.Config, spec: BackendSpec) -> BackendHarness:
    """One harness (one backend object) per spec per session; a failure is remembered too."""
    cache = config.stash.setdefault(_CACHE, {})
    key = spec.key()
    if key not in cache:
        try:
            cache[key] = BackendHarness(spec.create())
        except BackendUnavailableError as exc:
            cache[key] = exc
    entry = cache[key]
    if isinstance(entry, BackendUnavailableError):
        reason = f"[{spec.label}] {entry.message}"
        if config.getoption("qbridge_require_available", default=False):
            pytest.fail(reason + " (--qbridge-require-available is set)", pytrace=False)
        pytest.skip(reason)
    return entry


class ConformanceBase:
    """Base class of every suite class. ``qbridge_spec`` None means: from the command line."""

    qbridge_spec: ClassVar[BackendSpec | None] = None

    # a classmethod: pytest 9 deprecates class-scoped fixtures written as instance methods
    @pytest.fixture(scope="class")
    @classmethod
    def harness(cls, request: pytest.FixtureRequest) -> BackendHarness:
        spec = request.cls.qbridge_spec or BackendSpec.from_config(request.config)
        return _harness_for(request.config, spec)


def suite_classes() -> list[type[ConformanceBase]]:
    """Every test class of the suite, module by module (``suite/test_conformance_*.py``)."""
    package = importlib.import_module(SUITE_PACKAGE)
    out: list[type[ConformanceBase]] = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if not info.name.startswith("test_"):
            continue
        module = importlib.import_module(f"{SUITE_PACKAGE}.{info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, ConformanceBase)
                and value.__module__ == module.__name__
                and value.__name__.startswith("Test")
            ):
                out.append(value)
    return out


def conformance_tests(backend: str | Backend | Callable[[], Backend], /, **options: Any) -> type:
    """The whole conformance suite as one test class, bound to ``backend``.

    Assign it to a name starting with ``Test`` in a test module and pytest collects every family
    as a nested class::

        from qbridge.testing import conformance_tests

        TestExampleConformance = conformance_tests("example")
        TestExampleWide = conformance_tests("example", max_qubits=8)  # options go to the backend

    ``backend`` is a registry name (options are passed to :func:`qbridge.get_backend`), a backend
    object, or a zero-argument factory (for a backend class that is not installed). Select
    families or tests with ``-k`` as usual (``-k "Gates or Shots"``).
    """
    if isinstance(backend, str):
        spec = BackendSpec(backend, dict(options))
    else:
        if options:
            raise TypeError("options apply to a backend given by name; configure the backend object yourself")
        if isinstance(backend, Backend):
            instance = backend
            spec = BackendSpec(instance.backend_name, {}, lambda: instance)
        elif callable(backend):
            spec = BackendSpec(None, {}, backend)
        else:
            raise TypeError(
                f"conformance_tests needs a backend name, a Backend or a factory, got {type(backend).__name__}"
            )
    label = re.sub(r"\W+", "_", spec.name or spec.label).strip("_") or "backend"
    members: dict[str, Any] = {
        "__doc__": f"The qbridge backend conformance suite against {spec.label}.",
        "qbridge_spec": spec,
    }
    for cls in suite_classes():
        members[cls.__name__] = type(cls.__name__, (cls,), {"qbridge_spec": spec, "__module__": cls.__module__})
    return type(f"TestConformance_{label}", (), members)
