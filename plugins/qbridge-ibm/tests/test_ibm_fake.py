"""``ibm.fake``: a calibrated fake IBM device in Qiskit Runtime's local testing mode.

The device is noisy, so results are compared with ideal probabilities within a noise margin that
the test states (fake_manila: a few percent per CNOT and per readout), and with exact structure
(bit order, parameter order, layout) through outcomes that dominate by far.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("qiskit_ibm_runtime")
pytest.importorskip("qiskit_aer")

import qbridge  # noqa: E402
from qbridge import Circuit, Parameter, Task  # noqa: E402
from qbridge.exceptions import ValidationError  # noqa: E402
from qbridge.ir.gates import GATES  # noqa: E402

NOISE_MARGIN = 0.12  # |empirical - ideal| per outcome on fake_manila for the shallow circuits here
SHOTS = 4000


@pytest.fixture(scope="module")
def fake():
    return qbridge.get_backend("ibm.fake", backend="fake_manila")


def ideal_probabilities(task: Task) -> np.ndarray:
    return qbridge.get_backend("torch").run(task, precision="double").result()[0].probabilities


def empirical(counts: dict[str, int], width: int) -> np.ndarray:
    p = np.zeros(2**width)
    for k, v in counts.items():
        p[int(k, 2)] += v
    return p / p.sum()


def test_registered():
    infos = {b.name: b for b in qbridge.list_backends()}
    assert infos["ibm.fake"].available and infos["ibm.runtime"].available
    assert infos["ibm.fake"].distribution.startswith("qbridge-ibm")


def test_target_describes_the_device(fake):
    t = fake.target
    assert t.num_qubits == 5
    # accepted as written: every gate, every pair (the transpiler translates and routes)
    assert t.native_gates == frozenset(GATES) | {"unitary"} and t.connectivity is None
    # the device itself
    assert fake.device_connectivity == frozenset({(0, 1), (1, 2), (2, 3), (3, 4)})
    assert fake.device_gates == frozenset({"cx", "id", "rz", "sx", "x"})
    assert not t.supports_exact and t.supports_shots and not t.supports_statevector
    assert t.noisy and t.simulator and not t.supports_state_prep
    assert t.max_shots >= 10_000


def test_other_fake_devices_and_bad_names():
    kyiv = qbridge.get_backend("ibm.fake", backend="fake_kyiv")
    assert kyiv.target.num_qubits == 127 and len(kyiv.device_connectivity) == 144
    assert kyiv.device_gates == {"id", "rz", "sx", "x"}  # its entangler, ecr, is not a qbridge gate
    with pytest.raises(ValueError, match="Valid names:.*fake_manila"):
        qbridge.get_backend("ibm.fake", backend="fake_nowhere")
    with pytest.raises(TypeError):
        qbridge.get_backend("ibm.fake", backend=3)


@pytest.mark.parametrize("qubit", [0, 2, 4])
def test_bit_order_single_x(fake, qubit):
    counts = fake.run(Circuit(5).x(qubit), shots=2000, seed=11).result()[0].counts[0]
    want = "".join("1" if q == qubit else "0" for q in range(5))
    assert max(counts, key=counts.get) == want
    assert counts[want] / 2000 > 0.8


def test_bell_and_ghz_are_dominated_by_the_right_outcomes(fake):
    for n in (2, 3, 5):
        c = Circuit(n).h(0)
        for q in range(n - 1):
            c = c.cx(q, q + 1)
        counts = fake.run(c, shots=SHOTS, seed=5).result()[0].counts[0]
        good = counts.get("0" * n, 0) + counts.get("1" * n, 0)
        assert good / SHOTS > 0.75, (n, counts)
        assert good < SHOTS  # a noisy device: some wrong outcomes
        assert abs(counts.get("0" * n, 0) - counts.get("1" * n, 0)) / SHOTS < 0.15


def test_routing_is_done_by_the_transpiler(fake):
    # qubits 0 and 4 are not coupled on fake_manila: qbridge's own check would refuse this
    c = Circuit(5).x(0).cx(0, 4)
    res = fake.run(c, shots=2000, seed=3).result()[0]
    assert max(res.counts[0], key=res.counts[0].get) == "10001"
    assert len(set(res.metadata["layout"])) == 5


def test_binding_batch_is_one_pub_and_one_transpile():
    fake = qbridge.get_backend("ibm.fake")  # fresh statistics
    a = Parameter("a")
    c = Circuit(2).ry(0, a).cx(0, 1)
    vals = np.array([[0.0], [math.pi], [math.pi / 2], [math.pi / 3]])
    res = fake.run(Task(c, vals), shots=SHOTS, seed=8).result()[0]
    assert fake.stats == {"transpiles": 1, "runs": 1, "pubs": 1, "cache_hits": 0}
    ideal = ideal_probabilities(Task(c, vals))
    for b in range(4):  # rows in order: each has its own distribution
        assert np.abs(empirical(res.counts[b], 2) - ideal[b]).max() < NOISE_MARGIN
    fake.run(Task(c, vals[::-1]), shots=100).result()
    assert fake.stats["transpiles"] == 1 and fake.stats["cache_hits"] == 1


def test_parameters_are_matched_by_name_not_position(fake):
    # Qiskit sorts parameters by name: 'a_second' comes before 'z_first' in the ISA circuit
    z, a = Parameter("z_first"), Parameter("a_second")
    c = Circuit(2).ry(0, z).ry(1, a)
    assert c.parameter_names == ("z_first", "a_second")
    counts = fake.run(Task(c, [[math.pi, 0.0]]), shots=2000, seed=2).result()[0].counts[0]
    assert max(counts, key=counts.get) == "10"


def test_measured_subset(fake):
    c = Circuit(3).x(2).h(1).measure([2, 0])
    res = fake.run(c, shots=2000, seed=4).result()[0]
    assert res.num_qubits == 2
    assert max(res.counts[0], key=res.counts[0].get) == "10"


def test_random_library_circuit_close_to_ideal(fake):
    rng = np.random.default_rng(7)
    theta = Parameter("theta")
    c = Circuit(3)
    for name in ["h", "ry", "crz", "ch", "rzz", "sxdg", "cswap", "u", "cp", "ryy"]:
        g = GATES[name]
        qs = [int(q) for q in rng.choice(3, g.num_qubits, replace=False)]
        ps = [theta + float(rng.uniform(-1, 1)) if i == 0 else float(rng.uniform(-3, 3)) for i in range(g.num_params)]
        c = c.append(name, qs, ps)
    c = c.unitary(np.linalg.qr(rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4)))[0], [2, 0])
    vals = np.array([[0.3], [1.7]])
    res = fake.run(Task(c, vals), shots=SHOTS, seed=6).result()[0]
    ideal = ideal_probabilities(Task(c, vals))
    for b in range(2):
        tvd = 0.5 * np.abs(empirical(res.counts[b], 3) - ideal[b]).sum()
        assert tvd < 0.2, tvd


def test_amplitude_encoding_rows_are_bound_not_transpiled():
    fake = qbridge.get_backend("ibm.fake")
    rng = np.random.default_rng(1)
    c = Circuit(2).amplitude_encode("x")
    x = np.abs(rng.normal(size=(5, 4)))  # non-negative: only the RY half of the encoding
    res = fake.run(Task(c, inputs={"x": x}), shots=SHOTS, seed=9).result()[0]
    assert fake.stats["transpiles"] == 1 and fake.stats["pubs"] == 1
    ideal = x**2 / (x**2).sum(axis=1, keepdims=True)
    for b in range(5):
        assert np.abs(empirical(res.counts[b], 2) - ideal[b]).max() < NOISE_MARGIN
    signed = rng.normal(size=(3, 4))  # signs need the phase half, which H on qubit 1 makes visible
    c2 = Circuit(2).amplitude_encode("x").h(1)
    res = fake.run(Task(c2, inputs={"x": signed}), shots=SHOTS, seed=9).result()[0]
    ideal = ideal_probabilities(Task(c2, inputs={"x": signed}))
    for b in range(3):
        assert np.abs(empirical(res.counts[b], 2) - ideal[b]).max() < NOISE_MARGIN


def test_rows_without_parameters_are_independent_samples(fake):
    res = fake.run(Task(Circuit(1).h(0), np.zeros((3, 0))), shots=500, seed=1).result()[0]
    assert len(res.counts) == 3 and all(sum(c.values()) == 500 for c in res.counts)
    assert len({tuple(sorted(c.items())) for c in res.counts}) > 1


def test_seeds(fake):
    c = Circuit(2).h(0).cx(0, 1)
    for seed in (0, 12):
        a = fake.run(c, shots=300, seed=seed).result()[0].counts
        b = fake.run(c, shots=300, seed=seed).result()[0].counts
        assert a == b
    assert fake.run(c, shots=300, seed=0).result()[0].counts != fake.run(c, shots=300, seed=1).result()[0].counts


def test_shot_based_expectation_values(fake):
    res = fake.run(Task(Circuit(2).h(0).cx(0, 1), observables=("ZZ", "XX", "ZI")), shots=SHOTS, seed=5).result()[0]
    ev = res.expectation_values[0]
    assert ev[0] > 0.75 and ev[1] > 0.75 and abs(ev[2]) < 0.1
    assert np.all(res.stderr > 0)


def test_refusals(fake):
    with pytest.raises(ValidationError, match="shots"):
        fake.run(Circuit(2).h(0))  # exact: the device samples
    with pytest.raises(ValidationError):
        fake.run(Task(Circuit(2).h(0), statevector=True), shots=10)
    with pytest.raises(ValidationError, match="qubits"):
        fake.run(Circuit(6).h(0), shots=10)
    with pytest.raises(ValidationError, match="shots"):
        fake.run(Circuit(1).h(0), shots=fake.target.max_shots + 1)


def test_named_store_records_the_run(tmp_path):
    """With a job store named in the run's options the same PUBs go through qbridge.jobs."""
    from qbridge.jobs import open_store

    fake = qbridge.get_backend("ibm.fake")
    path = str(tmp_path / "jobs.sqlite")
    c = Circuit(3).x(0).h(2).measure([0, 1])
    res = fake.run(Task(c), shots=1000, seed=4, options={"store": path}).result()[0]
    assert res.num_qubits == 2 and max(res.counts[0], key=res.counts[0].get) == "10"
    jobs = open_store(path).list_jobs()
    assert len(jobs) == 1 and jobs[0].backend == "ibm.fake"
