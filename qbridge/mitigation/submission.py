"""The one submission of a mitigated run: distinct circuits, their shots, their results.

Owns: :class:`Submission` -- entries added by the pipeline and by techniques (measurement
circuits of every variant, calibration circuits), each compiled once and sent as as many
identical copies as its shots need (a submission has one shot count), and the read-back of an
entry's outcomes pooled over copies and instances, with flipped readout bits undone.

Must not touch: what the circuits are for (the techniques and :mod:`.pipeline`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np

from .allocation import split_into_copies
from .samples import Samples

__all__ = ["Submission"]


@dataclass
class _Entry:
    task: Any  # Task; its rows are (instance j, binding b) at j * bindings + b
    desired: int | None  # shots wished for per row (None: exact)
    bindings: int = 1  # the original task's batch size
    instances: int = 1  # twirl instances, as rows
    flip: tuple[int, ...] = ()  # qubits measured after an X: their outcome bits are flipped back
    owner: str = ""  # the technique whose own circuit this is ("": a variant of a task)
    copies: int = 1
    first: int = 0  # index of its first copy in the compiled list


class Submission:
    """Distinct circuits to run, each compiled once and sent as ``copies`` identical tasks."""

    def __init__(self) -> None:
        self.entries: list[_Entry] = []

    def add(self, task: Any, desired: int | None, bindings: int = 1, instances: int = 1,
            flip: Sequence[int] = (), owner: str = "") -> int:
        """Add ``task`` (``desired`` shots per row, None: exact); its entry id. A technique adding
        circuits of its own names itself as ``owner`` (their shots are reported as its cost)."""
        self.entries.append(_Entry(task, desired, bindings, instances, tuple(flip), owner))
        return len(self.entries) - 1

    def plan(self, backend: Any, config: Any, max_copies: int, execution_names: Sequence[str] = ()) -> tuple[Any, list[Any]]:
        """(config to execute with, compiled tasks with copies in place); compiles everything."""
        t = backend.target
        if config.shots is None:
            unit = None
            for e in self.entries:
                e.copies = 1
        else:
            unit, copies = split_into_copies(
                [e.desired for e in self.entries], min_shots=t.min_shots, max_shots=t.max_shots,
                max_copies=max_copies,
            )
            for e, c in zip(self.entries, copies):
                e.copies = int(c)
        exec_config = replace(config, shots=unit, mitigation=tuple(execution_names))
        compiled: list[Any] = []
        for e in self.entries:
            comp = backend.compile(e.task, exec_config)
            e.first = len(compiled)
            compiled.extend([comp] * e.copies)
        return exec_config, compiled

    def shots(self, i: int, unit: int | None) -> int:
        """Shots that entry ``i`` spends per binding (all its copies and twirl instances)."""
        e = self.entries[i]
        return 0 if unit is None else e.copies * e.instances * unit

    def owned_shots(self, owner: str, unit: int | None) -> int:
        """Shots of the circuits ``owner`` added, per run (its own cost)."""
        return sum(self.shots(i, unit) for i, e in enumerate(self.entries) if e.owner == owner)

    def samples(self, raw: Sequence[Any], i: int, row: int) -> Samples:
        """The entry's outcomes of binding ``row`` over all qubits, pooled over copies and instances."""
        e = self.entries[i]
        n = e.task.circuit.num_qubits
        res = raw[e.first: e.first + e.copies]
        rows = [j * e.bindings + row for j in range(e.instances)]
        if res[0].counts is not None:
            out = Samples.from_counts([r.counts[k] for r in res for k in rows], n)
        else:
            parts = []
            for r in res:
                for k in rows:
                    p = r.probabilities[k]
                    p = p.detach().cpu().numpy() if hasattr(p, "detach") else np.asarray(p)
                    parts.append(Samples.from_probabilities(p, n, atol=1e-15))
            out = Samples.pool(parts)
        return out.flipped(e.flip)

    def layout(self, raw: Sequence[Any], i: int) -> tuple[int, ...] | None:
        md = raw[self.entries[i].first].metadata
        lay = md.get("layout") if md else None
        return None if lay is None else tuple(int(q) for q in lay)

    def metadata(self, raw: Sequence[Any], i: int) -> dict:
        """The backend's metadata of the entry's first copy."""
        return dict(raw[self.entries[i].first].metadata or {})
