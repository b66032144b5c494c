"""Cost regressions of the aer backend, checked structurally (no timing tests).

Transpiling a new circuit reads Aer's Target once per simulator, not on every pass.

``AerSimulator.target`` builds a new Qiskit Target on each access (about 2 ms), and
``transpile(backend=sim)`` reads it some 140 times: every new circuit cost 0.3-0.5 s of CPU before
the backend began passing one cached Target (``transpile(target=...)``). Counting the accesses
keeps that from coming back. Shot runs with encoded inputs keep Aer's measurement sampling.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("qiskit_aer")

import qbridge
from qbridge import Circuit, Parameter


def test_new_circuits_build_the_target_once(monkeypatch):
    from qiskit_aer import AerSimulator

    accesses = []
    original = AerSimulator.target
    monkeypatch.setattr(AerSimulator, "target", property(lambda self: accesses.append(1) or original.fget(self)))
    backend = qbridge.get_backend("aer")
    a = Parameter("a")
    probs = []
    for k in range(6):  # six distinct circuits: six transpilations
        c = Circuit(3).ry(0, a).crx(0, 1, 0.3 * k + 0.1).cx(1, 2).rzz(0, 2, a + 0.2)
        probs.append(backend.run((c, [[0.7]]), precision="double").result()[0].probabilities[0])
    assert backend.stats["transpiles"] == 6
    assert len(accesses) <= 1, f"Aer's Target was built {len(accesses)} times for 6 transpilations"
    ref = qbridge.get_backend("torch")
    for k, p in enumerate(probs):
        c = Circuit(3).ry(0, a).crx(0, 1, 0.3 * k + 0.1).cx(1, 2).rzz(0, 2, a + 0.2)
        expected = ref.run((c, [[0.7]]), precision="double").result()[0].probabilities[0]
        np.testing.assert_allclose(p, expected, atol=1e-10)


def test_noise_model_target_is_the_noisy_simulators():
    """Under a device noise model the cached Target is the noisy simulator's: circuits still
    transpile into the model's basis gates, so the noise applies."""
    backend = qbridge.get_backend("aer", noise_backend="fake_manila")
    c = Circuit(2).h(0).cx(0, 1).measure_all()
    backend.run(c, shots=10, seed=1).result()
    (body, _), = backend._bodies.values()
    assert set(body.count_ops()) <= {"rz", "sx", "x", "cx", "measure", "barrier"}


def test_shots_with_encoded_inputs_keep_measurement_sampling():
    """Run-time inputs under shots are a rotation cascade, not an initialize: Aer's initialize
    holds a reset, which made Aer re-simulate the circuit for every shot instead of sampling all
    shots from one final state. Counts stay right (checked against the exact distribution)."""
    from qbridge.testing.checks import assert_counts_consistent

    backend = qbridge.get_backend("aer")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 8)) + 1j * rng.normal(size=(3, 8))
    c = Circuit(4).amplitude_encode("x", [2, 0, 3]).ry(1, Parameter("a")).cx(0, 1).h(3).measure([3, 1, 0])
    task = qbridge.Task(c, [[0.4], [1.1], [-0.7]], {"x": x})
    shots = 4000
    result = backend.run(task, shots=shots, seed=11).result()[0]
    (prog,) = [p for (circ, exact, *_), p in backend._programs.items() if not exact]
    ops = set(prog.circuit.count_ops())
    assert not ops & {"initialize", "reset", "state_preparation"}, ops
    exact = qbridge.get_backend("torch").run(task, precision="double").result()[0].probabilities
    for b in range(3):
        assert_counts_consistent(result.get_counts(b), exact[b], shots, f"row {b}")
