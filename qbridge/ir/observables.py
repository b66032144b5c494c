"""Observables: Pauli sums, and the probability and state-vector readouts.

Owns: :class:`PauliSum` (real coefficients times Pauli strings; parsing ``"0.5*ZZ - 1.2*XI"``),
its dense matrix for references, and qubit-wise commuting groups for shot-based estimation.
A Pauli string is written q0 q1 ... q(n-1), left to right: the leftmost letter acts on qubit 0,
the most significant bit (the bit order of docs/architecture.md). Sparse terms (``"Z0 Z2"``, ``"X1*Y3"``) also parse
when the qubit count is known.
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass
from functools import reduce
from typing import Iterable, Sequence, Union

import numpy as np

from ..exceptions import ObservableError

__all__ = ["PauliTerm", "PauliSum", "Probabilities", "StateVector", "as_pauli_sum"]

_PAULI = {
    "I": np.eye(2, dtype=complex),
    "X": np.array([[0, 1], [1, 0]], dtype=complex),
    "Y": np.array([[0, -1j], [1j, 0]], dtype=complex),
    "Z": np.array([[1, 0], [0, -1]], dtype=complex),
}

_NUMBER = r"(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)"
_TERM = re.compile(
    rf"^\s*(?:(?P<coef>{_NUMBER})\s*\*?\s*)?(?P<word>[IXYZ]+|(?:[IXYZ]\d+(?:\s*\*?\s*[IXYZ]\d+)*))?\s*$"
)


@dataclass(frozen=True)
class PauliTerm:
    coeff: float
    paulis: str  # one of I, X, Y, Z per qubit

    @property
    def num_qubits(self) -> int:
        return len(self.paulis)

    @property
    def support(self) -> tuple[int, ...]:
        return tuple(i for i, p in enumerate(self.paulis) if p != "I")

    def to_matrix(self) -> np.ndarray:
        return self.coeff * reduce(np.kron, (_PAULI[p] for p in self.paulis))


class PauliSum:
    """A Hermitian observable sum_k c_k P_k with real c_k."""

    __slots__ = ("_terms", "_n")

    def __init__(self, terms: Iterable[PauliTerm | tuple[float, str]], num_qubits: int | None = None) -> None:
        merged: dict[str, float] = {}
        if num_qubits is not None and (
            isinstance(num_qubits, bool) or not isinstance(num_qubits, numbers.Integral) or num_qubits < 1
        ):
            raise ObservableError(f"num_qubits must be a positive integer, got {num_qubits!r}")
        n = None if num_qubits is None else int(num_qubits)
        for t in terms:
            coeff, word = (t.coeff, t.paulis) if isinstance(t, PauliTerm) else (t[0], t[1])
            if isinstance(coeff, complex):
                if abs(coeff.imag) > 1e-12:
                    raise ObservableError(
                        f"coefficient {coeff} of {word} is not real: a Pauli-sum observable must be Hermitian"
                    )
                coeff = coeff.real
            if isinstance(coeff, bool) or not isinstance(coeff, numbers.Real) or not math.isfinite(coeff):
                raise ObservableError(f"coefficient of {word} must be a finite real number, got {coeff!r}")
            word = word.upper()
            if not word or set(word) - set("IXYZ"):
                raise ObservableError(f"invalid Pauli string {word!r}: use the letters I, X, Y, Z")
            if n is None:
                n = len(word)
            if len(word) != n:
                raise ObservableError(
                    f"Pauli string {word!r} has {len(word)} letters; the observable acts on {n} qubits"
                )
            merged[word] = merged.get(word, 0.0) + float(coeff)
        if n is None:
            raise ObservableError("an empty Pauli sum needs num_qubits")
        self._n = n
        self._terms = tuple(PauliTerm(c, w) for w, c in merged.items())

    @classmethod
    def parse(cls, text: str, num_qubits: int | None = None) -> "PauliSum":
        """Parse ``"0.5*ZZ - 1.2*XI"``, ``"Z0 Z1 + 0.3*X2"`` (sparse needs or infers num_qubits)."""
        if not isinstance(text, str):
            raise TypeError(f"an observable string is needed, got {type(text).__name__}")
        if not text.strip():
            raise ObservableError("empty observable; write something like '0.5*ZZ - 1.2*XI'")
        # split on +/- but not inside exponents ("1e-3"); sparse words ("Z0 Z1") stay whole
        chunks = re.split(r"(?<![eE*])\s*([+-])\s*", text.strip())
        sign = 1.0
        raw: list[tuple[float, str]] = []
        sparse: list[tuple[float, list[tuple[str, int]]]] = []
        dangling = False  # a sign still waiting for its term
        for chunk in chunks:
            if chunk in ("+", "-"):
                sign = sign * (-1.0 if chunk == "-" else 1.0)
                dangling = True
                continue
            if not chunk.strip():
                continue
            m = _TERM.match(chunk)
            if not m or (m.group("coef") is None and m.group("word") is None):
                raise ObservableError(
                    f"cannot parse term {chunk.strip()!r} in {text!r}; terms look like '0.5*ZZI' or '-1.2*X0 Z2'"
                )
            coef = sign * (float(m.group("coef")) if m.group("coef") else 1.0)
            word = m.group("word")
            if word is None:
                raise ObservableError(
                    f"term {chunk.strip()!r} has no Pauli string; write a constant as e.g. '{chunk.strip()}*II'"
                )
            if re.search(r"\d", word):
                sparse.append((coef, [(p, int(i)) for p, i in re.findall(r"([IXYZ])(\d+)", word)]))
            else:
                raw.append((coef, word))
            sign = 1.0
            dangling = False
        if dangling:
            # "0.5*ZZ -" is most likely a truncated expression: refuse rather than drop a term
            raise ObservableError(f"observable {text!r} ends with a sign that has no term after it")
        if sparse:
            top = max(i for _, ps in sparse for _, i in ps) + 1
            n = num_qubits if num_qubits is not None else (len(raw[0][1]) if raw else top)
            if top > n:
                raise ObservableError(f"observable {text!r} names qubit {top - 1} but acts on {n} qubits")
            for coef, ps in sparse:
                letters = ["I"] * n
                for p, i in ps:
                    if letters[i] != "I":
                        raise ObservableError(f"qubit {i} appears twice in a term of {text!r}")
                    letters[i] = p
                raw.append((coef, "".join(letters)))
        out = cls(raw, num_qubits)
        return out

    @property
    def num_qubits(self) -> int:
        return self._n

    @property
    def terms(self) -> tuple[PauliTerm, ...]:
        return self._terms

    @property
    def coefficients(self) -> np.ndarray:
        return np.array([t.coeff for t in self._terms])

    def __len__(self) -> int:
        return len(self._terms)

    def __iter__(self):
        return iter(self._terms)

    def to_matrix(self) -> np.ndarray:
        dim = 2**self._n
        out = np.zeros((dim, dim), dtype=complex)
        for t in self._terms:
            out += t.to_matrix()
        return out

    def __add__(self, other: "PauliSum") -> "PauliSum":
        if not isinstance(other, PauliSum):
            return NotImplemented
        if other.num_qubits != self._n:
            raise ObservableError(f"cannot add observables on {self._n} and {other.num_qubits} qubits")
        return PauliSum([*self._terms, *other._terms], self._n)

    def __mul__(self, k: float) -> "PauliSum":
        if isinstance(k, bool) or not isinstance(k, numbers.Real):
            return NotImplemented
        return PauliSum([(t.coeff * float(k), t.paulis) for t in self._terms], self._n)

    __rmul__ = __mul__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PauliSum):
            return NotImplemented
        return self._n == other._n and dict((t.paulis, t.coeff) for t in self._terms) == dict(
            (t.paulis, t.coeff) for t in other._terms
        )

    def __hash__(self) -> int:
        return hash((self._n, frozenset((t.paulis, t.coeff) for t in self._terms)))

    def __str__(self) -> str:
        if not self._terms:
            return "0*" + "I" * self._n
        parts = []
        for i, t in enumerate(self._terms):
            c = t.coeff
            if i == 0:
                parts.append(f"{c!r}*{t.paulis}")
            else:
                parts.append(f"{'-' if c < 0 else '+'} {abs(c)!r}*{t.paulis}")
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"PauliSum({str(self)!r})"

    def expand_to(self, num_qubits: int, qubits: Sequence[int] | None = None) -> "PauliSum":
        """The same observable on a larger register, its qubit i placed on ``qubits[i]``."""
        qubits = tuple(range(self._n)) if qubits is None else tuple(qubits)
        # one distinct target per qubit: a short map raised IndexError, a repeated one overwrote letters
        if (len(qubits) != self._n or len(set(qubits)) != len(qubits)
                or not all(isinstance(q, numbers.Integral) and 0 <= q < num_qubits for q in qubits)):
            raise ObservableError(
                f"expand_to: {qubits} must list {self._n} distinct qubits of 0..{num_qubits - 1}"
            )
        terms = []
        for t in self._terms:
            letters = ["I"] * num_qubits
            for i, p in enumerate(t.paulis):
                letters[qubits[i]] = p
            terms.append((t.coeff, "".join(letters)))
        return PauliSum(terms, num_qubits)


@dataclass(frozen=True)
class Probabilities:
    """Readout: the probability of every basis state of ``qubits`` (all by default)."""

    qubits: tuple[int, ...] | None = None


@dataclass(frozen=True)
class StateVector:
    """Readout: the full state vector (exact simulators only)."""


Observable = Union[PauliSum, str]


def as_pauli_sum(obs: Observable, num_qubits: int) -> PauliSum:
    """Coerce a string or PauliSum and check that it fits ``num_qubits``."""
    if isinstance(obs, str):
        obs = PauliSum.parse(obs, num_qubits)
    if not isinstance(obs, PauliSum):
        raise TypeError(f"an observable must be a PauliSum or a string, got {type(obs).__name__}")
    if obs.num_qubits != num_qubits:
        raise ObservableError(
            f"observable {obs} acts on {obs.num_qubits} qubits but the circuit has {num_qubits}; "
            "pad the Pauli strings with I",
        )
    return obs
