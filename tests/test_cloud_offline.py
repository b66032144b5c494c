"""A new user without AWS or IBM credentials, on the command line and in Python: dry runs with
prices for an IonQ, an IQM, a Rigetti and an IBM device, --max-cost refusals, the device catalogue,
`qbridge backends` telling ready from needs-credentials, `qbridge jobs list` on an empty store,
and QuantumLayer.preview; the network is switched off (any socket connect fails the test)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

pytest.importorskip("qbridge_braket.snapshots")
pytest.importorskip("qbridge_ibm.snapshots")

from qbridge import Circuit, Parameter, get_backend  # noqa: E402
from qbridge.cli import main  # noqa: E402
from qbridge.jobs import JobStore, cost_estimator  # noqa: E402

BELL = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\nh q[0];\ncx q[0], q[1];\nc = measure q;\n'
_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
        "QISKIT_IBM_TOKEN", "QISKIT_IBM_URL", "QISKIT_IBM_INSTANCE", "QISKIT_IBM_CHANNEL", "QBRIDGE_BRAKET_PRICES",
        "QBRIDGE_IBM_USD_PER_SECOND")

# (backend, option, shots, expected USD, price date prefix)
DEVICES = {
    "ionq": ("braket.device", "arn=arn:aws:braket:us-east-1::device/qpu/ionq/Forte-1", 0.30 + 1000 * 0.08, "2026-11-21"),
    "iqm": ("braket.device", "arn=arn:aws:braket:eu-north-1::device/qpu/iqm/Garnet", 0.30 + 1000 * 0.00145, "2026-11-21"),
    "rigetti": ("braket.device", "arn=arn:aws:braket:us-west-1::device/qpu/rigetti/Ankaa-3", 0.30 + 1000 * 0.0009,
                "2026-11-21"),
    "ibm": ("ibm.runtime", "backend=ibm_brisbane", None, "2024"),
}


@pytest.fixture
def new_user(tmp_path, monkeypatch, qbridge_no_network):
    """No credentials anywhere, an empty home, and no network."""
    for var in _ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("QBRIDGE_JOB_STORE", str(tmp_path / "jobs.sqlite3"))
    from qbridge_ibm import snapshots

    monkeypatch.setattr(snapshots, "ACCOUNT_FILE", tmp_path / "home" / ".qiskit" / "qiskit-ibm.json")
    prog = tmp_path / "bell.qasm"
    prog.write_text(BELL)
    return prog


def _invoke(args):
    return CliRunner().invoke(main, args)


@pytest.mark.parametrize("vendor", sorted(DEVICES))
def test_dry_run_and_max_cost_without_credentials(new_user, vendor):
    backend, option, usd, price_date = DEVICES[vendor]
    args = ["run", str(new_user), "--backend", backend, "--option", option, "--shots", "1000"]
    out = _invoke(args + ["--dry-run", "--json"])
    assert out.exit_code == 0, out.output
    rep = json.loads(out.output)
    assert rep["dry_run"] and not rep["sent"] and rep["shots"] == 1000
    assert rep["estimate"]["provider_tasks"] == 1 and rep["estimate"]["price_date"].startswith(price_date)
    if usd is not None:
        assert rep["estimated_cost_usd"] == pytest.approx(usd)
    else:  # IBM: usage time from the snapshot's durations, said how
        assert 2.0 < rep["estimate"]["breakdown"]["qpu_seconds"] < 3.0
        assert rep["estimated_cost_usd"] == pytest.approx(rep["estimate"]["breakdown"]["qpu_seconds"] * 1.60)
        assert "fake_brisbane" in rep["estimate"]["breakdown"]["timing"]
    src = rep["device_source"]
    assert src["source"] == "snapshot" and src["snapshot_as_of"] and "credentials" in src
    native = rep["circuits"][0]["native_program"]
    assert "measure" in native and ("cnot" in native or "ecr" in native or "cz" in native)
    out = _invoke(args + ["--dry-run"])
    text = " ".join(out.output.split())  # rich wraps long lines
    assert out.exit_code == 0 and "device: offline snapshot" in text and "nothing was sent" in text
    out = _invoke(args + ["--max-cost", "1"])  # every one of the four costs more than USD 1 for 1000 shots
    assert out.exit_code == 2 and "BudgetExceededError" in out.output and "nothing was sent" in out.output
    assert JobStore(new_user.parent / "jobs.sqlite3").list_jobs() == []


def test_device_catalogue_lists_every_priced_device_with_its_dates(new_user, monkeypatch):
    from qbridge_braket.prices import load_prices

    out = _invoke(["devices", "--json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    braket = [r for r in rows if r["backend"] == "braket.device" and r["kind"] == "qpu"]
    for price in load_prices().devices:
        (row,) = [r for r in braket if price.matches(r["options"]["arn"])][:1]
        assert row["price_date"] == price.as_of and row["snapshot_date"] and row["qubits"] > 0
        assert row["live_access"]["configured"] is False and "aws configure" in row["live_access"]["how"]
    assert {r["name"] for r in rows if r["kind"] == "simulator"} == {"amazon/sv1", "amazon/dm1", "amazon/tn1"}
    ibm = [r for r in rows if r["backend"] == "ibm.runtime"]
    assert ibm and all(r["snapshot_date"] and r["price"]["usd_per_second"] == 1.60 for r in ibm)
    out = _invoke(["devices", "--provider", "ibm", "--json"])
    assert {r["backend"] for r in json.loads(out.output)} == {"ibm.runtime"}
    monkeypatch.setenv("COLUMNS", "200")  # rich fits the table to the terminal
    out = _invoke(["devices"])
    assert out.exit_code == 0 and "iqm/Garnet" in out.output
    out = _invoke(["devices", "show", "Garnet"])
    assert out.exit_code == 0 and "30 couplers" in out.output and "2026-11-21" in out.output
    assert "not configured" in out.output
    out = _invoke(["devices", "show", "nowhere"])
    assert out.exit_code == 2 and "BackendNotFoundError" in out.output


def test_backends_tell_ready_from_needs_credentials(new_user, monkeypatch):
    out = _invoke(["backends", "--json"])
    assert out.exit_code == 0, out.output
    by = {b["name"]: b for b in json.loads(out.output)}
    assert by["braket.device"]["status"] == "needs credentials" and "aws configure" in by["braket.device"]["credentials"]
    assert by["ibm.runtime"]["status"] == "needs credentials" and "save_account" in by["ibm.runtime"]["credentials"]
    assert by["torch"]["status"] == "ready" and by["torch"]["credentials_configured"] is None
    assert by["braket.local"]["status"] == "ready"
    monkeypatch.setenv("COLUMNS", "200")
    out = _invoke(["backends"])
    assert "installed, needs credentials" in out.output
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA-TEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-secret")
    by = {b["name"]: b for b in json.loads(_invoke(["backends", "--json"]).output)}
    assert by["braket.device"]["status"] == "ready" and "environment" in by["braket.device"]["credentials"]


def test_jobs_list_on_an_empty_store_says_where_and_what_fills_it(new_user):
    store = new_user.parent / "jobs.sqlite3"
    out = _invoke(["jobs", "list"])
    assert out.exit_code == 0 and str(store) in out.output and "recorded here before it is sent" in out.output
    assert "Dry runs (--dry-run) record nothing" in out.output
    assert json.loads(_invoke(["jobs", "list", "--json"]).output) == []


def test_quantum_layer_preview_offline(new_user):
    nn = pytest.importorskip("qbridge.nn")
    be = get_backend("braket.device", arn="arn:aws:braket:eu-north-1::device/qpu/iqm/Garnet")
    assert be.device_source["source"] == "snapshot"
    a, b = Parameter("a"), Parameter("b")
    layer = nn.QuantumLayer(Circuit(2).ry(0, a).ry(1, b).cx(0, 1), readout=["ZI", "IZ"], backend=be, shots=1000,
                            cost_estimator=cost_estimator(be, steps=10, max_cost=10_000.0))
    pv = layer.preview(4)
    # the snapshot lists no program sets: one task per execution
    assert pv.cost.usd_per_step == pytest.approx(pv.executions * (0.30 + 1000 * 0.00145))
    assert "prices as of 2026-11-21" in str(pv)
