"""Streaming import of large flat programs (qbridge.interop.qasm_stream) gives what the reference
importer gives: the same unitary (global phase included), parameters and measured qubits."""

from __future__ import annotations

import random

import numpy as np
import pytest

pytest.importorskip("qiskit.qasm3")
from qbridge.interop import qasm_stream  # noqa: E402
from qbridge.ir.qasm import importer  # noqa: E402
from qbridge.ir.qasm import QasmError, from_qasm  # noqa: E402
from qbridge.ir.qasm.importer import _Importer  # noqa: E402
from qbridge.sim.statevector import circuit_unitary  # noqa: E402

if qasm_stream._qiskit_loader() is None:  # pragma: no cover - old Qiskit
    pytest.skip("Qiskit without loads_experimental", allow_module_level=True)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _random_program(lines: int, n: int, seed: int) -> str:
    rng = random.Random(seed)
    out = ["// a comment before the header", "OPENQASM 3.0;", 'include "stdgates.inc";']
    out += [f"qubit[{n}] q;", f"bit[{n}] c;"]
    for _ in range(lines):
        r, a = rng.random(), rng.randrange(n)
        b = (a + 1 + rng.randrange(n - 1)) % n
        if r < 0.3:
            out.append(f"cx q[{a}], q[{b}];  // trailing comment")
        elif r < 0.5:
            angle = f"{rng.uniform(-3, 3):.5f}"
            out.append(f"{rng.choice(['rx', 'ry', 'rz', 'p'])}({angle}) q[{a}];")
        elif r < 0.6:
            out.append(f"u3({rng.uniform(-3, 3):.4f}, {rng.uniform(-3, 3):.4f}, {rng.uniform(-3, 3):.4f}) q[{a}];")
        elif r < 0.7:
            out.append(f"{rng.choice(['cz', 'swap', 'cy', 'ch'])} q[{a}], q[{b}];")
        elif r < 0.75:
            out.append("h q;")  # broadcast
        elif r < 0.8:
            out.append(f"barrier q[{a}], q[{b}];")
        else:
            out.append(f"{rng.choice(['h', 'x', 's', 't', 'sdg', 'tdg', 'sx', 'y', 'z'])} q[{a}];")
    out.append(f"c[2] = measure q[0]; c[0] = measure q[{n - 1}];")
    return "\n".join(out) + "\n"


@pytest.fixture
def always_stream(monkeypatch):
    monkeypatch.setattr(qasm_stream, "STREAM_THRESHOLD", 0)
    monkeypatch.setattr(importer, "FAST_READER_MIN_CHARS", 0)
    monkeypatch.setattr(qasm_stream, "CHUNK_STATEMENTS", 37)  # many chunks even for small programs


@pytest.mark.parametrize("seed", range(6))
def test_stream_equals_reference(always_stream, seed):
    text = _random_program(150, 4, seed)
    assert qasm_stream.streamable(text)
    streamed = qasm_stream.stream_from_qasm(text)
    reference = _Importer(text).run()
    assert streamed is not None
    assert streamed.parameter_names == reference.parameter_names
    assert streamed.measured_qubits == reference.measured_qubits == (3, 0)
    values = np.array([[0.37]]) if reference.parameter_names else None
    a = np.asarray(circuit_unitary(streamed.without_measurements(), values))
    b = np.asarray(circuit_unitary(reference.without_measurements(), values))
    np.testing.assert_allclose(a, b, atol=1e-10)


@pytest.mark.parametrize("text", [
    'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nctrl @ x q[0], q[1];\n',  # a modifier
    'OPENQASM 3.0;\ninclude "stdgates.inc";\ngate g a { h a; }\nqubit[1] q;\ng q[0];\n',  # a definition
    'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1];\nh q[0];\n',  # OpenQASM 2
    'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\nh q[0];\nqubit[1] r;\n',  # late declaration
    'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\ngphase(0.5);\n',  # gphase
    'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[3] q;\nx q[-1];\n',  # Qiskit reads q[-1] as q[1]
    'OPENQASM 3.0;\ninclude "stdgates.inc";\ninput float[64] t;\nqubit[1] q;\nrx(t) q[0];\n',  # an input
    'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\nrx(pi/2) q[0];\n',  # an expression
    'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nx q[0:1];\n',  # a range
])
def test_programs_that_are_not_flat_go_to_the_reference_parser(always_stream, text):
    assert not qasm_stream.streamable(text) or qasm_stream.stream_from_qasm(text) is None


def test_errors_in_a_streamed_program_come_from_the_reference_parser(always_stream, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="qbridge.ir.qasm")
    for bad, message in (("x q[7];", "out of range"), ("ccx q[0], q[1], q[0];", "same qubit")):
        text = _random_program(100, 3, 1).replace("h q;", bad, 1)
        assert qasm_stream.streamable(text)  # flat: Qiskit's loader gets it first
        with pytest.raises(QasmError, match=message):
            from_qasm(text)
    assert "reading the program with the reference parser" in caplog.text


def test_huge_declaration_is_left_to_the_importer_check(always_stream):
    text = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1000000000] q;\nh q[0];\n'
    assert qasm_stream.stream_from_qasm(text) is None
    with pytest.raises(QasmError, match="MAX_PROGRAM_QUBITS"):
        from_qasm(text)


def test_small_programs_use_the_reference_parser():
    assert not qasm_stream.streamable(_random_program(20, 3, 0))


def test_split_statements_tracks_lines_and_comments():
    text = "OPENQASM 3.0;\n/* a\n comment; */ qubit[2] q;\n// x q[0];\nh q[0]; cx q[0],\n q[1];\n"
    assert list(qasm_stream.split_statements(text)) == [
        ("OPENQASM 3.0;", 1), ("qubit[2] q;", 3), ("h q[0];", 5), ("cx q[0],\n q[1];", 5)]
