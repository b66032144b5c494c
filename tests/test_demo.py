"""``qbridge demo --quick`` end to end, and ``qbridge train`` with a resume."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from click.testing import CliRunner

from qbridge.cli import main


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def test_demo_quick_end_to_end(tmp_path):
    out = tmp_path / "report"
    res = CliRunner().invoke(main, ["demo", "--quick", "--quiet", "--out", str(out)])
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert (out / "report.md").is_file() and (out / "results.json").is_file() and (out / "tokenizer.json").is_file()
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["comparison.png", "training_curves.png"]
    results = json.loads((out / "results.json").read_text())
    table = results["models"]["table"]
    assert [r["model"] for r in table] == ["classical", "hybrid"]
    for r in table:
        for key in ("params", "test_loss", "test_ppl", "train_tok_s", "infer_tok_s", "peak_mb"):
            assert _finite(r[key]) and r[key] > 0, (r["model"], key, r[key])
        assert r["test_ppl"] == pytest.approx(math.exp(r["test_loss"]))
    assert table[1]["quantum_params"] > 0 and table[1]["params"] < table[0]["params"]
    # the trained layer on the backends: torch with shots is always there, and consistent
    rows = results["backends"]["rows"]
    torch_shots = [r for r in rows if r["backend"] == "torch" and "shots" in r["mode"]]
    assert torch_shots and torch_shots[0]["verdict"] == "consistent with shot noise"
    assert rows[0]["mode"].startswith("reference") and rows[0]["max_dy"] < 1e-4
    for r in rows:
        if r["mode"] == "exact" and r["verdict"] != "noise model (exact mixed state)":
            assert r["verdict"] == "agrees", r
    # the cost section: numbers for the named devices, nothing sent
    cost = results["cost"]
    assert {r["device"] for r in cost["rows"]} >= {"IBM Quantum (pay-as-you-go)"}
    assert all(r["forward_pass"] is None or r["forward_pass"] > 0 for r in cost["rows"])
    report = (out / "report.md").read_text()
    assert "| classical |" in report and "| hybrid |" in report and "training_curves.png" in report
    assert "nan" not in report.split("## The trained")[0]


def test_demo_core_only_paths(tmp_path):
    """TinyGPT (no transformers needed), one backend, and a backend that is not installed."""
    out = tmp_path / "r"
    res = CliRunner().invoke(main, ["demo", "--quick", "--quiet", "--model", "tiny", "--steps", "5", "--backends",
                                    "torch,no.such.backend", "--out", str(out)])
    assert res.exit_code == 0, res.output + repr(res.exception)
    results = json.loads((out / "results.json").read_text())
    assert "TinyGPT" in results["models"]["kind"]
    assert any("no.such.backend: not installed" in n for n in results["backends"]["notes"])
    assert {r["backend"] for r in results["backends"]["rows"]} == {"torch"}
    # the exported check circuit reads back as a measured circuit on the layer's qubits
    from qbridge import from_qasm

    c = from_qasm((out / "qffn_circuit.qasm").read_text())
    assert c.num_qubits == results["backends"]["qubits"] and c.has_measurements and not c.parameters


def test_demo_without_the_ml_extras(tmp_path):
    """transformers, matplotlib, psutil, tokenizers and rapidfuzz missing: TinyGPT, no plots, a line saying so."""
    out = tmp_path / "core"
    code = (
        "import sys\n"
        "for m in ('transformers', 'matplotlib', 'psutil', 'tokenizers', 'rapidfuzz'):\n"
        "    sys.modules[m] = None  # import raises ImportError, as if not installed\n"
        "from qbridge.cli import main\n"
        f"main(['demo', '--quick', '--quiet', '--steps', '5', '--backends', 'torch', '--out', {str(out)!r}])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "transformers or qbridge.hf not installed" in proc.stdout
    assert "plots: skipped (matplotlib is not installed" in proc.stdout
    results = json.loads((out / "results.json").read_text())
    assert "TinyGPT" in results["models"]["kind"] and "ru_maxrss" in results["models"]["memory_method"]
    assert not list(out.glob("*.png")) and "(plots skipped: matplotlib is not installed)" in (out / "report.md").read_text()
    assert all(_finite(r["test_ppl"]) for r in results["models"]["table"])


def test_train_cli_compare_and_resume(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("to be or not to be that is the question. " * 200)
    out = tmp_path / "run"
    args = ["train", "--family", "tiny", "--corpus", str(corpus), "--d-model", "16", "--layers", "2", "--heads", "2",
            "--context", "16", "--batch-size", "4", "--hybrid", "0.5", "--compare", "--eval-batches", "2", "--quiet",
            "--out", str(out)]
    r1 = CliRunner().invoke(main, args + ["--steps", "6"])
    assert r1.exit_code == 0, r1.output + repr(r1.exception)
    for label in ("classical", "hybrid"):
        m = json.loads((out / label / "metrics.json").read_text())
        assert m["steps"] == 6 and _finite(m["test_ppl"])
    r2 = CliRunner().invoke(main, ["train", "--resume", "--steps", "10", "--quiet", "--out", str(out)])
    assert r2.exit_code == 0, r2.output + repr(r2.exception)
    assert "hybrid: resumed at step 6" in r2.output
    m = json.loads((out / "hybrid" / "metrics.json").read_text())
    assert m["steps"] == 10 and len(m["losses"]) == 10
    assert (out / "summary.md").read_text().count("|") > 10
