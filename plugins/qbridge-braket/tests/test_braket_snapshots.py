"""Offline device snapshots of braket.device: schema validation, offline dry runs for every priced
QPU (native programs checked against the snapshot's gates and couplers), live properties winning
over the snapshot when credentials are there (botocore's Stubber at the network edge), and no
socket opened anywhere on the offline paths."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

pytest.importorskip("braket.device_schema")
boto3 = pytest.importorskip("boto3")

import qbridge  # noqa: E402
from qbridge import Circuit, RunConfig  # noqa: E402
from qbridge.exceptions import BackendUnavailableError, BudgetExceededError, ValidationError  # noqa: E402
from qbridge.jobs import JobStore  # noqa: E402
from qbridge.jobs.plan import plan_run  # noqa: E402
from qbridge_braket import snapshots as snaps  # noqa: E402
from qbridge_braket.prices import load_prices  # noqa: E402

PLUGIN = Path(__file__).resolve().parents[1]
SNAPSHOTS = snaps.load_snapshots()
_AWS_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
            "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE")


@pytest.fixture
def offline(qbridge_no_network):
    """No network: a connect attempt fails the test (the fixture of qbridge's pytest plugin)."""


@pytest.fixture
def no_aws(tmp_path, monkeypatch):
    """A user without AWS credentials: empty home, no AWS variables, no instance metadata."""
    for var in _AWS_ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return tmp_path


def test_every_snapshot_loads_and_matches_the_sdk_schema():
    from braket.schema_common import BraketSchemaBase

    assert {s.vendor for s in SNAPSHOTS} == {"IonQ", "IQM", "Rigetti"}
    for s in SNAPSHOTS:
        caps = s.properties
        assert type(caps).__name__ == {"IonQ": "IonqDeviceCapabilities", "IQM": "IqmDeviceCapabilities",
                                       "Rigetti": "RigettiDeviceCapabilities"}[s.vendor]
        # the document is exactly what the schema class writes back (nothing dropped or added)
        again = BraketSchemaBase.parse_raw_schema(caps.json(exclude_none=True))
        assert json.loads(again.json(exclude_none=True)) == s.document
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", s.as_of) and "GetDevice" in s.source
        lim = s.limits
        assert lim.qubit_count == caps.paradigm.qubitCount and lim.shots_range[0] >= 1
        if not lim.fully_connected:  # every coupler joins two of the device's qubits
            assert len(lim.graph) == lim.qubit_count


def test_a_broken_snapshot_is_a_typed_error_naming_the_file(tmp_path):
    from qbridge.exceptions import BackendError

    good = json.loads(SNAPSHOTS[0].path.read_text())
    good["capabilities"]["paradigm"]["qubitCount"] = "many"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(good))
    with pytest.raises(BackendError, match="bad.json does not match braket.device_schema"):
        snaps._read(path).properties


def test_shipped_files_are_what_the_build_script_writes():
    spec = importlib.util.spec_from_file_location("build_snapshots", PLUGIN / "tools" / "build_snapshots.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--check"]) == 0
    assert sorted(d["file"] for d in mod.DEVICES) == sorted(s.path.name for s in SNAPSHOTS)


def test_every_priced_device_has_a_snapshot_and_the_files_are_package_data():
    table = load_prices()
    for price in table.devices:
        assert any(price.matches(s.arn) for s in SNAPSHOTS), price.key
    for s in SNAPSHOTS:
        assert table.lookup(s.arn) is not None, s.arn
    text = (PLUGIN / "pyproject.toml").read_text()
    assert '"device_snapshots/*.json"' in text  # installed with the wheel, not only in editable mode


def test_credentials_are_read_from_the_environment_and_files_only(no_aws, monkeypatch, offline):
    ok, how = snaps.aws_credentials()
    assert not ok and "aws configure" in how
    home = no_aws / "home" / ".aws"
    home.mkdir(parents=True)
    (home / "config").write_text("[profile research]\nregion = eu-north-1\nsso_session = corp\n")
    monkeypatch.setenv("AWS_PROFILE", "research")
    ok, how = snaps.aws_credentials()
    assert ok and "research" in how and "config" in how
    monkeypatch.delenv("AWS_PROFILE")
    (home / "credentials").write_text("[default]\naws_access_key_id = AKIA\naws_secret_access_key = x\n")
    assert snaps.aws_credentials()[0]
    (home / "credentials").write_text("[default]\nregion = us-east-1\n")  # a profile without credentials
    assert not snaps.aws_credentials()[0]


def _path_in(graph, n):
    """n physical qubits forming a path in the coupling graph (depth-first)."""
    def extend(path):
        if len(path) == n:
            return path
        for b in sorted(graph[path[-1]]):
            if b not in path:
                found = extend(path + [b])
                if found:
                    return found
        return None

    for start in sorted(graph):
        found = extend([start])
        if found:
            return found
    raise AssertionError("no path")


_GATE = re.compile(r"^\s*([a-z_0-9]+)(\([^)]*\))?\s+(\$\d+(?:\s*,\s*\$\d+)*)\s*;")


@pytest.mark.parametrize("snap", SNAPSHOTS, ids=lambda s: s.key)
def test_offline_dry_run_compiles_for_the_device_and_prices_it(snap, no_aws, offline):
    lim = snap.limits
    layout = list(range(3)) if lim.fully_connected else _path_in(lim.graph, 3)
    be = qbridge.get_backend("braket.device", arn=snap.arn, layout=layout)
    assert be.device_source["source"] == "snapshot" and be.device_source["snapshot_as_of"] == snap.as_of
    ghz = Circuit(3).h(0).cx(0, 1).cx(1, 2).ry(2, 0.3).measure_all()
    shots = 1000
    plan = plan_run(be, [ghz], RunConfig(shots=shots, options={"max_cost": 1000.0}))
    d = plan.to_dict()
    assert d["device_source"]["source"] == "snapshot" and d["device_source"]["snapshot_as_of"] == snap.as_of
    price = load_prices().lookup(snap.arn)
    assert d["estimated_cost_usd"] == pytest.approx(price.per_task + shots * price.per_shot)
    assert d["estimate"]["price_date"] == price.as_of
    program = d["circuits"][0]["native_program"]
    ops = set(lim.operations)
    used = []
    for line in program.splitlines():
        m = _GATE.match(line)
        if m and m.group(1) != "measure":
            used.append((m.group(1), [int(q.strip()[1:]) for q in m.group(3).split(",")]))
    assert used, program
    for name, qubits in used:
        assert name in ops, (name, program)
        assert set(qubits) <= set(layout)
        if len(qubits) == 2 and not lim.fully_connected:
            assert qubits[1] in lim.graph[qubits[0]], (qubits, program)
    with pytest.raises(BudgetExceededError, match="nothing was sent"):
        plan_run(be, [ghz], RunConfig(shots=shots, options={"max_cost": 0.01}))
    if not lim.fully_connected:  # two uncoupled qubits: refused at compile time
        a = min(lim.graph)
        b = next(q for q in sorted(lim.graph) if q != a and q not in lim.graph[a])
        far = qbridge.get_backend("braket.device", arn=snap.arn, layout=[a, b])
        with pytest.raises(ValidationError, match="connectivity"):
            plan_run(far, [Circuit(2).h(0).cx(0, 1).measure_all()], RunConfig(shots=shots))


def test_sending_from_a_snapshot_without_credentials_is_refused_before_anything(no_aws, offline):
    store = no_aws / "jobs.sqlite3"
    be = qbridge.get_backend("braket.device", arn="arn:aws:braket:eu-north-1::device/qpu/iqm/Garnet")
    with pytest.raises(BackendUnavailableError, match="offline snapshot.*Nothing was sent"):
        be.run(Circuit(2).h(0).cx(0, 1).measure_all(), RunConfig(shots=100, options={"store": str(store)})).result()
    assert not store.exists() or JobStore(store).list_jobs() == []


def test_unknown_device_without_credentials_names_the_snapshots(no_aws, offline):
    with pytest.raises(BackendUnavailableError, match="no offline snapshot.*iqm/Garnet"):
        qbridge.get_backend("braket.device", arn="arn:aws:braket:us-west-1::device/qpu/rigetti/Cepheus-1-108Q")


def _stubbed_session(arn, document, region="eu-north-1"):
    from botocore.config import Config
    from botocore.stub import Stubber
    from braket.aws import AwsSession

    kw = dict(region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")
    client = boto3.client("braket", config=Config(retries={"max_attempts": 1, "mode": "standard"}), **kw)
    stub = Stubber(client)
    stub.add_response("get_device", {"deviceArn": arn, "deviceName": arn.rsplit("/", 1)[-1], "providerName": "IQM",
                                     "deviceType": "QPU", "deviceStatus": "ONLINE",
                                     "deviceCapabilities": json.dumps(document)}, {"deviceArn": arn})
    stub.activate()
    return AwsSession(boto_session=boto3.Session(**kw), braket_client=client), stub


def test_live_properties_win_and_differences_are_reported(no_aws, offline):
    snap = snaps.snapshot_for("arn:aws:braket:eu-north-1::device/qpu/iqm/Garnet")
    live = json.loads(json.dumps(snap.document))
    live["service"]["shotsRange"] = [1, 10000]
    live["action"]["braket.ir.openqasm.program_set"] = {
        "actionType": "braket.ir.openqasm.program_set", "version": ["1"], "maximumExecutables": 100,
        "maximumTotalShots": 200000}
    session, stub = _stubbed_session(snap.arn, live)
    with pytest.warns(UserWarning, match="differ from qbridge's snapshot") as caught:
        be = qbridge.get_backend("braket.device", arn=snap.arn, aws_session=session)
    stub.assert_no_pending_responses()
    assert be.device_source["source"] == "live" and be.limits.shots_range == (1, 10000)
    diff = be.device_source["differences"]
    assert any("shots range" in x for x in diff) and any("program sets" in x for x in diff)
    assert "live ones are used" in str(caught[0].message)
    # the live program-set limits price the run: ten circuits are one task now
    est = qbridge.jobs.estimate_cost([Circuit(2).h(0).cx(0, 1).measure_all()] * 10, be, shots=1000)
    assert est.provider_tasks == 1 and est.usd == pytest.approx(0.30 + 10_000 * 0.00145)
    # identical live properties: no warning, an empty difference list
    session, _ = _stubbed_session(snap.arn, snap.document)
    be = qbridge.get_backend("braket.device", arn=snap.arn, aws_session=session)
    assert be.device_source["differences"] == []


def test_source_snapshot_is_used_even_with_credentials(no_aws, monkeypatch, offline):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA-TEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    be = qbridge.get_backend("braket.device", arn="arn:aws:braket:us-east-1::device/qpu/ionq/Forte-1",
                             source="snapshot")
    assert be.device_source["source"] == "snapshot" and "not used" in be.device_source["credentials"]
    with pytest.raises(ValueError, match="source must be"):
        qbridge.get_backend("braket.device", arn="arn:aws:braket:us-east-1::device/qpu/ionq/Forte-1", source="x")
