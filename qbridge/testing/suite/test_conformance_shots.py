"""Shot statistics, seeds and random streams.

Counts agree with the exact distribution within 5 sigma of the shot noise (``TestShots``).

Seeds (``TestSeeds``): ``Target.seeded`` says whether the same seed gives the same counts. A
seeded backend must reproduce every count of a submission -- rows, tasks, and the core's
measurement circuits for shot-based expectation values -- when the seed repeats. A backend that
cannot seed declares ``seeded=False`` and must refuse a run with shots and a seed with
``ValidationError`` before anything executes; silently ignoring a seed is the one wrong answer.
Both halves are checked on every simulator with shots, noisy ones included, and one test checks
by observation alone, whatever the declaration says.

Random streams (``TestRandomStreams``): rows of a batch, tasks of a submission, and submissions
with different seeds (or none) draw independently. Identical rows must not come back with
identical counts, and the homogeneity statistic of their counts must not be too small (rows that
share draws agree far better than independent samples can).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qbridge.backends.base import Task
from qbridge.exceptions import ValidationError
from qbridge.ir.circuit import Circuit
from qbridge.ir.observables import PauliSum
from qbridge.ir.parameters import Parameter
from qbridge.testing.checks import (
    SIGMAS,
    assert_not_identical,
    count_zscores,
    counts_array,
    homogeneity,
    random_circuit,
    reference_probabilities,
    to_numpy,
)
from qbridge.testing.conformance import ConformanceBase

LARGE_SHOTS = 1_000_000  # the largest run the suite makes (max_shots above it is run at this count)
SEED = 99


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
        """Two runs with one seed (or, where seeds are refused, with none) agree with each other
        and with the reference; a seeded backend repeats its counts exactly."""
        harness.require_ideal()
        harness.require_shots()
        harness.require_qubits(3)
        rng = np.random.default_rng(52)
        task = Task(random_circuit(3, 12, rng))
        shots = harness.shots()
        seed = 99 if harness.target.seeded else None  # (the harness drops seeds a backend refuses)
        first, second = (harness.check_sampled([task], ["random state"], shots=shots, seed=seed)[0] for _ in range(2))
        a, b = counts_array(first.counts[0], 3, "first run"), counts_array(second.counts[0], 3, "second run")
        # two independent draws differ by sqrt(2) of one draw's noise; an exact repeat differs by 0
        p = reference_probabilities(task)[0]
        if harness.target.seeded:
            assert first.counts[0] == second.counts[0], (
                f"{harness.name} declares seeded=True but seed 99 gave {first.counts[0]} then {second.counts[0]}"
            )
        z = (count_zscores(a, p, shots) - count_zscores(b, p, shots)) / math.sqrt(2)
        assert np.all(np.abs(z) <= SIGMAS), f"{harness.name}: two runs with seed {seed} disagree: {first.counts[0]} vs {second.counts[0]}"

    def test_unseeded_runs(self, harness):
        """Without a seed, counts fit the reference, and two runs draw afresh."""
        harness.require_ideal()
        harness.require_shots()
        harness.require_qubits(3)
        task = Task(Circuit(3).h(0).cx(0, 1).h(2))
        first = harness.check_sampled([task], ["Bell state and |+>"], seed=None)[0]
        second = harness.check_sampled([task], ["Bell state and |+>"], seed=None)[0]
        assert_not_identical([first.counts[0], second.counts[0]], ["the first unseeded run", "the second"],
                             f"{harness.name}, two runs without a seed")

    @pytest.mark.parametrize("where", ["min_shots", "max_shots"])
    def test_shot_range_edges(self, harness, where):
        """The declared shot range is usable at its edges: every shot counted, statistics right.

        ``max_shots`` is run as declared up to 10^6 shots; a larger (or unlimited) range is run at
        10^6, so a backend that silently caps, splits wrongly or overflows above 10^5 shows it.
        """
        harness.require_shots()
        harness.require_simulator()
        t = harness.target
        shots = t.min_shots if where == "min_shots" else min(t.max_shots or LARGE_SHOTS, LARGE_SHOTS)
        task = Task(Circuit(2).h(0).cx(0, 1))
        res = harness.run(task, shots=shots, seed=7)[0]
        counts = counts_array(res.get_counts(0), 2, f"{harness.name} with {where}={shots}")
        assert counts.sum() == shots, f"{harness.name}: {int(counts.sum())} counts for {shots} shots"
        assert res.shots == shots, f"{harness.name}: the result says shots={res.shots} for a run of {shots}"
        if shots >= 30 and not t.noisy:
            z = count_zscores(counts, reference_probabilities(task)[0], shots)
            assert np.all(np.abs(z) <= SIGMAS), f"{harness.name}: Bell counts {res.get_counts(0)} at {where}"

    def test_many_shots_resolve_a_rare_outcome(self, harness):
        """At the largest shot count tested, an outcome of probability 2e-5 is seen as often as
        it should be, and the batch's two rows each count every shot."""
        harness.require_ideal()
        harness.require_shots()
        harness.require_qubits(2)
        t = harness.target
        shots = min(t.max_shots or LARGE_SHOTS, LARGE_SHOTS)
        harness.require(shots >= 100_000, f"declares max_shots={t.max_shots}; the test needs 10^5 shots or more")
        theta = Parameter("theta")
        angle = 2 * math.asin(math.sqrt(2e-5))
        task = Task(Circuit(2).ry(0, theta).cx(0, 1), np.array([[angle], [math.pi - angle]])[: harness.batch(2)])
        harness.check_sampled([task], [f"rare outcome at {shots} shots"], shots=shots, seed=8)


def _seed_run(harness, tasks, seed):
    """One run of ``tasks`` with ``seed``, or the ValidationError that refused it."""
    try:  # the backend's own run: the harness would drop the seed of a backend declaring seeded=False
        return harness.backend.run(tasks, shots=harness.shots(2000), seed=seed, precision=harness.precision).result(), None
    except ValidationError as exc:
        return None, exc


def _submission(harness):
    """Two tasks, one with a batch of rows, one with shot-based expectation values (so that the
    core's measurement circuits for three commuting groups go out in the same submission)."""
    theta = Parameter("theta")
    c = Circuit(3).ry(0, theta).h(1).cx(1, 2).ry(2, 0.7)
    rows = np.array([[0.4], [1.9], [2.6]])[: harness.batch(3)]
    observables = tuple(PauliSum.parse(w, 3) for w in ("ZZI", "XIX", "IYY"))
    return [Task(c, rows), Task(c, rows[:1], observables=observables)]


def _all_counts(result) -> list:
    return [dict(c) for r in result for c in (r.counts or ())]


class TestSeeds(ConformanceBase):
    def test_seed_declaration_is_kept(self, harness):
        """seeded=True: a whole submission repeats with its seed, expectation values included,
        and another seed draws other counts. seeded=False: a run with shots and a seed is
        refused before it executes."""
        harness.require_simulator()
        harness.require_shots()
        harness.require_qubits(3)
        tasks = _submission(harness)
        if not harness.target.seeded:
            exc = harness.expect_error(ValidationError, tasks, shots=harness.shots(2000), seed=SEED)
            assert "seed" in str(exc).lower(), f"{harness.name}: the refusal does not name the seed: {exc}"
            return
        first, second = (harness.run(tasks, shots=harness.shots(2000), seed=SEED) for _ in range(2))
        assert _all_counts(first) == _all_counts(second), (
            f"{harness.name} declares seeded=True but a submission run twice with seed {SEED} gave different "
            "counts; pass config.seed to the sampler (or declare seeded=False and refuse seeds)"
        )
        ev1, ev2 = to_numpy(first[1].expectation_values), to_numpy(second[1].expectation_values)
        assert np.array_equal(ev1, ev2), (
            f"{harness.name}: shot-based expectation values with seed {SEED} differ between runs: {ev1} vs {ev2}"
        )
        other = harness.run(tasks, shots=harness.shots(2000), seed=SEED + 1)
        assert _all_counts(other) != _all_counts(first), (
            f"{harness.name}: seeds {SEED} and {SEED + 1} gave identical counts; the seed must choose the stream"
        )

    def test_seed_is_honoured_or_refused(self, harness):
        """By observation, whatever the target declares: the same seed twice gives the same counts,
        or the run is refused with ValidationError. Accepting a seed and ignoring it fails."""
        harness.require_simulator()
        harness.require_shots()
        harness.require_qubits(3)
        tasks = _submission(harness)
        first, refused = _seed_run(harness, tasks, SEED)
        if refused is not None:
            assert not harness.target.seeded, (
                f"{harness.name} declares seeded=True but refused seed {SEED}: {refused}"
            )
            return
        second, _ = _seed_run(harness, tasks, SEED)
        assert second is not None and _all_counts(first) == _all_counts(second), (
            f"{harness.name} accepted seed {SEED} and gave different counts on a repeat: the seed is ignored. "
            "Seed the sampler from config.seed, or declare Target(seeded=False) and raise ValidationError "
            "when a seed is given"
        )


class TestRandomStreams(ConformanceBase):
    """Independence of rows, tasks and submissions (noisy simulators too: only the pooled counts
    are used, never the ideal reference)."""

    @staticmethod
    def _identical(rows: int) -> Task:
        """A task of ``rows`` identical bindings of a 3-qubit uniform state."""
        theta = Parameter("theta")
        c = Circuit(3).ry(0, theta).h(1).h(2)
        return Task(c, np.full((rows, 1), math.pi / 2))

    def _draws(self, harness, seed):
        harness.require_simulator()
        harness.require_shots()
        harness.require_qubits(3)
        rows = harness.batch(4)
        task = self._identical(rows)
        shots = harness.shots(2000)
        result = harness.run([task, task], shots=shots, seed=seed)
        counts = [dict(c) for r in result for c in r.counts]
        labels = [f"task {i} row {b}" for i in range(2) for b in range(rows)]
        return counts, labels, shots

    def test_identical_rows_and_tasks_draw_independently(self, harness):
        """No two rows of a batch of identical bindings, nor two identical tasks of one
        submission, come back with identical counts."""
        counts, labels, _ = self._draws(harness, SEED)
        assert_not_identical(counts, labels, f"{harness.name}, identical rows and tasks in one submission")

    def test_rows_and_tasks_are_homogeneous_but_not_copies(self, harness):
        """The homogeneity statistic of the rows' and tasks' counts is no smaller than
        independent samples allow (shared draws make it ~0)."""
        counts, labels, shots = self._draws(harness, SEED + 1)
        table = [counts_array(c, 3, f"{harness.name}, {label}") for c, label in zip(counts, labels)]
        stat, lower, df = homogeneity(table)
        assert stat >= lower, (
            f"{harness.name}: the counts of {len(table)} identical rows and tasks agree too well "
            f"(chi-square {stat:.3g} on {df} degrees of freedom, the 1e-6 lower limit is {lower:.3g}): "
            "they share random draws; give every row and task its own part of the stream"
        )

    def test_estimator_groups_draw_independently(self, harness):
        """The core's measurement circuits of one run's shot-based expectation values draw apart.

        On |+++>, the Z-basis group (ZII ... ZZZ) and the Y-basis group (YII ... YYY) sample the
        same uniform distribution; the seven parities of each group fix its counts, so equal
        estimates for all seven pairs mean the two measurement circuits drew the same shots.
        """
        harness.require_simulator()
        harness.require_shots()
        harness.require_qubits(3)
        c = Circuit(3).h(0).h(1).h(2)
        z_words = ["ZII", "IZI", "IIZ", "ZZI", "ZIZ", "IZZ", "ZZZ"]
        y_words = [w.replace("Z", "Y") for w in z_words]
        task = Task(c, observables=tuple(PauliSum.parse(w, 3) for w in z_words + y_words))
        ev = to_numpy(harness.run(task, shots=harness.shots(2000), seed=SEED)[0].expectation_values)[0]
        assert not np.array_equal(ev[:7], ev[7:]), (
            f"{harness.name}: on |+++>, the estimates of {z_words} and {y_words} are identical ({ev[:7]}): the "
            "core's measurement circuits (one task per commuting group) drew the same shots; give every task of a "
            "submission its own part of the random stream"
        )

    def test_different_seeds_draw_differently(self, harness):
        """Submissions with different seeds, and submissions without a seed, are independent
        samples (a backend declaring seeded=False runs all four without one)."""
        harness.require_simulator()
        harness.require_shots()
        harness.require_qubits(3)
        task = self._identical(1)
        shots = harness.shots(2000)
        seeds = [11, 12, None, None]  # two seeds, and two runs without one
        counts = [harness.run(task, shots=shots, seed=s)[0].counts[0] for s in seeds]
        labels = [f"seed {s}" for s in seeds]
        assert_not_identical(counts, labels, f"{harness.name}, four submissions")
        stat, lower, df = homogeneity([counts_array(c, 3, f"{harness.name}, {l}") for c, l in zip(counts, labels)])
        assert stat >= lower, (
            f"{harness.name}: submissions with seeds {seeds} agree too well (chi-square {stat:.3g} on {df} "
            f"degrees of freedom, the 1e-6 lower limit is {lower:.3g}): the seed does not reach the sampler"
        )
