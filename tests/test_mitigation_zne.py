"""Zero-noise extrapolation, pure parts: folding keeps the unitary and scales the gate count as
stated (symbolic parameters, state preparation, measurements, barriers); extrapolation is exact
on its own model and its standard error matches a Monte Carlo spread."""

from __future__ import annotations

import numpy as np
import pytest

from qbridge import Circuit, Parameter
from qbridge.exceptions import CircuitError
from qbridge.mitigation.zne import extrapolate, extrapolation_weights, fold, fold_gates, fold_global


def _circuit():
    th = Parameter("th")
    return Circuit(3, global_phase=0.2).h(0).cx(0, 1).ry(2, th).rzz(1, 2, 0.5 * th + 0.1).t(0).cz(0, 2)


def gates(c):
    return sum(1 for op in c if op.name not in ("barrier", "measure"))


@pytest.mark.parametrize("method", ["global", "gates", "random"])
@pytest.mark.parametrize("scale", [1, 1.5, 2, 3, 3.4, 5, 7])
def test_folding_keeps_the_unitary_and_reports_the_scale_it_reached(method, scale):
    c = _circuit()
    folded, actual = fold(c, scale, method, seed=4)
    d = gates(c)
    assert actual == pytest.approx(gates(folded) / d)
    assert abs(actual - scale) <= 1.0 / d + 1e-12  # within half a fold of a gate pair: 2 / (2 d)
    if float(scale).is_integer() and scale % 2 == 1:
        assert actual == scale
    assert folded.parameter_names == c.parameter_names  # symbolic parameters survive, in order
    for th in (0.3, -1.7):
        assert np.allclose(folded.bind({"th": th}).to_matrix(), c.bind({"th": th}).to_matrix(), atol=1e-10)


def test_global_folding_is_g_then_gdag_g_separated_by_barriers():
    c = Circuit(2).h(0).cx(0, 1)
    folded, s = fold_global(c, 3)
    assert s == 3.0
    names = [op.name for op in folded]
    assert names == ["h", "cx", "barrier", "cx", "h", "barrier", "h", "cx"]
    plain, _ = fold_global(c, 3, barriers=False)
    assert "barrier" not in [op.name for op in plain]
    # a fractional remainder folds the last gates: G L^dag L
    f2, s2 = fold_global(Circuit(2).h(0).x(1).cx(0, 1).s(1), 1.5)
    assert s2 == 1.5
    assert [op.name for op in f2 if op.name != "barrier"] == ["h", "x", "cx", "s", "sdg", "s"]


def test_gate_folding_folds_every_gate_and_random_picks_are_seeded():
    c = Circuit(2).h(0).cx(0, 1).s(1)
    folded, s = fold_gates(c, 3)
    assert [op.name for op in folded if op.name != "barrier"] == ["h", "h", "h", "cx", "cx", "cx", "s", "sdg", "s"]
    a, _ = fold_gates(_circuit(), 2.2, method="random", seed=7)
    b, _ = fold_gates(_circuit(), 2.2, method="random", seed=7)
    assert a == b


def test_state_preparation_stays_in_front_and_measurements_at_the_end():
    c = Circuit(3).amplitude_encode("x", [0, 1]).h(2).cx(1, 2).measure([0, 2])
    folded, s = fold(c, 3)
    ops = [op.name for op in folded]
    assert ops[0] == "amplitude_encode" and ops.count("amplitude_encode") == 1 and ops[-1] == "measure"
    assert s == 3.0 and folded.measured_qubits == (0, 2)
    bad = Circuit(3).h(2).amplitude_encode("x", [0, 1])
    with pytest.raises(CircuitError, match="encode first"):
        fold(bad, 3)


def test_folding_refuses_bad_scales_and_methods():
    with pytest.raises(ValueError, match=">= 1"):
        fold(_circuit(), 0.5)
    with pytest.raises(ValueError, match="unknown folding"):
        fold(_circuit(), 3, "sideways")
    assert fold(Circuit(2).measure_all(), 5) == (Circuit(2).measure_all(), 1.0)  # nothing to fold


def test_linear_extrapolations_are_exact_on_their_model():
    x = np.array([1.0, 2.0, 3.0, 5.0])
    quad = lambda s: 0.8 - 0.3 * s + 0.02 * s**2  # noqa: E731
    assert extrapolate(x[:3], quad(x[:3]), method="richardson").value == pytest.approx(0.8, abs=1e-12)
    assert extrapolate(x, quad(x), method="polynomial", order=2).value == pytest.approx(0.8, abs=1e-12)
    assert extrapolate(x, 0.9 - 0.1 * x, method="linear").value == pytest.approx(0.9, abs=1e-12)
    for method, order in (("richardson", None), ("linear", None), ("polynomial", 2)):
        w = extrapolation_weights(x, method, order)
        assert w.sum() == pytest.approx(1.0)  # a constant extrapolates to itself
    # Richardson weights for (1, 3, 5), derived by hand from Lagrange polynomials at 0
    assert np.allclose(extrapolation_weights([1, 3, 5]), [15 / 8, -10 / 8, 3 / 8])


def test_exponential_extrapolation_recovers_an_exponential_decay():
    x = np.array([1.0, 3.0, 5.0])
    y = 0.1 + 0.85 * np.exp(-0.2 * x)
    ext = extrapolate(x, y, method="exponential", asymptote=0.1)
    assert ext.value == pytest.approx(0.95, abs=1e-6)
    # Jacobian by finite differences: a small change of one point moves the value accordingly
    for k in range(3):
        y2 = y.copy()
        y2[k] += 1e-4
        moved = extrapolate(x, y2, method="exponential", asymptote=0.1).value - ext.value
        assert moved == pytest.approx(1e-4 * ext.jacobian[k], abs=1e-2 * 1e-4 * np.abs(ext.jacobian).max())


@pytest.mark.parametrize("method,order", [("richardson", None), ("linear", None), ("polynomial", 2), ("exponential", None)])
def test_propagated_stderr_matches_the_monte_carlo_spread(method, order):
    rng = np.random.default_rng(5)
    x = np.array([1.0, 2.0, 3.0, 4.0])
    true = 0.9 * np.exp(-0.15 * x)
    s = np.array([0.004, 0.005, 0.006, 0.007])
    reps = 400 if method == "exponential" else 2000
    vals = [extrapolate(x, true + rng.normal(0, s), s, method, order=order).value for _ in range(reps)]
    reported = extrapolate(x, true, s, method, order=order).stderr
    assert np.std(vals, ddof=1) == pytest.approx(reported, rel=0.12)


def test_extrapolation_input_errors():
    with pytest.raises(ValueError, match="distinct"):
        extrapolate([1, 1, 3], [1, 2, 3])
    with pytest.raises(ValueError, match="one value per scale"):
        extrapolate([1, 3], [1, 2, 3])
    with pytest.raises(ValueError, match="at least 3"):
        extrapolate([1, 3], [1, 2], method="polynomial", order=2)
    with pytest.raises(ValueError, match="unknown extrapolation"):
        extrapolate([1, 3], [1, 2], method="cubic-spline")
