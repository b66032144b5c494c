"""The embedded ``torch`` backend: batched, differentiable state-vector simulation.

A thin class over :mod:`qbridge.sim.statevector`. Options: ``device`` ("cpu", "cuda", "cuda:1",
...; CUDA without a GPU is an error, never a CPU run) and ``fast_path`` (default True; False
simulates every circuit gate by gate: slower, but second-order derivatives and ``torch.func``
transforms work through it, which the fast path's hand-written backwards do not support;
inside a ``torch.func`` transform the gate-by-gate path is taken on its own).
Precision comes with each run (``RunConfig.precision``: "single" -> complex64, "double" ->
complex128).

Results keep torch tensors (probabilities, state vectors, expectation values) so that gradients
flow to parameter values and input vectors given as tensors with ``requires_grad``.

Dispatch (:func:`qbridge.sim.fastpath.choose_method`): a circuit that encodes one input on all
qubits and then has only gates, run with one parameter binding, takes the unitary path with at
least ``fastpath.crossover(n)`` input rows (2^n up to n = 8, more above; U(theta) built once,
one matrix product) and the fused-layer path below that; anything else is simulated gate by
gate (:func:`qbridge.sim.statevector.simulate`). All give the same numbers; the choice is
recorded in ``TaskResult.metadata["method"]`` ("unitary", "layers" or "gates").
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from ..exceptions import BackendUnavailableError
from ..ir.gates import GATES
from ..sim import fastpath
from ..sim import statevector as sv
from .base import Backend, CompiledTask, RunConfig, Target, TaskResult, bitstring

__all__ = ["TorchBackend"]

MAX_QUBITS = 30


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


class TorchBackend(Backend):
    name = "torch"
    description = "Embedded batched, differentiable PyTorch state-vector simulator (CPU or CUDA)."

    def __init__(self, *, name: str | None = None, device: str = "cpu", fast_path: bool = True, **options: Any) -> None:
        if options:
            raise TypeError(
                f"unknown option(s) for the torch backend: {sorted(options)}; it accepts 'device' and 'fast_path'"
            )
        if not isinstance(fast_path, bool):
            raise TypeError(f"fast_path must be True or False, got {fast_path!r}")
        super().__init__(name=name, device=device, fast_path=fast_path)
        self.fast_path = fast_path
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise BackendUnavailableError(f"invalid torch device {device!r}: {exc}", backend="torch") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailableError(
                "device='cuda' was asked for but PyTorch sees no CUDA GPU (torch.cuda.is_available() "
                "is False); use device='cpu' or a machine with a GPU and a CUDA build of torch",
                backend="torch",
            )
        if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
            raise BackendUnavailableError(
                f"device {device!r} does not exist: {torch.cuda.device_count()} GPU(s) visible", backend="torch"
            )
        if dev.type not in ("cpu", "cuda"):
            raise BackendUnavailableError(f"unsupported torch device type {dev.type!r}; use 'cpu' or 'cuda'", backend="torch")
        self.device = dev
        self._target = Target(
            num_qubits=MAX_QUBITS,
            native_gates=frozenset(GATES) | {"unitary"},
            gradient_methods=("backprop",),
            gpu=dev.type == "cuda",
            seeded=True,
        )

    @property
    def target(self) -> Target:
        return self._target

    def native_circuit(self, circuit):
        """Every library gate is native here: skip the rewrite (and keep the circuit object, whose
        cached fast-path plan then serves every later run of the same layer)."""
        if not circuit.has_measurements:
            return circuit
        return circuit.without_measurements()

    def _dtype(self, config: RunConfig) -> torch.dtype:
        return torch.complex128 if config.precision == "double" else torch.complex64

    def _execute(self, tasks: Sequence[CompiledTask], config: RunConfig) -> list[TaskResult]:
        dtype = self._dtype(config)
        rng_seed = np.random.SeedSequence(config.seed) if config.seed is not None else None
        seeds = rng_seed.spawn(len(tasks)) if rng_seed is not None else [None] * len(tasks)
        out: list[TaskResult] = []
        for comp, seed in zip(tasks, seeds):
            task = comp.task
            n = comp.circuit.num_qubits
            values = _bindings_for(comp.circuit, task)
            method = "gates"
            if self.fast_path and not _functorch_active():
                method = fastpath.choose_method(comp.circuit, values, task.inputs)
            if method != "gates":
                fast = fastpath.run_fast(comp.circuit, values, task.inputs, dtype=dtype, device=self.device, method=method)
                B = fast.batch_size
                probs = fast.probabilities()
                state = fast.statevector() if task.statevector else None
                ev = fast.expectation_values(task.observables) if task.observables and config.shots is None else None
            else:
                state = sv.simulate(comp.circuit, values, task.inputs, dtype=dtype, device=self.device)
                if state.shape[0] == 1 and task.batch_size > 1:
                    # nothing varies along the batch (no parameters, no inputs): every row is equal
                    state = state.expand(task.batch_size, -1)
                B = state.shape[0]
                probs = sv.probabilities(state)
                ev = sv.expectation_values(state, task.observables) if task.observables and config.shots is None else None
            if config.shots is None:
                out.append(
                    TaskResult(
                        batch_size=B,
                        num_qubits=n,
                        probabilities=probs,
                        statevector=state if task.statevector else None,
                        expectation_values=ev,
                        metadata={"device": str(self.device), "dtype": str(dtype), "method": method},
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
                        metadata={"device": str(self.device), "method": method},
                    )
                )
        return out
