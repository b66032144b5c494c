"""Sampler: counts per binding, on any backend.

Exact backends asked for no shots return the exact distribution as ``probabilities``; with
shots, ``counts`` per binding (bitstrings q0 first). Marginals over chosen qubits are a method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..backends.base import Backend, RunConfig, Task, TaskResult
from ..backends.registry import get_backend
from ..ir.circuit import Circuit
from .estimation import marginal_counts

__all__ = ["Sampler", "SamplerResult"]


@dataclass(frozen=True, eq=False)
class SamplerResult:
    result: TaskResult
    num_qubits: int

    @property
    def batch_size(self) -> int:
        return self.result.batch_size

    @property
    def counts(self) -> tuple[dict[str, int], ...] | None:
        return self.result.counts

    @property
    def probabilities(self) -> Any:
        return self.result.probabilities

    def quasi_dists(self) -> list[dict[str, float]]:
        """Per binding, bitstring -> probability (exact) or frequency (shots); after readout
        mitigation, the corrected quasi-probabilities (they sum to 1 but may be negative)."""
        mitigated = self.result.metadata.get("quasi_dists")
        if mitigated is not None:
            return [dict(q) for q in mitigated]
        return [self.result.get_probabilities(i) for i in range(self.batch_size)]

    def nearest_probability_distribution(self, index: int = 0) -> dict[str, float]:
        """The probability distribution nearest (2-norm) to binding ``index``'s quasi-distribution."""
        from ..mitigation.readout import nearest_probability_distribution

        return nearest_probability_distribution(self.quasi_dists()[index])

    def marginal(self, qubits: Sequence[int], index: int = 0) -> dict[str, float]:
        """Distribution of ``qubits`` (positions in the readout, first = leftmost bit); after
        readout mitigation, the marginal of the corrected quasi-distribution."""
        mitigated = self.result.metadata.get("quasi_dists")
        dist = mitigated[index] if mitigated is not None else self.result.get_probabilities(index)
        out: dict[str, float] = {}
        for key, v in dist.items():
            k = "".join(key[q] for q in qubits)
            out[k] = out.get(k, 0.0) + v
        return out

    def marginal_counts(self, qubits: Sequence[int], index: int = 0) -> dict[str, int]:
        return marginal_counts(self.result.get_counts(index), qubits)


class Sampler:
    """``Sampler(backend).run(circuit, parameter_values, shots=1000, seed=1)``."""

    def __init__(self, backend: str | Backend | None = None, **options: Any) -> None:
        self.backend = get_backend(backend, **options)

    def run(
        self,
        circuits: Circuit | Sequence[Circuit],
        parameter_values: Any = None,
        *,
        inputs: Mapping[str, Any] | None = None,
        shots: int | None = None,
        seed: int | None = None,
        precision: str = "single",
        mitigation: str | Sequence[str] = (),
        options: Mapping[str, Any] | None = None,
    ) -> list[SamplerResult] | SamplerResult:
        """Counts (shots) or probabilities (exact) per binding; ``mitigation="readout"`` (and/or
        ``"twirl"``) adds readout-corrected :meth:`SamplerResult.quasi_dists`."""
        single = isinstance(circuits, Circuit)
        circs = [circuits] if single else list(circuits)
        pvs = [parameter_values] * len(circs) if single or not isinstance(parameter_values, list) else parameter_values
        if len(pvs) != len(circs):  # zip would silently drop the circuits (or values) left over
            raise ValueError(
                f"{len(circs)} circuits but {len(pvs)} entries of parameter_values; give one entry per "
                "circuit (a list), or one value for all (an array)"
            )
        tasks = [Task(c, pv, inputs or {}) for c, pv in zip(circs, pvs)]
        config = RunConfig(shots=shots, seed=seed, precision=precision, mitigation=mitigation, options=options or {})
        res = self.backend.run(tasks, config).result()
        out = [SamplerResult(r, r.num_qubits) for r in res]
        return out[0] if single else out
