"""Capability consistency: the declared Target is well formed and matches what the backend does."""

from __future__ import annotations

import math
import numbers

import numpy as np
import pytest
import torch

from qbridge.backends.base import Backend, Target, Task
from qbridge.exceptions import ValidationError
from qbridge.ir.circuit import Circuit
from qbridge.ir.decompose import reachable_gates
from qbridge.ir.gates import GATES
from qbridge.ir.parameters import Parameter
from qbridge.testing.checks import KNOWN_GRADIENT_METHODS, KNOWN_PRECISIONS, assert_close, to_numpy
from qbridge.testing.conformance import ConformanceBase

BELL = Circuit(2).h(0).cx(0, 1)


def _is_count(value, minimum: int) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= minimum


class TestCapabilities(ConformanceBase):
    def test_target_is_well_formed(self, harness):
        t = harness.target
        problems = []
        if not isinstance(t, Target):
            pytest.fail(f"{harness.name}: target is a {type(t).__name__}, not a qbridge Target")
        if t.num_qubits is not None and not _is_count(t.num_qubits, 1):
            problems.append(f"num_qubits={t.num_qubits!r} is not a positive integer or None")
        unknown = set(t.native_gates) - set(GATES) - {"unitary", "mcu"}
        if unknown:
            problems.append(f"native_gates has names qbridge does not know: {sorted(unknown)}")
        if not _is_count(t.min_shots, 1):
            problems.append(f"min_shots={t.min_shots!r} is not an integer >= 1")
        if t.max_shots is not None and not (_is_count(t.max_shots, 1) and t.max_shots >= t.min_shots):
            problems.append(f"max_shots={t.max_shots!r} is not None or an integer >= min_shots")
        if t.max_batch is not None and not _is_count(t.max_batch, 1):
            problems.append(f"max_batch={t.max_batch!r} is not None or a positive integer")
        if not t.supports_exact and not t.supports_shots:
            problems.append("supports neither exact results nor shots")
        if t.supports_statevector and not t.supports_exact:
            problems.append("supports_statevector=True needs supports_exact=True (state vectors are exact)")
        if not t.precisions or set(t.precisions) - set(KNOWN_PRECISIONS):
            problems.append(f"precisions={t.precisions!r} must be a non-empty subset of {KNOWN_PRECISIONS}")
        unknown = set(t.gradient_methods) - KNOWN_GRADIENT_METHODS
        if unknown:
            problems.append(f"gradient_methods has unknown names {sorted(unknown)}; known: {sorted(KNOWN_GRADIENT_METHODS)}")
        if t.connectivity is not None:
            for pair in t.connectivity:
                ok = len(pair) == 2 and pair[0] != pair[1] and all(_is_count(q, 0) for q in pair)
                if not ok or (t.num_qubits is not None and max(pair) >= t.num_qubits):
                    problems.append(f"connectivity pair {pair!r} is not two distinct qubits of the device")
        for flag in ("supports_exact", "supports_shots", "supports_statevector", "supports_state_prep",
                     "batched", "simulator", "noisy", "gpu"):
            if not isinstance(getattr(t, flag), bool):
                problems.append(f"{flag}={getattr(t, flag)!r} is not a bool")
        if problems:
            pytest.fail(f"{harness.name}: the declared Target is inconsistent:\n  " + "\n  ".join(problems))
        assert harness.backend.target == t, f"{harness.name}: target changes between reads"

    def test_native_gates_reach_the_library(self, harness):
        """Every library gate can be written in the native gates (the core decomposes the rest)."""
        native = frozenset(harness.target.native_gates)
        missing = set(GATES) - reachable_gates(native)
        assert not missing, (
            f"{harness.name}: gates {sorted(missing)} cannot be written in native_gates {sorted(native)}; "
            "declare an entangler (cx or cz) and u or rz+ry"
        )

    def test_availability_and_name(self, harness):
        backend = harness.backend
        assert isinstance(backend, Backend)
        ok_reason = type(backend).availability()
        assert isinstance(ok_reason, tuple) and len(ok_reason) == 2, (
            f"{harness.name}: availability() must return (bool, str), got {ok_reason!r}"
        )
        ok, reason = ok_reason
        assert ok is True and isinstance(reason, str), (
            f"{harness.name}: availability() says {ok_reason!r} but the backend was created"
        )
        assert isinstance(backend.backend_name, str) and backend.backend_name, "backend_name must be a non-empty str"
        assert backend.backend_name == backend.backend_name.lower(), "backend names are lower case"

    def test_exact_mode_matches_declaration(self, harness):
        if not harness.target.supports_exact:
            harness.expect_error(ValidationError, BELL, shots=None)
            return
        harness.require_ideal()
        res = harness.run(BELL)[0]
        assert_close(res.probabilities, np.array([[0.5, 0, 0, 0.5]]), harness.atol, f"{harness.name}: exact Bell")

    def test_shots_mode_matches_declaration(self, harness):
        if not harness.target.supports_shots:
            harness.expect_error(ValidationError, BELL, shots=100)
            return
        res = harness.run(BELL, shots=harness.shots(200), seed=1)[0]
        assert res.counts is not None and sum(res.get_counts(0).values()) == harness.shots(200)

    def test_statevector_matches_declaration(self, harness):
        task = Task(BELL, statevector=True)
        if not harness.target.supports_statevector:
            harness.expect_error(ValidationError, task, shots=None)
            return
        harness.require_ideal()
        sv = harness.run(task)[0].statevector
        assert sv is not None, f"{harness.name}: supports_statevector=True but no state vector came back"
        a = to_numpy(sv)
        assert a.shape == (1, 4) and np.allclose(np.abs(a) ** 2, [[0.5, 0, 0, 0.5]], atol=harness.atol)

    @pytest.mark.parametrize("precision", KNOWN_PRECISIONS)
    def test_precision_matches_declaration(self, harness, precision):
        settings = {"precision": precision}
        if not harness.target.supports_exact:
            settings["shots"] = harness.shots(100)
        if precision not in harness.target.precisions:
            harness.expect_error(ValidationError, BELL, **settings)
            return
        harness.require_ideal()
        res = harness.run(BELL, **settings)[0]
        if res.probabilities is not None:
            assert_close(res.probabilities, np.array([[0.5, 0, 0, 0.5]]), 1e-4, f"{harness.name} in {precision}")

    def test_max_batch_matches_declaration(self, harness):
        cap = harness.target.max_batch
        harness.require(cap is not None, "declares max_batch=None (no limit)")
        theta = Parameter("theta")
        harness.expect_error(ValidationError, (Circuit(1).ry(0, theta), np.zeros((cap + 1, 1))))

    def test_connectivity_matches_declaration(self, harness):
        t = harness.target
        harness.require(t.connectivity is not None, "declares connectivity=None (all-to-all)")
        n = t.num_qubits or 1 + max(max(p) for p in t.connectivity)
        coupled = {frozenset(p) for p in t.connectivity}
        pair = next(((a, b) for a in range(n) for b in range(a + 1, n) if frozenset((a, b)) not in coupled), None)
        harness.require(pair is not None, "every pair of qubits is coupled")
        harness.expect_error(ValidationError, Circuit(n).cx(*pair))

    def test_qubit_count_is_usable(self, harness):
        """A GHZ state across min(num_qubits, 10) qubits runs and has its two outcomes."""
        harness.require_ideal()
        width = min(harness.target.num_qubits or 10, 10)
        c = Circuit(width).h(0)
        for q in range(width - 1):
            c = c.cx(q, q + 1)
        probs = np.zeros((1, 2**width))
        probs[0, [0, -1]] = 0.5
        if harness.target.supports_exact:
            assert_close(harness.run(c)[0].probabilities, probs, harness.atol, f"{harness.name}: {width}-qubit GHZ")
        else:
            harness.check_sampled([Task(c)], [f"{width}-qubit GHZ"])

    def test_backprop_gradients(self, harness):
        """Declared 'backprop': results are torch tensors whose gradients are right."""
        harness.require("backprop" in harness.target.gradient_methods, "does not declare the 'backprop' gradient method")
        harness.require_exact()
        harness.require_ideal()
        # a backend pinned to a torch device takes tensors on that device only (others: the CPU)
        pinned = getattr(harness.backend, "device", None)
        device = pinned if isinstance(pinned, torch.device) else torch.device("cpu")
        values = torch.tensor([[0.7, -0.4]], dtype=torch.float64, device=device, requires_grad=True)
        c = Circuit(2).ry(0, Parameter("t")).rx(1, Parameter("s")).cx(0, 1)
        res = harness.run(Task(c, values, observables=("ZI", "IZ")))[0]
        ev = res.expectation_values
        assert torch.is_tensor(ev) and ev.requires_grad, (
            f"{harness.name} declares 'backprop' but its expectation values are not differentiable tensors"
        )
        ev.sum().backward()
        # <Z0> = cos t; <Z1> = cos t cos s (the CNOT copies Z0 into Z1's parity)
        t, s = 0.7, -0.4
        want = [-math.sin(t) * (1 + math.cos(s)), -math.cos(t) * math.sin(s)]
        got = values.grad.detach().cpu().numpy()[0]
        assert np.allclose(got, want, atol=max(harness.atol, 1e-5)), f"{harness.name}: gradient {got}, expected {want}"
