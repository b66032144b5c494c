"""``import qbridge`` stays light: no quantum SDK and no transformers (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ["qiskit", "qiskit_aer", "qiskit_ibm_runtime", "pennylane", "pennylane_lightning", "braket", "transformers"]

PROBE = """
import json, sys
{code}
forbidden = {forbidden!r}
loaded = sorted({{m.split(".")[0] for m in sys.modules}} & set(forbidden))
print(json.dumps(loaded))
"""


def _loaded_after(code: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(code=code, forbidden=FORBIDDEN)],
        capture_output=True, text=True, timeout=120, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_qbridge_loads_no_sdk_and_no_transformers():
    assert _loaded_after("import qbridge") == []


def test_core_use_loads_no_sdk():
    code = (
        "import qbridge\n"
        "from qbridge import Circuit, Estimator, Sampler\n"
        "c = Circuit(2).h(0).cx(0, 1)\n"
        "Estimator().run(c, 'ZZ', shots=10, seed=1)\n"
        "Sampler('torch').run(c.measure_all(), shots=10, seed=1)\n"
        "c.decompose({'u', 'cx'})\n"
        "import qbridge.ir, qbridge.primitives, qbridge.backends.registry, qbridge.ir.stateprep\n"
    )
    assert _loaded_after(code) == []


def test_the_probe_can_fail():
    """The same probe sees a module of the list once it is loaded (so an empty list means something).

    A stand-in module object is registered instead of importing a real SDK, which would cost seconds.
    """
    code = "import qbridge, types\nsys.modules['transformers.models'] = types.ModuleType('transformers.models')"
    assert _loaded_after(code) == ["transformers"]


def test_the_pytest_plugin_imports_neither_qbridge_nor_torch():
    """pytest loads the plugin in every run where qbridge is installed: it must stay cheap."""
    code = (
        "import sys, json, qbridge_pytest; "
        "print(json.dumps([sorted(m for m in ('torch', 'qbridge') if m in sys.modules), "
        "qbridge_pytest.SUITE_DIR.is_dir()]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    loaded, found = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == [] and found


def test_every_error_class_is_in_the_one_tree():
    """Errors defined for layers, models and mitigation live in qbridge.exceptions (and stay
    importable where they were)."""
    from qbridge import exceptions as ex
    from qbridge.hf import UnsupportedModelError as A
    from qbridge.mitigation import MitigationError as B
    from qbridge.nn import InputGradientError as C

    assert A is ex.UnsupportedModelError and B is ex.MitigationError and C is ex.InputGradientError
    assert all(issubclass(getattr(ex, n), ex.QBridgeError) for n in ex.__all__)
