"""save_pretrained / qbridge.hf.from_pretrained round trips of hybrid models: identical weights,
identical logits, the layout in config.json, restore on a model built from the config."""

from __future__ import annotations

import json

import pytest
import torch

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

from transformers import (  # noqa: E402
    AutoConfig,
    AutoModelForCausalLM,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

import qbridge.hf as qh  # noqa: E402
from qbridge.nn.layer import QuantumLayer  # noqa: E402

V = 40


def tiny(arch: str):
    torch.manual_seed(0)
    common = dict(bos_token_id=0, eos_token_id=None, pad_token_id=0)
    if arch == "gpt2":
        return GPT2LMHeadModel(GPT2Config(n_layer=3, n_embd=16, n_head=4, vocab_size=V, n_positions=32, **common))
    ccls, mcls = (LlamaConfig, LlamaForCausalLM) if arch == "llama" else (Qwen2Config, Qwen2ForCausalLM)
    return mcls(ccls(hidden_size=16, intermediate_size=32, num_hidden_layers=3, num_attention_heads=4,
                     num_key_value_heads=2, vocab_size=V, max_position_embeddings=32, **common))


def perturb(model):
    """Move every weight off its initial value, so a load that re-initialises anything shows."""
    g = torch.Generator().manual_seed(9)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g, dtype=p.dtype))


@pytest.mark.parametrize("arch,kind,dtype", [("gpt2", "overlap", torch.float64), ("llama", "qsann", torch.float32),
                                             ("qwen2", "overlap", torch.float64)])
def test_save_and_load_is_exact(arch, kind, dtype, tmp_path):
    m = qh.hybridize(tiny(arch), kind=kind, ffn_fraction=0.5, head_fraction=0.5, pattern="random", seed=3,
                     readout="pauli").to(dtype)
    perturb(m)
    m.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())["qbridge"]
    assert saved == m.config.qbridge and saved["attention"]["kind"] == kind
    loaded = qh.from_pretrained(tmp_path)
    assert type(loaded) is type(m) and not loaded.training
    a, b = m.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys()
    assert all(a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]) for k in a)
    m.eval()
    ids = torch.randint(1, V, (2, 8), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(m(ids).logits, loaded(ids).logits)
        assert torch.equal(m.generate(ids, max_new_tokens=3, do_sample=False),
                           loaded.generate(ids, max_new_tokens=3, do_sample=False))
    assert qh.parameter_report(loaded) == qh.parameter_report(m)
    assert sum(isinstance(x, QuantumLayer) for x in loaded.modules()) == sum(isinstance(x, QuantumLayer) for x in m.modules())


def test_restore_on_a_model_built_from_the_config(tmp_path):
    m = qh.hybridize(tiny("gpt2"), ffn_layers=[0, 2], head_fraction=0.25)
    perturb(m)
    m.save_pretrained(tmp_path)
    config = AutoConfig.from_pretrained(tmp_path)
    fresh = AutoModelForCausalLM.from_config(config)
    qh.restore(fresh)
    assert [type(b.mlp).__name__ for b in fresh.transformer.h] == ["QuantumMLP", "GPT2MLP", "QuantumMLP"]
    assert all(b.attn.n_quantum == 1 for b in fresh.transformer.h)
    from safetensors.torch import load_file

    missing, unexpected = fresh.load_state_dict(load_file(str(tmp_path / "model.safetensors")), strict=False)
    assert unexpected == [] and missing == ["lm_head.weight"]  # tied to the token embedding
    fresh.eval()
    m.eval()
    ids = torch.randint(1, V, (1, 6))
    with torch.no_grad():
        assert torch.equal(fresh(ids).logits, m(ids).logits)
    with pytest.raises(ValueError, match="already in place"):
        qh.restore(fresh)


def test_backend_override_and_unrecorded_options(tmp_path):
    calls = []

    def estimator(preview):  # a callable cannot go into config.json
        calls.append(preview)
        return 0.0

    m = qh.hybridize(tiny("llama"), ffn_options={"cost_estimator": estimator})
    assert m.config.qbridge["unrecorded_options"] == ["ffn.cost_estimator"]
    m.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"ffn\.cost_estimator"):
        qh.from_pretrained(tmp_path)
    loaded = qh.from_pretrained(tmp_path, ffn_options={"cost_estimator": estimator}, backend="torch")
    qffn = loaded.model.layers[1].mlp.qffn
    assert qffn.quantum.cost_estimator is estimator
    qffn.preview(2, 3)
    assert len(calls) == 1


def test_plain_checkpoints_are_refused(tmp_path):
    tiny("gpt2").save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="not a qbridge hybrid checkpoint"):
        qh.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError):
        qh.hybridize(tiny("gpt2")).config.save_pretrained(tmp_path / "cfg-only") or qh.from_pretrained(tmp_path / "cfg-only")
