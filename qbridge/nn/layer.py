"""QuantumLayer: a torch.nn.Module around parametrised circuits, on any backend.

Owns: turning a circuit template (encoded inputs + free parameters) and a readout into a module
whose trainable weights are the circuit's free parameters; choosing the gradient method from the
backend's capabilities; zero-input handling; the pre-training preview of circuits and shots.

A forward over a batch is ONE backend submission: one ``Backend.run`` call carrying one task per
circuit, each with the whole batch of inputs (B, d) and the weight binding (1, P). The backward
is one more submission (parameter shift / SPSA / input shift) or none (backprop).

Several circuits may share one layer (``QuantumLayer([(circuit_a, readout_a), (circuit_b,
readout_b)])``): parameters with the same name are the same weight, every circuit goes out in the
same submission, and forward returns one tensor per circuit. The QSANN head uses this for its
query, key and value circuits.

Readouts: ``"probabilities"`` (all 2^n basis states, q0 the most significant bit), a Pauli
string or :class:`~qbridge.ir.observables.PauliSum`, or a list of them (expectation values).

Gradient methods (``gradient=``): ``"auto"`` picks ``backprop`` on a backend that lists it (the
torch backend, exact runs), then ``adjoint`` where the backend lists it (through its ``vjp`` hook,
or through results that carry autograd, as PennyLane lightning's do), else ``parameter-shift``. With shots the choice skips backprop and adjoint. ``"spsa"`` must be asked
for. Input gradients off backprop use the amplitude shift rule (2 d circuits per row) or refuse
with ``input_gradient="error"``; see :mod:`qbridge.nn.gradients`.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..backends.base import Backend
from ..backends.registry import get_backend
from ..exceptions import EncodingError
from ..ir.circuit import Circuit
from ..ir.observables import PauliSum, Probabilities, as_pauli_sum
from .checks import as_real_input, check_finite_rows
from .normalize import MeasurementNorm, as_normalize
from .gradients import (
    GRADIENT_METHODS,
    CircuitExecutor,
    CircuitFunction,
    InputGradientError,
    InputShiftFunction,
    Program,
)

__all__ = ["QuantumLayer", "RunPreview", "resolve_backend", "parse_readout", "own_precision"]


def own_precision(device: torch.device) -> contextlib.AbstractContextManager:
    """Switch ``torch.autocast`` off for a quantum computation on ``device``.

    Under autocast the classical layers of a model run in bfloat16/float16, but a circuit's
    amplitudes do not survive that rounding (errors of 1e-2 where every backend is held to
    1e-5): the simulation keeps the precision of the layer's weights (complex64 for float32,
    complex128 for float64), and its outputs come back in the weights' dtype.
    """
    kind = device.type
    try:
        on = torch.is_autocast_enabled(kind)
    except (TypeError, RuntimeError):  # a device type autocast does not know (meta, ...)
        on = False
    return torch.autocast(kind, enabled=False) if on else contextlib.nullcontext()


def resolve_backend(backend: str | Backend | None, options: dict | None = None, noise: Any = None) -> Backend:
    """The backend object for a layer: a name with its options (and ``noise=``), or a given object.

    ``noise`` (a :class:`~qbridge.noise.NoiseModel`, its JSON, or an IBM fake device name) is the
    backend option of the same name, given beside the backend's name: ``QFFN(8, noise=model)``
    trains on ``torch`` under that noise (density matrices, autograd).
    """
    if isinstance(backend, Backend):
        if options:
            raise TypeError("backend_options cannot be applied to a Backend object; create it with them")
        if noise is not None:
            raise TypeError(
                "noise= cannot be applied to a Backend object; give the backend by name "
                f"(backend={backend.backend_name!r}, noise=...) or create it with get_backend(name, noise=...)")
        return backend
    options = dict(options or {})
    if noise is not None:
        if "noise" in options:
            raise TypeError("noise is given twice (noise= and backend_options['noise']); give it once")
        options["noise"] = noise
    return get_backend(backend or "torch", **options)


def _warn_uncovered_gates(backend: Backend, circuits: Sequence[Circuit]) -> None:
    """A device's model names its native gates (sx, x, cx): a layer written in ry/rz would train
    almost noiselessly under it without a word. Say which gates carry no error, and the fix."""
    model = getattr(backend, "noise", None)
    if model is None or not model.has_gate_noise:
        return
    used = sorted({op.name for c in circuits for op in c} - {"amplitude_encode", "barrier", "measure"})
    named = {e.gate for e in model.gate_noise}  # an entry without channels names a gate as noiseless
    bare = [g for g in used if g not in named]
    if bare:
        warnings.warn(
            f"the noise model ({model.source or 'given'}) gives no errors to {bare}, gates of this layer's "
            f"circuits (it has errors for {sorted(model.gate_names)}), so they run noiselessly; for a device's "
            "model, NoiseModel.extended_to() gives each gate the errors of the native gates it translates to",
            UserWarning, stacklevel=4)


def parse_readout(readout: Any, num_qubits: int) -> tuple[PauliSum, ...] | None:
    """None for probabilities, else a tuple of PauliSums fitted to ``num_qubits``."""
    if isinstance(readout, Probabilities) or (isinstance(readout, str) and readout.lower() in ("probabilities", "probs")):
        if isinstance(readout, Probabilities) and readout.qubits not in (None, tuple(range(num_qubits))):
            raise ValueError("QuantumLayer reads the probabilities of all qubits; measure a subset with Pauli-Z observables")
        return None
    if isinstance(readout, (str, PauliSum)):
        readout = [readout]
    obs = tuple(as_pauli_sum(o, num_qubits) for o in readout)
    if not obs:
        raise ValueError("readout needs at least one observable, or 'probabilities'")
    return obs


@dataclass
class RunPreview:
    """What one training step will send, computed before anything is sent."""

    backend: str
    gradient: str
    shots: int | None
    batch_size: int
    circuits: list[dict[str, Any]]  # per program: qubits, gates, depth, readout, measurement groups
    rows: dict[str, int]  # circuit executions (bindings x inputs) per step, by purpose
    executions: int  # circuits actually run per step (rows x measurement groups)
    submissions: int  # backend submissions per step
    shots_per_step: int | None
    cost: Any = None  # from the layer's cost_estimator (None until one is set)
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [
            f"backend {self.backend}, gradient {self.gradient}, shots {self.shots if self.shots else 'exact'}, "
            f"batch {self.batch_size} rows",
        ]
        for i, c in enumerate(self.circuits):
            lines.append(
                f"  circuit {i}: {c['qubits']} qubits, {c['gates']} gates, depth {c['depth']}, "
                f"{c['parameters']} parameters, readout {c['readout']} ({c['groups']} measurement group(s))"
            )
        lines.append(
            "  per step: " + ", ".join(f"{k} {v} rows" for k, v in self.rows.items())
            + f"; {self.executions} circuit executions in {self.submissions} submission(s)"
        )
        if self.shots_per_step is not None:
            lines.append(f"  shots per step: {self.shots_per_step}")
        lines.append(f"  cost per step: {'not estimated (no cost_estimator)' if self.cost is None else self.cost}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _check_template(circuit: Circuit) -> None:
    if not isinstance(circuit, Circuit):
        raise TypeError(f"a QuantumLayer needs a qbridge Circuit, got {type(circuit).__name__}")
    if circuit.has_measurements:
        raise ValueError("the layer's circuit must not measure: the readout says what is read")


class QuantumLayer(nn.Module):
    """A parametrised circuit (or several) as a torch module.

    Args:
        circuit: a :class:`~qbridge.Circuit` whose ``amplitude_encode`` inputs are fed by
            ``forward`` and whose free parameters are the trainable weights; or a list of
            ``(circuit, readout)`` pairs run together (parameters shared by name).
        readout: ``"probabilities"``, a Pauli string/PauliSum, or a list of them.
        backend: a backend name or object (default ``"torch"``).
        shots: None for exact results, else shots per circuit execution.
        seed: makes shot sampling (and SPSA directions) reproducible; each submission derives
            its own seed from it.
        gradient: "auto", "backprop", "parameter-shift", "spsa" or "adjoint".
        input_gradient: "shift" (amplitude shift rule off backprop) or "error".
        zero_rows: "error" (a zero input row cannot be amplitude-encoded: EncodingError) or
            "zero" (such rows are not sent and their outputs are zeros: the limit of the
            unnormalised readout |x|^2 f(x/|x|)).
        init: "uniform" (U(0, 2pi)), "normal" (N(0, init_scale)) or a tensor of initial weights.
        precision: "single"/"double"; default follows the weights' dtype (float64 -> double).
        cost_estimator: callable(preview) -> cost, used by :meth:`preview` (None: no estimate).
        noise: a :class:`~qbridge.noise.NoiseModel` (or its JSON, or an IBM fake device name)
            for the backend named by ``backend``: on ``torch`` the layer trains under that noise
            with exact gradients through it (noise-aware training; docs/noise-aware-training.md).
        normalize: standardise each readout feature over the rows of a forward (QuantumNAT's
            post-measurement normalisation): False, True/"batch" or "running"
            (:mod:`qbridge.nn.normalize`).
    """

    def __init__(
        self,
        circuit: Circuit | Sequence[tuple[Circuit, Any]],
        readout: Any = "probabilities",
        backend: str | Backend | None = "torch",
        *,
        shots: int | None = None,
        seed: int | None = None,
        gradient: str = "auto",
        input_gradient: str = "shift",
        spsa_epsilon: float = 0.05,
        spsa_samples: int = 1,
        zero_rows: str = "error",
        init: str | torch.Tensor = "uniform",
        init_scale: float = 0.1,
        precision: str | None = None,
        cost_estimator: Callable[[RunPreview], Any] | None = None,
        backend_options: dict | None = None,
        noise: Any = None,
        normalize: bool | str = False,
    ) -> None:
        super().__init__()
        pairs = [(circuit, readout)] if isinstance(circuit, Circuit) else list(circuit)
        if not pairs:
            raise ValueError("QuantumLayer needs at least one circuit")
        names: list[str] = []
        for c, _ in pairs:
            _check_template(c)
            for n in c.parameter_names:
                if n not in names:
                    names.append(n)
        self.parameter_names = tuple(names)
        pos = {n: i for i, n in enumerate(names)}
        self.programs = [
            Program(c, parse_readout(r, c.num_qubits), np.array([pos[n] for n in c.parameter_names], dtype=int), len(names))
            for c, r in pairs
        ]
        inputs: list[str] = []
        sizes: dict[str, int] = {}
        for c, _ in pairs:
            for n, size in c.inputs.items():
                if n not in inputs:
                    inputs.append(n)
                sizes[n] = max(sizes.get(n, 0), size)
        self.input_names = tuple(inputs)
        self.input_sizes = sizes
        if gradient not in GRADIENT_METHODS:
            raise ValueError(f"gradient must be one of {GRADIENT_METHODS}, got {gradient!r}")
        if input_gradient not in ("shift", "error"):
            raise ValueError(f"input_gradient must be 'shift' or 'error', got {input_gradient!r}")
        if zero_rows not in ("error", "zero"):
            raise ValueError(f"zero_rows must be 'error' or 'zero', got {zero_rows!r}")
        if shots is not None and (isinstance(shots, bool) or not isinstance(shots, int) or shots < 1):
            raise ValueError(f"shots must be a positive integer or None, got {shots!r}")
        if precision not in (None, "single", "double"):
            raise ValueError(f"precision must be None, 'single' or 'double', got {precision!r}")
        normalize = as_normalize(normalize)
        self.backend = resolve_backend(backend, backend_options, noise)
        if noise is not None:
            _warn_uncovered_gates(self.backend, [c for c, _ in pairs])
        self.shots = shots
        self.seed = seed
        self.zero_rows = zero_rows
        self.input_gradient = input_gradient
        self.precision = precision
        self.cost_estimator = cost_estimator
        self.gradient_method = self._choose_gradient(gradient)
        if self.gradient_method == "parameter-shift":
            for p in self.programs:
                p.check_differentiable()
        self.executor = CircuitExecutor(
            self.backend, self.programs, method=self.gradient_method, shots=shots, seed=seed,
            spsa_epsilon=spsa_epsilon, spsa_samples=spsa_samples, input_gradient=input_gradient,
        )
        P = len(names)
        if torch.is_tensor(init):
            w0 = init.detach().clone().reshape(-1)
            if w0.numel() != P:
                raise ValueError(f"init has {w0.numel()} values but the circuit(s) have {P} parameters")
        elif init == "uniform":
            w0 = torch.rand(P) * (2 * math.pi)
        elif init == "normal":
            w0 = torch.randn(P) * init_scale
        else:
            raise ValueError(f"init must be 'uniform', 'normal' or a tensor, got {init!r}")
        self.weights = nn.Parameter(w0.to(torch.get_default_dtype()) if not torch.is_tensor(init) else w0)
        self.normalize = normalize
        self.norms = (nn.ModuleList([MeasurementNorm(p.out_dim, normalize) for p in self.programs])
                      if normalize else None)

    # -- configuration --------------------------------------------------------------------------
    def _choose_gradient(self, gradient: str) -> str:
        methods = tuple(self.backend.target.gradient_methods)
        exact = self.shots is None
        name = self.backend.backend_name
        if gradient == "auto":
            if exact and "backprop" in methods:
                return "backprop"
            if exact and "adjoint" in methods:
                return "adjoint"
            return "parameter-shift"
        if gradient == "backprop" and ("backprop" not in methods or not exact):
            raise ValueError(
                f"gradient='backprop' needs a backend that differentiates its results and exact runs; "
                f"{name} offers {list(methods) or 'none'}{' and shots were given' if not exact else ''}. "
                "Use 'parameter-shift' or 'auto'"
            )
        if gradient == "adjoint" and ("adjoint" not in methods or not exact):
            raise ValueError(
                f"gradient='adjoint' needs exact runs on a backend that lists 'adjoint' in its target "
                f"(qbridge.nn.gradients describes the seam); {name} offers {list(methods) or 'none'}"
                f"{' and shots were given' if not exact else ''}. Use 'parameter-shift' or 'auto'"
            )
        return gradient

    def _precision(self) -> str:
        if self.precision is not None:
            return self.precision
        allowed = self.backend.target.precisions
        want = "double" if self.weights.dtype == torch.float64 else "single"
        return want if want in allowed else allowed[0]

    @property
    def num_weights(self) -> int:
        return self.weights.numel()

    def extra_repr(self) -> str:
        return (
            f"backend={self.backend.backend_name!r}, weights={self.num_weights}, inputs={list(self.input_names)}, "
            f"gradient={self.gradient_method!r}, shots={self.shots}"
        )

    # -- forward --------------------------------------------------------------------------------
    def forward(self, *args: torch.Tensor, **kwargs: torch.Tensor):
        """Readouts for a batch: inputs (..., d) positionally in ``input_names`` order or by name.

        Returns (..., K) (one circuit) or a tuple of them (several circuits). A layer whose
        circuits encode no inputs takes no arguments and returns (K,).
        """
        if len(args) > len(self.input_names):
            raise TypeError(f"forward takes {len(self.input_names)} input(s) {list(self.input_names)}, got {len(args)}")
        given = dict(zip(self.input_names, args))
        for k, v in kwargs.items():
            if k not in self.input_names:
                raise TypeError(f"unknown input {k!r}; the layer encodes {list(self.input_names)}")
            if k in given:
                raise TypeError(f"input {k!r} given twice")
            given[k] = v
        missing = [n for n in self.input_names if n not in given]
        if missing:
            raise TypeError(f"missing input(s) {missing}")
        lead = None
        flat: dict[str, torch.Tensor] = {}
        for n in self.input_names:
            x = given[n]
            if not torch.is_tensor(x):
                x = torch.as_tensor(np.asarray(x), dtype=self.weights.dtype, device=self.weights.device)
            if x.dim() < 1:
                raise ValueError(f"input {n!r} needs a feature axis: shape (..., d)")
            x = as_real_input(x, self.weights.dtype)
            if x.shape[-1] > self.input_sizes[n]:
                raise EncodingError(
                    f"input {n!r} has {x.shape[-1]} features but its register holds {self.input_sizes[n]} amplitudes",
                    instruction="amplitude_encode",
                )
            if lead is None:
                lead = tuple(x.shape[:-1])
            elif tuple(x.shape[:-1]) != lead:
                raise ValueError(f"inputs have different leading shapes: {lead} and {tuple(x.shape[:-1])}")
            flat[n] = x.reshape(-1, x.shape[-1])
            check_finite_rows(flat[n], n)  # NaN rows would otherwise pass as "zero rows"
        if not self.input_names:  # a variational circuit without encoded inputs: one row
            lead = ()
        N = flat[self.input_names[0]].shape[0] if self.input_names else 1
        if self.gradient_method != "backprop" and self.input_gradient == "error" and torch.is_grad_enabled():
            needs = [n for n, x in flat.items() if x.requires_grad]
            if needs:
                raise InputGradientError(
                    f"input(s) {needs} require gradients, but gradients w.r.t. amplitude-encoded inputs on "
                    f"{self.backend.backend_name} ({self.gradient_method}) are refused (input_gradient='error'); "
                    "detach the input, or use input_gradient='shift' (2 d extra circuits per row)"
                )
        idx = None
        if self.zero_rows == "zero":
            with torch.no_grad():
                ok = torch.ones(N, dtype=torch.bool, device=self.weights.device)
                for x in flat.values():
                    xr = torch.view_as_real(x).flatten(1) if x.is_complex() else x
                    ok &= xr.abs().amax(dim=1).to(ok.device) > 0  # a 1e-300 row is not zero
            if not bool(ok.all()):
                idx = ok.nonzero().squeeze(1)
                flat = {n: x.index_select(0, idx.to(x.device)) for n, x in flat.items()}
        if idx is not None and idx.numel() == 0:
            outs = [self.weights.new_zeros((N, p.out_dim)) for p in self.programs]
        else:
            with own_precision(self.weights.device):
                outs = self._run(flat)
                if self.norms is not None:  # over the rows that were sent: zero rows stay zero
                    # probabilities as N p (mean 1 at every width), so that eps means the same everywhere
                    outs = [norm(o * o.shape[1] if prog.observables is None else o)
                            for norm, o, prog in zip(self.norms, outs, self.programs)]
            if idx is not None:
                outs = [o.new_zeros((N, o.shape[1])).index_copy(0, idx.to(o.device), o) for o in outs]
        outs = [o.reshape(*lead, o.shape[-1]) for o in outs]
        return outs[0] if len(outs) == 1 else tuple(outs)

    def _run(self, flat: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        self.executor.precision = self._precision()
        if self.gradient_method == "backprop":
            outs = self.executor.forward(self.weights, flat)
            return [o if o.dtype == self.weights.dtype else o.to(self.weights.dtype) for o in outs]
        for n, x in flat.items():
            if x.is_complex():
                raise TypeError(
                    f"input {n!r} is complex: off the torch backend the layer needs real inputs"
                )
        xs = [flat[n] for n in self.input_names]
        if self.gradient_method == "adjoint" and not callable(getattr(self.backend, "vjp", None)):
            # the backend differentiates its results in the weights; inputs by the shift rule
            # the SDK runs on the host: the weights go there by a differentiable copy, the inputs detached
            outs = self.executor.forward(self.weights.to("cpu"), {n: x.detach().cpu() for n, x in flat.items()})
            # the SDK computes on the host: results come back to the layer's device (differentiably)
            outs = [(o if torch.is_tensor(o) else torch.from_numpy(np.asarray(o))).to(device=self.weights.device, dtype=self.weights.dtype)
                    for o in outs]
            if torch.is_grad_enabled() and any(x.requires_grad for x in xs):
                w = self.weights.detach().to("cpu", torch.float64).numpy()
                outs = list(InputShiftFunction.apply(self.executor, self.input_names, w, len(outs), *outs, *xs))
            return outs
        return list(CircuitFunction.apply(self.executor, self.input_names, self.weights, *xs))

    # -- preview --------------------------------------------------------------------------------
    def preview(self, batch_size: int, *, inputs_need_grad: bool = True) -> RunPreview:
        """Circuits, executions and shots of one training step on ``batch_size`` rows.

        ``batch_size`` counts rows reaching the circuits (B x T for a sequence layer). Nothing is
        sent. ``print(layer.preview(32))`` shows a summary; ``.cost`` is filled by the layer's
        ``cost_estimator`` (None for now).
        """
        from ..ir.measurement import qubitwise_groups

        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        per_program = self.executor.rows_per_program(batch_size, inputs_need_grad)
        rows = {k: sum(r[k] for r in per_program) for k in per_program[0]}
        circuits = []
        execs = 0
        for p in self.programs:
            groups = 1 if p.observables is None or self.shots is None else max(len(qubitwise_groups(p.observables)), 1)
            circuits.append({
                "qubits": p.circuit.num_qubits,
                "gates": sum(1 for op in p.circuit if op.is_gate),
                "depth": p.circuit.depth(),
                "parameters": p.circuit.num_parameters,
                "readout": "probabilities" if p.observables is None else f"{len(p.observables)} observable(s)",
                "groups": groups,
                "circuit": p.circuit,
            })
        for r, c in zip(per_program, circuits):
            execs += sum(r.values()) * c["groups"]
        submissions = 1 + (1 if (rows["weight_gradient"] or rows["input_gradient"]) else 0)
        notes = []
        if self.gradient_method == "backprop":
            notes.append("backprop: the backward pass is autograd, no extra circuits")
        if self.gradient_method == "adjoint":
            notes.append("adjoint: the backend computes the weight gradients itself (no shifted circuits)")
        if inputs_need_grad and self.gradient_method != "backprop" and self.input_gradient == "shift":
            notes.append("input gradients by the amplitude shift rule: 2 d circuits per row")
        pv = RunPreview(
            backend=self.backend.backend_name,
            gradient=self.gradient_method,
            shots=self.shots,
            batch_size=batch_size,
            circuits=circuits,
            rows=rows,
            executions=execs,
            submissions=submissions,
            shots_per_step=None if self.shots is None else execs * self.shots,
            notes=notes,
        )
        if self.cost_estimator is not None:
            pv.cost = self.cost_estimator(pv)
        return pv
