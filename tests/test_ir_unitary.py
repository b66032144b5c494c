"""The IR's NumPy unitary builder (qbridge.ir.unitary) and the fast path's plan cache."""

from __future__ import annotations

import gc
import pathlib

import numpy as np
import pytest

from qbridge import Circuit, Parameter
from qbridge.exceptions import EncodingError, ParameterError
from qbridge.ir.gates import GATES
from qbridge.ir.unitary import ops_unitary


def _random_circuit(rng, n: int, gates: int) -> Circuit:
    c = Circuit(n)
    for _ in range(gates):
        name = str(rng.choice(sorted(GATES)))
        g = GATES[name]
        qs = [int(q) for q in rng.choice(n, g.num_qubits, replace=False)]
        c = c.append(name, qs, [float(x) for x in rng.uniform(-3, 3, g.num_params)])
    m = np.linalg.qr(rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4)))[0]
    return c.unitary(m, [n - 1, 0]).with_global_phase(float(rng.uniform(-3, 3)))


@pytest.mark.parametrize("seed", range(6))
def test_to_matrix_equals_qiskits_operator(seed):
    qi = pytest.importorskip("qiskit.quantum_info")
    from qbridge.interop.qiskit import to_qiskit

    rng = np.random.default_rng(seed)
    c = _random_circuit(rng, 4, 25)
    ref = qi.Operator(to_qiskit(c, measurements=False)).reverse_qargs().data  # q0 most significant
    np.testing.assert_allclose(c.to_matrix(), ref, atol=1e-12)


def test_to_matrix_refuses_what_is_not_a_unitary():
    with pytest.raises(ParameterError, match="bind"):
        Circuit(1).rx(0, Parameter("a")).to_matrix()
    with pytest.raises(EncodingError, match="state preparation"):
        Circuit(1).amplitude_encode("x").to_matrix()
    assert np.allclose(Circuit(2).h(0).measure([0, 1]).to_matrix(), Circuit(2).h(0).to_matrix())


def test_ops_unitary_on_local_qubits():
    cx_reversed = ops_unitary([("cx", (1, 0), ())], 0.0, 2)
    assert np.array_equal(cx_reversed, np.array([[1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0], [0, 1, 0, 0]]))
    assert np.allclose(ops_unitary([("x", (0,), ())], np.pi / 2, 1), 1j * np.array([[0, 1], [1, 0]]))


def test_the_ir_does_not_import_the_simulator():
    import ast

    root = pathlib.Path(__file__).resolve().parents[1] / "qbridge" / "ir"
    offenders = []
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                target = "." * node.level + (node.module or "")
                if target.startswith("..sim") or target.startswith("qbridge.sim"):
                    offenders.append((path.name, target))
            elif isinstance(node, ast.Import):
                offenders += [(path.name, a.name) for a in node.names if a.name.startswith("qbridge.sim")]
    assert offenders == []


def test_plans_are_cached_per_circuit_without_writing_into_it():
    from qbridge.nn.ansatz import build_ansatz
    from qbridge.sim import fastpath

    c = Circuit(3).amplitude_encode("x").compose(build_ansatz("ry_rz_ring", 3, 1))
    plan = fastpath.plan_for(c)
    assert plan is not None and fastpath.plan_for(c) is plan
    assert not any("plan" in k for k in vars(c))  # the circuit is not written to
    before = len(fastpath._BY_OBJECT)
    del c
    gc.collect()
    assert len(fastpath._BY_OBJECT) == before - 1  # the entry goes with the circuit


def test_one_expansion_of_a_task_for_shots_everywhere():
    """What a shot-based run sends is computed once (Task.measurement_tasks): the cost estimate
    and the dry-run plan count exactly the circuits the run executes."""
    from qbridge import RunConfig, Task, get_backend
    from qbridge.jobs import plan_run
    from qbridge.jobs.cost import count_executables

    task = Task(Circuit(3).h(0).cx(0, 1).cx(1, 2), observables=["ZZI", "XXI", "IZZ", "III", "YIY"])
    groups = task.measurement_tasks()
    assert [basis for basis, _, _ in groups] and all(not t.observables for _, _, t in groups)
    assert {w for _, words, _ in groups for w in words} == {"ZZI", "XXI", "IZZ", "YIY"}
    assert count_executables([task], 100) == len(groups)
    plan = plan_run(get_backend("torch"), [task], RunConfig(shots=100))
    assert len(plan.compiled) == len(groups)
    assert Task(Circuit(1).h(0), observables=["I"]).measurement_tasks() == []
