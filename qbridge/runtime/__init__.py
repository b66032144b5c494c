"""What a run is made of, as data: tasks, targets, run configurations with their typed settings,
results and jobs (:mod:`.types`), and the run options with their checks (:mod:`.options`).

The bottom of the run path: the IR below it; mitigation, execution, backends and primitives
above, each importing from here and never the reverse (docs/architecture.md).
"""

from .options import RunSettings, check_run_options, settings_from_options
from .types import (
    CompiledTask,
    Job,
    JobStatus,
    LocalJob,
    Result,
    RunConfig,
    Target,
    Task,
    TaskResult,
    as_task,
    bitstring,
    default_program_text,
)

__all__ = [
    "CompiledTask",
    "Job",
    "JobStatus",
    "LocalJob",
    "Result",
    "RunConfig",
    "RunSettings",
    "Target",
    "Task",
    "TaskResult",
    "as_task",
    "bitstring",
    "check_run_options",
    "default_program_text",
    "settings_from_options",
]
