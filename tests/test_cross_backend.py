"""Cross-backend agreement: the same random circuits give the same numbers on every backend.

120 seeded random circuits of 1 to 6 qubits (every gate of the library, 1- and 2-qubit
``unitary`` gates, angles that are linear expressions of several parameters, symbolic global
phases, run-time amplitude encoding of real and complex inputs on subsets of qubits with zero
padding, measured subsets in shuffled order, several bindings per circuit and Pauli-sum
observables) run on every available exact backend and are compared with the embedded ``torch``
backend in double precision:

- exact probabilities (over the measured qubits) within 1e-6 of the reference;
- exact expectation values within 1e-6 per unit of the observable's coefficient norm;
- counts with shots compatible with the reference distribution, by two tests derived from the
  shot count S: every outcome within z* standard deviations after Anscombe's variance-stabilising
  transform (z* = 5, raised by a Bonferroni correction to keep the whole backend's false-alarm rate
  below 1e-3 over its thousands of outcomes), and the total-variation distance of every row below
  E[TV] + sqrt(ln(1/delta) / (2 S)) (McDiarmid; delta = 1e-6 per row), which catches many small
  deviations spread over outcomes that no single z-score shows.

Every backend gets all circuits in two submissions (one exact run, one run with shots), so a
backend costs a few seconds. Noisy backends (ibm.fake, aer with a device noise model, braket.dm
with noise) cannot agree with the ideal reference; they get a sanity check only: a GHZ state's two
dominant outcomes are all-zeros and all-ones.

A backend that cannot run here is skipped with its availability reason; tests are parametrised by
backend so that a failure names it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from scipy.stats import norm
from scipy.stats import unitary_group

import qbridge
from qbridge import Circuit, Parameter, PauliSum, Task
from qbridge.exceptions import BackendUnavailableError
from qbridge.ir.gates import GATES
from qbridge.testing.checks import count_zscores, to_numpy

SEED = 20250611
NUM_CIRCUITS = 120
MAX_QUBITS = 6
SHOTS = 2000
EXACT_ATOL = 1e-6
FAMILY_ALPHA = 1e-3  # false-alarm probability of the per-outcome test, per backend
ROW_DELTA = 1e-6  # false-alarm probability of the total-variation test, per row

EXACT_BACKENDS = [
    "aer",
    "pennylane.lightning.qubit",
    "pennylane.default.qubit",
    "braket.local",
    "braket.dm",  # without noise it is exact too (a density matrix of a pure state)
    "example",
]
SHOT_BACKENDS = EXACT_BACKENDS
NOISY_BACKENDS = [
    pytest.param("ibm.fake", {}, id="ibm.fake"),
    pytest.param("aer", {"noise_backend": "fake_manila"}, id="aer-fake_manila"),
    pytest.param(
        "braket.dm",
        {"noise": {"depolarizing": 0.005, "two_qubit_depolarizing": 0.02, "readout": 0.02}},
        id="braket.dm-noisy",
    ),
]


# -- the random circuits -------------------------------------------------------------------------

@dataclass
class Case:
    task: Task
    has_multi_qubit_unitary: bool
    label: str
    features: set[str] = field(default_factory=set)


def _angle(rng: np.random.Generator, params: list[Parameter]) -> Any:
    """A number, or a linear expression of one or two parameters with a constant."""
    r = rng.random()
    if r < 0.3:
        return float(rng.uniform(-math.pi, math.pi))
    if r < 0.55:
        return params[int(rng.integers(len(params)))]
    k = 1 + int(rng.integers(2))
    chosen = rng.choice(len(params), size=min(k, len(params)), replace=False)
    expr = float(rng.uniform(-1, 1))
    for i in chosen:
        expr = expr + float(rng.uniform(-2, 2)) * params[int(i)]
    return expr


def _random_input(rng: np.random.Generator, rows: int, size: int, complex_: bool) -> np.ndarray:
    d = int(rng.integers(max(1, size // 2), size + 1))  # shorter vectors are zero-padded
    x = rng.normal(size=(rows, d))
    if complex_:
        x = x + 1j * rng.normal(size=(rows, d))
    return x


def make_case(index: int, rng: np.random.Generator) -> Case:
    n = 1 + index % MAX_QUBITS
    params = [Parameter(f"t{i}") for i in range(1 + int(rng.integers(4)))]
    phase: Any = 0.0
    if rng.random() < 0.3:
        phase = 0.5 * params[0] + float(rng.uniform(-1, 1))
    c = Circuit(n, global_phase=phase)
    features: set[str] = set()
    B = 1 + int(rng.integers(3))
    inputs: dict[str, np.ndarray] = {}
    fresh = list(range(n))
    # run-time amplitude encoding on fresh qubits, in a random order (the first listed is the MSB)
    if rng.random() < 0.35:
        k = 1 + int(rng.integers(min(n, 4)))
        qs = [int(q) for q in rng.permutation(n)[:k]]
        c = c.amplitude_encode("x", qs)
        fresh = [q for q in fresh if q not in qs]
        complex_ = rng.random() < 0.5
        inputs["x"] = _random_input(rng, B if rng.random() < 0.7 else 1, 2**k, complex_)
        features.add("encode-complex" if complex_ else "encode-real")
        if fresh and rng.random() < 0.4:
            k2 = 1 + int(rng.integers(min(len(fresh), 2)))
            qs2 = fresh[:k2]
            c = c.amplitude_encode("y", qs2)
            fresh = fresh[k2:]
            inputs["y"] = _random_input(rng, B, 2**k2, False)
            features.add("two-inputs")
    for q in fresh:  # a generic starting state for the qubits that were not encoded
        c = c.ry(q, float(rng.uniform(0.3, 2.8)))
    names = sorted(g for g, d in GATES.items() if d.num_qubits <= n)
    multi_unitary = False
    for _ in range(int(rng.integers(6, 26))):
        r = rng.random()
        if r < 0.05:
            c = c.unitary(unitary_group.rvs(2, random_state=rng), [int(rng.integers(n))])
            features.add("unitary1")
            continue
        if r < 0.08 and n >= 2 and index % 4 == 0:
            qs = [int(q) for q in rng.permutation(n)[:2]]
            c = c.unitary(unitary_group.rvs(4, random_state=rng), qs)
            multi_unitary = True
            features.add("unitary2")
            continue
        gate = GATES[names[int(rng.integers(len(names)))]]
        qs = [int(q) for q in rng.permutation(n)[: gate.num_qubits]]
        c = c.append(gate.name, qs, [_angle(rng, params) for _ in range(gate.num_params)])
    if rng.random() < 0.4:
        m = 1 + int(rng.integers(n))
        c = c.measure([int(q) for q in rng.permutation(n)[:m]])
        features.add("measured-subset")
    values = {name: rng.uniform(-math.pi, math.pi, size=B) for name in c.parameter_names}
    observables = []
    for _ in range(2):
        words = ["".join(rng.choice(list("IXYZ"), n)) for _ in range(1 + int(rng.integers(3)))]
        observables.append(PauliSum(list(zip(rng.uniform(-1, 1, len(words)).tolist(), words)), n))
    task = Task(c, values if values else None, inputs, tuple(observables))
    return Case(task, multi_unitary, f"circuit {index} ({n} qubits, {len(c)} ops, batch {task.batch_size})", features)


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    rng = np.random.default_rng(SEED)
    return [make_case(i, rng) for i in range(NUM_CIRCUITS)]


def test_the_circuits_cover_the_library(cases):
    """The random circuits exercise what the module docstring promises (a guard on the generator)."""
    used = {op.name for case in cases for op in case.task.circuit}
    missing = set(GATES) - used
    assert not missing, f"gates never drawn: {sorted(missing)}"
    features = set().union(*(case.features for case in cases))
    assert {"encode-real", "encode-complex", "two-inputs", "unitary1", "unitary2", "measured-subset"} <= features
    assert any(not isinstance(case.task.circuit.global_phase, float) for case in cases)
    assert any(
        len(p.terms) > 1 for case in cases for op in case.task.circuit for p in op.params if hasattr(p, "terms")
    ), "no angle is an expression of several parameters"
    assert len(cases) >= 100 and max(c.task.circuit.num_qubits for c in cases) == MAX_QUBITS
    assert sum(c.task.batch_size for c in cases) > len(cases)


# -- the reference and the backends ----------------------------------------------------------------

@pytest.fixture(scope="module")
def reference(cases):
    """torch in double precision: probabilities and expectation values of every row, one run."""
    result = qbridge.get_backend("torch").run([c.task for c in cases], precision="double").result()
    return [(to_numpy(r.probabilities).astype(float), to_numpy(r.expectation_values).astype(float)) for r in result]


def _backend_or_skip(name: str, **options: Any):
    info = {b.name: b for b in qbridge.list_backends()}.get(name)
    if info is None:
        pytest.skip(f"{name}: not installed (no plugin registers it)")
    if not info.available:
        pytest.skip(f"{name}: {info.reason}")
    try:
        return qbridge.get_backend(name, **options)
    except BackendUnavailableError as exc:
        pytest.skip(f"{name}: {exc.message}")


def _runnable(backend, cases: list[Case]) -> list[int]:
    """Indices of the cases this backend accepts (multi-qubit ``unitary`` needs it native)."""
    native_unitary = "unitary" in backend.target.native_gates
    return [i for i, c in enumerate(cases) if native_unitary or not c.has_multi_qubit_unitary]


_RUNS: dict[tuple[str, str], Any] = {}


def _run_all(name: str, cases: list[Case], shots: int | None):
    """All accepted cases on ``name`` in one submission (cached per module run)."""
    key = (name, "exact" if shots is None else f"shots={shots}")
    if key not in _RUNS:
        backend = _backend_or_skip(name)
        idx = _runnable(backend, cases)
        settings = {"precision": "double"} if shots is None else {"shots": shots, "seed": SEED}
        tasks = [cases[i].task for i in idx]
        if shots is not None:  # counts only: the core estimates observables from counts the same way for all
            tasks = [Task(t.circuit, t.parameter_values, t.inputs) for t in tasks]
        _RUNS[key] = (idx, backend.run(tasks, **settings).result())
    return _RUNS[key]


# -- exact agreement ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", EXACT_BACKENDS)
def test_exact_probabilities_agree(name, cases, reference, record_property):
    idx, result = _run_all(name, cases, None)
    assert len(idx) >= 100, f"{name} accepts only {len(idx)} of the circuits"
    worst = 0.0
    for i, res in zip(idx, result):
        probs, _ = reference[i]
        got = to_numpy(res.probabilities)
        assert got.shape == probs.shape, f"{name}, {cases[i].label}: shape {got.shape}, expected {probs.shape}"
        err = float(np.max(np.abs(got - probs)))
        worst = max(worst, err)
        assert err <= EXACT_ATOL, (
            f"{name}, {cases[i].label}: probabilities differ from torch (double) by {err:.3g} > {EXACT_ATOL:g}"
        )
    record_property("max_probability_deviation", worst)


@pytest.mark.parametrize("name", EXACT_BACKENDS)
def test_exact_expectation_values_agree(name, cases, reference, record_property):
    idx, result = _run_all(name, cases, None)
    worst = 0.0
    for i, res in zip(idx, result):
        _, evs = reference[i]
        got = to_numpy(res.expectation_values)
        assert got.shape == evs.shape, f"{name}, {cases[i].label}: shape {got.shape}, expected {evs.shape}"
        scale = np.array([max(1.0, float(np.abs(o.coefficients).sum())) for o in cases[i].task.observables])
        err = float(np.max(np.abs(got - evs) / scale))
        worst = max(worst, err)
        assert err <= EXACT_ATOL, (
            f"{name}, {cases[i].label}: expectation values differ from torch (double) by {err:.3g} "
            f"(per unit of coefficient norm) > {EXACT_ATOL:g}"
        )
    record_property("max_expectation_deviation", worst)


# -- counts ------------------------------------------------------------------------------------------

def tv_bound(probs: np.ndarray, shots: int, delta: float) -> float:
    """A bound that the total-variation distance between ``shots`` samples of ``probs`` and
    ``probs`` exceeds with probability at most ``delta``.

    E[TV] <= 1/2 sum_k sqrt(p_k (1 - p_k) / S) (Jensen on each |c_k/S - p_k|), and TV changes by at
    most 1/S when one shot changes, so McDiarmid gives P(TV > E[TV] + t) <= exp(-2 S t^2).
    """
    mean = 0.5 * float(np.sum(np.sqrt(probs * (1 - probs) / shots)))
    return mean + math.sqrt(math.log(1 / delta) / (2 * shots))


@pytest.mark.parametrize("name", SHOT_BACKENDS)
def test_counts_agree_with_shots(name, cases, reference, record_property):
    idx, result = _run_all(name, cases, SHOTS)
    rows = [(i, b) for i, res in zip(idx, result) for b in range(res.batch_size)]
    outcomes = sum(reference[i][0].shape[1] for i, _ in rows)
    z_limit = max(5.0, float(norm.isf(FAMILY_ALPHA / (2 * outcomes))))
    worst_z = worst_tv_ratio = 0.0
    for i, res in zip(idx, result):
        probs = np.clip(reference[i][0], 0.0, 1.0)
        assert res.counts is not None and len(res.counts) == probs.shape[0], f"{name}, {cases[i].label}: counts"
        width = int(math.log2(probs.shape[1]))
        for b, counts in enumerate(res.counts):
            arr = np.zeros(probs.shape[1])
            for key, value in counts.items():
                assert len(key) == width and not set(key) - {"0", "1"}, f"{name}: bad key {key!r}"
                arr[int(key, 2)] += value
            what = f"{name}, {cases[i].label}, row {b} ({SHOTS} shots, seed {SEED})"
            assert arr.sum() == SHOTS, f"{what}: counts add up to {arr.sum():.0f}"
            z = count_zscores(arr, probs[b], SHOTS)
            k = int(np.argmax(np.abs(z)))
            worst_z = max(worst_z, abs(float(z[k])))
            assert abs(z[k]) <= z_limit, (
                f"{what}: outcome {format(k, f'0{width}b')} seen {arr[k]:.0f} times, expected "
                f"{SHOTS * probs[b, k]:.1f} ({z[k]:+.1f} sigma > {z_limit:.2f})"
            )
            tv = 0.5 * float(np.abs(arr / SHOTS - probs[b]).sum())
            bound = tv_bound(probs[b], SHOTS, ROW_DELTA)
            worst_tv_ratio = max(worst_tv_ratio, tv / bound)
            assert tv <= bound, f"{what}: total-variation distance {tv:.4f} > bound {bound:.4f}"
    record_property("max_abs_z", worst_z)
    record_property("max_tv_over_bound", worst_tv_ratio)


def test_tv_bound_is_not_vacuous():
    """The bound must be tight enough to catch a real bug: a flipped bit of a 3-qubit state."""
    p = np.array([0.5, 0.3, 0.1, 0.05, 0.03, 0.01, 0.007, 0.003])
    flipped = p.reshape(2, 2, 2)[:, :, ::-1].reshape(-1)
    assert 0.5 * np.abs(p - flipped).sum() > 2 * tv_bound(p, SHOTS, ROW_DELTA)


# -- noisy backends: sanity only ------------------------------------------------------------------------

@pytest.mark.parametrize("name, options", NOISY_BACKENDS)
def test_noisy_backend_ghz_dominant_outcomes(name, options):
    backend = _backend_or_skip(name, **options)
    assert backend.target.noisy, f"{name} {options} should declare noisy=True"
    n = min(4, backend.target.num_qubits or 4)
    ghz = Circuit(n).h(0)
    for q in range(n - 1):
        ghz = ghz.cx(q, q + 1)
    ghz = ghz.measure_all()
    shots = 4000
    counts = backend.run(ghz, shots=shots, seed=SEED).result()[0].get_counts()
    assert sum(counts.values()) == shots
    top = sorted(counts, key=counts.get, reverse=True)[:2]
    assert set(top) == {"0" * n, "1" * n}, f"{name}: dominant outcomes {top} ({counts})"
    for key in top:  # each near 1/2 and clearly noisy-but-right, not a wrong state
        assert 0.3 < counts[key] / shots < 0.7, f"{name}: P({key}) = {counts[key] / shots:.3f}"
    assert (counts["0" * n] + counts["1" * n]) / shots > 0.7
