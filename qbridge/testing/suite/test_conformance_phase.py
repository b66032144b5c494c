"""Global phase: a returned state vector carries ``circuit.global_phase``, exactly.

A state vector is ``exp(i * global_phase) * U |0...0>`` with ``U`` the product of the gate
matrices of qbridge's library (``qbridge.ir.gates.gate_matrix``), and every comparison of state
vectors in the suite includes the phase (``checks.assert_states_close``). The phase reaches a
backend two ways, and each has its test here: written on the circuit (a number, or a linear
expression of parameters -- including a parameter that appears nowhere else -- evaluated for
each row), and produced by the core's exact rewrite into native gates (``p``, ``s``, ``t``,
``crz``, ``u`` written as ``rz ry rz``, ... each add a phase to the native circuit). The gate and
random-circuit families compare state vectors with the phase as well.

Only backends that return state vectors are concerned (``supports_statevector``).
"""

from __future__ import annotations

import math

import numpy as np

from qbridge.backends.base import Task
from qbridge.ir.circuit import Circuit
from qbridge.ir.gates import GATES
from qbridge.ir.parameters import Parameter
from qbridge.testing.checks import assert_states_close, reference_states
from qbridge.testing.conformance import ConformanceBase

A, B, G = Parameter("a"), Parameter("b"), Parameter("g")
# gates whose rewrite into a small native set adds a global phase (u -> rz ry rz, p -> rz, ...)
PHASED = ("p", "s", "sdg", "t", "tdg", "sx", "sxdg", "cp", "crz", "u", "rz", "y")


def _states(harness, tasks, labels):
    harness.require(harness.target.supports_statevector, "declares supports_statevector=False")
    harness.require_ideal()
    harness.require_qubits(3)
    tasks = [Task(t.circuit, t.parameter_values, t.inputs, statevector=True) for t in tasks]
    result = harness.run(tasks)
    for task, res, label in zip(tasks, result, labels):
        if res.statevector is None:
            raise AssertionError(f"{harness.name}, {label}: statevector=True but the result has no state vector")
        assert_states_close(res.statevector, reference_states(task), harness.atol, f"{harness.name}, {label}")


class TestGlobalPhase(ConformanceBase):
    def test_phase_written_on_the_circuit(self, harness):
        """A numeric phase, and a parametrised one evaluated for every row of a batch."""
        rng = np.random.default_rng(81)
        body = Circuit(3).h(0).cx(0, 1).ry(2, A).crx(1, 2, B)
        numeric = Circuit(3, list(body), global_phase=2.2)
        # 'g' appears only in the phase: the native circuit keeps it, and a row binds it by name
        symbolic = Circuit(3, list(body), global_phase=1.5 * A - 0.5 * B + G + 0.25)
        rows = harness.batch(3)
        tasks = [
            Task(numeric, rng.uniform(-math.pi, math.pi, (rows, 2))),
            Task(symbolic, rng.uniform(-math.pi, math.pi, (rows, 3))),
        ]
        _states(harness, tasks, ["numeric global phase 2.2", "global phase 1.5*a - 0.5*b + g + 0.25, per row"])

    def test_phase_from_native_rewrite(self, harness):
        """Gates whose exact rewrite into native gates adds a phase, symbolic, in a batch."""
        rng = np.random.default_rng(82)
        theta = [Parameter(f"t{i}") for i in range(3)]
        c = Circuit(3).h(0).h(1).h(2)
        for k, name in enumerate(PHASED):
            gate = GATES[name]
            qubits = [(k + j) % 3 for j in range(gate.num_qubits)]
            c = c.append(name, qubits, theta[: gate.num_params])
        tasks = [Task(c, rng.uniform(-math.pi, math.pi, (harness.batch(3), c.num_parameters)))]
        _states(harness, tasks, [f"phase-carrying gates {PHASED}"])
