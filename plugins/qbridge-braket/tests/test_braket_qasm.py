"""The OpenQASM translator: every gate on Braket's simulator against qbridge; names; bit order."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("braket.devices")
pytest.importorskip("braket.default_simulator")

from scipy.stats import unitary_group  # noqa: E402

import qbridge  # noqa: E402
from qbridge import Circuit, Parameter  # noqa: E402
from qbridge.backends.base import Task  # noqa: E402
from qbridge.ir.gates import GATES  # noqa: E402
from qbridge_braket.qasm import BRAKET_GATES, NoiseModel, format_param, native_gates, to_openqasm  # noqa: E402

from qbridge.testing.adapters import reference  # noqa: E402


@pytest.fixture(scope="module")
def local():
    return qbridge.get_backend("braket.local")


def _scrambled(k: int, rng) -> Circuit:
    """A generic k-qubit state, so a gate's every matrix entry shows in the result."""
    c = Circuit(k)
    for q in range(k):
        c = c.u(q, *rng.uniform(-np.pi, np.pi, 3))
    for q in range(k - 1):
        c = c.cx(q, q + 1)
    for q in range(k):
        c = c.u(q, *rng.uniform(-np.pi, np.pi, 3))
    return c


def test_every_gate_runs_with_qbridges_matrix_on_braket(local):
    rng = np.random.default_rng(3)
    tasks, names = [], []
    for name in sorted(GATES):
        g = GATES[name]
        c = _scrambled(g.num_qubits, rng).append(name, list(reversed(range(g.num_qubits))),
                                                  rng.uniform(-2 * np.pi, 2 * np.pi, g.num_params))
        tasks.append(Task(c.with_global_phase(0.4), statevector=True))
        names.append(name)
    for k in (1, 2, 3):
        u = unitary_group.rvs(2**k, random_state=rng)
        tasks.append(Task(_scrambled(k, rng).unitary(u, list(reversed(range(k)))), statevector=True))
        names.append(f"unitary{k}")
    results = local.run(tasks, precision="double").result()
    for name, task, res in zip(names, tasks, results):
        np.testing.assert_allclose(res.statevector, reference(task)["state"], atol=1e-10, err_msg=name)


def test_native_gates_are_written_with_braket_names(local):
    assert local.target.native_gates == frozenset(BRAKET_GATES) | {"unitary"}
    c = Circuit(3)
    for name in sorted(BRAKET_GATES):
        g = GATES[name]
        c = c.append(name, list(range(g.num_qubits)), [0.1] * g.num_params)
    source, _ = to_openqasm(c, shots=False)
    for name, braket in BRAKET_GATES.items():
        assert f"\n{braket}" in source, name
    assert set(GATES) - local.target.native_gates == {"ch", "crx", "cry", "crz"}  # no Braket gate: decomposed


def test_native_gates_from_operation_names():
    assert native_gates(["GPhase", "U", "cnot", "Phase_Shift"]) == {"u", "cx", "p"}
    assert "unitary" in native_gates(["x"], ["braket_unitary_matrix"])


def test_multi_controlled_gates_reach_braket_decomposed(local):
    # not as `ctrl @` modifiers: see the next test; ctrl(11) @ x arrives in library gates
    assert "mcu" not in local.target.native_gates
    assert "mcu" not in qbridge.get_backend("braket.dm").target.native_gates
    big = Circuit(12)
    for q in range(12):
        big = big.x(q)
    big = big.mcx(range(11), 11)
    source = local.native_program_text(local.compile(Task(big), qbridge.RunConfig()))
    assert "ctrl" not in source and "ccnot" in source
    assert local.run(big).result()[0].probabilities[0, 2**12 - 2] == pytest.approx(1.0)


@pytest.mark.xfail(strict=True, raises=AssertionError, reason="amazon-braket-default-simulator 1.41 applies `ctrl @` wrongly on some "
                   "states; when this passes, consider sending mcu as `ctrl(m) @ U` to Braket's simulators")
def test_braket_simulators_apply_the_ctrl_modifier_like_the_gate_it_names():
    import logging

    from braket.devices import LocalSimulator
    from braket.ir.openqasm import Program

    rng = np.random.default_rng(0)
    prep = "".join(f"U({a}, {b}, {c}) q[{i}];\n" for i, (a, b, c) in enumerate(rng.uniform(-3, 3, (4, 3)).tolist()))

    def state(gate):
        src = f"OPENQASM 3.0;\nqubit[4] q;\n{prep}{gate} q[1], q[3];\n#pragma braket result state_vector\n"
        return LocalSimulator("braket_sv").run(Program(source=src), shots=0).result().values[0]

    logging.disable(logging.WARNING)  # "may not be supported on QPUs"
    try:  # measured: `ctrl @ x` left this state unchanged (0.93 from cnot's); braket_dm errs too
        np.testing.assert_allclose(state("ctrl @ x"), state("cnot"), atol=1e-12)
    finally:
        logging.disable(logging.NOTSET)


def test_parameters_become_prefixed_inputs_even_when_named_like_gates_or_registers(local):
    x, q, b = Parameter("x"), Parameter("q"), Parameter("b")
    c = Circuit(2).rx(0, x).ry(1, 0.5 * q - 0.25).cp(0, 1, b - x).x(1)
    source, declared = to_openqasm(c, shots=False)
    assert declared == ("p_x", "p_q", "p_b")
    assert "rx(p_x) q[0];" in source and "ry(0.5*p_q - 0.25) q[1];" in source
    assert "cphaseshift(p_b - p_x) q[0], q[1];" in source
    task = Task(c, [[0.3, 1.1, -0.7], [2.0, -1.0, 0.2]], statevector=True)
    res = local.run(task, precision="double").result()[0]
    np.testing.assert_allclose(res.statevector, reference(task)["state"], atol=1e-12)


def test_format_param():
    a, b = Parameter("a"), Parameter("b")
    assert format_param(0.5) == "0.5"
    assert format_param(1e-5) == "1e-05"
    assert format_param(a) == "p_a"
    assert format_param(-a) == "-p_a"
    assert format_param(2 * a - b + 0.125) == "2.0*p_a - p_b + 0.125"


def test_bit_order_qubit_zero_is_the_most_significant_bit(local):
    probs = local.run(Circuit(3).x(0), precision="double").result()[0].probabilities[0]
    assert np.argmax(probs) == 4 and probs[4] == pytest.approx(1.0)
    assert local.run(Circuit(3).x(0), shots=30, seed=1).result()[0].counts[0] == {"100": 30}
    assert local.run(Circuit(3).x(2), shots=30, seed=1).result()[0].counts[0] == {"001": 30}
    # an unused middle qubit keeps its place in exact results (Braket drops unused qubits unless named)
    probs = local.run(Circuit(3).x(0).x(2), precision="double").result()[0].probabilities[0]
    assert probs[0b101] == pytest.approx(1.0)


def test_unitary_pragma_first_target_is_most_significant(local):
    cx = np.eye(4)[[0, 1, 3, 2]]
    c = Circuit(2).x(1).unitary(cx, [1, 0])  # control qubit 1, target qubit 0
    assert local.run(c, shots=20, seed=1).result()[0].counts[0] == {"11": 20}
    source, _ = to_openqasm(Circuit(1).unitary([[0, 1j], [1j, 0]], [0]), shots=False)
    assert "#pragma braket unitary([[0.0, 1.0im], [1.0im, 0.0]]) q[0]" in source


def test_noise_model_option_format():
    noise = NoiseModel.parse({"depolarizing": 0.01, "readout": 0.02})
    assert noise.active and noise.gate_noise and noise.to_dict() == {"depolarizing": 0.01, "readout": 0.02}
    assert not NoiseModel.parse({"readout": 0.1}).gate_noise
    assert not NoiseModel.parse(None).active
    with pytest.raises(ValueError, match="unknown noise channel"):
        NoiseModel.parse({"depolarising": 0.1})
    with pytest.raises(ValueError, match=r"\[0, 0.75\]"):
        NoiseModel.parse({"depolarizing": 0.9})
    with pytest.raises(ValueError, match="probability"):
        NoiseModel.parse({"readout": "high"})
    with pytest.raises(TypeError, match="mapping"):
        NoiseModel.parse(0.1)
    source, _ = to_openqasm(Circuit(2).h(0).cx(0, 1), shots=True, noise=NoiseModel.parse(
        {"depolarizing": 0.01, "two_qubit_depolarizing": 0.02, "readout": 0.03}))
    assert source.splitlines()[3:] == [
        "h q[0];",
        "#pragma braket noise depolarizing(0.01) q[0]",
        "cnot q[0], q[1];",
        "#pragma braket noise two_qubit_depolarizing(0.02) q[0], q[1]",
        "#pragma braket noise bit_flip(0.03) q[0]",
        "#pragma braket noise bit_flip(0.03) q[1]",
        "b = measure q;",
    ]


def test_physical_qubits_are_written_as_dollar_references():
    source, _ = to_openqasm(Circuit(2).h(0).cx(0, 1), shots=True, physical_qubits=(4, 5))
    assert "qubit[" not in source
    assert "cnot $4, $5;" in source and "b[0] = measure $4;" in source and "b[1] = measure $5;" in source


def test_import_does_not_import_the_braket_sdk():
    code = ("import sys, qbridge, qbridge_braket; qbridge.list_backends(); "
            "print(any(m == 'braket' or m.startswith('braket.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
