"""The run path: compile, estimate, mitigate, execute, finish -- the body of ``Backend.run``.

Owns: :func:`run_tasks`. Every task is expanded (a shot-based task with observables into one
measurement circuit per qubit-wise commuting group, :meth:`Task.measurement_tasks`), every
expanded task compiled by the backend (every error before any compute), all of them executed
in one ``Backend._execute`` call, and the results finished: counts combined into expectation
values with standard errors (:mod:`.estimation`), readouts marginalised onto the measured
qubits. A run that asks for mitigation or a non-uniform shot allocation goes to the mitigation
pipeline instead (:func:`qbridge.mitigation.pipeline.run_mitigated`), which sends one
submission too.

Calls down only: the backend through its public ``compile`` and ``_execute`` (any object with
them), the mitigation pipeline, the types of :mod:`qbridge.runtime`. ``Backend.run`` imports
this module; nothing here imports a backend class.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np

from ..mitigation.pipeline import run_mitigated, wants_pipeline
from ..runtime.checks import checked_execute
from ..runtime.types import Executor, LocalJob, Result, RunConfig, Task, TaskResult
from .estimation import counts_to_array, estimate_from_counts, marginal_counts

__all__ = ["run_tasks"]


@dataclass
class _Plan:
    first: int  # index of its first expanded task
    groups: list[tuple[str, list[str]]] | None  # None: the task runs as itself


def run_tasks(backend: Executor, tasks: Sequence[Task], config: RunConfig) -> LocalJob:
    """Run ``tasks`` on ``backend`` under ``config`` as one submission; returns a Job."""
    if wants_pipeline(config):
        # error mitigation and non-uniform shot allocation: the pipeline (one submission too)
        return run_mitigated(backend, tasks, config)

    expanded: list[Any] = []
    plans: list[_Plan] = []
    for task in tasks:
        if config.shots is not None and task.observables:
            groups = task.measurement_tasks()
            plans.append(_Plan(len(expanded), [(basis, words) for basis, words, _ in groups]))
            expanded += [t for _, _, t in groups]  # none when only identity terms: nothing to measure
        else:
            plans.append(_Plan(len(expanded), None))
            expanded.append(task)
    compiled = [backend.compile(t, config) for t in expanded]

    def finish(job_id: str) -> Result:
        raw = checked_execute(backend, compiled, config)
        out: list[TaskResult] = []
        for task, plan in zip(tasks, plans):
            if plan.groups is None:
                res, comp = raw[plan.first], compiled[plan.first]
                n = task.circuit.num_qubits
                readout = comp.readout_qubits
                if list(readout) != list(range(n)):
                    probs = res.probabilities
                    if probs is not None:
                        from ..sim.statevector import marginal_probabilities  # torch, only when needed

                        probs = marginal_probabilities(probs, n, readout) if hasattr(probs, "dim") else np.asarray(
                            marginal_probabilities(__import__("torch").as_tensor(np.asarray(probs)), n, readout)
                        )
                    counts = tuple(marginal_counts(c, readout) for c in res.counts) if res.counts is not None else None
                    res = replace(res, probabilities=probs, counts=counts, num_qubits=len(readout))
                if config.shots is None and task.observables and res.stderr is None:
                    ev = res.expectation_values
                    res = replace(res, stderr=np.zeros(tuple(ev.shape)))
                out.append(res)
            else:
                B = task.batch_size
                values = np.zeros((B, len(task.observables)))
                errs = np.zeros_like(values)
                n = task.circuit.num_qubits
                group_results = raw[plan.first: plan.first + len(plan.groups)]
                for b in range(B):
                    arrays = [counts_to_array(r.counts[b], n) for r in group_results]
                    values[b], errs[b] = estimate_from_counts(task.observables, plan.groups, arrays)
                out.append(
                    TaskResult(
                        batch_size=B,
                        num_qubits=n,
                        expectation_values=values,
                        stderr=errs,
                        shots=config.shots,
                        metadata={"measurement_groups": [g for g, _ in plan.groups]},
                    )
                )
        return Result(tuple(out), backend.backend_name, job_id, config.shots, {"seed": config.seed})

    return LocalJob(backend.backend_name, finish)
