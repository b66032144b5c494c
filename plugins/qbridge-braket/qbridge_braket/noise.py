"""A :class:`qbridge.noise.NoiseModel` as Braket noise pragmas for the density-matrix simulator.

Owns: :class:`ModelNoise`, which writes the channels of a qbridge model after each gate with
Braket's own named channels (``depolarizing``, ``two_qubit_depolarizing``,
``amplitude_damping``, ``phase_damping``; thermal relaxation as amplitude then phase damping,
:meth:`qbridge.noise.ThermalRelaxation.as_damping`) and, with shots, each qubit's readout error
as a ``kraus`` channel before measurement; exact probabilities get the readout errors
classically (:func:`qbridge.noise.apply_readout`), and exact expectation values none (the
convention of :mod:`qbridge.noise`). Must not touch: the SDK (pure text) or submission.

Conventions converted here: Braket's ``depolarizing(p)`` is (1-p) rho + p/3 (X rho X + Y rho Y +
Z rho Z), qbridge's ``Depolarizing(q)`` is (1-q) rho + q I/2, so p = 3q/4; for two qubits p = 15q/16.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from qbridge.noise import (
    AmplitudeDamping,
    Channel,
    Depolarizing,
    NoiseModel,
    PhaseDamping,
    Product,
    ThermalRelaxation,
    apply_readout,
)

from .qasm import _format_complex, _num

__all__ = ["ModelNoise"]


def _pragmas(channel: Channel, refs: Sequence[str]) -> list[str]:
    where = ", ".join(refs)
    if isinstance(channel, Depolarizing):
        if channel.num_qubits == 1:
            return [f"#pragma braket noise depolarizing({_num(0.75 * channel.p)}) {where}"]
        return [f"#pragma braket noise two_qubit_depolarizing({_num(15 / 16 * channel.p)}) {where}"]
    if isinstance(channel, AmplitudeDamping):
        return [f"#pragma braket noise amplitude_damping({_num(channel.gamma)}) {where}"]
    if isinstance(channel, PhaseDamping):
        return [f"#pragma braket noise phase_damping({_num(channel.gamma)}) {where}"]
    if isinstance(channel, ThermalRelaxation):
        amp, phase = channel.as_damping()
        return _pragmas(amp, refs) + _pragmas(phase, refs)
    if isinstance(channel, Product):
        return [line for ch, ref in zip(channel.channels, refs) for line in _pragmas(ch, [ref])]
    raise TypeError(f"no Braket pragma for {type(channel).__name__}")  # pragma: no cover


def _matrix(m: np.ndarray) -> str:
    return "[" + ", ".join("[" + ", ".join(_format_complex(complex(z)) for z in row) + "]" for row in m) + "]"


@dataclass(frozen=True)
class ModelNoise:
    """The translator's noise interface for a qbridge :class:`~qbridge.noise.NoiseModel`."""

    model: NoiseModel

    @property
    def active(self) -> bool:
        return self.model.has_gate_noise or self.model.has_readout

    @property
    def gate_noise(self) -> bool:
        return self.model.has_gate_noise

    def after_op(self, gate: str, qubits: Sequence[int], refs: Sequence[str]) -> list[str]:
        ref = dict(zip(qubits, refs))
        out: list[str] = []
        for channel, on in self.model.channels_for(gate, qubits):
            out += _pragmas(channel, [ref[q] for q in on])
        return out

    def readout_pragmas(self, n: int, qref) -> list[str]:
        out = []
        for q in range(n):
            err = self.model.readout_for(q)
            if err is None:
                continue
            # a channel whose measurement statistics are the confusion matrix: |0> -> |1> with p01,
            # |1> -> |0> with p10
            k0 = np.diag([np.sqrt(1 - err.p01), np.sqrt(1 - err.p10)])
            k1 = np.array([[0.0, 0.0], [np.sqrt(err.p01), 0.0]])
            k2 = np.array([[0.0, np.sqrt(err.p10)], [0.0, 0.0]])
            mats = ", ".join(_matrix(k) for k in (k0, k1, k2))
            out.append(f"#pragma braket noise kraus({mats}) {qref(q)}")
        return out

    def exact_readout(self, probs: np.ndarray, word_values: np.ndarray, words: Sequence[str], n: int):
        return apply_readout(probs, self.model, range(n)), word_values

    def to_dict(self) -> dict[str, Any]:
        return self.model.to_dict()
