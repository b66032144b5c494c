"""The program model of the Braket backends: what a compiled task is before it is sent.

Owns: :class:`Executable` (one OpenQASM 3 source and the batch rows it runs with),
:class:`BraketProgram` (a compiled task's executables, the Pauli words read as result types, and
whether a state vector is asked for), and :func:`program_source`, the seam the cloud transport
reads a binding's source through. Must not touch: the SDK, submission, results.
"""

from __future__ import annotations

from dataclasses import dataclass

from qbridge.backends.base import CompiledTask

__all__ = ["Executable", "BraketProgram", "program_source"]


@dataclass(frozen=True)
class Executable:
    """One program source and the bindings (rows of the task's batch) it runs with."""

    source: str
    rows: tuple[int, ...]
    inputs: tuple[dict[str, float], ...]  # one per row; empty dicts when the source declares none

    @property
    def parametric(self) -> bool:
        return bool(self.inputs and self.inputs[0])


@dataclass(frozen=True)
class BraketProgram:
    executables: tuple[Executable, ...]
    num_qubits: int
    words: tuple[str, ...]  # Pauli words read as expectation result types (exact runs)
    statevector: bool

    def source_for(self, row: int) -> tuple[str, dict[str, float]]:
        """(OpenQASM source, inputs) that binding ``row`` of the task runs as."""
        for ex in self.executables:
            if row in ex.rows:
                inputs = ex.inputs[0] if len(ex.inputs) == 1 else ex.inputs[ex.rows.index(row)]
                return ex.source, dict(inputs)
        raise IndexError(f"row {row} is not in this program's batch")


def program_source(compiled: CompiledTask, row: int) -> tuple[str, dict[str, float]]:
    """(OpenQASM 3 source, inputs) of one binding of a task compiled by a Braket backend.

    Plugs into ``qbridge_braket.cloud.BraketTransport(program_source=...)``: input names carry
    the translator's ``p_`` prefix and amplitude-encoded rows are already decomposed.
    """
    return compiled.program.source_for(row)
