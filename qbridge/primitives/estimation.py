"""Shot-based estimation, kept importable from here: the arithmetic lives in
:mod:`qbridge.execution.estimation`, the run path in :mod:`qbridge.execution.run`, the
measurement groups in :mod:`qbridge.ir.measurement`."""

from ..execution.estimation import counts_to_array, estimate_from_counts, marginal_counts, parity_table
from ..execution.run import run_tasks as run_with_estimation
from ..ir.measurement import measurement_circuit, qubitwise_groups

__all__ = [
    "qubitwise_groups",
    "measurement_circuit",
    "parity_table",
    "counts_to_array",
    "estimate_from_counts",
    "run_with_estimation",
    "marginal_counts",
]
