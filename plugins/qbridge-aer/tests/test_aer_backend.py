"""The ``aer`` backend against qbridge's torch backend and hand-derived values.

The torch backend (complex128) is the reference for exact results; shot counts are checked
against its probabilities within 5 standard deviations per outcome.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

pytest.importorskip("qiskit_aer")

import qbridge  # noqa: E402
from qbridge import Circuit, Parameter, Task  # noqa: E402
from qbridge.exceptions import BackendUnavailableError, ValidationError  # noqa: E402
from qbridge.ir.gates import GATES  # noqa: E402

SEEDS = range(8)
AGREEMENT: dict[str, float] = {}  # worst errors seen, printed at the end (pytest -s)


@pytest.fixture(scope="module")
def aer():
    return qbridge.get_backend("aer")


@pytest.fixture(scope="module")
def ref():
    return qbridge.get_backend("torch")


def _note(key: str, err: float) -> None:
    AGREEMENT[key] = max(AGREEMENT.get(key, 0.0), float(err))


def random_circuit(n: int, seed: int, num_params: int = 3, depth: int = 12) -> Circuit:
    """Random circuit over the whole gate library, angles linear in a few parameters."""
    rng = np.random.default_rng(seed)
    params = [Parameter(f"t{i}") for i in range(num_params)]
    names = [g for g in sorted(GATES) if GATES[g].num_qubits <= n]
    c = Circuit(n)
    for q in range(n):  # start from a generic state so that no gate acts trivially
        c = c.u(q, *rng.uniform(-math.pi, math.pi, 3))
    for _ in range(depth):
        name = names[rng.integers(len(names))]
        g = GATES[name]
        qubits = [int(q) for q in rng.choice(n, g.num_qubits, replace=False)]
        ps = []
        for _ in range(g.num_params):
            if rng.random() < 0.6:
                p = params[rng.integers(num_params)]
                ps.append(float(rng.uniform(0.5, 2.0)) * p + float(rng.uniform(-1, 1)))
            else:
                ps.append(float(rng.uniform(-math.pi, math.pi)))
        c = c.append(name, qubits, ps)
    if n >= 2 and seed % 2 == 0:
        from scipy.stats import unitary_group

        c = c.unitary(unitary_group.rvs(4, random_state=seed), [n - 1, 0])
    used = set(c.parameter_names)
    if used:
        c = c.with_global_phase(0.25 * Parameter(sorted(used)[0]) + 0.1)
    return c


def values_for(c: Circuit, batch: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed + 1000).uniform(-math.pi, math.pi, (batch, c.num_parameters))


def observables_for(n: int, seed: int) -> tuple[str, ...]:
    rng = np.random.default_rng(seed + 2000)
    words = ["".join(rng.choice(list("IXYZ"), n)) for _ in range(3)]
    return (f"0.7*{words[0]} - 0.3*{words[1]}", words[2], "Z" + "I" * (n - 1))


def assert_counts_within_5_sigma(counts: dict[str, int], probs: np.ndarray, shots: int) -> None:
    n = int(math.log2(len(probs)))
    for i, p in enumerate(probs):
        c = counts.get(format(i, f"0{n}b"), 0)
        sigma = math.sqrt(shots * p * (1 - p))
        assert abs(c - shots * p) <= 5 * sigma + 1, (format(i, f"0{n}b"), c, shots * p, sigma)
    assert sum(counts.values()) == shots


# -- registry and target ---------------------------------------------------------------------

def test_registered_and_available():
    infos = {b.name: b for b in qbridge.list_backends()}
    assert infos["aer"].available, infos["aer"].reason
    assert infos["aer"].distribution.startswith("qbridge-aer")
    assert "aer.gpu" in infos


def test_target_is_truthful(aer):
    t = aer.target
    assert t.supports_exact and t.supports_shots and t.supports_statevector and t.supports_state_prep
    assert not t.noisy and not t.gpu and t.connectivity is None and t.batched
    assert {"unitary", "cx", "u", "rzz", "ccx", "cswap"} <= t.native_gates
    # parametric controlled rotations are decomposed (Aer mis-binds them), ch is not an Aer gate
    assert not {"crx", "cry", "crz", "cp", "ch"} & t.native_gates
    assert t.num_qubits >= 20 and t.max_shots >= 10**5
    assert t.native_gates <= set(GATES) | {"unitary"}


def test_bad_options():
    with pytest.raises(ValueError, match="method"):
        qbridge.get_backend("aer", method="stabilizers")
    with pytest.raises(TypeError, match="NoiseModel"):
        qbridge.get_backend("aer", noise_model={"p": 0.1})
    with pytest.raises(ValueError, match="Valid names:.*fake_manila"):
        qbridge.get_backend("aer", noise_backend="fake_nowhere")
    with pytest.raises(TypeError):
        qbridge.get_backend("aer", shots=100)  # a run setting, not a backend option


# -- exact agreement with the torch backend --------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_random_circuits_exact(aer, ref, seed):
    n = 1 + seed % 6
    c = random_circuit(n, seed)
    vals = values_for(c, 6, seed)
    task = Task(c, vals, observables=observables_for(n, seed), statevector=True)
    got = aer.run(task, precision="double").result()[0]
    want = ref.run(task, precision="double").result()[0]
    err_p = np.abs(got.probabilities - np.asarray(want.probabilities)).max()
    err_sv = np.abs(got.statevector - np.asarray(want.statevector)).max()  # global phase included
    err_ev = np.abs(got.expectation_values - np.asarray(want.expectation_values)).max()
    _note("probabilities", err_p)
    _note("statevector", err_sv)
    _note("expectation", err_ev)
    assert err_p < 1e-6 and err_sv < 1e-6 and err_ev < 1e-6
    assert got.probabilities.shape == (6, 2**n) and got.expectation_values.shape == (6, 3)


@pytest.mark.parametrize("method", ["matrix_product_state", "density_matrix"])
def test_other_exact_methods(ref, method):
    backend = qbridge.get_backend("aer", method=method)
    assert backend.target.supports_statevector == (method != "density_matrix")
    rng = np.random.default_rng(4)
    c = random_circuit(4, 4).measure([0, 3, 2])
    x = rng.normal(size=(3, 4))
    c = Circuit(6).amplitude_encode("x", qubits=[4, 5]).compose(c)
    task = Task(c, values_for(c, 3, 4), inputs={"x": x}, observables=("XIYZIZ",))
    got = backend.run(task, precision="double").result()[0]
    want = ref.run(task, precision="double").result()[0]
    np.testing.assert_allclose(got.probabilities, np.asarray(want.probabilities), atol=1e-9)
    np.testing.assert_allclose(got.expectation_values, np.asarray(want.expectation_values), atol=1e-9)


def test_single_precision_is_close(aer, ref):
    c = random_circuit(5, 3)
    task = Task(c, values_for(c, 4, 3))
    got = aer.run(task).result()[0]  # default precision: single
    want = ref.run(task, precision="double").result()[0]
    err = np.abs(got.probabilities - np.asarray(want.probabilities)).max()
    _note("probabilities (single precision)", err)
    assert err < 1e-5


@pytest.mark.parametrize("seed", [1, 4])
def test_random_circuits_shots_within_5_sigma(aer, ref, seed):
    n = 3 + seed % 2
    c = random_circuit(n, seed)
    vals = values_for(c, 4, seed)
    shots = 4000
    got = aer.run(Task(c, vals), shots=shots, seed=seed + 1).result()[0]
    want = ref.run(Task(c, vals), precision="double").result()[0].probabilities
    assert got.probabilities is None and got.shots == shots
    for b in range(4):  # each row has its own binding: catches a mixed-up binding order
        assert_counts_within_5_sigma(got.counts[b], want[b], shots)


def test_seed_reproduces_counts(aer):
    c = random_circuit(3, 2)
    vals = values_for(c, 3, 2)
    a = aer.run(Task(c, vals), shots=500, seed=7).result()[0].counts
    b = aer.run(Task(c, vals), shots=500, seed=7).result()[0].counts
    assert a == b


def test_bit_order(aer):
    c = Circuit(3).x(0)
    res = aer.run(Task(c, statevector=True), precision="double").result()[0]
    assert np.argmax(res.probabilities[0]) == 0b100
    assert np.argmax(np.abs(res.statevector[0])) == 0b100
    assert aer.run(c, shots=50).result()[0].counts[0] == {"100": 50}
    ev = aer.run(Task(c, observables=("ZII", "IZI")), precision="double").result()[0].expectation_values
    np.testing.assert_allclose(ev, [[-1.0, 1.0]], atol=1e-12)


def test_measured_subset(aer, ref):
    c = random_circuit(4, 6).measure([3, 1])
    vals = values_for(c, 5, 6)
    got = aer.run(Task(c, vals), precision="double").result()[0]
    want = ref.run(Task(c, vals), precision="double").result()[0]
    assert got.num_qubits == 2 and got.probabilities.shape == (5, 4)
    np.testing.assert_allclose(got.probabilities, np.asarray(want.probabilities), atol=1e-10)
    shots = aer.run(Circuit(4).x(3).measure([3, 1]), shots=20).result()[0]
    assert shots.counts[0] == {"10": 20}  # qubit 3 first, as measured


def test_shot_based_expectation_values(aer, ref):
    c = random_circuit(3, 5)
    vals = values_for(c, 3, 5)
    obs = observables_for(3, 5)
    got = aer.run(Task(c, vals, observables=obs), shots=8000, seed=3).result()[0]
    want = ref.run(Task(c, vals, observables=obs), precision="double").result()[0].expectation_values
    assert np.all(got.stderr > 0)
    assert np.all(np.abs(got.expectation_values - want) <= 5 * got.stderr + 1e-9)


# -- batching: one Aer run, one transpilation ------------------------------------------------

def test_whole_batch_is_one_run_and_one_transpile():
    aer = qbridge.get_backend("aer")  # fresh statistics
    c = random_circuit(5, 11)
    vals = values_for(c, 64, 11)
    t0 = time.perf_counter()
    aer.run(Task(c, vals, observables=("ZZZZZ",)), precision="double").result()
    elapsed = time.perf_counter() - t0
    assert aer.stats["runs"] == 1 and aer.stats["transpiles"] == 1 and aer.stats["experiments"] == 64
    # the same circuit again, and as a second task of one submission: no new transpilation
    aer.run([Task(c, vals[:3]), Task(c, vals[3:10], statevector=True)], precision="double").result()
    assert aer.stats["runs"] == 2 and aer.stats["transpiles"] == 1
    # shots mode is a different simulator configuration: one more transpilation, still one run
    aer.run(Task(c, vals), shots=100, seed=1).result()
    assert aer.stats["runs"] == 3 and aer.stats["transpiles"] == 2
    assert elapsed < 30


def test_no_parameters_with_batch_rows(aer):
    c = Circuit(2).h(0).cx(0, 1)
    task = Task(c, np.zeros((3, 0)))
    assert task.batch_size == 3
    exact = aer.run(task, precision="double").result()[0]
    np.testing.assert_allclose(exact.probabilities, np.tile([0.5, 0, 0, 0.5], (3, 1)), atol=1e-12)
    shots = aer.run(task, shots=400, seed=2).result()[0]
    assert len(shots.counts) == 3 and len({tuple(sorted(x.items())) for x in shots.counts}) > 1  # independent rows


# -- amplitude encoding ----------------------------------------------------------------------

def test_amplitude_encoding_batch(aer, ref):
    rng = np.random.default_rng(5)
    theta = Parameter("theta")
    c = Circuit(4).h(3).amplitude_encode("x", qubits=[2, 0, 1]).cry(0, 3, theta).rz(1, 2 * theta)
    x = rng.normal(size=(6, 8)) + 1j * rng.normal(size=(6, 8))
    vals = rng.uniform(-2, 2, (6, 1))
    before = aer.stats["transpiles"]
    task = Task(c, vals, inputs={"x": x}, observables=("XZYI",), statevector=True)
    got = aer.run(task, precision="double").result()[0]
    want = ref.run(task, precision="double").result()[0]
    err = np.abs(got.statevector - np.asarray(want.statevector)).max()
    _note("statevector (amplitude encoding)", err)
    assert err < 1e-6
    np.testing.assert_allclose(got.expectation_values, np.asarray(want.expectation_values), atol=1e-6)
    # one row of parameters shared by every input row (broadcast), padded real inputs
    task = Task(c, vals[:1], inputs={"x": rng.uniform(0, 1, (5, 6))})
    got = aer.run(task, precision="double").result()[0]
    want = ref.run(task, precision="double").result()[0]
    np.testing.assert_allclose(got.probabilities, np.asarray(want.probabilities), atol=1e-10)
    assert aer.stats["transpiles"] - before <= 2  # per circuit and mode, never per row


def test_fixed_amplitude_vector(aer, ref):
    c = Circuit(3).amplitude_encode([1, 2, 3, 4, 5, 0, 0, 1j]).h(1)
    got = aer.run(Task(c, statevector=True), precision="double").result()[0]
    want = ref.run(Task(c, statevector=True), precision="double").result()[0]
    np.testing.assert_allclose(got.statevector, np.asarray(want.statevector), atol=1e-10)


# -- GPU -------------------------------------------------------------------------------------

def test_gpu_backend_unavailable_with_reason_or_runs():
    info = {b.name: b for b in qbridge.list_backends()}["aer.gpu"]
    if info.available:
        gpu = qbridge.get_backend("aer.gpu")
        assert gpu.target.gpu
        c = random_circuit(4, 3)
        vals = values_for(c, 4, 3)
        got = gpu.run(Task(c, vals), precision="double").result()[0]
        want = qbridge.get_backend("torch").run(Task(c, vals), precision="double").result()[0]
        np.testing.assert_allclose(got.probabilities, np.asarray(want.probabilities), atol=1e-8)
        return
    assert "qiskit-aer-gpu" in info.reason or "GPU" in info.reason
    with pytest.raises(BackendUnavailableError, match="aer"):
        qbridge.get_backend("aer.gpu")


def test_gpu_class_refuses_cpu_only_aer():
    """Even when created directly (skipping the registry's check), no silent CPU run."""
    from qiskit_aer import AerSimulator

    from qbridge_aer import AerGPUBackend

    if "GPU" in AerSimulator().available_devices():
        pytest.skip("this Aer build has a GPU device")
    with pytest.raises(BackendUnavailableError, match="qiskit-aer-gpu"):
        AerGPUBackend()


def test_validation_errors(aer):
    with pytest.raises(ValidationError, match="qubits"):
        aer.run(Circuit(aer.target.num_qubits + 1).h(0))
    with pytest.raises(ValidationError, match="shots"):
        aer.run(Circuit(1).h(0), shots=aer.target.max_shots + 1)


def test_report_agreement():
    """Prints the worst disagreements seen by this module (run with -s)."""
    print("\naer vs torch worst absolute errors:", {k: f"{v:.1e}" for k, v in AGREEMENT.items()})
