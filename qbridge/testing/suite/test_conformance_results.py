"""Result format: shapes, normalisation and value ranges, on every simulator -- noisy ones too.

Noisy simulators skip the families that compare with the ideal reference; these checks still
hold for them (a noisy distribution is still a distribution), so the plumbing of every
simulator is tested.
"""

from __future__ import annotations

import numpy as np
import pytest

from qbridge.backends.base import Task
from qbridge.ir.circuit import Circuit
from qbridge.ir.parameters import Parameter
from qbridge.testing.checks import counts_array, to_numpy
from qbridge.testing.conformance import ConformanceBase

T, P = Parameter("t"), Parameter("p")
CIRCUIT = Circuit(3).ry(0, T).cx(0, 1).rx(2, P).cz(1, 2)
OBSERVABLES = ("ZZI", "0.5*XIX - 2*IIY")
BOUNDS = np.array([1.0, 2.5])  # sum of |coefficients| of each observable


def _tasks(harness):
    B = harness.batch(2)
    values = np.linspace(0.3, 2.1, 2 * B).reshape(B, 2)
    return B, [Task(CIRCUIT.measure([2, 0]), values), Task(CIRCUIT, values, observables=OBSERVABLES)]


class TestResultFormat(ConformanceBase):
    def test_exact_result_format(self, harness):
        harness.require_simulator()
        harness.require_exact()
        harness.require_qubits(3)
        B, tasks = _tasks(harness)
        measured, observed = harness.run(tasks)
        what = f"{harness.name} (exact)"
        assert (measured.batch_size, measured.num_qubits) == (B, 2), f"{what}: readout of (2, 0) is {measured.num_qubits} bits"
        probs = to_numpy(measured.probabilities)
        assert probs.shape == (B, 4), f"{what}: probabilities shape {probs.shape}, expected {(B, 4)}"
        assert np.all(probs >= -harness.atol) and np.allclose(probs.sum(axis=1), 1, atol=1e-4), (
            f"{what}: probabilities are not a distribution: {probs}"
        )
        ev = to_numpy(observed.expectation_values)
        assert ev.shape == (B, 2), f"{what}: expectation values shape {ev.shape}, expected {(B, 2)}"
        assert np.all(np.abs(ev) <= BOUNDS + 1e-4), f"{what}: expectation values {ev} exceed the observables' norms"

    def test_sampled_result_format(self, harness):
        harness.require_simulator()
        harness.require_shots()
        harness.require_qubits(3)
        B, tasks = _tasks(harness)
        shots = harness.shots(1000)
        measured, observed = harness.run(tasks, shots=shots, seed=4)
        what = f"{harness.name} ({shots} shots)"
        assert measured.counts is not None and len(measured.counts) == B, f"{what}: expected {B} count dicts"
        for b, counts in enumerate(measured.counts):
            arr = counts_array(counts, 2, f"{what}, row {b}")
            assert arr.sum() == shots, f"{what}: row {b} has {int(arr.sum())} counts"
        ev, err = to_numpy(observed.expectation_values), to_numpy(observed.stderr)
        assert ev.shape == err.shape == (B, 2), f"{what}: expectation values {ev.shape}, stderr {err.shape}"
        assert np.all(np.abs(ev) <= BOUNDS + 1e-9), f"{what}: expectation values {ev} exceed the observables' norms"
        assert np.all(np.isfinite(err)) and np.all(err >= 0), f"{what}: standard errors {err}"
        assert observed.shots == shots, f"{what}: result says shots={observed.shots}"

    @pytest.mark.parametrize("rows", [1, 3])
    def test_result_rows_follow_the_batch(self, harness, rows):
        harness.require_simulator()
        harness.require_qubits(1)
        rows = harness.batch(rows)
        task = Task(Circuit(1).ry(0, T), np.linspace(0.1, 3.0, rows).reshape(rows, 1))
        settings = {} if harness.target.supports_exact else {"shots": harness.shots(100)}
        res = harness.run(task, **settings)[0]
        assert res.batch_size == rows, f"{harness.name}: batch_size {res.batch_size} for {rows} rows"
        n = len(res.counts) if res.counts is not None else to_numpy(res.probabilities).shape[0]
        assert n == rows, f"{harness.name}: {n} result rows for {rows} bindings"
