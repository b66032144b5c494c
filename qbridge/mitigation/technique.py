"""A mitigation technique as a unit: one interface, one registry.

Owns: :class:`Technique` (the points at which the pipeline calls a technique), :class:`Variant`
(one circuit a task runs as, after the techniques have expanded it), the registry of techniques
by name (:func:`register_technique`; third-party techniques also through the
``qbridge.mitigation_techniques`` entry-point group) and :func:`technique_class`.

Must not touch: backends, the pipeline's bookkeeping (:mod:`.pipeline` owns the one submission,
the pooling of samples and the propagation of standard errors).

A technique answers three questions, each at its own point of the pipeline:

1. **What circuits it needs.** :meth:`Technique.expand` turns each variant of a task into the
   variants that run instead (ZNE: one per noise scale; twirling: random instances; a
   measurement symmetrisation: a twin with flipped readout); :meth:`Technique.request` adds
   circuits of its own to the submission (readout calibrations) and returns a token that comes
   back at the other points. Every circuit of every technique goes out in the one submission.
2. **How it combines their results.** Variants of one noise scale are pooled by the pipeline;
   :meth:`Technique.estimator` may replace the plain estimate of each group's samples (readout
   correction), :meth:`Technique.reduce` combines the per-scale values into one (extrapolation),
   :meth:`Technique.on_samples` corrects a task that returns counts.
3. **What it reports.** :meth:`Technique.report` is the technique's entry under
   ``metadata["mitigation"][name]``.

A new technique is one module with a subclass decorated by :func:`register_technique` (see
``tests/test_mitigation_units.py`` for one written in a test), or a distribution that registers
its class under the entry-point group. ``RunConfig(mitigation="name")`` then runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

import numpy as np

from ..ir.circuit import Circuit

if TYPE_CHECKING:  # pragma: no cover - types only
    from .pipeline import MitigationSettings
    from .submission import Submission

__all__ = ["Variant", "Technique", "register_technique", "technique_class", "technique_names", "TECHNIQUE_GROUP"]

TECHNIQUE_GROUP = "qbridge.mitigation_techniques"


@dataclass(frozen=True)
class Variant:
    """One circuit a task runs as.

    ``scale``: the noise scale it measures (1 unless a technique folds it); variants of one scale
    are pooled, and scales are combined by :meth:`Technique.reduce`. ``frames``: rows of
    parameter values (instances of a parametric template, each row a pooled instance) named by
    ``frame_names``. ``flip``: qubits that get an X just before measurement (after the basis
    change of the measured group) and whose outcome bits the pipeline flips back.
    """

    scale: float
    circuit: Circuit
    frames: np.ndarray | None = None
    frame_names: tuple[str, ...] = ()
    flip: tuple[int, ...] = ()

    @property
    def instances(self) -> int:
        return 1 if self.frames is None else len(self.frames)


class Technique:
    """Base class of a mitigation technique; every hook has a neutral default (module notes)."""

    #: the name in ``RunConfig(mitigation=...)``
    name: ClassVar[str] = ""
    #: it corrects noise: on an exact, noiseless simulation it changes nothing (the run warns)
    corrects_noise: ClassVar[bool] = True
    #: it works on expectation values only: tasks without observables report it as not applied,
    #: with this reason
    needs_observables: ClassVar[bool] = False
    not_applied: ClassVar[str] = "works on expectation values; this task has none"
    #: where :meth:`expand` acts among the techniques of a run (lower first)
    stage: ClassVar[int] = 50

    def __init__(self, settings: "MitigationSettings") -> None:
        self.settings = settings

    @classmethod
    def validate(cls, settings: "MitigationSettings") -> None:
        """Refuse settings this technique cannot run with (ValueError naming the option)."""

    # -- before anything is built -------------------------------------------------------------------
    def check(self, backend: Any, tasks: Sequence[Any]) -> None:
        """Refuse a run this technique cannot serve (ValidationError), before any circuit is built."""

    def needs_seed(self) -> bool:
        """Whether the circuits it builds are random (the run then draws and records a seed)."""
        return False

    def execution_names(self) -> tuple[str, ...]:
        """Mitigation the backend applies itself, passed on in the executed config's ``mitigation``."""
        return ()

    def expands_encodings(self) -> bool:
        """Whether tasks with run-time inputs must be bound and decomposed per row first."""
        return False

    # -- circuits ----------------------------------------------------------------------------------------
    def expand(self, variants: list[Variant], rng: np.random.Generator) -> list[Variant]:
        """The variants that run instead of ``variants`` (default: the same)."""
        return variants

    def request(self, sub: "Submission", backend: Any, task: Any) -> Any:
        """Add this technique's own circuits for ``task`` to ``sub``; a token for the later hooks."""
        return None

    def shot_factor(self, scales: Sequence[float]) -> float:
        """How much more shots each scale needs for a precision target (variance amplification)."""
        return 1.0

    # -- after the submission ----------------------------------------------------------------------------
    def finish(self, sub: "Submission", raw: Sequence[Any]) -> None:
        """Read this technique's own circuits' results (once per run, before any task combines)."""

    def estimator(self, token: Any, sub: "Submission", raw: Sequence[Any], ids: Sequence[int],
                  num_qubits: int, warn: list[str]) -> Any:
        """An estimator of Pauli terms from samples (``estimate(samples, terms) -> (mean, var, d)``,
        ``quad(d)``) for a task whose measurement circuits are entries ``ids``, or None."""
        return None

    def reduce(self, scales: Sequence[float], values: np.ndarray, stderr: np.ndarray,
               asymptote: float) -> tuple[float, np.ndarray] | None:
        """One value from the per-scale ``values`` of one observable, and its Jacobian in them;
        None leaves the value at the smallest scale."""
        return None

    def on_samples(self, token: Any, sub: "Submission", raw: Sequence[Any], ids: Sequence[int], num_qubits: int,
                   readout: Sequence[int], samples: Sequence[Any], metadata: dict, warn: list[str]) -> None:
        """Correct a task that returns counts: ``samples`` per row, on the ``readout`` qubits of a
        ``num_qubits`` register; corrections go into ``metadata``."""

    def report(self, token: Any, context: dict[str, Any]) -> dict[str, Any] | None:
        """The technique's entry under ``metadata["mitigation"][name]`` (None: no entry).

        ``context``: ``kind`` ("estimation" or "sampling") and, for estimation, ``scales``
        (actual noise scales), ``values`` and ``stderr`` (per row, scale and observable)."""
        return None


_REGISTRY: dict[str, type[Technique]] = {}


def register_technique(cls: type[Technique]) -> type[Technique]:
    """Class decorator: make ``cls`` available as ``RunConfig(mitigation=cls.name)``."""
    if not (isinstance(cls, type) and issubclass(cls, Technique)) or not cls.name:
        raise TypeError("register_technique takes a Technique subclass with a name")
    other = _REGISTRY.get(cls.name)
    if other is not None and other is not cls and other.__qualname__ != cls.__qualname__:
        raise ValueError(f"mitigation technique {cls.name!r} is registered twice: "
                         f"{other.__module__}.{other.__qualname__} and {cls.__module__}.{cls.__qualname__}")
    _REGISTRY[cls.name] = cls
    return cls


def _from_entry_points() -> None:
    from importlib import metadata

    for ep in metadata.entry_points(group=TECHNIQUE_GROUP):
        if ep.name in _REGISTRY:
            continue
        try:
            cls = ep.load()
        except ImportError:  # the distribution's metadata is there, its code or SDK is not
            continue
        register_technique(cls)


def technique_names() -> tuple[str, ...]:
    """Every technique a run may ask for, built-in ones first."""
    _from_entry_points()
    return tuple(_REGISTRY)


def technique_class(name: str) -> type[Technique] | None:
    if name not in _REGISTRY:
        _from_entry_points()
    return _REGISTRY.get(name)
