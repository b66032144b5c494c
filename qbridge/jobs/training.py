"""Cost of training (or inference) on paid hardware, per step, checked against a budget.

Owns: :func:`training_step_cost` and :func:`cost_estimator`, the hook that
``qbridge.nn.QuantumLayer.preview(..., cost_estimator=...)`` calls to show circuits, shots and
money per training step before anything runs. Training belongs in simulation; this makes the
price of a hardware step visible first and refuses one over budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..exceptions import BudgetExceededError
from .cost import Budget, CostEstimate, estimate_cost

__all__ = ["StepCost", "training_step_cost", "cost_estimator"]


@dataclass(frozen=True)
class StepCost:
    executions: int  # circuits x bindings sent per step
    shots: int | None  # per execution
    steps: int
    estimate: CostEstimate  # of one step

    @property
    def total_shots_per_step(self) -> int:
        return self.executions * (self.shots or 0)

    @property
    def usd_per_step(self) -> float | None:
        return self.estimate.usd

    @property
    def usd_total(self) -> float | None:
        return None if self.estimate.usd is None else self.estimate.usd * self.steps

    def __str__(self) -> str:
        if self.usd_per_step is None:
            return f"unknown ({self.estimate.model})"
        date = f"; prices as of {self.estimate.price_date}" if self.estimate.price_date else ""
        return (f"USD {self.usd_per_step:.4f} per step ({self.executions} executions x {self.shots} shots), "
                f"USD {self.usd_total:.4f} for {self.steps} step(s) [{self.estimate.model}{date}]")

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.estimate.backend,
            "device": self.estimate.device,
            "executions_per_step": self.executions,
            "shots": self.shots,
            "total_shots_per_step": self.total_shots_per_step,
            "steps": self.steps,
            "usd_per_step": self.usd_per_step,
            "usd_total": self.usd_total,
            "model": self.estimate.model,
            "price_date": self.estimate.price_date,
        }


def training_step_cost(
    backend: Any,
    tasks_per_step: Any,
    shots: int | None,
    *,
    steps: int = 1,
    submissions: int = 1,
    max_cost: float | None = None,
    max_shots: int | None = None,
    options: Mapping[str, Any] | None = None,
) -> StepCost:
    """Executions, shots and USD for one step (and ``steps`` of them) on ``backend``.

    ``tasks_per_step``: the tasks one step sends (a list, counted after observable grouping) or
    the number of executions. ``submissions``: backend submissions per step (a forward pass and
    a gradient pass are two: each is its own batch of quantum tasks or its own IBM job).
    ``max_cost`` bounds the total over ``steps``; ``max_shots`` the shots of one step. Raises
    :class:`BudgetExceededError` (nothing runs) when over.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if isinstance(submissions, bool) or not isinstance(submissions, int) or submissions < 1:
        raise ValueError(f"submissions must be a positive integer, got {submissions!r}")
    est = estimate_cost(tasks_per_step, backend, shots, options=options)
    if submissions > 1 and est.usd is not None and not est.free:
        est = _split_submissions(est, submissions, backend, shots, options)
    cost = StepCost(executions=est.executables, shots=shots, steps=steps, estimate=est)
    budget = Budget(max_cost_usd=max_cost, max_shots=max_shots)
    try:
        budget.check(cost.usd_total, total_shots=cost.total_shots_per_step)
    except BudgetExceededError as exc:
        if max_cost is not None and cost.usd_total is not None and cost.usd_total > max_cost:
            raise BudgetExceededError(
                f"{steps} step(s) x USD {cost.usd_per_step:.4f} = USD {cost.usd_total:.4f} estimated for "
                f"{cost.executions} circuit execution(s) x {shots} shots per step on {est.device or est.backend}, "
                f"over the budget of USD {max_cost:.4f}; nothing was run. Train in simulation and use the "
                "hardware for a few inference checks, or raise the budget",
                estimate_usd=cost.usd_total, budget_usd=max_cost,
            ) from exc
        raise
    return cost


def _split_submissions(est: CostEstimate, submissions: int, backend: Any, shots: int | None,
                       options: Mapping[str, Any] | None) -> CostEstimate:
    """The same executions sent in ``submissions`` separate batches: each batch is priced on its
    own (a batch's partial program set, an IBM job's fixed overhead), an upper bound when the
    split between batches is unknown."""
    from dataclasses import replace

    per = -(-est.executables // submissions)
    part = estimate_cost(per, backend, shots, options=options)
    if part.usd is None:
        return replace(est, usd=None)
    usd = part.usd * submissions
    if usd <= est.usd:
        return est
    return replace(est, usd=usd, provider_tasks=part.provider_tasks * submissions,
                   model=f"{submissions} submissions x ({part.model})")


def cost_estimator(
    backend: Any,
    *,
    steps: int = 1,
    max_cost: float | None = None,
    max_shots: int | None = None,
    options: Mapping[str, Any] | None = None,
) -> Callable[..., StepCost]:
    """A ``cost_estimator`` hook bound to a backend and a budget.

    Called with a layer's :class:`~qbridge.nn.layer.RunPreview` (``QuantumLayer(...,
    cost_estimator=cost_estimator(backend, steps=100, max_cost=20)).preview(32)``) it prices one
    step from the preview's executions, shots and submissions, and ``steps`` of them against
    ``max_cost``; called as ``fn(tasks_per_step, shots, steps=...)`` it prices tasks directly.
    """

    def estimator(what: Any, shots: int | None = None, steps_: int | None = None, **kw: Any) -> StepCost:
        n_steps = kw.pop("steps", steps_) or steps
        if hasattr(what, "executions") and hasattr(what, "submissions"):  # a RunPreview
            return training_step_cost(backend, int(what.executions), what.shots, steps=n_steps,
                                      submissions=int(what.submissions), max_cost=max_cost, max_shots=max_shots,
                                      options=options)
        return training_step_cost(backend, what, shots, steps=n_steps, max_cost=max_cost, max_shots=max_shots,
                                  options=options)

    return estimator
