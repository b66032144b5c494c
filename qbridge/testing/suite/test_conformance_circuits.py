"""Whole circuits: random circuits, batching, measured subsets and amplitude encoding."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qbridge.backends.base import Task
from qbridge.ir.circuit import Circuit
from qbridge.ir.parameters import Parameter
from qbridge.testing.checks import KNOWN_PRECISIONS, assert_close, random_circuit, to_numpy
from qbridge.testing.conformance import ConformanceBase


class TestRandomCircuits(ConformanceBase):
    @pytest.mark.parametrize("precision", KNOWN_PRECISIONS)
    @pytest.mark.parametrize("width", range(1, 7))
    def test_random_circuit(self, harness, width, precision):
        """Seeded random circuits over the whole gate library, numeric and symbolic, each with a
        global phase (a number, and an expression of the parameters)."""
        harness = harness.with_precision(precision)
        harness.require_ideal()
        harness.require_qubits(width)
        rng = np.random.default_rng(100 + width)
        fixed = random_circuit(width, 6 * width + 4, rng).with_global_phase(float(rng.uniform(-3, 3)))
        symbolic = random_circuit(width, 6 * width + 4, rng, parametric=True)
        # a parametrised global phase, evaluated per row (state vectors are compared with it)
        first, last = Parameter(symbolic.parameter_names[0]), Parameter(symbolic.parameter_names[-1])
        symbolic = symbolic.with_global_phase(0.75 * first - 1.5 * last + 0.4)
        values = rng.uniform(-math.pi, math.pi, (harness.batch(3), symbolic.num_parameters))
        tasks = [Task(fixed), Task(symbolic, values)]
        labels = [f"random {width}-qubit circuit ({precision})", f"random symbolic {width}-qubit circuit ({precision})"]
        harness.check(tasks, labels)
        if harness.target.supports_exact and harness.target.supports_statevector:
            # a run that does not ask for state vectors may take another path in the backend
            harness.check_exact(tasks, [f"{label} (probabilities only)" for label in labels], statevector=False)


class TestBatching(ConformanceBase):
    def test_batch_equals_single_runs(self, harness):
        """A batch of B bindings gives what B separate single-binding runs give."""
        harness.require_ideal()
        harness.require_qubits(3)
        rng = np.random.default_rng(21)
        c = random_circuit(3, 14, rng, parametric=True)
        B = harness.batch(4)
        values = rng.uniform(-math.pi, math.pi, (B, c.num_parameters))
        harness.check([Task(c, values)], [f"batch of {B} bindings"])
        if not harness.target.supports_exact:
            harness.check([Task(c, values[b : b + 1]) for b in range(B)], [f"binding {b} alone" for b in range(B)])
            return
        batched = to_numpy(harness.run(Task(c, values))[0].probabilities)
        for b in range(B):
            single = harness.run(Task(c, values[b : b + 1]))[0]
            assert_close(
                single.probabilities, batched[b : b + 1], harness.atol,
                f"{harness.name}: binding {b} run alone vs row {b} of the batch",
            )

    def test_several_tasks_in_one_submission(self, harness):
        """Tasks of different widths, readouts and batch sizes go out together, results in order."""
        harness.require_ideal()
        harness.require_qubits(3)
        rng = np.random.default_rng(22)
        sym = random_circuit(2, 8, rng, parametric=True)
        tasks = [
            Task(random_circuit(3, 10, rng)),
            Task(sym, rng.uniform(-3, 3, (harness.batch(2), sym.num_parameters))),
            Task(random_circuit(1, 4, rng)),
            Task(random_circuit(3, 10, rng).measure([2, 0])),
        ]
        harness.check(tasks, ["3 qubits", "2 qubits, batch", "1 qubit", "3 qubits measuring (2, 0)"])

    def test_parameter_and_input_batches_broadcast(self, harness):
        """Parameter rows and input rows pair up row by row, and a single row is shared."""
        harness.require_ideal()
        harness.require_qubits(3)
        rng = np.random.default_rng(23)
        theta, phi = Parameter("theta"), Parameter("phi")
        c = Circuit(3).amplitude_encode("x", qubits=[0, 1]).ry(2, theta).cry(0, 2, phi).cx(2, 1)
        B = harness.batch(3)
        many_p, one_p = rng.uniform(-3, 3, (B, 2)), rng.uniform(-3, 3, (1, 2))
        many_x, one_x = rng.normal(size=(B, 4)), rng.normal(size=(1, 4))
        tasks = [
            Task(c, many_p, {"x": one_x}),
            Task(c, one_p, {"x": many_x}),
            Task(c, many_p, {"x": many_x}),
        ]
        harness.check(tasks, ["B parameter rows, 1 input row", "1 parameter row, B input rows", "B and B rows"])


class TestMeasuredSubsets(ConformanceBase):
    # |1001>: each case names the measured qubits in classical-bit order and the one outcome
    CASES = [((3, 1), "10"), ((1, 3), "01"), ((0,), "1"), ((2, 3, 0), "011"), ((0, 1, 2, 3), "1001")]

    def test_classical_bit_order(self, harness):
        """Bits come out in the order the qubits were measured, the first measured leftmost."""
        harness.require_ideal()
        harness.require_qubits(4)
        base = Circuit(4).x(3).x(0)
        circuits = [base.measure(list(q)) for q, _ in self.CASES] + [base.measure(2).measure(0)]
        expected = [bits for _, bits in self.CASES] + ["01"]
        if harness.target.supports_exact:
            result = harness.run(circuits)
            for c, res, bits in zip(circuits, result, expected):
                want = np.zeros((1, 2 ** len(bits)))
                want[0, int(bits, 2)] = 1
                assert_close(res.probabilities, want, harness.atol,
                             f"{harness.name}: |1001> measuring {c.measured_qubits}")
        if harness.target.supports_shots:
            shots = harness.shots(100)
            result = harness.run(circuits, shots=shots, seed=5)
            for c, res, bits in zip(circuits, result, expected):
                counts = res.get_counts(0)
                assert counts == {bits: shots}, (
                    f"{harness.name}: |1001> measuring {c.measured_qubits} gave {counts}, expected {{{bits!r}: {shots}}}"
                )

    def test_marginal_distribution(self, harness):
        """A random state read out on a subset: marginal probabilities and counts."""
        harness.require_ideal()
        harness.require_qubits(4)
        rng = np.random.default_rng(31)
        sym = random_circuit(4, 16, rng, parametric=True)
        values = rng.uniform(-3, 3, (harness.batch(2), sym.num_parameters))
        tasks = [Task(sym.measure([3, 0, 2]), values), Task(random_circuit(4, 16, rng).measure(1))]
        labels = ["random 4-qubit state measuring (3, 0, 2)", "random 4-qubit state measuring qubit 1"]
        harness.check(tasks, labels)
        if harness.target.supports_exact and harness.target.supports_shots:
            harness.check_sampled(tasks, labels)


class TestAmplitudeEncoding(ConformanceBase):
    def test_encode_all_qubits(self, harness):
        harness.require_ideal()
        harness.require_qubits(3)
        rng = np.random.default_rng(41)
        c = Circuit(3).amplitude_encode("x").h(0).cx(0, 2)
        x = rng.normal(size=(harness.batch(4), 8))
        harness.check([Task(c, inputs={"x": x})], ["encoding 8 real amplitudes on all qubits"])

    def test_encode_subset_with_padding_and_phases(self, harness):
        """Encoding on qubits (2, 0) after another qubit was used; 3 complex values padded to 4."""
        harness.require_ideal()
        harness.require_qubits(3)
        rng = np.random.default_rng(42)
        theta = Parameter("theta")
        c = Circuit(3).h(1).amplitude_encode("x", qubits=[2, 0]).cry(0, 1, theta).cz(2, 1)
        B = harness.batch(3)
        x = rng.normal(size=(B, 3)) + 1j * rng.normal(size=(B, 3))
        harness.check([Task(c, rng.uniform(-3, 3, (B, 1)), {"x": x})], ["complex encoding on (2, 0)"])

    def test_encode_fixed_vector_and_two_inputs(self, harness):
        harness.require_ideal()
        harness.require_qubits(3)
        rng = np.random.default_rng(43)
        fixed = Circuit(3).amplitude_encode([0.2, -0.5j, 0.1, 0.7], qubits=[1, 2]).h(0).cx(0, 1)
        two = Circuit(3).amplitude_encode("a", qubits=[0]).amplitude_encode("b", qubits=[1, 2]).cx(0, 2)
        B = harness.batch(2)
        inputs = {"a": rng.normal(size=(B, 2)), "b": rng.uniform(0.1, 1, size=(B, 4))}
        harness.check([Task(fixed), Task(two, inputs=inputs)], ["fixed vector on (1, 2)", "two inputs"])
