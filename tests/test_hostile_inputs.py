"""A catalogue of hostile inputs: each gets a typed error with a useful message, fast, and nothing
runs that should not (no simulation, no backend construction, no file change).

Every case names the error type, a fragment of the message, and is checked against a spy on the
torch backend's execution. The CLI cases go through the real ``qbridge`` command.
"""

from __future__ import annotations

import os
import time
import tracemalloc

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import qbridge
from qbridge import Circuit, Estimator, Parameter, RunConfig, Sampler, Task, get_backend
from qbridge.backends.torch import TorchBackend
from qbridge.cli import main
from qbridge.exceptions import (
    ArgumentError,
    ArgumentTypeError,
    BackendNotFoundError,
    EncodingError,
    ObservableError,
    ParameterError,
    QasmError,
    ResourceLimitError,
)
from qbridge.ir.qasm import QasmLimitError, QasmUnsupportedError, from_qasm, from_qasm_file
from qbridge.nn import QFFN, HybridMultiheadAttention, OverlapAttentionHead, QISAAttention, QuantumLayer

H = 'OPENQASM 3.0;\ninclude "stdgates.inc";\n'
Q2 = H + "qubit[2] q;\n"


@pytest.fixture
def ran(monkeypatch):
    """Counts executions on the torch backend (every simulation goes through _execute)."""
    calls = []
    real = TorchBackend._execute

    def spy(self, tasks, config):
        calls.append(len(tasks))
        return real(self, tasks, config)

    monkeypatch.setattr(TorchBackend, "_execute", spy)
    return calls


def _qasm(text):
    return lambda: from_qasm(text)


THETA = Parameter("theta")
BELL = Circuit(2).h(0).cx(0, 1)
ENC = Circuit(2).amplitude_encode("x")

# (id, callable, error type, message fragment)
API_CASES = [
    # -- OpenQASM text -------------------------------------------------------------------
    ("qasm-empty", _qasm(""), QasmError, "program is empty"),
    ("qasm-blank", _qasm("  \n\t\n"), QasmError, "program is empty"),
    ("qasm-bytes", lambda: from_qasm(b"OPENQASM 3.0;"), ArgumentTypeError, "decode it first"),
    ("qasm-none", lambda: from_qasm(None), ArgumentTypeError, "as str"),
    ("qasm-huge-register", _qasm(H + "qubit[1000000000] q;\n"), QasmLimitError, "MAX_PROGRAM_QUBITS"),
    ("qasm-huge-bits", _qasm(H + "qubit[1] q;\nbit[1000000000] c;\n"), ResourceLimitError, "declare fewer bits"),
    ("qasm-registers-add-up", _qasm(H + "qubit[60000] a;\nqubit[60000] b;\n"), QasmLimitError, "120000 qubits"),
    ("qasm-ctrl-huge", _qasm(Q2 + "ctrl(1000000000) @ x q[0], q[1];\n"), QasmError, "control qubit(s)"),
    ("qasm-ctrl-zero", _qasm(Q2 + "ctrl(0) @ x q[0], q[1];\n"), QasmError, "positive number of controls"),
    ("qasm-pow-symbolic", _qasm(H + "input float[64] k;\nqubit[1] q;\npow(k) @ x q[0];\n"),
     QasmUnsupportedError, "constant exponent"),
    ("qasm-pow-param-def-huge",
     _qasm(H + "input float[64] a;\ngate g(t) x, y { rx(t) x; cx x, y; }\nqubit[2] q;\npow(100000) @ g(a) q[0], q[1];\n"),
     QasmUnsupportedError, "limit 64 instructions"),
    ("qasm-pow-inf", _qasm(H + "qubit[1] q;\npow(1e308 * 10) @ x q[0];\n"), QasmError, "non-finite"),
    ("qasm-zero-register", _qasm(H + "qubit[0] q;\n"), QasmError, "positive size"),
    ("qasm-version-4", _qasm("OPENQASM 4.0;\nqubit q;\n"), QasmError, "unsupported version"),
    ("qasm-unknown-gate", _qasm(Q2 + "foo q[0];\n"), QasmError, "unknown gate 'foo'"),
    ("qasm-missing-include", _qasm("OPENQASM 3.0;\nqubit[1] q;\nh q[0];\n"), QasmError, 'include "stdgates.inc"'),
    ("qasm-unknown-include", _qasm('OPENQASM 3.0;\ninclude "mine.inc";\n'), QasmError, "cannot include"),
    ("qasm-index-out-of-range", _qasm(Q2 + "x q[5];\n"), QasmError, "out of range"),
    ("qasm-same-qubit", _qasm(Q2 + "cx q[1], q[1];\n"), QasmError, "same qubit"),
    ("qasm-mid-circuit-measure", _qasm(Q2 + "bit[2] c;\nc[0] = measure q[0];\nx q[0];\n"),
     QasmUnsupportedError, "mid-circuit"),
    ("qasm-reset", _qasm(Q2 + "reset q[0];\n"), QasmUnsupportedError, "reset"),
    ("qasm-if", _qasm(Q2 + "bit c;\nif (c) x q[0];\n"), QasmUnsupportedError, "classical control"),
    ("qasm-for", _qasm(Q2 + "for int i in [0:3] { x q[0]; }\n"), QasmUnsupportedError, "unroll"),
    ("qasm-input-int", _qasm(H + "input int[32] n;\n"), QasmUnsupportedError, "input float"),
    ("qasm-nonlinear", _qasm(H + "input float[64] a;\nqubit[1] q;\nrx(a * a) q[0];\n"), QasmError, "non-linear"),
    ("qasm-division-by-zero", _qasm(H + "qubit[1] q;\nrx(1/0) q[0];\n"), QasmError, "division by zero"),
    ("qasm-sqrt-negative", _qasm(H + "qubit[1] q;\nrx(sqrt(-1)) q[0];\n"), QasmError, "undefined"),
    ("qasm-syntax", _qasm(Q2 + "x q[0]\nx q[1];\n"), QasmError, "syntax error"),
    ("qasm-undeclared-register", _qasm(H + "x r[0];\n"), QasmError, "undeclared qubit register"),
    ("qasm-redefinition", _qasm(Q2 + "qubit[1] q;\n"), QasmError, "redefinition"),
    # -- run settings -------------------------------------------------------------------------
    ("shots-zero", lambda: RunConfig(shots=0), ArgumentError, "between 1 and"),
    ("shots-2^63", lambda: RunConfig(shots=2**63), ArgumentError, "2^63 - 1"),
    ("shots-float", lambda: RunConfig(shots=1.5), ArgumentError, "positive integer"),
    ("shots-bool", lambda: RunConfig(shots=True), ArgumentError, "positive integer"),
    ("seed-negative", lambda: RunConfig(seed=-1), ArgumentError, "non-negative"),
    ("seed-string", lambda: RunConfig(seed="7"), ArgumentTypeError, "non-negative integer"),
    ("precision-half", lambda: RunConfig(precision="half"), ArgumentError, "'single' or 'double'"),
    ("run-shots-2^63", lambda: get_backend("torch").run(BELL, shots=2**63), ArgumentError, "2^63 - 1"),
    # -- backends -----------------------------------------------------------------------------
    ("backend-unknown", lambda: get_backend("nope"), BackendNotFoundError, "no backend named"),
    ("backend-typo-option", lambda: get_backend("torch", devise="cpu"), ArgumentTypeError, "did you mean 'device'"),
    ("backend-aer-unknown-option", lambda: get_backend("aer", foo=1), ArgumentTypeError, "it accepts aer_options"),
    ("backend-example-unknown-option", lambda: get_backend("example", max_qbits=3), ArgumentTypeError,
     "did you mean 'max_qubits'"),
    ("backend-braket-local-unknown-option", lambda: get_backend("braket.local", foo=1), ArgumentTypeError,
     "it accepts max_parallel"),
    ("backend-too-many-qubits", lambda: get_backend("torch").run(Circuit(31).h(0)).result(), qbridge.exceptions.ValidationError,
     "has 30"),
    ("unitary-20-qubits", lambda: __import__("qbridge.sim.statevector", fromlist=["x"]).circuit_unitary(Circuit(20).h(0)),
     ResourceLimitError, "1048576x1048576 unitary"),
    # -- numbers ------------------------------------------------------------------------------
    ("task-nan-parameter", lambda: get_backend("torch").run(Task(Circuit(1).ry(0, THETA), np.array([[np.nan]]))),
     ParameterError, "NaN or inf in row 0"),
    ("task-nan-input-row", lambda: get_backend("torch").run(Task(ENC, None, {"x": np.array([[1, 0, 0, 0], [np.nan, 1, 0, 0]])})),
     EncodingError, "row 1"),
    ("task-inf-input", lambda: get_backend("torch").run(Task(ENC, None, {"x": torch.tensor([[np.inf, 1.0]])})),
     EncodingError, "non-finite"),
    ("task-zero-row", lambda: get_backend("torch").run(Task(ENC, None, {"x": np.array([[1.0, 0], [0.0, 0]])})),
     EncodingError, "row 1 is a zero vector"),
    ("qffn-nan-row", lambda: QFFN(4)(torch.tensor([[1.0, 2, 3, 4], [float("nan"), 0, 0, 1]])), EncodingError, "row 1"),
    ("qffn-all-nan", lambda: QFFN(4)(torch.full((3, 4), float("nan"))), EncodingError, "rows 0, 1, 2"),
    ("qffn-inf", lambda: QFFN(4)(torch.tensor([[float("inf"), 0, 0, 0]])), EncodingError, "non-finite"),
    ("layer-nan-row", lambda: QuantumLayer(ENC.ry(0, THETA), ["ZI"])(torch.tensor([[1.0, 0, 0, 0], [0, float("nan"), 0, 0]])),
     EncodingError, "row 1"),
    # -- layer constructors -------------------------------------------------------------------
    ("qffn-float-width", lambda: QFFN(8.5), ArgumentTypeError, "d_model must be an integer"),
    ("qffn-huge-width", lambda: QFFN(2**40), ArgumentError, "needs 40 qubits"),
    ("qffn-zero-width", lambda: QFFN(0), ArgumentError, "d_model must be >= 1"),
    ("qffn-bool-width", lambda: QFFN(True), ArgumentTypeError, "d_model must be an integer"),
    ("qffn-negative-depth", lambda: QFFN(8, depth=-1), ArgumentError, "depth must be >= 0"),
    ("qffn-float-depth", lambda: QFFN(8, depth=2.5), ArgumentTypeError, "depth must be an integer"),
    ("attention-float-head", lambda: OverlapAttentionHead(8, 4.0), ArgumentTypeError, "d_head must be an integer"),
    ("attention-zero-heads", lambda: HybridMultiheadAttention(8, 0), ArgumentError, "n_heads must be >= 1"),
    ("qisa-huge", lambda: QISAAttention(2**40), ArgumentError, "needs 40 qubits"),
    # -- primitives ---------------------------------------------------------------------------
    ("estimator-int-observable", lambda: Estimator("torch").run(BELL, 5), ObservableError, "got int"),
    ("estimator-list-of-ints", lambda: Estimator("torch").run(BELL, [5]), ObservableError, "a list holding int"),
    ("estimator-empty", lambda: Estimator("torch").run(BELL, []), ObservableError, "at least one observable"),
    ("sampler-mismatch", lambda: Sampler("torch").run([BELL, BELL], [None]), ValueError, "one entry per"),
]


@pytest.mark.parametrize("fn,exc,fragment", [pytest.param(f, e, m, id=i) for i, f, e, m in API_CASES])
def test_api_hostile_input(fn, exc, fragment, ran):
    start = time.perf_counter()
    with pytest.raises(exc, match=None) as info:
        fn()
    assert fragment in str(info.value), str(info.value)
    assert ran == []  # refused before any simulation
    assert time.perf_counter() - start < 30


def test_catalogue_is_large_enough():
    assert len(API_CASES) + len(CLI_CASES) + len(OTHER_CASES) >= 60


@pytest.mark.parametrize("text", [H + "qubit[1000000000] q;\n", H + "qubit[1] q;\npow(1000000000) @ x q[0];\n",
                                  H + "qubit[12] q;\nctrl(11) @ x " + ", ".join(f"q[{i}]" for i in range(12)) + ";\n"])
def test_hostile_programs_cost_little(text):
    tracemalloc.start()
    start = time.perf_counter()
    try:
        from_qasm(text)
    except QasmError:
        pass
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 64 * 2**20 and elapsed < 20  # "well under a second" unloaded; CI is shared


def test_memory_estimate_refuses_before_allocating(monkeypatch, ran):
    monkeypatch.setenv("QBRIDGE_MEMORY_LIMIT", "1GiB")
    with pytest.raises(ResourceLimitError, match="27-qubit state vector") as info:
        get_backend("torch").run(Circuit(27).h(0), precision="double").result()
    assert "QBRIDGE_MEMORY_LIMIT=1GiB" in str(info.value) and "fewer qubits" in str(info.value)
    assert info.value.needed == 2**27 * 16 * 3 and ran == []


def test_bad_memory_cap_is_named(monkeypatch):
    monkeypatch.setenv("QBRIDGE_MEMORY_LIMIT", "lots")
    with pytest.raises(ResourceLimitError, match="not a size"):
        get_backend("torch").run(Circuit(1).h(0)).result()


def test_shots_that_cannot_fit_in_memory_are_refused_up_front(monkeypatch):
    be = get_backend("braket.local")
    calls = []
    monkeypatch.setattr(type(be), "_execute", lambda self, *a: calls.append(a))
    with pytest.raises(ResourceLimitError, match="keeps every shot"):
        be.run(BELL.measure_all(), shots=10**12).result()
    assert calls == []


def test_tiny_and_huge_rows_are_encoded_not_refused():
    be = get_backend("torch")
    for scale in (1e-300, 1e-30, 1e30, 1e300):
        for precision in ("single", "double"):
            x = np.array([[3.0, 4.0, 0.0, 0.0]]) * scale
            probs = be.run(Task(ENC, None, {"x": x}), precision=precision).result()[0].get_probabilities(0)
            assert probs["00"] == pytest.approx(0.36, abs=1e-5) and probs["01"] == pytest.approx(0.64, abs=1e-5)


def test_integer_inputs_to_a_layer_are_converted():
    torch.manual_seed(0)
    layer = QFFN(4)
    y = layer(torch.tensor([[1, 2, 3, 4]], dtype=torch.int64))
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, layer(torch.tensor([[1.0, 2.0, 3.0, 4.0]])))
    q = QuantumLayer(ENC.ry(0, THETA), ["ZI"])
    torch.testing.assert_close(q(torch.tensor([[0, 3, 0, 4]])), q(torch.tensor([[0.0, 3.0, 0.0, 4.0]])))


def test_mitigation_on_an_exact_backend_is_warned_about():
    from qbridge.mitigation.pipeline import MitigationIneffectiveWarning

    with pytest.warns(MitigationIneffectiveWarning, match="does nothing on torch"):
        Estimator("torch").run(BELL, "ZZ", mitigation="readout")


# -- the command line --------------------------------------------------------------------------

def _write(tmp_path, name, data):
    path = tmp_path / name
    (path.write_bytes if isinstance(data, bytes) else path.write_text)(data)
    return str(path)


PARAM_PROGRAM = H + "input float[64] theta;\nqubit[1] q;\nrx(theta) q[0];\n"

# (id, program text or bytes, extra args, error type name, message fragment)
CLI_CASES = [
    ("cli-param-abc", PARAM_PROGRAM, ["--param", "theta=abc"], "ParameterError", "finite decimal number"),
    ("cli-param-true", PARAM_PROGRAM, ["--param", "theta=true"], "ParameterError", "finite decimal number"),
    ("cli-param-nan", PARAM_PROGRAM, ["--param", "theta=nan"], "ParameterError", "finite decimal number"),
    ("cli-param-inf", PARAM_PROGRAM, ["--param", "theta=1e999"], "ParameterError", "finite decimal number"),
    ("cli-param-unknown", PARAM_PROGRAM, ["--param", "theta=1", "--param", "phi=2"], "ParameterError",
     "no program declares this input"),
    ("cli-param-no-equals", PARAM_PROGRAM, ["--param", "theta"], "ParameterError", "not NAME=VALUE"),
    ("cli-param-twice", PARAM_PROGRAM, ["--param", "theta=1", "--param", "theta=2"], "ParameterError", "given twice"),
    ("cli-param-missing", PARAM_PROGRAM, [], "", "give values for input parameter(s) ['theta']"),
    ("cli-seed-negative", Q2 + "h q[0];\n", ["--seed", "-1"], "", "x>=0"),
    ("cli-shots-2^63", Q2 + "h q[0];\n", ["--shots", "9223372036854775808"], "", "9223372036854775807"),
    ("cli-shots-zero", Q2 + "h q[0];\n", ["--shots", "0"], "", "1<=x<=9223372036854775807"),
    ("cli-unknown-option", Q2 + "h q[0];\n", ["-b", "aer", "-o", "foo=1"], "ArgumentTypeError", "unknown option(s) 'foo'"),
    ("cli-empty-file", "", [], "QasmError", "is empty"),
    ("cli-binary-file", b"\x7fELF\x02\x01\x01\x00\x00\x00", [], "QasmError", "not a text file"),
    ("cli-latin1-file", "OPENQASM 3.0; // caf\xe9\n".encode("latin-1"), [], "QasmError", "not UTF-8"),
    ("cli-huge-register", H + "qubit[1000000000] q;\n", [], "QasmLimitError", "MAX_PROGRAM_QUBITS"),
    ("cli-memory", H + "qubit[29] q;\nh q[0];\n", ["--precision", "double"], "ResourceLimitError",
     "QBRIDGE_MEMORY_LIMIT=512MiB"),
]


@pytest.mark.parametrize("data,args,kind,fragment", [pytest.param(d, a, k, f, id=i) for i, d, a, k, f in CLI_CASES])
def test_cli_hostile_input(tmp_path, data, args, kind, fragment, ran, monkeypatch):
    monkeypatch.setenv("QBRIDGE_MEMORY_LIMIT", "512MiB")
    path = _write(tmp_path, "p.qasm", data)
    out = CliRunner().invoke(main, ["run", path, *args])
    assert out.exit_code == 2, out.output
    assert "Traceback" not in out.output
    if kind:
        assert f"error: {kind}:" in out.output, out.output
    assert fragment in out.output, out.output
    assert ran == []


# the job-store cases live in test_jobs_readonly.py; these count toward the catalogue
OTHER_CASES = [
    "read-only store: list/show/result work",
    "read-only store: budget refused as read-only",
    "read-only flag: every write refused",
    "damaged read-only store: damaged",
    "missing store read-only: refused, not created",
    "mode of an existing store never changed",
    "memory estimate refused before allocating",
    "bad memory cap",
    "shots beyond memory of a backend that keeps shots",
]


def test_file_api_matches_the_cli(tmp_path):
    with pytest.raises(QasmError, match="not a text file"):
        from_qasm_file(_write(tmp_path, "b.qasm", b"\x00\x01"))
    with pytest.raises(QasmError, match="is empty"):
        from_qasm_file(_write(tmp_path, "e.qasm", ""))
    assert os.path.getsize(tmp_path / "e.qasm") == 0
