"""Pauli-sum observables: parsing, matrices (against Qiskit's SparsePauliOp), arithmetic, errors."""

from __future__ import annotations

import numpy as np
import pytest

from qbridge import PauliSum
from qbridge.exceptions import ObservableError
from qbridge.ir.observables import PauliTerm, as_pauli_sum


def _as_dict(obs: PauliSum) -> dict[str, float]:
    return {t.paulis: t.coeff for t in obs.terms}


@pytest.mark.parametrize(
    "text, num_qubits, expected",
    [
        ("0.5*ZZ - 1.2*XI", None, {"ZZ": 0.5, "XI": -1.2}),
        ("0.5*ZZ - 1.2*XI", 2, {"ZZ": 0.5, "XI": -1.2}),
        ("Z0 Z2", None, {"ZIZ": 1.0}),
        ("Z0 Z2", 4, {"ZIZI": 1.0}),
        ("1e-3*XX", None, {"XX": 1e-3}),
        ("1E-3*XX - 2e+2*YY + 3.5e1 * ZZ", None, {"XX": 1e-3, "YY": -200.0, "ZZ": 35.0}),
        ("-1e-3*Z0 + X1", 2, {"ZI": -1e-3, "IX": 1.0}),
        ("-ZZ", None, {"ZZ": -1.0}),
        ("+ ZZ", None, {"ZZ": 1.0}),
        ("- 0.5 * ZZ + XX", None, {"ZZ": -0.5, "XX": 1.0}),
        ("- -ZZ", None, {"ZZ": 1.0}),
        ("2.5 XY", None, {"XY": 2.5}),
        (".5*ZZ", None, {"ZZ": 0.5}),
        ("1.*ZZ", None, {"ZZ": 1.0}),
        ("ZZ + ZZ - 0.5*ZZ", None, {"ZZ": 1.5}),
        ("X1*Y3", None, {"IXIY": 1.0}),
        ("Z0Z1", 3, {"ZZI": 1.0}),
        ("0.5*Z0 - 1e-3*X1 Y2", 3, {"ZII": 0.5, "IXY": -1e-3}),
        ("3*II", None, {"II": 3.0}),
        ("Z0 Z1 - ZZ", None, {}),  # cancels exactly (merged terms keep a zero coefficient)
    ],
)
def test_parse(text, num_qubits, expected):
    obs = PauliSum.parse(text, num_qubits)
    got = {w: c for w, c in _as_dict(obs).items() if c != 0.0}
    assert got.keys() == expected.keys()
    for w, c in expected.items():
        assert got[w] == pytest.approx(c, rel=1e-15)
    if num_qubits is not None:
        assert obs.num_qubits == num_qubits


@pytest.mark.parametrize(
    "text",
    [
        "", "   ", "0.5*ZA", "zz", "ZZ XX", "0.5**ZZ", "*ZZ", "1..2*ZZ", "Q0", "X1 2", "0.5",
        "ZZ +", "ZZ-", "0.5*ZZ - 1.2*XI -",  # a dangling sign was silently dropped
        "Z0 Z0", "Z5", "Z-1",
    ],
)
def test_bad_strings_raise_observable_error(text):
    with pytest.raises(ObservableError):
        PauliSum.parse(text, 3 if text not in ("0.5*ZZ - 1.2*XI -",) else 2)


def test_parse_needs_a_string():
    with pytest.raises(TypeError):
        PauliSum.parse(3)


def test_wrong_qubit_count():
    with pytest.raises(ObservableError, match="3 qubits"):
        PauliSum.parse("ZZ", 3)
    with pytest.raises(ObservableError, match="names qubit 3"):
        PauliSum.parse("X1*Y3", 3)
    with pytest.raises(ObservableError, match="letters"):
        PauliSum([(1.0, "Z"), (1.0, "ZZ")])
    with pytest.raises(ObservableError, match="circuit has 2"):
        as_pauli_sum(PauliSum.parse("ZZZ"), 2)
    with pytest.raises(ObservableError):
        as_pauli_sum("ZZZ", 2)
    with pytest.raises(TypeError):
        as_pauli_sum(1.0, 2)
    with pytest.raises(ObservableError, match="cannot add"):
        PauliSum.parse("Z") + PauliSum.parse("ZZ")


@pytest.mark.parametrize(
    "terms",
    [[(1j, "Z")], [(float("nan"), "Z")], [(float("inf"), "Z")], [(True, "Z")], [("1", "Z")],
     [(1.0, "ZA")], [(1.0, "")], []],
)
def test_bad_terms_raise_observable_error(terms):
    with pytest.raises(ObservableError):
        PauliSum(terms)


def test_constructor_accepts_terms_real_complex_and_lowercase():
    obs = PauliSum([PauliTerm(0.5, "ZX"), (1 + 0j, "xx"), (np.float32(2.0), "ZX")])
    assert _as_dict(obs) == {"ZX": 2.5, "XX": 1.0}
    assert PauliSum([], 2).num_qubits == 2 and len(PauliSum([], 2)) == 0
    assert str(PauliSum([], 2)) == "0*II"


def test_matrix_matches_qiskit(rng, qiskit_ref, make_random_pauli_sum):
    for n in (1, 2, 3, 4):
        obs = make_random_pauli_sum(rng, n, 6)
        np.testing.assert_allclose(obs.to_matrix(), qiskit_ref.pauli_matrix(obs), atol=1e-12)
    # bit order by hand: the first letter acts on qubit 0, the most significant bit
    np.testing.assert_allclose(PauliSum.parse("ZI").to_matrix(), np.diag([1, 1, -1, -1]))
    np.testing.assert_allclose(PauliSum.parse("Z0", 2).to_matrix(), np.diag([1, 1, -1, -1]))


def test_arithmetic_equality_and_str_round_trip():
    a = PauliSum.parse("0.5*ZZ - 1.2*XI")
    b = PauliSum.parse("XI + YY")
    s = a + b
    assert _as_dict(s) == pytest.approx({"ZZ": 0.5, "XI": -0.2, "YY": 1.0})
    assert _as_dict(2 * a) == {"ZZ": 1.0, "XI": -2.4}
    assert _as_dict(a * 2) == _as_dict(2 * a)
    assert a == PauliSum.parse("-1.2*XI + 0.5*ZZ") and hash(a) == hash(PauliSum.parse("-1.2*XI + 0.5*ZZ"))
    assert a != b
    assert PauliSum.parse(str(a)) == a
    assert repr(a).startswith("PauliSum(")
    assert a.__mul__("x") is NotImplemented and a.__add__(1) is NotImplemented
    np.testing.assert_allclose(a.coefficients, [0.5, -1.2])
    assert [t.support for t in a] == [(0, 1), (0,)]


def test_expand_to():
    obs = PauliSum.parse("0.5*ZX - YI")
    big = obs.expand_to(4, [3, 1])
    assert _as_dict(big) == {"IXIZ": 0.5, "IIIY": -1.0}
    assert _as_dict(obs.expand_to(3)) == {"ZXI": 0.5, "YII": -1.0}
    for bad in ([0], [1, 1], [0, 4], [0.5, 1]):  # a short map raised IndexError, a repeated one overwrote
        with pytest.raises(ObservableError, match="distinct"):
            obs.expand_to(4, bad)


@pytest.mark.parametrize("n", [0, -1, 2.0, True])
def test_bad_num_qubits(n):
    with pytest.raises(ObservableError, match="positive integer"):
        PauliSum([], n)
