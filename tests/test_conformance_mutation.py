"""The suite's new checks and its mutation run: helpers against independent references, the
example plugin's mutant catalogue, and the suite catching each mutant with two test functions.

The full mutation run (every kind, about 70 s on 2 cores) is marked ``slow`` and excluded from
the default run (pyproject ``addopts``); run it with ``pytest -m slow tests/test_conformance_mutation.py``
or ``python -m qbridge.testing.mutation``. The fast test runs the issue's four missed classes
through the families that concern them.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from qbridge.testing.checks import assert_not_identical, assert_states_close, homogeneity
from qbridge.testing.mutation import EXAMPLE_MUTANTS, Mutant, run_mutants

EXAMPLE_PACKAGE = Path(__file__).resolve().parents[1] / "plugins" / "qbridge-example" / "qbridge_example"


# -- helpers of the suite -----------------------------------------------------------------------

@pytest.mark.parametrize("df", [7, 21, 49, 100])
def test_homogeneity_lower_limit_against_scipy(df):
    """Wilson-Hilferty's quantile is never above the exact 1e-6 quantile (no extra false alarms)
    and within 10% of it where the suite's tables are (df >= 21)."""
    from scipy.stats import chi2

    rows, cols = 2, df + 1  # a 2 x (df + 1) table has df degrees of freedom
    table = np.full((rows, cols), 100.0)
    _, lower, got_df = homogeneity(table)
    exact = chi2.ppf(1e-6, df)
    assert got_df == df and lower <= exact
    if df >= 21:
        assert lower >= 0.9 * exact


def test_homogeneity_separates_independent_rows_from_shared_draws():
    rng = np.random.default_rng(3)
    p = np.full(8, 1 / 8)
    for _ in range(500):  # independent rows never fall below the limit (false-alarm rate 1e-6)
        stat, lower, df = homogeneity(rng.multinomial(2000, p, size=8))
        assert df == 49 and stat >= lower
    shared = np.repeat(rng.multinomial(2000, p, size=1), 8, axis=0)
    stat, lower, _ = homogeneity(shared)
    assert stat == 0 < lower
    # half the rows copies of the other half: a restarted stream per task
    half = rng.multinomial(2000, p, size=4)
    stat, lower, _ = homogeneity(np.concatenate([half, half]))
    assert stat < 49  # about half the expected df: weaker, which is why the exact-copy test exists too


def test_assert_not_identical():
    assert_not_identical([{"0": 3, "1": 2}, {"0": 2, "1": 3}], ["a", "b"], "two rows")
    with pytest.raises(pytest.fail.Exception, match="a and c have identical counts"):
        assert_not_identical([{"0": 3}, {"1": 3}, {"0": 3}], ["a", "b", "c"], "rows")


def test_states_compared_with_their_global_phase():
    rng = np.random.default_rng(4)
    v = rng.normal(size=(2, 4)) + 1j * rng.normal(size=(2, 4))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    assert_states_close(v + 1e-12, v, 1e-10, "same")
    rotated = v * np.exp(1j * np.array([[0.0], [0.5]]))
    with pytest.raises(pytest.fail.Exception, match=r"row 1 equals the reference only up to a global phase of \+0\.5 rad"):
        assert_states_close(rotated, v, 1e-10, "phase")
    wrong = v.copy()
    wrong[0, [0, 1]] = wrong[0, [1, 0]]
    with pytest.raises(pytest.fail.Exception, match="row 0 differs from the reference state"):
        assert_states_close(wrong, v, 1e-10, "swapped")


# -- the catalogue -----------------------------------------------------------------------------------

def test_catalogue_applies_to_the_example(tmp_path):
    """At least 20 kinds, each edit found exactly once in today's example and still valid Python."""
    kinds = [m.kind for m in EXAMPLE_MUTANTS]
    assert len(kinds) >= 20 and len(set(kinds)) == len(kinds)
    for mutant in EXAMPLE_MUTANTS:
        copy = tmp_path / mutant.kind
        shutil.copytree(EXAMPLE_PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
        mutant.apply(copy)
        changed = [f for f in ("backend.py", "simulator.py") if (copy / f).read_text() != (EXAMPLE_PACKAGE / f).read_text()]
        assert changed, mutant.kind
        for f in changed:
            compile((copy / f).read_text(), f"{mutant.kind}/{f}", "exec")


def test_an_edit_that_no_longer_matches_is_an_error(tmp_path):
    shutil.copytree(EXAMPLE_PACKAGE, tmp_path / "pkg", ignore=shutil.ignore_patterns("__pycache__"))
    stale = Mutant("stale", "text the plugin no longer has", (("backend.py", "no such line", "x"),))
    with pytest.raises(ValueError, match="occurs 0 times in backend.py"):
        stale.apply(tmp_path / "pkg")
    twice = Mutant("twice", "text found more than once", (("simulator.py", "import", "x"),))
    with pytest.raises(ValueError, match="must be once"):
        twice.apply(tmp_path / "pkg")


# -- the suite catches the mutants -----------------------------------------------------------------

ISSUE_CLASSES = ("precision_complex64", "stream_per_row", "stream_per_task", "seed_ignored_undeclared",
                 "seed_ignored", "global_phase_dropped", "global_phase_const_only", "pauli_reversed")


def test_the_issue_classes_are_each_caught_by_two_tests():
    """The bugs the suite used to miss (or caught once) fail two test functions each; the
    unedited example passes the same tests."""
    mutants = [m for m in EXAMPLE_MUTANTS if m.kind in ISSUE_CLASSES]
    families = "Precision or Seeds or RandomStreams or GlobalPhase or RandomCircuits or Shots or ExpectationValues"
    report = run_mutants(EXAMPLE_PACKAGE, mutants, workers=1, pytest_args=["-k", families])
    assert report.control.passed >= 30 and not report.control.failed, report.control.failed
    weak = {o.mutant.kind: o.functions for o in report.outcomes if not o.caught_twice}
    assert not weak, f"caught by fewer than two test functions: {weak}"


@pytest.mark.slow
def test_mutation_run_of_the_example_catches_every_kind_twice():
    report = run_mutants(EXAMPLE_PACKAGE, EXAMPLE_MUTANTS, workers=2)
    print(report.markdown())
    assert len(report.outcomes) >= 20
    assert report.control.passed >= 90 and not report.control.failed, report.control.failed
    assert not report.missed, [o.mutant.kind for o in report.missed]
    assert not report.single, {o.mutant.kind: o.functions for o in report.single}
    assert math.isclose(100 * (len(report.outcomes) - len(report.missed)) / len(report.outcomes), 100.0)
