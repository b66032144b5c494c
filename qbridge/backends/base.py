"""The backend API: what every backend is, and what travels to it and back.

Owns: the abstract :class:`Backend`. The types that travel to it and back (:class:`Target`,
:class:`RunConfig`, :class:`Task`, results, :class:`Job`) live in :mod:`qbridge.runtime.types`
and are importable from here as well.

The life of a run, in :meth:`Backend.run`:
1. coerce loose inputs into canonical :class:`Task` objects (shapes checked once);
2. ``compile`` every task (validate against the target, rewrite into native gates, build the
   native program) -- every error here is raised before any compute is spent;
3. ``_execute`` the whole batch in one submission (the one method a backend must write);
4. finish in the core: marginalise onto measured qubits, turn shot counts into expectation values
   with standard errors (qbridge.execution). Backends never see shot-based observables.

Must not touch: any quantum SDK (adapters live in plugins/), the registry.
"""

from __future__ import annotations

import abc
import itertools
from dataclasses import replace
from typing import Any, ClassVar, Sequence

from ..exceptions import (
    QBridgeError,
    ValidationError,
)
from ..execution.run import run_tasks
from ..ir.circuit import Circuit
from ..runtime.types import (  # the types of a run, importable from here as before (see __all__)
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
    "Target",
    "RunConfig",
    "Task",
    "TaskResult",
    "Result",
    "JobStatus",
    "Job",
    "LocalJob",
    "CompiledTask",
    "Backend",
    "as_task",
    "bitstring",
    "default_program_text",
]


class Backend(abc.ABC):
    """Base class of every backend. Subclasses write :attr:`target` and :meth:`_execute`.

    ``_execute`` receives compiled tasks (native circuits, no shot-based observables) and returns
    one :class:`TaskResult` per task over *all* qubits: probabilities (and state vectors when
    asked) when ``config.shots`` is None, counts otherwise; expectation values of
    ``task.observables`` when exact. The base class does the rest.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def __init__(self, *, name: str | None = None, **options: Any) -> None:
        self._name = name or type(self).name
        self.options = dict(options)

    @property
    def backend_name(self) -> str:
        return self._name

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        """Whether the backend can be created here, and why not (must not import the SDK)."""
        return True, ""

    @property
    @abc.abstractmethod
    def target(self) -> Target: ...

    # -- compile ------------------------------------------------------------------------------
    def validate(self, task: Task, config: RunConfig) -> None:
        t = self.target
        n = task.circuit.num_qubits
        if t.num_qubits is not None and n > t.num_qubits:
            raise ValidationError(
                f"the circuit uses {n} qubits but {self._name} has {t.num_qubits}",
                backend=self._name,
            )
        if config.shots is None and not t.supports_exact:
            raise ValidationError(
                f"{self._name} samples only; pass shots (between {t.min_shots} and {t.max_shots})",
                backend=self._name,
            )
        if config.shots is not None:
            if not t.supports_shots:
                raise ValidationError(f"{self._name} is exact only; drop shots", backend=self._name)
            if config.shots < t.min_shots or (t.max_shots is not None and config.shots > t.max_shots):
                raise ValidationError(
                    f"{config.shots} shots is outside {self._name}'s range [{t.min_shots}, {t.max_shots}]",
                    backend=self._name,
                )
        if config.shots is not None and t.shot_bytes:
            from ..limits import check_memory

            measured = len(task.circuit.measured_qubits) or n
            check_memory(
                config.shots * measured * t.shot_bytes * task.batch_size,
                f"sampling {config.shots} shots of {measured} qubit(s) x {task.batch_size} binding(s) on "
                f"{self._name} (which keeps every shot)",
                "take fewer shots, or use the torch backend, which samples counts without keeping shots",
                backend=self._name,
            )
        if task.statevector and (config.shots is not None or not t.supports_statevector):
            raise ValidationError(
                f"state vectors need an exact simulator without shots; {self._name} "
                + ("cannot give them" if not t.supports_statevector else "was asked for shots"),
                backend=self._name,
            )
        if t.max_batch is not None and task.batch_size > t.max_batch:
            raise ValidationError(
                f"a batch of {task.batch_size} exceeds {self._name}'s limit of {t.max_batch}; split the batch",
                backend=self._name,
            )
        if config.precision not in t.precisions:
            raise ValidationError(
                f"{self._name} supports precision {list(t.precisions)}, not {config.precision!r}",
                backend=self._name,
            )

    def native_circuit(self, circuit: Circuit) -> Circuit:
        """``circuit`` without measurements, in the target's native gates."""
        t = self.target
        basis = set(t.native_gates) | {"barrier"}
        if t.supports_state_prep:
            basis.add("amplitude_encode")
        body = circuit.without_measurements()
        try:
            native = body.decompose(basis)
        except QBridgeError as exc:
            raise ValidationError(f"{self._name}: {exc.message}", backend=self._name, **exc.context) from exc
        self.check_connectivity(native)
        return native

    def check_connectivity(self, circuit: Circuit) -> None:
        pairs = self.target.connectivity
        if pairs is None:
            return
        for op in circuit:
            if len(op.qubits) >= 2 and op.name not in ("barrier", "measure"):
                for a, b in itertools.combinations(op.qubits, 2):
                    if (a, b) not in pairs and (b, a) not in pairs:
                        raise ValidationError(
                            f"{op.name} on qubits ({a}, {b}) is not supported by {self._name}'s "
                            "connectivity; route the circuit or use a backend that transpiles",
                            backend=self._name,
                            instruction=op.name,
                            qubit=a,
                        )

    def compile(self, task: Task, config: RunConfig) -> CompiledTask:
        """Validate ``task`` and build the native program; raises before any compute."""
        self.validate(task, config)
        needs_inputs = bool(task.circuit.inputs) and not self.target.supports_state_prep
        native = task.circuit.without_measurements() if needs_inputs else self.native_circuit(task.circuit)
        readout = task.circuit.measured_qubits or tuple(range(task.circuit.num_qubits))
        return CompiledTask(task, native, self._translate(native, task, config), readout)

    def _translate(self, circuit: Circuit, task: Task, config: RunConfig) -> Any:
        """The backend's own program for a native circuit (default: none)."""
        return None

    def native_program_text(self, compiled: CompiledTask) -> str:
        """What this backend would send for ``compiled``, as text (dry runs print it).

        Default: the program itself when ``_translate`` made text, else the native circuit as
        OpenQASM 3. A backend whose program is an SDK object overrides this with the SDK's own
        printout (Braket's OpenQASM sources, IBM's transpiled ISA circuit).
        """
        return default_program_text(compiled)

    # -- run ----------------------------------------------------------------------------------
    @abc.abstractmethod
    def _execute(self, tasks: Sequence[CompiledTask], config: RunConfig) -> list[TaskResult]: ...

    def run(self, tasks: Any, config: RunConfig | None = None, **settings: Any) -> Job:
        """Run one task or a list of them as one submission; returns a :class:`Job`.

        ``settings`` (shots, seed, precision, mitigation) override fields of ``config``.
        """
        if config is None:
            config = RunConfig(**settings)
        elif settings:
            config = replace(config, **settings)
        if isinstance(tasks, (Task, Circuit)) or (isinstance(tasks, tuple) and tasks and isinstance(tasks[0], Circuit)):
            tasks = [tasks]
        task_list = [as_task(t) for t in tasks]
        if not task_list:
            raise ValueError("run needs at least one task")
        return run_tasks(self, task_list, config)

    def __deepcopy__(self, memo: dict) -> "Backend":
        # A backend is a handle on a simulator or a device, not module state: copies of a model
        # (copy.deepcopy, as in a classical twin or an EMA copy) share it. Some SDK objects a
        # backend holds cannot be copied at all (PennyLane devices hold modules).
        return self

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._name!r}>"
