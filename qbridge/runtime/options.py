"""The options of a run (``RunConfig.options``): every name known, every value checked once.

Owns: the table of run options (:data:`RUN_OPTIONS`): each option's group (shot allocation,
mitigation, budget, cloud), its meaning and the check of its value; and
:func:`check_run_options`, which ``RunConfig`` calls at construction, so that a misspelt option
(``max_cots``) is an error naming the closest known one instead of a budget that silently does
not apply, and a bad value is refused with the option's name before anything is compiled.

``precision`` was the name of the target standard error of ``allocation="precision"``, which
clashed with ``RunConfig.precision`` (single or double); it is ``target_stderr`` now, and the old
name is read as it with a ``DeprecationWarning``.

:class:`RunSettings` is the typed form of the checked options, one frozen object per group
(``RunConfig.settings``): what the mitigation pipeline, the budget and the cloud adapters read.

Must not touch: what the options do (``qbridge.mitigation.pipeline``, ``qbridge.jobs``, the cloud
adapters read the checked values).
"""

from __future__ import annotations

import difflib
import numbers
import os
import warnings
from dataclasses import dataclass, fields
from typing import Any, Callable, Mapping

from ..exceptions import ArgumentError, ArgumentTypeError

__all__ = [
    "RunOption",
    "RUN_OPTIONS",
    "check_run_options",
    "AllocationSettings",
    "MitigationOptions",
    "BudgetSettings",
    "CloudSettings",
    "RunSettings",
    "settings_from_options",
]


@dataclass(frozen=True)
class RunOption:
    name: str
    group: str  # "allocation" | "mitigation" | "budget" | "cloud"
    help: str
    check: Callable[[str, Any], Any]  # (name, value) -> the value to keep; raises ArgumentError


def _number(minimum: float | None = None, strict: bool = False) -> Callable[[str, Any], float]:
    def check(name: str, v: Any) -> float:
        if isinstance(v, str):  # "2.5" from a config file or an environment variable
            try:
                v = float(v)
            except ValueError:
                raise ArgumentTypeError(f"run option {name!r} must be a number, got {v!r}", expected="number") from None
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or v != v or v in (float("inf"), float("-inf")):
            raise ArgumentTypeError(f"run option {name!r} must be a finite number, got {v!r}", expected="number")
        if minimum is not None and (v <= minimum if strict else v < minimum):
            raise ArgumentError(f"run option {name!r} must be {'>' if strict else '>='} {minimum:g}, got {v!r}",
                                expected=f"{'>' if strict else '>='} {minimum:g}")
        return float(v)
    return check


def _integer(minimum: int) -> Callable[[str, Any], int]:
    def check(name: str, v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise ArgumentTypeError(f"run option {name!r} must be an integer, got {v!r}", expected=f"int >= {minimum}")
        if v < minimum:
            raise ArgumentError(f"run option {name!r} must be >= {minimum}, got {v}", expected=f"int >= {minimum}")
        return int(v)
    return check


def _choice(*choices: str) -> Callable[[str, Any], str]:
    def check(name: str, v: Any) -> str:
        if v not in choices:
            raise ArgumentError(f"run option {name!r} must be one of {list(choices)}, got {v!r}",
                                expected=" | ".join(choices))
        return v
    return check


def _flag(name: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise ArgumentTypeError(f"run option {name!r} must be True or False, got {v!r}", expected="bool")
    return v


def _numbers(name: str, v: Any) -> tuple[float, ...]:
    items = [s for s in v.split(",") if s.strip()] if isinstance(v, str) else v
    try:
        out = tuple(float(x) for x in items)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"run option {name!r} must be a list of numbers, got {v!r}",
                                expected="sequence of numbers") from None
    return out


def _names(name: str, v: Any) -> tuple[str, ...]:
    if isinstance(v, str):
        return tuple(s.strip() for s in v.split(",") if s.strip())
    if not all(isinstance(s, str) for s in v):
        raise ArgumentTypeError(f"run option {name!r} must be gate names, got {v!r}", expected="names")
    return tuple(v)


def _path(name: str, v: Any) -> str:
    if not isinstance(v, (str, os.PathLike)):
        raise ArgumentTypeError(f"run option {name!r} must be a file path, got {v!r}", expected="path")
    return os.fspath(v)


def _timeout(name: str, v: Any) -> float | None:
    return None if v is None else _number(0.0, strict=True)(name, v)



_TABLE = [
    # shot allocation (qbridge.mitigation.allocation)
    ("allocation", "allocation", "uniform | proportional | precision: how shots are spread over measurement groups",
     _choice("uniform", "proportional", "precision")),
    ("target_stderr", "allocation", "target standard error of allocation='precision' (implies it)", _number(0.0, True)),
    ("variance", "allocation", "bound | pilot: how allocation='precision' estimates variances", _choice("bound", "pilot")),
    ("pilot_shots", "allocation", "shots of the pilot run of variance='pilot'", _integer(1)),
    ("max_copies", "allocation", "most copies of one circuit when its shots are split", _integer(1)),
    # mitigation (qbridge.mitigation.pipeline)
    ("readout_method", "mitigation", "tensored | full", _choice("tensored", "full")),
    ("calibration_shots", "mitigation", "shots per readout calibration circuit", _integer(1)),
    ("calibration_width", "mitigation", "circuit | device", _choice("circuit", "device")),
    ("scale_factors", "mitigation", "noise scales of ZNE", _numbers),
    ("fold_method", "mitigation", "global | gates | random", _choice("global", "gates", "random")),
    ("extrapolation", "mitigation", "richardson | linear | polynomial | exponential",
     _choice("richardson", "linear", "polynomial", "exponential")),
    ("order", "mitigation", "degree of the polynomial extrapolation", _integer(1)),
    ("asymptote", "mitigation", "the exponential extrapolation's value at full noise", _number()),
    ("twirl_instances", "mitigation", "random twirls per circuit", _integer(1)),
    ("twirl_gates", "mitigation", "gates to twirl (default: all two-qubit gates)", _names),
    ("twirl_mode", "mitigation", "explicit | parametric", _choice("explicit", "parametric")),
    ("mitigation_seed", "mitigation", "seed of twirling and random folding", _integer(0)),
    ("fold_barriers", "mitigation", "keep barriers between folded pieces", _flag),
    ("fold_encoding", "mitigation", "fold the amplitude encoding too", _flag),
    # budget (qbridge.jobs.cost.Budget)
    ("max_cost", "budget", "refuse a run estimated above this many USD", _number(0.0)),
    ("max_cost_usd", "budget", "the same as max_cost", _number(0.0)),
    ("max_shots", "budget", "refuse a run of more shots in all", _integer(1)),
    ("total_cap", "budget", "cap on the job store's running total, USD", _number(0.0)),
    ("total_cap_usd", "budget", "the same as total_cap", _number(0.0)),
    ("max_seconds", "budget", "refuse a time-billed run estimated above this many QPU seconds", _number(0.0)),
    ("max_qpu_seconds", "budget", "the same as max_seconds", _number(0.0)),
    # cloud runs (qbridge.jobs, the cloud adapters)
    ("store", "cloud", "job store file of this run", _path),
    ("timeout", "cloud", "seconds to wait for results (cancels nothing)", _timeout),
    ("mode", "cloud", "IBM Runtime execution mode: auto | job | batch | session",
     _choice("auto", "job", "batch", "session")),
]

#: Every run option by name.
RUN_OPTIONS: dict[str, RunOption] = {name: RunOption(name, group, help, check) for name, group, help, check in _TABLE}


def check_run_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """``options`` checked (module docstring): unknown names and bad values raise
    :class:`~qbridge.exceptions.ArgumentError` naming the option; ``precision`` becomes
    ``target_stderr`` with a DeprecationWarning."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ArgumentTypeError(f"RunConfig.options must be a mapping of run options, got {type(options).__name__}",
                                expected="dict")
    out: dict[str, Any] = {}
    for name, value in options.items():
        if name == "precision":
            if "target_stderr" in options:
                raise ArgumentError("give the target standard error once: 'target_stderr' (the old name "
                                    "'precision' is deprecated)", expected="target_stderr")
            warnings.warn("run option 'precision' (the target standard error) is now 'target_stderr'; "
                          "RunConfig.precision means single or double", DeprecationWarning, stacklevel=4)
            name = "target_stderr"
        opt = RUN_OPTIONS.get(name)
        if opt is None:
            close = difflib.get_close_matches(str(name), RUN_OPTIONS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ArgumentError(
                f"unknown run option {name!r}{hint} Run options are {sorted(RUN_OPTIONS)}; options of a "
                "backend (arn=, noise=, ...) go to get_backend(name, ...) or --option",
                expected="a run option",
            )
        out[name] = opt.check(name, value)
    return out


# -- the typed form ------------------------------------------------------------------------------

@dataclass(frozen=True)
class AllocationSettings:
    """How shots are spread over measurement groups (qbridge.mitigation.allocation)."""

    allocation: str = "uniform"  # "precision" when target_stderr is given without an allocation
    target_stderr: float | None = None
    variance: str = "bound"
    pilot_shots: int | None = None
    max_copies: int = 16


@dataclass(frozen=True)
class MitigationOptions:
    """The techniques' own settings (the techniques themselves are ``RunConfig.mitigation``)."""

    readout_method: str = "tensored"
    calibration_shots: int | None = None
    calibration_width: str = "circuit"
    scale_factors: tuple[float, ...] = (1.0, 3.0, 5.0)
    fold_method: str = "global"
    extrapolation: str = "richardson"
    order: int | None = None
    asymptote: float | None = None
    twirl_instances: int = 8
    twirl_gates: tuple[str, ...] | None = None
    twirl_mode: str = "explicit"
    mitigation_seed: int | None = None
    fold_barriers: bool = True
    fold_encoding: bool = False


@dataclass(frozen=True)
class BudgetSettings:
    """What a run may cost; every field None: no budget (qbridge.jobs.cost.Budget)."""

    max_cost: float | None = None  # USD
    max_shots: int | None = None
    total_cap: float | None = None  # USD, the job store's running total
    max_seconds: float | None = None  # QPU seconds of a time-billed device

    @property
    def any(self) -> bool:
        return any(getattr(self, f.name) is not None for f in fields(self))


@dataclass(frozen=True)
class CloudSettings:
    """Where a cloud run is recorded and how long to wait for it."""

    store: str | None = None
    timeout: float | None = None
    mode: str = "auto"


@dataclass(frozen=True)
class RunSettings:
    allocation: AllocationSettings = AllocationSettings()
    mitigation: MitigationOptions = MitigationOptions()
    budget: BudgetSettings = BudgetSettings()
    cloud: CloudSettings = CloudSettings()


_ALIASES = {"max_cost_usd": "max_cost", "total_cap_usd": "total_cap", "max_qpu_seconds": "max_seconds"}


def settings_from_options(checked: Mapping[str, Any]) -> RunSettings:
    """The typed settings of options already passed through :func:`check_run_options`."""
    groups: dict[str, dict[str, Any]] = {"allocation": {}, "mitigation": {}, "budget": {}, "cloud": {}}
    for name, value in checked.items():
        key = _ALIASES.get(name, name)
        group = groups[RUN_OPTIONS[name].group]
        if key in group and group[key] != value:
            raise ArgumentError(f"run options {key!r} and {name!r} are the same setting with different values "
                                f"({group[key]!r} and {value!r}); give one", expected=key)
        group[key] = value
    alloc = groups["allocation"]
    if "target_stderr" in alloc and "allocation" not in alloc:
        alloc["allocation"] = "precision"
    return RunSettings(AllocationSettings(**alloc), MitigationOptions(**groups["mitigation"]),
                       BudgetSettings(**groups["budget"]), CloudSettings(**groups["cloud"]))
