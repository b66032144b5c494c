"""Cost model of ``ibm.runtime`` for :func:`qbridge.jobs.estimate_cost` (no SDK, no network)."""

from __future__ import annotations

from typing import Any, Mapping

__all__ = ["cost_model"]


def cost_model(*, executables: int, shots: int | None, options: Mapping[str, Any], backend: str) -> Any:
    """IBM pay-as-you-go estimate for ``executables`` circuit x binding pairs of ``shots`` each.

    ``ibm.fake`` runs locally and is free; it never reaches this model.
    """
    from qbridge.jobs.cost import ibm_estimate

    return ibm_estimate(executables, shots, backend=backend, device=options.get("backend"))
