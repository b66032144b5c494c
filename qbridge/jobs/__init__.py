"""Cloud jobs: a durable record of every paid submission, cost estimates, and a budget.

``import qbridge.jobs`` loads only the standard library's sqlite3, platformdirs and the core
(no boto3, no qiskit): adapters bring their SDKs when a transport is created.

- :class:`JobStore`: the SQLite file (``$QBRIDGE_JOB_STORE`` or the user data folder), 0600.
- :func:`submit` / :func:`execute_with_store`: record the intent, check the budget, send.
- :func:`load_job` -> :class:`StoredJob`: status, result, resume, cancel from any process.
- :func:`estimate_cost`, :class:`CostEstimate`, :class:`Budget`: money before anything is sent.
- :func:`training_step_cost`, :func:`cost_estimator`: the per-step hook for torch layers.
"""

from .cost import Budget, CostEstimate, count_executables, estimate_cost, ibm_estimate
from .errors import (
    JobNotFoundError,
    JobStoreCorruptError,
    JobStoreError,
    JobTimeoutError,
    PriceUnknownError,
    ReadOnlyStoreError,
    TransportError,
)
from .plan import RunPlan, check_budget, native_text, plan_run
from .runner import StoredJob, build_result, execute_with_store, load_job, submit, submit_requests
from .store import ENV_STORE, JobRecord, JobStore, TaskRecord, TaskState, default_store_path, open_store
from .training import StepCost, cost_estimator, training_step_cost
from .transport import (
    CloudTransport,
    PollPolicy,
    ProviderRequest,
    RejectedError,
    RetryPolicy,
    call_with_retries,
    transport_from_spec,
)

__all__ = [
    "Budget",
    "CloudTransport",
    "CostEstimate",
    "ENV_STORE",
    "JobNotFoundError",
    "JobRecord",
    "JobStore",
    "JobStoreCorruptError",
    "JobStoreError",
    "JobTimeoutError",
    "PollPolicy",
    "PriceUnknownError",
    "ProviderRequest",
    "RejectedError",
    "RetryPolicy",
    "RunPlan",
    "StepCost",
    "StoredJob",
    "TaskRecord",
    "TaskState",
    "TransportError",
    "build_result",
    "call_with_retries",
    "check_budget",
    "cost_estimator",
    "count_executables",
    "default_store_path",
    "estimate_cost",
    "execute_with_store",
    "ibm_estimate",
    "load_job",
    "native_text",
    "open_store",
    "ReadOnlyStoreError",
    "plan_run",
    "submit",
    "submit_requests",
    "training_step_cost",
    "transport_from_spec",
]
