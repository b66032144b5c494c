"""Gate by gate: every gate of the library, on basis states and on random states.

Each gate acts on a register one qubit wider than the gate, on a non-trivial permutation of
qubits, so that a wrong qubit or a reversed bit order shows. Basis states check the gate's action
column by column; random states, followed by the inverse of their preparation, make relative
phases visible in the probabilities too. Parametrised gates get symbolic parameters and a batch
of three random bindings. Gates the backend lacks natively go through the core's decomposition.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qbridge.backends.base import Task
from qbridge.exceptions import ValidationError
from qbridge.ir.circuit import Circuit
from qbridge.ir.gates import GATES
from qbridge.ir.parameters import Parameter
from qbridge.testing.checks import random_state_prep
from qbridge.testing.conformance import ConformanceBase

# the gate's qubits in a register of k + 1: reversed, and skipping one, to expose index mix-ups
PLACEMENT = {1: (1,), 2: (2, 0), 3: (3, 0, 2)}


def _random_unitary(dim: int, rng: np.random.Generator) -> np.ndarray:
    z = rng.normal(size=(dim, dim)) + 1j * rng.normal(size=(dim, dim))
    q, r = np.linalg.qr(z)
    return q * (np.diag(r) / np.abs(np.diag(r)))  # Haar-random, unitary to rounding


def _with_inputs(body: Circuit, values, rng: np.random.Generator, n: int, label: str):
    """Tasks running ``body`` on every basis state and on two random states."""
    tasks, labels = [], []
    for b in range(2**n):
        bits = format(b, f"0{n}b")
        prep = Circuit(n)
        for q, bit in enumerate(bits):
            if bit == "1":
                prep = prep.x(q)
        tasks.append(Task(prep.compose(body), values))
        labels.append(f"{label} on |{bits}>")
    for r in range(2):
        prep = random_state_prep(n, rng)
        tasks.append(Task(prep.compose(body).compose(prep.inverse()), values))
        labels.append(f"{label} between a random state preparation {r} and its inverse")
    return tasks, labels


class TestGates(ConformanceBase):
    @pytest.mark.parametrize("gate_name", sorted(GATES))
    def test_gate_matches_reference(self, harness, gate_name):
        harness.require_ideal()
        gate = GATES[gate_name]
        k = gate.num_qubits
        harness.require_qubits(k + 1)
        rng = np.random.default_rng(sum(map(ord, gate_name)))
        qubits = PLACEMENT[k]
        params = [Parameter(f"theta{i}") for i in range(gate.num_params)]
        body = Circuit(k + 1).append(gate_name, qubits, params)
        values = rng.uniform(-2 * math.pi, 2 * math.pi, (harness.batch(3), len(params))) if params else None
        tasks, labels = _with_inputs(body, values, rng, k + 1, f"{gate_name}{qubits}")
        harness.check(tasks, labels)

    def test_bound_numeric_parameters(self, harness):
        """Numbers written into the circuit behave like the same values bound at run time."""
        harness.require_ideal()
        harness.require_qubits(2)
        c = Circuit(2).rx(0, 0.3).ry(1, -1.1).rzz(0, 1, 2.2).u(0, 0.4, 1.5, -0.7).crx(1, 0, 0.9).cp(0, 1, -2.5)
        harness.check([Task(c)], ["numeric rotations"])

    def test_single_qubit_unitary(self, harness):
        """A 1-qubit ``unitary`` decomposes into u on every backend, global phase kept."""
        harness.require_ideal()
        harness.require_qubits(2)
        rng = np.random.default_rng(7)
        body = Circuit(2).unitary(_random_unitary(2, rng), 1)
        tasks, labels = _with_inputs(body, None, rng, 2, "1-qubit unitary on qubit 1")
        harness.check(tasks, labels)

    def test_multi_qubit_unitary(self, harness):
        """A 2-qubit ``unitary`` runs when 'unitary' is native and is refused before running when not."""
        harness.require_qubits(3)
        rng = np.random.default_rng(8)
        body = Circuit(3).unitary(_random_unitary(4, rng), (2, 0))
        if "unitary" not in harness.target.native_gates:
            harness.expect_error(ValidationError, Task(body))
            return
        harness.require_ideal()
        tasks, labels = _with_inputs(body, None, rng, 3, "2-qubit unitary on (2, 0)")
        harness.check(tasks, labels)

    @pytest.mark.parametrize("kind", ["mcx", "mcu"])
    def test_multi_controlled_gate(self, harness, kind):
        """A multi-controlled gate (``mcu``, one instruction however many controls) on controls
        in a scrambled order: native, or through the core's ancilla-free decomposition."""
        harness.require_ideal()
        harness.require_qubits(5)
        rng = np.random.default_rng(11 if kind == "mcx" else 12)
        if kind == "mcx":
            body, values, label = Circuit(5).mcx((3, 0, 4), 1), None, "mcx on controls (3, 0, 4), target 1"
        else:
            a = Parameter("a")
            body = Circuit(5).mcu((4, 2, 0, 3), 1, a, 0.4, -1.3, 0.5 * a)
            values, label = np.array([[0.7], [-2.1]]), "mcu(a, 0.4, -1.3, a/2) on controls (4, 2, 0, 3), target 1"
        tasks, labels = _with_inputs(body, values, rng, 5, label)
        harness.check(tasks, labels)

