"""The backend conformance suite against every adapter in plugins/ that can run here.

In-process, through the suite's own one-liner (``qbridge.testing.conformance_tests``): each
assignment below collects the whole suite (capabilities, gates, random circuits, batching,
measured subsets, amplitude encoding, shots, expectation values, bad input, result format) as
nested classes, so a failure reads
``TestAerConformance::TestGates::test_gate_matches_reference[cx]``. One backend object per
assignment serves all of its tests.

What runs where:

- ``example`` is not repeated here: ``plugins/qbridge-example/tests/test_example_conformance.py``
  already runs the suite against it. No other plugin's tests run the suite (the aer, ibm,
  pennylane and braket tests are their own engine checks), so they all run here.
- Noisy backends (aer with fake_manila's noise model, ibm.fake) run the suite too: the families
  that compare with the ideal reference skip themselves on ``Target.noisy`` (the skip reasons say
  so), and the capability, validation, bad-input and result-format families still run.
- GPU backends (aer.gpu, pennylane.lightning.gpu) run the full suite where a GPU and the GPU builds
  are present; elsewhere every test skips with the backend's availability reason (no GPU, or the
  GPU build not installed), and ``test_gpu_backend_is_refused_without_a_gpu`` checks that the
  refusal is a clear error rather than a quiet CPU run.
- A backend whose plugin is not installed at all skips with that reason.

The suite has no quick mode or subset option; it is small enough to run whole. Measured on this
2-core machine (CPU seconds, one backend per ``qbridge-backend-test`` process): aer 9, aer with
noise 7, ibm.fake 7, pennylane.lightning.qubit 10, pennylane.default.qubit 10, braket.local 30,
braket.dm 27 (Braket's local simulator parses every OpenQASM program several times): about
100 CPU seconds in all, under 2 minutes of wall time on 2 idle cores.
"""

from __future__ import annotations

from typing import Any

import pytest

import qbridge
from qbridge.exceptions import BackendUnavailableError
from qbridge.testing import conformance_tests

_LISTED = {info.name: info for info in qbridge.list_backends()}
_DISTRIBUTION = {
    "aer": "plugins/qbridge-aer",
    "aer.gpu": "plugins/qbridge-aer",
    "ibm.fake": "plugins/qbridge-ibm",
    "pennylane.lightning.qubit": "plugins/qbridge-pennylane",
    "pennylane.default.qubit": "plugins/qbridge-pennylane",
    "pennylane.lightning.gpu": "plugins/qbridge-pennylane",
    "braket.local": "plugins/qbridge-braket",
    "braket.dm": "plugins/qbridge-braket",
}


def suite(name: str, **options: Any) -> type:
    """The suite bound to ``name``; a name no installed plugin registers skips with the fix."""
    if name in _LISTED:
        return conformance_tests(name, **options)

    def not_installed():
        raise BackendUnavailableError(
            f"no installed plugin registers {name!r}: pip install -e {_DISTRIBUTION[name]}", backend=name
        )

    not_installed.__qualname__ = name
    return conformance_tests(not_installed)


TestAerConformance = suite("aer")
TestAerNoisyConformance = suite("aer", noise_backend="fake_manila")
# the backend-neutral model (qbridge.noise), as JSON: the one noise option aer, braket.dm and torch take
_NOISE = ('{"format": "qbridge.noise/1", "num_qubits": null, "source": "conformance", "gates": [{"gate": "cx", '
          '"qubits": null, "channels": [{"kind": "depolarizing", "p": 0.02, "num_qubits": 2}]}], '
          '"readout": [{"qubit": null, "p01": 0.01, "p10": 0.02}]}')
TestAerModelNoiseConformance = suite("aer", noise=_NOISE)
TestBraketDMModelNoiseConformance = suite("braket.dm", noise=_NOISE)
TestIbmFakeConformance = suite("ibm.fake")
TestLightningQubitConformance = suite("pennylane.lightning.qubit")
TestDefaultQubitConformance = suite("pennylane.default.qubit")
TestBraketLocalConformance = suite("braket.local")
TestBraketDMConformance = suite("braket.dm")
TestAerGPUConformance = suite("aer.gpu")
TestLightningGPUConformance = suite("pennylane.lightning.gpu")


@pytest.mark.parametrize("name", ["aer.gpu", "pennylane.lightning.gpu"])
def test_gpu_backend_is_refused_without_a_gpu(name):
    """Where a GPU backend cannot run, it is listed as unavailable with a reason that names the GPU
    requirement, and creating it raises BackendUnavailableError: never a quiet run on the CPU."""
    info = _LISTED.get(name)
    if info is None:
        pytest.skip(f"{name}: not installed (pip install -e {_DISTRIBUTION[name]})")
    if info.available:
        pytest.skip(f"{name} is available here (GPU build and GPU present): its suite above runs it")
    assert "gpu" in info.reason.lower(), f"{name}: the reason does not name the GPU requirement: {info.reason!r}"
    with pytest.raises(BackendUnavailableError) as exc:
        qbridge.get_backend(name)
    assert exc.value.context.get("backend") == name
    assert info.reason in exc.value.message
