"""The conformance suite against the embedded ``torch`` backend, and tests of the suite itself.

``TestTorchConformance`` is the suite, collected in this process like any test class (one line per
test in CI output, no second interpreter). The other tests check the suite's plumbing (pytest
plugin, ``--pyargs`` route, command) and that it fails where it must: deliberately broken
backends -- reversed bit order, a sign error in one rotation, biased sampling, batches that repeat
row 0, a Target that lies, validation after execution started -- each fail the family meant to
catch them, while the tests unrelated to their bug still pass.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from importlib.metadata import entry_points

import numpy as np
import pytest
import torch

from qbridge import Circuit, Parameter, Task
from qbridge.backends.base import Backend
from qbridge.exceptions import ValidationError
from qbridge.noise import AmplitudeDamping, Depolarizing, NoiseModel, ReadoutError
from qbridge.backends.torch import TorchBackend
from qbridge.testing import conformance_tests
from qbridge.testing.checks import count_zscores, marginalise, reference_probabilities
from qbridge.testing.conformance import parse_option
from qbridge.testing.plugin import SUITE_DIR

pytest_plugins = ["pytester"]

TestTorchConformance = conformance_tests("torch")
# under a noise model (density matrices): the families that compare with the ideal reference skip
# themselves on Target.noisy; capabilities, validation, bad input and result format still run
_NOISE = (NoiseModel().with_gate_error("cx", Depolarizing(0.02, 2)).with_gate_error("h", AmplitudeDamping(0.01))
          .with_readout_error(ReadoutError(0.01, 0.02)))
TestTorchNoisyConformance = conformance_tests("torch", noise=_NOISE)

# inner pytest runs: no cache files, and no pytest-benchmark warning about xdist when the outer
# run is distributed (blocking a plugin that is not installed is harmless)
INNER = ("-p", "no:cacheprovider", "-p", "no:benchmark")


# -- capability-constrained variants: the suite must skip or adapt, never fail, where a backend
# -- declares less (sampling only, exact only, few qubits, capped batches, a shot range, single
# -- precision, few native gates). These are the torch backend with a narrower Target.

class _SamplingOnly(TorchBackend):
    @property
    def target(self):
        return replace(super().target, num_qubits=5, supports_exact=False, supports_statevector=False,
                       min_shots=10, max_shots=20_000, max_batch=2, precisions=("single",))


class _ExactOnly(TorchBackend):
    native_circuit = Backend.native_circuit  # decompose into the few native gates below

    @property
    def target(self):
        return replace(super().target, num_qubits=4, supports_shots=False, max_batch=1, gradient_methods=(),
                       native_gates=frozenset({"rz", "ry", "cz"}))


class _Unseedable(TorchBackend):
    """A sampler that cannot be seeded, declared and refused as the contract asks: the suite's
    other shot runs go without a seed, and TestSeeds checks the refusal."""

    @property
    def target(self):
        return replace(super().target, seeded=False, supports_exact=False, supports_statevector=False)

    def validate(self, task, config):
        super().validate(task, config)
        if config.seed is not None and config.shots is not None:
            raise ValidationError(f"{self.backend_name} cannot be seeded; drop seed", backend=self.backend_name)


TestSamplingOnlyVariant = conformance_tests(lambda: _SamplingOnly(name="torch.sampling-only"))
TestUnseedableVariant = conformance_tests(lambda: _Unseedable(name="torch.unseedable"))
TestExactOnlyVariant = conformance_tests(lambda: _ExactOnly(name="torch.exact-only"))


# -- the pytest plugin and the command ----------------------------------------------------------

def test_plugin_registers_options_and_stays_inert(pytester):
    help_text = pytester.runpytest("--help", *INNER).stdout.str()
    for option in ("--qbridge-backend", "--qbridge-option", "--qbridge-require-available"):
        assert option in help_text
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = pytester.runpytest("-q", *INNER)
    result.assert_outcomes(passed=1)
    assert "qbridge conformance" not in result.stdout.str()


def test_walking_over_the_package_does_not_collect_the_suite(pytester):
    # qbridge/testing holds nothing but the suite: a directory walk must find no tests in it
    result = pytester.runpytest(str(SUITE_DIR.parent), "--collect-only", "-q", *INNER)
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    # asking for a backend opts in
    result = pytester.runpytest(str(SUITE_DIR.parent), "--collect-only", "-q", "--qbridge-backend", "torch", *INNER)
    assert result.ret == pytest.ExitCode.OK
    assert "TestGates::test_gate_matches_reference[cx]" in result.stdout.str()


def test_suite_by_pyargs(pytester):
    result = pytester.runpytest("--pyargs", "qbridge.testing.suite", "--qbridge-backend", "torch",
                                "-k", "cx or Capabilities", *INNER)
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 10 and "failed" not in outcomes and "error" not in outcomes, result.stdout.str()
    assert "qbridge conformance suite: backend 'torch'" in result.stdout.str()


def test_unavailable_backend_skips_with_its_reason(pytester):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU, so torch on cuda is available")
    args = ["--pyargs", "qbridge.testing.suite", "--qbridge-backend", "torch", "--qbridge-option", "device=cuda",
            "-k", "Capabilities", "-rs", *INNER]
    result = pytester.runpytest(*args)
    outcomes = result.parseoutcomes()
    assert outcomes.get("skipped", 0) >= 5 and "passed" not in outcomes and "failed" not in outcomes
    result.stdout.fnmatch_lines(["*[[]torch(device='cuda')[]]*CUDA*"])
    strict = pytester.runpytest(*args, "--qbridge-require-available")
    assert strict.parseoutcomes().get("errors", 0) >= 5  # the fixture fails: each test errors


def test_unknown_backend_and_bad_option(pytester):
    result = pytester.runpytest("--pyargs", "qbridge.testing.suite", "--qbridge-backend", "no.such.backend",
                                "-k", "well_formed", *INNER)
    result.stdout.fnmatch_lines(["*no backend named 'no.such.backend'*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    bad = pytester.runpytest("--qbridge-option", "no-equals-sign", *INNER)
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    assert "KEY=VALUE" in bad.stderr.str()


def test_command(pytester):
    (script,) = entry_points(group="console_scripts", name="qbridge-backend-test")
    assert script.value == "qbridge.testing.cli:main"
    result = pytester.run(sys.executable, "-m", "qbridge.testing.cli", "--backend", "torch",
                          "-k", "precision_matches", "-q", *INNER)
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    assert result.parseoutcomes().get("passed", 0) == 2


def test_parse_option():
    assert parse_option("shots=100") == ("shots", 100)
    assert parse_option("device=cuda") == ("device", "cuda")
    assert parse_option("arn=arn:aws:braket:::device/x") == ("arn", "arn:aws:braket:::device/x")
    assert parse_option("flag=True") == ("flag", True)
    for bad in ("novalue", "=3", "two words=1"):
        with pytest.raises(ValueError, match="KEY=VALUE"):
            parse_option(bad)


# -- the tolerance rules ---------------------------------------------------------------------------

def test_count_zscores_are_standard_normal_for_rare_and_common_outcomes():
    """The 5-sigma rule holds its false-alarm rate where the plain normal approximation fails."""
    rng = np.random.default_rng(0)
    shots = 4000
    for p in (0.0, 2.5e-4, 0.01, 0.3, 0.999):
        counts = rng.binomial(shots, p, size=20_000)
        z = count_zscores(counts.astype(float), np.full(counts.shape, p), shots)
        assert np.abs(z).max() < 5, p
        if p >= 0.01:  # the transform is calibrated: unit spread where counts are not tiny
            assert 0.95 < z.std() < 1.05, (p, z.std())
    # and it is sharp: 5% of the shots moved off a 0.5 outcome (6.3 sigma) is outside the limit
    assert abs(count_zscores(np.array([0.45 * shots]), np.array([0.5]), shots)[0]) > 5


def test_marginalise_orders_bits_as_measured():
    probs = np.zeros((1, 16))
    probs[0, int("1001", 2)] = 1.0  # qubits 0 and 3 set
    assert marginalise(probs, 4, (3, 1))[0].tolist() == [0, 0, 1, 0]  # '10'
    assert marginalise(probs, 4, (1, 3))[0].tolist() == [0, 1, 0, 0]  # '01'


# -- the suite fails broken backends ---------------------------------------------------------------

BROKEN = '''
from dataclasses import replace
import numpy as np
from qbridge.backends.base import CompiledTask
from qbridge.backends.torch import TorchBackend
from qbridge.ir.circuit import Circuit, Instruction
from qbridge.backends.torch import TorchBackend
from qbridge.testing import conformance_tests


class Reversed(TorchBackend):
    """Qiskit's little-endian order leaking through: qubit n-1 reported as the leftmost bit."""
    def native_circuit(self, circuit):
        native = super().native_circuit(circuit)
        return native.remap(native.num_qubits, list(reversed(range(native.num_qubits))))


class NegatedRz(TorchBackend):
    """A sign error in one native rotation."""
    def native_circuit(self, circuit):
        native = super().native_circuit(circuit)
        ops = [Instruction(op.name, op.qubits, tuple(-p for p in op.params)) if op.name == "rz" else op
               for op in native]
        return Circuit(native.num_qubits, ops, global_phase=native.global_phase)


class Biased(TorchBackend):
    """Moves 3% of the shots from the most frequent outcome to random ones."""
    def _execute(self, tasks, config):
        out = super()._execute(tasks, config)
        if config.shots is None:
            return out
        rng = np.random.default_rng(config.seed)
        fixed = []
        for r in out:
            rows = []
            for c in r.counts:
                c = dict(c)
                top = max(c, key=c.get)
                moved = min(c[top], int(0.03 * config.shots))
                c[top] -= moved
                for k in rng.integers(2 ** r.num_qubits, size=moved):
                    key = format(int(k), "0%db" % r.num_qubits)
                    c[key] = c.get(key, 0) + 1
                rows.append({k: v for k, v in c.items() if v})
            fixed.append(replace(r, counts=tuple(rows)))
        return fixed


class FirstRow(TorchBackend):
    """Computes row 0 of a batch and repeats it."""
    def _execute(self, tasks, config):
        return [replace(r, probabilities=np.broadcast_to(r.probabilities[:1], (r.batch_size, r.probabilities.shape[1])))
                if r.probabilities is not None else r for r in super()._execute(tasks, config)]


class Lying(TorchBackend):
    """Declares sampling only but runs exactly anyway."""
    @property
    def target(self):
        return replace(super().target, supports_exact=False, supports_statevector=False)
    def validate(self, task, config):
        pass


class Late(TorchBackend):
    """Validates inside _execute, after the submission went out."""
    def compile(self, task, config):
        return CompiledTask(task, task.circuit, None, ())
    def _execute(self, tasks, config):
        return super()._execute([TorchBackend.compile(self, c.task, config) for c in tasks], config)


class Undeclared(TorchBackend):
    """Honours seeds but declares seeded=False, without refusing them."""
    @property
    def target(self):
        return replace(super().target, seeded=False)


TestReversed = conformance_tests(lambda: Reversed(name="reversed"))
TestUndeclared = conformance_tests(lambda: Undeclared(name="undeclared"))
TestNegatedRz = conformance_tests(lambda: NegatedRz(name="negated"))
TestBiased = conformance_tests(lambda: Biased(name="biased"))
TestFirstRow = conformance_tests(lambda: FirstRow(name="firstrow"))
TestLying = conformance_tests(lambda: Lying(name="lying"))
TestLate = conformance_tests(lambda: Late(name="late"))
'''

# (class, family, test) -> expected outcome; each broken backend has a test that must fail and a
# neighbouring one that must pass, so a failure is the bug being caught, not the backend breaking
EXPECTED = {
    ("TestReversed", "TestGates", "test_gate_matches_reference[cx]"): "failed",
    ("TestReversed", "TestGates", "test_gate_matches_reference[h]"): "failed",
    ("TestReversed", "TestShots", "test_counts_match_probabilities"): "failed",
    ("TestReversed", "TestSeeds", "test_seed_is_honoured_or_refused"): "passed",  # no reference involved
    ("TestNegatedRz", "TestGates", "test_gate_matches_reference[rz]"): "failed",
    ("TestNegatedRz", "TestGates", "test_gate_matches_reference[rx]"): "passed",
    ("TestBiased", "TestShots", "test_counts_match_probabilities"): "failed",
    ("TestBiased", "TestShots", "test_basis_state_is_deterministic"): "failed",
    ("TestBiased", "TestGates", "test_gate_matches_reference[cx]"): "passed",  # exact mode is fine
    ("TestFirstRow", "TestBatching", "test_batch_equals_single_runs"): "failed",
    ("TestFirstRow", "TestGates", "test_gate_matches_reference[h]"): "passed",  # no batch
    ("TestLying", "TestCapabilities", "test_exact_mode_matches_declaration"): "failed",
    ("TestLying", "TestCapabilities", "test_statevector_matches_declaration"): "failed",
    ("TestLying", "TestCapabilities", "test_target_is_well_formed"): "passed",
    ("TestLate", "TestBadInput", "test_too_many_qubits"): "failed",
    ("TestLate", "TestBadInput", "test_statevector_with_shots"): "failed",
    ("TestLate", "TestBadInput", "test_unbound_parameter"): "passed",  # raised by Task, before compile
    ("TestUndeclared", "TestSeeds", "test_seed_declaration_is_kept"): "failed",  # seeded=False must refuse
    ("TestUndeclared", "TestSeeds", "test_seed_is_honoured_or_refused"): "passed",  # the seed is honoured
}


def test_suite_fails_broken_backends(pytester):
    pytester.makepyfile(test_broken=BROKEN)
    nodeids = ["test_broken.py::" + "::".join(key) for key in EXPECTED]
    reprec = pytester.inline_run(*nodeids, *INNER)
    seen = {}
    for report in reprec.getreports("pytest_runtest_logreport"):
        if report.when == "call" or report.outcome != "passed":
            seen[tuple(report.nodeid.split("::")[1:4])] = report.outcome
    wrong = {key: (want, seen.get(key)) for key, want in EXPECTED.items() if seen.get(key) != want}
    assert not wrong, f"(expected, got) per test: {wrong}"


def test_torch_subclass_with_fewer_native_gates_binds_by_name():
    class Narrow(TorchBackend):
        native_circuit = Backend.native_circuit  # decompose, as every other backend does

        @property
        def target(self):
            return replace(super().target, native_gates=frozenset({"rz", "ry", "cz"}))

    circuit = Circuit(1).u(0, Parameter("a"), Parameter("b"), Parameter("c"))
    values = np.array([[0.3, -1.2, 2.0]])
    got = Narrow(name="narrow").run((circuit, values), precision="double").result()[0].probabilities
    want = reference_probabilities(Task(circuit, values))
    np.testing.assert_allclose(got, want, atol=1e-9)
