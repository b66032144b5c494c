"""Cost models are plugins: found through the ``qbridge.cost_models`` entry-point group by
backend name, so a new one is one new file in its own distribution (here, written by the test)."""

from __future__ import annotations

import sys
import textwrap
import uuid

import pytest

from qbridge import Circuit
from qbridge.jobs.cost import COST_MODEL_GROUP, CostEstimate, cost_model_for, estimate_cost

TOY = '''
from qbridge.jobs.cost import CostEstimate


def cost_model(*, executables, shots, options, backend, backend_obj=None):
    """A toy QPU: 0.25 USD per task and 0.001 per shot, one task per executable."""
    per_task, per_shot = 0.25, 0.001
    usd = executables * (per_task + per_shot * (shots or 0))
    return CostEstimate(usd, backend, options.get("device", "toy-1"), executables, executables, shots,
                        "toy price list, 2026-12-05")
'''


@pytest.fixture
def toy_distribution(tmp_path):
    prefix = f"qbc{uuid.uuid4().hex[:8]}_"
    (tmp_path / f"{prefix}toy.py").write_text(textwrap.dedent(TOY))
    info = tmp_path / f"{prefix}toy-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {prefix}toy\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{COST_MODEL_GROUP}]\n{prefix}qpu = {prefix}toy:cost_model\n")
    sys.path.insert(0, str(tmp_path))
    yield prefix, tmp_path
    sys.path.remove(str(tmp_path))
    for mod in [m for m in sys.modules if m.startswith(prefix)]:
        del sys.modules[mod]


def test_a_cost_model_from_a_new_distribution_prices_its_backend(toy_distribution):
    prefix, _ = toy_distribution
    name = f"{prefix}qpu"
    est = estimate_cost([Circuit(2).h(0).cx(0, 1)] * 3, name, shots=1000, options={"device": "toy-7"})
    assert isinstance(est, CostEstimate)
    assert est.usd == pytest.approx(3 * (0.25 + 1.0)) and est.device == "toy-7"
    assert "toy price list" in est.describe()


def test_the_shipped_cost_models_are_registered_by_their_adapters():
    pytest.importorskip("qbridge_braket.prices")
    pytest.importorskip("qbridge_ibm.cloud")
    import qbridge_braket.prices
    import qbridge_ibm.cloud

    assert cost_model_for("braket.device") is qbridge_braket.prices.cost_model
    assert cost_model_for("ibm.runtime") is qbridge_ibm.cloud.cost_model
    assert cost_model_for("torch") is None


def test_two_distributions_pricing_one_backend_is_an_error(toy_distribution):
    prefix, site = toy_distribution
    info = site / f"{prefix}other-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {prefix}other\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{COST_MODEL_GROUP}]\n{prefix}qpu = {prefix}other:cost_model\n")
    with pytest.raises(ValueError, match="registered twice.*uninstall one"):
        cost_model_for(f"{prefix}qpu")
