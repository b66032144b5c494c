"""qbridge: one hybrid quantum-classical program, any quantum backend.

``import qbridge`` loads the IR, the backend API and the registry; it imports no quantum SDK
and no transformers (adapters import theirs when a backend is created).
"""

from .backends import (
    Backend,
    Job,
    JobStatus,
    Result,
    RunConfig,
    Target,
    Task,
    TaskResult,
    get_backend,
    list_backends,
)
from .exceptions import QBridgeError
from .ir import Circuit, Instruction, Parameter, ParameterExpression, PauliSum, from_qasm, to_qasm
from .primitives import Estimator, Sampler

__version__ = "0.1.0"

__all__ = [
    "Backend",
    "Circuit",
    "Estimator",
    "Instruction",
    "Job",
    "JobStatus",
    "Parameter",
    "ParameterExpression",
    "PauliSum",
    "QBridgeError",
    "Result",
    "RunConfig",
    "Sampler",
    "Target",
    "Task",
    "TaskResult",
    "from_qasm",
    "get_backend",
    "list_backends",
    "load_job",
    "to_qasm",
    "__version__",
]


def __getattr__(name: str):
    # qbridge.load_job(id): the job store is loaded on first use, not by `import qbridge`
    if name == "load_job":
        from .jobs import load_job

        return load_job
    raise AttributeError(f"module 'qbridge' has no attribute {name!r}")
