"""The embedded ``torch`` backend against Qiskit's quantum_info, and its validation and options."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
import torch

import qbridge
from qbridge import Circuit, JobStatus, Parameter, PauliSum, RunConfig, Task
from qbridge.backends.torch import TorchBackend
from qbridge.exceptions import (
    BackendUnavailableError,
    EncodingError,
    JobError,
    ParameterError,
    UnsupportedFeatureError,
    ValidationError,
)
from qbridge.ir.stateprep import bind_inputs

NUM_CHUNKS, PER_CHUNK = 20, 10  # 200 random circuits


def _random_tasks(seed: int, make_random_circuit, make_random_pauli_sum):
    gen = np.random.default_rng([7, seed])
    circuits, observables = [], []
    for _ in range(PER_CHUNK):
        n = int(gen.integers(1, 7))
        circuits.append(make_random_circuit(gen, n, int(gen.integers(1, 31)), unitary_prob=0.1))
        observables.append((make_random_pauli_sum(gen, n, 4), make_random_pauli_sum(gen, n, 1)))
    return circuits, observables


@pytest.mark.parametrize("chunk", range(NUM_CHUNKS))
def test_random_circuits_match_qiskit_double(chunk, torch_backend, qiskit_ref, make_random_circuit, make_random_pauli_sum):
    circuits, observables = _random_tasks(chunk, make_random_circuit, make_random_pauli_sum)
    tasks = [Task(c, observables=obs, statevector=True) for c, obs in zip(circuits, observables)]
    result = torch_backend.run(tasks, precision="double").result()  # all ten in one submission
    assert len(result) == PER_CHUNK
    for c, obs, res in zip(circuits, observables, result):
        ref = qiskit_ref.statevector(c)
        assert res.metadata["dtype"] == "torch.complex128"
        np.testing.assert_allclose(np.asarray(res.statevector)[0], ref, atol=1e-6)
        np.testing.assert_allclose(np.asarray(res.probabilities)[0], np.abs(ref) ** 2, atol=1e-6)
        expected = [qiskit_ref.expectation(c, o) for o in obs]
        np.testing.assert_allclose(np.asarray(res.expectation_values)[0], expected, atol=1e-6)
        np.testing.assert_array_equal(res.stderr, 0.0)


@pytest.mark.parametrize("chunk", range(0, NUM_CHUNKS, 4))
def test_random_circuits_match_qiskit_single(chunk, torch_backend, qiskit_ref, make_random_circuit, make_random_pauli_sum):
    circuits, observables = _random_tasks(chunk, make_random_circuit, make_random_pauli_sum)
    tasks = [Task(c, observables=obs, statevector=True) for c, obs in zip(circuits, observables)]
    result = torch_backend.run(tasks).result()  # default precision: single (complex64)
    for c, obs, res in zip(circuits, observables, result):
        ref = qiskit_ref.statevector(c)
        assert res.metadata["dtype"] == "torch.complex64"
        np.testing.assert_allclose(np.asarray(res.statevector)[0], ref, atol=1e-5)
        np.testing.assert_allclose(np.asarray(res.probabilities)[0], np.abs(ref) ** 2, atol=1e-5)
        scale = sum(abs(t.coeff) for o in obs for t in o.terms)
        expected = [qiskit_ref.expectation(c, o) for o in obs]
        np.testing.assert_allclose(np.asarray(res.expectation_values)[0], expected, atol=1e-5 * max(scale, 1))


@pytest.mark.parametrize("n", [1, 3, 5])
def test_batched_symbolic_circuits_match_qiskit(n, torch_backend, qiskit_ref, rng):
    """Random circuits whose angles are linear expressions of 3 parameters, a batch of 4 bindings."""
    from qbridge.ir.gates import GATES

    ps = [Parameter(f"t{i}") for i in range(3)]
    names = [g for g in GATES if GATES[g].num_params and GATES[g].num_qubits <= n]
    c = Circuit(n, global_phase=0.5 * ps[0] - 0.2)
    for _ in range(20):
        g = GATES[names[int(rng.integers(len(names)))]]
        qubits = [int(q) for q in rng.choice(n, g.num_qubits, replace=False)]
        params = [float(rng.normal()) * ps[int(rng.integers(3))] + float(rng.normal()) for _ in range(g.num_params)]
        c = c.append(g.name, qubits, params).h(int(rng.integers(n)))
    names = c.parameter_names  # columns follow the order of first appearance
    values = rng.uniform(-np.pi, np.pi, (4, len(names)))
    obs = PauliSum.parse(" + ".join(f"0.{i + 1}*Z{i}" for i in range(n)), n)
    res = torch_backend.run(Task(c, values, observables=(obs,), statevector=True), precision="double").result()[0]
    assert res.batch_size == 4
    for row in range(4):
        bound = c.bind(dict(zip(names, values[row])))
        np.testing.assert_allclose(np.asarray(res.statevector)[row], qiskit_ref.statevector(bound), atol=1e-10)
        assert res.expectation_values[row, 0].item() == pytest.approx(qiskit_ref.expectation(bound, obs), abs=1e-10)


def test_ghz_20_qubits(torch_backend):
    c = Circuit(20).h(0)
    for q in range(19):
        c = c.cx(q, q + 1)
    start = time.perf_counter()
    res = torch_backend.run(Task(c, observables=("Z0 Z19", "X" * 20)), precision="double").result()[0]
    elapsed = time.perf_counter() - start
    p = res.probabilities[0]
    assert p[0].item() == pytest.approx(0.5, abs=1e-12) and p[-1].item() == pytest.approx(0.5, abs=1e-12)
    assert p.sum().item() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(np.asarray(res.expectation_values)[0], [1.0, 1.0], atol=1e-12)
    assert elapsed < 20.0, f"20-qubit GHZ took {elapsed:.1f}s"  # about 0.5 s on one core
    counts = torch_backend.run(c.measure_all(), shots=2000, seed=1).result()[0].get_counts()
    assert set(counts) <= {"0" * 20, "1" * 20} and sum(counts.values()) == 2000
    assert abs(counts["0" * 20] - 1000) < 5 * np.sqrt(2000 * 0.25)


def test_measured_subset_gives_marginals_in_classical_bit_order(torch_backend, qiskit_ref):
    c = Circuit(3).h(0).ry(1, 0.7).cx(0, 2).x(1).rx(2, 0.4)
    full = np.abs(qiskit_ref.statevector(c)) ** 2  # index bits: q0 q1 q2
    probs3 = full.reshape(2, 2, 2)
    expected = np.einsum("abc->ca", probs3).reshape(-1)  # bits: q2 then q0
    res = torch_backend.run(c.measure([2, 0]), precision="double").result()[0]
    assert res.num_qubits == 2
    np.testing.assert_allclose(np.asarray(res.probabilities)[0], expected, atol=1e-12)
    assert res.get_probabilities() == pytest.approx(dict(zip(["00", "01", "10", "11"], expected)), abs=1e-12)
    shots = 20000
    counts = torch_backend.run(c.measure([2, 0]), shots=shots, seed=5).result()[0].get_counts()
    assert sum(counts.values()) == shots and all(len(k) == 2 for k in counts)
    for i, key in enumerate(["00", "01", "10", "11"]):
        sigma = np.sqrt(shots * expected[i] * (1 - expected[i]))
        assert abs(counts.get(key, 0) - shots * expected[i]) <= 5 * sigma + 1e-9
    # measuring one qubit, then measuring the rest later in the list
    one = torch_backend.run(c.measure(1), precision="double").result()[0]
    np.testing.assert_allclose(np.asarray(one.probabilities)[0], probs3.sum(axis=(0, 2)), atol=1e-12)
    split = torch_backend.run(c.measure(1).measure([2, 0]), precision="double").result()[0]
    np.testing.assert_allclose(np.asarray(split.probabilities)[0], np.einsum("abc->bca", probs3).reshape(-1), atol=1e-12)


def test_result_types_and_dtypes(torch_backend):
    """NumPy in (or nothing), NumPy out on the host in double; tensors in, tensors out in the run's
    precision on the tensors' device (the library's result convention)."""
    c = Circuit(2).h(0).cx(0, 1)
    res = torch_backend.run(Task(c, statevector=True)).result()[0]
    assert res.metadata["dtype"] == "torch.complex64"
    assert isinstance(res.probabilities, np.ndarray) and res.probabilities.dtype == np.float64
    assert isinstance(res.statevector, np.ndarray) and res.statevector.dtype == np.complex128
    pc = Circuit(1).ry(0, Parameter("t"))
    exact = torch_backend.run(Task(pc, np.array([[0.3]]), observables=("Z",))).result()[0]
    assert isinstance(exact.expectation_values, np.ndarray) and exact.expectation_values.dtype == np.float64
    tens = torch_backend.run(Task(pc, torch.tensor([[0.3]]), observables=("Z",), statevector=True)).result()[0]
    assert torch.is_tensor(tens.probabilities) and tens.probabilities.dtype == torch.float32
    assert tens.statevector.dtype == torch.complex64 and tens.expectation_values.dtype == torch.float32
    np.testing.assert_allclose(tens.expectation_values, exact.expectation_values, atol=1e-6)
    assert res.counts is None and res.shots is None
    res = torch_backend.run(c).result()[0]
    assert res.statevector is None and res.expectation_values is None
    with pytest.raises(qbridge.QBridgeError, match="no counts"):
        res.get_counts()
    shot = torch_backend.run(c, RunConfig(shots=100, seed=2)).result()
    assert shot.shots == 100 and shot[0].probabilities is None and shot.backend == "torch"
    assert sum(shot[0].get_probabilities().values()) == pytest.approx(1.0)
    job = torch_backend.run((c.rx(0, Parameter("a")), [[0.1], [0.2]]))
    assert job.status() == qbridge.JobStatus.DONE and job.status().final
    assert job.result()[0].batch_size == 2


def test_global_phase_and_unitary_in_the_state(torch_backend):
    a = Parameter("a")
    c = Circuit(1, global_phase=a).h(0).rz(0, 2 * a)
    res = torch_backend.run(Task(c, [[0.1]], statevector=True), precision="double").result()[0]
    expected = np.exp(0.1j) * np.array([np.exp(-0.1j), np.exp(0.1j)]) / np.sqrt(2)
    np.testing.assert_allclose(np.asarray(res.statevector)[0], expected, atol=1e-15)


def test_same_seed_same_counts_different_seed_different_counts(torch_backend):
    c = Circuit(4).h(0).h(1).h(2).h(3).measure_all()
    first = torch_backend.run(c, shots=1000, seed=11).result()[0].get_counts()
    again = torch_backend.run(c, shots=1000, seed=11).result()[0].get_counts()
    other = torch_backend.run(c, shots=1000, seed=12).result()[0].get_counts()
    assert first == again and first != other


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: cuda is a valid device here")
def test_cuda_without_gpu_is_an_error():
    with pytest.raises(BackendUnavailableError, match="CUDA"):
        qbridge.get_backend("torch", device="cuda")
    with pytest.raises(BackendUnavailableError):
        qbridge.get_backend("torch", device="cuda:1")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_backend_matches_cpu(qiskit_ref, rng, make_random_circuit):
    gpu = qbridge.get_backend("torch", device="cuda")
    assert gpu.target.gpu
    c = make_random_circuit(rng, 5, 30, unitary_prob=0.1)
    res = gpu.run(Task(c, statevector=True), precision="double").result()[0]
    np.testing.assert_allclose(np.asarray(res.statevector)[0], qiskit_ref.statevector(c), atol=1e-10)


@pytest.mark.parametrize("device", ["tpu", "meta", "not a device"])
def test_bad_devices(device):
    with pytest.raises(BackendUnavailableError):
        qbridge.get_backend("torch", device=device)


def test_unknown_option_is_a_type_error():
    with pytest.raises(TypeError, match="unknown option"):
        qbridge.get_backend("torch", shots=100)
    with pytest.raises(TypeError):
        qbridge.get_backend(torch_backend_object := qbridge.get_backend("torch"), device="cpu")
    assert qbridge.get_backend(torch_backend_object) is torch_backend_object


def test_target_describes_the_backend(torch_backend):
    t = torch_backend.target
    from qbridge.ir.gates import GATES

    assert set(GATES) <= t.native_gates and "unitary" in t.native_gates
    assert t.num_qubits >= 20 and t.supports_exact and t.supports_shots and t.supports_statevector
    assert "backprop" in t.gradient_methods and not t.gpu
    d = t.to_dict()
    assert d["native_gates"] == sorted(t.native_gates) and d["connectivity"] is None


def test_mid_circuit_measurement_cannot_reach_the_backend(torch_backend):
    with pytest.raises(UnsupportedFeatureError):
        torch_backend.run(Circuit(2).h(0).measure(0).cx(0, 1))


class _NoExecute(Exception):
    pass


@pytest.fixture
def guarded_backend(monkeypatch):
    """A torch backend whose _execute must not be reached (validation happens first)."""
    be = qbridge.get_backend("torch")

    def refuse(*args, **kwargs):
        raise _NoExecute("compute was spent before validation finished")

    monkeypatch.setattr(be, "_execute", refuse)
    return be


@pytest.mark.parametrize(
    "bad_task, settings, error",
    [
        (Circuit(31).h(0), {}, ValidationError),
        (Circuit(2).h(0), {"shots": 0}, ValueError),
        (Circuit(2).h(0), {"shots": -5}, ValueError),
        (Circuit(2).h(0), {"shots": 1.5}, ValueError),
        (Circuit(2).h(0), {"shots": True}, ValueError),
        (Circuit(2).h(0), {"seed": 1.5}, TypeError),
        (Circuit(2).h(0), {"precision": "half"}, ValueError),
        (Task(Circuit(2).h(0), statevector=True), {"shots": 10}, ValidationError),
    ],
)
def test_validation_errors_raise_before_compute(guarded_backend, bad_task, settings, error):
    good = Circuit(12).h(0)
    with pytest.raises(error):
        guarded_backend.run([good, bad_task], **settings)


def test_run_argument_errors(torch_backend):
    with pytest.raises(ValueError, match="at least one task"):
        torch_backend.run([])
    with pytest.raises(TypeError, match="cannot make a task"):
        torch_backend.run("OPENQASM 3;")
    with pytest.raises(TypeError):
        Task("not a circuit")
    with pytest.raises(ParameterError):
        torch_backend.run(Circuit(1).rx(0, Parameter("a")))
    with pytest.raises(EncodingError):
        torch_backend.run(Circuit(1).amplitude_encode("x"))


def test_a_config_and_settings_combine(torch_backend):
    c = Circuit(1).h(0).measure()
    res = torch_backend.run(c, RunConfig(shots=10, seed=3), shots=20).result()
    assert res.shots == 20 and sum(res[0].get_counts().values()) == 20
    assert RunConfig(mitigation="zne, readout").mitigation == ("zne", "readout")


def test_parameterless_circuit_with_a_batch_of_empty_bindings(torch_backend):
    res = torch_backend.run(Task(Circuit(1).h(0), np.zeros((5, 0)), observables=("Z",))).result()[0]
    assert res.batch_size == 5 and tuple(res.expectation_values.shape) == (5, 1)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("rows", ["few", "many"])
def test_input_batches_match_qiskit(n, rows, torch_backend, qiskit_ref, make_random_circuit, make_random_pauli_sum):
    """A circuit that encodes a batch of inputs on all qubits, then random gates (one binding).

    With at least 2^n rows the backend may build the circuit's unitary once and multiply (its fast
    path); with few rows it simulates gate by gate. Both must agree with Qiskit row by row.
    """
    gen = np.random.default_rng([n, len(rows)])
    a = Parameter("a")
    body = make_random_circuit(gen, n, 25, unitary_prob=0.1).rz(0, 2 * a - 0.3).ry(n - 1, a)
    c = Circuit(n).amplitude_encode("x").compose(body).measure(list(range(n))[::-1])
    B = 2**n + 3 if rows == "many" else 2
    d = 2**n - 1 if n % 2 else 2**n  # odd n: rows one feature short, padded with a zero amplitude
    x = gen.normal(size=(B, d)) + (1j * gen.normal(size=(B, d)) if n > 2 else 0)
    obs = make_random_pauli_sum(gen, n, 3)
    res = torch_backend.run(Task(c, [[0.4]], {"x": x}, (obs,)), precision="double").result()[0]
    assert res.batch_size == B
    # reference: Qiskit's unitary of the bound body applied to every normalised row
    u = qiskit_ref.unitary(body.bind({"a": 0.4}))
    padded = np.pad(x, ((0, 0), (0, 2**n - d)))
    states = (padded / np.linalg.norm(padded, axis=1, keepdims=True)) @ u.T  # (B, 2^n)
    probs = np.abs(states.reshape([B] + [2] * n).transpose([0] + list(range(n, 0, -1))).reshape(B, -1)) ** 2
    np.testing.assert_allclose(np.asarray(res.probabilities), probs, atol=1e-8)  # measured in reversed order
    o = qiskit_ref.pauli_matrix(obs)
    np.testing.assert_allclose(np.asarray(res.expectation_values)[:, 0], np.einsum("bi,ij,bj->b", states.conj(), o, states).real, atol=1e-8)
    # one row through the Qiskit circuit converter (a different route), as a check on the reference
    bound = bind_inputs(c, {"x": x[0]}).bind({"a": 0.4})
    np.testing.assert_allclose(qiskit_ref.statevector(bound), states[0], atol=1e-10)


# -- the base class's compile and validation, on a torch backend with a narrower target ------------

class Restricted(TorchBackend):
    """The torch simulator behind a narrower Target: what the base class does with a real backend's limits."""

    name = "restricted"

    def __init__(self, **changes):
        super().__init__(name="restricted")
        self._changes = changes

    @property
    def target(self):
        return dataclasses.replace(super().target, **self._changes)

    # the base class's rewrite into the target's gates (the torch backend skips it: all gates are native)
    native_circuit = qbridge.Backend.native_circuit


def test_native_gate_basis_and_state_prep_decomposition(qiskit_ref, rng, make_random_circuit):
    be = Restricted(native_gates=frozenset({"u", "cx"}), supports_state_prep=False)
    v = rng.normal(size=4) + 1j * rng.normal(size=4)
    body = make_random_circuit(rng, 3, 20, gates=[g for g in qbridge.ir.GATES if g != "id"])
    c = Circuit(3).amplitude_encode(v, [2, 0]).compose(body).unitary(np.array([[0, 1j], [1j, 0]]), 1)
    compiled = be.compile(Task(c), RunConfig())
    assert {op.name for op in compiled.circuit} <= {"u", "cx"}
    res = be.run(Task(c, statevector=True), precision="double").result()[0]
    np.testing.assert_allclose(np.asarray(res.statevector)[0], qiskit_ref.statevector(c), atol=1e-10)
    with pytest.raises(ValidationError) as err:
        be.run(Circuit(2).unitary(np.eye(4), [0, 1]))  # not writable in {u, cx}
    assert err.value.backend == "restricted" and err.value.instruction == "unitary"


def test_runtime_inputs_on_a_backend_without_state_prep(qiskit_ref):
    be = Restricted(native_gates=frozenset({"u", "cx"}), supports_state_prep=False)
    c = Circuit(2).amplitude_encode("x").h(1)
    x = np.array([[1.0, 2.0, 0.0, 1j], [0.0, 1.0, 1.0, 0.0]])
    res = be.run(Task(c, inputs={"x": x}, statevector=True), precision="double").result()[0]
    for row in range(2):
        np.testing.assert_allclose(np.asarray(res.statevector)[row], qiskit_ref.statevector(bind_inputs(c, {"x": x[row]})), atol=1e-12)


def test_connectivity():
    be = Restricted(connectivity=frozenset({(0, 1), (1, 2)}))
    be.run(Circuit(3).cx(1, 0).cz(2, 1).barrier()).result()  # either direction of a pair is fine
    with pytest.raises(ValidationError, match="connectivity") as err:
        be.run(Circuit(3).cx(0, 2))
    assert err.value.qubit == 0 and err.value.instruction == "cx"
    with pytest.raises(ValidationError):
        be.run(Circuit(3).ccx(0, 1, 2))


@pytest.mark.parametrize(
    "changes, task, settings, match",
    [
        ({"num_qubits": 3}, Circuit(4).h(0), {}, "4 qubits"),
        ({"supports_exact": False}, Circuit(1).h(0), {}, "samples only"),
        ({"supports_shots": False}, Circuit(1).h(0), {"shots": 10}, "exact only"),
        ({"max_shots": 100}, Circuit(1).h(0), {"shots": 1000}, "outside"),
        ({"min_shots": 10}, Circuit(1).h(0), {"shots": 5}, "outside"),
        ({"max_batch": 2}, (Circuit(1).rx(0, Parameter("a")), [[0.1], [0.2], [0.3]]), {}, "split the batch"),
        ({"precisions": ("single",)}, Circuit(1).h(0), {"precision": "double"}, "precision"),
        ({"supports_statevector": False}, Task(Circuit(1).h(0), statevector=True), {}, "state vectors"),
    ],
)
def test_target_limits_raise_validation_errors(changes, task, settings, match):
    be = Restricted(**changes)
    with pytest.raises(ValidationError, match=match) as err:
        be.run(task, **settings)
    assert err.value.backend == "restricted"


class DropsResults(TorchBackend):
    """A faulty backend: it loses the last task's result, or a row of every result."""

    def __init__(self, fault):
        super().__init__(name="faulty")
        self.fault = fault

    def _execute(self, tasks, config):
        out = super()._execute(tasks, config)
        if self.fault == "task":
            return out[:-1]
        return [dataclasses.replace(r, batch_size=r.batch_size - 1) for r in out]


@pytest.mark.parametrize("fault", ["task", "row"])
def test_a_backend_that_loses_results_is_a_job_error(fault):
    job = DropsResults(fault).run([Circuit(1).h(0), (Circuit(1).rx(0, Parameter("a")), [[0.1], [0.2]])])
    assert job.status() == JobStatus.ERROR
    with pytest.raises(JobError, match="faulty"):
        job.result()


def test_unencodable_inputs_are_refused_before_run():
    """Zero, non-finite and too-long rows fail when the task is built, not inside execution."""
    c = Circuit(1).amplitude_encode("x")
    for bad, word in [([[0.0, 0.0]], "zero"), ([[np.nan, 1.0]], "non-finite"), ([[1.0, 2.0, 3.0]], "features")]:
        with pytest.raises(EncodingError, match=word):
            Task(c, inputs={"x": bad})
    with pytest.raises(EncodingError, match="row 1"):
        Task(c, inputs={"x": torch.tensor([[1.0, 0.0], [0.0, 0.0]], requires_grad=True)})


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.complex64, torch.int64])
def test_tensor_inputs_are_checked_in_one_pass_per_kind(dtype):
    """Tensor rows: NaN, inf and zero rows are refused whatever the dtype; finite rows whose norm
    overflows (float32, entries near 1e30) are accepted and run to finite probabilities."""
    c = Circuit(1).amplitude_encode("x")
    ok = torch.tensor([[3, 4], [0, 1]], dtype=dtype)
    Task(c, inputs={"x": ok})
    with pytest.raises(EncodingError, match="row 1 is a zero vector"):
        Task(c, inputs={"x": torch.tensor([[1, 0], [0, 0]], dtype=dtype)})
    if dtype.is_floating_point or dtype.is_complex:
        for bad in (float("nan"), float("inf")):
            with pytest.raises(EncodingError, match="non-finite"):
                Task(c, inputs={"x": torch.tensor([[1.0, bad]]).to(dtype)})
    if dtype == torch.float32:
        big = torch.tensor([[3e37, 4e37], [1e-30, 0.0]])
        assert not torch.isfinite(torch.linalg.vector_norm(big, dim=1)).all()  # the norm overflows
        p = TorchBackend().run((c, None, {"x": big})).result()[0].probabilities
        assert torch.allclose(p, torch.tensor([[0.36, 0.64], [1.0, 0.0]]), atol=1e-6)


def test_errors_during_execution_are_raised_by_result():
    class Failing(TorchBackend):
        def _execute(self, tasks, config):
            raise EncodingError("simulated failure inside execution")

    job = Failing().run(Circuit(1).h(0))
    assert job.status() == JobStatus.ERROR and job.status().final
    assert not job.cancel()
    assert job.job_id in repr(job) and "error" in repr(job)
    with pytest.raises(EncodingError, match="simulated failure"):
        job.result()


def test_decomposed_parametric_circuit_binds_by_name(qiskit_ref):
    a, b, c = Parameter("a"), Parameter("b"), Parameter("c")
    circuit = Circuit(1).u(0, a, b, c)
    be = Restricted(native_gates=frozenset({"rz", "ry", "cz"}))
    values = np.array([[0.3, -1.2, 2.0]])
    res = be.run(Task(circuit, values, statevector=True), precision="double").result()[0]
    expected = qiskit_ref.statevector(circuit.bind({"a": 0.3, "b": -1.2, "c": 2.0}))
    np.testing.assert_allclose(np.asarray(res.statevector)[0], expected, atol=1e-10)
