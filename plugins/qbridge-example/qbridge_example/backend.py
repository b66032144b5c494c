"""The ``example`` backend: a thin Backend class over :mod:`qbridge_example.simulator`.

What a backend writes, and what it gets for free from :class:`qbridge.backends.base.Backend`:

- it declares ``name``, ``description``, :meth:`availability` and :attr:`target` (capabilities as
  data: the core validates every task against them, and the conformance suite reads them);
- ``run`` (base) coerces inputs, validates, rewrites each circuit into ``target.native_gates``
  (exactly, global phase included), calls :meth:`_translate` per task -- all before anything
  runs -- then calls :meth:`_execute` once for the whole submission;
- :meth:`_execute` returns, per task, probabilities (plus state vectors and exact expectation
  values when asked) for an exact run, or counts over all qubits for a run with shots. The core
  marginalises onto measured qubits and estimates expectation values from counts itself.
"""

from __future__ import annotations

import importlib.util
import numbers
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from qbridge.backends.base import Backend, CompiledTask, RunConfig, Target, Task, TaskResult
from qbridge.ir.circuit import Circuit, normalize_amplitudes

from . import simulator

__all__ = ["ExampleBackend"]

# Any set from which the core can reach every library gate works: an entangler (cx or cz) and
# either u or rz+ry. Everything else (s, swap, crx, ccx, ...) is decomposed by the core.
NATIVE_GATES = frozenset({"u", "cx", "rz", "ry", "h", "x"})
MAX_SHOTS = 1_000_000


@dataclass(frozen=True)
class _Row:
    """One batch row, ready to simulate: a numeric circuit and its normalised input vectors."""

    circuit: Circuit
    inputs: dict[str, np.ndarray]


class ExampleBackend(Backend):
    """NumPy state-vector simulator in complex128; exact results, or seeded shots.

    Options: ``max_qubits`` (default 12): the largest circuit accepted, declared in the target.
    """

    name = "example"
    description = "Template plugin: a small NumPy state-vector simulator (exact or seeded shots)."

    def __init__(self, *, name: str | None = None, max_qubits: int = 12, **options: Any) -> None:
        # Unknown options are an error, not silently ignored: a typo would otherwise go unnoticed.
        if options:
            raise TypeError(f"unknown option(s) for the example backend: {sorted(options)}; it accepts 'max_qubits'")
        if isinstance(max_qubits, bool) or not isinstance(max_qubits, numbers.Integral) or not 1 <= max_qubits <= 20:
            raise ValueError(f"max_qubits must be an integer from 1 to 20 (dense state vectors), got {max_qubits!r}")
        super().__init__(name=name, max_qubits=int(max_qubits))
        self._target = Target(
            num_qubits=int(max_qubits),
            native_gates=NATIVE_GATES,
            supports_state_prep=True,  # simulator.prepare writes amplitudes directly
            max_shots=MAX_SHOTS,
            # The engine always computes in complex128: a "single" request (the default of a run)
            # gets more precision than it asked for, never less. A backend that cannot honour a
            # precision leaves it out, and runs asking for it are refused before they start.
            precisions=("single", "double"),
            gradient_methods=(),  # NumPy results carry no autograd; the core will use its own rules
            seeded=True,  # one numpy Generator per run, from RunConfig.seed
        )

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        # Called whenever backends are listed: look for the dependency, never import it (an SDK
        # import can take seconds or fail noisily). Real plugins check their SDK here, and
        # anything else a backend needs (a GPU, credentials) in __init__ with a typed error.
        if importlib.util.find_spec("numpy") is None:
            return False, "NumPy is not installed: pip install numpy"
        return True, ""

    @property
    def target(self) -> Target:
        return self._target

    def _translate(self, circuit: Circuit, task: Task, config: RunConfig) -> list[_Row]:
        """The native program: one numeric circuit per batch row, inputs normalised.

        This runs inside ``compile``, before any execution, so a bad input (a zero vector, NaN, a
        vector longer than its register) raises :class:`~qbridge.exceptions.EncodingError` at
        submission, and execution only computes.
        """
        sizes = {op.source: 2 ** len(op.qubits) for op in circuit if op.name == "amplitude_encode"
                 and isinstance(op.source, str)}
        names = set(circuit.parameter_names)
        rows = []
        for i in range(task.batch_size):
            params, inputs = task.binding(i)
            # the native circuit may have lost a parameter whose terms cancelled in a
            # decomposition; bind only the ones it still has
            bound = circuit.bind({k: v for k, v in params.items() if k in names})
            vecs = {k: normalize_amplitudes(np.asarray(v).ravel(), sizes[k]) for k, v in inputs.items()}
            rows.append(_Row(bound, vecs))
        return rows

    def _execute(self, tasks: Sequence[CompiledTask], config: RunConfig) -> list[TaskResult]:
        # One generator for the whole submission: the same seed and tasks give the same counts.
        rng = np.random.default_rng(config.seed)
        results = []
        for compiled in tasks:
            task, n = compiled.task, compiled.circuit.num_qubits
            states = np.stack([simulator.simulate(row.circuit, row.inputs) for row in compiled.program])
            probs = np.abs(states) ** 2  # (B, 2^n)
            if config.shots is None:
                evs = None
                if task.observables:
                    evs = np.array([[simulator.expectation(s, o) for o in task.observables] for s in states])
                results.append(TaskResult(
                    batch_size=len(states), num_qubits=n, probabilities=probs,
                    statevector=states if task.statevector else None, expectation_values=evs,
                ))
            else:
                counts = tuple(simulator.sample_counts(p, config.shots, rng) for p in probs)
                results.append(TaskResult(batch_size=len(states), num_qubits=n, counts=counts, shots=config.shots))
        return results
