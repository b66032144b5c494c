"""qbridge backends on Amazon Braket: ``braket.local``, ``braket.dm`` and ``braket.device``.

- ``braket.local``: Braket's local state-vector simulator (``LocalSimulator("braket_sv")``).
- ``braket.dm``: the local density-matrix simulator (``"braket_dm"``), with the option
  ``noise=`` a :class:`qbridge.noise.NoiseModel` (converted by :mod:`qbridge_braket.noise`), or,
  deprecated, the dict ``{"depolarizing": p1, "two_qubit_depolarizing": p2, "readout": pr,
  "amplitude_damping": g, "phase_damping": g}`` (see :class:`qbridge_braket.qasm.NoiseModel`).
- ``braket.device``: an ``AwsDevice`` chosen by the option ``arn``. Options: ``properties`` (a
  capabilities object, dict or JSON document: compile offline, no AWS call until a submission),
  ``source`` (where the capabilities come from: ``"auto"``, the default, reads them live when AWS
  credentials are configured and otherwise uses qbridge's dated offline snapshot of the device,
  :mod:`qbridge_braket.snapshots`; ``"live"`` always asks AWS; ``"snapshot"`` never does),
  ``layout`` (physical qubit of each circuit qubit: programs use ``$k`` qubits without rewiring
  and connectivity is checked; default: virtual qubits, placed and routed by Braket),
  ``aws_session``, ``connect_timeout`` (seconds for the first contact with AWS).
  ``device_source`` says which capabilities were used (snapshot date, or the live properties
  with their differences from the snapshot).

Every circuit becomes an OpenQASM 3 program of our own translator (:mod:`qbridge_braket.qasm`)
with ``input float`` parameters, so a batch of bindings is one program with a list of inputs.
Exact runs read ``probability``/``state_vector``/``expectation`` result types; runs with shots
measure every qubit. Submission (:meth:`BraketBackendBase.submit`, the seam the cloud layer wraps):
shots -> program sets (all bindings of all tasks, split at the device's limits); exact ->
one task batch (``run_batch``), since Braket's program sets take no result types.

Amplitude encoding: Braket has no state preparation, so each distinct input row is bound
(:func:`qbridge.ir.stateprep.bind_inputs`) and decomposed into the device's gates at compile
time (``supports_state_prep=False``). Validation against the device (qubits, gates, shots,
result types, connectivity, program-set limits) happens at compile time.

Importing this module imports no Braket SDK; ``availability()`` uses ``find_spec``.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import warnings
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

import numpy as np

from qbridge.backends.base import Backend, CompiledTask, RunConfig, Target, Task, TaskResult, bitstring
from qbridge.exceptions import BackendUnavailableError, JobError, QBridgeError, ValidationError
from qbridge.ir.circuit import Circuit
from qbridge.ir.stateprep import bind_inputs

from .capabilities import DeviceLimits, describe, make_target, parse_properties
from .noise import ModelNoise
from .qasm import INPUT_PREFIX, NoiseModel, supports_gphase, to_openqasm

__all__ = [
    "BraketBackendBase",
    "BraketLocalBackend",
    "BraketDMBackend",
    "BraketDeviceBackend",
    "BraketProgram",
    "Executable",
    "program_source",
]


def _installed(distribution: str) -> bool:
    from importlib.metadata import PackageNotFoundError, distribution as dist

    try:
        dist(distribution)
    except PackageNotFoundError:
        return False
    return True


def _sdk_availability() -> tuple[bool, str]:
    # find_spec of a submodule would import its parent package; top level plus metadata imports nothing
    if importlib.util.find_spec("braket") is None or not _installed("amazon-braket-sdk"):
        return False, "the Amazon Braket SDK is not installed: pip install amazon-braket-sdk"
    if not _installed("amazon-braket-default-simulator"):
        return False, "Braket's local simulators are not installed: pip install amazon-braket-default-simulator"
    return True, ""


@dataclass(frozen=True)
class Executable:
    """One program source and the bindings (rows of the task's batch) it runs with."""

    source: str
    rows: tuple[int, ...]
    inputs: tuple[dict[str, float], ...]  # one per row; empty dicts when the source declares none

    @property
    def parametric(self) -> bool:
        return bool(self.inputs and self.inputs[0])


@dataclass(frozen=True)
class BraketProgram:
    executables: tuple[Executable, ...]
    num_qubits: int
    words: tuple[str, ...]  # Pauli words read as expectation result types (exact runs)
    statevector: bool

    def source_for(self, row: int) -> tuple[str, dict[str, float]]:
        """(OpenQASM source, inputs) that binding ``row`` of the task runs as."""
        for ex in self.executables:
            if row in ex.rows:
                inputs = ex.inputs[0] if len(ex.inputs) == 1 else ex.inputs[ex.rows.index(row)]
                return ex.source, dict(inputs)
        raise IndexError(f"row {row} is not in this program's batch")


def program_source(compiled: CompiledTask, row: int) -> tuple[str, dict[str, float]]:
    """(OpenQASM 3 source, inputs) of one binding of a task compiled by a Braket backend.

    Plugs into ``qbridge_braket.cloud.BraketTransport(program_source=...)``: input names carry
    the translator's ``p_`` prefix and amplitude-encoded rows are already decomposed.
    """
    return compiled.program.source_for(row)


class BraketBackendBase(Backend):
    """Compile to Braket OpenQASM, submit through :meth:`submit`, read results back."""

    def __init__(self, *, name: str | None = None, **options: Any) -> None:
        super().__init__(name=name, **options)
        self._noise = NoiseModel()
        self._layout: tuple[int, ...] | None = None

    # subclasses set these in __init__
    _limits: DeviceLimits
    _target: Target

    @property
    def target(self) -> Target:
        return self._target

    @property
    def limits(self) -> DeviceLimits:
        return self._limits

    # -- compile ---------------------------------------------------------------------------------
    def validate(self, task: Task, config: RunConfig) -> None:
        super().validate(task, config)
        lim = self._limits
        if config.shots is None and task.observables and not lim.exact_result("Expectation"):
            raise ValidationError(
                f"{self._name} gives no exact expectation values; run with shots", backend=self._name
            )

    def _native_rows(self, native: Circuit, task: Task) -> list[tuple[tuple[int, ...], Circuit]]:
        """(rows, native circuit) pairs: one circuit for the whole batch, or one per input row."""
        B = task.batch_size
        if not task.circuit.inputs:
            return [(tuple(range(B)), native)]
        shared = all(v.shape[0] == 1 for v in task.inputs.values())
        groups = [tuple(range(B))] if shared else [(i,) for i in range(B)]
        out = []
        for rows in groups:
            _, inputs = task.binding(rows[0])
            out.append((rows, self.native_circuit(bind_inputs(native, inputs))))
        return out

    def native_program_text(self, compiled: CompiledTask) -> str:
        """The OpenQASM 3 sources Braket receives: one per distinct binding group."""
        prog = compiled.program
        if isinstance(prog, BraketProgram):
            return "\n".join(dict.fromkeys(str(e.source) for e in prog.executables))
        return super().native_program_text(compiled)

    def _translate(self, native: Circuit, task: Task, config: RunConfig) -> BraketProgram:
        shots = config.shots is not None
        words: list[str] = []
        if not shots:
            for obs in task.observables:
                for term in obs.terms:
                    if term.support and term.paulis not in words:
                        words.append(term.paulis)
        pv = task.parameter_array()  # (B, P) float64
        column = {name: i for i, name in enumerate(task.circuit.parameter_names)}
        executables = []
        for rows, circuit in self._native_rows(native, task):
            try:
                source, declared = to_openqasm(
                    circuit,
                    shots=shots,
                    statevector=task.statevector,
                    words=words,
                    noise=self._noise,
                    physical_qubits=self._layout,
                    gphase=supports_gphase(self._limits.operations),
                )
            except QBridgeError as exc:
                if isinstance(exc, ValidationError):
                    raise
                raise ValidationError(f"{self._name}: {exc.message}", backend=self._name, **exc.context) from exc
            params = [(name, column[name[len(INPUT_PREFIX):]]) for name in declared]
            inputs = tuple({name: float(pv[r, c]) for name, c in params} for r in rows)
            if not params and not shots:
                # nothing varies between these rows: run the program once, share its exact result
                executables.append(Executable(source, rows, ({},)))
            else:
                executables.append(Executable(source, rows, inputs))
        return BraketProgram(tuple(executables), task.circuit.num_qubits, tuple(words), task.statevector)

    # -- submission --------------------------------------------------------------------------------
    def submit(self, programs: Sequence[Any], shots: int, *, seed: int | None = None,
               config: RunConfig | None = None) -> list[Any]:
        """Send ``programs`` (``braket.ir.openqasm.Program`` or ``braket.program_sets.ProgramSet``)
        with ``shots`` per executable (0: exact) and return one result object per program, in order.
        ``config`` is the run's configuration (budget, job store, timeout, mitigation), passed down.

        The one place where anything leaves qbridge: the cloud layer wraps this method (job
        records, cost, budget, retries) without touching compilation or result parsing.
        """
        raise NotImplementedError

    @staticmethod
    def _program_sets(units: Sequence[tuple[str, list[dict[str, float]]]], shots: int,
                      limits: tuple[int, int, int]) -> list[tuple[Any, list[int]]]:
        """Pack (source, input rows) units into program sets within the device's limits.

        Returns (ProgramSet, unit indices per executable) pairs; a unit's rows may span sets.
        """
        from braket.ir.openqasm import Program
        from braket.program_sets import ProgramSet

        max_exec, max_total, _ = limits
        per_set = min(max_exec, max_total // shots) if max_total else max_exec
        sets: list[tuple[Any, list[int]]] = []
        entries: list[Any] = []
        owners: list[int] = []

        def flush():
            if entries:
                sets.append((ProgramSet(list(entries), shots_per_executable=shots), list(owners)))
                entries.clear()
                owners.clear()

        for u, (source, rows) in enumerate(units):
            start = 0
            while start < len(rows):
                room = per_set - len(owners)
                if room == 0:
                    flush()
                    continue
                chunk = rows[start:start + room]
                if chunk[0]:
                    keys = list(chunk[0])
                    entries.append(Program(source=source, inputs={k: [r[k] for r in chunk] for k in keys}))
                else:
                    # rows without inputs are still separate samples: one executable each
                    entries.extend(Program(source=source) for _ in chunk)
                owners.extend([u] * len(chunk))
                start += len(chunk)
        flush()
        return sets

    def _execute(self, tasks: Sequence[CompiledTask], config: RunConfig) -> list[TaskResult]:
        from braket.ir.openqasm import Program

        # every (task, executable, binding) in order; exact runs and shot runs differ only in transport
        units: list[tuple[str, list[dict[str, float]]]] = []
        where: list[tuple[int, int]] = []
        for t, comp in enumerate(tasks):
            for e, ex in enumerate(comp.program.executables):
                units.append((ex.source, list(ex.inputs)))
                where.append((t, e))
        shots = config.shots
        try:
            if shots is None:
                programs = [Program(source=src, inputs=row) for src, rows in units for row in rows]
                flat = self.submit(programs, 0, config=config)
                outputs = self._split(flat, [len(rows) for _, rows in units])
            else:
                lim = self._limits.program_set
                if lim is not None and lim[0] >= 1 and shots <= lim[1]:
                    sets = self._program_sets(units, shots, lim)
                    results = self.submit([ps for ps, _ in sets], shots, seed=config.seed, config=config)
                    outputs = [[] for _ in units]
                    for (_, owners), res in zip(sets, results):
                        k = 0
                        for entry in res.entries:  # one per program, holding its executables in order
                            for measured in entry.entries:
                                outputs[owners[k]].append(measured)
                                k += 1
                else:
                    programs = [Program(source=src, inputs=row) for src, rows in units for row in rows]
                    flat = self.submit(programs, shots, seed=config.seed, config=config)
                    outputs = self._split(flat, [len(rows) for _, rows in units])
        except QBridgeError:
            raise
        except Exception as exc:  # the SDK's failure, typed, with its cause chained
            raise JobError(f"{self._name}: Braket failed to run the programs: {type(exc).__name__}: {exc}",
                           backend=self._name) from exc
        per_task: list[dict[int, list[Any]]] = [{} for _ in tasks]
        for (t, e), out in zip(where, outputs):
            per_task[t][e] = out
        return [self._result(comp, per_task[t], config) for t, comp in enumerate(tasks)]

    @staticmethod
    def _split(flat: Sequence[Any], sizes: Sequence[int]) -> list[list[Any]]:
        out, k = [], 0
        for s in sizes:
            out.append(list(flat[k:k + s]))
            k += s
        return out

    def _result(self, comp: CompiledTask, outputs: Mapping[int, list[Any]], config: RunConfig) -> TaskResult:
        prog: BraketProgram = comp.program
        task = comp.task
        B, n = task.batch_size, prog.num_qubits
        meta = {"device": self._device_label(), "noise": self._noise.to_dict()}
        if "native" in config.mitigation and hasattr(self, "native_mitigation"):  # qbridge.mitigation.native
            meta["native_mitigation"] = self.native_mitigation()
        per_row: list[Any] = [None] * B
        for e, ex in enumerate(prog.executables):
            outs = outputs[e]
            if len(outs) == 1:
                for r in ex.rows:
                    per_row[r] = outs[0]
            else:
                for r, out in zip(ex.rows, outs):
                    per_row[r] = out
        if config.shots is not None:
            counts = tuple(self._counts(out, n) for out in per_row)
            return TaskResult(batch_size=B, num_qubits=n, counts=counts, shots=config.shots, metadata=meta)
        dim = 2**n
        probs = np.empty((B, dim))
        state = np.empty((B, dim), dtype=complex) if prog.statevector else None
        word_values = np.empty((B, len(prog.words)))
        for r, out in enumerate(per_row):
            values = list(out.values)
            probs[r] = np.asarray(values[0], dtype=float).reshape(dim)
            k = 1
            if prog.statevector:
                state[r] = np.asarray(values[k], dtype=complex).reshape(dim)
                k += 1
            word_values[r] = [float(np.real(v)) for v in values[k:k + len(prog.words)]]
        if isinstance(self._noise, ModelNoise):
            probs, word_values = self._noise.exact_readout(probs, word_values, prog.words, n)
        elif self._noise.readout > 0.0:
            probs, word_values = _apply_readout(probs, word_values, prog.words, n, self._noise.readout)
        ev = None
        if task.observables:
            index = {w: i for i, w in enumerate(prog.words)}
            ev = np.zeros((B, len(task.observables)))
            for o, obs in enumerate(task.observables):
                for term in obs.terms:
                    ev[:, o] += term.coeff * (word_values[:, index[term.paulis]] if term.support else 1.0)
        return TaskResult(batch_size=B, num_qubits=n, probabilities=probs, statevector=state,
                          expectation_values=ev, metadata=meta)

    def _counts(self, out: Any, n: int) -> dict[str, int]:
        """Counts over all qubits (qubit 0 first) from a task result or a program-set entry: the
        local SDK's per-shot measurements, or the cloud path's counts (re-keyed, never expanded)."""
        counted = getattr(out, "counts", None)
        if isinstance(counted, Mapping):  # qbridge_braket.cloud.CountedResult
            measured = self._circuit_qubits(list(out.measured_qubits))
            total: dict[str, int] = {}
            for key, c in counted.items():
                bits = ["0"] * n
                for col, q in enumerate(measured):
                    bits[q] = key[col]
                k = "".join(bits)
                total[k] = total.get(k, 0) + int(c)
            return {k: total[k] for k in sorted(total) if total[k]}
        m = np.asarray(out.measurements, dtype=np.int64)  # (shots, measured), columns = measured qubits
        measured = self._circuit_qubits(list(getattr(out, "measured_qubits", None) or range(m.shape[1])))
        bits = np.zeros((m.shape[0], n), dtype=np.int64)
        for col, q in enumerate(measured):
            bits[:, q] = m[:, col]
        index = bits @ (1 << np.arange(n - 1, -1, -1))  # qubit 0 is the most significant bit
        hist = np.bincount(index, minlength=2**n)
        return {bitstring(int(i), n): int(hist[i]) for i in np.flatnonzero(hist)}

    def _circuit_qubits(self, measured: list[int]) -> list[int]:
        """The measured labels as circuit qubits (physical labels back through the layout)."""
        if self._layout is None:
            return measured
        position = {phys: i for i, phys in enumerate(self._layout)}
        return [position[q] for q in measured]

    def _device_label(self) -> str:
        return self._name


def _apply_readout(probs: np.ndarray, word_values: np.ndarray, words: Sequence[str], n: int, pr: float):
    """Independent symmetric readout flips on exact results: each bit flips with probability pr.

    Probabilities pass through the per-qubit confusion matrix; a Pauli word's expectation is
    measured after its basis change as a parity of bits, so each non-identity letter scales it by
    (1 - 2 pr).
    """
    M = np.array([[1 - pr, pr], [pr, 1 - pr]])
    t = probs.reshape(probs.shape[0], *([2] * n))
    for q in range(n):
        t = np.moveaxis(np.tensordot(t, M, axes=([q + 1], [1])), -1, q + 1)
    scale = np.array([(1 - 2 * pr) ** sum(c != "I" for c in w) for w in words])
    return t.reshape(probs.shape), word_values * scale


# -- local simulators ------------------------------------------------------------------------------

class _LocalBackend(BraketBackendBase):
    simulator_name = ""

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        return _sdk_availability()

    def __init__(self, *, name: str | None = None, max_parallel: int | None = None, **options: Any) -> None:
        if max_parallel is not None and (isinstance(max_parallel, bool) or not isinstance(max_parallel, int)
                                         or max_parallel < 1):
            raise ValueError(f"max_parallel must be a positive integer or None (one process per CPU), got {max_parallel!r}")
        super().__init__(name=name, max_parallel=max_parallel, **options)
        self.max_parallel = max_parallel
        try:
            from braket.devices import LocalSimulator
        except Exception as exc:  # a broken SDK install: unavailable, with the cause
            raise BackendUnavailableError(
                f"the Amazon Braket SDK failed to import: {type(exc).__name__}: {exc}", backend=self._name
            ) from exc
        self._LocalSimulator = LocalSimulator
        self._device = LocalSimulator(self.simulator_name)
        self._limits = describe(self._device.properties)

    def _device_label(self) -> str:
        return f"LocalSimulator({self.simulator_name!r})"

    def _seeded_device(self, seed: int | None):
        if seed is None:
            return self._device
        from . import _seeded

        cls = _seeded.SeededDensityMatrixSimulator if self.simulator_name == "braket_dm" else _seeded.SeededStateVectorSimulator
        return self._LocalSimulator(cls(seed))

    def submit(self, programs: Sequence[Any], shots: int, *, seed: int | None = None,
               config: RunConfig | None = None) -> list[Any]:
        device = self._seeded_device(seed)
        programs = list(programs)
        with warnings.catch_warnings():
            # braket.dm was chosen on purpose, with or without noise: Braket's advice to use the
            # state-vector simulator for noise-free circuits is not for qbridge's users
            warnings.filterwarnings("ignore", message="You are running a noise-free circuit", category=UserWarning)
            return self._submit_local(device, programs, shots)

    def _submit_local(self, device: Any, programs: list[Any], shots: int) -> list[Any]:
        from braket.ir.openqasm import Program

        if shots == 0 and len(programs) > 1 and all(isinstance(p, Program) for p in programs):
            # exact results cannot go in a program set (Braket's program sets take no result
            # types): one task batch, which the local simulator runs in a process pool
            parallel = self.max_parallel if self.max_parallel is not None else (os.cpu_count() or 1)
            return list(device.run_batch(programs, shots=0, max_parallel=min(parallel, len(programs))).results())
        out = []
        for p in programs:
            total = shots * p.total_executables if hasattr(p, "total_executables") else shots
            out.append(device.run(p, shots=total).result())
        return out


class BraketLocalBackend(_LocalBackend):
    name = "braket.local"
    description = "Amazon Braket's local state-vector simulator (LocalSimulator('braket_sv')), OpenQASM 3."
    simulator_name = "braket_sv"

    def __init__(self, *, name: str | None = None, max_parallel: int | None = None, **options: Any) -> None:
        if options:
            raise TypeError(f"unknown option(s) for braket.local: {sorted(options)}; it accepts 'max_parallel'")
        super().__init__(name=name, max_parallel=max_parallel)
        # seeded: a run with a seed samples through qbridge_braket._seeded (the same seed, the same counts)
        self._target = replace(make_target(self._limits), seeded=True)


class BraketDMBackend(_LocalBackend):
    name = "braket.dm"
    description = ("Amazon Braket's local density-matrix simulator (LocalSimulator('braket_dm')) with an optional "
                   "noise model: noise=qbridge.noise.NoiseModel (the legacy dict {'depolarizing': p1, ...} is deprecated).")
    simulator_name = "braket_dm"

    def __init__(self, *, name: str | None = None, noise: Any = None,
                 max_parallel: int | None = None, **options: Any) -> None:
        """``noise``: a :class:`qbridge.noise.NoiseModel` (its JSON, or an IBM fake device name),
        converted by :mod:`qbridge_braket.noise`; or, deprecated, the dict of
        :class:`qbridge_braket.qasm.NoiseModel`, which keeps its own meaning (readout flips also
        scale exact expectation values)."""
        if options:
            raise TypeError(f"unknown option(s) for braket.dm: {sorted(options)}; it accepts 'noise', 'max_parallel'")
        super().__init__(name=name, max_parallel=max_parallel)
        from qbridge.noise import as_noise_model, check_gates

        legacy = isinstance(noise, Mapping) and noise.get("format") != "qbridge.noise/1"
        if legacy:
            warnings.warn(
                "braket.dm's noise={'depolarizing': ...} dict is deprecated; pass a qbridge.noise.NoiseModel, which "
                "aer and torch take too (the dict's depolarizing p is Braket's: NoiseModel's Depolarizing(4*p/3))",
                DeprecationWarning, stacklevel=3)
        if noise is None or legacy:
            self._noise = NoiseModel.parse(noise)
            self._target = replace(make_target(self._limits, noisy=self._noise.active,
                                               gate_noise=self._noise.gate_noise),
                                   seeded=True)  # sampled through qbridge_braket._seeded, as braket.local
        else:
            model = as_noise_model(noise, self._name)
            self._noise = ModelNoise(model)
            target = make_target(self._limits, noisy=True)
            check_gates(model, target.native_gates, self._name)
            qubits = target.num_qubits if model.num_qubits is None else min(target.num_qubits, model.num_qubits)
            self._target = replace(target, num_qubits=qubits, seeded=True)
        self.options["noise"] = self._noise.to_dict()


# -- cloud devices ----------------------------------------------------------------------------------

def _region_of(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] or None if len(parts) > 3 else None


def _connect(arn: str, aws_session: Any, timeout: float, backend: str):
    """``AwsDevice(arn)`` with bounded waiting; every failure is BackendUnavailableError."""
    try:
        import boto3
        from botocore.config import Config
        from braket.aws import AwsDevice, AwsSession
    except Exception as exc:
        raise BackendUnavailableError(f"the Braket AWS client failed to import: {type(exc).__name__}: {exc}",
                                      backend=backend) from exc
    if aws_session is None:
        region = _region_of(arn)
        boto_session = boto3.Session(region_name=region) if region else boto3.Session()
        if boto_session.get_credentials() is None:
            raise BackendUnavailableError(
                "no AWS credentials found (environment variables, ~/.aws/credentials, AWS_PROFILE or an instance "
                "role); configure them, or pass properties=<device capabilities> to compile offline",
                backend=backend,
            )
        config = Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 2, "mode": "standard"})
        aws_session = AwsSession(boto_session=boto_session, config=config)
    box: dict[str, Any] = {}

    def work():
        try:
            box["device"] = AwsDevice(arn, aws_session=aws_session)
        except Exception as exc:  # reported to the caller below, typed
            box["error"] = exc

    worker = threading.Thread(target=work, name="qbridge-braket-connect", daemon=True)
    worker.start()
    # AwsDevice may try several regions; bound the whole look-up, not each request
    worker.join(timeout * 3)
    if worker.is_alive():
        raise BackendUnavailableError(f"no answer from AWS about {arn} within {timeout * 3:g} s; check the network",
                                      backend=backend)
    if "error" in box:
        exc = box["error"]
        raise BackendUnavailableError(f"cannot reach the Braket device {arn}: {type(exc).__name__}: {exc}",
                                      backend=backend) from exc
    return box["device"]


class BraketDeviceBackend(BraketBackendBase):
    name = "braket.device"
    description = "An Amazon Braket device (QPU or managed simulator) chosen by the option arn=..."

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        ok, why = _sdk_availability()
        if not ok:
            return ok, why
        if importlib.util.find_spec("boto3") is None:
            return False, "boto3 is not installed: pip install boto3"
        return True, ""

    @classmethod
    def credentials(cls) -> tuple[bool, str]:
        """(configured, where or how to configure): the environment and AWS's shared files only."""
        from .snapshots import aws_credentials

        return aws_credentials()

    def __init__(
        self,
        *,
        name: str | None = None,
        arn: str | None = None,
        properties: Any = None,
        layout: Sequence[int] | bool | None = None,
        aws_session: Any = None,
        connect_timeout: float = 10.0,
        s3_bucket: str | None = None,
        s3_prefix: str | None = None,
        source: str = "auto",
        **options: Any,
    ) -> None:
        if options:
            raise TypeError(
                f"unknown option(s) for braket.device: {sorted(options)}; it accepts 'arn', 'properties', 'source', "
                "'layout', 'aws_session', 'connect_timeout', 's3_bucket', 's3_prefix'"
            )
        if source not in ("auto", "live", "snapshot"):
            raise ValueError(f"source must be 'auto', 'live' or 'snapshot', got {source!r}")
        if not isinstance(arn, str) or not arn.startswith("arn:aws:braket:"):
            raise ValueError(
                "braket.device needs the device's ARN: get_backend('braket.device', "
                f"arn='arn:aws:braket:us-east-1::device/qpu/ionq/Forte-1'), got {arn!r}"
            )
        # where results land in S3 (qbridge.jobs; default: the SDK's amazon-braket-<region>-<account>)
        s3 = {k: v for k, v in (("s3_bucket", s3_bucket), ("s3_prefix", s3_prefix)) if v is not None}
        super().__init__(name=name, arn=arn, **s3)
        self.arn = arn
        self._aws_session = aws_session
        self._timeout = float(connect_timeout)
        self._aws_device = None
        self.device_source: dict[str, Any] = {"source": "given", "note": "capabilities passed as properties="}
        if properties is None:
            properties = self._capabilities(arn, aws_session, source)
        self.properties = parse_properties(properties)
        try:
            self._limits = describe(self.properties)
        except QBridgeError as exc:
            raise BackendUnavailableError(f"{arn}: {exc.message}", backend=self._name) from exc
        if self.device_source["source"] == "live":
            self._compare_with_snapshot()
        if layout is True:
            from .capabilities import default_layout

            layout = default_layout(self._limits)
        self._layout = tuple(int(q) for q in layout) if layout else None
        # cloud runs go through qbridge.jobs with shots only (every paid task is recorded with its
        # counts, see qbridge_braket.cloud), so even a managed simulator is declared sampling-only
        self._target = make_target(self._limits, layout=self._layout, exact=False)

    def _capabilities(self, arn: str, aws_session: Any, source: str) -> Any:
        """Live capabilities (credentials configured, or ``source="live"``), else the snapshot."""
        from .snapshots import aws_credentials, load_snapshots, snapshot_for

        snap = snapshot_for(arn)
        configured, how = (True, "an aws_session was given") if aws_session is not None else aws_credentials()
        if source == "live" or (source == "auto" and configured):
            self._aws_device = _connect(arn, aws_session, self._timeout, self._name)
            self.device_source = {"source": "live", "credentials": how}
            return self._aws_device.properties
        if snap is None:
            known = ", ".join(s.key for s in load_snapshots())
            raise BackendUnavailableError(
                f"{arn}: {how}; qbridge has no offline snapshot of this device (snapshots: {known}). Configure "
                "credentials, or pass properties=<device capabilities JSON> to compile offline",
                backend=self._name,
            )
        self.device_source = {**snap.describe_source(), "credentials": how if not configured else
                              f"{how} (not used: source='snapshot')",
                              "note": f"compiled against qbridge's offline snapshot of {snap.name} dated {snap.as_of}, "
                                      "not the device's live capabilities"}
        return snap.properties

    def _compare_with_snapshot(self) -> None:
        """Live properties win; a difference from the shipped snapshot is reported (warning and
        ``device_source["differences"]``), so a stale snapshot is noticed."""
        from .snapshots import differences, snapshot_for

        snap = snapshot_for(self.arn)
        if snap is None:
            self.device_source["differences"] = None
            self.device_source["snapshot_as_of"] = None
            return
        diff = differences(snap.limits, self._limits)
        self.device_source.update({"snapshot_as_of": snap.as_of, "differences": diff})
        if diff:
            warnings.warn(f"{self.arn}: the live capabilities differ from qbridge's snapshot of {snap.as_of} "
                          f"(live ones are used): {'; '.join(diff)}", UserWarning, stacklevel=3)

    def _device_label(self) -> str:
        return self.arn

    def validate(self, task: Task, config: RunConfig) -> None:
        super().validate(task, config)
        if config.shots is not None and config.seed is not None:
            raise ValidationError(
                f"{self.arn} cannot be seeded (Braket devices sample on their own); drop seed",
                backend=self._name,
            )

    # -- cloud submission through qbridge.jobs (job store, budget, retries, resume) -------------
    def _execute(self, tasks: Sequence[CompiledTask], config: RunConfig) -> list[TaskResult]:
        if self.device_source.get("source") == "snapshot":
            # planned against the offline snapshot: never sent as such (no boto3 credential look-up
            # either, which could wait on the instance metadata service)
            raise BackendUnavailableError(
                f"{self.arn}: this backend was made from qbridge's offline snapshot of {self.device_source.get('snapshot_as_of')} "
                f"({self.device_source.get('credentials')}); it plans and prices runs (--dry-run), it sends nothing. "
                "With credentials configured, create it again to use the live capabilities. Nothing was sent",
                backend=self._name,
            )
        return super()._execute(tasks, config)

    def submit(self, programs: Sequence[Any], shots: int, *, seed: int | None = None,
               config: RunConfig | None = None) -> list[Any]:
        if seed is not None:
            raise ValidationError(f"{self.arn} cannot be seeded; drop seed", backend=self._name)
        from .cloud import submit_via_store, transport_for

        # every task is recorded before it is sent (idempotent client token), checked against the
        # budget, retried on throttling, and its result cached: see qbridge_braket.cloud
        if config is not None and "native" in config.mitigation:  # mitigation="native": the device's scheme
            params = self.native_mitigation()["device_parameters"]
            return submit_via_store(self, programs, shots, config,
                                    transport=transport_for(self, device_parameters=params))
        return submit_via_store(self, programs, shots, config)

    def native_mitigation(self) -> dict[str, Any]:
        """The device's own error mitigation (the protocol of qbridge.mitigation.native): IonQ
        debiasing where the capabilities list it; ValidationError on other devices."""
        provider = getattr(self.properties, "provider", None)
        schemes = dict(getattr(provider, "errorMitigation", None) or {})
        for scheme, props in schemes.items():
            if getattr(scheme, "__name__", str(scheme)).rsplit(".", 1)[-1] == "Debias":
                import json

                from braket.device_schema import GateModelParameters
                from braket.device_schema.error_mitigation.debias import Debias
                from braket.device_schema.ionq import IonqDeviceParameters

                # the document the SDK sends for AwsDevice.run(..., device_parameters={"errorMitigation": Debias()})
                doc = IonqDeviceParameters(paradigmParameters=GateModelParameters(qubitCount=0),  # unused for OpenQASM
                                           errorMitigation=[Debias()]).json(exclude_none=True)
                return {"service": "Amazon Braket", "scheme": "debias", "effective": True,
                        "minimum_shots": getattr(props, "minimumShots", None), "device_parameters": json.loads(doc)}
        raise ValidationError(
            f"{self.arn} lists no error-mitigation scheme (Braket offers debiasing on IonQ devices); use "
            "mitigation='readout', 'zne' or 'twirl', which run on every backend",
            backend=self._name,
        )
