"""The shared part of the Braket backends: compiling, packing, submitting, reading results.

The backends themselves live in :mod:`qbridge_braket.local` (``braket.local``, ``braket.dm``) and
:mod:`qbridge_braket.device` (``braket.device``); the program model in :mod:`qbridge_braket.program`.


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
from typing import Any, Mapping, Sequence

import numpy as np

from qbridge.backends.base import Backend, CompiledTask, RunConfig, Target, Task, TaskResult, bitstring
from qbridge.exceptions import JobError, QBridgeError, ValidationError
from qbridge.ir.circuit import Circuit
from qbridge.ir.stateprep import bind_inputs

from .capabilities import DeviceLimits
from .noise import ModelNoise
from .qasm import INPUT_PREFIX, NoiseModel, supports_gphase, to_openqasm
from .program import BraketProgram, Executable

__all__ = ["BraketBackendBase"]


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
