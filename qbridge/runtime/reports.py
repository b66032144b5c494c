"""What a mitigated run reports, as types: :class:`MitigationReport` and :class:`ShotCost`.

Owns: the typed form of a result's ``metadata["mitigation"]`` (which stays a plain dict for
JSON, the job store and older code): the techniques that ran and those that did not apply, the
circuits and shots they cost, the seed of their random choices, warnings, and each technique's
own report. ``TaskResult.mitigation`` reads it.

Must not touch: how the values were computed (``qbridge.mitigation``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

__all__ = ["ShotCost", "MitigationReport"]

_TOP_KEYS = {"techniques", "circuits", "shots", "seed", "warnings", "not_applied", "fold_encoding"}


@dataclass(frozen=True)
class ShotCost:
    """Shots a mitigated task spent: per binding (all its circuits), what the same task would
    have spent unmitigated, the extra of the noise-scaled circuits, the readout calibration
    (shared by the run) and the run's total for this task."""

    per_binding: int
    unmitigated_equivalent: int | None = None
    zne_extra: int | None = None
    readout_calibration: int = 0
    total: int | None = None

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> "ShotCost":
        return ShotCost(int(d["per_binding"]), _opt_int(d.get("unmitigated_equivalent")), _opt_int(d.get("zne_extra")),
                        int(d.get("readout_calibration", 0)), _opt_int(d.get("total")))


def _opt_int(v: Any) -> int | None:
    return None if v is None else int(v)


@dataclass(frozen=True)
class MitigationReport:
    """A task's mitigation. ``details`` holds each technique's own report by name (ZNE: the
    scales, per-scale values and standard errors; readout: the fitted calibration; ...)."""

    techniques: tuple[str, ...]
    circuits: int
    shots: ShotCost | None = None
    seed: int | None = None
    warnings: tuple[str, ...] = ()
    not_applied: Mapping[str, str] = field(default_factory=dict)
    details: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> "MitigationReport":
        """The typed form of ``metadata["mitigation"]``."""
        return MitigationReport(
            techniques=tuple(d.get("techniques", ())),
            circuits=int(d.get("circuits", 0)),
            shots=ShotCost.from_dict(d["shots"]) if d.get("shots") else None,
            seed=d.get("seed"),
            warnings=tuple(d.get("warnings", ())),
            not_applied=dict(d.get("not_applied", {})),
            details={k: v for k, v in d.items() if k not in _TOP_KEYS and isinstance(v, Mapping)},
        )

    def __getitem__(self, technique: str) -> Mapping[str, Any]:
        """One technique's report: ``report["zne"]["values"]``."""
        try:
            return self.details[technique]
        except KeyError:
            raise KeyError(f"no report of {technique!r}; this task reports {sorted(self.details)}") from None
