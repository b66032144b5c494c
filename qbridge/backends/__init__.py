"""Backends: the abstract API, the registry and the embedded torch backend (loaded lazily)."""

from .base import (
    Backend,
    CompiledTask,
    Job,
    JobStatus,
    LocalJob,
    Result,
    RunConfig,
    Target,
    Task,
    TaskResult,
)
from .registry import BackendInfo, get_backend, list_backends, reload_registry

__all__ = [
    "Backend",
    "BackendInfo",
    "CompiledTask",
    "Job",
    "JobStatus",
    "LocalJob",
    "Result",
    "RunConfig",
    "Target",
    "Task",
    "TaskResult",
    "get_backend",
    "list_backends",
    "reload_registry",
]
