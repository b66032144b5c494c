"""docs/plugins.md against the code it describes: the symbolic-translation example runs and agrees
with the reference, the Target table has every field with its default, and the family table has
every suite class."""

from __future__ import annotations

import ast
import dataclasses
import math
import re
from pathlib import Path

import numpy as np
import pytest

from qbridge.backends.base import Target, Task
from qbridge.ir.circuit import Circuit
from qbridge.ir.parameters import Parameter
from qbridge.testing.checks import random_circuit, reference_states
from qbridge.testing.conformance import suite_classes

GUIDE = (Path(__file__).resolve().parents[1] / "docs" / "plugins.md").read_text()


def _section(title: str) -> str:
    start = GUIDE.index(f"## {title}")
    end = GUIDE.find("\n## ", start + 1)
    return GUIDE[start:end if end != -1 else None]


def _example_namespace() -> dict:
    (code,) = re.findall(r"```python\n(.*?)```", _section("5. Symbolic translation"), flags=re.S)
    namespace: dict = {}
    exec(compile(code, "docs/plugins.md#symbolic-translation", "exec"), namespace)
    return namespace


def test_symbolic_translation_example_matches_the_reference():
    """Translated once, run for a batch: states equal the reference to 1e-12, global phase
    included, on a native set whose rewrite reorders the parameters (u -> rz ry rz moves u's
    phase parameters to the front)."""
    ns = _example_namespace()
    rng = np.random.default_rng(91)
    body = random_circuit(3, 30, rng, parametric=True)
    a, b = Parameter("a"), Parameter("b")
    circuit = (Circuit(3, global_phase=0.5 * a - 1.25).rx(0, b).compose(body).u(1, a, b, Parameter("p0"))
               .unitary(np.linalg.qr(rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4)))[0], (2, 0)))
    native = circuit.decompose({"rz", "ry", "cz", "unitary", "barrier"})
    assert native.parameter_names != circuit.parameter_names  # the case binding by position gets wrong
    task = Task(circuit, rng.uniform(-math.pi, math.pi, (4, circuit.num_parameters)))
    program = ns["translate"](native, task)
    states = ns["run"](program, task.parameter_array())
    np.testing.assert_allclose(states, reference_states(task), atol=1e-12, rtol=0)


def test_target_table_lists_every_field_with_its_default():
    table = _section("3. Declare capabilities: `Target`")
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].startswith("`"):
            for name in re.findall(r"`(\w+)`", cells[0]):
                rows[name] = cells[1]
    fields = {f.name: f for f in dataclasses.fields(Target)}
    assert set(rows) == set(fields)
    for name, f in fields.items():
        if f.default is dataclasses.MISSING:
            assert rows[name] == "required", name
        else:
            shown = re.match(r"`([^`]*)`", rows[name])
            assert shown and ast.literal_eval(shown.group(1)) == f.default, (name, rows[name], f.default)


@pytest.mark.parametrize("cls", [c.__name__ for c in suite_classes()])
def test_family_table_lists_every_suite_class(cls):
    assert f"| `{cls}` |" in _section("6. Test it: the conformance suite")
