"""The embedded ``torch`` backend: batched, differentiable state-vector simulation.

A thin class over :mod:`qbridge.sim.statevector`. Options: ``device`` and ``fast_path`` (default True; False
simulates every circuit gate by gate: slower, but second-order derivatives and ``torch.func``
transforms work through it, which the fast path's hand-written backwards do not support;
inside a ``torch.func`` transform the gate-by-gate path is taken on its own).
Precision comes with each run (``RunConfig.precision``: "single" -> complex64, "double" ->
complex128).

Where it computes. Without ``device`` (the default) the backend follows its inputs, as a torch
module does: a task whose parameter values or inputs are tensors on ``cuda:0`` is simulated on
``cuda:0``; a task of NumPy arrays on the CPU. Tensors of one task on two devices are a
:class:`~qbridge.exceptions.DeviceMismatchError`. ``device="cuda"`` (or "cuda:1", "cpu") pins the
backend: NumPy data is moved there, and tensors on another device are a DeviceMismatchError that
names the fix -- never a silent copy. CUDA without a GPU is an error, never a CPU run.

What comes back (the library's result convention, README "Results"): a task given NumPy arrays
(or nothing) gets NumPy results on the host (float64 probabilities and expectation values,
complex128 state vectors), whatever device simulated it; a task given torch tensors gets torch
tensors on the device it ran on, in the run's precision, carrying autograd history back to the
tensors that require grad.

Dispatch (:func:`qbridge.sim.fastpath.choose_method`): a circuit that encodes one input on all
qubits and then has only gates, run with one parameter binding, takes the unitary path with at
least ``fastpath.crossover(n)`` input rows (2^n up to n = 8, more above; U(theta) built once,
one matrix product) and the fused-layer path below that; anything else is simulated gate by
gate (:func:`qbridge.sim.statevector.simulate`). All give the same numbers; the choice is
recorded in ``TaskResult.metadata["method"]`` ("unitary", "layers" or "gates").

Noise (option ``noise``: a :class:`qbridge.noise.NoiseModel`, its JSON, or an IBM fake device
name): the target says ``noisy=True`` and gives no state vectors. A circuit of up to
``density_max_qubits`` qubits (default 10: a (B, 4^n) complex matrix per run) is simulated as
exact density matrices (:func:`qbridge.sim.density.simulate_density`), differentiable by
autograd; a wider one by ``trajectories`` (default 1000) Monte-Carlo trajectories per row
(:func:`qbridge.sim.density.simulate_trajectories`), drawn from the run's seed (a fresh one, recorded
in the metadata, without), with the standard errors of expectation values in ``stderr`` and of
probabilities in ``metadata["probability_stderr"]``. Probabilities and counts include the model's
readout errors; exact expectation values are Tr(rho O) (module docstring of :mod:`qbridge.noise`).
``metadata["method"]`` is "density_matrix" or "trajectories". A quantum layer's circuit (one
encoding of every qubit, then gates whose parameters every row shares) with more rows than 2^n
is read in the Heisenberg picture (:func:`qbridge.sim.density.heisenberg_readout`: the readout
operators evolve backwards once; ``metadata["picture"] == "heisenberg"``), the same numbers at a
cost that no longer grows with 4^n per row.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from ..exceptions import BackendUnavailableError, DeviceMismatchError
from ..ir.gates import GATES
from ..noise import NoiseModel, apply_readout, as_noise_model
from ..sim import density as dm
from ..sim import fastpath
from ..sim import statevector as sv
from .base import Backend, CompiledTask, RunConfig, Target, TaskResult, bitstring

__all__ = ["TorchBackend"]

MAX_QUBITS = 30
DENSITY_MAX_QUBITS = 10  # default: density matrices up to here, trajectories above
TRAJECTORIES = 1000  # default trajectories per row above the density-matrix limit


def _bindings_for(native: Any, task: Any) -> Any:
    """The task's bindings for the native circuit: by position when the parameter order is the
    task circuit's (always for this backend's own compile), else by name (a subclass with fewer
    native gates decomposes, and decompositions may reorder first appearances)."""
    pv = task.parameter_values
    if pv is None or native.parameter_names == task.circuit.parameter_names:
        return pv
    names = task.circuit.parameter_names
    return {name: pv[:, i] for i, name in enumerate(names) if name in set(native.parameter_names)}


def _functorch_active() -> bool:
    """Inside a torch.func transform (grad, vmap, jacrev, ...): the fast path's hand-written
    autograd functions do not support them, plain autograd gate by gate does (same numbers)."""
    probe = getattr(torch._C, "_are_functorch_transforms_active", None)
    return bool(probe()) if probe is not None else False


def _checked_device(device: Any) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise BackendUnavailableError(f"invalid torch device {device!r}: {exc}", backend="torch") from None
    if dev.type not in ("cpu", "cuda"):
        raise BackendUnavailableError(f"unsupported torch device type {dev.type!r}; use 'cpu' or 'cuda'", backend="torch")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise BackendUnavailableError(
                f"device={str(device)!r} was asked for but PyTorch sees no CUDA GPU (torch.cuda.is_available() "
                "is False); use device='cpu', leave device unset to compute where the inputs are, or use a "
                "machine with a GPU and a CUDA build of torch",
                backend="torch",
            )
        index = torch.cuda.current_device() if dev.index is None else dev.index
        if index >= torch.cuda.device_count():
            raise BackendUnavailableError(
                f"device {str(device)!r} does not exist: {torch.cuda.device_count()} GPU(s) visible", backend="torch"
            )
        dev = torch.device("cuda", index)  # "cuda" and "cuda:0" are one device: compare them as one
    return dev


def _same_device(dev: torch.device) -> torch.device:
    """``dev`` with a CUDA index filled in, so that "cuda" and "cuda:0" compare equal."""
    if dev.type == "cuda" and dev.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return dev


def _tensor_devices(task: Any) -> set[torch.device]:
    vals = [task.parameter_values, *task.inputs.values()]
    return {_same_device(v.device) for v in vals if torch.is_tensor(v)}


def _host(x: Any) -> Any:
    """A result array as NumPy on the host: float64 for real data, complex128 for complex."""
    if x is None:
        return None
    x = x.detach()
    return x.to("cpu", torch.complex128 if x.is_complex() else torch.float64).numpy()


class TorchBackend(Backend):
    name = "torch"
    description = ("Embedded batched, differentiable PyTorch state-vector simulator (CPU or CUDA); density matrices "
                   "and trajectories under noise=.")

    def __init__(self, *, name: str | None = None, device: str | torch.device | None = None, fast_path: bool = True,
                 noise: Any = None, density_max_qubits: int = DENSITY_MAX_QUBITS, trajectories: int = TRAJECTORIES,
                 **options: Any) -> None:
        if options:
            raise TypeError(
                f"unknown option(s) for the torch backend: {sorted(options)}; it accepts 'device', 'fast_path', "
                "'noise', 'density_max_qubits' and 'trajectories'"
            )
        if not isinstance(fast_path, bool):
            raise TypeError(f"fast_path must be True or False, got {fast_path!r}")
        for key, value in (("density_max_qubits", density_max_qubits), ("trajectories", trajectories)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{key} must be a positive integer, got {value!r}")
        model = as_noise_model(noise, "torch")
        super().__init__(name=name, device=None if device is None else str(device), fast_path=fast_path,
                         noise=None if model is None else model.to_dict(), density_max_qubits=density_max_qubits,
                         trajectories=trajectories)
        self.fast_path = fast_path
        #: the noise model, or None (noiseless state vectors)
        self.noise: NoiseModel | None = model
        self.density_max_qubits = density_max_qubits
        self.trajectories = trajectories
        #: the pinned device, or None: simulate where each task's tensors are (CPU for NumPy data)
        self.device = None if device is None else _checked_device(device)
        self._target = Target(
            num_qubits=MAX_QUBITS if model is None or model.num_qubits is None else min(MAX_QUBITS, model.num_qubits),
            # a noise model describes library gates: a noisy run sees the decomposition a device runs
            native_gates=frozenset(GATES) | ({"unitary", "mcu"} if model is None else {"unitary"}),
            supports_statevector=model is None,
            gradient_methods=("backprop",),
            noisy=model is not None,
            gpu=self.device is not None and self.device.type == "cuda",
            seeded=True,
            shot_bytes=0,  # multinomial counts: no per-shot buffer
        )

    @property
    def target(self) -> Target:
        return self._target

    def native_circuit(self, circuit):
        """Every library gate is native here: skip the rewrite (and keep the circuit object, whose
        cached fast-path plan then serves every later run of the same layer)."""
        body = circuit.without_measurements() if circuit.has_measurements else circuit
        if self.noise is not None and any(op.name == "mcu" for op in body):
            body = body.decompose(self._target.native_gates)
        return body

    def validate(self, task: Any, config: RunConfig) -> None:
        """The base checks, then the state vector's memory against the device (qbridge.limits)."""
        super().validate(task, config)
        from ..limits import check_memory, statevector_bytes

        n, batch = task.circuit.num_qubits, task.batch_size
        itemsize = 16 if config.precision == "double" else 8
        if self.noise is not None and n <= self.density_max_qubits:  # (B, 4^n) density matrices
            needed, what = statevector_bytes(2 * n, batch, itemsize), f"a {n}-qubit density matrix"
        elif self.noise is not None:  # trajectories: (B, T, 2^n)
            needed = statevector_bytes(n, batch * self.trajectories, itemsize)
            what = f"{self.trajectories} trajectories of a {n}-qubit state vector"
        else:
            needed, what = statevector_bytes(n, batch, itemsize), f"a {n}-qubit state vector"
        check_memory(
            needed,
            f"{what} x batch {batch} in {config.precision} precision",
            "use fewer qubits or a smaller batch" + (", precision='single'" if itemsize == 16 else "")
            + ", or a backend for large circuits (aer with method=matrix_product_state)",
            device=self._device_for(task), backend=self._name,
        )

    def _device_for(self, task: Any) -> torch.device:
        """Where ``task`` runs: the pinned device, else where its tensors are (CPU for NumPy)."""
        found = _tensor_devices(task)
        if self.device is not None:
            stray = sorted(str(d) for d in found if d != self.device)
            if stray:
                raise DeviceMismatchError(
                    f"the torch backend is pinned to {self.device} but was given tensors on {', '.join(stray)}; "
                    f"move them with .to({str(self.device)!r}), or create the backend without device= so that it "
                    "computes where its inputs are",
                    backend=self._name,
                )
            return self.device
        if len(found) > 1:
            raise DeviceMismatchError(
                f"one task holds tensors on several devices ({', '.join(sorted(map(str, found)))}); move the "
                "parameter values and inputs to one device (a module: model.to(device) and inputs on that device)",
                backend=self._name,
            )
        return found.pop() if found else torch.device("cpu")

    def _dtype(self, config: RunConfig) -> torch.dtype:
        return torch.complex128 if config.precision == "double" else torch.complex64

    def _noisy(self, comp: CompiledTask, config: RunConfig, device: torch.device, dtype: torch.dtype,
               seed: Any) -> tuple[Any, Any, Any, dict[str, Any]]:
        """(probabilities with readout errors, expectation values, their stderr, metadata) under the model."""
        task, model = comp.task, self.noise
        n = comp.circuit.num_qubits
        values = _bindings_for(comp.circuit, task)
        want_ev = bool(task.observables) and config.shots is None
        meta: dict[str, Any] = {"device": str(device), "dtype": str(dtype), "noise": model.source or "model"}
        if n <= self.density_max_qubits:
            pv = task.parameter_values  # (B_p, P) or None: rows of bindings, shared when one
            param_rows = pv.shape[0] if pv is not None and pv.shape[1] else 1
            if dm.encoded_readout_applies(comp.circuit, task.batch_size, param_rows):
                # a quantum layer's shape: evolve the readout operators once, read every row
                probs, ev = dm.heisenberg_readout(comp.circuit, values, task.inputs, noise=model,
                                                  observables=task.observables if want_ev else (),
                                                  dtype=dtype, device=device)
                return (apply_readout(probs, model, range(n)), ev, None,
                        {**meta, "method": "density_matrix", "picture": "heisenberg"})
            rho = dm.simulate_density(comp.circuit, values, task.inputs, noise=model, dtype=dtype, device=device)
            if rho.shape[0] == 1 and task.batch_size > 1:
                rho = rho.expand(task.batch_size, -1, -1)
            probs = apply_readout(dm.density_probabilities(rho), model, range(n))
            ev = dm.density_expectation_values(rho, task.observables) if want_ev else None
            return probs, ev, None, {**meta, "method": "density_matrix"}
        state_seed = int(seed.generate_state(1)[0]) if seed is not None else int(np.random.SeedSequence().generate_state(1)[0])
        gen = torch.Generator(device=device).manual_seed(state_seed)
        T = self.trajectories
        psi = dm.simulate_trajectories(comp.circuit, values, task.inputs, noise=model, trajectories=T,
                                       generator=gen, dtype=dtype, device=device)
        if psi.shape[0] == 1 and task.batch_size > 1:
            # nothing varies along the batch: every row is the same distribution (the same trajectories)
            psi = psi.expand(task.batch_size, -1, -1)
        B = psi.shape[0]
        per = apply_readout(sv.probabilities(psi.reshape(B * T, -1)), model, range(n)).reshape(B, T, -1)
        probs = per.mean(1)
        meta = {**meta, "method": "trajectories", "trajectories": T, "trajectory_seed": state_seed,
                "probability_stderr": _host(per.std(1) / np.sqrt(T)) if T > 1 else None}
        ev = err = None
        if want_ev:
            e = sv.expectation_values(psi.reshape(B * T, -1), task.observables).reshape(B, T, -1)
            ev = e.mean(1)
            err = _host(e.std(1) / np.sqrt(T)) if T > 1 else np.full(tuple(ev.shape), np.inf)
        return probs, ev, err, meta

    def _execute(self, tasks: Sequence[CompiledTask], config: RunConfig) -> list[TaskResult]:
        dtype = self._dtype(config)
        rng_seed = np.random.SeedSequence(config.seed) if config.seed is not None else None
        seeds = rng_seed.spawn(len(tasks)) if rng_seed is not None else [None] * len(tasks)
        out: list[TaskResult] = []
        for comp, seed in zip(tasks, seeds):
            task = comp.task
            device = self._device_for(task)
            n = comp.circuit.num_qubits
            if self.noise is not None:
                traj_seed, count_seed = seed.spawn(2) if seed is not None else (None, None)
                probs, ev, err, meta = self._noisy(comp, config, device, dtype, traj_seed)
                B = probs.shape[0]
                if config.shots is None:
                    if not _tensor_devices(task):
                        probs, ev = _host(probs), _host(ev)
                    out.append(TaskResult(batch_size=B, num_qubits=n, probabilities=probs, expectation_values=ev,
                                          stderr=err, metadata=meta))
                else:
                    counts = sv.sample_counts(probs, config.shots,
                                              None if count_seed is None else int(count_seed.generate_state(1)[0]))
                    out.append(TaskResult(
                        batch_size=B, num_qubits=n,
                        counts=tuple({bitstring(int(i), n): int(row[i]) for i in np.flatnonzero(row)} for row in counts),
                        shots=config.shots, metadata=meta))
                continue
            values = _bindings_for(comp.circuit, task)
            method = "gates"
            if self.fast_path and not _functorch_active():
                method = fastpath.choose_method(comp.circuit, values, task.inputs)
            if method != "gates":
                fast = fastpath.run_fast(comp.circuit, values, task.inputs, dtype=dtype, device=device, method=method)
                B = fast.batch_size
                probs = fast.probabilities()
                state = fast.statevector() if task.statevector else None
                ev = fast.expectation_values(task.observables) if task.observables and config.shots is None else None
            else:
                state = sv.simulate(comp.circuit, values, task.inputs, dtype=dtype, device=device)
                if state.shape[0] == 1 and task.batch_size > 1:
                    # nothing varies along the batch (no parameters, no inputs): every row is equal
                    state = state.expand(task.batch_size, -1)
                B = state.shape[0]
                probs = sv.probabilities(state)
                ev = sv.expectation_values(state, task.observables) if task.observables and config.shots is None else None
            if config.shots is None:
                if not _tensor_devices(task):  # NumPy in, NumPy out (module docstring)
                    probs, state, ev = _host(probs), _host(state), _host(ev)
                out.append(
                    TaskResult(
                        batch_size=B,
                        num_qubits=n,
                        probabilities=probs,
                        statevector=state if task.statevector else None,
                        expectation_values=ev,
                        metadata={"device": str(device), "dtype": str(dtype), "method": method},
                    )
                )
            else:
                counts = sv.sample_counts(probs, config.shots, None if seed is None else int(seed.generate_state(1)[0]))
                out.append(
                    TaskResult(
                        batch_size=B,
                        num_qubits=n,
                        counts=tuple(
                            {bitstring(int(i), n): int(row[i]) for i in np.flatnonzero(row)} for row in counts
                        ),
                        shots=config.shots,
                        metadata={"device": str(device), "method": method},
                    )
                )
        return out
