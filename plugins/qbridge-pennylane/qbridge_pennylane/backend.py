"""qbridge backends over PennyLane devices.

Names: ``pennylane.lightning.qubit``, ``pennylane.lightning.gpu``, ``pennylane.default.qubit``,
and ``pennylane.<device>`` for any other installed PennyLane qubit device (the registry's
``pennylane.*`` family entry passes the full name as ``name=``).

Importing this module imports no PennyLane: ``availability()`` reads the ``pennylane.plugins``
entry points through :mod:`importlib.metadata` and :func:`importlib.util.find_spec`; PennyLane
is imported when a backend is created, and the device is probed then (a one-qubit circuit), so a
device that cannot run here (``lightning.gpu`` without a GPU, ``default.tensor`` without quimb)
fails at creation with :class:`~qbridge.exceptions.BackendUnavailableError`, never later and
never by running somewhere else.

Options (``get_backend(name, **options)``):

- ``device_options``: a mapping passed on to ``qml.device`` (for example ``{"max_workers": 2}``
  for default.qubit or ``{"batch_obs": True}`` for lightning). ``wires``, ``shots``, ``seed`` and
  ``c_dtype`` are set per run by qbridge and may not appear there.

Per run (``RunConfig``): ``shots`` (None: exact ``probs``/``state``/``expval``; else ``qml.sample``
on the device), ``seed`` (the device's ``seed`` argument; a fresh device per run, so the same seed
gives the same counts), ``precision`` (lightning's ``c_dtype``: complex64 or complex128;
default.qubit computes in complex128 whatever is asked).

One submission: all tasks of a run, each a tape broadcast over its batch of bindings, go to the
device in one ``qml.execute`` call (devices without broadcasting split the tapes themselves).

Gradients: when parameter values (or inputs) are torch tensors that require grad and the run is
exact, the tapes execute through PennyLane's torch interface and the results carry autograd:
``backprop`` on default.qubit (probabilities, state vectors, expectation values, inputs too);
on lightning ``adjoint`` for expectation values and ``parameter-shift`` (per binding) for
probabilities; other devices ``parameter-shift``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import os
import shutil
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from qbridge.backends.base import Backend, CompiledTask, RunConfig, Target, Task, TaskResult, bitstring
from qbridge.exceptions import BackendUnavailableError, JobError, QBridgeError, ValidationError

__all__ = [
    "PennyLaneBackend",
    "LightningQubitBackend",
    "LightningGPUBackend",
    "DefaultQubitBackend",
    "device_availability",
]


@contextlib.contextmanager
def _default_dtype(precision: str):
    """torch's default float dtype is float64 inside, for a double-precision run.

    PennyLane's torch interface turns a result that comes back as a Python float into a tensor of
    the default dtype, and lightning's adjoint pass returns Python floats: in float32 a
    double-precision expectation value came back rounded (2e-8 off, measured). The default is
    process-wide, so it is restored as soon as the call returns.
    """
    import torch

    old = torch.get_default_dtype()
    if precision == "double":
        torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


PREFIX = "pennylane."
MAX_QUBITS = 30  # a complex128 state of 30 qubits is 16 GiB
# Registered under pennylane.plugins but not qubit simulators that qbridge circuits can run on.
_UNSUITABLE = {"default.gaussian": "a continuous-variable device", "default.qutrit": "a qutrit device",
              "default.qutrit.mixed": "a qutrit device",
              "null.qubit": "a device that performs no simulation (it returns placeholders)"}
# Devices that need a package of their own beyond PennyLane (checked with find_spec, not imported).
_EXTRA_MODULES = {"default.tensor": ("quimb", "pip install quimb"), "default.clifford": ("stim", "pip install stim")}
_INSTALL_HINT = {
    "lightning.qubit": "pip install pennylane-lightning",
    "lightning.gpu": "pip install pennylane-lightning-gpu (needs an NVIDIA GPU with CUDA 12)",
    "lightning.kokkos": "pip install pennylane-lightning-kokkos",
}
_GPU_DEVICES = {"lightning.gpu"}
_RUN_SET = ("wires", "shots", "seed", "c_dtype")


def _installed_devices() -> dict[str, str]:
    """PennyLane device name -> distribution, from entry points (imports nothing)."""
    from importlib.metadata import entry_points

    return {ep.name: (ep.dist.name if ep.dist is not None else "") for ep in entry_points(group="pennylane.plugins")}


def _gpu_visible() -> tuple[bool, str]:
    """Whether an NVIDIA GPU is visible to this process, without loading CUDA."""
    if os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1"):
        return False, "CUDA_VISIBLE_DEVICES hides every GPU"
    if os.path.exists("/dev/nvidiactl") or os.path.exists("/dev/nvidia0") or shutil.which("nvidia-smi"):
        return True, ""
    return False, "no NVIDIA GPU is visible here (no /dev/nvidia0, no nvidia-smi)"


def device_availability(device: str) -> tuple[bool, str]:
    """Whether the PennyLane device ``device`` can be created here, and why not."""
    if importlib.util.find_spec("pennylane") is None:
        return False, "PennyLane is not installed: pip install pennylane"
    if device in _UNSUITABLE:
        return False, f"{device!r} is {_UNSUITABLE[device]}; qbridge needs a simulating qubit device"
    installed = _installed_devices()
    if device not in installed:
        hint = _INSTALL_HINT.get(device, "install the PennyLane plugin that provides it")
        return False, f"the PennyLane device {device!r} is not installed: {hint}"
    if device in _EXTRA_MODULES and importlib.util.find_spec(_EXTRA_MODULES[device][0]) is None:
        module, how = _EXTRA_MODULES[device]
        return False, f"the PennyLane device {device!r} needs {module}: {how}"
    if device in _GPU_DEVICES:
        ok, why = _gpu_visible()
        if not ok:
            return False, f"{device!r} is installed but needs an NVIDIA GPU: {why}"
    return True, ""


@dataclass(frozen=True)
class _Part:
    spec: Any  # translate.TapeSpec
    method: str | None  # None: plain NumPy execution; else the PennyLane diff_method


@dataclass(frozen=True)
class _Program:
    parts: tuple[_Part, ...]
    differentiable: bool


def _requires_grad(task: Task) -> bool:
    vals = [task.parameter_values, *task.inputs.values()]
    return any(getattr(v, "requires_grad", False) for v in vals if v is not None)


class PennyLaneBackend(Backend):
    """A PennyLane qubit device as a qbridge backend (the ``pennylane.*`` family)."""

    name = "pennylane.*"
    description = "Any installed PennyLane qubit device, as pennylane.<device> (e.g. pennylane.default.mixed)."
    device: ClassVar[str | None] = None  # fixed by the named subclasses
    gradient_methods: ClassVar[tuple[str, ...] | None] = None

    # -- registry hooks (no PennyLane import) ----------------------------------------------------
    @classmethod
    def availability(cls) -> tuple[bool, str]:
        if cls.device is not None:
            return device_availability(cls.device)
        if importlib.util.find_spec("pennylane") is None:
            return False, "PennyLane is not installed: pip install pennylane"
        return True, ""

    @classmethod
    def availability_of(cls, name: str) -> tuple[bool, str]:
        if not name.startswith(PREFIX) or name == PREFIX + "*":
            return cls.availability()
        return device_availability(name[len(PREFIX):])

    @classmethod
    def family_members(cls) -> list[str]:
        if importlib.util.find_spec("pennylane") is None:
            return []
        return sorted(PREFIX + d for d in _installed_devices() if d not in _UNSUITABLE)

    # -- creation --------------------------------------------------------------------------------
    def __init__(self, *, name: str | None = None, device_options: Mapping[str, Any] | None = None,
                 **options: Any) -> None:
        if options:
            raise TypeError(
                f"unknown option(s) for {name or type(self).name}: {sorted(options)}; PennyLane backends "
                "accept 'device_options' (a mapping passed on to qml.device)"
            )
        full = name or type(self).name
        if self.device is not None:
            device = self.device
        else:
            if not full.startswith(PREFIX) or full.endswith("*"):
                raise BackendUnavailableError(
                    f"name a PennyLane device as pennylane.<device> (for example pennylane.default.mixed), got {full!r}",
                    backend=full,
                )
            device = full[len(PREFIX):]
        device_options = dict(device_options or {})
        clash = sorted(set(device_options) & set(_RUN_SET))
        if clash:
            raise TypeError(
                f"device_options may not set {clash}: qbridge sets wires per circuit and shots, seed and "
                "precision per run (RunConfig)"
            )
        super().__init__(name=full, device_options=device_options)
        ok, why = device_availability(device)
        if not ok:
            raise BackendUnavailableError(f"backend {full!r} is not available here: {why}", backend=full)
        try:
            import pennylane as qml
        except Exception as exc:  # a broken install: report it as such, with its cause
            raise BackendUnavailableError(f"PennyLane failed to import: {type(exc).__name__}: {exc}", backend=full) from exc
        from . import translate

        self._qml = qml
        self._tr = translate
        self.device_name = device
        self.device_options = device_options
        self._ctor_args = self._constructor_arguments(device)
        self._probe()

    def _constructor_arguments(self, device: str) -> set[str] | None:
        """Keyword names the device class accepts (None: it takes **kwargs)."""
        try:
            cls = self._qml.devices.device_constructor.plugin_devices[device].load()
            params = inspect.signature(cls).parameters
        except (KeyError, TypeError, ValueError, AttributeError):
            return None
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return None
        return set(params)

    def _accepts(self, arg: str) -> bool:
        return self._ctor_args is None or arg in self._ctor_args

    def _make_device(self, num_qubits: int, *, seed: int | None = None, precision: str = "double"):
        kwargs: dict[str, Any] = dict(self.device_options)
        if self._accepts("seed"):
            # None: fresh OS entropy (PennyLane's default, "global", would draw on NumPy's global RNG)
            kwargs["seed"] = seed
        if self._accepts("c_dtype"):
            kwargs["c_dtype"] = np.complex64 if precision == "single" else np.complex128
        return self._qml.device(self.device_name, wires=num_qubits, **kwargs)

    def _probe(self) -> None:
        """Create the device and run a one-qubit circuit: whatever stops it surfaces now."""
        qml = self._qml
        try:
            dev = self._make_device(1)
        except Exception as exc:  # any SDK failure here means: cannot run here
            raise BackendUnavailableError(
                f"cannot create the PennyLane device {self.device_name!r}: {type(exc).__name__}: {exc}",
                backend=self._name,
            ) from exc
        ops = [qml.Hadamard(0), qml.RZ(0.25, 0)]
        try:
            out = qml.execute([qml.tape.QuantumScript(ops, [qml.probs(wires=[0])])], dev)[0]
        except Exception as exc:
            raise BackendUnavailableError(
                f"the PennyLane device {self.device_name!r} cannot run a one-qubit circuit: "
                f"{type(exc).__name__}: {exc}",
                backend=self._name,
            ) from exc
        if not np.allclose(np.asarray(out, dtype=float), [0.5, 0.5], atol=1e-5):
            raise BackendUnavailableError(
                f"the PennyLane device {self.device_name!r} does not simulate (H|0> gave {np.asarray(out)}); "
                "pick a simulating device",
                backend=self._name,
            )
        try:
            st = qml.execute([qml.tape.QuantumScript(ops, [qml.state()])], dev)[0]
            statevector = np.asarray(st).shape == (2,)  # default.mixed returns a density matrix
        except Exception:  # the device has no state readout: declared unsupported below
            statevector = False
        caps = getattr(dev, "capabilities", None)
        methods = self.gradient_methods
        if methods is None:
            methods = ("parameter-shift",)
        gpu = self.device_name in _GPU_DEVICES
        self._seedable = self._accepts("seed")
        self._target = Target(
            num_qubits=MAX_QUBITS if statevector else MAX_QUBITS // 2,
            native_gates=self._tr.native_gates(caps),
            supports_statevector=statevector,
            gradient_methods=tuple(methods),
            gpu=gpu,
            precisions=("single", "double"),
            seeded=True,  # a fresh device per run, seeded from RunConfig.seed
        )

    @property
    def target(self) -> Target:
        return self._target

    # -- compile ---------------------------------------------------------------------------------
    def validate(self, task: Task, config: RunConfig) -> None:
        super().validate(task, config)
        if config.shots is not None and config.seed is not None and not self._seedable:
            raise ValidationError(
                f"the PennyLane device {self.device_name!r} has no seed option; drop seed or use a device that has one",
                backend=self._name,
            )

    def _translate(self, circuit, task: Task, config: RunConfig) -> _Program:
        tr = self._tr
        sv = task.statevector
        if config.shots is not None:
            spec = tr.build_tape(circuit, task, shots=config.shots, statevector=False)
            return _Program((_Part(spec, None),), False)
        if not _requires_grad(task):
            spec = tr.build_tape(circuit, task, shots=None, statevector=sv, observables=task.observables)
            return _Program((_Part(spec, None),), False)
        method = self._target.gradient_methods[0]
        if method == "backprop":
            spec = tr.build_tape(circuit, task, shots=None, statevector=sv, observables=task.observables,
                                 differentiable=True)
            return _Program((_Part(spec, "backprop"),), True)
        if any(getattr(v, "requires_grad", False) for v in task.inputs.values()):
            raise ValidationError(
                f"gradients with respect to encoded inputs need backprop, which {self._name} does not offer; "
                "use pennylane.default.qubit or torch, or detach the inputs",
                backend=self._name, instruction="amplitude_encode",
            )
        if sv:
            raise ValidationError(
                f"{self._name} cannot differentiate state vectors ({method} differentiates expectation values and "
                "probabilities); ask for expectation values, or use pennylane.default.qubit (backprop)",
                backend=self._name,
            )
        parts = [_Part(tr.build_tape(circuit, task, shots=None, statevector=False, differentiable=True),
                       "parameter-shift")]
        if task.observables:
            spec = tr.build_tape(circuit, task, shots=None, statevector=False, differentiable=True,
                                 probabilities=False, observables=task.observables)
            if spec.tape.measurements:
                parts.append(_Part(spec, method))
            else:  # identity-only observables: constants, nothing to run
                parts.append(_Part(spec, None))
        return _Program(tuple(parts), True)

    # -- run -------------------------------------------------------------------------------------
    def _execute(self, tasks: Sequence[CompiledTask], config: RunConfig) -> list[TaskResult]:
        qml = self._qml
        widths = sorted({c.circuit.num_qubits for c in tasks})
        seeds: dict[int, int | None] = {w: None for w in widths}
        if config.seed is not None and config.shots is not None:
            children = np.random.SeedSequence(config.seed).spawn(len(widths))
            seeds = {w: int(ch.generate_state(1)[0]) for w, ch in zip(widths, children)}
        devices = {w: self._make_device(w, seed=seeds[w], precision=config.precision) for w in widths}
        # one qml.execute per (width, method): normally exactly one for the whole run
        groups: dict[tuple[int, str | None], list[tuple[int, int]]] = {}
        for t, comp in enumerate(tasks):
            for p, part in enumerate(comp.program.parts):
                if part.method is None and not part.spec.tape.measurements:
                    continue
                groups.setdefault((comp.circuit.num_qubits, part.method), []).append((t, p))
        raw: dict[tuple[int, int], Any] = {}
        for (width, method), members in groups.items():
            tapes = [tasks[t].program.parts[p].spec.tape for t, p in members]
            post = None
            if method == "parameter-shift":
                # PennyLane's parameter-shift rule does not take broadcast tapes: one tape per binding
                expanded = [qml.transforms.broadcast_expand(tp) for tp in tapes]
                flat = [x for tps, _ in expanded for x in tps]
                sizes = [len(tps) for tps, _ in expanded]
                post = (expanded, sizes)
                tapes = flat
            try:
                if method is None:
                    out = qml.execute(tapes, devices[width], diff_method=None)
                else:
                    with _default_dtype(config.precision):
                        out = qml.execute(tapes, devices[width], diff_method=method, interface="torch")
            except QBridgeError:
                raise
            except Exception as exc:  # the SDK's own failure, reported with its type and cause
                raise JobError(
                    f"{self._name}: PennyLane failed to execute: {type(exc).__name__}: {exc}", backend=self._name
                ) from exc
            if post is not None:
                expanded, sizes = post
                regrouped, k = [], 0
                for (_, fn), size in zip(expanded, sizes):
                    regrouped.append(fn(out[k:k + size]))
                    k += size
                out = regrouped
            for key, res in zip(members, out):
                raw[key] = res
        return [self._result(comp, t, raw, config) for t, comp in enumerate(tasks)]

    def _result(self, comp: CompiledTask, t: int, raw: Mapping[tuple[int, int], Any], config: RunConfig) -> TaskResult:
        prog: _Program = comp.program
        task = comp.task
        B = task.batch_size
        n = comp.circuit.num_qubits
        meta = {"device": self.device_name, "pennylane_version": self._qml.__version__}
        if config.shots is not None:
            spec = prog.parts[0].spec
            samples = np.asarray(raw[(t, 0)])
            samples = samples.reshape(-1, config.shots, n).astype(np.int64)  # (B, shots, n), wire 0 first
            weights = 1 << np.arange(n - 1, -1, -1)  # wire 0 is the most significant bit
            index = samples @ weights  # (B, shots)
            rows = [np.bincount(r, minlength=2**n) for r in index]  # B rows (translate.build_tape)
            counts = tuple({bitstring(int(i), n): int(r[i]) for i in np.flatnonzero(r)} for r in rows)
            return TaskResult(batch_size=B, num_qubits=n, counts=counts, shots=config.shots, metadata=meta)
        xp = _Torch() if prog.differentiable else _NumPy()
        probs = state = ev = None
        for p, part in enumerate(prog.parts):
            spec = part.spec
            res = raw.get((t, p), ())
            if len(spec.tape.measurements) == 1:
                res = (res,)
            i = 0
            if spec.probabilities:
                probs = xp.rows(res[0], B, 2**n)
                i += 1
            if spec.statevector:
                state = xp.rows(res[i], B, 2**n)
                i += 1
            if spec.weights is not None:
                # observable k = its identity part + its weights on the measured Pauli words
                values = xp.columns(res[i:], B)  # (B, n_words)
                ev = xp.combine(values, spec.weights, spec.constants, B)
        return TaskResult(batch_size=B, num_qubits=n, probabilities=probs, statevector=state,
                          expectation_values=ev if task.observables else None, metadata=meta)


class _NumPy:
    @staticmethod
    def rows(x: Any, B: int, dim: int) -> np.ndarray:
        a = np.asarray(x).reshape(-1, dim)
        return np.array(np.broadcast_to(a, (B, dim)))

    @staticmethod
    def columns(xs: Sequence[Any], B: int) -> np.ndarray:
        cols = [np.broadcast_to(np.asarray(x, dtype=float).reshape(-1), (B,)) for x in xs]
        return np.stack(cols, axis=1) if cols else np.zeros((B, 0))

    @staticmethod
    def combine(values: np.ndarray, weights: np.ndarray, constants: np.ndarray, B: int) -> np.ndarray:
        return constants[None, :] + values @ weights.T


class _Torch:
    @staticmethod
    def _t(x: Any):
        import torch

        if isinstance(x, (list, tuple)):
            return torch.stack([_Torch._t(v) for v in x])
        return x if torch.is_tensor(x) else torch.as_tensor(np.asarray(x), device="cpu")

    @classmethod
    def rows(cls, x: Any, B: int, dim: int):
        a = cls._t(x).reshape(-1, dim)
        return a.expand(B, dim) if a.shape[0] == 1 and B > 1 else a

    @classmethod
    def columns(cls, xs: Sequence[Any], B: int):
        import torch

        cols = [cls._t(x).to(torch.float64).reshape(-1).expand(B) for x in xs]
        return torch.stack(cols, dim=1) if cols else torch.zeros((B, 0), dtype=torch.float64, device="cpu")

    @staticmethod
    def combine(values, weights: np.ndarray, constants: np.ndarray, B: int):
        import torch

        # PennyLane computes on the host; the layer moves results to its own device afterwards
        w = torch.as_tensor(weights, dtype=torch.float64, device="cpu")
        c = torch.as_tensor(constants, dtype=torch.float64, device="cpu")
        return c.unsqueeze(0) + values @ w.T


class LightningQubitBackend(PennyLaneBackend):
    name = "pennylane.lightning.qubit"
    description = "PennyLane Lightning (C++ state vector, CPU): adjoint and parameter-shift gradients."
    device = "lightning.qubit"
    gradient_methods = ("adjoint", "parameter-shift")


class LightningGPUBackend(PennyLaneBackend):
    name = "pennylane.lightning.gpu"
    description = "PennyLane Lightning GPU (NVIDIA cuStateVec): adjoint and parameter-shift gradients."
    device = "lightning.gpu"
    gradient_methods = ("adjoint", "parameter-shift")


class DefaultQubitBackend(PennyLaneBackend):
    name = "pennylane.default.qubit"
    description = "PennyLane default.qubit (NumPy/torch state vector): backprop and parameter-shift gradients."
    device = "default.qubit"
    gradient_methods = ("backprop", "parameter-shift")
