"""What a Braket device can do, read from its properties: pure functions, no network.

Owns: :class:`DeviceLimits` (the facts qbridge needs from a ``braket.device_schema``
capabilities object: qubit count, operations the service accepts, result types with their shot
ranges, the device's shot range, program-set limits, connectivity) and :func:`make_target`
(those facts as a qbridge :class:`~qbridge.backends.base.Target`). The same functions serve the
local simulators (their properties object) and cloud devices (``AwsDevice.properties``, or a
capabilities document given offline), so compile-time validation is tested without AWS.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from qbridge.backends.base import Target
from qbridge.exceptions import BackendError, ValidationError

from .qasm import native_gates

__all__ = ["OPENQASM", "PROGRAM_SET", "DeviceLimits", "parse_properties", "describe", "make_target", "default_layout"]

OPENQASM = "braket.ir.openqasm.program"
PROGRAM_SET = "braket.ir.openqasm.program_set"
_UNBOUNDED = 2**62  # Braket's simulators report sys.maxsize as their largest shot count


@dataclass(frozen=True)
class DeviceLimits:
    qubit_count: int
    operations: tuple[str, ...]
    pragmas: tuple[str, ...]
    result_types: Mapping[str, tuple[int, int]]  # name -> (min shots, max shots)
    shots_range: tuple[int, int]
    simulator: bool
    program_set: tuple[int, int, int] | None = None  # (max executables, max total shots, min total shots)
    fully_connected: bool = True
    graph: Mapping[int, frozenset[int]] = field(default_factory=dict)  # symmetric adjacency

    @property
    def exact(self) -> bool:
        lo = self.result_types.get("Probability", (1, 0))[0]
        return self.shots_range[0] == 0 and lo == 0

    def exact_result(self, name: str) -> bool:
        return name in self.result_types and self.result_types[name][0] == 0

    @property
    def physical_qubits(self) -> tuple[int, ...]:
        return tuple(sorted(self.graph))


def parse_properties(properties: Any) -> Any:
    """A capabilities object from an SDK object, a dict or a JSON document."""
    if isinstance(properties, (str, bytes, Mapping)):
        from braket.schema_common import BraketSchemaBase

        text = properties if isinstance(properties, (str, bytes)) else json.dumps(dict(properties))
        try:
            return BraketSchemaBase.parse_raw_schema(text)
        except Exception as exc:  # pydantic's and the schema registry's errors, reported as one
            raise ValueError(f"cannot read the device properties document: {type(exc).__name__}: {exc}") from exc
    return properties


def _key(k: Any) -> str:
    return str(getattr(k, "value", k))


def describe(properties: Any) -> DeviceLimits:
    """The facts qbridge needs from a Braket capabilities object."""
    actions = {_key(k): v for k, v in dict(properties.action).items()}
    if OPENQASM not in actions:
        raise BackendError(
            f"the device takes no OpenQASM programs (its actions: {sorted(actions)}); qbridge sends OpenQASM 3"
        )
    oq = actions[OPENQASM]
    results = {}
    for rt in oq.supportedResultTypes or ():
        results[rt.name] = (int(rt.minShots or 0), int(rt.maxShots if rt.maxShots is not None else _UNBOUNDED))
    service = properties.service
    lo, hi = (int(x) for x in service.shotsRange)
    paradigm = properties.paradigm
    simulator = "simulator" in _key(paradigm.braketSchemaHeader.name) if hasattr(paradigm, "braketSchemaHeader") else False
    fully, graph = True, {}
    conn = getattr(paradigm, "connectivity", None)
    if conn is not None:
        fully = bool(conn.fullyConnected)
        adj: dict[int, set[int]] = {}
        for a, bs in (conn.connectivityGraph or {}).items():
            for b in bs:
                adj.setdefault(int(a), set()).add(int(b))
                adj.setdefault(int(b), set()).add(int(a))
        graph = {k: frozenset(v) for k, v in adj.items()}
    ps = None
    if PROGRAM_SET in actions:
        a = actions[PROGRAM_SET]
        ps = (int(a.maximumExecutables), int(a.maximumTotalShots), int(getattr(a, "minimumTotalShots", None) or 0))
    return DeviceLimits(
        qubit_count=int(paradigm.qubitCount),
        operations=tuple(oq.supportedOperations or ()),
        pragmas=tuple(getattr(oq, "supportedPragmas", None) or ()),
        result_types=results,
        shots_range=(lo, hi),
        simulator=simulator,
        program_set=ps,
        fully_connected=fully,
        graph=graph,
    )


def default_layout(limits: DeviceLimits) -> tuple[int, ...]:
    """Physical qubits in label order (IQM numbers from 1, others from 0)."""
    if limits.graph:
        return limits.physical_qubits
    return tuple(range(limits.qubit_count))


def make_target(
    limits: DeviceLimits,
    *,
    noisy: bool = False,
    gate_noise: bool = False,
    layout: Sequence[int] | None = None,
    exact: bool = True,
) -> Target:
    """The qbridge target of a device; ``layout`` (physical qubit of circuit qubit i) turns on
    connectivity checks, None leaves placement and routing to Braket's compiler. ``exact=False``
    declares a sampling-only transport even where the device could return exact result types."""
    gates = set(native_gates(limits.operations, limits.pragmas))
    if gate_noise:
        # noise channels exist for one and two qubits: three-qubit gates are decomposed first
        gates -= {"ccx", "cswap"}
    connectivity = None
    num_qubits = limits.qubit_count
    if layout is not None:
        num_qubits = len(layout)
        if not limits.fully_connected:
            known = set(limits.graph)
            missing = [q for q in layout if q not in known]
            if missing:
                raise ValidationError(f"layout names physical qubit(s) {missing} that the device does not have")
            connectivity = frozenset(
                (i, j)
                for i, a in enumerate(layout)
                for j, b in enumerate(layout)
                if i != j and b in limits.graph.get(a, ())
            )
    lo, hi = limits.shots_range
    return Target(
        num_qubits=num_qubits,
        native_gates=frozenset(gates),
        connectivity=connectivity,
        supports_exact=exact and limits.exact,
        supports_shots=hi >= 1,
        supports_statevector=exact and limits.exact_result("StateVector"),
        supports_state_prep=False,
        min_shots=max(1, lo),
        max_shots=None if hi >= _UNBOUNDED else hi,
        batched=True,
        gradient_methods=("parameter-shift",),
        simulator=limits.simulator,
        noisy=noisy or not limits.simulator,
        gpu=False,
        precisions=("single", "double"),
    )
