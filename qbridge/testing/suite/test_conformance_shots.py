"""Shot statistics: counts agree with the exact distribution within 5 sigma of the shot noise.

Seeds: a backend whose target declares ``seeded`` must give identical counts for the same seed.
Every backend, seeded or not, must give two same-seed runs that agree with each other and with
the reference within the noise, so one that mis-handles seeds (a constant stream, a broken
distribution) fails either way.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qbridge.backends.base import Task
from qbridge.ir.circuit import Circuit
from qbridge.testing.checks import (
    SIGMAS,
    count_zscores,
    counts_array,
    random_circuit,
    reference_probabilities,
)
from qbridge.testing.conformance import ConformanceBase


class TestShots(ConformanceBase):
    def test_counts_match_probabilities(self, harness):
        harness.require_ideal()
        harness.require_shots()
        harness.require_qubits(3)
        rng = np.random.default_rng(51)
        sym = random_circuit(3, 12, rng, parametric=True)
        tasks = [
            Task(Circuit(3).h(0).cx(0, 1).cx(1, 2)),  # GHZ: two outcomes, six impossible ones
            Task(Circuit(2).ry(0, 2 * math.asin(math.sqrt(0.1))).h(1)),  # 0.45 / 0.45 / 0.05 / 0.05
            Task(sym, rng.uniform(-3, 3, (harness.batch(3), sym.num_parameters))),
        ]
        harness.check_sampled(tasks, ["GHZ state", "biased product state", "random state, batch"])

    def test_basis_state_is_deterministic(self, harness):
        """An ideal backend puts every shot of a basis state on its one bitstring."""
        harness.require_ideal()
        harness.require_shots()
        harness.require_qubits(3)
        shots = harness.shots(500)
        res = harness.run(Circuit(3).x(0).x(2).h(1).h(1), shots=shots, seed=3)[0]
        assert res.get_counts(0) == {"101": shots}, f"{harness.name}: |101> gave {res.get_counts(0)}"

    def test_same_seed_is_consistent(self, harness):
        harness.require_ideal()
        harness.require_shots()
        harness.require_qubits(3)
        rng = np.random.default_rng(52)
        task = Task(random_circuit(3, 12, rng))
        shots = harness.shots()
        first, second = (harness.check_sampled([task], ["random state"], shots=shots, seed=99)[0] for _ in range(2))
        a, b = counts_array(first.counts[0], 3, "first run"), counts_array(second.counts[0], 3, "second run")
        # two independent draws differ by sqrt(2) of one draw's noise; an exact repeat differs by 0
        p = reference_probabilities(task)[0]
        if harness.target.seeded:
            assert first.counts[0] == second.counts[0], (
                f"{harness.name} declares seeded=True but seed 99 gave {first.counts[0]} then {second.counts[0]}"
            )
        z = (count_zscores(a, p, shots) - count_zscores(b, p, shots)) / math.sqrt(2)
        assert np.all(np.abs(z) <= SIGMAS), f"{harness.name}: two runs with seed 99 disagree: {first.counts[0]} vs {second.counts[0]}"

    def test_unseeded_runs(self, harness):
        harness.require_ideal()
        harness.require_shots()
        harness.require_qubits(2)
        harness.check_sampled([Task(Circuit(2).h(0).cx(0, 1))], ["Bell state"], seed=None)

    @pytest.mark.parametrize("where", ["min_shots", "max_shots"])
    def test_shot_range_edges(self, harness, where):
        """The declared shot range is usable at its edges (max_shots only up to 10^5)."""
        harness.require_shots()
        harness.require_ideal()
        t = harness.target
        shots = t.min_shots if where == "min_shots" else t.max_shots
        harness.require(shots is not None and shots <= 100_000, f"{where}={shots} is not tested")
        task = Task(Circuit(2).h(0).cx(0, 1))
        res = harness.run(task, shots=shots, seed=7)[0]
        counts = counts_array(res.get_counts(0), 2, f"{harness.name} with {where}={shots}")
        assert counts.sum() == shots, f"{harness.name}: {int(counts.sum())} counts for {shots} shots"
        if shots >= 30:
            z = count_zscores(counts, reference_probabilities(task)[0], shots)
            assert np.all(np.abs(z) <= SIGMAS), f"{harness.name}: Bell counts {res.get_counts(0)} at {where}"
