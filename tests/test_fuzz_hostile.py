"""Fuzzing of the hostile-input surface with hypothesis: whatever the input, qbridge returns a
result or raises one of its own typed errors -- never a raw ValueError, TypeError, MemoryError,
UnicodeDecodeError or torch error -- and what it returns is right.

Fixed seeds (``derandomize=True``) so that CI is reproducible; findings are fixed and kept as
explicit examples (``@example``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from qbridge import RunConfig  # noqa: E402
from qbridge.cli._common import parse_params  # noqa: E402
from qbridge.exceptions import EncodingError, QBridgeError  # noqa: E402
from qbridge.ir.qasm import from_qasm  # noqa: E402
from qbridge.sim.statevector import normalised_rows  # noqa: E402

FUZZ = settings(max_examples=int(__import__("os").environ.get("QBRIDGE_FUZZ_EXAMPLES", "150")), deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

H = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[3] q;\n'

_gates = st.sampled_from(["x", "h", "s", "t", "cx", "ccx", "rx(0.3)", "ry(pi/3)", "rz(-1)", "p(1e308*10)",
                          "U(1, 2, 3)", "swap", "cp(0.2)", "foo", "gphase(0.5)", "sdg", "rx(1/0)", "id"])
_mods = st.lists(st.sampled_from(["inv @ ", "ctrl @ ", "negctrl @ ", "ctrl(2) @ ", "pow(2) @ ", "pow(-3) @ ",
                                  "pow(0.5) @ ", "pow(1e9) @ ", "ctrl(100000000) @ ", "pow(1e400) @ "]), max_size=3)
_operands = st.lists(st.sampled_from(["q[0]", "q[1]", "q[2]", "q", "q[-1]", "q[7]", "q[0:1]"]), min_size=0, max_size=4)


@st.composite
def statements(draw):
    return "".join(draw(_mods)) + draw(_gates) + " " + ", ".join(draw(_operands)) + ";"


@FUZZ
@given(st.lists(statements(), max_size=6))
@example(["ctrl(2) @ pow(0.5) @ h q[0], q[1], q[2];"])
@example(["pow(1e400) @ x q[0];"])
def test_programs_give_a_circuit_or_a_typed_error(stmts):
    try:
        circuit = from_qasm(H + "\n".join(stmts) + "\n")
    except QBridgeError:
        return
    assert circuit.num_qubits == 3 and len(circuit) < 10_000


@FUZZ
@given(st.binary(max_size=64) | st.text(max_size=64))
@example(b"\xff\xfe")
@example("OPENQASM 3.0; qubit[99999999999999999999] q;")
def test_arbitrary_text_never_escapes_untyped(data):
    try:
        if isinstance(data, bytes):
            from_qasm(data)
        else:
            from_qasm(data)
    except QBridgeError:
        pass


_floats = st.floats(allow_nan=True, allow_infinity=True, width=64)


@FUZZ
@given(st.lists(st.lists(_floats, min_size=4, max_size=4), min_size=1, max_size=5),
       st.sampled_from([torch.complex64, torch.complex128]))
@example([[1e-300, 2e-300, 0.0, 0.0]], torch.complex64)
@example([[1e300, -1e300, 1e300, 0.0]], torch.complex64)
@example([[5e-324, 0.0, 0.0, 0.0]], torch.complex128)
@example([[1.7976931348623157e308, 1.7976931348623157e308, 0.0, 0.0]], torch.complex128)
def test_rows_are_normalised_or_named(rows, cdtype):
    x = np.array(rows, dtype=np.float64)
    finite = np.isfinite(x).all(axis=1)
    nonzero = np.abs(np.where(np.isfinite(x), x, 1.0)).max(axis=1) > 0
    try:
        out = normalised_rows(x, 4, cdtype, "cpu", "x")
    except EncodingError as exc:
        bad = np.flatnonzero(~finite)
        if len(bad):
            assert f"row{'s' if len(bad) > 1 else ''} {bad[0]}" in str(exc)
        else:
            assert not nonzero.all() and "zero vector" in str(exc)
        return
    assert finite.all() and nonzero.all()
    norms = torch.linalg.vector_norm(out.to(torch.float64), dim=1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5)
    # the direction is the input's: compare with a float64 reference scaled by the largest entry
    ref = x / np.abs(x).max(axis=1, keepdims=True)
    ref = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    np.testing.assert_allclose(out.to(torch.float64).numpy(), ref, atol=1e-5)


@FUZZ
@given(shots=st.one_of(st.none(), st.integers(), st.floats(), st.text(max_size=3), st.booleans()),
       seed=st.one_of(st.none(), st.integers(), st.floats(), st.text(max_size=3)),
       precision=st.sampled_from(["single", "double", "half", "", 3]))
def test_run_config_refuses_with_typed_errors(shots, seed, precision):
    try:
        cfg = RunConfig(shots=shots, seed=seed, precision=precision)
    except QBridgeError:
        return
    assert cfg.shots is None or 1 <= cfg.shots <= 2**63 - 1
    assert cfg.seed is None or cfg.seed >= 0


@FUZZ
@given(st.lists(st.text(alphabet="theta=0123456789.eE+-xnaifru_ ", max_size=12), max_size=4))
@example(["theta=1e999"])
@example(["theta=.5", "phi=-3e-2"])
def test_param_values_are_numbers_or_refused(pairs):
    try:
        values = parse_params(pairs)
    except QBridgeError:
        return
    assert all(isinstance(v, float) and math.isfinite(v) for v in values.values())


_BASES = {  # qbridge text, qiskit gate factory, qubits, whether fractional powers are unambiguous
    "h": ("h", lambda lib: lib.HGate(), 1, False),
    "x": ("x", lambda lib: lib.XGate(), 1, False),
    "t": ("t", lambda lib: lib.TGate(), 1, True),
    "rx": ("rx(0.3)", lambda lib: lib.RXGate(0.3), 1, True),
    "u": ("U(0.4, 1.1, -0.6)", lambda lib: lib.UGate(0.4, 1.1, -0.6), 1, True),
    "cx": ("cx", lambda lib: lib.CXGate(), 2, False),
    "cp": ("cp(0.7)", lambda lib: lib.CPhaseGate(0.7), 2, True),
}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@FUZZ
@given(st.sampled_from(sorted(_BASES)),
       st.lists(st.sampled_from(["inv", "ctrl", "negctrl", "pow2", "pow-1", "pow3", "pow0.5"]), max_size=3))
@example("x", ["ctrl", "ctrl", "ctrl"])
@example("cp", ["pow0.5", "negctrl"])
def test_modifier_chains_match_qiskit(base, mods):
    qiskit = pytest.importorskip("qiskit")
    from qiskit.circuit import library as lib
    from qiskit.quantum_info import Operator

    from qbridge.sim.statevector import circuit_unitary

    text, make, nq, fractional = _BASES[base]
    if "pow0.5" in mods and not fractional:
        mods = [m for m in mods if m != "pow0.5"]
    gate = make(lib)
    for m in reversed(mods):  # the modifier nearest the gate applies first
        if m == "inv":
            gate = gate.inverse()
        elif m.startswith("pow"):
            gate = gate.power(float(m[3:]))
        else:
            gate = gate.control(1, ctrl_state=1 if m == "ctrl" else 0)
    n = nq + sum(m in ("ctrl", "negctrl") for m in mods)
    words = {"inv": "inv", "ctrl": "ctrl", "negctrl": "negctrl"}
    prefix = "".join(f"{words.get(m, 'pow(' + m[3:] + ')')} @ " for m in mods)
    program = f'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[{n}] q;\n{prefix}{text} ' + \
        ", ".join(f"q[{i}]" for i in range(n)) + ";\n"
    qc = qiskit.QuantumCircuit(n)
    qc.append(gate, list(range(n)))
    want = Operator(qc).reverse_qargs().data
    got = np.asarray(circuit_unitary(from_qasm(program)))
    np.testing.assert_allclose(got, want, atol=1e-8)
