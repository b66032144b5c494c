"""A mitigation technique written in this one file, run by the pipeline unchanged.

The toy is readout symmetrisation: every circuit also runs with an X on every qubit just before
measurement, its outcome bits flipped back, and the two pooled. An asymmetric readout error
(p01 != p10) then acts as a symmetric one of (p01 + p10) / 2 per bit, which a hand derivation
gives exactly: for |0>, <Z> = 1 - (p01 + p10) instead of 1 - 2 p01.
"""

from __future__ import annotations

import numpy as np
import pytest

from qbridge import get_backend
from qbridge.backends.base import RunConfig, Task
from qbridge.ir import Circuit
from qbridge.mitigation.technique import Technique, Variant, register_technique, technique_names
from qbridge.noise import NoiseModel, ReadoutError

P01, P10 = 0.02, 0.10


@register_technique
class Symmetrize(Technique):
    name = "toy_symmetrize"
    stage = 90  # after folding and twirling: every variant gets its flipped twin

    def expand(self, variants, rng):
        out = []
        for v in variants:
            out += [v, Variant(v.scale, v.circuit, v.frames, v.frame_names, tuple(range(v.circuit.num_qubits)))]
        return out

    def report(self, token, context):
        return {"twins": True}


def _backend():
    return get_backend("torch", noise=NoiseModel().with_readout_error(ReadoutError(P01, P10)))


def _z(n: int, q: int) -> str:
    return "".join("Z" if i == q else "I" for i in range(n))


def test_the_toy_is_registered_by_its_own_file():
    assert "toy_symmetrize" in technique_names()
    assert {"readout", "zne", "twirl", "native"} <= set(technique_names())


@pytest.mark.parametrize("prep,plain,symmetric", [
    ("0", 1 - 2 * P01, 1 - (P01 + P10)),
    ("1", -(1 - 2 * P10), -(1 - (P01 + P10))),
])
def test_symmetrised_expectation_values_match_the_hand_derivation(prep, plain, symmetric):
    circuit = Circuit(2).h(1) if prep == "0" else Circuit(2).x(0).h(1)
    task = Task(circuit, observables=[_z(2, 0)])
    # expectation values carry the readout error once they are read from samples: the pipeline's
    # unmitigated value (here beside the readout unit's correction, which removes it)
    base = _backend().run([task], RunConfig(mitigation="readout", precision="double")).result()[0]
    res = _backend().run([task], RunConfig(mitigation="toy_symmetrize", precision="double")).result()[0]
    assert base.metadata["unmitigated"]["expectation_values"][0, 0] == pytest.approx(plain, abs=1e-9)
    assert float(base.expectation_values[0, 0]) == pytest.approx(1.0 if prep == "0" else -1.0, abs=1e-9)
    assert float(res.expectation_values[0, 0]) == pytest.approx(symmetric, abs=1e-9)
    mit = res.metadata["mitigation"]
    assert mit["techniques"] == ["toy_symmetrize"] and mit["toy_symmetrize"] == {"twins": True}
    assert mit["circuits"] == 2  # one measurement group, two twins: one submission
    typed = res.mitigation  # the same, typed
    assert typed.techniques == ("toy_symmetrize",) and typed.circuits == 2 and typed["toy_symmetrize"] == {"twins": True}
    assert typed.shots is None  # exact: no shots spent
    assert res.metadata["unmitigated"]["expectation_values"][0, 0] == pytest.approx(symmetric, abs=1e-9)


def test_counts_are_symmetrised_and_the_shots_kept():
    task = Task(Circuit(1).measure_all())
    res = _backend().run([task], RunConfig(shots=4000, seed=3, mitigation="toy_symmetrize")).result()[0]
    counts = res.counts[0]
    assert sum(counts.values()) == 4000  # the twins share the run's shots
    assert res.mitigation.shots.per_binding == 4000 and res.mitigation.techniques == ("toy_symmetrize",)
    # reads "1" with probability (p01 + p10) / 2 = 0.06: within 5 standard deviations
    p = counts.get("1", 0) / 4000
    assert abs(p - 0.06) < 5 * np.sqrt(0.06 * 0.94 / 4000)


def test_with_the_built_in_techniques_in_one_submission():
    calls = []
    backend = _backend()
    original = backend._execute

    def spy(tasks, config):
        calls.append(len(tasks))
        return original(tasks, config)

    backend._execute = spy
    task = Task(Circuit(2).h(0).cx(0, 1), observables=["ZZ", "XX"])
    res = backend.run([task], RunConfig(mitigation="readout,toy_symmetrize", precision="double")).result()[0]
    assert len(calls) == 1  # calibrations, both twins of both groups: one submission
    mit = res.metadata["mitigation"]
    assert set(mit) >= {"readout", "toy_symmetrize"} and mit["circuits"] == 4
    # the calibration circuits are the readout unit's own: not twinned by the toy
    assert mit["readout"]["method"] == "tensored" and len(mit["readout"]["calibration"]["p1_given_0"]) == 2
    raw = res.metadata["unmitigated"]["expectation_values"][0]
    assert np.all(np.abs(res.expectation_values[0] - 1.0) < np.abs(raw - 1.0))


def test_a_second_technique_under_the_same_name_is_refused():
    class Other(Technique):
        name = "toy_symmetrize"

    with pytest.raises(ValueError, match="registered twice"):
        register_technique(Other)


def test_unknown_names_list_the_registered_ones():
    with pytest.raises(ValueError, match="toy_symmetrize"):
        _backend().run([Task(Circuit(1), observables=["Z"])], RunConfig(mitigation="toy_symetrize")).result()


def test_typed_report_of_the_built_in_techniques():
    from qbridge.noise import Depolarizing

    model = NoiseModel().with_gate_error("cx", Depolarizing(0.05, 2)).with_readout_error(ReadoutError(P01, P10))
    task = Task(Circuit(2).h(0).cx(0, 1), observables=["ZZ"])
    res = get_backend("torch", noise=model).run(
        [task], RunConfig(shots=2000, seed=5, mitigation="readout,zne", options={"scale_factors": (1, 3)})).result()[0]
    rep = res.mitigation
    assert rep.techniques == ("readout", "zne") and rep.seed == 5
    assert rep["zne"]["actual_scales"] == [1.0, 3.0] and rep["zne"]["values"].shape == (1, 2, 1)
    assert rep["readout"]["method"] == "tensored"
    assert rep.shots.total == rep.shots.per_binding + rep.shots.readout_calibration
    assert rep.shots.zne_extra == rep.shots.per_binding - rep.shots.unmitigated_equivalent > 0
    with pytest.raises(KeyError, match="reports"):
        rep["twirl"]
    plain = get_backend("torch").run([task], RunConfig(shots=100, seed=1)).result()[0]
    assert plain.mitigation is None

