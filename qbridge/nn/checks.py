"""Argument checks shared by the layer constructors and forwards: typed errors that say what
was expected and how to fix it (qbridge.exceptions.ArgumentError / ArgumentTypeError /
EncodingError)."""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch

from ..exceptions import ArgumentError, ArgumentTypeError, EncodingError

__all__ = ["check_int", "check_real", "check_finite_rows", "as_real_input", "MAX_LAYER_QUBITS"]

# the largest register a layer may encode: the torch backend's limit (a 30-qubit state vector
# is 8 GiB in single precision; qbridge.limits checks the memory itself before each run)
MAX_LAYER_QUBITS = 30


def check_int(name: str, value: Any, minimum: int | None = None, maximum: int | None = None,
              fix: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(
            f"{name} must be an integer, got {value!r} ({type(value).__name__})"
            + (f"; {fix}" if fix else ""), expected="int", argument=name,
        )
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        lo = "" if minimum is None else f">= {minimum}"
        hi = "" if maximum is None else f"<= {maximum}"
        raise ArgumentError(
            f"{name} must be {' and '.join(x for x in (lo, hi) if x)}, got {value}" + (f"; {fix}" if fix else ""),
            expected=" and ".join(x for x in (lo, hi) if x), argument=name,
        )
    return value


def check_real(name: str, value: Any, minimum: float | None = None, maximum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})",
                                expected="float", argument=name)
    value = float(value)
    if not math.isfinite(value) or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        rng = f"in [{minimum}, {maximum}]" if minimum is not None and maximum is not None else (
            f">= {minimum}" if minimum is not None else f"<= {maximum}" if maximum is not None else "finite")
        raise ArgumentError(f"{name} must be finite and {rng}, got {value}", expected=rng, argument=name)
    return value


def check_d_model(d_model: Any, what: str = "d_model") -> int:
    d = check_int(what, d_model, 1)
    n = max(1, math.ceil(math.log2(d)))
    if n > MAX_LAYER_QUBITS:
        raise ArgumentError(
            f"{what}={d} needs {n} qubits to amplitude-encode, more than the {MAX_LAYER_QUBITS} a "
            f"state-vector layer can hold (2^{MAX_LAYER_QUBITS} amplitudes); use {what} <= 2^{MAX_LAYER_QUBITS} "
            "(a projection to a smaller width first)", expected=f"1 <= {what} <= 2^{MAX_LAYER_QUBITS}", argument=what,
        )
    return d


def as_real_input(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Integer and boolean inputs become ``dtype`` (amplitudes are real or complex numbers)."""
    if x.dtype == torch.bool or not (x.is_floating_point() or x.is_complex()):
        return x.to(dtype)
    return x


def check_finite_rows(x: torch.Tensor, name: str) -> None:
    """EncodingError naming the rows (of the flattened batch) that hold NaN or inf."""
    with torch.no_grad():
        entries = torch.view_as_real(x) if x.is_complex() else x
        # NaN and inf survive the maximum: one cheap reduction instead of an isfinite pass
        finite = torch.isfinite(entries.reshape(entries.shape[0], -1).abs().amax(dim=1))
        if bool(finite.all()):
            return
        bad = (~finite).nonzero().flatten().tolist()
    shown = ", ".join(map(str, bad[:10])) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
    raise EncodingError(
        f"input {name!r} has non-finite entries (NaN or inf) in row{'s' if len(bad) > 1 else ''} {shown} "
        f"(of {entries.shape[0]}, counting the leading axes flattened); clean or mask those rows",
        instruction="amplitude_encode", rows=bad,
    )
