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
                        ``twirl_mode``: ``explicit`` (default) | ``parametric`` (see _variants)
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
from ..runtime.options import AllocationSettings, MitigationOptions
from ..runtime.checks import checked_execute
from ..runtime.types import LocalJob, Result, Task, TaskResult
from ..ir.observables import PauliSum
from ..ir.measurement import measurement_circuit, qubitwise_groups
from .allocation import allocate_shots, group_weights, predicted_stderr, split_into_copies
from .native import native_mitigation
from .readout import (
    FullCalibration,
    NoCorrection,
    TensoredCalibration,
    calibrate,
    calibration_circuits,
    correct_distribution,
    nearest_probability_distribution,
)
from .samples import Samples
from .twirl import TwirlTemplate, twirl_circuit, twirl_pairs
from .zne import extrapolate, fold

__all__ = ["TECHNIQUES", "MitigationSettings", "MitigationIneffectiveWarning", "wants_pipeline", "run_mitigated", "plan_mitigated"]

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

    @staticmethod
    def from_config(config: Any) -> "MitigationSettings":
        techniques = tuple(dict.fromkeys(config.mitigation))  # order kept, duplicates dropped
        unknown = [t for t in techniques if t not in TECHNIQUES]
        if unknown:
            raise ValueError(f"unknown mitigation {unknown}; choose from {list(TECHNIQUES)} (comma-separated)")
        # the values were checked when the RunConfig was made (qbridge.runtime.options); what
        # is left are the rules that tie settings together
        a, m = config.settings.allocation, config.settings.mitigation
        if a.allocation == "precision" and a.target_stderr is None:
            raise ValueError("allocation 'precision' needs options={'target_stderr': <target standard error>}")
        scales = tuple(m.scale_factors)
        if "zne" in techniques:
            if len(scales) < 2 or len(set(scales)) != len(scales) or min(scales) < 1:
                raise ValueError(f"scale_factors must be at least 2 distinct numbers >= 1, got {scales}")
        order = m.order
        if m.extrapolation == "polynomial" and order is None:
            order = 2
        return MitigationSettings(techniques=techniques, shots=a, options=replace(m, scale_factors=scales),
                                  seed=m.mitigation_seed if m.mitigation_seed is not None else config.seed,
                                  order=order)

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


# -- one submission ----------------------------------------------------------------------------------


@dataclass
class _Entry:
    task: Any  # Task; its rows are (instance j, binding b) at j * bindings + b
    desired: int | None  # shots wished for per row (None: exact)
    bindings: int = 1  # the original task's batch size
    instances: int = 1  # twirl instances, as rows
    copies: int = 1
    first: int = 0  # index of its first copy in the compiled list


class _Submission:
    """Distinct circuits to run, each compiled once and sent as ``copies`` identical tasks."""

    def __init__(self) -> None:
        self.entries: list[_Entry] = []

    def add(self, task: Any, desired: int | None, bindings: int = 1, instances: int = 1) -> int:
        self.entries.append(_Entry(task, desired, bindings, instances))
        return len(self.entries) - 1

    def plan(self, backend: Any, config: Any, settings: MitigationSettings) -> tuple[Any, list[Any]]:
        """(config to execute with, compiled tasks with copies in place); compiles everything."""
        t = backend.target
        if config.shots is None:
            unit = None
            for e in self.entries:
                e.copies = 1
        else:
            unit, copies = split_into_copies(
                [e.desired for e in self.entries], min_shots=t.min_shots, max_shots=t.max_shots,
                max_copies=settings.shots.max_copies,
            )
            for e, c in zip(self.entries, copies):
                e.copies = int(c)
        exec_config = replace(config, shots=unit, mitigation=("native",) if settings.uses("native") else ())
        compiled: list[Any] = []
        for e in self.entries:
            comp = backend.compile(e.task, exec_config)
            e.first = len(compiled)
            compiled.extend([comp] * e.copies)
        return exec_config, compiled

    def shots(self, i: int, unit: int | None) -> int:
        """Shots that entry ``i`` spends per binding (all its copies and twirl instances)."""
        e = self.entries[i]
        return 0 if unit is None else e.copies * e.instances * unit

    def samples(self, raw: Sequence[Any], compiled: Sequence[Any], i: int, row: int) -> Samples:
        """The entry's outcomes of binding ``row`` over all qubits, pooled over copies and instances."""
        e = self.entries[i]
        n = e.task.circuit.num_qubits
        res = raw[e.first: e.first + e.copies]
        rows = [j * e.bindings + row for j in range(e.instances)]
        if res[0].counts is not None:
            return Samples.from_counts([r.counts[k] for r in res for k in rows], n)
        parts = []
        for r in res:
            for k in rows:
                p = r.probabilities[k]
                p = p.detach().cpu().numpy() if hasattr(p, "detach") else np.asarray(p)
                parts.append(Samples.from_probabilities(p, n, atol=1e-15))
        return Samples.pool(parts)

    def layout(self, raw: Sequence[Any], i: int) -> tuple[int, ...] | None:
        lay = raw[self.entries[i].first].metadata.get("layout") if raw[self.entries[i].first].metadata else None
        return None if lay is None else tuple(int(q) for q in lay)

    def native_report(self, raw: Sequence[Any], i: int) -> Any:
        md = raw[self.entries[i].first].metadata or {}
        return md.get("native_mitigation")


def _numpy(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


@dataclass(frozen=True)
class _Variant:
    scale: float  # actual noise scale
    circuit: Circuit  # folded, and a twirl template when twirling
    frames: np.ndarray | None = None  # (instances, frame parameters) or None
    frame_names: tuple[str, ...] = ()

    @property
    def instances(self) -> int:
        return 1 if self.frames is None else len(self.frames)


def _rows_task(task: Any, variant: _Variant, circuit: Circuit | None = None) -> Any:
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


def _variants(circuit: Circuit, settings: MitigationSettings, rng: np.random.Generator,
              zne: bool) -> list[tuple[float, list[_Variant]]]:
    """Per noise scale: (actual scale, the circuits that run it). Twirled instances are separate
    circuits (``twirl_mode="explicit"``, default: the fewest extra gates) or the rows of one
    template (``"parametric"``: one compile for all instances, four extra gates per frame)."""
    out = []
    scales = settings.options.scale_factors if zne else (1.0,)
    for s in scales:
        if zne:
            folded, actual = fold(circuit, s, settings.options.fold_method, seed=rng, barriers=settings.options.fold_barriers)
        else:
            folded, actual = circuit, 1.0
        units = [_Variant(actual, folded)]
        if settings.uses("twirl"):
            if settings.options.twirl_mode == "parametric":
                tpl = TwirlTemplate(folded, settings.options.twirl_gates)
                if tpl.slots:
                    frames = tpl.frames(settings.options.twirl_instances, rng)
                    units = [_Variant(actual, tpl.circuit, frames, tuple(tpl.names))]
            elif any(len(twirl_pairs(op.name)) > 1 for op in folded):
                units = [_Variant(actual, twirl_circuit(folded, rng, settings.options.twirl_gates))
                         for _ in range(settings.options.twirl_instances)]
        out.append((actual, units))
    return out


# -- calibration -------------------------------------------------------------------------------------


class _Calibrations:
    """Readout calibrations per width, built before the run and read back after it."""

    def __init__(self, settings: MitigationSettings, shots: int | None) -> None:
        self.settings = settings
        self.shots = settings.options.calibration_shots or shots
        self.entries: dict[int, list[int]] = {}
        self.results: dict[int, Any] = {}
        self.layouts: dict[int, tuple[int, ...] | None] = {}

    def width(self, backend: Any, n: int) -> int:
        if self.settings.options.calibration_width == "device" and backend.target.num_qubits:
            return max(int(backend.target.num_qubits), n)
        return n

    def request(self, sub: _Submission, backend: Any, n: int) -> int:
        w = self.width(backend, n)
        if w not in self.entries:
            self.entries[w] = [sub.add(Task(c), self.shots) for c in calibration_circuits(w, self.settings.options.readout_method)]
        return w

    def finish(self, sub: _Submission, raw: Sequence[Any], compiled: Sequence[Any]) -> None:
        for w, ids in self.entries.items():
            results = [sub.samples(raw, compiled, i, 0) for i in ids]
            layout = sub.layout(raw, ids[0])
            self.results[w] = calibrate(results, self.settings.options.readout_method, layout)
            self.layouts[w] = layout

    def shots_used(self, sub: _Submission, unit: int | None) -> int:
        return sum(sub.shots(i, unit) for ids in self.entries.values() for i in ids)

    def corrector(self, w: int, n: int, layout: tuple[int, ...] | None, warn: list[str]):
        """(calibration, qubit map) for a task of ``n`` qubits measured at ``layout``."""
        cal = self.results[w]
        cal_layout = cal.physical_qubits
        if layout is not None and cal_layout is not None:
            pos = {p: i for i, p in enumerate(cal_layout)}
            if all(p in pos for p in layout):
                qubits = [pos[p] for p in layout]
            else:
                qubits = list(range(n))
                warn.append(
                    f"the circuit ran on physical qubits {list(layout)} but the readout calibration on "
                    f"{list(cal_layout)}; corrected by logical qubit; set options calibration_width='device' "
                    "to calibrate every qubit of the device"
                )
        else:
            qubits = list(range(n))
        return cal, qubits


class _Mapped:
    """A calibration applied to a register whose qubit i is the calibration's qubit ``qubits[i]``."""

    def __init__(self, cal: Any, qubits: Sequence[int]) -> None:
        self.cal = cal
        self.qubits = list(qubits)
        self.identity = self.qubits == list(range(cal.num_qubits))

    def estimate(self, samples: Samples, terms):
        if self.identity:
            return self.cal.estimate(samples, terms)
        if isinstance(self.cal, FullCalibration):
            sub = self.cal.restrict(self.qubits)
            m, v, _ = sub.estimate(samples, terms)
            # the sub-register's matrix is not a slice of the calibration's parameters: its own
            # shot noise is left out (documented); the tensored model keeps it
            return m, v, np.zeros(self.cal.num_params)
        n = self.cal.num_qubits
        sub = TensoredCalibration(self.cal.e0[self.qubits], self.cal.e1[self.qubits], self.cal.shots0, self.cal.shots1)
        m, v, d = sub.estimate(samples, terms)
        full = np.zeros(2 * n)
        k = len(self.qubits)
        np.add.at(full, self.qubits, d[:k])
        np.add.at(full, [n + q for q in self.qubits], d[k:])
        return m, v, full

    def quad(self, d: np.ndarray) -> float:
        return self.cal.quad(d)

    def distribution(self, samples: Samples) -> dict[str, float]:
        cal = self.cal if self.identity else self.cal.restrict(self.qubits)
        return correct_distribution(samples, cal)


# -- plans ---------------------------------------------------------------------------------------------


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


@dataclass
class _EstimationPlan:
    task: Any
    groups: list
    scales: list[float]
    ids: list[list[list[int]]]  # [scale][group] -> entry ids (one per twirled circuit)
    shots_per_group: np.ndarray | None
    cal_width: int | None
    allocation: dict = field(default_factory=dict)

    def combine(self, sub, raw, compiled, unit, settings, cals, native) -> Any:
        task = self.task
        B, n = task.batch_size, task.circuit.num_qubits
        O = len(task.observables)
        K = len(self.scales)
        warn: list[str] = []
        corr: Any = NoCorrection()
        if self.cal_width is not None:
            layouts = [sub.layout(raw, i) for per in self.ids for g in per for i in g]
            if len(set(layouts)) > 1:
                warn.append(f"the measurement circuits ran on different layouts {sorted(set(map(str, layouts)))}; "
                            "readout corrected with the first one's")
            cal, qubits = cals.corrector(self.cal_width, n, layouts[0] if layouts else None, warn)
            corr = _Mapped(cal, qubits)
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
                pooled = [Samples.pool([sub.samples(raw, compiled, i, b) for i in self.ids[k][g]])
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
                if settings.uses("zne"):
                    asym = settings.options.asymptote if settings.options.asymptote is not None else parts[o][0]
                    ext = extrapolate(self.scales, E[:, o], np.sqrt(V[:, o]), settings.options.extrapolation,
                                      order=settings.order, asymptote=asym)
                    jac = ext.jacobian
                    values[b, o] = ext.value
                else:
                    jac = np.ones(1)
                    values[b, o] = E[0, o]
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
        per_row = [sub.shots(i, unit) for per in self.ids for g in per for i in g]
        base = [sub.shots(i, unit) for g in self.ids[k0] for i in g]
        if unit is not None:
            mit["shots"] = {
                "per_binding": int(sum(per_row)),
                "unmitigated_equivalent": int(sum(base)),
                "zne_extra": int(sum(per_row) - sum(base)),
                "readout_calibration": cals.shots_used(sub, unit) if self.cal_width is not None else 0,
                "total": int(sum(per_row) * B + (cals.shots_used(sub, unit) if self.cal_width is not None else 0)),
            }
        mit["circuits"] = len(per_row)
        if settings.uses("zne"):
            mit["zne"] = {"scale_factors": list(settings.options.scale_factors), "actual_scales": list(self.scales),
                          "fold_method": settings.options.fold_method, "extrapolation": settings.options.extrapolation,
                          "order": settings.order, "values": per_scale, "stderr": per_scale_err}
        if settings.uses("twirl"):
            mit["twirl"] = {"instances": settings.options.twirl_instances,
                            "gates": list(settings.options.twirl_gates) if settings.options.twirl_gates else "all"}
        if self.cal_width is not None:
            mit["readout"] = {"method": settings.options.readout_method, "calibration": cals.results[self.cal_width].to_dict()}
        if settings.uses("native"):
            mit["native"] = native
        if settings.techniques:
            mit["seed"] = settings.seed
        if warn:
            mit["warnings"] = warn
            for w in warn:
                warnings.warn(w, stacklevel=3)
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
    ids: list[int]  # the one entry (twirl instances are its rows)
    readout: tuple[int, ...]
    cal_width: int | None

    def combine(self, sub, raw, compiled, unit, settings, cals, native) -> Any:
        task = self.task
        B = task.batch_size
        m = len(self.readout)
        warn: list[str] = []
        counts, probs, quasi, nearest = [], [], [], []
        corr = None
        if self.cal_width is not None:
            lay = sub.layout(raw, self.ids[0])
            cal, qubits = cals.corrector(self.cal_width, task.circuit.num_qubits, lay, warn)
            corr = _Mapped(cal, [qubits[q] for q in self.readout])
        for b in range(B):
            s = Samples.pool([sub.samples(raw, compiled, i, b) for i in self.ids]).select(self.readout)
            if s.exact:
                probs.append(s.dense())
            else:
                counts.append({k: int(v) for k, v in s.to_dict().items()})
            if corr is not None:
                q = corr.distribution(s)
                quasi.append(q)
                nearest.append(nearest_probability_distribution(q))
        applied = [t for t in settings.techniques if t != "zne"]  # counts are not extrapolated
        md: dict[str, Any] = {"mitigation": {"techniques": applied, "circuits": len(self.ids)}}
        if settings.uses("zne"):
            md["mitigation"]["not_applied"] = {"zne": "extrapolates expectation values; this task has none"}
        if unit is not None:
            cal_shots = cals.shots_used(sub, unit) if self.cal_width is not None else 0
            md["mitigation"]["shots"] = {"per_binding": int(sum(sub.shots(i, unit) for i in self.ids)),
                                         "readout_calibration": cal_shots}
        if corr is not None:
            md["quasi_dists"] = quasi
            md["nearest_probabilities"] = nearest
            md["mitigation"]["readout"] = {"method": settings.options.readout_method,
                                           "calibration": cals.results[self.cal_width].to_dict()}
        if settings.uses("twirl"):
            md["mitigation"]["twirl"] = {"instances": settings.options.twirl_instances}
        if settings.uses("native"):
            md["mitigation"]["native"] = native
        if warn:
            md["mitigation"]["warnings"] = warn
            for w in warn:
                warnings.warn(w, stacklevel=3)
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
    sub: _Submission
    ids: list[list[int] | None]
    exec_config: Any
    compiled: list[Any]


def _pilot_submission(backend: Any, tasks: Sequence[Any], config: Any, settings: MitigationSettings) -> _Pilot:
    """The pilot submission of ``variance="pilot"``, compiled and not sent."""
    pilot_shots = settings.shots.pilot_shots or config.shots or 1000
    sub = _Submission()
    ids: list[list[int] | None] = []
    for task in tasks:
        if not task.observables:
            ids.append(None)
            continue
        groups = qubitwise_groups(task.observables)
        plain = _Variant(1.0, task.circuit)
        ids.append([sub.add(_rows_task(task, plain, measurement_circuit(task.circuit, basis)), pilot_shots,
                            task.batch_size) for basis, _ in groups])
    pilot_config = replace(config, shots=pilot_shots)
    exec_config, compiled = sub.plan(backend, pilot_config, replace(settings, techniques=()))
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
                    s = sub.samples(raw, compiled, tid[g], b)
                    m, v, _ = NoCorrection().estimate(s, terms)
                    # per-shot standard deviation: sqrt(variance of the mean * shots)
                    sig[o, g] = max(sig[o, g], math.sqrt(v * s.shots))
        out.append(np.maximum(sig, 1e-3 * group_weights(task.observables, groups)))
    return out


@dataclass
class _Planned:
    """Everything a mitigated run sends, compiled, and what combining its results needs."""

    settings: MitigationSettings
    native: Any
    original: list[Any]
    owners: list[int]
    sub: _Submission
    cals: _Calibrations
    plans: list[Any]
    exec_config: Any
    compiled: list[Any]
    pilot: _Pilot | None  # the pilot submission; already sent unless the plan is dry


def _plan_mitigated(backend: Any, tasks: Sequence[Any], config: Any, *, dry: bool) -> _Planned:
    """Build and compile every circuit of the run (module notes, steps 1-2). ``dry``: send
    nothing; a pilot is then compiled but not run, and the shots it would have sized come from
    the worst-case variance bound instead (at least as many shots as the pilot could give)."""
    settings = MitigationSettings.from_config(config)
    native = native_mitigation(backend) if settings.uses("native") else None
    if settings.seed is None and (settings.uses("twirl") or (settings.uses("zne") and settings.options.fold_method == "random")):
        settings = replace(settings, seed=int(np.random.SeedSequence().entropy % (2**63)))
    rng = np.random.default_rng(settings.seed)
    exact = config.shots is None
    for task in tasks:
        if task.statevector:
            raise ValidationError("mitigation and shot allocation give expectation values and counts, not state "
                                  "vectors; drop statevector=True", backend=backend.backend_name)
    if settings.uses("zne") and not any(task.observables for task in tasks):
        # in a mixed run, tasks without observables (counts) skip ZNE and say so in their metadata
        raise ValidationError("zero-noise extrapolation extrapolates expectation values; give observables "
                              "(Estimator) or drop 'zne'", backend=backend.backend_name)
    noise_techniques = [t for t in settings.techniques if t in ("readout", "zne", "twirl")]
    target = backend.target
    if noise_techniques and exact and not target.noisy and target.simulator and not dry:
        # an exact, noiseless simulation: readout correction, extrapolation and twirling run
        # their circuits and give back the exact values. Warned, not refused: it is also how the
        # pipeline is checked (folding and twirling must be exact without noise).
        warnings.warn(
            f"mitigation {','.join(noise_techniques)!r} does nothing on {backend.backend_name}: it runs "
            "exact and noiseless here (no shots, no noise model), so the extra circuits return the "
            "exact values at extra cost; drop the mitigation, or run with shots on a noisy backend "
            "(for example aer with a noise model)", MitigationIneffectiveWarning, stacklevel=4,
        )
    original = list(tasks)
    tasks, owners = _expand_encodings(original, settings)
    sigmas: list[np.ndarray | None] = [None] * len(tasks)
    pilot = None
    if settings.shots.allocation == "precision" and settings.shots.variance == "pilot" and not exact:
        pilot = _pilot_submission(backend, tasks, config, settings)
        if not dry:
            sigmas = _pilot_sigma(backend, tasks, pilot)

    sub = _Submission()
    cals = _Calibrations(settings, config.shots)
    plans: list[Any] = []
    for t_index, task in enumerate(tasks):
        n = task.circuit.num_qubits
        cal_width = cals.request(sub, backend, n) if settings.uses("readout") else None
        variants = _variants(task.circuit.without_measurements() if task.observables else task.circuit,
                             settings, rng, settings.uses("zne"))
        if not task.observables:
            units = variants[0][1]
            readout = task.circuit.measured_qubits or tuple(range(n))
            J = sum(v.instances for v in units)
            want = None if exact else max(1, int(math.ceil(config.shots / J)))
            ids = [sub.add(_rows_task(task, v, v.circuit if v.circuit.has_measurements else v.circuit.measure_all()),
                           want, task.batch_size, v.instances) for v in units]
            plans.append(_SamplingPlan(task, ids, tuple(readout), cal_width))
            continue
        groups = qubitwise_groups(task.observables)
        allocation: dict[str, Any] = {}
        if exact:
            shots_g = None
        else:
            shots_g = allocate_shots(task.observables, groups, config.shots, settings.shots.allocation,
                                     precision=settings.shots.target_stderr, sigma=sigmas[t_index],
                                     min_shots=backend.target.min_shots)
            if settings.shots.allocation == "precision" and settings.uses("zne"):
                # the extrapolation amplifies variance by sum_k w_k^2 (linear methods): scale up
                from .zne import extrapolation_weights

                try:
                    w = extrapolation_weights([a for a, _ in variants], settings.options.extrapolation, settings.order)
                    shots_g = np.ceil(shots_g * float(w @ w)).astype(np.int64)
                except ValueError:
                    pass  # exponential: no fixed weights; the precision then holds per scale
            if settings.shots.allocation != "uniform":
                sigma = sigmas[t_index] if sigmas[t_index] is not None else group_weights(task.observables, groups)
                allocation = {"scheme": settings.shots.allocation, "shots_per_group": shots_g.tolist(),
                              "variance": settings.shots.variance if settings.shots.allocation == "precision" else "bound",
                              "predicted_stderr": predicted_stderr(sigma, np.maximum(shots_g, 1)).tolist()
                              if len(groups) else [0.0] * len(task.observables)}
                if settings.shots.target_stderr is not None:
                    allocation["precision"] = settings.shots.target_stderr
        ids: list[list[list[int]]] = []
        for _, units in variants:
            J = sum(v.instances for v in units)
            row = []
            for g, (basis, _) in enumerate(groups):
                want = None if shots_g is None else max(1, int(math.ceil(shots_g[g] / J)))
                row.append([sub.add(_rows_task(task, v, measurement_circuit(v.circuit, basis)), want,
                                    task.batch_size, v.instances) for v in units])
            ids.append(row)
        plans.append(_EstimationPlan(task, groups, [a for a, _ in variants], ids, shots_g, cal_width, allocation))

    exec_config, compiled = sub.plan(backend, config, settings)  # every compile error raises here
    return _Planned(settings, native, original, owners, sub, cals, plans, exec_config, compiled, pilot)


def plan_mitigated(backend: Any, tasks: Sequence[Any], config: Any) -> tuple[list[Any], Any, list[Any] | None, Any]:
    """What a mitigated run would send, compiled and not sent (for dry runs and cost estimates):
    ``(compiled, exec_config, pilot_compiled, pilot_config)``. Every copy of a circuit is its own
    entry of ``compiled`` (each is a task of ``exec_config.shots`` shots); the pilot, sent first
    by ``variance="pilot"``, is None otherwise."""
    p = _plan_mitigated(backend, tasks, config, dry=True)
    if p.pilot is None:
        return p.compiled, p.exec_config, None, None
    return p.compiled, p.exec_config, p.pilot.compiled, p.pilot.exec_config


def run_mitigated(backend: Any, tasks: Sequence[Any], config: Any):
    """Body of ``Backend.run`` with mitigation or shot allocation (see the module notes)."""
    p = _plan_mitigated(backend, tasks, config, dry=False)
    settings, native, original, owners = p.settings, p.native, p.original, p.owners
    sub, cals, plans, exec_config, compiled = p.sub, p.cals, p.plans, p.exec_config, p.compiled
    exact = config.shots is None
    unit = exec_config.shots

    def finish(job_id: str) -> Result:
        raw = _execute(backend, compiled, exec_config)
        if settings.uses("readout"):
            cals.finish(sub, raw, compiled)
        native_report = None
        if settings.uses("native"):
            reports = [sub.native_report(raw, e) for e in range(len(sub.entries))]
            native_report = {"requested": native, "reported": next((r for r in reports if r is not None), None)}
        out = []
        for plan in plans:
            if isinstance(plan, _EstimationPlan) and not plan.groups:
                out.append(_constant_result(plan, settings))
            else:
                out.append(plan.combine(sub, raw, compiled, unit, settings, cals, native_report))
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


def _expand_encodings(tasks: Sequence[Any], settings: MitigationSettings) -> tuple[list[Any], list[int]]:
    """With ``fold_encoding``: a ZNE task with run-time inputs becomes one task per binding whose
    encoding is bound and decomposed into gates (foldable). Returns (tasks, owner per task)."""
    if not (settings.options.fold_encoding and settings.uses("zne")):
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
