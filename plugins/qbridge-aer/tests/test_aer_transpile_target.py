"""Transpiling a new circuit reads Aer's Target once per simulator, not on every pass.

``AerSimulator.target`` builds a new Qiskit Target on each access (about 2 ms), and
``transpile(backend=sim)`` reads it some 140 times: every new circuit cost 0.3-0.5 s of CPU before
the backend began passing one cached Target (``transpile(target=...)``). Counting the accesses
keeps that from coming back without a timing test.
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
        expected = ref.run((c, [[0.7]]), precision="double").result()[0].probabilities[0].numpy()
        np.testing.assert_allclose(p, expected, atol=1e-10)


def test_noise_model_target_is_the_noisy_simulators():
    """Under a device noise model the cached Target is the noisy simulator's: circuits still
    transpile into the model's basis gates, so the noise applies."""
    backend = qbridge.get_backend("aer", noise_backend="fake_manila")
    c = Circuit(2).h(0).cx(0, 1).measure_all()
    backend.run(c, shots=10, seed=1).result()
    (body, _), = backend._bodies.values()
    assert set(body.count_ops()) <= {"rz", "sx", "x", "cx", "measure", "barrier"}
