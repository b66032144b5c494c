"""How a run goes: :func:`run_tasks` (compile, estimate, mitigate, execute, finish), the body of
``Backend.run``, and the estimation arithmetic it finishes shot-based runs with.

Below the backends and above the mitigation pipeline and :mod:`qbridge.runtime`
(docs/architecture.md): it calls down only.
"""

from .estimation import counts_to_array, estimate_from_counts, marginal_counts, parity_table
from .run import run_tasks

__all__ = ["run_tasks", "parity_table", "counts_to_array", "estimate_from_counts", "marginal_counts"]
