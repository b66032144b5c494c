"""Measuring observables with shots: qubit-wise commuting groups and their basis changes.

Owns: which Pauli strings are measured together (:func:`qubitwise_groups`) and the circuit that
measures one group in the Z basis (:func:`measurement_circuit`). Everyone who needs to know what a
shot-based run sends uses these: the estimation of results, the cost estimate and the dry-run
plan (through :meth:`qbridge.backends.base.Task.measurement_tasks`), the mitigation pipeline, the
layers' previews. Must not touch: backends, results.
"""

from __future__ import annotations

from typing import Sequence

from .circuit import Circuit
from .observables import PauliSum

__all__ = ["qubitwise_groups", "measurement_circuit"]


def _qwc(a: str, b: str) -> bool:
    return all(x == "I" or y == "I" or x == y for x, y in zip(a, b))


def qubitwise_groups(observables: Sequence[PauliSum]) -> list[tuple[str, list[str]]]:
    """Greedy qubit-wise commuting groups of the distinct non-identity Pauli strings.

    Returns ``(basis, strings)`` pairs: ``basis`` has, per qubit, the letter measured (``I`` where
    no term of the group acts).
    """
    words: list[str] = []
    for obs in observables:
        for t in obs.terms:
            if set(t.paulis) != {"I"} and t.paulis not in words:
                words.append(t.paulis)
    groups: list[tuple[list[str], list[str]]] = []  # (basis letters, members)
    for w in sorted(words, key=lambda s: -sum(c != "I" for c in s)):
        for basis, members in groups:
            if _qwc("".join(basis), w):
                for i, c in enumerate(w):
                    if c != "I":
                        basis[i] = c
                members.append(w)
                break
        else:
            groups.append((list(w), [w]))
    return [("".join(b), m) for b, m in groups]


def measurement_circuit(circuit: Circuit, basis: str) -> Circuit:
    """``circuit`` with basis changes so that measuring Z on every qubit measures ``basis``."""
    out = circuit.without_measurements()
    for q, p in enumerate(basis):
        if p == "X":
            out = out.h(q)
        elif p == "Y":
            out = out.sdg(q).h(q)
    return out.measure_all()
