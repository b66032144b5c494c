"""Shot allocation and error mitigation on any backend, as one submission.

`run_mitigated` is what ``Backend.run`` does (through :func:`qbridge.execution.run.run_tasks`) when a run asks for mitigation
(``RunConfig.mitigation``) or a non-uniform shot allocation (``RunConfig.options``):

1. build: per task, the noise-scaled circuits (ZNE), their random twirls, and per circuit the
   measurement circuit of every qubit-wise commuting group; the readout calibration circuits;
   the shots each needs (allocation);
2. compile every circuit (errors before any compute), and execute them all in ONE
   ``Backend._execute`` call -- circuits that need more shots go out as several copies of one
   compiled task in that same call, since a submission has one shot count;
3. combine: pool copies and twirls, correct readout, extrapolate, propagate standard errors.

The techniques are units (:mod:`.technique`: readout in :mod:`.readout`, ZNE in :mod:`.zne`,
twirling in :mod:`.twirl`, a backend's own in :mod:`.native`, others registered by name); this
module calls them at fixed points and owns what is common to all: the one submission
(:mod:`.submission`), the shot allocation, the pooling of samples per noise scale, standard
errors, the result's metadata.

Why one file of about 650 lines: planning (which circuits, how many shots, the pilot) and
combining (the estimation and sampling plans, the rows of expanded encodings) read the same
bookkeeping of one submission; split, each half would need the other's private layout.

Only ``allocation="precision"`` with ``variance="pilot"`` makes two submissions (the pilot, then
the run it sizes).

Options (``RunConfig.options``; all optional):

======================  ===================================================================
``allocation``          ``uniform`` | ``proportional`` | ``precision`` (default uniform; a
                        ``target_stderr`` alone implies ``precision``)
``target_stderr``       target standard error for ``allocation="precision"`` (formerly
                        ``precision``, still read with a DeprecationWarning)
``variance``            ``bound`` (worst case, default) | ``pilot``; ``pilot_shots``
``readout_method``      ``tensored`` (default) | ``full``
``calibration_shots``   shots per calibration circuit (default: ``shots``)
``calibration_width``   ``circuit`` (default: the task's qubits) | ``device`` (every qubit of
                        the target; use it when a transpiler places circuits on other qubits)
``scale_factors``       noise scales for ZNE (default ``(1, 3, 5)``)
``fold_method``         ``global`` (default) | ``gates`` | ``random``
``extrapolation``       ``richardson`` (default) | ``linear`` | ``polynomial`` | ``exponential``
``order``               degree for ``polynomial``; ``asymptote`` for ``exponential`` (default:
                        the observable's identity coefficient, its value at full depolarization)
``twirl_instances``     random twirls per circuit (default 8); ``twirl_gates`` (default all);
                        ``twirl_mode``: ``explicit`` (default) | ``parametric`` (see qbridge.mitigation.twirl.TwirlTechnique)
``mitigation_seed``     seed of twirling and random folding (default: the run's seed)
``fold_barriers``       keep barriers between folded pieces (default true)
``fold_encoding``       fold amplitude encoding too (default false): each binding's input is
                        bound and decomposed into rotations and CNOTs, so the task runs as one
                        circuit per binding (still one submission); without it, state
                        preparation stays unfolded and its noise is not extrapolated
``max_copies``          most copies of one circuit when shots are split (default 16)
======================  ===================================================================
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np

from ..exceptions import ValidationError
from ..ir.circuit import Circuit
from ..ir.measurement import measurement_circuit, qubitwise_groups
from ..ir.observables import PauliSum
from ..runtime.checks import checked_execute
from ..runtime.options import AllocationSettings, MitigationOptions
from ..runtime.types import Executor, LocalJob, Result, RunConfig, Task, TaskResult
from . import native as _native, readout as _readout, twirl as _twirl, zne as _zne  # noqa: F401 - register the built-in techniques
from .allocation import allocate_shots, group_weights, predicted_stderr
from .readout import NoCorrection
from .samples import Samples
from .submission import Submission
from .technique import Technique, Variant, technique_class, technique_names

__all__ = ["TECHNIQUES", "MitigationSettings", "MitigationIneffectiveWarning", "wants_pipeline", "run_mitigated", "plan_mitigated"]

#: the built-in techniques; :func:`qbridge.mitigation.technique.technique_names` lists every registered one
TECHNIQUES = ("readout", "zne", "twirl", "native")


# -- settings ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MitigationSettings:
    """One run's mitigation: the techniques, the run's typed allocation and technique settings
    (``RunConfig.settings``), and what the rules between them decide (the seed, the order)."""

    techniques: tuple[str, ...] = ()
    shots: AllocationSettings = AllocationSettings()
    options: MitigationOptions = MitigationOptions()
    seed: int | None = None  # twirling and random folding: mitigation_seed, else the run's seed
    order: int | None = None  # the polynomial extrapolation's degree (2 unless given)
    run_shots: int | None = None  # the run's shots per circuit (None: exact)

    @staticmethod
    def from_config(config: Any) -> "MitigationSettings":
        techniques = tuple(dict.fromkeys(config.mitigation))  # order kept, duplicates dropped
        unknown = [t for t in techniques if technique_class(t) is None]
        if unknown:
            raise ValueError(f"unknown mitigation {unknown}; choose from {list(technique_names())} (comma-separated)")
        # the values were checked when the RunConfig was made (qbridge.runtime.options); what
        # is left are the rules that tie settings together
        a, m = config.settings.allocation, config.settings.mitigation
        if a.allocation == "precision" and a.target_stderr is None:
            raise ValueError("allocation 'precision' needs options={'target_stderr': <target standard error>}")
        order = m.order
        if m.extrapolation == "polynomial" and order is None:
            order = 2
        settings = MitigationSettings(techniques=techniques, shots=a, options=replace(m, scale_factors=tuple(m.scale_factors)),
                                      seed=m.mitigation_seed if m.mitigation_seed is not None else config.seed,
                                      order=order, run_shots=config.shots)
        for name in techniques:
            technique_class(name).validate(settings)  # type: ignore[union-attr]
        return settings

    def uses(self, technique: str) -> bool:
        return technique in self.techniques


class MitigationIneffectiveWarning(UserWarning):
    """Mitigation was asked for on an exact, noiseless backend, where it cannot change a value."""


def wants_pipeline(config: Any) -> bool:
    """Whether a run needs this module: mitigation asked for, or a non-uniform allocation."""
    if config.mitigation:
        return True
    a = config.settings.allocation
    return a.allocation != "uniform" or a.target_stderr is not None


def _numpy(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def _expand(variant: Variant, units: Sequence[Technique], rng: np.random.Generator) -> list[Variant]:
    """The variants ``variant`` runs as, every technique expanding the previous one's output, depth
    first (all of one noise scale's twirls are drawn before the next scale is folded)."""
    if not units:
        return [variant]
    out: list[Variant] = []
    for v in units[0].expand([variant], rng):
        out += _expand(v, units[1:], rng)
    return out


def _by_scale(variants: Sequence[Variant]) -> list[tuple[float, list[Variant]]]:
    """Variants grouped by noise scale, in order of first appearance."""
    out: dict[float, list[Variant]] = {}
    for v in variants:
        out.setdefault(v.scale, []).append(v)
    return list(out.items())


def _measured(circuit: Circuit, flip: Sequence[int], basis: str | None = None) -> Circuit:
    """``circuit`` measured (in ``basis``, when given), with an X just before the measurement of
    each qubit of ``flip`` (the outcome bits are flipped back when read, :class:`Submission`)."""
    if basis is not None:
        out = measurement_circuit(circuit, basis)
    else:
        out = circuit if circuit.has_measurements else circuit.measure_all()
    if not flip:
        return out
    measured = out.measured_qubits
    body = out.without_measurements()
    for q in flip:
        body = body.x(q)
    return body.measure(measured)


def _rows_task(task: Any, variant: Variant, circuit: Circuit | None = None) -> Any:
    """``task`` running ``circuit`` (default the variant's) for every (instance, binding) row:
    row j * B + b holds binding b with twirl frame j. No observables, no state vector."""
    circuit = variant.circuit if circuit is None else circuit
    names = task.circuit.parameter_names
    if variant.frames is None and circuit.parameter_names == names:
        return replace(task, circuit=circuit, observables=(), statevector=False)
    B, J = task.batch_size, variant.instances
    pv = task.parameter_array()
    cols = {n: np.tile(pv[:, i], J) for i, n in enumerate(names)}
    if variant.frames is not None:
        for i, n in enumerate(variant.frame_names):
            cols[n] = np.repeat(variant.frames[:, i], B)
    new_names = circuit.parameter_names
    new_pv = np.column_stack([cols[n] for n in new_names]) if new_names else None
    inputs = {k: np.tile(np.broadcast_to(_numpy(v), (B, v.shape[1])), (J, 1)) for k, v in task.inputs.items()}
    return replace(task, circuit=circuit, parameter_values=new_pv, inputs=inputs, observables=(), statevector=False)


def _terms_by_group(obs: PauliSum, groups) -> tuple[float, dict[int, list[tuple[float, tuple[int, ...]]]]]:
    where = {w: g for g, (_, members) in enumerate(groups) for w in members}
    const = 0.0
    out: dict[int, list] = {}
    for t in obs.terms:
        if set(t.paulis) == {"I"}:
            const += t.coeff
        else:
            out.setdefault(where[t.paulis], []).append((t.coeff, t.support))
    return const, out


def _tokens(units: Sequence[Technique], sub: Submission, backend: Any, task: Any) -> dict[str, Any]:
    return {u.name: u.request(sub, backend, task) for u in units}


def _report(units: Sequence[Technique], tokens: dict[str, Any], mit: dict[str, Any], context: dict[str, Any]) -> None:
    for u in units:
        entry = u.report(tokens.get(u.name), context)
        if entry is not None:
            mit[u.name] = entry


def _warn(mit: dict[str, Any], warn: list[str]) -> None:
    if warn:
        mit["warnings"] = warn
        for w in warn:
            warnings.warn(w, stacklevel=4)


@dataclass
class _EstimationPlan:
    task: Any
    groups: list
    scales: list[float]
    ids: list[list[list[int]]]  # [scale][group] -> entry ids (one per twirled circuit)
    shots_per_group: np.ndarray | None
    tokens: dict[str, Any]
    allocation: dict = field(default_factory=dict)

    def combine(self, sub: Submission, raw, unit, settings: MitigationSettings, units: Sequence[Technique]) -> Any:
        task = self.task
        B, n = task.batch_size, task.circuit.num_qubits
        O = len(task.observables)
        K = len(self.scales)
        warn: list[str] = []
        every = [i for per in self.ids for g in per for i in g]
        corr: Any = NoCorrection()
        for u in units:
            est = u.estimator(self.tokens.get(u.name), sub, raw, every, n, warn)
            if est is not None:
                corr = est
                break
        parts = [_terms_by_group(obs, self.groups) for obs in task.observables]
        values = np.zeros((B, O))
        errs = np.zeros((B, O))
        raw_values = np.zeros((B, O))
        raw_errs = np.zeros((B, O))
        per_scale = np.zeros((B, K, O))
        per_scale_err = np.zeros((B, K, O))
        k0 = int(np.argmin(self.scales))
        for b in range(B):
            E = np.zeros((K, O))
            V = np.zeros((K, O))
            D: list[list[Any]] = [[0.0] * O for _ in range(K)]
            for k in range(K):
                pooled = [Samples.pool([sub.samples(raw, i, b) for i in self.ids[k][g]])
                          for g in range(len(self.groups))]
                for o, (const, by_group) in enumerate(parts):
                    E[k, o] += const
                    for g, terms in by_group.items():
                        m, v, d = corr.estimate(pooled[g], terms)
                        E[k, o] += m
                        V[k, o] += v
                        D[k][o] = D[k][o] + d
                    if k == k0:
                        raw_values[b, o] = const
                        for g, terms in by_group.items():
                            m, v, _ = NoCorrection().estimate(pooled[g], terms)
                            raw_values[b, o] += m
                            raw_errs[b, o] += v
            per_scale[b], per_scale_err[b] = E, np.sqrt(V)
            for o in range(O):
                reduced = None
                for u in units:
                    reduced = u.reduce(self.scales, E[:, o], np.sqrt(V[:, o]), parts[o][0])
                    if reduced is not None:
                        break
                if reduced is None:
                    jac = np.ones(1)
                    values[b, o] = E[k0, o]
                else:
                    values[b, o], jac = reduced
                var = float((jac * jac) @ V[:, o])
                dtot = sum((jac[k] * D[k][o] for k in range(K)), 0.0)
                if not isinstance(dtot, float):
                    var += corr.quad(dtot)
                errs[b, o] = math.sqrt(max(var, 0.0))
        raw_errs = np.sqrt(raw_errs)
        md: dict[str, Any] = {
            "measurement_groups": [g for g, _ in self.groups],
            "unmitigated": {"expectation_values": raw_values, "stderr": raw_errs,
                            "scale_factor": self.scales[k0]},
        }
        mit: dict[str, Any] = {"techniques": list(settings.techniques)}
        per_row = [sub.shots(i, unit) for i in every]
        base = [sub.shots(i, unit) for g in self.ids[k0] for i in g]
        if unit is not None:
            own = {u.name: sub.owned_shots(u.name, unit) for u in units}
            mit["shots"] = {
                "per_binding": int(sum(per_row)),
                "unmitigated_equivalent": int(sum(base)),
                "zne_extra": int(sum(per_row) - sum(base)),
                "readout_calibration": int(own.get("readout", 0)),
                "total": int(sum(per_row) * B + sum(own.values())),
            }
        mit["circuits"] = len(per_row)
        _report(units, self.tokens, mit, {"kind": "estimation", "scales": list(self.scales),
                                          "values": per_scale, "stderr": per_scale_err})
        if settings.techniques:
            mit["seed"] = settings.seed
        _warn(mit, warn)
        md["mitigation"] = mit
        if self.allocation:
            md["allocation"] = dict(self.allocation)
            if unit is not None:  # what ran: whole copies of the shot unit, at the smallest scale
                md["allocation"]["shots_run"] = [int(sum(sub.shots(i, unit) for i in g)) for g in self.ids[k0]]
        return TaskResult(batch_size=B, num_qubits=n, expectation_values=values, stderr=errs,
                          shots=None if unit is None else int(sum(per_row)), metadata=md)


@dataclass
class _SamplingPlan:
    task: Any
    ids: list[int]  # one entry per variant (twirl instances of a template are its rows)
    readout: tuple[int, ...]
    tokens: dict[str, Any]

    def combine(self, sub: Submission, raw, unit, settings: MitigationSettings, units: Sequence[Technique]) -> Any:
        task = self.task
        B = task.batch_size
        m = len(self.readout)
        warn: list[str] = []
        counts, probs, selected = [], [], []
        for b in range(B):
            s = Samples.pool([sub.samples(raw, i, b) for i in self.ids]).select(self.readout)
            if s.exact:
                probs.append(s.dense())
            else:
                counts.append({k: int(v) for k, v in s.to_dict().items()})
            selected.append(s)
        applied = [u for u in units if not u.needs_observables]  # counts are not extrapolated
        mit: dict[str, Any] = {"techniques": [u.name for u in applied], "circuits": len(self.ids)}
        md: dict[str, Any] = {"mitigation": mit}
        skipped = {u.name: u.not_applied for u in units if u.needs_observables}
        if skipped:
            mit["not_applied"] = skipped
        if unit is not None:
            mit["shots"] = {"per_binding": int(sum(sub.shots(i, unit) for i in self.ids)),
                            "readout_calibration": int(sub.owned_shots("readout", unit))}
        for u in applied:
            u.on_samples(self.tokens.get(u.name), sub, raw, self.ids, task.circuit.num_qubits, self.readout,
                         selected, md, warn)
        _report(applied, self.tokens, mit, {"kind": "sampling"})
        _warn(mit, warn)
        return TaskResult(
            batch_size=B, num_qubits=m,
            probabilities=np.stack(probs) if probs else None,
            counts=tuple(counts) if counts else None,
            shots=None if unit is None else int(sum(sub.shots(i, unit) for i in self.ids)),
            metadata=md,
        )


# -- the run -------------------------------------------------------------------------------------------


def _execute(backend: Any, compiled: list[Any], exec_config: Any) -> list[Any]:
    return checked_execute(backend, compiled, exec_config)


@dataclass
class _Pilot:
    sub: Submission
    ids: list[list[int] | None]
    exec_config: Any
    compiled: list[Any]


def _pilot_submission(backend: Any, tasks: Sequence[Any], config: Any, settings: MitigationSettings) -> _Pilot:
    """The pilot submission of ``variance="pilot"``, compiled and not sent."""
    pilot_shots = settings.shots.pilot_shots or config.shots or 1000
    sub = Submission()
    ids: list[list[int] | None] = []
    for task in tasks:
        if not task.observables:
            ids.append(None)
            continue
        groups = qubitwise_groups(task.observables)
        plain = Variant(1.0, task.circuit)
        ids.append([sub.add(_rows_task(task, plain, measurement_circuit(task.circuit, basis)), pilot_shots,
                            task.batch_size) for basis, _ in groups])
    pilot_config = replace(config, shots=pilot_shots)
    exec_config, compiled = sub.plan(backend, pilot_config, settings.shots.max_copies)
    return _Pilot(sub, ids, exec_config, compiled)


def _pilot_sigma(backend: Any, tasks: Sequence[Any], pilot: _Pilot) -> list[np.ndarray | None]:
    """Per task, (n_obs, n_groups) per-shot standard deviations from the pilot submission."""
    sub, ids, compiled = pilot.sub, pilot.ids, pilot.compiled
    raw = _execute(backend, compiled, pilot.exec_config)
    out: list[np.ndarray | None] = []
    for task, tid in zip(tasks, ids):
        if tid is None:
            out.append(None)
            continue
        groups = qubitwise_groups(task.observables)
        sig = np.zeros((len(task.observables), len(groups)))
        for o, obs in enumerate(task.observables):
            _, by_group = _terms_by_group(obs, groups)
            for g, terms in by_group.items():
                for b in range(task.batch_size):
                    s = sub.samples(raw, tid[g], b)
                    m, v, _ = NoCorrection().estimate(s, terms)
                    # per-shot standard deviation: sqrt(variance of the mean * shots)
                    sig[o, g] = max(sig[o, g], math.sqrt(v * s.shots))
        out.append(np.maximum(sig, 1e-3 * group_weights(task.observables, groups)))
    return out


@dataclass
class _Planned:
    """Everything a mitigated run sends, compiled, and what combining its results needs."""

    settings: MitigationSettings
    units: list[Technique]
    original: list[Any]
    owners: list[int]
    sub: Submission
    plans: list[Any]
    exec_config: Any
    compiled: list[Any]
    pilot: _Pilot | None  # the pilot submission; already sent unless the plan is dry


def _plan_mitigated(backend: Executor, tasks: Sequence[Task], config: RunConfig, *, dry: bool) -> _Planned:
    """Build and compile every circuit of the run (module notes, steps 1-2). ``dry``: send
    nothing; a pilot is then compiled but not run, and the shots it would have sized come from
    the worst-case variance bound instead (at least as many shots as the pilot could give)."""
    settings = MitigationSettings.from_config(config)
    units = [technique_class(name)(settings) for name in settings.techniques]  # type: ignore[misc]
    for task in tasks:
        if task.statevector:
            raise ValidationError("mitigation and shot allocation give expectation values and counts, not state "
                                  "vectors; drop statevector=True", backend=backend.backend_name)
    for u in units:
        u.check(backend, tasks)
    if settings.seed is None and any(u.needs_seed() for u in units):
        settings = replace(settings, seed=int(np.random.SeedSequence().entropy % (2**63)))
        for u in units:
            u.settings = settings
    rng = np.random.default_rng(settings.seed)
    exact = config.shots is None
    noise_techniques = [u.name for u in units if u.corrects_noise]
    target = backend.target
    if noise_techniques and exact and not target.noisy and target.simulator and not dry:
        # an exact, noiseless simulation: the techniques run their circuits and give back the
        # exact values. Warned, not refused: it is also how the pipeline is checked (folding and
        # twirling must be exact without noise).
        warnings.warn(
            f"mitigation {','.join(noise_techniques)!r} does nothing on {backend.backend_name}: it runs "
            "exact and noiseless here (no shots, no noise model), so the extra circuits return the "
            "exact values at extra cost; drop the mitigation, or run with shots on a noisy backend "
            "(for example aer with a noise model)", MitigationIneffectiveWarning, stacklevel=4,
        )
    original = list(tasks)
    tasks, owners = _expand_encodings(original, any(u.expands_encodings() for u in units))
    sigmas: list[np.ndarray | None] = [None] * len(tasks)
    pilot = None
    if settings.shots.allocation == "precision" and settings.shots.variance == "pilot" and not exact:
        pilot = _pilot_submission(backend, tasks, config, settings)
        if not dry:
            sigmas = _pilot_sigma(backend, tasks, pilot)

    sub = Submission()
    staged = sorted(units, key=lambda u: u.stage)
    plans: list[Any] = []
    for t_index, task in enumerate(tasks):
        n = task.circuit.num_qubits
        tokens = _tokens(units, sub, backend, task)
        acting = [u for u in staged if task.observables or not u.needs_observables]
        body = task.circuit.without_measurements() if task.observables else task.circuit
        variants = _expand(Variant(1.0, body), acting, rng)
        if not task.observables:
            readout = task.circuit.measured_qubits or tuple(range(n))
            J = sum(v.instances for v in variants)
            want = None if exact else max(1, int(math.ceil(config.shots / J)))
            ids = [sub.add(_rows_task(task, v, _measured(v.circuit, v.flip)), want, task.batch_size, v.instances, v.flip)
                   for v in variants]
            plans.append(_SamplingPlan(task, ids, tuple(readout), tokens))
            continue
        by_scale = _by_scale(variants)
        scales = [s for s, _ in by_scale]
        groups = qubitwise_groups(task.observables)
        allocation: dict[str, Any] = {}
        if exact:
            shots_g = None
        else:
            shots_g = allocate_shots(task.observables, groups, config.shots, settings.shots.allocation,
                                     precision=settings.shots.target_stderr, sigma=sigmas[t_index],
                                     min_shots=backend.target.min_shots)
            if settings.shots.allocation == "precision":
                factor = math.prod(u.shot_factor(scales) for u in acting)
                if factor != 1.0:
                    shots_g = np.ceil(shots_g * factor).astype(np.int64)
            if settings.shots.allocation != "uniform":
                sigma = sigmas[t_index] if sigmas[t_index] is not None else group_weights(task.observables, groups)
                allocation = {"scheme": settings.shots.allocation, "shots_per_group": shots_g.tolist(),
                              "variance": settings.shots.variance if settings.shots.allocation == "precision" else "bound",
                              "predicted_stderr": predicted_stderr(sigma, np.maximum(shots_g, 1)).tolist()
                              if len(groups) else [0.0] * len(task.observables)}
                if settings.shots.target_stderr is not None:
                    allocation["precision"] = settings.shots.target_stderr
        ids: list[list[list[int]]] = []
        for _, vs in by_scale:
            J = sum(v.instances for v in vs)
            row = []
            for g, (basis, _) in enumerate(groups):
                want = None if shots_g is None else max(1, int(math.ceil(shots_g[g] / J)))
                row.append([sub.add(_rows_task(task, v, _measured(v.circuit, v.flip, basis)), want,
                                    task.batch_size, v.instances, v.flip) for v in vs])
            ids.append(row)
        plans.append(_EstimationPlan(task, groups, scales, ids, shots_g, tokens, allocation))

    execution = tuple(name for u in units for name in u.execution_names())
    exec_config, compiled = sub.plan(backend, config, settings.shots.max_copies, execution)  # every compile error raises here
    return _Planned(settings, units, original, owners, sub, plans, exec_config, compiled, pilot)


def plan_mitigated(backend: Executor, tasks: Sequence[Task], config: RunConfig) -> tuple[list[Any], Any, list[Any] | None, Any]:
    """What a mitigated run would send, compiled and not sent (for dry runs and cost estimates):
    ``(compiled, exec_config, pilot_compiled, pilot_config)``. Every copy of a circuit is its own
    entry of ``compiled`` (each is a task of ``exec_config.shots`` shots); the pilot, sent first
    by ``variance="pilot"``, is None otherwise."""
    p = _plan_mitigated(backend, tasks, config, dry=True)
    if p.pilot is None:
        return p.compiled, p.exec_config, None, None
    return p.compiled, p.exec_config, p.pilot.compiled, p.pilot.exec_config


def run_mitigated(backend: Executor, tasks: Sequence[Task], config: RunConfig) -> LocalJob:
    """Body of ``Backend.run`` with mitigation or shot allocation (see the module notes)."""
    p = _plan_mitigated(backend, tasks, config, dry=False)
    settings, units, original, owners = p.settings, p.units, p.original, p.owners
    sub, plans, exec_config, compiled = p.sub, p.plans, p.exec_config, p.compiled
    exact = config.shots is None
    unit = exec_config.shots

    def finish(job_id: str) -> Result:
        raw = _execute(backend, compiled, exec_config)
        for u in units:
            u.finish(sub, raw)
        out = []
        for plan in plans:
            if isinstance(plan, _EstimationPlan) and not plan.groups:
                out.append(_constant_result(plan, settings))
            else:
                out.append(plan.combine(sub, raw, unit, settings, units))
        out = _merge_rows(out, owners, len(original))
        md = {"seed": config.seed, "mitigation": list(settings.techniques), "submissions": 1 + int(
            settings.shots.allocation == "precision" and settings.shots.variance == "pilot" and not exact)}
        return Result(tuple(out), backend.backend_name, job_id, config.shots, md)

    return LocalJob(backend.backend_name, finish)


def _constant_result(plan: _EstimationPlan, settings: MitigationSettings) -> Any:
    """Observables of identity terms only: nothing to measure, exact values."""
    task = plan.task
    B = task.batch_size
    vals = np.array([[sum(t.coeff for t in obs.terms) for obs in task.observables]] * B)
    zeros = np.zeros_like(vals)
    return TaskResult(batch_size=B, num_qubits=task.circuit.num_qubits, expectation_values=vals, stderr=zeros,
                      metadata={"measurement_groups": [], "unmitigated": {"expectation_values": vals, "stderr": zeros},
                                "mitigation": {"techniques": list(settings.techniques), "circuits": 0}})


def _expand_encodings(tasks: Sequence[Any], wanted: bool) -> tuple[list[Any], list[int]]:
    """When a technique asks for it (ZNE's ``fold_encoding``): a task with observables and
    run-time inputs becomes one task per binding whose encoding is bound and decomposed into
    gates (foldable). Returns (tasks, owner per task)."""
    if not wanted:
        return list(tasks), list(range(len(tasks)))
    from ..ir.gates import GATES
    from ..ir.stateprep import bind_inputs

    out: list[Any] = []
    owners: list[int] = []
    basis = set(GATES) | {"unitary", "barrier"}
    for t, task in enumerate(tasks):
        if not (task.observables and task.circuit.inputs):
            out.append(task)
            owners.append(t)
            continue
        pv = task.parameter_array()
        for b in range(task.batch_size):
            _, ins = task.binding(b)
            body = bind_inputs(task.circuit, ins).without_measurements().decompose(basis)
            row = np.array(pv[b:b + 1]) if pv.shape[1] else None  # a writable copy
            out.append(replace(task, circuit=body, parameter_values=row, inputs={}))
            owners.append(t)
    return out, owners


def _merge_rows(results: list[Any], owners: list[int], count: int) -> list[Any]:
    """Per-binding results of an expanded task back into one result with B rows."""
    if owners == list(range(count)):
        return results
    merged = []
    for t in range(count):
        parts = [r for r, o in zip(results, owners) if o == t]
        if len(parts) == 1:
            merged.append(parts[0])
            continue
        first = parts[0]
        md = dict(first.metadata)
        md["unmitigated"] = {
            "expectation_values": np.concatenate([p.metadata["unmitigated"]["expectation_values"] for p in parts]),
            "stderr": np.concatenate([p.metadata["unmitigated"]["stderr"] for p in parts]),
            "scale_factor": first.metadata["unmitigated"]["scale_factor"],
        }
        mit = dict(md["mitigation"])
        mit["circuits"] = sum(p.metadata["mitigation"]["circuits"] for p in parts)
        mit["fold_encoding"] = True
        if "zne" in mit:
            zne = dict(mit["zne"])
            zne["values"] = np.concatenate([p.metadata["mitigation"]["zne"]["values"] for p in parts])
            zne["stderr"] = np.concatenate([p.metadata["mitigation"]["zne"]["stderr"] for p in parts])
            zne["actual_scales"] = [p.metadata["mitigation"]["zne"]["actual_scales"] for p in parts]
            mit["zne"] = zne
        if "shots" in mit:
            shots = dict(mit["shots"])
            shots["total"] = sum(p.metadata["mitigation"]["shots"]["total"] for p in parts) - \
                (len(parts) - 1) * shots["readout_calibration"]
            mit["shots"] = shots
        md["mitigation"] = mit
        merged.append(TaskResult(
            batch_size=len(parts), num_qubits=first.num_qubits,
            expectation_values=np.concatenate([p.expectation_values for p in parts]),
            stderr=np.concatenate([p.stderr for p in parts]), shots=first.shots, metadata=md,
        ))
    return merged
