"""Precision: a run that asks for double precision is computed in double precision.

Observed, not taken on trust: circuits deep enough that complex64 arithmetic is off by 1e-8 or
more (each test first checks that on qbridge's own simulator run in complex64, so the circuit
really exposes single precision) are compared with the complex128 reference at the double
tolerance of 1e-10 (``checks.EXACT_ATOL``). Two tests look through different outputs --
probabilities of a deep random circuit, and state vectors and exact expectation values of an
interference circuit -- so a backend that computes in double but hands back float32 results,
or one that computes in single throughout, each fail both or one with a clear message.

Only exact results show precision; a backend that samples only skips (``supports_exact``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from qbridge.backends.base import Task
from qbridge.ir.observables import PauliSum
from qbridge.testing.checks import (
    EXACT_ATOL,
    assert_close,
    assert_states_close,
    random_circuit,
    random_state_prep,
    reference_expectations,
    reference_probabilities,
    reference_states,
)
from qbridge.testing.conformance import ConformanceBase

WORDS = ("ZZII", "XIYI", "IYZX", "XXXX")


def _exposes_single(task: Task) -> None:
    """The test's own guard: complex64 arithmetic misses the reference by > 100x the tolerance."""
    single = np.abs(reference_states(task, dtype=torch.complex64) - reference_states(task)).max()
    assert single > 100 * EXACT_ATOL["double"], (
        f"the precision test's circuit does not expose complex64 arithmetic (error {single:.2g}); "
        "this is a bug in the suite"
    )


def _double(harness):
    harness.require("double" in harness.target.precisions, f"declares precisions={tuple(harness.target.precisions)}")
    harness.require_exact()
    harness.require_ideal()
    harness.require_qubits(4)
    return harness.with_precision("double")


class TestPrecision(ConformanceBase):
    def test_double_precision_probabilities(self, harness):
        """A deep random circuit (numeric, and symbolic with a batch) agrees to 1e-10 in double."""
        harness = _double(harness)
        rng = np.random.default_rng(71)
        fixed = random_circuit(4, 120, rng)
        symbolic = random_circuit(4, 120, rng, parametric=True)
        tasks = [Task(fixed), Task(symbolic, rng.uniform(-math.pi, math.pi, (harness.batch(2), symbolic.num_parameters)))]
        for task in tasks:
            _exposes_single(task)
        result = harness.run(tasks, precision="double")
        for task, res, label in zip(tasks, result, ("numeric", "symbolic")):
            assert_close(
                res.probabilities, reference_probabilities(task), harness.atol,
                f"{harness.name}: {label} 4-qubit circuit of 120 gates run with precision='double' "
                "(complex64 arithmetic or float32 results are off by ~1e-8: compute in complex128 "
                "when config.precision == 'double')",
            )

    def test_double_precision_states_and_expectations(self, harness):
        """An interference circuit: state vectors (when supported) and exact expectation values."""
        harness = _double(harness)
        rng = np.random.default_rng(72)
        prep = random_state_prep(4, rng)
        body = random_circuit(4, 60, rng, parametric=True)
        circuit = prep.compose(body)
        values = rng.uniform(-math.pi, math.pi, (harness.batch(2), circuit.num_parameters))
        observables = tuple(PauliSum.parse(w, 4) for w in WORDS)
        sv = harness.target.supports_statevector
        task = Task(circuit, values, observables=observables, statevector=sv)
        _exposes_single(task)
        res = harness.run(task, precision="double")[0]
        what = f"{harness.name}: precision='double'"
        if sv:
            assert_states_close(res.statevector, reference_states(task), harness.atol, f"{what}, state vector")
        if res.expectation_values is None:
            pytest.fail(f"{what}: an exact run with observables returned no expectation values")
        assert_close(res.expectation_values, reference_expectations(task), harness.atol,
                     f"{what}, exact expectation values of {list(WORDS)}")
