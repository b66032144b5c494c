"""The JSON form of circuits (qbridge.ir.serialize): exact round trips and typed errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from qbridge.exceptions import CircuitError
from qbridge.ir import GATES, Circuit, Parameter
from qbridge.ir.serialize import FORMAT_VERSION, SerializationError, from_dict, from_json, to_dict, to_json
from qbridge.sim.statevector import circuit_unitary


def bits(x: float) -> str:
    return float(x).hex()


@pytest.mark.parametrize("name", sorted(GATES))
def test_every_gate_round_trips_bit_exactly(name):
    rng = np.random.default_rng(sum(map(ord, name)) + 1)
    g = GATES[name]
    qs = [int(q) for q in rng.choice(4, g.num_qubits, replace=False)]
    ps = [float(v) for v in rng.uniform(-7, 7, g.num_params)]
    c = Circuit(4, global_phase=float(rng.normal())).append(name, qs, ps)
    back = from_json(to_json(c))
    assert back == c
    assert [bits(p) for p in back.instructions[0].params] == [bits(p) for p in ps]
    assert bits(back.global_phase) == bits(c.global_phase)


def test_every_instruction_kind_round_trips():
    rng = np.random.default_rng(0)
    theta, phi = Parameter("theta"), Parameter("phi")
    u2 = np.linalg.qr(rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4)))[0]
    u1 = np.linalg.qr(rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2)))[0]
    vec = rng.normal(size=4) + 1j * rng.normal(size=4)
    c = (
        Circuit(7, global_phase=0.5 * theta - 1.25, name="everything")
        .amplitude_encode("pixels", [0, 1])
        .amplitude_encode(vec, [2, 3])
        .amplitude_encode([1.0, 0.0], [6])
        .rx(4, theta)
        .rz(5, -3.0 * theta + 2.0 * phi + 1e-300)
        .u(4, theta, -phi, 0.1)
        .unitary(u2, [4, 5])
        .unitary(u1, 0)
        .barrier([0, 4])
        .cswap(0, 4, 5)
        .measure([5, 0])
        .barrier()
        .measure(4)
    )
    text = to_json(c)
    back = from_json(text)
    assert back == c
    assert back.name == "everything"
    assert back.parameter_names == c.parameter_names == ("theta", "phi")
    assert back.inputs == {"pixels": 4}
    assert back.measured_qubits == (5, 0, 4)
    # matrices and vectors are bit-exact too
    assert back.instructions[6].matrix == c.instructions[6].matrix
    assert back.instructions[1].source == c.instructions[1].source
    # and the text is the documented schema
    doc = json.loads(text)
    assert doc["qbridge_circuit"] == FORMAT_VERSION == 1
    assert doc["global_phase"] == {"const": -1.25, "terms": [["theta", 0.5]]}
    assert doc["instructions"][0] == {"op": "amplitude_encode", "qubits": [0, 1], "input": "pixels"}
    assert doc["instructions"][2]["vector"] == [[1.0, 0.0], [0.0, 0.0]]
    assert doc["instructions"][3] == {"op": "rx", "qubits": [4], "params": [{"const": 0.0, "terms": [["theta", 1.0]]}]}
    assert doc["instructions"][10] == {"op": "measure", "qubits": [5, 0]}
    assert to_dict(back) == doc


def test_awkward_floats_survive():
    values = [5e-324, 1e308, -0.0, 0.1 + 0.2, math.pi, -1 / 3, 2.0**-1074]
    c = Circuit(1, global_phase=-0.0)
    for v in values:
        c = c.ry(0, v)
    back = from_json(to_json(c))
    assert [bits(op.params[0]) for op in back] == [bits(v) for v in values]


def test_random_circuits_round_trip_and_keep_their_unitary():
    rng = np.random.default_rng(42)
    names = sorted(GATES)
    a = Parameter("a")
    for _ in range(20):
        c = Circuit(4, global_phase=float(rng.uniform(-3, 3)))
        for _ in range(30):
            g = GATES[names[rng.integers(len(names))]]
            qs = [int(q) for q in rng.choice(4, g.num_qubits, replace=False)]
            ps = [float(rng.uniform(-5, 5)) * a + float(rng.normal()) if rng.random() < 0.3 else float(rng.normal())
                  for _ in range(g.num_params)]
            c = c.append(g.name, qs, ps)
        c = c.rx(0, a)  # at least one use of the parameter
        back = from_json(to_json(c))
        assert back == c
        np.testing.assert_array_equal(circuit_unitary(back.bind({"a": 0.7})), circuit_unitary(c.bind({"a": 0.7})))


def test_circuit_methods_and_bytes():
    c = Circuit(2).h(0).cx(0, 1).measure()
    assert Circuit.from_json(c.to_json()) == c
    assert from_json(c.to_json().encode()) == c
    assert from_dict(to_dict(c)) == c
    assert from_json(to_json(Circuit(1))) == Circuit(1)


def test_hand_written_documents_are_read():
    doc = {
        "qbridge_circuit": 1,
        "num_qubits": 2,
        "instructions": [
            {"op": "h", "qubits": [0]},
            {"op": "crz", "qubits": [0, 1], "params": [1]},
            {"op": "ry", "qubits": [1], "params": [{"terms": [["w", 2]]}]},
            {"op": "rz", "qubits": [0], "params": [{"const": 0.5, "terms": []}]},
        ],
    }
    c = from_dict(doc)
    w = Parameter("w")
    assert c == Circuit(2).h(0).crz(0, 1, 1.0).ry(1, 2 * w).rz(0, 0.5)
    assert c.global_phase == 0.0 and c.name is None


BASE = {"qbridge_circuit": 1, "num_qubits": 2, "instructions": []}


def with_ops(*ops, **top):
    return json.dumps({**BASE, **top, "instructions": list(ops)})


BAD = [
    # (text, path named by the error, key word of the message)
    ("{not json", None, "not JSON"),
    ("[1, 2]", "", "expected an object"),
    (json.dumps({"num_qubits": 1, "instructions": []}), "", "qbridge_circuit"),
    (json.dumps({**BASE, "qbridge_circuit": 2}), "qbridge_circuit", "newer qbridge"),
    (json.dumps({**BASE, "qbridge_circuit": "1"}), "qbridge_circuit", "integer"),
    (json.dumps({**BASE, "colour": "red"}), "", "unknown key"),
    (json.dumps({**BASE, "num_qubits": 0}), "num_qubits", "positive"),
    (json.dumps({**BASE, "num_qubits": True}), "num_qubits", "integer"),
    (with_ops({"op": "hadamard", "qubits": [0]}), "instructions[0].op", "unknown instruction"),
    (with_ops({"qubits": [0]}), "instructions[0].op", "'op'"),
    (with_ops({"op": "h", "qubits": [0], "params": [1.0]}), "instructions[0]", "parameter"),
    (with_ops({"op": "rx", "qubits": [0]}), "instructions[0]", "parameter"),
    (with_ops({"op": "rx", "qubits": [0], "params": ["0.5"]}), "instructions[0].params[0]", "number"),
    (with_ops({"op": "rx", "qubits": [0], "params": [True]}), "instructions[0].params[0]", "number"),
    (with_ops({"op": "rx", "qubits": [0], "params": [{"terms": [["1x", 1.0]]}]}), "instructions[0].params[0].terms[0]", "invalid parameter name"),
    (with_ops({"op": "rx", "qubits": [0], "params": [{"terms": [["a", 1.0], ["a", 2.0]]}]}), "instructions[0].params[0].terms[1]", "twice"),
    (with_ops({"op": "rx", "qubits": [0], "params": [{"coef": 1}]}), "instructions[0].params[0]", "unknown key"),
    (with_ops({"op": "cx", "qubits": [0, 2]}), "instructions[0]", "out of range"),
    (with_ops({"op": "cx", "qubits": [0, 0]}), "instructions[0]", "repeated"),
    (with_ops({"op": "cx", "qubits": [0, 1.0]}), "instructions[0].qubits[1]", "integer"),
    (with_ops({"op": "h", "qubits": [0], "colour": 1}), "instructions[0]", "unknown key"),
    (with_ops({"op": "measure", "qubits": [0]}, {"op": "x", "qubits": [0]}), "instructions[1]", "measured"),
    (with_ops({"op": "unitary", "qubits": [0], "matrix": [[[1, 0], [1, 0]], [[0, 0], [1, 0]]]}), "instructions[0]", "not unitary"),
    (with_ops({"op": "unitary", "qubits": [0], "matrix": [[[1, 0]], [[0, 0], [1, 0]]]}), "instructions[0].matrix", "rows"),
    (with_ops({"op": "unitary", "qubits": [0], "matrix": [[1, 0], [0, 1]]}), "instructions[0].matrix[0][0]", "[real, imag]"),
    (with_ops({"op": "amplitude_encode", "qubits": [0], "vector": [[1, 0], [1, 0]]}), "instructions[0].vector", "normalised"),
    (with_ops({"op": "amplitude_encode", "qubits": [0], "vector": [[1, 0]]}), "instructions[0].vector", "amplitudes"),
    (with_ops({"op": "amplitude_encode", "qubits": [0], "input": "x", "vector": [[1, 0], [0, 0]]}), "instructions[0]", "exactly one"),
    (with_ops({"op": "h", "qubits": [0]}, {"op": "amplitude_encode", "qubits": [0, 1], "input": "x"}), "instructions[1]", "already acted on"),
    (with_ops({"op": "amplitude_encode", "qubits": [0], "input": "pi"}), "instructions[0].input", "reserved"),
    ('{"qbridge_circuit": 1, "num_qubits": 1, "global_phase": NaN, "instructions": []}', "", "finite"),
    (with_ops(global_phase=1e999), "", "finite"),
    (json.dumps({**BASE, "name": 3}), "name", "string"),
]


@pytest.mark.parametrize("text, path, word", BAD)
def test_bad_documents_raise_typed_errors_naming_the_field(text, path, word):
    with pytest.raises(SerializationError) as info:
        from_json(text)
    err = info.value
    assert isinstance(err, CircuitError) and isinstance(err, ValueError)
    assert word in str(err)
    assert getattr(err, "path", None) == (path or None)


def test_from_json_wants_text():
    with pytest.raises(TypeError):
        from_json(123)
    with pytest.raises(TypeError):
        to_json("not a circuit")
