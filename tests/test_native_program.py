"""The native program of a dry run comes from the backend's hook (Backend.native_program_text)."""

from __future__ import annotations

import pytest

from qbridge import Circuit, RunConfig, get_backend
from qbridge.backends.base import default_program_text
from qbridge.jobs import native_text, plan_run

BELL = Circuit(2).h(0).cx(0, 1).measure([0, 1])


def test_the_default_is_the_native_circuit_as_openqasm3():
    plan = plan_run(get_backend("torch"), [BELL], RunConfig(shots=100))
    text = plan.to_dict()["circuits"][0]["native_program"]
    assert text.startswith("OPENQASM 3") and "cx" in text
    assert text == native_text(plan.compiled[0]) == default_program_text(plan.compiled[0])


def test_a_backend_hook_is_what_the_plan_prints():
    class Shouting(type(get_backend("torch"))):
        def native_program_text(self, compiled):
            return "PROGRAM FOR " + str(compiled.circuit.num_qubits) + " QUBITS"

    plan = plan_run(Shouting(), [BELL], RunConfig(shots=100))
    assert plan.to_dict()["circuits"][0]["native_program"] == "PROGRAM FOR 2 QUBITS"


def test_braket_prints_the_openqasm_it_sends():
    pytest.importorskip("qbridge_braket")
    be = get_backend("braket.local")
    plan = plan_run(be, [BELL], RunConfig(shots=100))
    text = plan.to_dict()["circuits"][0]["native_program"]
    assert text == "\n".join(dict.fromkeys(str(e.source) for e in plan.compiled[0].program.executables))
    assert "OPENQASM 3" in text


def test_ibm_prints_the_transpiled_isa_circuit():
    pytest.importorskip("qbridge_ibm")
    pytest.importorskip("qiskit_ibm_runtime")
    be = get_backend("ibm.fake", backend="fake_manila")
    plan = plan_run(be, [BELL], RunConfig(shots=100))
    text = plan.to_dict()["circuits"][0]["native_program"]
    assert "OPENQASM 3" in text and "sx" in text and " h " not in text  # the device's gates, not h
