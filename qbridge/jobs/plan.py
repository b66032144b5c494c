"""A run planned but not sent: the budget check, validation and native programs of a dry run.

Owns: :func:`plan_run`, used by ``qbridge run --dry-run`` and ``--max-cost``: estimate the
cost from the IR alone and check the budget (no network call can happen before this point),
then compile every circuit exactly as :meth:`Backend.run` would (validation against the device's
capabilities, native gates, the native program), without executing anything.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

from .cost import Budget, CostEstimate, estimate_cost

__all__ = ["RunPlan", "plan_run", "native_text", "check_budget"]


@dataclass(frozen=True)
class RunPlan:
    estimate: CostEstimate
    compiled: tuple[Any, ...]  # CompiledTask per executed circuit (before batch rows)
    owners: tuple[int, ...]  # for each compiled circuit, the index of the task it came from
    budget: Budget | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": True,
            "sent": False,
            "estimated_cost_usd": self.estimate.usd,
            "estimate": self.estimate.to_dict(),
            "budget": None if self.budget is None else {
                "max_cost_usd": self.budget.max_cost_usd, "max_shots": self.budget.max_shots,
                "total_cap_usd": self.budget.total_cap_usd,
            },
            "circuits": [
                {"task": o, "num_qubits": c.circuit.num_qubits, "batch": c.task.batch_size,
                 "native_gates": c.circuit.count_ops(), "native_program": native_text(c)}
                for o, c in zip(self.owners, self.compiled)
            ],
        }


def native_text(compiled: Any) -> str:
    """The native program as text: the adapter's program if it is text, else OpenQASM 3."""
    prog = compiled.program
    if isinstance(prog, str):
        return prog
    if prog is not None and hasattr(prog, "source"):
        return str(prog.source)
    if prog is not None and hasattr(prog, "executables"):  # Braket: one source per distinct binding group
        return "\n".join(dict.fromkeys(str(e.source) for e in prog.executables))
    if prog is not None and hasattr(prog, "isa"):  # IBM: the transpiled ISA circuit
        try:
            from qiskit import qasm3

            return qasm3.dumps(prog.isa)
        except Exception as exc:  # noqa: BLE001 - a dry run still shows what it can
            return f"// ISA circuit not printable as OpenQASM 3: {exc}"
    from ..ir import to_qasm

    try:
        return to_qasm(compiled.circuit)
    except Exception as exc:  # noqa: BLE001 - a dry run still shows what it can
        return f"// native program not printable: {exc}"


def check_budget(estimate: CostEstimate, budget: Budget | None, store: Any = None) -> None:
    """Check ``estimate`` against ``budget`` and, when a store is given, its running total."""
    if budget is None:
        return
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
    from ..primitives.estimation import measurement_circuit, qubitwise_groups

    task_list = [as_task(t) for t in tasks]
    estimate = estimate_cost(task_list, backend, config.shots)
    budget = Budget.from_options(config.options)
    check_budget(estimate, budget, store)
    compiled, owners = [], []
    if compile:
        for i, task in enumerate(task_list):
            if config.shots is not None and task.observables:
                expanded = [replace(task, circuit=measurement_circuit(task.circuit, basis), observables=())
                            for basis, _ in qubitwise_groups(task.observables)]
            else:
                expanded = [task]
            for t in expanded:
                compiled.append(backend.compile(t, config))
                owners.append(i)
    return RunPlan(estimate, tuple(compiled), tuple(owners), budget)
