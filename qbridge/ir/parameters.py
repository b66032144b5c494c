"""Symbolic circuit parameters: :class:`Parameter` and linear :class:`ParameterExpression`.

An expression is ``const + sum_i coeff_i * p_i``: linear forms are what gate decompositions and
OpenQASM round trips need, and they keep the parameter-shift rule exact (each occurrence of a
parameter enters a rotation with a known coefficient). Products of parameters are refused.

Parameters are identified by name: two ``Parameter("theta")`` objects are the same parameter.
Values are bound at run time, a whole batch at once; :meth:`ParameterExpression.evaluate` works on
floats, NumPy arrays and torch tensors alike so that gradients flow through it.
"""

from __future__ import annotations

import math
import numbers
import re
from typing import Any, Mapping, Union

from ..exceptions import ParameterError

__all__ = ["Parameter", "ParameterExpression", "ParamValue", "as_param_value"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Names that would collide with OpenQASM 3 keywords or constants on export.
_RESERVED = frozenset(
    "pi π tau τ euler ℇ input output float int uint bit qubit angle bool complex const gate def "
    "measure reset barrier if else for while in return let include OPENQASM U gphase ctrl negctrl "
    "inv pow box delay duration stretch extern end break continue array creg qreg im true false "
    "sin cos tan exp ln sqrt arcsin arccos arctan mod popcount rotl rotr real imag sizeof".split()
)


def _check_number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ParameterError(f"{what} must be finite, got {value}")
    return value


class ParameterExpression:
    """A linear form ``const + sum(coeff * parameter)`` over named parameters."""

    __slots__ = ("_terms", "_const")

    def __init__(self, terms: Mapping[str, float] | None = None, const: float = 0.0) -> None:
        cleaned: dict[str, float] = {}
        for name, coeff in (terms or {}).items():
            coeff = _check_number(coeff, f"coefficient of {name!r}")
            if coeff != 0.0:
                cleaned[name] = coeff
        self._terms = tuple(cleaned.items())
        self._const = _check_number(const, "constant term")

    # -- inspection -------------------------------------------------------------------------
    @property
    def terms(self) -> tuple[tuple[str, float], ...]:
        """``(name, coefficient)`` pairs in order of first appearance."""
        return self._terms

    @property
    def const(self) -> float:
        return self._const

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self._terms)

    @property
    def parameters(self) -> tuple["Parameter", ...]:
        return tuple(Parameter(name) for name, _ in self._terms)

    def is_constant(self) -> bool:
        return not self._terms

    def coefficient(self, name: str) -> float:
        return dict(self._terms).get(name, 0.0)

    # -- evaluation -------------------------------------------------------------------------
    def evaluate(self, values: Mapping[str, Any]) -> Any:
        """Value of the expression; ``values`` maps names to floats, arrays or tensors."""
        out: Any = self._const
        for name, coeff in self._terms:
            try:
                v = values[name]
            except KeyError:
                raise ParameterError(
                    f"parameter {name!r} is unbound; pass a value for it in parameter_values",
                    parameter=name,
                ) from None
            out = out + coeff * v if coeff != 1.0 else out + v
        return out

    def bind(self, values: Mapping[str, float]) -> "ParamValue":
        """Substitute the given numbers; the result is a float when nothing is left unbound."""
        rest: dict[str, float] = {}
        const = self._const
        for name, coeff in self._terms:
            if name in values:
                const += coeff * _check_number(values[name], f"value of {name!r}")
            else:
                rest[name] = coeff
        if not rest:
            return const
        return ParameterExpression(rest, const)

    # -- arithmetic (linear only) -----------------------------------------------------------
    def _combine(self, other: Any, sign: float) -> "ParameterExpression":
        if isinstance(other, ParameterExpression):
            terms = dict(self._terms)
            for name, coeff in other._terms:
                terms[name] = terms.get(name, 0.0) + sign * coeff
            return ParameterExpression(terms, self._const + sign * other._const)
        if isinstance(other, numbers.Real) and not isinstance(other, bool):
            return ParameterExpression(dict(self._terms), self._const + sign * float(other))
        return NotImplemented

    def __add__(self, other):
        return self._combine(other, 1.0)

    def __radd__(self, other):
        return self._combine(other, 1.0)

    def __sub__(self, other):
        return self._combine(other, -1.0)

    def __rsub__(self, other):
        neg = -self
        return neg._combine(other, 1.0)

    def __mul__(self, other):
        if isinstance(other, ParameterExpression):
            raise ParameterError(
                "products of parameters are not supported: qbridge expressions are linear "
                "(a*theta + b); introduce a new parameter for the product"
            )
        if isinstance(other, numbers.Real) and not isinstance(other, bool):
            k = float(other)
            return ParameterExpression({n: c * k for n, c in self._terms}, self._const * k)
        return NotImplemented

    __rmul__ = __mul__

    def __truediv__(self, other):
        if isinstance(other, numbers.Real) and not isinstance(other, bool):
            if other == 0:
                raise ZeroDivisionError("division of a parameter expression by zero")
            return self * (1.0 / float(other))
        if isinstance(other, ParameterExpression):
            raise ParameterError("division by a parameter is not supported: expressions are linear")
        return NotImplemented

    def __neg__(self):
        return self * -1.0

    def __pos__(self):
        return self

    # -- identity ---------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if isinstance(other, ParameterExpression):
            return dict(self._terms) == dict(other._terms) and self._const == other._const
        if isinstance(other, numbers.Real) and not self._terms:
            return self._const == float(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((frozenset(self._terms), self._const))

    def __repr__(self) -> str:
        return f"ParameterExpression({self})"

    def __str__(self) -> str:
        parts: list[str] = []
        for name, coeff in self._terms:
            if coeff == 1.0:
                parts.append(name)
            elif coeff == -1.0:
                parts.append(f"-{name}")
            else:
                parts.append(f"{coeff!r}*{name}")
        if self._const != 0.0 or not parts:
            parts.append(repr(self._const))
        text = parts[0]
        for p in parts[1:]:
            text += f" - {p[1:]}" if p.startswith("-") else f" + {p}"
        return text


class Parameter(ParameterExpression):
    """A named free parameter, bound at run time.

    >>> theta = Parameter("theta")
    >>> expr = 0.5 * theta + 1
    """

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ParameterError(
                f"invalid parameter name {name!r}: use letters, digits and underscores, "
                "starting with a letter or underscore"
            )
        if name in _RESERVED:
            raise ParameterError(
                f"parameter name {name!r} is reserved in OpenQASM 3; choose another name"
            )
        self._name = name
        super().__init__({name: 1.0}, 0.0)

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"Parameter({self._name!r})"

    def __str__(self) -> str:
        return self._name

    def __eq__(self, other: object) -> bool:
        return ParameterExpression.__eq__(self, other)

    def __hash__(self) -> int:
        return ParameterExpression.__hash__(self)


ParamValue = Union[float, ParameterExpression]


def as_param_value(value: Any, what: str = "gate parameter") -> ParamValue:
    """Coerce a user-supplied gate parameter to a float or a (non-constant) expression."""
    if isinstance(value, ParameterExpression):
        return value.const if value.is_constant() else value
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()  # numpy / torch scalars
    return _check_number(value, what)


def batch_size_of(*sizes: int) -> int:
    """Broadcast batch sizes (of parameter bindings and encoded inputs): all equal, or 1."""
    big = {s for s in sizes if s != 1}
    if len(big) > 1:
        raise ParameterError(
            f"batch sizes {sorted(big)} do not broadcast: parameter bindings and inputs need the "
            "same number of rows, or one row to share"
        )
    return big.pop() if big else 1
