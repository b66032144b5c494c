"""Bad input: each mistake raises its typed error when the run is submitted, before execution.

"Before execution" is observed, not assumed: the backend's ``_execute`` is wrapped with a recorder
for the duration of the call (see ``BackendHarness.no_execution``).
"""

from __future__ import annotations

import numpy as np
import pytest

from qbridge.backends.base import Task
from qbridge.exceptions import EncodingError, ParameterError, ValidationError
from qbridge.ir.circuit import Circuit
from qbridge.ir.parameters import Parameter
from qbridge.testing.conformance import ConformanceBase

A, B = Parameter("a"), Parameter("b")


def _two_parameters() -> Circuit:
    return Circuit(2).rx(0, A).cry(0, 1, B)


class TestBadInput(ConformanceBase):
    @pytest.mark.parametrize(
        "values",
        [np.zeros((3, 3)), np.zeros((2, 1)), np.zeros((2, 2, 2)), {"a": [0.1], "c": [0.2]}, np.array([[0.1, np.nan]])],
        ids=["three-columns", "one-column", "three-dims", "unknown-name", "nan"],
    )
    def test_wrong_parameter_values(self, harness, values):
        harness.expect_error(ParameterError, (_two_parameters(), values))

    def test_unbound_parameter(self, harness):
        harness.expect_error(ParameterError, _two_parameters())

    def test_missing_input(self, harness):
        harness.expect_error(EncodingError, Circuit(2).amplitude_encode("x").cx(0, 1))

    def test_too_many_qubits(self, harness):
        limit = harness.target.num_qubits
        harness.require(limit is not None, "declares num_qubits=None (no limit)")
        harness.expect_error(ValidationError, Circuit(limit + 1).h(0).cx(0, limit))

    @pytest.mark.parametrize("case", ["above-max_shots", "below-min_shots", "exact-only"])
    def test_shots_out_of_range(self, harness, case):
        t = harness.target
        if case == "exact-only":
            harness.require(not t.supports_shots, "declares supports_shots=True")
            shots = 100
        else:
            harness.require(t.supports_shots, "declares supports_shots=False")
            if case == "above-max_shots":
                harness.require(t.max_shots is not None, "declares max_shots=None (no limit)")
                shots = t.max_shots + 1
            else:
                harness.require(t.min_shots > 1, f"declares min_shots={t.min_shots}")
                shots = t.min_shots - 1
        harness.expect_error(ValidationError, Circuit(2).h(0).cx(0, 1), shots=shots)

    def test_statevector_with_shots(self, harness):
        harness.require_shots()
        harness.expect_error(ValidationError, Task(Circuit(2).h(0).cx(0, 1), statevector=True), shots=harness.shots(100))

    @pytest.mark.parametrize(
        "inputs", [np.zeros((1, 4)), np.ones((1, 5)), np.array([[1.0, np.inf, 0, 0]])], ids=["zero", "too-long", "inf"]
    )
    def test_unencodable_input(self, harness, inputs):
        """Refused with EncodingError at submission, or at the latest by ``result()``."""
        c = Circuit(2).amplitude_encode("x").cx(0, 1)
        settings = {} if harness.target.supports_exact else {"shots": harness.shots()}
        with pytest.raises(EncodingError):
            harness.backend.run(Task(c, inputs={"x": inputs}), precision=harness.precision, **settings).result()
