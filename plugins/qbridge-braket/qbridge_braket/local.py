"""``braket.local`` and ``braket.dm``: Braket's local state-vector and density-matrix simulators.

Owns: creating the (seeded) local simulator, running programs on it, and ``braket.dm``'s noise
option. Compilation, packing and result parsing are the shared :class:`~qbridge_braket.base.BraketBackendBase`'s.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import replace
from typing import Any, Mapping, Sequence

from qbridge.backends.base import RunConfig
from qbridge.exceptions import BackendUnavailableError

from .base import BraketBackendBase, _sdk_availability
from .capabilities import describe, make_target
from .noise import ModelNoise
from .qasm import NoiseModel

__all__ = ["BraketLocalBackend", "BraketDMBackend"]


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
