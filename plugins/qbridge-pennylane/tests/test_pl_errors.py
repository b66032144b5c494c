"""Registry entries, availability, the family entry, and typed errors of the PennyLane backends."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pennylane")
pytest.importorskip("pennylane_lightning")

import qbridge  # noqa: E402
from qbridge import Circuit, Parameter  # noqa: E402
from qbridge.backends.base import Task  # noqa: E402
from qbridge.exceptions import (  # noqa: E402
    BackendUnavailableError,
    EncodingError,
    ParameterError,
    ValidationError,
)
from qbridge_pennylane import PennyLaneBackend, device_availability  # noqa: E402
from qbridge_pennylane.backend import _gpu_visible, _installed_devices  # noqa: E402


def _info():
    return {b.name: b for b in qbridge.list_backends()}


def test_named_and_family_entries_are_listed():
    info = _info()
    for name in ("pennylane.lightning.qubit", "pennylane.default.qubit", "pennylane.lightning.gpu",
                 "pennylane.default.mixed"):
        assert name in info, sorted(info)
    assert info["pennylane.lightning.qubit"].available
    assert info["pennylane.default.mixed"].available
    # not qubit simulators: never offered by the family listing
    assert "pennylane.default.gaussian" not in info and "pennylane.null.qubit" not in info


def test_lightning_gpu_is_unavailable_here_with_the_reason():
    if "lightning.gpu" in _installed_devices() and _gpu_visible()[0]:
        pytest.skip("this machine has lightning.gpu and a GPU")
    ok, why = device_availability("lightning.gpu")
    assert not ok and ("pennylane-lightning-gpu" in why or "GPU" in why)
    assert not _info()["pennylane.lightning.gpu"].available
    with pytest.raises(BackendUnavailableError, match="lightning.gpu") as err:
        qbridge.get_backend("pennylane.lightning.gpu")
    assert err.value.backend == "pennylane.lightning.gpu"
    # created directly (bypassing the registry's check) it refuses as well: never a CPU run
    from qbridge_pennylane import LightningGPUBackend

    with pytest.raises(BackendUnavailableError):
        LightningGPUBackend()


def test_family_resolves_any_installed_device_and_refuses_the_rest():
    mixed = qbridge.get_backend("pennylane.default.mixed")
    assert isinstance(mixed, PennyLaneBackend) and mixed.device_name == "default.mixed"
    assert mixed.target.supports_statevector is False  # default.mixed's state is a density matrix
    with pytest.raises(ValidationError, match="state vectors"):
        mixed.run(Task(Circuit(1).h(0), statevector=True)).result()
    with pytest.raises(BackendUnavailableError, match="not installed"):
        qbridge.get_backend("pennylane.no.such.device")
    with pytest.raises(BackendUnavailableError, match="qutrit"):
        qbridge.get_backend("pennylane.default.qutrit")
    with pytest.raises(BackendUnavailableError, match="no simulation"):
        qbridge.get_backend("pennylane.null.qubit")


def test_option_errors():
    with pytest.raises(TypeError, match="device_options"):
        qbridge.get_backend("pennylane.lightning.qubit", shots=10)
    with pytest.raises(TypeError, match="may not set"):
        qbridge.get_backend("pennylane.default.qubit", device_options={"seed": 3})
    backend = qbridge.get_backend("pennylane.default.qubit", device_options={"max_workers": None})
    assert backend.run(Circuit(1).x(0), precision="double").result()[0].probabilities[0][1] == pytest.approx(1.0)


def test_bad_inputs_are_typed_errors():
    backend = qbridge.get_backend("pennylane.lightning.qubit")
    c = Circuit(2).amplitude_encode("x").ry(0, Parameter("t"))
    with pytest.raises(EncodingError, match="zero vector"):
        backend.run(Task(c, [[0.1]], inputs={"x": [[0.0, 0.0, 0.0]]})).result()
    with pytest.raises(EncodingError, match="features"):
        backend.run(Task(c, [[0.1]], inputs={"x": np.ones((1, 5))})).result()
    with pytest.raises(EncodingError, match="non-finite"):
        backend.run(Task(c, [[0.1]], inputs={"x": [[np.nan, 1.0]]})).result()
    with pytest.raises(ParameterError):
        backend.run(Task(c, [[0.1, 0.2]], inputs={"x": [[1.0]]})).result()
    with pytest.raises(ValidationError, match="qubits"):
        backend.run(Circuit(31).h(0)).result()
    with pytest.raises(ValidationError, match="state vectors need"):
        backend.run(Task(Circuit(1).h(0), statevector=True), shots=10).result()
