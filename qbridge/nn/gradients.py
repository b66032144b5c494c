"""Gradients of circuit readouts for the torch layers, on any backend.

Owns: the shift rules of qbridge's parametric gates (:func:`shift_rule`), the programs a layer
runs (:class:`Program`: a circuit, its readout, where its parameters live in the layer's weight
vector), the :class:`CircuitExecutor` that turns a forward or a backward pass into ONE backend
submission, and the autograd bridge (:class:`CircuitFunction`) used when the backend cannot
backpropagate.

Methods (chosen by the layer from ``Target.gradient_methods``):

- ``"backprop"``: the torch backend returns differentiable tensors; plain autograd.
- ``"parameter-shift"``: exact for the gates in :data:`SHIFT_RULES` (with shots: unbiased
  estimates). Every parametric *occurrence* (a gate slot holding ``a*theta + b``) is shifted on
  its own; the chain rule multiplies by ``a`` and sums occurrences of the same weight. All shifted
  circuits of all programs, times every input row, go out in one submission as one batch of
  bindings per program (rows = shifted bindings x inputs, bindings outer, inputs inner; with at
  least 2^n input rows, one task per shifted binding instead, so that the torch backend's
  unitary path builds each shifted U once).
- ``"spsa"``: simultaneous perturbation (Spall): ``spsa_samples`` random +-1 directions, two
  evaluations each, ``g = mean_s (f(w + c D_s) - f(w - c D_s)) / (2c) * D_s``. Biased by O(c^2),
  noisy, but 2 x samples circuits per row whatever the number of weights.
- ``"adjoint"``: the backend's own analytic gradient, through one of two seams (below): its
  ``vjp`` hook, or differentiable results (the PennyLane adapter's lightning backends return
  torch tensors with autograd history when the parameter values require grad).

Shift rules. For U(phi) = exp(-i phi G) the readout is a trigonometric polynomial in phi whose
frequencies are the differences of G's eigenvalues.

- rx, ry, rz, rxx, ryy, rzz (G = P/2, eigenvalues +-1/2), p (p(phi) = e^{i phi/2} rz(phi): the
  phase drops out of every readout), cp (G = -|11><11|, eigenvalues {0, 1}) and each of u's three
  parameters (u(theta, phi, lam) = e^{i(phi+lam)/2} rz(phi) ry(theta) rz(lam)): the two-term rule
  ``f' = [f(phi + pi/2) - f(phi - pi/2)] / 2``.
- crx, cry, crz (G = |1><1| (x) P/2, eigenvalues {-1/2, 0, 1/2}, frequencies 1/2 and 1): the
  four-term rule ``f' = c1 [f(+pi/2) - f(-pi/2)] - c2 [f(+3pi/2) - f(-3pi/2)]`` with
  ``c1 = (sqrt2 + 1) / (4 sqrt2)``, ``c2 = (sqrt2 - 1) / (4 sqrt2)``.
- A parametric gate without a rule raises :class:`~qbridge.exceptions.GateError` naming the
  supported gates (before anything is submitted).

Encoded inputs (amplitude encoding) have no shift rule, but the *unnormalised* readout
``g(x) = |x|^2 f(x / |x|) = x^T M x`` is a quadratic form, so the central difference
``[g(x + h e_i) - g(x - h e_i)] / (2h) = 2 (M x)_i`` is exact for every step h (we use
h = |x|, the best-conditioned step under shot noise), and ``df/dx = (grad g - 2 f x) / |x|^2``.
This "amplitude shift rule" costs 2 d circuits per input row (d = input width) and needs real
inputs. ``input_gradient="error"`` refuses instead: a layer asked for input gradients raises
:class:`InputGradientError` in the forward pass rather than silently returning none.

The adjoint seam. A backend whose ``Target.gradient_methods`` lists ``"adjoint"`` provides::

    def vjp(self, tasks: Sequence[Task], cotangents: Sequence[np.ndarray],
            config: RunConfig) -> list[VJPResult]

For each task (exact readout: expectation values of ``task.observables`` when it has any, else
the probabilities of all qubits) and the cotangent of that readout (shape (B, K)), it returns the
vector-Jacobian product with respect to ``task.parameter_values`` (shape (B_p, P), summed over the
rows that share a binding) and, optionally, with respect to each raw input (shape (B_i, d), the
normalisation included). ``inputs=None`` means "not provided": the layer then uses the amplitude
shift rule for inputs. One call is one submission; it runs with torch grad mode enabled.

A backend that lists ``"adjoint"`` but has no ``vjp`` is used through differentiable results:
the forward task carries the weight binding as a torch tensor that requires grad (inputs
detached), the backend returns readouts with autograd history, and input gradients, if needed,
are added by :class:`InputShiftFunction` (amplitude shift rule, one submission in the backward).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ..backends.base import Backend, Result, RunConfig, Task, TaskResult
from ..exceptions import GateError, InputGradientError, UnsupportedFeatureError
from ..ir.circuit import Circuit, Instruction
from ..ir.observables import PauliSum
from ..ir.parameters import Parameter, ParameterExpression

__all__ = [
    "InputShiftFunction",
    "SHIFT_RULES",
    "shift_rule",
    "Program",
    "CircuitExecutor",
    "CircuitFunction",
    "VJPResult",
    "InputGradientError",
    "GRADIENT_METHODS",
]

PI = math.pi
_TWO_TERM = ((PI / 2, 0.5), (-PI / 2, -0.5))
_C1 = (math.sqrt(2) + 1) / (4 * math.sqrt(2))
_C2 = (math.sqrt(2) - 1) / (4 * math.sqrt(2))
_FOUR_TERM = ((PI / 2, _C1), (-PI / 2, -_C1), (3 * PI / 2, -_C2), (-3 * PI / 2, _C2))

#: gate -> one rule per parameter slot; a rule is ((shift, coefficient), ...)
SHIFT_RULES: dict[str, tuple[tuple[tuple[float, float], ...], ...]] = {
    "rx": (_TWO_TERM,),
    "ry": (_TWO_TERM,),
    "rz": (_TWO_TERM,),
    "p": (_TWO_TERM,),
    "rxx": (_TWO_TERM,),
    "ryy": (_TWO_TERM,),
    "rzz": (_TWO_TERM,),
    "cp": (_TWO_TERM,),
    "u": (_TWO_TERM, _TWO_TERM, _TWO_TERM),
    "crx": (_FOUR_TERM,),
    "cry": (_FOUR_TERM,),
    "crz": (_FOUR_TERM,),
}

GRADIENT_METHODS = ("auto", "backprop", "parameter-shift", "spsa", "adjoint")




def shift_rule(gate: str, slot: int = 0) -> tuple[tuple[float, float], ...]:
    """((shift, coefficient), ...) with ``df/dphi = sum c * f(phi + s)`` for ``gate``'s parameter ``slot``."""
    rules = SHIFT_RULES.get(gate)
    if rules is None:
        raise GateError(
            f"gate {gate!r} has a trainable parameter but no parameter-shift rule; supported: "
            f"{', '.join(sorted(SHIFT_RULES))}. Rewrite it with these gates (circuit.decompose) "
            "or use a backend with backprop/adjoint gradients",
            instruction=gate,
        )
    return rules[slot]


@dataclass(frozen=True)
class VJPResult:
    """A backend's vector-Jacobian product for one task (see the module docstring)."""

    parameters: Any  # (B_p, P) or (P,)
    inputs: Mapping[str, Any] | None = None


# -- programs -----------------------------------------------------------------------------------

@dataclass
class Program:
    """One circuit a layer runs: readout and where its parameters sit in the weight vector."""

    circuit: Circuit
    observables: tuple[PauliSum, ...] | None  # None: probabilities of all qubits
    weight_index: np.ndarray  # circuit.parameters[j] is layer weight weight_index[j]
    num_weights: int
    _occ: tuple | None = field(default=None, repr=False)

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(self.circuit.inputs)

    @property
    def out_dim(self) -> int:
        return len(self.observables) if self.observables is not None else 2**self.circuit.num_qubits

    def binding(self, w: Any) -> Any:
        """This circuit's (1, P_c) binding from the layer weights (NumPy or torch)."""
        if torch.is_tensor(w):
            return w[torch.as_tensor(self.weight_index, dtype=torch.long, device=w.device)].unsqueeze(0)
        return np.asarray(w, dtype=float)[self.weight_index][None, :]

    def occurrences(self) -> tuple[Circuit, list[tuple[tuple[float, float], ...]], np.ndarray, np.ndarray]:
        """(circuit with one fresh parameter per parametric slot, rule per slot, J, c).

        Slot values are ``phi = J @ w + c`` for layer weights ``w``. Raises GateError for a
        parametric gate without a shift rule.
        """
        if self._occ is not None:
            return self._occ
        names = self.circuit.parameter_names
        pos = {n: int(self.weight_index[j]) for j, n in enumerate(names)}
        ops: list[Instruction] = []
        rules: list[tuple[tuple[float, float], ...]] = []
        J_rows: list[np.ndarray] = []
        consts: list[float] = []
        for op in self.circuit:
            if not op.is_parametric:
                ops.append(op)
                continue
            new_params = []
            for slot, p in enumerate(op.params):
                if not isinstance(p, ParameterExpression):
                    new_params.append(p)
                    continue
                rules.append(shift_rule(op.name, slot))
                row = np.zeros(self.num_weights)
                for name, coeff in p.terms:
                    row[pos[name]] += coeff
                J_rows.append(row)
                consts.append(p.const)
                new_params.append(Parameter(f"_occ{len(rules) - 1}"))
            ops.append(Instruction(op.name, op.qubits, tuple(new_params), op.matrix, op.source))
        # the global phase never changes a probability or an expectation value: dropped
        occ = Circuit(self.circuit.num_qubits, ops, name=self.circuit.name)
        J = np.array(J_rows).reshape(len(J_rows), self.num_weights)
        self._occ = (occ, rules, J, np.array(consts, dtype=float))
        return self._occ

    def check_differentiable(self) -> None:
        self.occurrences()


# -- executor ----------------------------------------------------------------------------------

def _np(x: Any) -> np.ndarray:
    if torch.is_tensor(x):
        return x.detach().to("cpu", torch.float64).numpy() if not x.is_complex() else x.detach().cpu().numpy()
    return np.asarray(x)


def _readout(res: TaskResult, program: Program) -> Any:
    """(B, K) readout of one result: expectation values, or probabilities (exact or counts/shots)."""
    if program.observables is not None:
        return res.expectation_values
    if res.probabilities is not None:
        return res.probabilities
    n = res.num_qubits
    out = np.zeros((res.batch_size, 2**n))
    for b, counts in enumerate(res.counts):
        total = sum(counts.values())
        for key, v in counts.items():
            out[b, int(key, 2)] += v / total
    return out


def _aligned(xs: Mapping[str, np.ndarray], B: int | None = None) -> tuple[dict[str, np.ndarray], int]:
    """Inputs with one common number of rows (single rows repeated)."""
    if B is None:
        B = max((v.shape[0] for v in xs.values()), default=1)
    return {n: (np.repeat(v, B, axis=0) if v.shape[0] == 1 and B > 1 else v) for n, v in xs.items()}, B


class CircuitExecutor:
    """Runs a layer's programs on a backend: one submission per forward, one per backward."""

    def __init__(
        self,
        backend: Backend,
        programs: Sequence[Program],
        *,
        method: str,
        shots: int | None = None,
        seed: int | None = None,
        precision: str = "single",
        spsa_epsilon: float = 0.05,
        spsa_samples: int = 1,
        input_gradient: str = "shift",
    ) -> None:
        self.backend = backend
        self.programs = list(programs)
        self.method = method
        self.shots = shots
        self.seed = seed
        self.precision = precision
        self.spsa_epsilon = float(spsa_epsilon)
        self.spsa_samples = int(spsa_samples)
        self.input_gradient = input_gradient
        self.submissions = 0  # backend.run calls made (for tests and previews)
        self._counter = 0

    # -- submission -----------------------------------------------------------------------------
    def _config(self, exact: bool = False) -> RunConfig:
        seed = None
        if self.seed is not None:
            seed = int(np.random.SeedSequence([int(self.seed), self._counter]).generate_state(1)[0])
        self._counter += 1
        return RunConfig(shots=None if exact else self.shots, seed=seed, precision=self.precision)

    def submit(self, tasks: list[Task], *, exact: bool = False) -> Result:
        self.submissions += 1
        return self.backend.run(tasks, self._config(exact)).result()

    def _chunks(self, rows: int) -> list[slice]:
        cap = self.backend.target.max_batch
        if cap is None or rows <= cap:
            return [slice(0, rows)]
        return [slice(i, min(i + cap, rows)) for i in range(0, rows, cap)]

    def _tasks(self, program: Program, circuit: Circuit, bindings: Any, inputs: Mapping[str, Any]) -> list[Task]:
        """Tasks for ``rows`` rows (bindings and inputs already aligned row by row or shared)."""
        rows = max([bindings.shape[0] if bindings is not None else 1] + [v.shape[0] for v in inputs.values()])
        out = []
        for sl in self._chunks(rows):
            pv = None if bindings is None else (bindings if bindings.shape[0] == 1 else bindings[sl])
            ins = {k: (v if v.shape[0] == 1 else v[sl]) for k, v in inputs.items()}
            out.append(Task(circuit, pv, ins, program.observables or ()))
        return out

    def _product_tasks(self, program: Program, circuit: Circuit, bind: np.ndarray, xs: Mapping[str, np.ndarray], B: int) -> list[Task]:
        """Every binding (R rows) with every input row (B): results in order bindings outer,
        inputs inner. One task with R x B rows; or, when the inputs alone reach the unitary
        path's crossover (B >= 2^n), one task per binding carrying the whole input batch, so that
        a simulator builds each shifted U once (same submission, same rows)."""
        if xs and B >= 2**circuit.num_qubits and bind.shape[0] > 1:
            out: list[Task] = []
            for r in range(bind.shape[0]):
                out += self._tasks(program, circuit, bind[r : r + 1], xs)
            return out
        rows_bind = np.repeat(bind, B, axis=0)
        rows_in = {n: np.tile(v, (bind.shape[0], 1)) for n, v in xs.items()}
        return self._tasks(program, circuit, rows_bind, rows_in)

    # -- forward --------------------------------------------------------------------------------
    def forward(self, weights: torch.Tensor, inputs: Mapping[str, torch.Tensor]) -> list[torch.Tensor]:
        """Differentiable forward on a backprop backend: the results carry autograd history."""
        tasks = [
            Task(p.circuit, p.binding(weights) if p.circuit.num_parameters else None,
                 {n: inputs[n] for n in p.input_names}, p.observables or ())
            for p in self.programs
        ]
        res = self.submit(tasks)
        return [_readout(r, p) for r, p in zip(res, self.programs)]

    def evaluate(self, w: np.ndarray, inputs: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """Readouts as NumPy arrays, one submission (possibly several tasks)."""
        tasks: list[Task] = []
        spans = []
        for p in self.programs:
            t = self._tasks(p, p.circuit, p.binding(w) if p.circuit.num_parameters else None,
                            {n: inputs[n] for n in p.input_names})
            spans.append((len(tasks), len(tasks) + len(t)))
            tasks += t
        res = self.submit(tasks)
        return [np.concatenate([_np(_readout(res[i], p)) for i in range(a, b)], axis=0)
                for p, (a, b) in zip(self.programs, spans)]

    # -- backward -------------------------------------------------------------------------------
    def vjp(
        self,
        w: np.ndarray,
        inputs: Mapping[str, np.ndarray],
        outputs: Sequence[np.ndarray],
        cotangents: Sequence[np.ndarray],
        need_weights: bool,
        need_inputs: Mapping[str, bool],
    ) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
        """Gradients of sum(cotangent * readout) w.r.t. the weights and the inputs."""
        grad_w = np.zeros(len(w)) if need_weights else None
        grad_x: dict[str, np.ndarray] = {}
        tasks: list[Task] = []
        finish: list[Any] = []  # callbacks(results slice) that accumulate gradients

        wanted_inputs = {n for n, need in need_inputs.items() if need}
        if need_weights and self.method == "adjoint":
            vjp_hook = getattr(self.backend, "vjp", None)
            adj_tasks = [
                Task(p.circuit, p.binding(w) if p.circuit.num_parameters else None,
                     {n: inputs[n] for n in p.input_names}, p.observables or ())
                for p in self.programs
            ]
            self.submissions += 1
            with torch.enable_grad():  # a hook may differentiate with torch itself
                results = vjp_hook(adj_tasks, [np.asarray(c, float) for c in cotangents], RunConfig(precision=self.precision))
            for p, r in zip(self.programs, results):
                r = r if isinstance(r, VJPResult) else VJPResult(*r)
                gp = np.asarray(r.parameters, float).reshape(-1, p.circuit.num_parameters).sum(axis=0)
                np.add.at(grad_w, p.weight_index, gp)
                if r.inputs:
                    for n, g in r.inputs.items():
                        if n in wanted_inputs:
                            grad_x[n] = grad_x.get(n, 0) + np.asarray(g, float)
            wanted_inputs -= set(grad_x)
        elif need_weights and self.method == "parameter-shift":
            for p, cot in zip(self.programs, cotangents):
                self._shift_tasks(p, w, inputs, cot, grad_w, tasks, finish)
        elif need_weights and self.method == "spsa":
            self._spsa_tasks(w, inputs, cotangents, grad_w, tasks, finish)
        if wanted_inputs:
            for p, out, cot in zip(self.programs, outputs, cotangents):
                for name in p.input_names:
                    if name in wanted_inputs:
                        self._input_tasks(p, name, w, inputs, out, cot, grad_x, tasks, finish)
        if tasks:
            res = self.submit(tasks)
            for fn, (a, b) in finish:
                fn([res[i] for i in range(a, b)])
        return grad_w, grad_x

    def _add(self, tasks: list[Task], new: list[Task], finish: list, fn) -> None:
        finish.append((fn, (len(tasks), len(tasks) + len(new))))
        tasks.extend(new)

    def _collect(self, p: Program, results: list[TaskResult]) -> np.ndarray:
        return np.concatenate([_np(_readout(r, p)) for r in results], axis=0)

    def _shift_tasks(self, p: Program, w, inputs, cot, grad_w, tasks, finish) -> None:
        occ, rules, J, c = p.occurrences()
        if not rules:
            return
        phi = J @ w + c
        shifts = [(k, s, coef) for k, rule in enumerate(rules) for s, coef in rule]
        bind = np.repeat(phi[None, :], len(shifts), axis=0)
        for r, (k, s, _) in enumerate(shifts):
            bind[r, k] += s
        xs, B = _aligned({n: inputs[n] for n in p.input_names})

        def done(results: list[TaskResult]) -> None:
            f = self._collect(p, results).reshape(len(shifts), B, -1)
            cotb = np.broadcast_to(cot, f.shape[1:])
            per_row = np.einsum("rbo,bo->r", f, cotb)
            g_phi = np.zeros(len(rules))
            for r, (k, _, coef) in enumerate(shifts):
                g_phi[k] += coef * per_row[r]
            grad_w[:] += J.T @ g_phi

        self._add(tasks, self._product_tasks(p, occ, bind, xs, B), finish, done)

    def _spsa_tasks(self, w, inputs, cotangents, grad_w, tasks, finish) -> None:
        S, eps = self.spsa_samples, self.spsa_epsilon
        seed = None if self.seed is None else [int(self.seed), self._counter, 7]
        rng = np.random.default_rng(seed)
        deltas = rng.choice([-1.0, 1.0], size=(S, len(w)))
        plus_minus = np.concatenate([w[None, :] + eps * deltas, w[None, :] - eps * deltas])  # (2S, P)
        for p, cot in zip(self.programs, cotangents):
            if not p.circuit.num_parameters:
                continue
            bind = plus_minus[:, p.weight_index]
            xs, B = _aligned({n: inputs[n] for n in p.input_names})

            def done(results, p=p, cot=cot, B=B):
                f = self._collect(p, results).reshape(2 * S, B, -1)
                per_row = np.einsum("rbo,bo->r", f, np.broadcast_to(cot, f.shape[1:]))
                diff = (per_row[:S] - per_row[S:]) / (2 * eps)
                grad_w[:] += (diff[:, None] * deltas).mean(axis=0)

            self._add(tasks, self._product_tasks(p, p.circuit, bind, xs, B), finish, done)

    def _input_tasks(self, p: Program, name: str, w, inputs, out, cot, grad_x, tasks, finish) -> None:
        x = np.asarray(inputs[name], dtype=float)
        if np.iscomplexobj(inputs[name]):
            raise UnsupportedFeatureError(
                "input gradients by the amplitude shift rule need real inputs; use the torch backend (backprop) for complex inputs"
            )
        B, d = x.shape
        norms = np.linalg.norm(x, axis=1)
        h = norms  # the step: exact for any h, |x| conditions best
        shifted = np.broadcast_to(x, (2, d, B, d)).copy()
        signs = np.array([1.0, -1.0])
        for i in range(d):
            shifted[:, i, :, i] += signs[:, None] * h[None, :]
        flat = shifted.reshape(2 * d * B, d)
        sq = np.einsum("rd,rd->r", flat, flat)
        live = sq > 0  # a shifted row can vanish (x = -+|x| e_i): there g = 0 exactly
        others, _ = _aligned({n: inputs[n] for n in p.input_names if n != name}, B)
        rows_in = {name: flat[live]}
        for n, v in others.items():
            rows_in[n] = np.tile(v, (2 * d, 1))[live]
        bind = p.binding(w) if p.circuit.num_parameters else None
        K = p.out_dim

        def done(results: list[TaskResult]) -> None:
            f = np.zeros((2 * d * B, K))
            f[live] = self._collect(p, results)
            g = (sq[:, None] * f).reshape(2, d, B, K)
            safe = np.where(h > 0, h, 1.0)
            grad_g = (g[0] - g[1]) / (2 * safe[None, :, None])  # (d, B, K)
            fx = np.asarray(out, float)  # f at the unshifted inputs (B, K)
            nsq = np.where(norms > 0, norms**2, 1.0)
            df = (grad_g - 2 * fx[None, :, :] * x.T[:, :, None]) / nsq[None, :, None]  # (d, B, K)
            gx = np.einsum("ibo,bo->bi", df, np.broadcast_to(cot, fx.shape))
            gx[norms == 0] = 0.0
            grad_x[name] = grad_x.get(name, 0) + gx

        self._add(tasks, self._tasks(p, p.circuit, bind, rows_in), finish, done)

    # -- accounting -----------------------------------------------------------------------------
    def rows_per_program(self, batch_size: int, inputs_need_grad: bool = True) -> list[dict[str, int]]:
        """Circuit executions (rows) of one training step per program, by purpose."""
        out = []
        for p in self.programs:
            w_rows = 0
            if self.method == "parameter-shift":
                _, rules, _, _ = p.occurrences()
                w_rows = sum(len(r) for r in rules) * batch_size
            elif self.method == "spsa" and p.circuit.num_parameters:
                w_rows = 2 * self.spsa_samples * batch_size
            x_rows = 0
            if inputs_need_grad and self.method != "backprop" and self.input_gradient == "shift":
                x_rows = sum(2 * size * batch_size for size in p.circuit.inputs.values())
            out.append({"forward": batch_size, "weight_gradient": w_rows, "input_gradient": x_rows})
        return out


class CircuitFunction(torch.autograd.Function):
    """Forward on the backend, backward by the executor's method (one submission each)."""

    @staticmethod
    def forward(ctx, executor: CircuitExecutor, names: tuple[str, ...], weights: torch.Tensor, *inputs: torch.Tensor):
        w = weights.detach().to("cpu", torch.float64).numpy()
        xs = {n: x.detach().to("cpu", torch.float64).numpy() for n, x in zip(names, inputs)}
        outs = executor.evaluate(w, xs)
        ctx.executor = executor
        ctx.names = names
        ctx.w = w
        ctx.xs = xs
        ctx.outs = outs
        ctx.meta = (weights.dtype, weights.device, [x.dtype for x in inputs])
        return tuple(torch.as_tensor(o, dtype=weights.dtype, device=weights.device) for o in outs)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, *grad_outputs):
        executor: CircuitExecutor = ctx.executor
        dtype, device, in_dtypes = ctx.meta
        need_w = ctx.needs_input_grad[2]
        need_x = {n: bool(ctx.needs_input_grad[3 + i]) for i, n in enumerate(ctx.names)}
        cots = [g.detach().to("cpu", torch.float64).numpy() for g in grad_outputs]
        gw, gx = executor.vjp(ctx.w, ctx.xs, ctx.outs, cots, bool(need_w), need_x)
        grads: list[Any] = [None, None, None if gw is None else torch.as_tensor(gw, dtype=dtype, device=device)]
        for n, dt in zip(ctx.names, in_dtypes):
            g = gx.get(n)
            grads.append(None if g is None or not need_x[n] else torch.as_tensor(g, dtype=dt, device=device))
        return tuple(grads)


class InputShiftFunction(torch.autograd.Function):
    """Identity on readouts that already carry weight gradients; adds input gradients.

    Used with backends whose results are differentiable in the weights only (adjoint through
    differentiable results): the cotangents pass through to those readouts unchanged, and the
    gradients w.r.t. the encoded inputs come from the amplitude shift rule (one submission).
    """

    @staticmethod
    def forward(ctx, executor: CircuitExecutor, names: tuple[str, ...], w: np.ndarray, n_out: int, *tensors: torch.Tensor):
        outs, inputs = tensors[:n_out], tensors[n_out:]
        ctx.executor, ctx.names, ctx.w, ctx.n_out = executor, names, w, n_out
        ctx.xs = {n: x.detach().to("cpu", torch.float64).numpy() for n, x in zip(names, inputs)}
        ctx.outs = [o.detach().to("cpu", torch.float64).numpy() for o in outs]
        ctx.meta = [(x.dtype, x.device) for x in inputs]
        return tuple(o.clone() for o in outs)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, *grad_outputs):
        n_out = ctx.n_out
        need_x = {n: bool(ctx.needs_input_grad[4 + n_out + i]) for i, n in enumerate(ctx.names)}
        grads_x: list[Any] = [None] * len(ctx.names)
        if any(need_x.values()):
            cots = [g.detach().to("cpu", torch.float64).numpy() for g in grad_outputs]
            _, gx = ctx.executor.vjp(ctx.w, ctx.xs, ctx.outs, cots, False, need_x)
            for i, (n, (dt, dev)) in enumerate(zip(ctx.names, ctx.meta)):
                if need_x[n] and n in gx:
                    grads_x[i] = torch.as_tensor(gx[n], dtype=dt, device=dev)
        return (None, None, None, None, *grad_outputs, *grads_x)
