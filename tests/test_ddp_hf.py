"""A hybrid GPT-2 trained with torch DDP on 2 CPU ranks (gloo) follows the same trajectory as
one process on the same global batch: per-step losses and final weights."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import torch

pytest.importorskip("transformers")
if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
    pytest.skip("torch.distributed with gloo is not available", allow_module_level=True)

from qbridge.hf import ddp  # noqa: E402

ARGS = ["--model-type", "gpt2", "--kind", "overlap", "--steps", "3", "--global-batch", "4", "--seq-len", "8",
        "--dtype", "float64", "--lr", "0.01", "--seed", "0"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_ranks_match_one_process(tmp_path):
    out = tmp_path / "ddp.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    if os.path.exists("/sys/class/net/lo"):
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")  # loopback only: no network needed
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--nnodes=1",
           "--master_addr=127.0.0.1", f"--master_port={free_port()}", "-m", "qbridge.hf.ddp", *ARGS, "--out", str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    got = json.loads(out.read_text())
    assert got["world_size"] == 2

    single = ddp.main(ARGS + ["--out", str(tmp_path / "single.json")])
    assert json.loads((tmp_path / "single.json").read_text())["world_size"] == 1
    assert len(got["losses"]) == len(single) == 3
    # transformers computes the loss in float32 even for a float64 model: 1e-5 covers its rounding
    assert max(abs(a - b) for a, b in zip(got["losses"], single)) < 1e-5
    assert single[-1] != single[0]  # training moved
    # the weights after three AdamW steps agree to float64 rounding
    wd, ws = torch.load(out.with_suffix(".pt")), torch.load(tmp_path / "single.pt")
    assert wd.keys() == ws.keys()
    diff = max((wd[k] - ws[k]).abs().max().item() for k in wd)
    assert diff < 1e-9
    qkeys = [k for k in wd if k.endswith("quantum.weights") or k.endswith("layer.weights")]
    assert qkeys and all(not torch.equal(wd[k], ddp.tiny_hybrid_model(seq_len=8).state_dict()[k]) for k in qkeys)
