"""Shot allocation over qubit-wise commuting measurement groups.

A group g measured with N_g shots contributes sigma_g^2 / N_g to the variance of an observable,
where sigma_g^2 is the per-shot variance of f_g(x) = sum_{t in g} c_t parity_t(x) (its terms'
covariance included). Three schemes:

- ``uniform``: every group gets ``shots`` (qbridge's default, as without allocation).
- ``proportional``: the same total, shots * G, split in proportion to w_g = sum_{t in g} |c_t|
  (summed over the observables that use the group).
- ``precision``: as few shots as meet a target standard error eps for every observable.
  Minimising sum_g N_g subject to sum_g sigma_g^2 / N_g <= eps^2 gives (Lagrange)
  N_g = sigma_g * (sum_h sigma_h) / eps^2. sigma_g comes from

  * ``variance="bound"`` (default): the worst case sigma_g <= sum_{t in g} |c_t|, since
    |f_g(x)| <= sum |c_t| for every outcome. (The sum of c_t^2 would be the variance of
    *uncorrelated* terms; terms measured together can be fully correlated -- ZZ and ZI on a
    Bell-like state -- so only the sum of |c| bounds every state.) Under this bound the optimal
    allocation is proportional to sum |c|, and the predicted standard error is guaranteed, not
    estimated;
  * ``variance="pilot"``: sigma_g estimated from a pilot run (``pilot_shots`` per group, a
    separate, earlier submission), which spends fewer shots on states with small variance.

  With several observables each gets its own optimal N_g and a group takes the largest.

Pure functions of the observables' coefficients (and of pilot variances).
"""

from __future__ import annotations

import math
import numbers
from typing import Sequence

import numpy as np

from ..ir.observables import PauliSum

__all__ = ["ALLOCATIONS", "group_weights", "allocate_shots", "predicted_stderr", "split_into_copies"]

ALLOCATIONS = ("uniform", "proportional", "precision")
MAX_TOTAL_SHOTS = 10**9


def group_weights(observables: Sequence[PauliSum], groups: Sequence[tuple[str, list[str]]]) -> np.ndarray:
    """(n_obs, n_groups): sum of |c| of each observable's terms in each group."""
    where = {w: g for g, (_, members) in enumerate(groups) for w in members}
    W = np.zeros((len(observables), len(groups)))
    for o, obs in enumerate(observables):
        for t in obs.terms:
            if set(t.paulis) != {"I"}:
                W[o, where[t.paulis]] += abs(t.coeff)
    return W


def allocate_shots(
    observables: Sequence[PauliSum],
    groups: Sequence[tuple[str, list[str]]],
    shots: int | None,
    scheme: str = "uniform",
    *,
    precision: float | None = None,
    sigma: np.ndarray | None = None,
    min_shots: int = 1,
) -> np.ndarray:
    """Shots per group (int array of len(groups)).

    ``sigma`` (n_obs, n_groups): per-shot standard deviations for ``scheme="precision"`` (from a
    pilot); by default the worst-case bound :func:`group_weights`.
    """
    G = len(groups)
    if G == 0:
        return np.zeros(0, dtype=np.int64)
    if scheme == "uniform":
        _check_shots(shots, scheme)
        return np.full(G, int(shots), dtype=np.int64)
    W = group_weights(observables, groups)
    if scheme == "proportional":
        _check_shots(shots, scheme)
        w = W.sum(axis=0)
        total = int(shots) * G
        raw = total * w / w.sum()
        return np.maximum(np.rint(raw).astype(np.int64), max(int(min_shots), 1))
    if scheme == "precision":
        if precision is None or isinstance(precision, bool) or not isinstance(precision, numbers.Real) \
                or not math.isfinite(precision) or precision <= 0:
            raise ValueError(f"allocation 'precision' needs a target standard error precision > 0, got {precision!r}")
        S = W if sigma is None else np.asarray(sigma, dtype=float)
        if S.shape != W.shape:
            raise ValueError(f"sigma must have shape {W.shape} (observables, groups), got {S.shape}")
        # per observable: N_g = sigma_g * sum_h sigma_h / eps^2; a group serves the most demanding
        need = S * S.sum(axis=1, keepdims=True) / precision**2
        N = np.ceil(need.max(axis=0)).astype(np.int64)
        N = np.maximum(N, max(int(min_shots), 1))
        if N.sum() > MAX_TOTAL_SHOTS:
            raise ValueError(
                f"a standard error of {precision:g} needs {int(N.sum()):,} shots; ask for a larger precision"
            )
        return N
    raise ValueError(f"unknown shot allocation {scheme!r}; choose one of {list(ALLOCATIONS)}")


def _check_shots(shots: int | None, scheme: str) -> None:
    if shots is None or isinstance(shots, bool) or not isinstance(shots, numbers.Integral) or shots < 1:
        raise ValueError(f"allocation {scheme!r} needs shots (a positive integer), got {shots!r}")


def predicted_stderr(sigma: np.ndarray, shots: Sequence[int]) -> np.ndarray:
    """sqrt(sum_g sigma_g^2 / N_g) per observable."""
    N = np.asarray(shots, dtype=float)
    return np.sqrt(np.sum(np.asarray(sigma) ** 2 / N, axis=1))


def split_into_copies(
    desired: Sequence[int], *, min_shots: int = 1, max_shots: int | None = None, max_copies: int = 16
) -> tuple[int, np.ndarray]:
    """(unit, copies): run each circuit ``copies[i]`` times with ``unit`` shots, >= ``desired[i]``.

    A submission has one shot count; circuits that need different numbers of shots go out as
    several copies of one task within the same submission (pooled afterwards). The unit is the
    gcd of the wishes when that needs at most ``max_copies`` copies of any circuit, otherwise
    ceil(max / max_copies); it respects the backend's shot range.
    """
    d = np.asarray(desired, dtype=np.int64)
    if d.size == 0:
        return max(int(min_shots), 1), d
    if np.any(d < 1):
        raise ValueError(f"desired shots must be positive, got {d.tolist()}")
    unit = int(np.gcd.reduce(d))
    if d.max() // unit > max_copies:
        unit = int(math.ceil(d.max() / max_copies))
    unit = max(unit, int(min_shots), 1)
    if max_shots is not None and unit > max_shots:
        unit = int(max_shots)
    # rounded up: a circuit never gets fewer shots than it asked for (a precision target holds)
    copies = np.maximum(np.ceil(d / unit).astype(np.int64), 1)
    return unit, copies
