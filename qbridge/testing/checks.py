"""References, tolerances and the harness that the conformance suite drives a backend with.

Owns: the exact reference (qbridge's own state-vector simulator in complex128), NumPy
marginalisation, random test circuits, the tolerance rules, and :class:`BackendHarness`, which
runs tasks on the backend under test and compares every row of every task with the reference.

Tolerance rules (one place, so that every test agrees):

- exact results: absolute ``EXACT_ATOL[precision]`` -- 1e-10 in double precision, 1e-4 in single.
  The double tolerance sits between the two arithmetics, so that every exact test in double is
  also a precision test: complex128 rounding (unit roundoff 1.1e-16) over the suite's deepest
  circuits (a few hundred gates) stays below 1e-13 (every adapter in plugins/ measures <= 1e-15),
  while complex64 arithmetic (unit roundoff 6e-8) is off by >= 1e-8 on any state with a
  non-trivial amplitude (0.5 rounded through float32 amplitudes is already 3e-8 away). 1e-4 in
  single leaves room for GPU libraries while any real bug -- a wrong gate, a flipped bit order --
  is off by O(0.1);
- state vectors are compared exactly, global phase included: a state vector is the circuit's
  matrix applied to |0...0>, times ``exp(i * circuit.global_phase)`` (evaluated per row when the
  phase is a parameter expression). A failure says when the rows agree up to a phase, so that a
  dropped or mis-evaluated global phase reads as one;
- independence of random streams: counts of rows (or tasks, or submissions) that sample the same
  distribution are compared with Pearson's homogeneity statistic; a statistic below its 1e-6
  lower quantile means the rows share draws (one random stream restarted per row);
- counts: every outcome within ``SIGMAS`` (5) standard deviations after the binomial
  variance-stabilising transform (Anscombe: arcsin of the square root of the frequency), so that the
  false-alarm rate stays about 1e-6 per outcome even for rare outcomes, where a plain normal
  approximation of the binomial is far too narrow in its tail;
- shot-based expectation values: within 5 standard errors derived from the exact values and the
  shot count, never from the backend's own (possibly wrong) error bars.

Must not touch: backends' internals; nothing here depends on a quantum SDK.
"""

from __future__ import annotations

import contextlib
import copy
import math
from dataclasses import replace
from typing import Any, Iterator, Sequence

import numpy as np
import pytest
import torch

from ..backends.base import Backend, Result, Target, Task
from ..exceptions import ValidationError
from ..ir.circuit import Circuit
from ..ir.gates import GATES
from ..ir.observables import PauliSum
from ..ir.parameters import Parameter
from ..sim import statevector as sv

__all__ = [
    "EXACT_ATOL",
    "UNIT_ROUNDOFF",
    "SIGMAS",
    "DEFAULT_SHOTS",
    "KNOWN_GRADIENT_METHODS",
    "KNOWN_PRECISIONS",
    "BackendHarness",
    "to_numpy",
    "readout_qubits",
    "reference_states",
    "reference_probabilities",
    "marginalise",
    "count_zscores",
    "assert_close",
    "assert_states_close",
    "assert_counts_consistent",
    "homogeneity",
    "assert_not_identical",
    "random_circuit",
    "random_state_prep",
]

EXACT_ATOL = {"double": 1e-10, "single": 1e-4}
# the unit roundoffs the tolerances are derived from (the precision tests check the gap is there)
UNIT_ROUNDOFF = {"double": 2.0**-53, "single": 2.0**-24}
SIGMAS = 5.0
DEFAULT_SHOTS = 4000
# The gradient methods qbridge's torch layers know how to use (Target.gradient_methods).
KNOWN_GRADIENT_METHODS = frozenset({"backprop", "adjoint", "parameter-shift"})
KNOWN_PRECISIONS = ("single", "double")


# -- references ---------------------------------------------------------------------------------

def to_numpy(x: Any) -> np.ndarray:
    """A backend's array (NumPy or torch, any device, maybe requiring grad) as NumPy."""
    if torch.is_tensor(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def readout_qubits(circuit: Circuit) -> tuple[int, ...]:
    """The qubits a result reports, in classical-bit order: the measured ones, or all."""
    return circuit.measured_qubits or tuple(range(circuit.num_qubits))


def reference_states(task: Task, *, dtype: torch.dtype = torch.complex128) -> np.ndarray:
    """Exact final states of every row of ``task``, complex128, shape (B, 2^n).

    ``dtype=torch.complex64`` computes the same states in single precision (returned as
    complex128): the precision tests use it to check that their circuits expose complex64.
    """
    pv = np.array(task.parameter_array()) if task.circuit.num_parameters else None  # writable copy
    inputs = {k: to_numpy(v) for k, v in task.inputs.items()}
    states = sv.simulate(task.circuit, pv, inputs, dtype=dtype).numpy().astype(np.complex128)
    return np.broadcast_to(states, (task.batch_size, states.shape[1])).copy()


def marginalise(probs: np.ndarray, num_qubits: int, qubits: Sequence[int]) -> np.ndarray:
    """(B, 2^n) probabilities -> (B, 2^m) over ``qubits`` (first listed = leftmost bit)."""
    B = probs.shape[0]
    t = probs.reshape(B, *([2] * num_qubits))  # axis 1 + q holds qubit q
    drop = tuple(1 + q for q in range(num_qubits) if q not in qubits)
    t = t.sum(axis=drop) if drop else t
    kept = sorted(qubits)  # axes left after the sum, in qubit order
    t = np.transpose(t, [0] + [1 + kept.index(q) for q in qubits])
    return t.reshape(B, 2 ** len(qubits))


def reference_probabilities(task: Task) -> np.ndarray:
    """Exact readout distribution of every row, shape (B, 2^m) over the readout qubits."""
    states = reference_states(task)
    probs = np.abs(states) ** 2
    return marginalise(probs, task.circuit.num_qubits, readout_qubits(task.circuit))


def reference_expectations(task: Task) -> np.ndarray:
    """<psi|O|psi> of every observable for every row, shape (B, n_obs), from dense matrices."""
    states = reference_states(task)
    out = np.zeros((states.shape[0], len(task.observables)))
    for j, obs in enumerate(task.observables):
        m = obs.to_matrix()
        out[:, j] = np.einsum("bi,ij,bj->b", states.conj(), m, states).real
    return out


# -- comparisons ---------------------------------------------------------------------------------

def _bits(index: int, width: int) -> str:
    return format(index, f"0{width}b") if width else ""


def assert_close(actual: Any, expected: np.ndarray, atol: float, what: str) -> None:
    """Element-wise |actual - expected| <= atol, with the worst entry named on failure."""
    a = to_numpy(actual)
    if a.shape != expected.shape:
        pytest.fail(f"{what}: shape {a.shape}, expected {expected.shape}")
    if not np.all(np.isfinite(a)):
        pytest.fail(f"{what}: contains NaN or inf")
    err = np.abs(a - expected)
    if err.max(initial=0.0) > atol:
        row, col = np.unravel_index(int(np.argmax(err)), err.shape) if err.ndim == 2 else (0, int(np.argmax(err)))
        width = int(math.log2(expected.shape[-1])) if expected.shape[-1] else 0
        pytest.fail(
            f"{what}: differs from the reference by {err.max():.3g} > {atol:g} "
            f"(row {row}, outcome '{_bits(int(col), width)}': got {a[row, col]:.6g}, "
            f"expected {expected[row, col]:.6g})"
        )


def assert_states_close(actual: Any, expected: np.ndarray, atol: float, what: str) -> None:
    """State vectors equal to ``expected`` entry by entry, global phase included.

    On failure the message says whether the row matches up to a global phase, and which phase:
    a backend that drops ``circuit.global_phase`` (or evaluates a parametrised phase wrongly)
    is told so rather than shown an amplitude.
    """
    a = to_numpy(actual).astype(np.complex128)
    if a.shape != expected.shape:
        pytest.fail(f"{what}: state vector shape {a.shape}, expected {expected.shape}")
    if not np.all(np.isfinite(a)):
        pytest.fail(f"{what}: state vector contains NaN or inf")
    for b in range(a.shape[0]):
        norm = np.linalg.norm(a[b])
        if abs(norm - 1) > atol * max(1, a.shape[1] ** 0.5):
            pytest.fail(f"{what}: row {b} has norm {norm:.8g}, expected 1")
        err = np.abs(a[b] - expected[b])
        if err.max() <= atol:
            continue
        overlap = np.vdot(expected[b], a[b])
        phase = overlap / abs(overlap) if abs(overlap) > 1e-12 else 1.0
        if np.abs(a[b] - phase * expected[b]).max() <= atol:
            pytest.fail(
                f"{what}: row {b} equals the reference only up to a global phase of "
                f"{np.angle(phase):+.6g} rad; a state vector must carry exp(i * circuit.global_phase), "
                "with a parametrised phase evaluated for each row (docs/plugins.md, 'Global phase')"
            )
        k = int(np.argmax(err))
        width = int(math.log2(a.shape[1]))
        pytest.fail(
            f"{what}: row {b} differs from the reference state by {err.max():.3g} > {atol:g} at "
            f"amplitude '{_bits(k, width)}': got {a[b, k]:.6g}, expected {expected[b, k]:.6g} "
            f"(|overlap| = {abs(overlap):.6g})"
        )


def count_zscores(counts: np.ndarray, probs: np.ndarray, shots: int) -> np.ndarray:
    """Deviation of binomial counts from ``shots * probs`` in standard deviations.

    Anscombe's transform arcsin(sqrt((c + 3/8) / (S + 3/4))) of a Binomial(S, p) count has
    variance 1 / (4 (S + 1/2)) for every p, rare outcomes included, so one 5-sigma threshold is
    fair for all outcomes.
    """
    y = np.arcsin(np.sqrt((counts + 0.375) / (shots + 0.75)))
    mu = np.arcsin(np.sqrt(np.clip(probs, 0.0, 1.0)))
    return (y - mu) * 2 * math.sqrt(shots + 0.5)


def counts_array(counts: dict[str, int], width: int, what: str) -> np.ndarray:
    """A counts dict checked for well-formed keys and values, as a dense (2^width,) array."""
    arr = np.zeros(2**width)
    for key, value in counts.items():
        if not isinstance(key, str) or len(key) != width or set(key) - {"0", "1"}:
            pytest.fail(f"{what}: counts key {key!r} is not a {width}-bit string of 0/1 (q0 first)")
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            pytest.fail(f"{what}: count {value!r} for {key!r} is not a non-negative integer")
        arr[int(key, 2)] += int(value)
    return arr


def assert_counts_consistent(counts: dict[str, int], probs: np.ndarray, shots: int, what: str) -> None:
    """Counts of one row are well formed, add up to ``shots`` and fit ``probs`` within 5 sigma."""
    width = int(math.log2(probs.shape[0]))
    arr = counts_array(counts, width, what)
    if int(arr.sum()) != shots:
        pytest.fail(f"{what}: counts add up to {int(arr.sum())}, expected {shots} shots")
    z = count_zscores(arr, probs, shots)
    worst = int(np.argmax(np.abs(z)))
    if abs(z[worst]) > SIGMAS:
        pytest.fail(
            f"{what}: outcome '{_bits(worst, width)}' was seen {int(arr[worst])} times in {shots} "
            f"shots, expected {shots * probs[worst]:.1f} ({z[worst]:+.1f} sigma; the limit is "
            f"{SIGMAS:g})"
        )


def homogeneity(tables: Sequence[np.ndarray]) -> tuple[float, float, int]:
    """Pearson's chi-square statistic of count rows that should come from one distribution.

    Returns (statistic, lower, df): ``lower`` is the statistic's 1e-6 lower quantile (Wilson and
    Hilferty's cube-root approximation of the chi-square quantile, accurate to a few percent for
    df >= 3). Independent rows give a statistic near df; rows that share draws give ~0.
    """
    t = np.asarray(tables, dtype=float)
    t = t[:, t.sum(axis=0) > 0]  # outcomes never seen carry no information
    rows, cols = t.shape
    expected = t.sum(axis=1, keepdims=True) * t.sum(axis=0, keepdims=True) / t.sum()
    stat = float(((t - expected) ** 2 / expected).sum())
    df = (rows - 1) * (cols - 1)
    z = -4.753  # the standard normal's 1e-6 quantile
    lower = df * max(1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df)), 0.0) ** 3 if df else 0.0
    return stat, lower, df


def assert_not_identical(counts: Sequence[dict[str, int]], labels: Sequence[str], what: str) -> None:
    """No two count dicts of independent draws are equal (two runs of a 3-qubit uniform
    distribution with 2000 shots coincide with probability about 1e-12)."""
    for i in range(len(counts)):
        for j in range(i + 1, len(counts)):
            if counts[i] == counts[j]:
                pytest.fail(
                    f"{what}: {labels[i]} and {labels[j]} have identical counts {counts[i]}: they reuse "
                    "one random stream; draw every row, task and submission from its own part of the "
                    "stream (one generator per submission, or spawned child seeds)"
                )


# -- random circuits -----------------------------------------------------------------------------

def random_state_prep(num_qubits: int, rng: np.random.Generator) -> Circuit:
    """A numeric circuit taking |0..0> to an entangled state with all amplitudes non-trivial."""
    c = Circuit(num_qubits)
    for layer in range(2):
        for q in range(num_qubits):
            c = c.u(q, *(float(a) for a in rng.uniform(-math.pi, math.pi, 3)))
        if layer == 0:
            for q in range(num_qubits - 1):
                c = c.cx(q, q + 1)
    return c


def random_circuit(
    num_qubits: int,
    num_gates: int,
    rng: np.random.Generator,
    *,
    parametric: bool = False,
    num_parameters: int = 3,
) -> Circuit:
    """Gates drawn uniformly from the library on random qubits (seeded by ``rng``).

    With ``parametric`` the angles are linear expressions of ``num_parameters`` shared symbolic
    parameters ``p0, p1, ...`` (repeats and coefficients exercise the binding code); otherwise
    they are numbers. A layer of random rotations comes first so that every gate acts on a
    generic state.
    """
    names = sorted(g for g, d in GATES.items() if d.num_qubits <= num_qubits)
    params = [Parameter(f"p{i}") for i in range(num_parameters)]
    c = Circuit(num_qubits)
    for q in range(num_qubits):
        c = c.ry(q, float(rng.uniform(0.3, 2.8)))
    for _ in range(num_gates):
        name = names[int(rng.integers(len(names)))]
        gate = GATES[name]
        qubits = [int(q) for q in rng.permutation(num_qubits)[: gate.num_qubits]]
        values: list[Any] = []
        for _ in range(gate.num_params):
            if parametric:
                p = params[int(rng.integers(len(params)))]
                values.append(p if rng.random() < 0.5 else float(rng.uniform(-2, 2)) * p + float(rng.uniform(-1, 1)))
            else:
                values.append(float(rng.uniform(-math.pi, math.pi)))
        c = c.append(name, qubits, values)
    return c


# -- the harness ---------------------------------------------------------------------------------

class BackendHarness:
    """The backend under test, its declared target, and the suite's run-and-compare helpers."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.target: Target = backend.target
        precisions = tuple(self.target.precisions)
        # test in the most precise mode the backend declares; the other mode has its own test
        self.precision = "double" if "double" in precisions else (precisions[0] if precisions else "single")
        self.atol = EXACT_ATOL.get(self.precision, EXACT_ATOL["single"])

    @property
    def name(self) -> str:
        return self.backend.backend_name

    def with_precision(self, precision: str) -> "BackendHarness":
        """The same backend, run in ``precision`` with that precision's tolerance."""
        self.require(precision in self.target.precisions, f"declares precisions={tuple(self.target.precisions)}")
        other = copy.copy(self)
        other.precision, other.atol = precision, EXACT_ATOL[precision]
        return other

    # -- skips, by declared capability only --------------------------------------------------
    def require(self, condition: bool, reason: str) -> None:
        if not condition:
            pytest.skip(f"{self.name}: {reason}")

    def require_ideal(self) -> None:
        t = self.target
        self.require(not t.noisy, "declares noisy=True; results cannot be compared with the ideal reference")
        self.require(t.simulator, "declares simulator=False; the suite does not spend QPU time on correctness")
        self.require(
            t.connectivity is None,
            "declares restricted connectivity; the suite's circuits need all-to-all coupling",
        )

    def require_simulator(self) -> None:
        self.require(self.target.simulator, "declares simulator=False; the suite does not spend QPU time")

    def require_qubits(self, n: int) -> None:
        limit = self.target.num_qubits
        self.require(limit is None or n <= limit, f"the test needs {n} qubits and the target has {limit}")

    def require_exact(self) -> None:
        self.require(self.target.supports_exact, "declares supports_exact=False")

    def require_shots(self) -> None:
        self.require(self.target.supports_shots, "declares supports_shots=False")

    def batch(self, rows: int) -> int:
        """``rows``, or fewer if the target caps the batch size."""
        cap = self.target.max_batch
        return rows if cap is None else max(1, min(rows, cap))

    def shots(self, wanted: int = DEFAULT_SHOTS) -> int:
        """``wanted`` shots clamped into the target's range (tolerances follow the real count)."""
        t = self.target
        s = max(wanted, t.min_shots)
        return s if t.max_shots is None else min(s, t.max_shots)

    # -- running -------------------------------------------------------------------------------
    def run(self, tasks: Any, **settings: Any) -> Result:
        """One submission through the backend's ``run``, with the harness's precision.

        The suite seeds its shot runs so that a failure reproduces; a backend that declares
        ``seeded=False`` must refuse seeds (``TestSeeds``), so its runs here go without one.
        """
        settings.setdefault("precision", self.precision)
        if not self.target.seeded:
            settings["seed"] = None
        result = self.backend.run(tasks, **settings).result()
        single = isinstance(tasks, (Task, Circuit)) or (isinstance(tasks, tuple) and tasks and isinstance(tasks[0], Circuit))
        n = 1 if single else len(tasks)
        if len(result) != n:
            pytest.fail(f"{self.name} returned {len(result)} task results for {n} tasks")
        return result

    def check(self, tasks: Sequence[Task], labels: Sequence[str]) -> None:
        """Compare ``tasks`` with the reference: exactly when the target can, else by sampling."""
        if self.target.supports_exact:
            self.check_exact(tasks, labels)
        else:
            self.check_sampled(tasks, labels)

    def check_exact(self, tasks: Sequence[Task], labels: Sequence[str], *, statevector: bool | None = None) -> None:
        """One exact run of all ``tasks``; probabilities (and state vectors) of every row checked."""
        if statevector is None:
            statevector = self.target.supports_statevector
        if statevector:
            tasks = [replace(t, statevector=True) for t in tasks]
        result = self.run(list(tasks))
        for task, res, label in zip(tasks, result, labels):
            what = f"{self.name}, {label}"
            B, readout = task.batch_size, readout_qubits(task.circuit)
            if res.batch_size != B:
                pytest.fail(f"{what}: batch size {res.batch_size}, expected {B}")
            if res.num_qubits != len(readout):
                pytest.fail(f"{what}: result reports {res.num_qubits} qubits, expected {len(readout)}")
            if res.probabilities is None:
                pytest.fail(f"{what}: an exact run returned no probabilities")
            assert_close(res.probabilities, reference_probabilities(task), self.atol, f"{what}: probabilities")
            if statevector:
                if res.statevector is None:
                    pytest.fail(f"{what}: statevector=True but the result has no state vector")
                assert_states_close(res.statevector, reference_states(task), self.atol, f"{what}: state vector")

    def check_sampled(
        self, tasks: Sequence[Task], labels: Sequence[str], *, shots: int | None = None, seed: int | None = 1234
    ) -> Result:
        """One sampled run of all ``tasks``; the counts of every row checked against the reference."""
        shots = self.shots() if shots is None else shots
        result = self.run(list(tasks), shots=shots, seed=seed)
        for task, res, label in zip(tasks, result, labels):
            what = f"{self.name}, {label} ({shots} shots, seed {seed})"
            probs = reference_probabilities(task)
            if res.counts is None:
                pytest.fail(f"{what}: a run with shots returned no counts")
            if len(res.counts) != task.batch_size:
                pytest.fail(f"{what}: {len(res.counts)} count dicts for a batch of {task.batch_size}")
            if res.shots != shots:
                pytest.fail(f"{what}: result says shots={res.shots}, expected {shots}")
            for b, counts in enumerate(res.counts):
                assert_counts_consistent(counts, probs[b], shots, f"{what}, row {b}")
        return result

    @contextlib.contextmanager
    def no_execution(self) -> Iterator[None]:
        """Fail the test if the backend starts executing inside the block (errors must come first).

        Replaces this backend object's ``_execute`` (the one place a backend spends compute) by a
        tripwire for the duration of the block; the real method is never reached, so a backend
        that forgot to validate does not get to simulate 31 qubits.
        """
        shadowed = vars(self.backend).get("_execute")

        def tripwire(*args: Any, **kwargs: Any) -> Any:
            pytest.fail(f"{self.name} started executing before raising; validate in compile()", pytrace=False)

        self.backend._execute = tripwire  # type: ignore[method-assign]
        try:
            yield
        finally:
            if shadowed is not None:
                self.backend._execute = shadowed  # type: ignore[method-assign]
            else:
                del self.backend._execute  # the class's method shows through again

    def expect_error(self, error: type[BaseException], tasks: Any, **settings: Any) -> BaseException:
        """``run`` raises ``error`` before anything executes (at submission, not at ``result``).

        Unless ``shots`` is given, a backend that cannot run exactly is asked for shots, so the
        error comes from what the test is about and not from the missing exact mode.
        """
        settings.setdefault("precision", self.precision)
        if "shots" not in settings and not self.target.supports_exact:
            settings["shots"] = self.shots()
        with self.no_execution():
            with pytest.raises(error) as info:
                self.backend.run(tasks, **settings)
        exc = info.value
        if isinstance(exc, ValidationError) and not exc.context.get("backend"):
            pytest.fail(f"{self.name} raised ValidationError without backend= context: {exc}")
        return exc


def observables_of(words: Sequence[str], num_qubits: int) -> tuple[PauliSum, ...]:
    return tuple(PauliSum.parse(w, num_qubits) for w in words)
