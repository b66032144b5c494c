"""Run one trained quantum layer's circuit on every available backend and measure the agreement.

Owns: :func:`backend_agreement`. The reference is the ``torch`` backend, exact, in double
precision. For each backend that can run here it runs the QFFN's circuit (amplitude encoding of
the given activations, the ansatz with the trained angles) and compares the probabilities of the
2^n basis states with the reference:

- exact runs: the largest absolute difference of a probability, max |dp|; "agrees" when it is
  at most ``exact_tolerance`` (1e-5: single-precision simulators reach 1e-7);
- runs with ``shots``: the estimate is counts / shots; each cell is compared with its binomial
  standard deviation, ``z = |count - S p| / sqrt(S p (1 - p) + 1)`` (the +1 keeps cells with
  p ~ 0 and a stray count finite); "consistent with shot noise" when max z <= 5 (over a few
  hundred cells, a 5-sigma excursion has probability about 1e-4). A noisy backend (its target
  says ``noisy``) is not expected to agree: its row reports the deviation, and with readout
  mitigation (``qbridge.mitigation``, when installed) a second row shows what correction recovers.
- ``tvd``: total variation distance, 0.5 sum |p - p_ref|, averaged over the rows.
- ``max_dy``: the largest difference of the QFFN's output y = gain r (N p - 1) / sqrt(N) + bias
  built from the backend's probabilities (what the model would have seen).

Paid cloud devices are never run here (``braket.device``, ``ibm.runtime``): their cost is
estimated instead (:func:`cloud_costs`).
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ._optional import have

__all__ = ["AgreementRow", "backend_agreement", "qffn_output", "cloud_costs", "CLOUD_BACKENDS", "DEFAULT_OPTIONS"]

CLOUD_BACKENDS = ("braket.device", "ibm.runtime")

# options that make a backend runnable for a 6-qubit circuit, or show noise worth mitigating
DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {
    "ibm.fake": {"backend": "fake_nairobi"},  # 7 qubits, IBM's calibrated noise (the default device has 5)
    "braket.dm": {"noise": {"readout": 0.03, "depolarizing": 0.001}},
}


@dataclass
class AgreementRow:
    backend: str
    mode: str
    max_dp: float | None = None
    tvd: float | None = None
    max_dy: float | None = None
    max_z: float | None = None
    verdict: str = ""
    seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def qffn_output(qffn: Any, x: np.ndarray, probs: np.ndarray) -> np.ndarray | None:
    """The QFFN output for inputs ``x`` (k, d) from basis-state probabilities (k, 2^n).

    None for a QFFN whose readout is not "probabilities".
    """
    if getattr(qffn, "readout", None) != "probabilities":
        return None
    d = qffn.d_model
    N = 2**qffn.num_qubits
    r = np.linalg.norm(x, axis=1, keepdims=True)
    y = r * (N * probs[:, :d] - 1.0) / math.sqrt(N)
    if qffn.gain is not None:
        y = y * qffn.gain.detach().double().cpu().numpy() + qffn.bias.detach().double().cpu().numpy()
    return y


def _dense(dicts: Sequence[dict[str, float]], n: int) -> np.ndarray:
    out = np.zeros((len(dicts), 2**n))
    for i, d in enumerate(dicts):
        for k, v in d.items():
            out[i, int(k, 2)] = v
    return out


def _probabilities(result: Any, n: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(estimated probabilities, raw counts or None) of a TaskResult."""
    if result.probabilities is not None:
        p = result.probabilities
        p = p.detach().cpu().numpy() if torch.is_tensor(p) else np.asarray(p)
        return p.astype(float), None
    counts = _dense(result.counts, n)
    return counts / counts.sum(axis=1, keepdims=True), counts


def backend_agreement(
    qffn: Any,
    activations: torch.Tensor | np.ndarray,
    *,
    shots: int = 8192,
    seed: int = 1234,
    backends: Sequence[str] | None = None,
    options: dict[str, dict[str, Any]] | None = None,
    mitigation: bool = True,
    exact_tolerance: float = 1e-5,
    log: Callable[[str], None] | None = None,
) -> tuple[list[AgreementRow], list[str]]:
    """Rows of agreement (module docstring) and notes (skipped backends, with the reason).

    ``backends``: names to try (default: every registered backend); ``options``: per-backend
    options (default :data:`DEFAULT_OPTIONS`).
    """
    from .. import Task, get_backend, list_backends

    say = log or (lambda s: None)
    opts = dict(DEFAULT_OPTIONS if options is None else options)
    x = activations.detach().double().cpu().numpy() if torch.is_tensor(activations) else np.asarray(activations, float)
    circuit = qffn.circuit
    n = circuit.num_qubits
    w = qffn.quantum.weights.detach().double().cpu().numpy()[None, :]
    task = Task(circuit, w, {"x": x})
    t0 = time.perf_counter()
    ref_res = get_backend("torch").run(task, precision="double").result()[0]
    ref, _ = _probabilities(ref_res, n)
    y_ref = qffn_output(qffn, x, ref)
    rows: list[AgreementRow] = []
    notes: list[str] = []
    with torch.no_grad():
        wq = qffn.quantum.weights  # the layer computes where it is: its inputs go there
        y_layer = qffn(torch.as_tensor(x, dtype=wq.dtype, device=wq.device)).double().cpu().numpy()
    rows.append(AgreementRow(
        "torch", "reference: exact, complex128", 0.0, 0.0,
        None if y_ref is None else float(np.abs(y_layer - y_ref).max()), None,
        "reference (max |dy|: the layer's own float32 forward)", time.perf_counter() - t0,
    ))
    have_mitigation = have("qbridge.mitigation")
    if mitigation and not have_mitigation:
        notes.append("mitigation: skipped (qbridge.mitigation is not part of this installation)")
    infos = {i.name: i for i in list_backends()}
    names = list(backends) if backends is not None else sorted(infos)
    for name in names:
        info = infos.get(name)
        if info is None:
            notes.append(f"{name}: not installed (no plugin registers it)")
            continue
        if name in CLOUD_BACKENDS:
            notes.append(f"{name}: cloud device, not run (its cost is estimated below; nothing is sent)")
            continue
        if not info.available:
            notes.append(f"{name}: skipped, not available here: {info.reason}")
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                backend = get_backend(name, **opts.get(name, {}))
                target = backend.target
                if target.num_qubits is not None and target.num_qubits < n:
                    notes.append(f"{name}: skipped, it has {target.num_qubits} qubits and the circuit needs {n}")
                    continue
                modes: list[tuple[str, int | None, str]] = []
                if target.supports_exact and name != "torch":
                    modes.append(("exact", None, ""))
                if target.supports_shots:
                    modes.append((f"{shots} shots", shots, ""))
                    if mitigation and have_mitigation and target.noisy:
                        modes.append((f"{shots} shots + readout mitigation", shots, "readout"))
                # calibrate every qubit of a small device (the transpiler may place the circuit on any of
                # them); on wider ones (a 13-qubit density matrix is 2^26 numbers) only the circuit's qubits
                small = target.num_qubits is not None and target.num_qubits <= 8
                for mode, s, mit in modes:
                    t = time.perf_counter()
                    run_opts = {"calibration_width": "device"} if (mit and small) else {}
                    res = backend.run(task, shots=s, seed=seed, mitigation=mit, options=run_opts).result()[0]
                    if mit:
                        p = _dense(res.metadata["nearest_probabilities"], n)
                        counts = None
                    else:
                        p, counts = _probabilities(res, n)
                    rows.append(_row(name, mode, p, counts, ref, x, qffn, y_ref, s, target.noisy, exact_tolerance,
                                     time.perf_counter() - t))
                    say(f"  {name} ({mode}): max |dp| {rows[-1].max_dp:.2e}, {rows[-1].verdict}")
        except Exception as exc:  # noqa: BLE001 - one broken adapter must not end the comparison
            notes.append(f"{name}: failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    return rows, notes


def _row(name, mode, p, counts, ref, x, qffn, y_ref, shots, noisy, tol, seconds) -> AgreementRow:
    dp = np.abs(p - ref)
    tvd = float(0.5 * dp.sum(axis=1).mean())
    y = qffn_output(qffn, x, p)
    max_dy = None if y is None or y_ref is None else float(np.abs(y - y_ref).max())
    max_z = None
    if shots is None:
        if noisy:
            verdict = "noise model (exact mixed state)"
        else:
            verdict = "agrees" if dp.max() <= tol else f"DIFFERS (max |dp| > {tol:g})"
    else:
        S = shots
        z = np.abs(p * S - ref * S) / np.sqrt(S * ref * (1 - ref) + 1.0)
        max_z = float(z.max())
        if "mitigation" in mode:
            verdict = "noise model, readout-corrected"
        elif noisy:
            verdict = "noise model (beyond shot noise)"
        elif max_z <= 5:
            verdict = "consistent with shot noise"
        else:
            verdict = "INCONSISTENT with shot noise (max z > 5)"
    return AgreementRow(name, mode, float(dp.max()), tvd, max_dy, max_z, verdict, seconds)


def cloud_costs(
    circuit_tasks: Any,
    executions_forward: int,
    executions_step: int,
    shots: int,
    *,
    devices: Sequence[tuple[str, str, dict[str, Any]]] | None = None,
) -> list[dict[str, Any]]:
    """Estimated USD (nothing is sent) of three workloads on named cloud QPUs.

    ``circuit_tasks``: the demo's few activations (tasks); ``executions_forward``: one forward
    pass of every quantum layer over a batch; ``executions_step``: one training step with
    parameter-shift gradients. ``devices``: (label, backend, options).
    """
    from ..jobs import estimate_cost

    devices = devices or [
        ("IonQ Forte (Amazon Braket)", "braket.device", {"arn": "arn:aws:braket:us-east-1::device/qpu/ionq/Forte-1"}),
        ("IQM Garnet (Amazon Braket)", "braket.device", {"arn": "arn:aws:braket:eu-north-1::device/qpu/iqm/Garnet"}),
        ("IBM Quantum (pay-as-you-go)", "ibm.runtime", {"backend": "ibm_brisbane"}),
    ]
    out = []
    for label, backend, options in devices:
        row: dict[str, Any] = {"device": label, "backend": backend}
        for key, work in (("this_check", circuit_tasks), ("forward_pass", executions_forward), ("training_step", executions_step)):
            try:
                est = estimate_cost(work, backend, shots=shots, options=options)
                row[key] = est.usd
                row[key + "_model"] = est.model
                row[key + "_executables"] = est.executables
            except Exception as exc:  # noqa: BLE001 - an estimate that cannot be made is reported, not fatal
                row[key] = None
                row[key + "_model"] = f"{type(exc).__name__}: {exc}"
        out.append(row)
    return out
