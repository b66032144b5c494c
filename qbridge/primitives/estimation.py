"""Shot-based estimation, implemented once for every backend.

Owns: qubit-wise commuting grouping of Pauli terms, the measurement circuits (basis changes
appended in the IR), the combination of counts into expectation values with standard errors,
marginalisation onto measured qubits, and :func:`run_with_estimation`, the body of
``Backend.run``: expand, compile everything (errors before compute), execute once, combine.

Standard errors: for a group measured with S shots, the per-shot value f(x) = sum_t c_t parity_t(x)
of all its terms is one random variable, so its sample variance / S already holds the covariance
of terms measured together; groups are independent and their variances add.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np

from ..backends.types import LocalJob, Result, TaskResult
from ..exceptions import JobError
from ..ir.measurement import measurement_circuit, qubitwise_groups
from ..ir.observables import PauliSum, PauliTerm

__all__ = [
    "qubitwise_groups",
    "measurement_circuit",
    "parity_table",
    "estimate_from_counts",
    "run_with_estimation",
    "marginal_counts",
]


def parity_table(words: Sequence[str], num_qubits: int) -> np.ndarray:
    """(len(words), 2^n) table of +-1: the eigenvalue of each Pauli word on each basis outcome."""
    idx = np.arange(2**num_qubits)
    out = np.empty((len(words), idx.size))
    for k, w in enumerate(words):
        parity = np.zeros_like(idx)
        for q, c in enumerate(w):
            if c != "I":
                parity ^= (idx >> (num_qubits - 1 - q)) & 1
        out[k] = 1 - 2 * parity
    return out


def counts_to_array(counts: dict[str, int], num_qubits: int) -> np.ndarray:
    arr = np.zeros(2**num_qubits)
    for key, v in counts.items():
        arr[int(key, 2)] += v
    return arr


def estimate_from_counts(
    observables: Sequence[PauliSum],
    groups: Sequence[tuple[str, list[str]]],
    group_counts: Sequence[np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Expectation values and standard errors, shape (n_obs,), from per-group count arrays."""
    values = np.zeros(len(observables))
    variances = np.zeros(len(observables))
    where = {w: g for g, (_, members) in enumerate(groups) for w in members}
    for o, obs in enumerate(observables):
        per_group: dict[int, list[PauliTerm]] = {}
        for t in obs.terms:
            if set(t.paulis) == {"I"}:
                values[o] += t.coeff
            else:
                per_group.setdefault(where[t.paulis], []).append(t)
        for g, terms in per_group.items():
            counts = group_counts[g]
            shots = counts.sum()
            n = int(np.log2(counts.size))
            f = np.asarray([t.coeff for t in terms]) @ parity_table([t.paulis for t in terms], n)
            mean = float(counts @ f) / shots
            second = float(counts @ (f * f)) / shots
            var = max(second - mean * mean, 0.0) * shots / max(shots - 1, 1)
            values[o] += mean
            variances[o] += var / shots
    return values, np.sqrt(variances)


def marginal_counts(counts: dict[str, int], positions: Sequence[int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, v in counts.items():
        k = "".join(key[p] for p in positions)
        out[k] = out.get(k, 0) + v
    return out


@dataclass
class _Plan:
    first: int  # index of its first expanded task
    groups: list[tuple[str, list[str]]] | None  # None: the task runs as itself


def run_with_estimation(backend: Any, tasks: Sequence[Any], config: Any):
    from ..sim.statevector import marginal_probabilities

    if config.mitigation or config.options:
        # error mitigation and non-uniform shot allocation live in qbridge.mitigation (one submission too)
        from ..mitigation.pipeline import run_mitigated, wants_pipeline

        if wants_pipeline(config):
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
        raw = backend._execute(compiled, config) if compiled else []
        # a backend that drops tasks or rows would otherwise surface as an IndexError (or, worse,
        # as results silently paired with the wrong binding) far from its cause
        if len(raw) != len(compiled):
            raise JobError(
                f"{backend.backend_name} returned {len(raw)} result(s) for {len(compiled)} task(s)",
                backend=backend.backend_name,
            )
        for res, comp in zip(raw, compiled):
            if res.batch_size != comp.task.batch_size:
                raise JobError(
                    f"{backend.backend_name} returned {res.batch_size} row(s) for a batch of "
                    f"{comp.task.batch_size}; a backend must return one row per binding",
                    backend=backend.backend_name,
                )
        out: list[TaskResult] = []
        for task, plan in zip(tasks, plans):
            if plan.groups is None:
                res, comp = raw[plan.first], compiled[plan.first]
                n = task.circuit.num_qubits
                readout = comp.readout_qubits
                if list(readout) != list(range(n)):
                    probs = res.probabilities
                    if probs is not None:
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
