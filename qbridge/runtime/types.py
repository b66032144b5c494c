"""What travels to a backend and back: the types of a run, apart from the Backend class.

Owns: :class:`Target` (capabilities as data), :class:`RunConfig` (settings of one run, frozen,
never stored on a backend; its options checked by :mod:`qbridge.runtime.options`),
:class:`Task` (a circuit, a batch of bindings and inputs, observables; its expansion for shots),
:class:`CompiledTask`, :class:`TaskResult`/:class:`Result`, :class:`Job`/:class:`LocalJob`.

Must not touch: backends, estimation, mitigation (they use these types; these types use none of
them), any quantum SDK.
"""

from __future__ import annotations

import abc
import enum
import numbers
import uuid
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from ..exceptions import (
    ArgumentError,
    ArgumentTypeError,
    EncodingError,
    JobError,
    ParameterError,
    QBridgeError,
)
from ..ir.circuit import Circuit
from ..ir.measurement import measurement_circuit, qubitwise_groups
from ..ir.observables import PauliSum, as_pauli_sum
from ..ir.parameters import batch_size_of
from .options import RunSettings, check_run_options, settings_from_options
from .reports import MitigationReport

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
    "Executor",
    "as_task",
    "bitstring",
    "default_program_text",
]


@dataclass(frozen=True)
class Target:
    """What a backend can do, as data (the conformance suite reads it to choose its tests)."""

    num_qubits: int | None
    native_gates: frozenset[str]
    connectivity: frozenset[tuple[int, int]] | None = None  # None: all-to-all
    supports_exact: bool = True
    supports_shots: bool = True
    supports_statevector: bool = True
    supports_state_prep: bool = True  # amplitude_encode runs natively (else decomposed)
    min_shots: int = 1
    max_shots: int | None = None
    max_batch: int | None = None  # bindings x circuits in one submission
    batched: bool = True  # a whole batch of bindings goes out as one submission
    gradient_methods: tuple[str, ...] = ()  # "backprop", "adjoint", "parameter-shift"
    simulator: bool = True
    noisy: bool = False
    gpu: bool = False
    precisions: tuple[str, ...] = ("single", "double")
    seeded: bool = False  # the same seed gives the same counts
    # Hardware facts of backends that transpile for themselves (IBM): ``native_gates`` and
    # ``connectivity`` above say what the backend accepts; these say what the device runs.
    device_gates: frozenset[str] | None = None
    device_connectivity: frozenset[tuple[int, int]] | None = None
    # bytes the backend holds per shot and measured qubit while sampling (PennyLane and Braket's
    # local simulator keep every shot as int64); 0 for backends that sample counts directly
    shot_bytes: int = 8

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["native_gates"] = sorted(self.native_gates)
        for key in ("connectivity", "device_connectivity"):
            pairs = getattr(self, key)
            d[key] = None if pairs is None else sorted(list(p) for p in pairs)
        d["device_gates"] = None if self.device_gates is None else sorted(self.device_gates)
        return d


@dataclass(frozen=True)
class RunConfig:
    """Settings of one run. ``shots=None`` asks for exact results."""

    shots: int | None = None
    seed: int | None = None
    precision: str = "single"  # "single" (complex64) or "double" (complex128)
    mitigation: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    #: the options in typed form, one object per group (qbridge.runtime.options.RunSettings)
    settings: RunSettings = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        from ..limits import MAX_SHOTS

        if self.shots is not None:
            if isinstance(self.shots, bool) or not isinstance(self.shots, numbers.Integral):
                raise ArgumentError(  # a ValueError, as before
                    f"shots must be a positive integer, or None for exact results; got {self.shots!r} "
                    f"({type(self.shots).__name__})", expected="int >= 1 or None",
                )
            if not 1 <= self.shots <= MAX_SHOTS:
                raise ArgumentError(
                    f"shots must be between 1 and {MAX_SHOTS} (2^63 - 1), or None for exact results; "
                    f"got {self.shots}", expected=f"1 <= shots <= {MAX_SHOTS}",
                )
            object.__setattr__(self, "shots", int(self.shots))
        if self.seed is not None:
            if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral):
                raise ArgumentTypeError(
                    f"seed must be a non-negative integer or None, got {self.seed!r}", expected="int >= 0 or None",
                )
            if self.seed < 0:
                raise ArgumentError(
                    f"seed must be a non-negative integer (NumPy's SeedSequence takes no negative "
                    f"seeds), got {self.seed}; use {abs(int(self.seed))} or any other integer >= 0",
                    expected="int >= 0 or None",
                )
        if self.precision not in ("single", "double"):
            raise ArgumentError(
                f"precision must be 'single' or 'double', got {self.precision!r}", expected="'single' or 'double'",
            )
        mit = self.mitigation
        if isinstance(mit, str):
            mit = tuple(m.strip() for m in mit.split(",") if m.strip())
        object.__setattr__(self, "mitigation", tuple(mit))
        # every option name known and every value checked here, once (a misspelt budget must not
        # silently not apply): qbridge.runtime.options
        object.__setattr__(self, "options", check_run_options(self.options))
        object.__setattr__(self, "settings", settings_from_options(self.options))

    @property
    def exact(self) -> bool:
        return self.shots is None


def _as_2d(x: Any, what: str) -> Any:
    if hasattr(x, "dim") and callable(x.dim):  # torch tensor: keep it (autograd)
        if x.dim() == 1:
            return x.unsqueeze(0)
        if x.dim() != 2:
            raise ParameterError(f"{what} must have shape (batch, k), got {tuple(x.shape)}")
        return x
    a = np.asarray(x)
    if a.dtype == object:
        raise ParameterError(f"{what} must be numeric")
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise ParameterError(f"{what} must have shape (batch, k), got {a.shape}")
    return a


def _check_real_finite(pv: Any, what: str) -> None:
    """Parameter values are real and finite (NumPy or torch; complex would lose its imaginary part)."""
    if hasattr(pv, "dim"):
        import torch

        if pv.is_complex():
            raise ParameterError(f"{what} must be real numbers, got a {pv.dtype} tensor")
        with torch.no_grad():
            if bool(torch.isfinite(pv).all()):  # the common case, and all that works under torch.func
                return
            fin = torch.isfinite(pv.detach())
            ok = (fin.flatten(1) if fin.dim() > 1 else fin.reshape(-1, 1)).all(dim=1).cpu().numpy()
    else:
        if pv.dtype.kind not in "biuf":
            raise ParameterError(f"{what} must be real numbers, got an array of dtype {pv.dtype}")
        fin = np.isfinite(pv.astype(float))
        ok = (fin.reshape(fin.shape[0], int(np.prod(fin.shape[1:]))) if fin.ndim > 1 else fin.reshape(-1, 1)).all(axis=1)
    if not bool(ok.all()):
        bad = np.flatnonzero(~ok).tolist()
        rows = ", ".join(map(str, bad[:10])) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
        raise ParameterError(
            f"{what} contains NaN or inf in row{'s' if len(bad) > 1 else ''} {rows}; parameter values must be "
            "finite: check what produced them (a diverged optimiser, an uninitialised tensor)", rows=bad,
        )


def _stack_columns(names: Sequence[str], cols: Sequence[Any]) -> Any:
    """``{name: number or (B,) column}`` values -> (B, P); a torch column makes the result torch."""
    tensors = [v for v in cols if hasattr(v, "dim")]
    if tensors:
        import torch

        ref = tensors[0]
        dtype = ref.dtype if ref.is_floating_point() else torch.float64
        cols = [v if hasattr(v, "dim") else torch.as_tensor(np.asarray(v, dtype=float), dtype=dtype, device=ref.device)
                for v in cols]
    else:
        cols = [np.asarray(v) for v in cols]
    for name, v in zip(names, cols):
        if v.ndim > 1:
            raise ParameterError(
                f"the value of parameter {name!r} must be a number or a 1-D column (batch,), got shape {tuple(v.shape)}",
                parameter=name,
            )
    sizes = {name: (int(v.shape[0]) if v.ndim else 1) for name, v in zip(names, cols)}
    big = {s for s in sizes.values() if s != 1}
    if len(big) > 1:
        raise ParameterError(
            f"parameter columns have different lengths {sizes}: give every parameter the same number "
            "of values, or one value to share"
        )
    B = big.pop() if big else 1
    if tensors:
        return torch.stack([v.reshape(-1).expand(B) for v in cols], dim=1)
    return np.stack([np.broadcast_to(v.reshape(-1), (B,)) for v in cols], axis=1)


@dataclass(frozen=True, eq=False)
class Task:
    """One circuit with a batch of parameter bindings and encoded inputs.

    ``parameter_values`` has shape (B_p, P) in ``circuit.parameters`` order (a mapping from names
    to (B_p,) columns is accepted); each input has shape (B_i, d). B_p and B_i broadcast (equal,
    or 1). Arrays may be NumPy arrays or torch tensors (kept as given, for autograd).
    """

    circuit: Circuit
    parameter_values: Any = None
    inputs: Mapping[str, Any] = field(default_factory=dict)
    observables: tuple[PauliSum, ...] = ()
    statevector: bool = False

    def __post_init__(self) -> None:
        c = self.circuit
        if not isinstance(c, Circuit):
            raise TypeError(f"a task needs a qbridge Circuit, got {type(c).__name__}")
        names = c.parameter_names
        pv = self.parameter_values
        if isinstance(pv, Mapping):
            unknown = set(pv) - set(names)
            if unknown:
                raise ParameterError(f"values given for unknown parameter(s) {sorted(unknown)}; the circuit has {list(names)}")
            missing = [n for n in names if n not in pv]
            if missing:
                raise ParameterError(f"no value for parameter(s) {missing}", parameter=missing[0])
            pv = _stack_columns(names, [pv[n] for n in names]) if names else None
        if names:
            if pv is None:
                raise ParameterError(
                    f"the circuit has free parameters {list(names)}; pass parameter_values "
                    f"of shape (batch, {len(names)})",
                    parameter=names[0],
                )
            pv = _as_2d(pv, "parameter_values")
            if pv.shape[1] != len(names):
                raise ParameterError(
                    f"parameter_values has {pv.shape[1]} column(s) but the circuit has "
                    f"{len(names)} parameter(s) {list(names)}"
                )
            _check_real_finite(pv, "parameter_values")
            if pv.shape[0] == 0:
                raise ParameterError("parameter_values has no rows: an empty batch has nothing to run")
        elif pv is not None:
            arr = _as_2d(pv, "parameter_values")
            if arr.shape[1] != 0:
                raise ParameterError(f"the circuit has no free parameters but {arr.shape[1]} value(s) per row were given")
            # rows of nothing: one (or none) binds nothing; more are a batch of repetitions
            pv = arr if arr.shape[0] > 1 else None
        object.__setattr__(self, "parameter_values", pv)
        inputs = dict(self.inputs or {})
        unknown = set(inputs) - set(c.inputs)
        if unknown:
            raise EncodingError(f"inputs given for unknown name(s) {sorted(unknown)}; the circuit encodes {sorted(c.inputs)}")
        missing = set(c.inputs) - set(inputs)
        if missing:
            raise EncodingError(
                f"no value for encoded input(s) {sorted(missing)}; pass inputs={{name: array (batch, d)}}",
                instruction="amplitude_encode",
            )
        for name, val in list(inputs.items()):
            inputs[name] = _as_2d(val, f"input {name!r}")
            if inputs[name].shape[0] == 0:
                raise EncodingError(f"input {name!r} has no rows: an empty batch has nothing to run", instruction="amplitude_encode")
            _check_encodable(name, inputs[name], c.inputs[name])
        object.__setattr__(self, "inputs", inputs)
        obs = self.observables
        if isinstance(obs, (str, PauliSum)):
            obs = (obs,)
        object.__setattr__(self, "observables", tuple(as_pauli_sum(o, c.num_qubits) for o in obs))
        self.batch_size  # checks that the batch sizes broadcast

    @property
    def batch_size(self) -> int:
        sizes = [self.parameter_values.shape[0]] if self.parameter_values is not None else []
        return batch_size_of(*sizes, *(v.shape[0] for v in self.inputs.values()))

    def binding(self, i: int) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """Row ``i`` of the batch as plain numbers (broadcast rows repeat)."""
        params: dict[str, float] = {}
        if self.parameter_values is not None and self.parameter_values.shape[1]:
            pv = self.parameter_values
            row = pv[i if pv.shape[0] > 1 else 0]
            row = row.detach().cpu().numpy() if hasattr(row, "detach") else np.asarray(row)
            params = {n: float(v) for n, v in zip(self.circuit.parameter_names, row)}
        ins: dict[str, np.ndarray] = {}
        for name, v in self.inputs.items():
            r = v[i if v.shape[0] > 1 else 0]
            ins[name] = r.detach().cpu().numpy() if hasattr(r, "detach") else np.asarray(r)
        return params, ins

    def parameter_array(self) -> np.ndarray:
        """Bindings as a float64 NumPy array of shape (B, P), broadcast to the batch size."""
        P = self.circuit.num_parameters
        if self.parameter_values is None or P == 0:
            return np.zeros((self.batch_size, 0))
        pv = self.parameter_values
        pv = pv.detach().cpu().numpy() if hasattr(pv, "detach") else np.asarray(pv)
        return np.broadcast_to(pv.astype(np.float64), (self.batch_size, P))

    def with_circuit(self, circuit: Circuit) -> "Task":
        return replace(self, circuit=circuit)

    def measurement_tasks(self) -> list[tuple[str, list[str], "Task"]]:
        """What a shot-based run of this task sends: per qubit-wise commuting group of its
        observables, ``(basis, Pauli strings, task)`` with the basis change appended and no
        observables (none for observables of identity terms only). The one place that expands
        a task this way (estimation, cost estimates, dry-run plans)."""
        return [(basis, words, replace(self, circuit=measurement_circuit(self.circuit, basis), observables=()))
                for basis, words in qubitwise_groups(self.observables)]


def as_task(task: Any) -> Task:
    """Accept a Task, a Circuit, or a (circuit, parameter_values) pair."""
    if isinstance(task, Task):
        return task
    if isinstance(task, Circuit):
        return Task(task)
    if isinstance(task, tuple) and task and isinstance(task[0], Circuit):
        return Task(*task)
    raise TypeError(
        f"cannot make a task from {type(task).__name__}; pass a Circuit, a Task or (circuit, parameter_values)"
    )


def _check_encodable(name: str, rows: Any, size: int) -> None:
    """Refuse, before anything runs, rows that amplitude encoding cannot take."""
    if rows.shape[1] == 0 or rows.shape[1] > size:
        raise EncodingError(
            f"input {name!r} has {rows.shape[1]} features but its encoding register holds {size} "
            f"amplitudes; use at least ceil(log2({max(rows.shape[1], 1)})) qubits",
            instruction="amplitude_encode",
        )
    import torch

    from ..sim.statevector import row_scales

    a = rows.detach() if hasattr(rows, "detach") else np.asarray(rows)
    if not hasattr(a, "detach"):
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
            raise EncodingError(f"input {name!r} must be numeric, got dtype {a.dtype}", instruction="amplitude_encode")
        a = torch.from_numpy(np.ascontiguousarray(a))
    if not (a.is_floating_point() or a.is_complex()):
        a = a.to(torch.float64)
    scale = row_scales(a, name)  # raises on NaN/inf entries, naming the rows
    zero = (scale.squeeze(1) == 0).nonzero().flatten().tolist()  # by the largest entry: 1e-300 is not zero
    if zero:
        raise EncodingError(
            f"input {name!r} row {zero[0]} is a zero vector and cannot be amplitude-encoded; "
            "add a bias, or drop or mask the row",
            instruction="amplitude_encode", rows=zero,
        )


def bitstring(index: int, width: int) -> str:
    return format(index, f"0{width}b") if width else ""


@dataclass(frozen=True, eq=False)
class TaskResult:
    """What one task produced, for every row of its batch.

    ``probabilities``/``statevector`` have shape (B, 2^m); ``counts`` is one dict per row mapping
    bitstrings (q0 first) to counts; ``expectation_values``/``stderr`` have shape (B, n_obs). The
    torch backend returns torch tensors (differentiable) where others return NumPy arrays.
    """

    batch_size: int
    num_qubits: int  # width of the readout (measured qubits, or all)
    probabilities: Any = None
    statevector: Any = None
    counts: tuple[dict[str, int], ...] | None = None
    expectation_values: Any = None
    stderr: Any = None
    shots: int | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def mitigation(self) -> "MitigationReport | None":
        """The typed form of ``metadata["mitigation"]`` (None when the run was not mitigated)."""
        md = self.metadata.get("mitigation") if self.metadata else None
        return MitigationReport.from_dict(md) if isinstance(md, Mapping) else None

    def get_counts(self, index: int = 0) -> dict[str, int]:
        if self.counts is None:
            raise QBridgeError("this result has no counts: run with shots to sample")
        return self.counts[index]

    def get_probabilities(self, index: int = 0) -> dict[str, float]:
        """Probabilities of row ``index`` as a bitstring dict (exact, or counts / shots)."""
        if self.probabilities is not None:
            p = self.probabilities[index]
            p = p.detach().cpu().numpy() if hasattr(p, "detach") else np.asarray(p)
            return {bitstring(i, self.num_qubits): float(v) for i, v in enumerate(p)}
        counts = self.get_counts(index)
        total = sum(counts.values())
        return {k: v / total for k, v in sorted(counts.items())}


@dataclass(frozen=True, eq=False)
class Result:
    tasks: tuple[TaskResult, ...]
    backend: str
    job_id: str
    shots: int | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, i: int) -> TaskResult:
        return self.tasks[i]

    def __len__(self) -> int:
        return len(self.tasks)

    def __iter__(self):
        return iter(self.tasks)


class JobStatus(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    ERROR = "error"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in (JobStatus.DONE, JobStatus.ERROR, JobStatus.CANCELLED)


class Job(abc.ABC):
    """A submitted run. Local backends finish before ``run`` returns; cloud jobs poll."""

    def __init__(self, job_id: str, backend: str) -> None:
        self.job_id = job_id
        self.backend = backend

    @abc.abstractmethod
    def status(self) -> JobStatus: ...

    @abc.abstractmethod
    def result(self, timeout: float | None = None) -> Result: ...

    def cancel(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.job_id} on {self.backend}: {self.status().value}>"


class LocalJob(Job):
    """A job run in this process; an error during execution is raised by :meth:`result`."""

    def __init__(self, backend: str, fn: Callable[[str], Result]) -> None:
        super().__init__(uuid.uuid4().hex, backend)
        self._result: Result | None = None
        self._error: BaseException | None = None
        try:
            self._result = fn(self.job_id)
        except QBridgeError as exc:
            self._error = exc

    def status(self) -> JobStatus:
        return JobStatus.ERROR if self._error is not None else JobStatus.DONE

    def result(self, timeout: float | None = None) -> Result:
        if self._error is not None:
            raise self._error
        if self._result is None:  # pragma: no cover - defensive
            raise JobError("job has no result", backend=self.backend)
        return self._result


@dataclass(frozen=True, eq=False)
class CompiledTask:
    """A task after validation: its native circuit and the backend's own program object."""

    task: Task
    circuit: Circuit  # native gates, measurements removed
    program: Any = None
    readout_qubits: tuple[int, ...] = ()


def default_program_text(compiled: CompiledTask) -> str:
    """A compiled program as text without SDK knowledge: the program itself when it is text,
    else the native circuit as OpenQASM 3 (:meth:`Backend.native_program_text`'s default)."""
    if isinstance(compiled.program, str):
        return compiled.program
    from ..ir import to_qasm

    try:
        return to_qasm(compiled.circuit)
    except Exception as exc:  # noqa: BLE001 - a dry run still shows what it can
        return f"// native program not printable: {exc}"


@runtime_checkable
class Executor(Protocol):
    """What the run path needs of a backend (``qbridge.execution``, ``qbridge.mitigation``): its
    name and target, ``compile`` (every error before any compute) and ``_execute`` (one
    submission). ``qbridge.backends.base.Backend`` is one; the run path never imports it."""

    backend_name: str

    @property
    def target(self) -> Target: ...

    def compile(self, task: Task, config: RunConfig) -> CompiledTask: ...

    def _execute(self, tasks: Sequence[CompiledTask], config: RunConfig) -> list[TaskResult]: ...

