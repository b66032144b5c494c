"""Native error mitigation: what a backend's own service offers, passed through.

Protocol (small, duck-typed, so that adapters need not import this module): a backend that offers
native mitigation has a method ``native_mitigation(self) -> dict`` describing what a run with
``mitigation="native"`` asks its service for (it may raise ValidationError when the chosen device
offers nothing). Its ``_execute`` applies it when ``"native" in config.mitigation`` and reports
what it did in each TaskResult's ``metadata["native_mitigation"]`` (including whether it had any
effect: Qiskit Runtime's local testing mode, for one, ignores these options).

Adapters that implement it: ``ibm.runtime`` and ``ibm.fake`` (SamplerV2 twirling and dynamical
decoupling), ``braket.device`` on devices that list an error-mitigation scheme (IonQ debiasing).
"""

from __future__ import annotations

from typing import Any, Sequence

from ..exceptions import ValidationError
from .technique import Technique, register_technique

__all__ = ["native_mitigation", "NativeTechnique"]


def native_mitigation(backend: Any) -> dict[str, Any]:
    """What ``mitigation="native"`` asks of ``backend``; ValidationError when it offers none."""
    fn = getattr(backend, "native_mitigation", None)
    name = getattr(backend, "backend_name", type(backend).__name__)
    if not callable(fn):
        raise ValidationError(
            f"{name} offers no native error mitigation; use mitigation='readout', 'zne' or 'twirl' "
            "(qbridge's own techniques run on every backend), or a backend with native mitigation "
            "(ibm.runtime, braket.device on IonQ)",
            backend=name,
        )
    info = fn()
    if not isinstance(info, dict) or not info:
        raise ValidationError(f"{name} offers no native error mitigation for this device", backend=name)
    return dict(info)


@register_technique
class NativeTechnique(Technique):
    """A backend's own mitigation: asked of the backend before anything is built, applied by its
    ``_execute`` (the executed config's ``mitigation`` is ``("native",)``), reported as requested
    and as the backend reported it."""

    name = "native"
    corrects_noise = False  # the backend's service decides; qbridge adds no circuits

    def check(self, backend: Any, tasks: Sequence[Any]) -> None:
        self.requested = native_mitigation(backend)
        self.reported = None

    def execution_names(self) -> tuple[str, ...]:
        return ("native",)

    def finish(self, sub: Any, raw: Sequence[Any]) -> None:
        reports = (sub.metadata(raw, i).get("native_mitigation") for i in range(len(sub.entries)))
        self.reported = next((r for r in reports if r is not None), None)

    def report(self, token: Any, context: dict[str, Any]) -> dict[str, Any]:
        return {"requested": self.requested, "reported": self.reported}

