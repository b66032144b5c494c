"""The ``aer`` and ``aer.gpu`` backends: Qiskit Aer behind qbridge's backend API.

Importing this module imports no Qiskit (the registry loads it to list backends); the SDK is
imported when a backend is created.

How a run goes:

- compile (``_translate``): the native qbridge circuit becomes a Qiskit circuit
  (:func:`qbridge.interop.qiskit.to_qiskit_template`), transpiled once for the simulator and
  cached per (circuit, mode); save instructions (exact) or measurements (shots) are appended.
- execute: every task's whole batch of bindings goes to Aer in ONE ``AerSimulator.run`` call with
  ``parameter_binds`` (Aer binds them at run time, no circuit per binding). ``stats`` counts
  transpilations and runs so that callers (and tests) can check it.
- results come back in Qiskit's little-endian order and are converted here: probabilities and
  state vectors by bit reversal, count keys reversed (qubit q is measured into classical bit q).

Run-time amplitude encoding: a batch of input vectors cannot be a parameter binding. Where the
simulation method runs ``initialize`` natively and correctly (state vector) the transpiled circuit carries a
labelled placeholder that is swapped for each row's vector, so all rows still go out in one run
with no transpilation per row; that is for exact runs only (under shots an initialize, which holds a
reset, would stop Aer from sampling all shots from one final state). Elsewhere (shots, density
matrix, matrix product state, noise-model basis gates), the encoding is a Möttönen cascade whose rotation angles are parameters: transpiled once, the rows'
angles are bound like any other parameter.

Global phase: Aer ignores symbolic global phases, so the circuit's phase is kept out of the Qiskit
circuit and applied to returned state vectors here.

Noise: exact mode under noise uses the density-matrix method (exact probabilities and
expectation values, no state vector). Three ways to give it: ``noise=`` (a backend-neutral
:class:`qbridge.noise.NoiseModel`, its JSON or a fake device name: the one option every noisy
backend takes, converted by :mod:`qbridge_aer.noise`; errors act on the gates as written, and
exact probabilities include the model's readout errors, applied here as on every backend), or
the Aer-specific ``noise_model=`` (a Qiskit ``NoiseModel``) and ``noise_backend=`` (Aer's own
model of an IBM fake device, with circuits transpiled into the device's gates). With the
Aer-specific options Aer applies readout errors only to measurements, so exact probabilities
include gate noise but not readout error; shots include both.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from qbridge.backends.base import Backend, CompiledTask, RunConfig, Target, TaskResult
from qbridge.exceptions import BackendUnavailableError, JobError, ValidationError
from qbridge.ir.circuit import Circuit
from qbridge.ir.gates import GATES
from qbridge.noise import apply_readout, as_noise_model, check_gates

__all__ = ["AerBackend", "AerGPUBackend"]

METHODS = ("automatic", "statevector", "density_matrix", "matrix_product_state")
# Aer (0.16 to 0.18 at least) ignores or mis-binds the angle of controlled rotations bound through
# parameter_binds (qiskit-aer issues #2323, #2391, #2403): qbridge decomposes these exactly into
# rotations and CNOTs, which bind correctly (tests compare every gate with the torch backend).
_BROKEN_WITH_BINDS = frozenset({"crx", "cry", "crz", "cp"})
_CACHE_SIZE = 256


@dataclass(frozen=True, eq=False)
class _Program:
    """A task's transpiled Qiskit circuit with its readout, ready for binding."""

    circuit: Any  # qiskit QuantumCircuit
    template: Any  # qbridge.interop.qiskit.QiskitTemplate
    exact: bool
    num_observables: int
    statevector: bool
    placeholders: tuple[tuple[int, str, int], ...] = ()  # (index in circuit.data, input name, size)
    transpiler_phase: Any = 0.0  # global phase the transpiler added (float or Qiskit expression)


class AerBackend(Backend):
    """Qiskit Aer on CPU.

    Options: ``noise`` (a :class:`qbridge.noise.NoiseModel`), ``noise_model``
    (``qiskit_aer.noise.NoiseModel``), ``noise_backend`` (name of an IBM fake device whose Aer noise
    model to use, e.g. ``"fake_manila"``; at most one of the three), ``method`` (one of
    ``automatic``, ``statevector``, ``density_matrix``, ``matrix_product_state``), ``aer_options``
    (dict passed to ``AerSimulator``).
    """

    name = "aer"
    description = "Qiskit Aer simulator (CPU): exact state vector, density matrix with noise models, or shots."
    _device = "CPU"

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        for module, dist in (("qiskit", "qiskit"), ("qiskit_aer", "qiskit-aer")):
            if importlib.util.find_spec(module) is None:
                return False, f"{dist} is not installed; pip install qbridge-aer (or pip install {dist})"
        return True, ""

    def __init__(
        self,
        *,
        name: str | None = None,
        noise: Any = None,
        noise_model: Any = None,
        noise_backend: str | None = None,
        method: str | None = None,
        aer_options: Mapping[str, Any] | None = None,
    ) -> None:
        model = as_noise_model(noise, name or self.name)
        super().__init__(name=name, noise=None if model is None else model.to_dict(), noise_model=noise_model,
                         noise_backend=noise_backend, method=method, aer_options=dict(aer_options or {}))
        try:
            import qiskit_aer
            from qiskit_aer.noise import NoiseModel
        except ImportError as exc:
            raise BackendUnavailableError(
                f"{self.backend_name}: qiskit-aer cannot be imported ({exc}); pip install qiskit-aer",
                backend=self.backend_name,
            ) from None
        from qbridge.interop import qiskit as qk

        self._qk = qk
        self._aer = qiskit_aer
        self._check_device()
        if method is not None and method not in METHODS:
            raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
        if self._device == "GPU" and method == "matrix_product_state":
            raise ValueError("the matrix_product_state method runs on CPU only; use backend 'aer'")
        if sum(x is not None for x in (model, noise_model, noise_backend)) > 1:
            raise ValueError("give one of noise (a qbridge NoiseModel), noise_model or noise_backend, not several")
        device_qubits = None
        #: the backend-neutral model, when given as noise= (None with the Aer-specific options)
        self.noise = model
        if model is not None:
            from .noise import to_aer_noise_model

            basis = sorted(set(self._aer.AerSimulator().configuration().basis_gates))
            native = frozenset(g for g in GATES if g in basis and g in qk.GATE_CLASSES and g not in _BROKEN_WITH_BINDS)
            check_gates(model, native | {"unitary"}, self.backend_name)
            noise_model = to_aer_noise_model(model, basis)
            device_qubits = model.num_qubits
            self._noise_source = model.source or "qbridge.noise"
        elif noise_backend is not None:
            fake = qk.fake_backend(noise_backend)
            noise_model = NoiseModel.from_backend(fake)
            device_qubits = fake.num_qubits
            self._noise_source = fake.name
        elif noise_model is not None:
            if not isinstance(noise_model, NoiseModel):
                raise TypeError(f"noise_model must be a qiskit_aer.noise.NoiseModel, got {type(noise_model).__name__}")
            self._noise_source = "noise_model"
        else:
            self._noise_source = None
        self._noise = noise_model
        self._aer_options = dict(aer_options or {})
        for key in ("method", "device", "precision", "noise_model"):
            if key in self._aer_options:
                raise ValueError(f"aer_options may not set {key!r}; it is set by the backend's options and each run")
        noisy = noise_model is not None
        # exact results need a method that is exact: density matrix under noise (a state-vector
        # run with noise would be one random trajectory, not the exact distribution)
        if noisy:
            self._exact_method = "density_matrix" if method in (None, "automatic", "density_matrix") else None
        else:
            self._exact_method = "statevector" if method in (None, "automatic") else method
        self._shots_method = method or "automatic"
        self._sims: dict[tuple[bool, str], Any] = {}
        self._targets: dict[int, Any] = {}  # id(simulator) -> its Qiskit Target (simulators live as long as self)
        self._bodies: OrderedDict[Any, Any] = OrderedDict()
        self._programs: OrderedDict[Any, _Program] = OrderedDict()
        self.stats = {"transpiles": 0, "runs": 0, "experiments": 0, "cache_hits": 0}
        ref = self._simulator(self._exact_method is not None, "double")
        config = ref.configuration()
        full = set(self._aer.AerSimulator().configuration().basis_gates)
        num_qubits = int(config.n_qubits)
        if device_qubits is not None:
            num_qubits = min(num_qubits, device_qubits)
        self._target = Target(
            num_qubits=num_qubits,
            # what Aer runs without a qbridge decomposition; under a noise model the transpiler
            # rewrites these into the model's basis gates so that its errors apply
            # (amplitude encoding is declared by supports_state_prep: Aer runs it as initialize)
            native_gates=frozenset(g for g in GATES if g in full and g in qk.GATE_CLASSES and g not in _BROKEN_WITH_BINDS)
            | {"unitary"},
            connectivity=None,
            supports_exact=self._exact_method is not None,
            supports_shots=True,
            supports_statevector=(not noisy) and self._exact_method in ("statevector", "matrix_product_state"),
            supports_state_prep=True,
            max_shots=int(getattr(config, "max_shots", 10**6) or 10**6),
            batched=True,
            gradient_methods=("parameter-shift",),
            simulator=True,
            noisy=noisy,
            gpu=self._device == "GPU",
            precisions=("single", "double"),
            seeded=True,  # seed_simulator
        )

    # -- setup ----------------------------------------------------------------------------------
    def _check_device(self) -> None:
        """CPU always exists; the GPU subclass checks its device here."""

    @property
    def target(self) -> Target:
        return self._target

    def _method(self, exact: bool) -> str:
        return (self._exact_method if exact else self._shots_method) or "automatic"

    def _simulator(self, exact: bool, precision: str) -> Any:
        key = (exact, precision)
        sim = self._sims.get(key)
        if sim is None:
            method = self._method(exact)
            opts = dict(self._aer_options)
            # bind parameters inside Aer instead of building a circuit per binding
            opts.setdefault("runtime_parameter_bind_enable", True)
            sim = self._aer.AerSimulator(
                method=method, device=self._device, precision=precision, noise_model=self._noise, **opts
            )
            self._sims[key] = sim
        return sim

    def _transpile_target(self, sim: Any) -> Any:
        """``sim.target``, built once per simulator: Aer rebuilds its Target on every access of the
        property and ``transpile(backend=sim)`` reads it about 140 times, which made each new
        circuit cost 0.3-0.5 s of CPU; the same Target passed as ``target=`` gives the same circuit."""
        target = self._targets.get(id(sim))
        if target is None:
            target = self._targets[id(sim)] = sim.target
        return target

    def clear_cache(self) -> None:
        """Forget transpiled circuits (they are kept per (circuit, mode), least recently used first out)."""
        self._bodies.clear()
        self._programs.clear()

    # -- compile --------------------------------------------------------------------------------
    def _body(self, circuit: Circuit, exact: bool, phases: bool) -> tuple[Any, Any]:
        """(transpiled Qiskit circuit without readout, template): cached per (circuit, mode)."""
        key = (circuit, exact, phases)
        hit = self._bodies.get(key)
        if hit is not None:
            self._bodies.move_to_end(key)
            self.stats["cache_hits"] += 1
            return hit
        from qiskit import transpile

        sim = self._simulator(exact, "double")
        # Aer's initialize is used only by the state-vector method: its matrix-product-state
        # version prepares wrong amplitudes on a subset of qubits (Aer 0.18: norm 2 in our checks),
        # and the density-matrix and noise-model bases lack it; those get the rotation cascade
        init = "initialize" in sim.configuration().basis_gates and self._method(exact) in ("statevector", "automatic")
        # with shots, an initialize (it holds a reset) stops Aer from sampling every shot from one
        # final state: each shot re-ran the whole circuit (3000 shots: ~1000x slower); the rotation
        # cascade keeps the circuit unitary, so measurement sampling applies
        init = init and exact
        template = self._qk.to_qiskit_template(
            circuit,
            encoding="initialize" if init else "rotations",
            phases=phases,
            fixed_state_prep="initialize" if init else "state_preparation",
            global_phase=False,
        )
        target = self._transpile_target(sim)
        try:
            body = transpile(self._qk.expand_symbolic_u(template.circuit, target.operation_names), target=target,
                             optimization_level=0, seed_transpiler=0)
        except Exception as exc:  # the transpiler raises several unrelated types
            raise ValidationError(
                f"{self.backend_name}: Qiskit could not transpile the circuit for Aer: {exc}",
                backend=self.backend_name,
            ) from exc
        self.stats["transpiles"] += 1
        self._bodies[key] = (body, template)
        if len(self._bodies) > _CACHE_SIZE:
            self._bodies.popitem(last=False)
        return body, template

    def _translate(self, circuit: Circuit, task: Any, config: RunConfig) -> _Program:
        exact = config.shots is None
        phases = bool(task.inputs) and self._qk.needs_phases(task.inputs)
        key = (circuit, exact, phases, task.observables, bool(task.statevector and exact))
        prog = self._programs.get(key)
        if prog is not None:
            self._programs.move_to_end(key)
            self._body(circuit, exact, phases)  # keeps the body's LRU position and statistics honest
            return prog
        body, template = self._body(circuit, exact, phases)
        qc = body.copy()
        # Aer ignores symbolic global phases: keep the phase out of the circuit, apply it to states
        transpiler_phase = qc.global_phase
        qc.global_phase = 0.0
        n = circuit.num_qubits
        if exact:
            qc.save_probabilities(label="probs")
            for j, obs in enumerate(task.observables):
                qc.save_expectation_value(self._qk.pauli_sum_to_qiskit(obs), list(range(n)), label=f"ev{j}")
            if task.statevector:
                qc.save_statevector(label="sv")
        else:
            from qiskit import ClassicalRegister

            creg = ClassicalRegister(n, "meas")
            qc.add_register(creg)
            qc.measure(list(range(n)), list(range(n)))  # qubit q -> classical bit q
        placeholders = []
        if template.encoding == "initialize":
            labels = {s.label: s for s in template.slots}
            for i, ci in enumerate(qc.data):
                slot = labels.get(getattr(ci.operation, "label", None))
                if slot is not None:
                    placeholders.append((i, slot.source, 2 ** len(slot.qubits)))
            if len(placeholders) != len(labels):
                raise ValidationError(
                    f"{self.backend_name}: amplitude-encoding placeholders were lost in transpilation",
                    backend=self.backend_name,
                )
        prog = _Program(qc, template, exact, len(task.observables), bool(task.statevector and exact),
                        tuple(placeholders), transpiler_phase)
        self._programs[key] = prog
        if len(self._programs) > _CACHE_SIZE:
            self._programs.popitem(last=False)
        return prog

    # -- execute --------------------------------------------------------------------------------
    def _execute(self, tasks: Sequence[CompiledTask], config: RunConfig) -> list[TaskResult]:
        from qiskit.circuit import CircuitInstruction
        from qiskit.circuit.library import Initialize

        exact = config.shots is None
        circuits: list[Any] = []
        binds: list[dict] = []
        spans: list[tuple[int, int, int, np.ndarray]] = []  # (first experiment, count, B, phases)
        first = 0
        for comp in tasks:
            prog: _Program = comp.program
            task = comp.task
            B = task.batch_size
            columns = dict(zip(task.circuit.parameter_names, task.parameter_array().T))
            phase = np.zeros(B)
            if prog.template.encoding == "rotations":
                angles, extra = prog.template.input_angles(task.inputs, B)
                columns.update(angles)
                phase = phase + extra
            if prog.statevector:
                phase = phase + self._phase_rows(prog, comp.circuit, columns, B)
            qparams = list(prog.circuit.parameters)
            if prog.placeholders:
                rows = {name: self._qk.encoding_rows(task.inputs[name], size, B) for _, name, size in prog.placeholders}
                for b in range(B):
                    qc = prog.circuit.copy()
                    for i, name, _ in prog.placeholders:
                        init = Initialize(rows[name][b])
                        qc.data[i] = CircuitInstruction(init, qc.data[i].qubits, ())
                    circuits.append(qc)
                    binds.append({p: [float(np.broadcast_to(columns[p.name], (B,))[b])] for p in qparams})
                count = B
            elif qparams:
                circuits.append(prog.circuit)
                binds.append({p: np.broadcast_to(columns[p.name], (B,)).tolist() for p in qparams})
                count = B
            else:
                # no parameters: exact results are the same for every row; shots need B samples
                count = 1 if exact else B
                circuits.extend([prog.circuit] * count)
                binds.extend([{}] * count)
            spans.append((first, count, B, phase))
            first += count
        sim = self._simulator(exact, config.precision)
        run_opts: dict[str, Any] = {"shots": 1 if exact else config.shots}
        if config.seed is not None:
            run_opts["seed_simulator"] = int(config.seed)
        if any(binds):
            run_opts["parameter_binds"] = binds
        try:
            result = sim.run(circuits, **run_opts).result()
        except Exception as exc:  # Aer raises AerError and others from its C++ core
            raise JobError(f"{self.backend_name}: Aer failed: {exc}", backend=self.backend_name) from exc
        self.stats["runs"] += 1
        self.stats["experiments"] += len(result.results)
        if not result.success:
            bad = [r.status for r in result.results if not r.success]
            raise JobError(
                f"{self.backend_name}: Aer reported failure: {bad[0] if bad else result.status}",
                backend=self.backend_name,
            )
        return [
            self._task_result(comp, result, span, config)
            for comp, span in zip(tasks, spans)
        ]

    def _phase_rows(self, prog: _Program, circuit: Circuit, columns: Mapping[str, np.ndarray], B: int) -> np.ndarray:
        """Global phase per row: the qbridge circuit's, plus any the transpiler added."""
        phase = circuit.global_phase
        if hasattr(phase, "evaluate"):
            total = np.broadcast_to(np.asarray(phase.evaluate(columns), dtype=float), (B,)).copy()
        else:
            total = np.full(B, float(phase))
        gp = prog.transpiler_phase
        if hasattr(gp, "parameters") and gp.parameters:
            for b in range(B):
                values = {p: float(np.broadcast_to(columns[p.name], (B,))[b]) for p in gp.parameters}
                total[b] += float(np.real(complex(gp.bind(values))))
        else:
            total += float(np.real(complex(gp)))
        return total

    def _task_result(self, comp: CompiledTask, result: Any, span: tuple, config: RunConfig) -> TaskResult:
        first, count, B, phase = span
        prog: _Program = comp.program
        n = comp.circuit.num_qubits
        rows = [first + (b if count == B else 0) for b in range(B)]
        meta = {"method": self._exact_method if prog.exact else self._shots_method, "device": self._device,
                "noise": self._noise_source}
        readout = self.noise is not None and self.noise.has_readout
        if prog.exact:
            datas = [result.data(i) for i in range(first, first + count)]
            pick = [datas[b if count == B else 0] for b in range(B)]
            probs = self._qk.reverse_bits(np.stack([np.asarray(d["probs"], dtype=float) for d in pick]), n)
            if readout:  # Aer's probabilities hold no readout error; a qbridge model's exact results do
                probs = apply_readout(probs, self.noise, range(n))
            ev = None
            if prog.num_observables:
                ev = np.array([[float(np.real(d[f"ev{j}"])) for j in range(prog.num_observables)] for d in pick])
            state = None
            if prog.statevector:
                state = self._qk.reverse_bits(np.stack([np.asarray(d["sv"], dtype=complex) for d in pick]), n)
                state = state * np.exp(1j * phase)[:, None]
            return TaskResult(batch_size=B, num_qubits=n, probabilities=probs, statevector=state,
                              expectation_values=ev, metadata=meta)
        counts = tuple(self._qk.counts_from_qiskit(result.get_counts(i)) for i in rows)
        return TaskResult(batch_size=B, num_qubits=n, counts=counts, shots=config.shots, metadata=meta)


def _gpu_build_installed() -> str | None:
    for dist in ("qiskit-aer-gpu", "qiskit-aer-gpu-cu11", "qiskit-aer-gpu-cu12"):
        try:
            return importlib.metadata.version(dist) and dist
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _gpu_visible() -> bool:
    return os.path.exists("/dev/nvidiactl") or os.path.exists("/dev/nvidia0") or shutil.which("nvidia-smi") is not None


_GPU_FIX = (
    "install the GPU build of Aer on a Linux machine with an NVIDIA GPU "
    "(pip uninstall qiskit-aer && pip install qiskit-aer-gpu, or qbridge-aer[gpu]), "
    "or use the CPU backend 'aer'"
)


class AerGPUBackend(AerBackend):
    """Qiskit Aer on an NVIDIA GPU (the ``qiskit-aer-gpu`` build). Never falls back to the CPU."""

    name = "aer.gpu"
    description = "Qiskit Aer simulator on an NVIDIA GPU (needs qiskit-aer-gpu): exact, noisy or shots."
    _device = "GPU"

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        ok, reason = super().availability()
        if not ok:
            return ok, reason
        dist = _gpu_build_installed()
        if dist is None:
            return False, f"the GPU build of qiskit-aer is not installed (only the CPU build is); {_GPU_FIX}"
        if not _gpu_visible():
            return False, f"{dist} is installed but no NVIDIA GPU is visible (no /dev/nvidia* device); {_GPU_FIX}"
        return True, ""

    def _check_device(self) -> None:
        devices = tuple(self._aer.AerSimulator().available_devices())
        if "GPU" not in devices:
            raise BackendUnavailableError(
                f"{self.backend_name}: Aer reports devices {devices}, no 'GPU': {_GPU_FIX}",
                backend=self.backend_name,
            )
