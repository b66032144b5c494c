"""Estimator: expectation values per binding and observable, with standard errors.

Exact (stderr 0) when the backend is exact and no shots are asked; otherwise measured in
qubit-wise commuting groups with standard errors (see :mod:`.estimation`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ..backends.base import Backend, RunConfig, Task
from ..backends.registry import get_backend
from ..exceptions import ObservableError
from ..ir.circuit import Circuit
from ..ir.observables import PauliSum

__all__ = ["Estimator", "EstimatorResult"]


@dataclass(frozen=True, eq=False)
class EstimatorResult:
    values: Any  # (B, n_obs): torch tensor on the torch backend when exact, else NumPy
    stderr: np.ndarray  # (B, n_obs)
    observables: tuple[PauliSum, ...]
    shots: int | None
    metadata: Mapping[str, Any]


class Estimator:
    """``Estimator(backend).run(circuit, ["ZZ", "0.5*XI"], parameter_values, shots=None)``."""

    def __init__(self, backend: str | Backend | None = None, **options: Any) -> None:
        self.backend = get_backend(backend, **options)

    def run(
        self,
        circuit: Circuit,
        observables: str | PauliSum | Sequence[str | PauliSum],
        parameter_values: Any = None,
        *,
        inputs: Mapping[str, Any] | None = None,
        shots: int | None = None,
        seed: int | None = None,
        precision: str = "single",
        mitigation: str | Sequence[str] = (),
        allocation: str | None = None,
        target_precision: float | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> EstimatorResult:
        """Expectation values and standard errors, shape (B, n_obs).

        ``mitigation`` (e.g. ``"readout,zne"``), ``allocation`` (``uniform``, ``proportional``,
        ``precision``) and ``target_precision`` (standard error to reach) go to the run's
        ``RunConfig`` (see :mod:`qbridge.mitigation.pipeline` for ``options``); with mitigation
        ``values`` are the mitigated ones and ``metadata["unmitigated"]`` holds the raw ones.
        """
        if isinstance(observables, (str, PauliSum)):
            observables = [observables]
        if not isinstance(observables, (list, tuple)) or not all(isinstance(o, (str, PauliSum)) for o in observables):
            got = type(observables).__name__ if not isinstance(observables, (list, tuple)) else (
                "a list holding " + ", ".join(sorted({type(o).__name__ for o in observables
                                                      if not isinstance(o, (str, PauliSum))})))
            raise ObservableError(
                f"Estimator.run takes observables as a Pauli string ('ZZ', '0.5*XI - IZ'), a PauliSum "
                f"or a list of them, got {got}; for example Estimator(...).run(circuit, 'ZZ')",
                expected="str | PauliSum | list[str | PauliSum]",
            )
        observables = list(observables)
        if not observables:
            raise ObservableError("Estimator.run needs at least one observable, e.g. 'ZZ' or ['ZI', 'IZ']")
        task = Task(circuit, parameter_values, inputs or {}, tuple(observables))
        run_options = dict(options or {})
        if allocation is not None:
            run_options["allocation"] = allocation
        if target_precision is not None:
            run_options["target_stderr"] = target_precision
        config = RunConfig(shots=shots, seed=seed, precision=precision, mitigation=mitigation, options=run_options)
        res = self.backend.run([task], config).result()[0]
        stderr = res.stderr
        stderr = np.zeros(tuple(res.expectation_values.shape)) if stderr is None else np.asarray(stderr)
        return EstimatorResult(res.expectation_values, stderr, task.observables, shots, dict(res.metadata))
