"""Amazon Braket prices: a dated table shipped with the adapter, which a user file can override.

Owns: loading ``braket_prices.json`` (next to this module) merged with a user file
(``prices=`` path option, or ``$QBRIDGE_BRAKET_PRICES``), looking a device ARN up in it, and the
Braket cost model: per task plus per shot,

    USD = tasks * per_task + executions * shots * per_shot

where every circuit execution is one quantum task, unless program sets bundle up to 100 of them
into one task (one per-task fee, the shots of all of them). Managed simulators bill by the minute;
the shipped table has no simulator prices, so a user file entry with ``per_minute`` and
``assumed_seconds_per_task`` is needed to estimate them (otherwise the cost is unknown and any
budget refuses the run).

Imports no AWS SDK: estimates work offline.
"""

from __future__ import annotations

import fnmatch
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

__all__ = ["ENV_PRICES", "DevicePrice", "PriceTable", "load_prices", "estimate", "cost_model", "BUILTIN_PRICES"]

ENV_PRICES = "QBRIDGE_BRAKET_PRICES"
BUILTIN_PRICES = Path(__file__).with_name("braket_prices.json")


@dataclass(frozen=True)
class DevicePrice:
    key: str
    match: str  # glob over device ARNs
    per_task: float = 0.0
    per_shot: float = 0.0
    per_minute: float | None = None  # managed simulators
    assumed_seconds_per_task: float | None = None
    minimum_seconds: float = 0.0
    debias_min_shots: int | None = None
    as_of: str | None = None
    source: str = "builtin"

    def matches(self, arn: str) -> bool:
        return fnmatch.fnmatchcase(arn, self.match)


@dataclass(frozen=True)
class PriceTable:
    as_of: str | None
    devices: tuple[DevicePrice, ...]  # user entries first
    program_set_max_executables: int = 100
    sources: tuple[str, ...] = ()
    default_per_task: float = 0.30

    def lookup(self, arn: str) -> DevicePrice | None:
        for d in self.devices:
            if d.matches(arn):
                return d
        return None


def _read(path: Path, source: str) -> tuple[str | None, list[DevicePrice], int | None, float | None]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the Braket price file {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("devices"), dict):
        raise ValueError(f"the Braket price file {path} needs a 'devices' object (see docs/cloud.md)")
    as_of = data.get("as_of")
    out = []
    for key, entry in data["devices"].items():
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: device {key!r} must be an object")
        unknown = set(entry) - {"match", "per_task", "per_shot", "per_minute", "assumed_seconds_per_task",
                                "minimum_seconds", "debias_min_shots", "as_of", "note"}
        if unknown:
            raise ValueError(f"{path}: device {key!r} has unknown field(s) {sorted(unknown)}")
        nums = {k: entry[k] for k in ("per_task", "per_shot", "per_minute", "assumed_seconds_per_task", "minimum_seconds") if k in entry}
        for k, v in nums.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"{path}: {key}.{k} must be a non-negative number, got {v!r}")
        out.append(
            DevicePrice(
                key=key,
                match=str(entry.get("match") or f"arn:aws:braket:*::device/*/{key}*"),
                per_task=float(entry.get("per_task", 0.0)),
                per_shot=float(entry.get("per_shot", 0.0)),
                per_minute=None if entry.get("per_minute") is None else float(entry["per_minute"]),
                assumed_seconds_per_task=None if entry.get("assumed_seconds_per_task") is None else float(entry["assumed_seconds_per_task"]),
                minimum_seconds=float(entry.get("minimum_seconds", 0.0)),
                debias_min_shots=entry.get("debias_min_shots"),
                as_of=entry.get("as_of") or as_of,
                source=source,
            )
        )
    return as_of, out, data.get("program_set_max_executables"), data.get("default_per_task")


def load_prices(path: str | os.PathLike | None = None) -> PriceTable:
    """The shipped table, with a user file's entries (``path`` or ``$QBRIDGE_BRAKET_PRICES``) first."""
    as_of, devices, ps_max, per_task = _read(BUILTIN_PRICES, "builtin")
    sources = [f"{BUILTIN_PRICES.name} (as of {as_of})"]
    user = path if path is not None else os.environ.get(ENV_PRICES)
    if user:
        u_as_of, u_devices, u_ps, u_task = _read(Path(user).expanduser(), str(user))
        devices = u_devices + devices
        sources.insert(0, f"{user} (as of {u_as_of or 'undated'})")
        ps_max = u_ps or ps_max
        per_task = u_task if u_task is not None else per_task
    return PriceTable(as_of=as_of, devices=tuple(devices), program_set_max_executables=int(ps_max or 100),
                      sources=tuple(sources), default_per_task=float(per_task if per_task is not None else 0.30))


def estimate(
    arn: str,
    executables: int,
    shots: int | None,
    *,
    program_sets: bool = False,
    prices: PriceTable | str | os.PathLike | None = None,
    backend: str = "braket.device",
    per_task_executables: int | None = None,
):
    """The :class:`qbridge.jobs.CostEstimate` of ``executables`` circuits x ``shots`` on ``arn``.

    ``per_task_executables``: how many executions one program-set task holds (default: the
    table's 100; a device's own limits may allow fewer).
    """
    from qbridge.jobs.cost import CostEstimate

    if not isinstance(prices, PriceTable):
        prices = load_prices(prices)
    if not arn:
        raise ValueError("braket.device needs a device ARN to price a run: --option arn=arn:aws:braket:...")
    if shots is None:
        raise ValueError("Braket QPU runs sample: give shots to estimate a cost")
    per_task_execs = (per_task_executables or prices.program_set_max_executables) if program_sets else 1
    tasks = math.ceil(executables / per_task_execs) if executables else 0
    p = prices.lookup(arn)
    if p is None:
        return CostEstimate(None, backend, arn, tasks, executables, shots,
                            f"no price known for {arn} in {', '.join(prices.sources)}")
    if p.per_minute is not None:
        if p.assumed_seconds_per_task is None:
            return CostEstimate(None, backend, arn, tasks, executables, shots,
                                f"{p.key} bills by the minute; set assumed_seconds_per_task in the price file")
        seconds = max(p.minimum_seconds, p.assumed_seconds_per_task)
        usd = tasks * (p.per_task + seconds / 60.0 * p.per_minute) + executables * shots * p.per_shot
        model = f"{tasks} task(s) x {seconds:g} s assumed x USD {p.per_minute}/min ({p.key})"
    else:
        usd = tasks * p.per_task + executables * shots * p.per_shot
        model = (f"{tasks} task(s) x USD {p.per_task:.2f} + {executables * shots} shots x USD {p.per_shot:g} "
                 f"({p.key}{', program sets' if program_sets else ''})")
    return CostEstimate(
        usd=usd, backend=backend, device=arn, provider_tasks=tasks, executables=executables, shots=shots,
        model=model, price_date=p.as_of,
        breakdown={"per_task_usd": p.per_task, "per_shot_usd": p.per_shot, "task_fees_usd": tasks * p.per_task,
                   "shot_fees_usd": executables * shots * p.per_shot, "price_source": p.source,
                   "program_sets": bool(program_sets)},
    )


def cost_model(*, executables: int, shots: int | None, options: Mapping[str, Any], backend: str = "braket.device",
               backend_obj: Any = None, **_: Any):
    """The cost model :func:`qbridge.jobs.estimate_cost` calls for ``braket.device``.

    With a backend object, program sets are assumed exactly when the adapter will use them: the
    device accepts them and the shots fit its limits (then as many executions per task as the
    device allows, at most 100).
    """
    arn = options.get("arn") or options.get("device_arn") or getattr(backend_obj, "arn", None) or ""
    program_sets = options.get("program_sets")
    per_task = None
    limits = getattr(getattr(backend_obj, "limits", None), "program_set", None)
    if program_sets is None and limits is not None and shots:
        max_exec, max_total = int(limits[0]), int(limits[1])
        if max_exec >= 1 and shots <= max_total:
            program_sets = True
            per_task = min(max_exec, max_total // shots) if max_total else max_exec
    est = estimate(arn, executables, shots, program_sets=bool(program_sets), prices=options.get("prices"),
                   backend=backend, per_task_executables=per_task)
    if est.usd is None and shots:
        # Not in the table: a device's capabilities carry its own per-shot price (deviceCost);
        # with the standard per-task fee that prices a newer device until the table knows it.
        cost = getattr(getattr(getattr(backend_obj, "properties", None), "service", None), "deviceCost", None)
        if cost is not None and str(getattr(cost, "unit", "")).lower() == "shot" and getattr(cost, "price", None) is not None:
            table = load_prices(options.get("prices"))
            device = DevicePrice(key="deviceCost", match=arn, per_task=table.default_per_task, per_shot=float(cost.price),
                                 as_of=None, source="device capabilities (deviceCost)")
            own = PriceTable(as_of=None, devices=(device,), program_set_max_executables=table.program_set_max_executables,
                             sources=("the device's deviceCost",))
            est = estimate(arn, executables, shots, program_sets=bool(program_sets), prices=own, backend=backend,
                           per_task_executables=per_task)
    return est
