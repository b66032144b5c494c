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

from typing import Any

from ..exceptions import ValidationError

__all__ = ["native_mitigation"]


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
