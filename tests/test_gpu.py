"""Hybrid layers and models on a CUDA GPU, against the same modules on the CPU.

Skipped where torch sees no GPU (CI's machines have none; the note of the session that ran them
on a lent H200 gives the counts). Tolerances: single precision (complex64) everywhere, so outputs
agree to ~1e-5 relative; gradients, which add up many such terms, to 1e-4.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU: torch.cuda.is_available() is False")

import qbridge  # noqa: E402
from qbridge import Circuit, Parameter, Task  # noqa: E402
from qbridge.backends.torch import TorchBackend  # noqa: E402
from qbridge.exceptions import DeviceMismatchError  # noqa: E402
from qbridge.nn import QFFN, HybridMultiheadAttention, QISAAttention  # noqa: E402
from qbridge.train.models import GPTConfig, TinyGPT  # noqa: E402

CUDA = torch.device("cuda", 0)


def _close(gpu: torch.Tensor, cpu: torch.Tensor, tol: float, what: str) -> None:
    assert gpu.device.type == "cuda", f"{what}: on {gpu.device}"
    g, c = gpu.detach().double().cpu(), cpu.detach().double()
    scale = max(1.0, float(c.abs().max()))
    err = float((g - c).abs().max())
    assert err <= tol * scale, f"{what}: max |gpu - cpu| = {err:.2e} > {tol * scale:.2e}"


def _tiny_gpt(quantum=(1,), attention="standard", d=32):
    torch.manual_seed(0)
    return TinyGPT(GPTConfig(vocab_size=29, context=16, d_model=d, n_layer=2, n_head=2, qffn_depth=3,
                             quantum_ffn_layers=quantum, attention=attention))


MODULES = {
    "qffn-256": (lambda: QFFN(256, depth=4), lambda: torch.randn(4, 64, 256)),  # the first row
    "qffn-layers-path": (lambda: QFFN(64, depth=3), lambda: torch.randn(5, 64)),
    "qffn-pauli": (lambda: QFFN(32, depth=2, readout="pauli"), lambda: torch.randn(3, 7, 32)),
    "overlap-heads": (lambda: HybridMultiheadAttention(32, 4), lambda: torch.randn(2, 6, 32)),
    "qsann-heads": (lambda: HybridMultiheadAttention(32, 4, kind="qsann"), lambda: torch.randn(2, 6, 32)),
    "qisa": (lambda: QISAAttention(32, 8), lambda: torch.randn(2, 6, 32)),
    "qisa-a": (lambda: QISAAttention(32, 8, variant="qisa_a"), lambda: torch.randn(2, 6, 32)),
    "tinygpt": (lambda: _tiny_gpt(), lambda: torch.randint(0, 29, (3, 16))),
    "tinygpt-qisa": (lambda: _tiny_gpt((), "qisa_a"), lambda: torch.randint(0, 29, (3, 16))),
}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_on_cuda_matches_cpu(name):
    make, inp = MODULES[name]
    torch.manual_seed(1)
    cpu_model, x = make(), inp()
    gpu_model = copy.deepcopy(cpu_model).to("cuda")
    xf = x.requires_grad_(True) if x.is_floating_point() else x
    xg = x.detach().cuda().requires_grad_(True) if x.is_floating_point() else x.cuda()
    yc, yg = cpu_model(xf), gpu_model(xg)
    _close(yg, yc, 2e-5, f"{name} forward")
    yc.square().sum().backward()
    yg.square().sum().backward()
    for (n, pc), pg in zip(cpu_model.named_parameters(), gpu_model.parameters()):
        if pc.grad is not None:
            _close(pg.grad, pc.grad, 1e-4, f"{name} grad {n}")
    if x.is_floating_point():
        _close(xg.grad, xf.grad, 1e-4, f"{name} input grad")
    # inference (no_grad, eval) takes other paths (QISA's precomputed forms): also on the GPU
    gpu_model.eval(), cpu_model.eval()
    with torch.no_grad():
        _close(gpu_model(xg.detach() if x.is_floating_point() else xg),
               cpu_model(xf.detach() if x.is_floating_point() else xf), 2e-5, f"{name} inference")


def test_double_and_cuda_methods():
    q = QFFN(16, depth=2)
    x = torch.randn(8, 16, dtype=torch.float64)
    want = copy.deepcopy(q).double()(x)
    got = q.cuda().double()(x.cuda())
    assert got.dtype == torch.float64
    _close(got, want, 1e-12, "float64 QFFN on cuda")
    back = q.cpu()(x)
    assert back.device.type == "cpu"


def test_autocast_on_cuda_keeps_the_circuit_in_single_precision():
    q = QFFN(64, depth=3).cuda()
    x = torch.randn(32, 64, device="cuda")
    want = q(x)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        got = q(x)
        assert torch.nn.Linear(64, 64).cuda()(x).dtype == torch.bfloat16
    assert got.dtype == torch.float32
    _close(got, want.cpu(), 1e-5, "QFFN under autocast")


def test_default_backend_follows_and_pinned_backends_refuse_other_devices():
    c = Circuit(2).ry(0, Parameter("t")).cx(0, 1)
    t = torch.tensor([[0.3]], device="cuda")
    r = qbridge.get_backend("torch").run(Task(c, t, observables=("ZZ",))).result()[0]
    assert r.expectation_values.device.type == "cuda" and r.metadata["device"] == "cuda:0"
    pinned = qbridge.get_backend("torch", device="cuda")
    with pytest.raises(DeviceMismatchError, match=r"pinned to cuda:0 but was given tensors on cpu.*\.to\('cuda:0'\)"):
        pinned.run(Task(c, torch.tensor([[0.3]]), observables=("ZZ",))).result()
    with pytest.raises(DeviceMismatchError, match="pinned to cpu"):
        qbridge.get_backend("torch", device="cpu").run(Task(c, t)).result()
    with pytest.raises(DeviceMismatchError, match="several devices"):
        qbridge.get_backend("torch").run(Task(Circuit(1).amplitude_encode("x").ry(0, Parameter("t")), t[:, :1],
                                              {"x": torch.ones(1, 2)})).result()
    # a layer on a pinned CPU backend, moved to the GPU: an error that names the fix
    q = QFFN(8, depth=1, backend=TorchBackend(device="cpu")).cuda()
    with pytest.raises(DeviceMismatchError, match="pinned to cpu"):
        q(torch.randn(2, 8, device="cuda"))
    # the rows: a pinned CUDA backend works, and its NumPy results read as NumPy
    q = QFFN(256, depth=4, backend=TorchBackend(device="cuda")).to("cuda")
    assert q(torch.randn(3, 256, device="cuda")).device.type == "cuda"
    res = pinned.run(Circuit(2).h(0).cx(0, 1)).result()
    p = np.asarray(res[0].probabilities)
    assert p.dtype == np.float64 and np.allclose(p, [[0.5, 0, 0, 0.5]], atol=1e-6)


@pytest.mark.parametrize("backend", ["example", "pennylane.lightning.qubit"])
def test_host_backends_inside_a_gpu_model(backend):
    """SDK backends compute on the host: inputs go there, results (and gradients) come back."""
    try:
        qbridge.get_backend(backend)
    except (qbridge.exceptions.BackendError, ImportError) as exc:
        pytest.skip(f"{backend} is not available here: {exc}")
    torch.manual_seed(2)
    cpu = QFFN(8, depth=1, backend=backend)
    gpu = copy.deepcopy(cpu).cuda()
    x = torch.randn(3, 8)
    yc, yg = cpu(x), gpu(x.cuda())
    _close(yg, yc, 1e-5, f"QFFN on {backend}")
    yc.sum().backward()
    yg.sum().backward()
    _close(gpu.quantum.weights.grad, cpu.quantum.weights.grad, 1e-5, f"{backend} weight gradient")


@pytest.mark.parametrize("arch", ["gpt2", "llama", "qwen2"])
def test_hybrid_hf_models_on_cuda(arch, tmp_path):
    pytest.importorskip("transformers")
    import qbridge.hf as qh

    from test_devices import _tiny_hf  # the same tiny configurations as the CPU tests

    cpu = qh.hybridize(_tiny_hf(arch), ffn_fraction=0.5, head_fraction=0.5, depth=2)
    gpu = copy.deepcopy(cpu).to("cuda")
    ids = torch.randint(1, 30, (2, 8))
    mask = torch.ones_like(ids)
    mask[0, :3] = 0
    oc = cpu(input_ids=ids, attention_mask=mask, labels=ids)
    og = gpu(input_ids=ids.cuda(), attention_mask=mask.cuda(), labels=ids.cuda())
    _close(og.logits, oc.logits, 2e-5, f"{arch} logits")
    oc.loss.backward()
    og.loss.backward()
    for (n, pc), pg in zip(cpu.named_parameters(), gpu.parameters()):
        if pc.grad is not None:
            _close(pg.grad, pc.grad, 1e-4, f"{arch} grad {n}")
    cpu.eval(), gpu.eval()
    with torch.no_grad():
        gc = cpu.generate(ids, attention_mask=mask, max_new_tokens=4, do_sample=False)
        gg = gpu.generate(ids.cuda(), attention_mask=mask.cuda(), max_new_tokens=4, do_sample=False)
    assert torch.equal(gg.cpu(), gc)
    gpu.save_pretrained(tmp_path / "m")
    back = qh.from_pretrained(tmp_path / "m")
    assert next(back.parameters()).device.type == "cpu"
    with torch.no_grad():
        _close(gpu(input_ids=ids.cuda(), attention_mask=mask.cuda()).logits,
               back(input_ids=ids, attention_mask=mask).logits, 2e-5, f"{arch} saved on cuda, loaded on cpu")


def test_trainer_checkpoints_move_between_gpu_and_cpu(tmp_path):
    from qbridge.train import TokenData, TrainConfig, Trainer

    data = TokenData(torch.randint(0, 29, (5000,)))
    cfg = TrainConfig(steps=3, batch_size=4, context=16, eval_batches=1, eval_batch_size=4, device="auto")
    tr = Trainer(_tiny_gpt(), data, cfg)
    assert tr.device.type == "cuda"
    res = tr.fit()
    assert res.device["gpu"] and res.memory_method == "torch.cuda.max_memory_allocated" and res.peak_memory_mb > 0
    path = tr.save(tmp_path / "gpu.pt")
    on_cpu = Trainer(_tiny_gpt(), data, TrainConfig(**{**cfg.__dict__, "device": "cpu"})).load(path)
    assert next(on_cpu.model.parameters()).device.type == "cpu"
    for (n, a), b in zip(tr.model.state_dict().items(), on_cpu.model.state_dict().values()):
        assert torch.equal(a.cpu(), b), n
    on_cpu.fit(4)  # trains on from the GPU's state
    path2 = on_cpu.save(tmp_path / "cpu.pt")
    again = Trainer(_tiny_gpt(), data, TrainConfig(**{**cfg.__dict__, "steps": 5})).load(path2)
    assert again.device.type == "cuda" and again.step == 4
    again.fit()


def test_ddp_one_rank_per_gpu_matches_one_process(tmp_path):
    pytest.importorskip("transformers")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])}
    one = [sys.executable, "-m", "qbridge.hf.ddp", "--device", "cuda", "--dtype", "float32", "--out", str(tmp_path / "one.json")]
    ddp = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=1", "--nnodes=1", "--master_port=29533",
           "-m", "qbridge.hf.ddp", "--device", "cuda", "--dtype", "float32", "--out", str(tmp_path / "ddp.json")]
    for cmd in (one, ddp):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
    a = json.loads((tmp_path / "one.json").read_text())
    b = json.loads((tmp_path / "ddp.json").read_text())
    assert b["world_size"] == 1
    np.testing.assert_allclose(b["losses"], a["losses"], rtol=1e-5)


def test_train_and_demo_cli_on_cuda(tmp_path):
    from click.testing import CliRunner

    from qbridge.cli import main

    res = CliRunner().invoke(main, ["train", "--family", "tiny", "--hybrid", "0.5", "--steps", "4", "--d-model", "32",
                                    "--device", "cuda", "--out", str(tmp_path / "t"), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "device: cuda:0 (" in res.output and "peak GPU MB" in res.output
    res = CliRunner().invoke(main, ["demo", "--quick", "--device", "cuda", "--backends", "torch", "--out",
                                    str(tmp_path / "d"), "--quiet"])
    assert res.exit_code == 0, res.output
    report = (tmp_path / "d" / "report.md").read_text()
    assert "cuda:0 (" in report and "of GPU memory" in report


# -- CUDA graphs on the fast path ---------------------------------------------------------------

def _graphs_used(layer) -> bool:
    from qbridge.sim import fastpath

    plan = fastpath.plan_for(layer.circuit)
    slots = [v for k, v in plan._cache.items() if isinstance(k, tuple) and k and k[0] == "graphs"]
    return any(b.fwd is not None for s in slots for b in s.builders)


def _grads(model):
    return [p.grad.detach().clone() for p in model.parameters() if p.grad is not None]


@pytest.mark.parametrize("case", ["one", "twice-before-backward", "more-layers-than-slots", "retain-graph", "no-grad"])
def test_cuda_graphs_give_the_step_by_step_numbers(case, monkeypatch):
    """Graph replays against the same layers built step by step (graphs off), in the cases where
    replays share buffers: a layer used twice before its backward, more layers of one shape than
    builders, a second backward through a retained graph, inference."""
    from qbridge.sim import fastpath, graphs

    torch.manual_seed(7)
    k = 6 if case == "more-layers-than-slots" else 2
    layers = torch.nn.ModuleList(QFFN(256, depth=4) for _ in range(k)).cuda()  # one plan for all
    plan = fastpath.plan_for(layers[0].circuit)
    for key in [key for key in plan._cache if isinstance(key, tuple) and key and key[0] == "graphs"]:
        del plan._cache[key]  # builders made by earlier tests
    if case in ("twice-before-backward", "retain-graph"):
        monkeypatch.setattr(graphs, "SLOTS", 1)  # one builder: every second replay is stale
    x = torch.randn(512, 256, device="cuda")  # above the crossover: U is built

    def run(mods):
        if case == "no-grad":
            with torch.no_grad():
                return [m(x) for m in mods], []
        xs = x.clone().requires_grad_(True)
        if case == "twice-before-backward":
            m = mods[0]
            y = m(xs).square().sum() + (m(xs * 0.5) ** 3).sum() + mods[1](xs).sum()
        else:
            h = xs
            for m in mods:
                h = torch.tanh(m(h))
            y = h.square().sum()
        if case == "retain-graph":
            y.backward(retain_graph=True)
            mods[0](x).sum().backward()  # a replay in between
            y.backward()
        else:
            y.backward()
        return [y.detach()], _grads(mods) + [xs.grad]

    eager_layers = copy.deepcopy(layers)
    monkeypatch.setattr(graphs, "ENABLED", False)
    want_y, want_g = run(eager_layers)
    monkeypatch.setattr(graphs, "ENABLED", True)
    got_y, got_g = run(layers)
    assert _graphs_used(layers[0])
    for a, b in zip(got_y, want_y):
        _close(a, b.cpu(), 1e-5, f"{case}: outputs")
    assert len(got_g) == len(want_g)
    for i, (a, b) in enumerate(zip(got_g, want_g)):
        _close(a, b.cpu(), 1e-5, f"{case}: gradient {i}")
    twin = copy.deepcopy(layers)  # plans with captured graphs are shared, not copied
    with torch.no_grad():
        _close(twin[0](x), layers[0](x).cpu(), 1e-6, f"{case}: a deep copy")
