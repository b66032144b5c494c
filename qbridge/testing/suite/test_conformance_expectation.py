"""Expectation values: exact ones against dense matrices, shot-based ones against their noise.

Shot-based estimation happens in the core from the backend's counts, so these tests check that
the counts of the basis-rotated circuits are right. The tolerance is derived from the exact
values and the shot count: a single Pauli word P measured S times has standard error
sqrt((1 - <P>^2) / S); a sum is bounded by the sum of its terms' errors (any correlation).
"""

from __future__ import annotations

import math

import numpy as np

from qbridge.backends.base import Task
from qbridge.ir.circuit import Circuit
from qbridge.ir.observables import PauliSum
from qbridge.testing.checks import SIGMAS, assert_close, random_circuit, random_state_prep, reference_expectations, to_numpy
from qbridge.testing.conformance import ConformanceBase

WORDS = ["ZII", "IXI", "IIY", "XZI", "YIX", "ZZZ", "XYZ"]
SUMS = ["0.5*ZZI - 1.2*XIX + 0.3*YYI + 0.7*III", "Z0 Z2 - 0.25*X1", "2*IIZ + 1.5*XXI"]


class TestExpectationValues(ConformanceBase):
    def _task(self, harness, rng, observables):
        sym = random_circuit(3, 12, rng, parametric=True)
        values = rng.uniform(-3, 3, (harness.batch(3), sym.num_parameters))
        return Task(sym, values, observables=tuple(PauliSum.parse(o, 3) for o in observables))

    def test_exact_expectation_values(self, harness):
        harness.require_ideal()
        harness.require_exact()
        harness.require_qubits(3)
        task = self._task(harness, np.random.default_rng(61), WORDS + SUMS)
        res = harness.run(task)[0]
        if res.expectation_values is None:
            raise AssertionError(f"{harness.name}: an exact run with observables returned no expectation values")
        scale = max(sum(abs(t.coeff) for t in o.terms) for o in task.observables)
        assert_close(res.expectation_values, reference_expectations(task), harness.atol * scale,
                     f"{harness.name}: exact expectation values of {WORDS + SUMS}")

    def test_product_state_expectation_values(self, harness):
        """Exact values on product states against the analytic product of Bloch components.

        An independent reference (no simulator): qubit q is ry(a_q) rz(b_q) |0>, with Bloch
        vector (sin a cos b, sin a sin b, cos a), and <P_0 P_1 ... > is the product of the
        components each letter picks (a sum weighs them by its coefficients). The angles differ
        per qubit, so a word read right to left, or on the wrong qubits, gives other values.
        """
        harness.require_ideal()
        harness.require_exact()
        harness.require_qubits(3)
        angles = [(0.3, 0.0), (1.1, 0.8), (2.0, -1.3)]
        c = Circuit(3)
        for q, (a, b) in enumerate(angles):
            c = c.ry(q, a).rz(q, b)
        bloch = [{"I": 1.0, "X": math.sin(a) * math.cos(b), "Y": math.sin(a) * math.sin(b), "Z": math.cos(a)}
                 for a, b in angles]
        words = ["ZII", "IZI", "IIZ", "XYZ", "ZYX", "IXY", "YXI", "ZZX"]
        sums = [[(0.5, "XYZ"), (-2.0, "ZII"), (0.25, "III")], [(3.0, "IYX"), (-0.75, "YYY")]]

        def value(word: str) -> float:
            return math.prod(bloch[q][w] for q, w in enumerate(word))

        want = np.array([[value(w) for w in words] + [sum(k * value(w) for k, w in s) for s in sums]])
        observables = [PauliSum.parse(w, 3) for w in words] + [PauliSum(s, 3) for s in sums]
        res = harness.run(Task(c, observables=tuple(observables)))[0]
        if res.expectation_values is None:
            raise AssertionError(f"{harness.name}: an exact run with observables returned no expectation values")
        assert_close(res.expectation_values, want, harness.atol * 4,  # 4 >= the largest sum of |coefficients|
                     f"{harness.name}: exact <P> on a product state for {words} and two weighted sums "
                     "(qubit 0 is the first letter; coefficients multiply)")

    def test_shot_based_expectation_values(self, harness):
        """Values within 5 sigma, and reported standard errors consistent with the shot noise."""
        harness.require_ideal()
        harness.require_shots()
        harness.require_qubits(3)
        rng = np.random.default_rng(62)
        task = Task(random_state_prep(3, rng), observables=tuple(PauliSum.parse(w, 3) for w in WORDS))
        shots = harness.shots(8000)
        res = harness.run(task, shots=shots, seed=17)[0]
        ev, err = to_numpy(res.expectation_values), to_numpy(res.stderr)
        exact = reference_expectations(task)
        assert ev.shape == exact.shape and err.shape == exact.shape, (
            f"{harness.name}: expectation values {ev.shape} / stderr {err.shape}, expected {exact.shape}"
        )
        sigma = np.sqrt((1 - exact**2) / shots)
        for j, word in enumerate(WORDS):
            m, s = exact[0, j], sigma[0, j]
            assert abs(ev[0, j] - m) <= SIGMAS * s + 1e-12, (
                f"{harness.name}: <{word}> = {ev[0, j]:.4f} from {shots} shots, exact {m:.4f}, "
                f"more than {SIGMAS:g} x {s:.4f} away"
            )
            # S * stderr^2 estimates 1 - <P>^2; its own error is about 2|<P>| sigma (+ sigma^2)
            lhs = abs(shots * err[0, j] ** 2 - (1 - m**2))
            assert lhs <= SIGMAS * (2 * abs(m) * s + s**2) + 2 / shots, (
                f"{harness.name}: stderr of <{word}> is {err[0, j]:.5f}, the shot noise is {s:.5f}"
            )

    def test_shot_based_sums(self, harness):
        harness.require_ideal()
        harness.require_shots()
        harness.require_qubits(3)
        rng = np.random.default_rng(63)
        task = self._task(harness, rng, SUMS)
        shots = harness.shots(8000)
        res = harness.run(task, shots=shots, seed=18)[0]
        ev, exact = to_numpy(res.expectation_values), reference_expectations(task)
        assert ev.shape == exact.shape, f"{harness.name}: expectation values {ev.shape}, expected {exact.shape}"
        words = [[t for t in o.terms if set(t.paulis) != {"I"}] for o in task.observables]
        for b in range(task.batch_size):
            state_task = Task(task.circuit, task.parameter_array()[b : b + 1],
                              observables=tuple(PauliSum([(1.0, t.paulis)], 3) for ts in words for t in ts))
            singles = reference_expectations(state_task)[0]
            k = 0
            for j, obs in enumerate(SUMS):
                bound = 0.0
                for t in words[j]:
                    bound += abs(t.coeff) * math.sqrt(max(1 - singles[k] ** 2, 0.0) / shots)
                    k += 1
                assert abs(ev[b, j] - exact[b, j]) <= SIGMAS * bound + 1e-12, (
                    f"{harness.name}: <{obs}> row {b} = {ev[b, j]:.4f} from {shots} shots, exact "
                    f"{exact[b, j]:.4f}, more than {SIGMAS:g} x {bound:.4f} away"
                )
