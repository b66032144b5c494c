"""``ibm.runtime`` without a network: account errors, and its run path on a fake device.

No test talks to IBM. The real service is replaced by :class:`OfflineService`, which hands out
a fake device the way ``QiskitRuntimeService.backend`` hands out a real one; everything after
that (ISA transpilation, SamplerV2 PUBs, count conversion) is the code a real run uses.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("qiskit_ibm_runtime")

import qbridge  # noqa: E402
from qbridge import Circuit, Parameter, Task  # noqa: E402
from qbridge.exceptions import BackendUnavailableError, ValidationError  # noqa: E402

_ENV = ("QISKIT_IBM_TOKEN", "QISKIT_IBM_URL", "QISKIT_IBM_INSTANCE", "QISKIT_IBM_CHANNEL")


class OfflineService:
    """Stands in for QiskitRuntimeService: serves fake devices by name, no network."""

    def backend(self, name):
        from qbridge.interop.qiskit import fake_backend

        return fake_backend(name)

    def least_busy(self, **filters):
        return self.backend("fake_manila")


def test_no_saved_account_is_a_clear_error(tmp_path, monkeypatch):
    for var in _ENV:  # an account from the environment would send the service to the network
        monkeypatch.delenv(var, raising=False)
    t0 = time.perf_counter()
    with pytest.raises(BackendUnavailableError, match="save_account") as info:
        qbridge.get_backend("ibm.runtime", backend="ibm_brisbane", filename=str(tmp_path / "qiskit-ibm.json"))
    assert time.perf_counter() - t0 < 60  # no network wait: the account file is read locally
    assert info.value.backend == "ibm.runtime"
    assert "ibm.fake" in str(info.value)


def test_named_account_that_does_not_exist(tmp_path, monkeypatch):
    for var in _ENV:
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(BackendUnavailableError, match="save_account"):
        qbridge.get_backend("ibm.runtime", account="nobody", filename=str(tmp_path / "qiskit-ibm.json"))


def test_runtime_run_path_on_a_fake_device():
    ibm = qbridge.get_backend("ibm.runtime", service=OfflineService(), backend="fake_manila")
    fake = qbridge.get_backend("ibm.fake", backend="fake_manila")
    assert ibm.target.num_qubits == fake.target.num_qubits == 5
    assert ibm.device_connectivity == fake.device_connectivity and ibm.device_gates == fake.device_gates
    assert ibm.target.native_gates == fake.target.native_gates
    assert not ibm.target.supports_exact and ibm.target.noisy
    a = Parameter("a")
    c = Circuit(3).x(0).ry(1, a).cx(1, 2)
    res = ibm.run(Task(c, [[0.0], [np.pi]]), shots=2000, seed=3).result()[0]
    assert max(res.counts[0], key=res.counts[0].get) == "100"
    assert max(res.counts[1], key=res.counts[1].get) == "111"
    assert ibm.stats["runs"] == 1 and ibm.stats["pubs"] == 1 and ibm.stats["transpiles"] == 1
    assert res.metadata["device"] == "fake_manila" and res.metadata["job_id"]
    with pytest.raises(ValidationError, match="shots"):
        ibm.run(c.bind({"a": 0.1}))


def test_least_busy_and_unknown_device():
    ibm = qbridge.get_backend("ibm.runtime", service=OfflineService())
    assert ibm.device.name == "fake_manila"
    with pytest.raises(BackendUnavailableError, match="fake_nowhere"):
        qbridge.get_backend("ibm.runtime", service=OfflineService(), backend="fake_nowhere")


def test_token_is_not_kept_in_options():
    ibm = qbridge.get_backend("ibm.runtime", service=OfflineService(), backend="fake_manila", token="not-a-token")
    assert "not-a-token" not in repr(ibm.options)


def test_cost_estimate_uses_the_ibm_model():
    from qbridge.jobs import estimate_cost

    c = Circuit(2).h(0).cx(0, 1)
    est = estimate_cost([Task(c, np.zeros((10, 0)))], "ibm.runtime", shots=1000, options={"backend": "ibm_brisbane"})
    assert est.usd is not None and est.usd > 0 and not est.free
    assert est.executables == 10 and est.device == "ibm_brisbane"
