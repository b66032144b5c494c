"""A run planned but not sent: the budget check, validation and native programs of a dry run.

Owns: :func:`plan_run`, used by ``qbridge run --dry-run`` and ``--max-cost``: estimate the
cost from the IR alone and check the budget (no network call can happen before this point),
then compile every circuit exactly as :meth:`Backend.run` would (validation against the device's
capabilities, native gates, the native program), without executing anything.

With mitigation or a shot allocation (``RunConfig.mitigation`` / ``options``) the run sends more
than the tasks' own circuits: noise-scaled and twirled variants, readout calibrations, copies of
circuits that need more shots than one execution takes. The IR-only check then is a lower bound;
the mitigation pipeline is planned dry (:func:`qbridge.mitigation.pipeline.plan_mitigated`, which
compiles but sends nothing) and the estimate and the budget check are redone on everything it
would send. A ``variance="pilot"`` run sends its pilot as a submission of its own: it is
estimated and checked on its own, as the adapters check each submission when it is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from .cost import Budget, CostEstimate, estimate_cost

__all__ = ["RunPlan", "plan_run", "native_text", "check_budget"]


@dataclass(frozen=True)
class RunPlan:
    estimate: CostEstimate  # everything the run sends (mitigation circuits included)
    compiled: tuple[Any, ...]  # CompiledTask per executed circuit of the tasks (before batch rows)
    owners: tuple[int, ...]  # for each compiled circuit, the index of the task it came from
    budget: Budget | None
    # with mitigation or an allocation: what the pipeline adds (see the module docstring)
    mitigation: Mapping[str, Any] | None = None
    pilot_estimate: CostEstimate | None = None
    # where the device's description came from (a cloud backend's ``device_source``: a dated
    # offline snapshot, or live properties and their differences from the snapshot); None otherwise
    device_source: Mapping[str, Any] | None = None
    # the backend's text of each compiled program (Backend.native_program_text), in ``compiled`` order
    native_programs: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = {
            "dry_run": True,
            "sent": False,
            "estimated_cost_usd": self.estimate.usd,
            "estimate": self.estimate.to_dict(),
            "device_source": None if self.device_source is None else dict(self.device_source),
            "budget": None if self.budget is None else {
                "max_cost_usd": self.budget.max_cost_usd, "max_shots": self.budget.max_shots,
                "total_cap_usd": self.budget.total_cap_usd, "max_qpu_seconds": self.budget.max_qpu_seconds,
            },
            "circuits": [
                {"task": o, "num_qubits": c.circuit.num_qubits, "batch": c.task.batch_size,
                 "native_gates": c.circuit.count_ops(),
                 "native_program": self.native_programs[k] if k < len(self.native_programs) else native_text(c)}
                for k, (o, c) in enumerate(zip(self.owners, self.compiled))
            ],
        }
        if self.mitigation is not None:
            out["mitigation"] = dict(self.mitigation)
        if self.pilot_estimate is not None:
            out["pilot_estimate"] = self.pilot_estimate.to_dict()
        return out


def native_text(compiled: Any, backend: Any = None) -> str:
    """The native program of ``compiled`` as text, from ``backend``'s hook
    (:meth:`~qbridge.backends.base.Backend.native_program_text`); without a backend, the program
    when it is text, else the native circuit as OpenQASM 3."""
    if backend is not None:
        return backend.native_program_text(compiled)
    from ..backends.base import default_program_text

    return default_program_text(compiled)


def check_budget(estimate: CostEstimate, budget: Budget | None, store: Any = None) -> None:
    """Check ``estimate`` against ``budget`` and, when a store is given, its running total."""
    if budget is None:
        return
    budget.check_seconds(estimate.breakdown.get("qpu_seconds"))
    spent, cap = 0.0, None
    if store is not None:
        spent, cap = store.spent_usd(), store.total_cap_usd
    budget.check(estimate.usd, total_shots=estimate.total_shots, spent_usd=spent, total_cap_usd=cap)


def plan_run(backend: Any, tasks: Sequence[Any], config: Any, *, store: Any = None, compile: bool = True) -> RunPlan:
    """Estimate, check the budget (raises :class:`BudgetExceededError`), then compile.

    ``store``: a :class:`~qbridge.jobs.JobStore` whose running total and cap also apply (the
    cloud adapters check them again, atomically, when they record the submission).
    """
    from ..backends.base import as_task
    from ..mitigation.pipeline import wants_pipeline

    task_list = [as_task(t) for t in tasks]
    estimate = estimate_cost(task_list, backend, config.shots)
    budget = Budget.from_options(config.settings.budget)
    check_budget(estimate, budget, store)  # from the IR alone: before anything can reach the network
    mitigation, pilot_estimate = None, None
    if wants_pipeline(config):
        mitigation, estimate, pilot_estimate = _plan_pipeline(backend, task_list, config)
        if pilot_estimate is not None:
            check_budget(pilot_estimate, budget, store)
        check_budget(estimate, budget, store)
    compiled, owners = [], []
    if compile:
        for i, task in enumerate(task_list):
            if config.shots is not None and task.observables:
                expanded = [sub for _, _, sub in task.measurement_tasks()]
            else:
                expanded = [task]
            for t in expanded:
                compiled.append(backend.compile(t, config))
                owners.append(i)
    source = getattr(backend, "device_source", None)
    return RunPlan(estimate, tuple(compiled), tuple(owners), budget, mitigation, pilot_estimate,
                   dict(source) if isinstance(source, Mapping) else None,
                   tuple(backend.native_program_text(c) for c in compiled))


def _plan_pipeline(backend: Any, tasks: Sequence[Any], config: Any) -> tuple[dict[str, Any], CostEstimate, CostEstimate | None]:
    """(summary, estimate of the run, estimate of its pilot or None) of a mitigated run, from
    the pipeline planned dry: every circuit it would send, compiled, nothing sent."""
    from ..mitigation.pipeline import plan_mitigated

    compiled, exec_config, pilot, pilot_config = plan_mitigated(backend, tasks, config)
    estimate = estimate_cost([c.task for c in compiled], backend, exec_config.shots)
    summary: dict[str, Any] = {
        "techniques": list(config.mitigation),
        "circuits": len(compiled),
        "executions": estimate.executables,
        "shots_per_execution": exec_config.shots,
    }
    pilot_estimate = None
    if pilot is not None:
        pilot_estimate = estimate_cost([c.task for c in pilot], backend, pilot_config.shots)
        summary["pilot"] = {"circuits": len(pilot), "executions": pilot_estimate.executables,
                            "shots_per_execution": pilot_config.shots}
    return summary, estimate, pilot_estimate
