"""A :class:`qbridge.noise.NoiseModel` as Qiskit Aer's ``NoiseModel``.

Owns: the conversion, channel by channel, into Aer's own error constructors
(``depolarizing_error``, ``amplitude_damping_error``, ``phase_damping_error``,
``thermal_relaxation_error``, ``ReadoutError``), so that Aer computes the channels itself and
agreement with the torch backend checks both. Must not touch: the backend's runs (it imports
qiskit_aer when called, from the backend's constructor).

The converted model keeps every gate Aer runs in its basis, so the transpiler (optimisation level
0) leaves the circuit's gates as qbridge wrote them and the errors act on the same gates as on the
other backends.
"""

from __future__ import annotations

from typing import Any

from qbridge.exceptions import ValidationError
from qbridge.noise import (
    AmplitudeDamping,
    Channel,
    Depolarizing,
    NoiseModel,
    PhaseDamping,
    Product,
    ThermalRelaxation,
)

__all__ = ["to_aer_noise_model"]


def _error(channel: Channel) -> Any:
    from qiskit_aer import noise as an

    if isinstance(channel, Depolarizing):
        return an.depolarizing_error(channel.p, channel.num_qubits)
    if isinstance(channel, AmplitudeDamping):
        return an.amplitude_damping_error(channel.gamma)
    if isinstance(channel, PhaseDamping):
        return an.phase_damping_error(channel.gamma)
    if isinstance(channel, ThermalRelaxation):
        return an.thermal_relaxation_error(channel.t1, channel.t2, channel.time)
    if isinstance(channel, Product):
        err = _error(channel.channels[0])
        for ch in channel.channels[1:]:
            err = err.expand(_error(ch))  # expand: the next channel on the next qubit
        return err
    raise ValidationError(f"no Aer conversion for a {type(channel).__name__} channel")  # pragma: no cover


def _entry_error(channels: tuple[Channel, ...], arity: int, gate: str) -> Any:
    total = None
    for ch in channels:
        if ch.is_identity:
            continue
        err = _error(ch)
        if ch.num_qubits == 1 and arity > 1:
            one = err
            for _ in range(arity - 1):
                err = err.expand(one)
        elif ch.num_qubits != arity:
            raise ValidationError(f"a {ch.num_qubits}-qubit {ch.kind} channel cannot follow the {arity}-qubit {gate!r}",
                                  instruction=gate)
        total = err if total is None else total.compose(err)
    return total


def to_aer_noise_model(model: NoiseModel, basis_gates: list[str]) -> Any:
    """Aer's ``NoiseModel`` for ``model``, with ``basis_gates`` (the simulator's gates) as its basis."""
    from qiskit_aer.noise import NoiseModel as AerNoiseModel
    from qiskit_aer.noise import ReadoutError as AerReadoutError

    from qbridge.ir.gates import GATES

    out = AerNoiseModel(basis_gates=list(basis_gates))
    for entry in model.gate_noise:
        if entry.qubits is None:
            if entry.gate == "unitary":
                raise ValidationError("aer: an all-qubit error on 'unitary' has no fixed width; give it for given qubits",
                                      backend="aer", instruction="unitary")
            arity = GATES[entry.gate].num_qubits
        else:
            arity = len(entry.qubits)
        err = _entry_error(entry.channels, arity, entry.gate)
        if err is None:
            continue
        if entry.qubits is None:
            out.add_all_qubit_quantum_error(err, [entry.gate], warnings=False)
        else:
            out.add_quantum_error(err, [entry.gate], list(entry.qubits), warnings=False)
    for qubit, ro in model.readout:
        if ro.is_identity:
            continue
        # rows: prepared 0, 1; columns: measured 0, 1
        err = AerReadoutError([[1 - ro.p01, ro.p01], [ro.p10, 1 - ro.p10]])
        if qubit is None:
            out.add_all_qubit_readout_error(err, warnings=False)
        else:
            out.add_readout_error(err, [qubit], warnings=False)
    return out
