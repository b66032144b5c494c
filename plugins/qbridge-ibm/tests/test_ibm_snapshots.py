"""ibm.runtime without an account: planning on qiskit-ibm-runtime's fake-device snapshot of the
named device (ISA programs checked against its basis gates and coupling map), usage time from its
gate and readout durations, a refusal to send, and the account check that reads local files only."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("qiskit_ibm_runtime")

import qbridge  # noqa: E402
from qbridge import Circuit, RunConfig  # noqa: E402
from qbridge.exceptions import BackendUnavailableError, BudgetExceededError  # noqa: E402
from qbridge.jobs.plan import plan_run  # noqa: E402
from qbridge_ibm import snapshots  # noqa: E402

_ENV = ("QISKIT_IBM_TOKEN", "QISKIT_IBM_URL", "QISKIT_IBM_INSTANCE", "QISKIT_IBM_CHANNEL")


@pytest.fixture
def no_account(tmp_path, monkeypatch, qbridge_no_network):
    for var in _ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(snapshots, "ACCOUNT_FILE", tmp_path / "qiskit-ibm.json")
    return tmp_path


def test_account_status_from_local_files_only(no_account, monkeypatch):
    ok, how = snapshots.ibm_account()
    assert not ok and "save_account" in how
    (no_account / "qiskit-ibm.json").write_text(json.dumps({"default-ibm-quantum-platform": {"channel": "x"}}))
    ok, how = snapshots.ibm_account()
    assert ok and "default-ibm-quantum-platform" in how
    (no_account / "qiskit-ibm.json").unlink()
    monkeypatch.setenv("QISKIT_IBM_TOKEN", "t")
    assert snapshots.ibm_account()[0]


def test_catalogue_lists_ibm_devices_with_their_snapshot_dates():
    rows = {r["name"]: r for r in snapshots.catalogue()}
    assert "ibm_brisbane" in rows and "ibm_torino" in rows
    assert all(name.startswith("ibm_") for name in rows)
    b = rows["ibm_brisbane"]
    assert b["qubits"] == 127 and "ecr" in b["native_gates"] and b["snapshot_date"] == "2025-02-26"
    assert b["price"]["billed"] == "QPU usage time" and b["backend"] == "ibm.runtime"
    assert snapshots.fake_name_for("ibm_brisbane") == "fake_brisbane" and snapshots.fake_name_for("ibm_nowhere") is None


@pytest.mark.parametrize("device", ["ibm_brisbane", "ibm_torino"])
def test_offline_plan_on_the_snapshot(no_account, device):
    be = qbridge.get_backend("ibm.runtime", backend=device)
    assert be.offline and be.device_source["source"] == "snapshot"
    assert be.device_source["snapshot"] == snapshots.fake_name_for(device)
    ghz = Circuit(3).h(0).cx(0, 1).cx(1, 2).measure_all()
    plan = plan_run(be, [ghz], RunConfig(shots=1000))
    isa = plan.compiled[0].program.isa
    target = be.device.target
    basis = set(target.operation_names)
    edges = {tuple(e) for e in be.device.coupling_map.get_edges()}
    index = {q: i for i, q in enumerate(isa.qubits)}
    for inst in isa.data:
        assert inst.operation.name in basis | {"barrier"}, inst.operation.name
        qs = tuple(index[q] for q in inst.qubits)
        if len(qs) == 2:
            assert qs in edges, qs
    one_shot = isa.estimate_duration(target, unit="s")  # Qiskit's own critical path, as a reference
    assert snapshots.isa_seconds(isa, target) == (pytest.approx(one_shot), True)
    est = plan.estimate
    rep = be.device.configuration().default_rep_delay
    assert est.breakdown["qpu_seconds"] == pytest.approx(2.0 + 1000 * (one_shot + rep))
    d = plan.to_dict()
    assert d["device_source"]["snapshot_as_of"] and "OPENQASM 3" in d["circuits"][0]["native_program"]
    with pytest.raises(BudgetExceededError, match="max_seconds"):
        plan_run(be, [ghz], RunConfig(shots=1000, options={"max_seconds": 2.0}))
    # a price per second of the user's own
    cheap = qbridge.get_backend("ibm.runtime", backend=device, usd_per_second=0.25)
    assert plan_run(cheap, [ghz], RunConfig(shots=1000)).estimate.usd == pytest.approx(est.breakdown["qpu_seconds"] * 0.25)


def test_a_snapshot_backend_sends_nothing(no_account):
    be = qbridge.get_backend("ibm.runtime", backend="ibm_brisbane")
    with pytest.raises(BackendUnavailableError, match="Nothing was sent"):
        be.run(Circuit(2).h(0).cx(0, 1).measure_all(), RunConfig(shots=100)).result()


def test_offline_needs_a_device_name(no_account):
    with pytest.raises(BackendUnavailableError, match="backend=ibm_brisbane"):
        qbridge.get_backend("ibm.runtime")
    with pytest.raises(BackendUnavailableError, match="no snapshot"):
        qbridge.get_backend("ibm.runtime", backend="ibm_nowhere")


class _Service:
    """Stands in for QiskitRuntimeService (the account is 'there'): serves a device object."""

    def __init__(self, device):
        self.device = device

    def backend(self, name):
        return self.device


def test_live_device_is_compared_with_the_snapshot():
    from qiskit.transpiler import CouplingMap

    from qbridge.interop.qiskit import fake_backend

    same = qbridge.get_backend("ibm.runtime", service=_Service(fake_backend("fake_brisbane")), backend="ibm_brisbane")
    assert same.device_source["source"] == "live" and same.device_source["differences"] == []
    snap = fake_backend("fake_brisbane")
    edges = list(snap.coupling_map.get_edges())[:-2]

    class TwoCouplersOut(type(snap)):  # the same device today, with two couplers out of service
        @property
        def coupling_map(self):
            return CouplingMap(edges)

    with pytest.warns(UserWarning, match="differs from the snapshot fake_brisbane"):
        be = qbridge.get_backend("ibm.runtime", service=_Service(TwoCouplersOut()), backend="ibm_brisbane")
    assert be.device_source["source"] == "live"
    assert be.device_source["differences"] == [f"couplers: snapshot {len(set(map(tuple, map(sorted, snap.coupling_map.get_edges()))))}, live {len(set(map(tuple, map(sorted, edges))))}"]
