"""braket.device without AWS: validation from capabilities documents, translation, clean failures.

The device programs compiled here are run on Braket's local simulator to check that the
decomposition into the device's gate set is right (the local simulator accepts every gate these
made-up devices accept).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("braket.devices")
pytest.importorskip("boto3")

import qbridge  # noqa: E402
from qbridge import Circuit, Parameter, RunConfig  # noqa: E402
from qbridge.backends.base import Task  # noqa: E402
from qbridge.exceptions import BackendUnavailableError, ValidationError  # noqa: E402
from qbridge_braket.backend import BraketBackendBase, program_source  # noqa: E402
from qbridge_braket.capabilities import describe, make_target, parse_properties  # noqa: E402

from _braket_devices import ION_TRAP_ARN, SUPERCONDUCTING_ARN, ion_trap, superconducting  # noqa: E402
from qbridge.testing.adapters import count_z, reference  # noqa: E402


@pytest.fixture(scope="module")
def ion():
    return qbridge.get_backend("braket.device", arn=ION_TRAP_ARN, properties=ion_trap())


@pytest.fixture(scope="module")
def line():
    return qbridge.get_backend("braket.device", arn=SUPERCONDUCTING_ARN, properties=superconducting(), layout=True)


def test_target_from_the_capabilities_document(ion, line):
    t = ion.target
    assert (t.num_qubits, t.min_shots, t.max_shots) == (11, 1, 5000)
    assert not t.supports_exact and not t.supports_statevector and not t.supports_state_prep
    assert t.noisy and not t.simulator and t.connectivity is None
    assert t.native_gates == {"x", "y", "z", "rx", "ry", "rz", "h", "cx", "s", "sdg", "t", "tdg", "sx", "sxdg",
                              "rxx", "ryy", "rzz", "swap"}
    lt = line.target
    assert lt.num_qubits == 6 and lt.max_shots == 20000
    assert lt.connectivity == {(i, i + 1) for i in range(5)} | {(i + 1, i) for i in range(5)}
    assert line.limits.program_set == (4, 2000, 0)
    # the same facts from the parsed SDK object and from the JSON text
    import json

    assert describe(parse_properties(json.dumps(ion_trap()))) == ion.limits


def test_device_program_uses_only_device_gates_and_is_right(ion):
    a = Parameter("a")
    c = Circuit(3).u(0, 0.3, a, -0.2).ch(0, 1).cp(1, 2, 2 * a).crx(2, 0, a).ccx(0, 1, 2).unitary(
        [[0, 1j], [1j, 0]], [1]).p(2, a)
    task = Task(c, [[0.7], [-1.9]])
    compiled = ion.compile(task, RunConfig(shots=1000))
    ops = set(ion.limits.operations)
    for ex in compiled.program.executables:
        for line in ex.source.splitlines()[1:]:
            if line.startswith(("input", "qubit", "bit", "b =")):
                continue
            assert line.split("(")[0].split(" ")[0] in ops, line
    # the very program a QPU would get, sampled on Braket's local simulator, matches qbridge's reference
    from braket.devices import LocalSimulator
    from braket.ir.openqasm import Program

    sim = LocalSimulator("braket_sv")
    probs = reference(task)["probs"]
    for row in range(2):
        source, inputs = program_source(compiled, row)
        assert set(inputs) == {"p_a"}
        counts = sim.run(Program(source=source, inputs=inputs), shots=4000).result().measurement_counts
        assert count_z(dict(counts), probs[row], 4000) < 5


def test_validation_errors_before_anything_is_sent(ion):
    c = Circuit(2).h(0).cx(0, 1)
    with pytest.raises(ValidationError, match="samples only"):
        ion.run(c).result()
    with pytest.raises(ValidationError, match="outside"):
        ion.run(c, shots=6000).result()
    with pytest.raises(ValidationError, match="cannot be seeded"):
        ion.run(c, shots=100, seed=1).result()
    with pytest.raises(ValidationError, match="12 qubits"):
        ion.run(Circuit(12).h(0), shots=100).result()
    with pytest.raises(ValidationError, match="unitary"):
        ion.run(Circuit(2).unitary(np.eye(4)[[0, 1, 3, 2]], [0, 1]), shots=100).result()


def test_connectivity_is_checked_on_physical_qubits(line):
    with pytest.raises(ValidationError, match="connectivity"):
        line.compile(Task(Circuit(3).cx(0, 2)), RunConfig(shots=100))
    compiled = line.compile(Task(Circuit(3).h(0).cx(0, 1).cz(2, 1)), RunConfig(shots=100))
    source = compiled.program.executables[0].source
    assert "qubit[" not in source and "cnot $1, $2;" in source and "cz $3, $2;" in source
    assert "b[2] = measure $3;" in source
    with pytest.raises(ValidationError, match="does not have"):
        qbridge.get_backend("braket.device", arn=SUPERCONDUCTING_ARN, properties=superconducting(), layout=[0, 1])
    # virtual qubits (the default): Braket places and routes, so no connectivity is imposed
    virtual = qbridge.get_backend("braket.device", arn=SUPERCONDUCTING_ARN, properties=superconducting())
    assert virtual.target.connectivity is None
    virtual.compile(Task(Circuit(3).cx(0, 2)), RunConfig(shots=100))


def test_program_sets_are_packed_within_limits():
    units = [("SRC_A", [{"p_a": float(i)} for i in range(5)]), ("SRC_B", [{}])]
    sets = BraketBackendBase._program_sets(units, 1000, (4, 2000, 0))
    # 2000 total shots / 1000 per executable = 2 executables per set
    assert [ps.total_executables for ps, _ in sets] == [2, 2, 2]
    assert [owners for _, owners in sets] == [[0, 0], [0, 0], [0, 1]]
    first = sets[0][0].entries[0]
    assert first.source == "SRC_A" and first.inputs == {"p_a": [0.0, 1.0]}


def _no_credentials(monkeypatch, tmp_path):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_DEFAULT_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_creation_without_credentials_fails_cleanly_and_fast(monkeypatch, tmp_path):
    _no_credentials(monkeypatch, tmp_path)
    start = time.monotonic()
    with pytest.raises(BackendUnavailableError, match="no AWS credentials") as err:
        qbridge.get_backend("braket.device", arn=ION_TRAP_ARN)
    assert time.monotonic() - start < 10
    assert err.value.backend == "braket.device"


def test_creation_without_network_fails_cleanly(monkeypatch, tmp_path):
    _no_credentials(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAQBRIDGETESTFAKE0")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
    start = time.monotonic()
    with pytest.raises(BackendUnavailableError, match="cannot reach|no answer"):
        qbridge.get_backend("braket.device", arn=ION_TRAP_ARN, connect_timeout=2)
    assert time.monotonic() - start < 30


def test_offline_backend_refuses_to_send_without_credentials(monkeypatch, tmp_path, ion):
    _no_credentials(monkeypatch, tmp_path)
    job = ion.run(Circuit(1).h(0), shots=10)
    with pytest.raises(BackendUnavailableError, match="no AWS credentials"):
        job.result()


def test_arn_is_required():
    with pytest.raises(ValueError, match="ARN"):
        qbridge.get_backend("braket.device")
    with pytest.raises(TypeError, match="unknown option"):
        qbridge.get_backend("braket.device", arn=ION_TRAP_ARN, properties=ion_trap(), shots=3)


def test_local_simulator_targets_are_truthful():
    sv = qbridge.get_backend("braket.local").target
    dm = qbridge.get_backend("braket.dm").target
    assert sv.supports_exact and sv.supports_statevector and sv.simulator and not sv.noisy
    assert sv.num_qubits == 26 and dm.num_qubits == 13
    assert not dm.supports_statevector
    assert sv.max_shots is None and sv.min_shots == 1
    assert make_target(describe(parse_properties(ion_trap()))).gradient_methods == ("parameter-shift",)
    with pytest.raises(TypeError, match="unknown option"):
        qbridge.get_backend("braket.local", noise={"depolarizing": 0.1})
    with pytest.raises(ValueError, match="max_parallel"):
        qbridge.get_backend("braket.local", max_parallel=0)


def test_a_managed_simulator_is_declared_sampling_only():
    # a simulator's capabilities (the local state-vector simulator's own document: SV1 has the same
    # shape) allow exact result types, but cloud runs go through the job store with shots only,
    # so the target says so and an exact run is refused at compile time
    from braket.devices import LocalSimulator

    props = LocalSimulator("braket_sv").properties.json()
    sim = qbridge.get_backend("braket.device", arn="arn:aws:braket:::device/quantum-simulator/amazon/sv1",
                              properties=props)
    assert sim.limits.exact and sim.limits.exact_result("StateVector")
    assert not sim.target.supports_exact and not sim.target.supports_statevector and not sim.target.noisy
    with pytest.raises(ValidationError, match="samples only"):
        sim.compile(Task(Circuit(2).h(0), observables=["XZ"]), RunConfig())
    # the result pragmas themselves, as the local simulators send them
    local = qbridge.get_backend("braket.local")
    compiled = local.compile(Task(Circuit(2, global_phase=0.5).h(0), observables=["XZ + 0.5*ZI"], statevector=True),
                             RunConfig())
    source = compiled.program.executables[0].source
    assert source.endswith("#pragma braket result probability\n#pragma braket result state_vector\n"
                           "#pragma braket result expectation x(q[0]) @ z(q[1])\n"
                           "#pragma braket result expectation z(q[0])\n")
    assert "gphase(0.5);" in source and "i q[1];" in source


def test_counts_map_physical_labels_back_to_circuit_qubits(line):
    from types import SimpleNamespace

    # results name measured qubits by physical label (layout 1..6 here); columns may come in any order
    # columns are physical qubits 3, 1, 2 = circuit qubits 2, 0, 1
    out = SimpleNamespace(measurements=[[1, 0, 0], [1, 1, 0], [0, 0, 1]], measured_qubits=[3, 1, 2])
    assert line._counts(out, 3) == {"001": 1, "101": 1, "010": 1}


def test_cloud_counts_are_read_as_counts_through_the_layout(line, ion):
    """The job store's counts come back re-keyed onto circuit qubits, never expanded into shots
    (10^9 shots cost nothing more to read than 10)."""
    from qbridge_braket.cloud import CountedResult

    phys = list(line._layout)
    # measured physical qubits in the order (second, first): key "10" means circuit qubit 1 read 1
    out = CountedResult({"10": 10**9, "01": 3}, [phys[1], phys[0]])
    assert line._counts(out, 2) == {"01": 10**9, "10": 3}
    assert ion._counts(CountedResult({"110": 5, "011": 2}, [0, 1, 2]), 3) == {"011": 2, "110": 5}
