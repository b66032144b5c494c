"""Checks on what a backend hands back from one submission.

Owns: :func:`checked_execute`, the one call of ``Backend._execute`` in the core (the run path
and the mitigation pipeline both go through it): one result per compiled task, one row per
binding, or a :class:`~qbridge.exceptions.JobError` that names the backend.
"""

from __future__ import annotations

from typing import Sequence

from ..exceptions import JobError
from .types import CompiledTask, Executor, RunConfig, TaskResult

__all__ = ["checked_execute"]


def checked_execute(backend: Executor, compiled: Sequence[CompiledTask], config: RunConfig) -> list[TaskResult]:
    """``backend._execute(compiled, config)``, its results checked against the tasks."""
    raw = backend._execute(list(compiled), config) if compiled else []
    # a backend that drops tasks or rows would otherwise surface as an IndexError (or, worse,
    # as results silently paired with the wrong binding) far from its cause
    if len(raw) != len(compiled):
        raise JobError(f"{backend.backend_name} returned {len(raw)} result(s) for {len(compiled)} task(s)",
                       backend=backend.backend_name)
    for res, comp in zip(raw, compiled):
        if res.batch_size != comp.task.batch_size:
            raise JobError(
                f"{backend.backend_name} returned {res.batch_size} row(s) for a batch of {comp.task.batch_size}; "
                "a backend must return one row per binding",
                backend=backend.backend_name,
            )
    return list(raw)
