"""Cost estimates and the budget that refuses a submission before anything is sent.

Owns: :class:`CostEstimate`, :func:`count_executables` (how many circuits a run really sends,
after observables are split into measurement groups), :func:`estimate_cost` (dispatch to a
backend's cost model), the IBM pay-as-you-go model (:func:`ibm_estimate`), and :class:`Budget`.

Cost models live with their adapters where they need adapter data (the Braket price table ships in
``qbridge_braket.prices``) and are found through the ``qbridge.cost_models`` entry-point group,
by backend name (:func:`cost_model_for`); a backend may also carry its own ``cost_model`` attribute. A backend
whose target says ``simulator=True`` costs nothing. A paid device without a known price gives an
estimate of ``None``, which any budget refuses (we cannot promise to stay under it).

IBM model (documented in docs/cloud.md): billed QPU time per job is
``overhead_s + executions * (rep_delay_s + 250 us)``, USD = seconds * 1.60. The defaults
(2 s per job, rep_delay 250 us, so 500 us per shot) sit at the upper end of the 300-500 us per shot
seen in IBM's documentation, so the estimate errs high.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping, Sequence

from ..exceptions import BudgetExceededError

__all__ = [
    "CostEstimate",
    "Budget",
    "count_executables",
    "expand_executions",
    "estimate_cost",
    "cost_model_for",
    "COST_MODEL_GROUP",
    "ibm_estimate",
    "ibm_rate",
    "IBM_USD_PER_SECOND",
    "IBM_SHOT_OVERHEAD_S",
    "IBM_JOB_OVERHEAD_S",
    "IBM_MAX_EXECUTIONS",
]

IBM_USD_PER_SECOND = 1.60  # pay-as-you-go, IBM documentation 2024
IBM_DEFAULT_REP_DELAY_S = 250e-6  # default gap between shots
IBM_SHOT_OVERHEAD_S = 250e-6  # gates + readout + reset on top of the gap (upper end)
IBM_JOB_OVERHEAD_S = 2.0  # fixed per job (assumption; see docs/cloud.md)
IBM_MAX_EXECUTIONS = 10_000_000  # a Sampler job runs at most this many circuit executions
ENV_IBM_USD_PER_SECOND = "QBRIDGE_IBM_USD_PER_SECOND"

#: The entry-point group of cost models: a distribution declares ``"<backend name>" =
#: "module:callable"`` there (as backends are declared in ``qbridge.backends``); the callable is
#: imported only when an estimate for that backend is asked for.
COST_MODEL_GROUP = "qbridge.cost_models"


@dataclass(frozen=True)
class CostEstimate:
    """What a run will cost before it is sent. ``usd`` is None when no price is known."""

    usd: float | None
    backend: str
    device: str | None
    provider_tasks: int  # billed units: Braket quantum tasks, IBM jobs
    executables: int  # circuit x binding pairs
    shots: int | None  # per executable
    model: str  # one line: how the number was computed
    price_date: str | None = None  # the date of the price table used
    free: bool = False
    breakdown: Mapping[str, Any] = field(default_factory=dict)

    @property
    def total_shots(self) -> int:
        return (self.shots or 0) * self.executables

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["breakdown"] = dict(self.breakdown)
        d["total_shots"] = self.total_shots
        d["estimated_cost_usd"] = self.usd
        return d

    def describe(self) -> str:
        if self.usd is None:
            return f"cost unknown ({self.model})"
        date = f", prices as of {self.price_date}" if self.price_date else ""
        return f"USD {self.usd:.4f} ({self.model}{date})"


@dataclass(frozen=True)
class Budget:
    """Limits of one run, and optionally of all runs recorded in the job store.

    ``max_cost_usd``: this run's estimate must not exceed it. ``max_shots``: total shots of the run
    (all circuits and bindings). ``total_cap_usd``: money committed in the store plus this run must
    stay under it (the store's own setting, ``qbridge jobs budget --total-cap``, applies when this
    is None). ``max_qpu_seconds``: the estimated QPU usage time of a device billed by time (IBM)
    must not exceed it (:meth:`check_seconds`; a device not billed by time is refused, since its
    time is not estimated).
    """

    max_cost_usd: float | None = None
    max_shots: int | None = None
    total_cap_usd: float | None = None
    max_qpu_seconds: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_cost_usd", "total_cap_usd", "max_qpu_seconds"):
            v = getattr(self, name)
            if v is not None:
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                    raise ValueError(f"{name} must be a non-negative number, got {v!r}")
                object.__setattr__(self, name, float(v))
        if self.max_shots is not None and (isinstance(self.max_shots, bool) or not isinstance(self.max_shots, int) or self.max_shots < 1):
            raise ValueError(f"max_shots must be a positive integer, got {self.max_shots!r}")

    @classmethod
    def from_options(cls, options: Any) -> "Budget | None":
        """A budget from a run's typed budget settings (``RunConfig.settings.budget``) or from run
        options (``max_cost``, ``max_shots``, ``total_cap``, ``max_seconds``, checked as
        ``RunConfig`` checks them), or None when none is set."""
        from ..runtime.options import BudgetSettings, check_run_options, settings_from_options

        b = options if isinstance(options, BudgetSettings) else settings_from_options(check_run_options(options)).budget
        if not b.any:
            return None
        return cls(max_cost_usd=b.max_cost, max_shots=b.max_shots, total_cap_usd=b.total_cap,
                   max_qpu_seconds=b.max_seconds)

    def check_seconds(self, qpu_seconds: float | None) -> None:
        """Raise :class:`BudgetExceededError` if the estimated QPU time is over ``max_qpu_seconds``
        or unknown (a device billed per task and shot has no time estimate); nothing has been sent."""
        if self.max_qpu_seconds is None:
            return
        if qpu_seconds is None:
            raise BudgetExceededError(
                f"a limit of {self.max_qpu_seconds:g} QPU seconds (max_seconds) was set, but this device is not billed "
                "by usage time and its time is not estimated; nothing was sent. Drop --max-seconds and use --max-cost",
                budget_seconds=self.max_qpu_seconds,
            )
        if qpu_seconds > self.max_qpu_seconds + 1e-12:
            raise BudgetExceededError(
                f"estimated QPU usage {qpu_seconds:.3f} s exceeds the limit of {self.max_qpu_seconds:g} s (max_seconds); "
                "nothing was sent. Lower the shots or circuits, or raise --max-seconds",
                estimate_seconds=qpu_seconds, budget_seconds=self.max_qpu_seconds,
            )

    def check(
        self,
        estimate_usd: float | None,
        total_shots: int | None = None,
        spent_usd: float = 0.0,
        total_cap_usd: float | None = None,
    ) -> None:
        """Raise :class:`BudgetExceededError` if the run does not fit; nothing has been sent."""
        if self.max_shots is not None and total_shots is not None and total_shots > self.max_shots:
            raise BudgetExceededError(
                f"the run needs {total_shots} shots in total, over the limit of {self.max_shots} (max_shots); "
                "nothing was sent. Lower --shots or the number of circuits, or raise --max-shots",
                estimate_shots=total_shots, budget_shots=self.max_shots,
            )
        cap = self.total_cap_usd if self.total_cap_usd is not None else total_cap_usd
        if estimate_usd is None and (self.max_cost_usd is not None or cap is not None):
            raise BudgetExceededError(
                "the cost of this run is unknown (no price for the device), so it cannot be held to the budget "
                f"(max cost {_usd(self.max_cost_usd)}, total cap {_usd(cap)}); nothing was sent. Add the device to a "
                "price file (see docs/cloud.md) or drop the budget",
                estimate_usd=None, budget_usd=self.max_cost_usd,
            )
        if estimate_usd is None:
            return
        if self.max_cost_usd is not None and estimate_usd > self.max_cost_usd + 1e-12:
            raise BudgetExceededError(
                f"estimated cost USD {estimate_usd:.4f} exceeds the budget of USD {self.max_cost_usd:.4f} "
                "(max_cost); nothing was sent. Lower the shots or circuits, or raise --max-cost",
                estimate_usd=estimate_usd, budget_usd=self.max_cost_usd,
            )
        if cap is not None and spent_usd + estimate_usd > cap + 1e-12:
            raise BudgetExceededError(
                f"estimated cost USD {estimate_usd:.4f} plus USD {spent_usd:.4f} already committed in the job store "
                f"exceeds the total budget of USD {cap:.4f}; nothing was sent. Raise it with "
                "`qbridge jobs budget --total-cap USD` or wait for running jobs' actual costs",
                estimate_usd=estimate_usd, budget_usd=cap, spent_usd=spent_usd,
            )


def _usd(v: float | None) -> str:
    return "none" if v is None else f"USD {v:.4f}"


def count_executables(tasks: Sequence[Any], shots: int | None) -> int:
    """Circuits x bindings that a run sends, as :func:`qbridge.execution.run.run_tasks` expands them.

    With shots, each task's observables are measured in qubit-wise commuting groups, one circuit
    per group (a task with only identity terms sends nothing); every batch row is one execution.
    """
    return sum(n for _, n in expand_executions(tasks, shots))


def expand_executions(tasks: Sequence[Any], shots: int | None) -> list[tuple[Any, int]]:
    """(task of one circuit that is sent, its executions): each measurement-group circuit of a task
    with observables and shots, with the task's batch rows. Sums to :func:`count_executables`."""
    from ..backends.base import as_task

    out: list[tuple[Any, int]] = []
    for t in tasks:
        task = as_task(t)
        if shots is not None and task.observables:
            out += [(sub, task.batch_size) for _, _, sub in task.measurement_tasks()]
        else:
            out.append((task, task.batch_size))
    return out


def cost_model_for(name: str) -> Callable[..., CostEstimate] | None:
    """The cost model registered for backend ``name`` in :data:`COST_MODEL_GROUP`, or None.

    Two distributions registering the same name is an error that names both (as for backends).
    """
    from importlib import metadata

    found = [ep for ep in metadata.entry_points(group=COST_MODEL_GROUP) if ep.name == name]
    if not found:
        return None
    if len({ep.value for ep in found}) > 1:
        raise ValueError(f"cost model {name!r} is registered twice in {COST_MODEL_GROUP!r}: "
                         f"{', '.join(sorted({ep.value for ep in found}))}; uninstall one of them")
    try:
        return found[0].load()
    except ModuleNotFoundError:  # the distribution's metadata is there, its code is not
        return None


def estimate_cost(
    tasks: Any,
    backend: Any,
    shots: int | None = None,
    *,
    options: Mapping[str, Any] | None = None,
) -> CostEstimate:
    """Estimate what running ``tasks`` on ``backend`` with ``shots`` costs; sends nothing.

    ``tasks``: a Task, Circuit, or a list of them (or an int: the number of executions already
    counted). ``backend``: a Backend instance, or a backend name with its ``options`` (e.g.
    ``arn=``): nothing is created, so no credentials or network are needed.
    """
    from ..backends.base import Backend, Task
    from ..ir.circuit import Circuit

    if isinstance(backend, Backend):
        name = backend.backend_name
        opts = {**backend.options, **dict(options or {})}
    elif isinstance(backend, str):
        name, opts = backend, dict(options or {})
    else:
        raise TypeError(f"backend must be a Backend or a backend name, got {type(backend).__name__}")
    if shots is not None and (isinstance(shots, bool) or not isinstance(shots, int) or shots < 1):
        raise ValueError(f"shots must be a positive integer or None, got {shots!r}")
    task_list = None
    if isinstance(tasks, int) and not isinstance(tasks, bool):
        executables = tasks
    else:
        if isinstance(tasks, (Task, Circuit)) or (isinstance(tasks, tuple) and tasks and isinstance(tasks[0], Circuit)):
            tasks = [tasks]
        task_list = list(tasks)
        executables = count_executables(task_list, shots)

    model = getattr(backend, "cost_model", None) if isinstance(backend, Backend) else None
    if model is None:
        model = cost_model_for(name)
    if callable(model):
        kwargs: dict[str, Any] = {}
        if _takes(model, "tasks"):
            # the circuits (None when only a count was given): a time-billed model times them
            kwargs["tasks"] = task_list
        return model(executables=executables, shots=shots, options=opts, backend=name,
                     backend_obj=backend if isinstance(backend, Backend) else None, **kwargs)
    simulator = _is_simulator(backend, name)
    if simulator:
        return CostEstimate(0.0, name, None, 0, executables, shots, "local simulator: free", free=True)
    return CostEstimate(None, name, opts.get("arn") or opts.get("backend"), 0, executables, shots,
                        f"no cost model for {name}")


def _takes(fn: Callable[..., Any], name: str) -> bool:
    """Whether ``fn`` accepts the keyword ``name`` (named, or through ``**kwargs``): cost models
    written before a keyword existed keep working."""
    import inspect

    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _is_simulator(backend: Any, name: str) -> bool:
    from ..backends.base import Backend

    if isinstance(backend, Backend):
        try:
            return bool(backend.target.simulator)
        except Exception:  # a target that needs the network: treat the device as paid  # noqa: BLE001
            return False
    from importlib import metadata

    if any(ep.name == name for ep in metadata.entry_points(group=COST_MODEL_GROUP)):
        return False  # priced by an adapter whose code is not importable: paid, price unknown
    from ..backends.registry import get_backend

    try:
        return bool(get_backend(name).target.simulator)
    except Exception:  # noqa: BLE001 - unknown or unavailable: not provably free
        return False


def ibm_rate() -> float:
    """USD per QPU second: ``$QBRIDGE_IBM_USD_PER_SECOND`` or the documented 1.60."""
    raw = os.environ.get(ENV_IBM_USD_PER_SECOND)
    if raw is None:
        return IBM_USD_PER_SECOND
    try:
        rate = float(raw)
    except ValueError:
        raise ValueError(f"{ENV_IBM_USD_PER_SECOND} must be a number of USD per second, got {raw!r}") from None
    if not math.isfinite(rate) or rate < 0:
        raise ValueError(f"{ENV_IBM_USD_PER_SECOND} must be a non-negative number, got {raw!r}")
    return rate


def ibm_estimate(
    executables: int,
    shots: int,
    *,
    backend: str = "ibm.runtime",
    device: str | None = None,
    rep_delay_s: float | None = None,
    usd_per_second: float | None = None,
    job_overhead_s: float = IBM_JOB_OVERHEAD_S,
    jobs: int | None = None,
    circuit_seconds: Sequence[float] | None = None,
    timing: str | None = None,
) -> CostEstimate:
    """IBM pay-as-you-go estimate: QPU seconds from shots and timing, times USD per second.

    ``rep_delay_s``: the backend's gap between shots (its ``default_rep_delay``; 250 us if unknown).
    ``circuit_seconds``: one shot's duration of each execution's circuit (gates and readout, from
    the device's durations; ``len == executables``), added to the gap; without it every shot is
    assumed to take 250 us on top of the gap (the upper end of IBM's documented 300-500 us per
    shot). ``timing`` says how the durations were found. ``jobs``: how many jobs the run is split
    into (default: as few as the 10-million-execution cap allows). The rate comes from
    ``usd_per_second``, ``$QBRIDGE_IBM_USD_PER_SECOND``, or 1.60.
    """
    if shots is None:
        raise ValueError("IBM QPUs sample: give shots to estimate a cost")
    rate = usd_per_second if usd_per_second is not None else ibm_rate()
    delay = IBM_DEFAULT_REP_DELAY_S if rep_delay_s is None else float(rep_delay_s)
    executions = executables * shots
    n_jobs = jobs if jobs is not None else max(1, math.ceil(executions / IBM_MAX_EXECUTIONS))
    if circuit_seconds is not None:
        if len(circuit_seconds) != executables:
            raise ValueError(f"circuit_seconds has {len(circuit_seconds)} entries for {executables} executables")
        busy = sum(float(c) + delay for c in circuit_seconds) * shots
        per_shot = busy / executions if executions else delay
        how = (f"per shot: the circuit's gates and readout ({timing or 'device durations'}) + the "
               f"{delay * 1e6:.0f} us gap between shots; mean {per_shot * 1e6:.1f} us")
    else:
        per_shot = delay + IBM_SHOT_OVERHEAD_S
        busy = executions * per_shot
        how = (f"per shot: the {delay * 1e6:.0f} us gap between shots + {IBM_SHOT_OVERHEAD_S * 1e6:.0f} us assumed "
               "for gates and readout (no device durations used)")
    seconds = n_jobs * job_overhead_s + busy
    return CostEstimate(
        usd=seconds * rate,
        backend=backend,
        device=device,
        provider_tasks=n_jobs,
        executables=executables,
        shots=shots,
        model=(f"IBM usage time: ({n_jobs} job(s) x {job_overhead_s:g} s + {executions} executions x "
               f"{per_shot * 1e6:.0f} us) = {seconds:.3f} QPU s x USD {rate:.2f}/s; {how}"),
        price_date="2024 (IBM documentation)",
        breakdown={"qpu_seconds": seconds, "usd_per_second": rate, "seconds_per_shot": per_shot,
                   "job_overhead_s": job_overhead_s, "jobs": n_jobs, "rep_delay_s": delay,
                   "timing": timing if circuit_seconds is not None else "assumed 250 us per shot for gates and readout"},
    )
