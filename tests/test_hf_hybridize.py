"""qbridge.hf.hybridize on tiny random GPT-2, LLaMA and Qwen2 models (transformers 5.x).

References are the models themselves: the original (classical) model for the kept heads, a
full recompute without cache for generation, the unpadded sequences for padding, hand-derived
parameter counts for the report.
"""

from __future__ import annotations

import copy

import pytest
import torch

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

from transformers import (  # noqa: E402
    BertConfig,
    BertModel,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)
from transformers.models.gpt2.modeling_gpt2 import GPT2Attention, GPT2MLP  # noqa: E402

import qbridge.hf as qh  # noqa: E402
from qbridge.audit import check_causal  # noqa: E402
from qbridge.exceptions import UnsupportedFeatureError  # noqa: E402
from qbridge.hf.modules import HybridAttentionBase  # noqa: E402
from qbridge.nn import QFFN  # noqa: E402
from qbridge.nn.layer import QuantumLayer  # noqa: E402

V = 50  # vocabulary
ARCHS = ("gpt2", "llama", "qwen2")


def tiny(arch: str, n_layer: int = 2, d: int = 32, n_head: int = 4, seed: int = 0, attn: str | None = None):
    torch.manual_seed(seed)
    common = dict(bos_token_id=0, eos_token_id=None, pad_token_id=0)
    if arch == "gpt2":
        cfg = GPT2Config(n_layer=n_layer, n_embd=d, n_head=n_head, vocab_size=V, n_positions=64,
                         resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, **common)
        model = GPT2LMHeadModel(cfg)
    else:
        ccls, mcls = (LlamaConfig, LlamaForCausalLM) if arch == "llama" else (Qwen2Config, Qwen2ForCausalLM)
        cfg = ccls(hidden_size=d, intermediate_size=2 * d, num_hidden_layers=n_layer, num_attention_heads=n_head,
                   num_key_value_heads=n_head // 2, vocab_size=V, max_position_embeddings=64, **common)
        model = mcls(cfg)
    if attn is not None:
        model.set_attn_implementation(attn)
    return model


def decoder_layers(model):
    return model.transformer.h if model.config.model_type == "gpt2" else model.model.layers


def parts(model, i):
    block = decoder_layers(model)[i]
    if model.config.model_type == "gpt2":
        return block.mlp, block.attn
    return block.mlp, block.self_attn


# -- which layers and heads ------------------------------------------------------------------------
def test_select_layers_patterns():
    assert qh.select_layers(4, 0.5, "alternate") == [1, 3]
    assert qh.select_layers(6, 0.5, "alternate") == [1, 3, 5]
    assert qh.select_layers(5, 0.5, "alternate") == [1, 3, 4]  # k = floor(2.5 + 1/2) = 3, evenly, ending at 4
    assert qh.select_layers(8, 0.25, "alternate") == [3, 7]
    assert qh.select_layers(4, 1.0, "alternate") == [0, 1, 2, 3]
    assert qh.select_layers(6, 0.5, "first") == [0, 1, 2]
    assert qh.select_layers(6, 0.0, "first") == []
    r = qh.select_layers(12, 0.5, "random", seed=3)
    assert len(r) == 6 and r == sorted(set(r)) and all(0 <= i < 12 for i in r)
    assert r == qh.select_layers(12, 0.5, "random", seed=3)
    assert any(qh.select_layers(12, 0.5, "random", seed=s) != r for s in range(4, 8))
    with pytest.raises(ValueError, match="pattern"):
        qh.select_layers(4, 0.5, "every-third")
    with pytest.raises(ValueError, match="fraction"):
        qh.select_layers(4, 1.5)


def test_fractions_and_patterns_replace_the_named_layers():
    m = qh.hybridize(tiny("gpt2", n_layer=4), ffn_fraction=0.5, head_fraction=0.5)
    kinds = [(type(parts(m, i)[0]).__name__, type(parts(m, i)[1]).__name__) for i in range(4)]
    assert kinds == [("GPT2MLP", "GPT2HybridAttention"), ("QuantumMLP", "GPT2HybridAttention")] * 2
    assert all(parts(m, i)[1].n_quantum == 2 for i in range(4))
    lay = m.config.qbridge
    assert lay["ffn_layers"] == [1, 3] and lay["attention"] == {"layers": [0, 1, 2, 3], "quantum_heads": 2, "num_heads": 4, "kind": "overlap"}
    assert lay["version"] == 1 and lay["depth"] == 4 and lay["backend"] == "torch"

    m = qh.hybridize(tiny("llama", n_layer=4), ffn_fraction=0.75, head_fraction=0.25, pattern="first", kind="qsann")
    assert [isinstance(parts(m, i)[0], qh.QuantumMLP) for i in range(4)] == [True, True, True, False]
    assert all(parts(m, i)[1].n_quantum == 1 and parts(m, i)[1].kind == "qsann" for i in range(4))

    m = qh.hybridize(tiny("qwen2", n_layer=6), ffn_fraction=0.5, head_fraction=0.0, pattern="random", seed=5)
    picked = [i for i in range(6) if isinstance(parts(m, i)[0], qh.QuantumMLP)]
    assert picked == qh.select_layers(6, 0.5, "random", seed=5) == m.config.qbridge["ffn_layers"]
    assert not any(isinstance(parts(m, i)[1], HybridAttentionBase) for i in range(6))

    m = qh.hybridize(tiny("gpt2", n_layer=3), ffn_layers=[0], attention_layers=[2], head_fraction=1.0)
    assert isinstance(parts(m, 0)[0], qh.QuantumMLP) and isinstance(parts(m, 1)[0], GPT2MLP)
    assert isinstance(parts(m, 1)[1], GPT2Attention) and parts(m, 2)[1].n_classical == 0
    assert m.config.qbridge["pattern"] == "explicit"


def test_hybridize_is_seeded_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(3)
    a = qh.hybridize(tiny("gpt2"), seed=7)
    torch.manual_seed(123)
    qh.hybridize(tiny("gpt2"), seed=8)  # tiny() reseeds; hybridize must not advance the outer RNG
    torch.manual_seed(123)
    assert torch.equal(torch.rand(3), before)
    b = qh.hybridize(tiny("gpt2"), seed=7)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    c = qh.hybridize(tiny("gpt2"), seed=8)
    assert not torch.equal(sa["transformer.h.1.mlp.qffn.quantum.weights"], c.state_dict()["transformer.h.1.mlp.qffn.quantum.weights"])


def test_errors():
    bert = BertModel(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64, vocab_size=V))
    with pytest.raises(qh.UnsupportedModelError, match="gpt2, llama, qwen2") as err:
        qh.hybridize(bert)
    assert isinstance(err.value, UnsupportedFeatureError) and err.value.model_type == "bert"
    m = qh.hybridize(tiny("gpt2"))
    with pytest.raises(ValueError, match="already hybrid"):
        qh.hybridize(m)
    with pytest.raises(TypeError, match="unknown layer option 'colour'"):
        qh.hybridize(tiny("gpt2"), colour="blue")
    with pytest.raises(TypeError, match="head_options has unknown option 'readout'"):
        qh.hybridize(tiny("gpt2"), head_options={"readout": "pauli"})
    with pytest.raises(ValueError, match="out of range"):
        qh.hybridize(tiny("gpt2"), ffn_layers=[2])
    with pytest.raises(ValueError, match="kind"):
        qh.hybridize(tiny("gpt2"), kind="swap")
    with pytest.raises(ValueError, match="no qbridge layout"):
        qh.parameter_report(tiny("gpt2"))


def test_layer_options_are_routed():
    m = qh.hybridize(tiny("gpt2"), readout="pauli", init_scale=0.05, head_options={"depth": 2, "method": "swap_test"})
    qffn = parts(m, 1)[0].qffn
    head = parts(m, 0)[1].quantum_heads[0]
    assert qffn.readout == "pauli" and qffn.depth == 4
    assert head.method == "swap_test"
    assert m.config.qbridge["ffn_options"] == {"readout": "pauli", "init_scale": 0.05}
    assert m.config.qbridge["head_options"] == {"depth": 2, "init_scale": 0.05, "method": "swap_test"}


# -- forward, backward, exactness of the kept heads ------------------------------------------------
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("kind", ["overlap", "qsann"])
def test_forward_backward_reaches_every_parameter(arch, kind):
    m = qh.hybridize(tiny(arch), kind=kind).double()
    ids = torch.randint(0, V, (2, 7), generator=torch.Generator().manual_seed(1))
    out = m(input_ids=ids, labels=ids)
    assert out.logits.shape == (2, 7, V) and torch.isfinite(out.loss)
    out.loss.backward()
    # every parameter takes part (DDP needs no find_unused_parameters), quantum weights included
    missing = [n for n, p in m.named_parameters() if p.grad is None]
    assert not missing
    qweights = [mod.weights for mod in m.modules() if isinstance(mod, QuantumLayer)]
    assert len(qweights) == 1 + 2 * 2  # one QFFN, two quantum heads in each of two layers
    assert all(w.grad.abs().sum() > 0 for w in qweights)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_classical_heads_keep_the_original_weights(arch, attn):
    """With the quantum heads' columns of the output projection zeroed in both models, the
    hybrid model equals the original: RoPE, grouped keys, biases and masks of the kept heads."""
    orig = tiny(arch, attn=attn).double()
    hyb = qh.hybridize(copy.deepcopy(orig), ffn_fraction=0.0, head_fraction=0.5).double()
    h = orig.config.hidden_size // orig.config.num_attention_heads
    for i in range(2):
        for model in (orig, hyb):
            out = parts(model, i)[1]
            proj = out.c_proj if arch == "gpt2" else out.o_proj
            with torch.no_grad():
                if arch == "gpt2":
                    proj.weight[2 * h:, :] = 0  # Conv1D weight is (in, out)
                else:
                    proj.weight[:, 2 * h:] = 0
    ids = torch.randint(1, V, (3, 9), generator=torch.Generator().manual_seed(2))
    mask = torch.ones_like(ids)
    if attn == "sdpa" or arch == "gpt2":  # (transformers' eager LLaMA/Qwen2 turn padded float64 rows to NaN)
        mask[1, :4] = 0  # left padding too
    with torch.no_grad():
        a = orig(ids, attention_mask=mask).logits
        b = hyb(ids, attention_mask=mask).logits
    assert torch.allclose(a[mask.bool()], b[mask.bool()], atol=1e-12, rtol=0)
    # and the quantum heads do change the output once their columns are back
    with torch.no_grad():
        for i in range(2):
            out = parts(hyb, i)[1]
            proj = out.c_proj if arch == "gpt2" else out.o_proj
            proj.weight.normal_(0, 0.2)
        assert not torch.allclose(hyb(ids).logits, orig(ids).logits, atol=1e-3)


@pytest.mark.parametrize("arch,attn,dtype", [("gpt2", "sdpa", torch.float64), ("gpt2", "eager", torch.float64),
                                             ("llama", "sdpa", torch.float64), ("qwen2", "eager", torch.float32)])
def test_left_padding_matches_unpadded_sequences(arch, attn, dtype):
    # (transformers' own eager LLaMA/Qwen2 attention gives NaN on padded rows in float64, so eager
    # is checked there in float32)
    m = qh.hybridize(tiny(arch, attn=attn), kind="overlap").to(dtype).eval()
    g = torch.Generator().manual_seed(3)
    a, b = torch.randint(1, V, (1, 7), generator=g), torch.randint(1, V, (1, 3), generator=g)
    ids = torch.zeros(2, 7, dtype=torch.long)
    ids[0], ids[1, 4:] = a, b
    mask = torch.ones_like(ids)
    mask[1, :4] = 0
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    tol = 1e-12 if dtype == torch.float64 else 2e-5
    with torch.no_grad():
        out = m(ids, attention_mask=mask, position_ids=pos).logits
        assert torch.isfinite(out[mask.bool()]).all()
        assert torch.allclose(out[0], m(a).logits[0], atol=tol, rtol=0)
        assert torch.allclose(out[1, 4:], m(b).logits[0], atol=tol, rtol=0)


def test_zero_padding_rows_stay_finite_in_training():
    m = qh.hybridize(tiny("gpt2"), kind="qsann").double()
    ids = torch.randint(1, V, (2, 6))
    mask = torch.ones_like(ids)
    mask[0, :3] = 0
    labels = ids.masked_fill(mask == 0, -100)
    out = m(ids, attention_mask=mask, labels=labels)
    out.loss.backward()
    assert torch.isfinite(out.logits).all()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters())


# -- generation and the cache ----------------------------------------------------------------------
def greedy_recompute(model, ids, n):
    seq = ids
    for _ in range(n):
        logits = model(seq, use_cache=False).logits[:, -1]
        seq = torch.cat([seq, logits.argmax(-1, keepdim=True)], dim=1)
    return seq


@pytest.mark.parametrize("arch,kind", [("gpt2", "overlap"), ("llama", "overlap"), ("qwen2", "overlap"), ("qwen2", "qsann")])
def test_generate_with_cache_equals_full_recompute(arch, kind):
    m = qh.hybridize(tiny(arch), kind=kind, ffn_fraction=0.5).double().eval()
    ids = torch.randint(1, V, (2, 5), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        # the cached incremental forward computes the same logits as the full forward
        full = m(ids, use_cache=False).logits
        first = m(ids[:, :3], use_cache=True)
        rest = m(ids[:, 3:], past_key_values=first.past_key_values, use_cache=True).logits
        assert torch.allclose(rest, full[:, 3:], atol=1e-12, rtol=0)
        out = m.generate(ids, max_new_tokens=5, do_sample=False)
        assert out.shape == (2, 10)
        assert torch.equal(out, greedy_recompute(m, ids, 5))


def test_generate_left_padded_batch_equals_single_sequences():
    m = qh.hybridize(tiny("llama"), kind="overlap").double().eval()
    g = torch.Generator().manual_seed(5)
    a, b = torch.randint(1, V, (1, 6), generator=g), torch.randint(1, V, (1, 3), generator=g)
    ids = torch.zeros(2, 6, dtype=torch.long)
    ids[0], ids[1, 3:] = a, b
    mask = torch.ones_like(ids)
    mask[1, :3] = 0
    with torch.no_grad():
        out = m.generate(ids, attention_mask=mask, max_new_tokens=5, do_sample=False)
        assert torch.equal(out[0], m.generate(a, max_new_tokens=5, do_sample=False)[0])
        assert torch.equal(out[1, 3:], m.generate(b, max_new_tokens=5, do_sample=False)[0])


def test_swap_test_heads_equal_statevector_heads_with_and_without_cache():
    sv = qh.hybridize(tiny("gpt2"), head_options={"depth": 2, "method": "statevector"}).double().eval()
    sw = qh.hybridize(tiny("gpt2"), head_options={"depth": 2, "method": "swap_test"}).double().eval()
    assert parts(sw, 0)[1].quantum_heads[0].method == "swap_test"
    ids = torch.randint(1, V, (2, 5), generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        a = sv(ids).logits
        assert torch.allclose(sw(ids).logits, a, atol=1e-10, rtol=0)
        first = sw(ids[:, :2], use_cache=True)
        rest = sw(ids[:, 2:], past_key_values=first.past_key_values, use_cache=True).logits
        assert torch.allclose(rest, a[:, 2:], atol=1e-10, rtol=0)


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_attention_takes_the_cache_under_either_keyword(arch):
    # transformers 5.24 renamed the attention modules' past_key_values argument to cache; a layer
    # that read only one name decoded without its cached tokens under the other release
    from transformers.cache_utils import DynamicCache

    m = qh.hybridize(tiny(arch), kind="overlap").double().eval()
    attn = parts(m, 0)[1]
    x = torch.randn(1, 3, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    extra = {}
    if arch != "gpt2":
        extra["position_embeddings"] = m.model.rotary_emb(x, torch.arange(3)[None])
    with torch.no_grad():
        for key in ("cache", "past_key_values"):
            c = DynamicCache(config=m.config)
            attn(x, **{key: c}, **extra)
            assert c.get_seq_length(attn.layer_idx) == 3, key
        with pytest.raises(ValueError, match="once"):
            attn(x, cache=DynamicCache(config=m.config), past_key_values=DynamicCache(config=m.config), **extra)


def test_static_cache_and_other_attention_implementations_are_refused():
    m = qh.hybridize(tiny("llama")).eval()
    ids = torch.randint(1, V, (1, 4))
    with pytest.raises(UnsupportedFeatureError, match="DynamicCache"):
        m.generate(ids, max_new_tokens=2, do_sample=False, cache_implementation="static")
    attn = parts(m, 0)[1]
    x = torch.randn(1, 4, 32)
    rope = m.model.rotary_emb(x, torch.arange(4)[None])
    attn(x, position_embeddings=rope)  # fine with sdpa
    m.config._attn_implementation = "flex_attention"  # its masks are not tensors the quantum heads read
    with pytest.raises(UnsupportedFeatureError, match="'eager' or 'sdpa'"):
        attn(x, position_embeddings=rope)


# -- causality -------------------------------------------------------------------------------------
@pytest.mark.parametrize("arch,kind", [("gpt2", "overlap"), ("llama", "qsann"), ("qwen2", "overlap")])
def test_hybrid_models_are_causal(arch, kind, monkeypatch):
    m = qh.hybridize(tiny(arch), kind=kind, ffn_fraction=0.5).double()
    verdict = check_causal(m, seq_len=6, vocab_size=V)
    assert verdict.causal, str(verdict)
    # control: let the quantum heads see the future and the audit must notice
    def leaky(self, attention_mask, B, T, S, device):
        return torch.ones(1, T, S, dtype=torch.bool, device=device)

    monkeypatch.setattr(HybridAttentionBase, "_allowed", leaky)
    verdict = check_causal(m, seq_len=6, vocab_size=V)
    assert not verdict.causal and verdict.first_leaking_position == 0


# -- parameter report ------------------------------------------------------------------------------
def test_parameter_report_gpt2_hand_counted():
    d, H, L, P, D = 32, 4, 2, 64, 4
    h = d // H
    m = qh.hybridize(tiny("gpt2"), ffn_fraction=0.5, head_fraction=0.5, depth=D)
    rep = qh.parameter_report(m)
    layer = 2 * d + (3 * d * d + 3 * d) + (d * d + d) + 2 * d + (8 * d * d + 5 * d)
    original = V * d + P * d + L * layer + 2 * d  # lm_head tied to wte
    n_ffn, n_qkv = 5, 3  # qubits: ceil(log2 32), ceil(log2 8)
    removed_ffn = 8 * d * d + 5 * d  # one MLP (layer 1)
    removed_attn = L * 3 * (2 * h) * (d + 1)  # c_attn columns (and biases) of 2 heads x q, k, v
    circuit = 2 * n_ffn * D + L * 2 * (2 * n_qkv * D)  # RY + RZ per qubit per layer
    adapter = 2 * d + L * 2 * (3 * (d * h + h) + 1)  # QFFN gain/bias; q/k/v Linear + temperature
    assert rep.removed_ffn == removed_ffn and rep.removed_attention == removed_attn
    assert rep.removed == removed_ffn + removed_attn
    assert rep.quantum_circuit == circuit and rep.quantum_adapter == adapter
    assert rep.original == original
    assert rep.classical == original - rep.removed
    assert rep.total == sum(p.numel() for p in m.parameters())
    qffn = parts(m, 1)[0].qffn
    assert qffn.parameter_count() == {"qffn": 2 * n_ffn * D + 2 * d, "circuit": 2 * n_ffn * D, "classical_ffn": removed_ffn}
    assert [r.mlp for r in rep.layers] == ["classical", "QFFN"]
    assert [r.attention for r in rep.layers] == ["2 classical + 2 overlap"] * 2
    assert sum(r.quantum_circuit for r in rep.layers) == circuit
    table = rep.table()
    assert "2 classical + 2 overlap" in table and f"{original:,}" in table and f"{circuit:,}" in table
    assert str(rep) == table


def test_parameter_report_llama_grouped_query():
    d, H, D = 32, 4, 4
    h, kvh = d // H, 2
    orig = tiny("llama")
    n_orig = sum(p.numel() for p in orig.parameters())
    m = qh.hybridize(orig, ffn_fraction=0.5, head_fraction=0.5, depth=D, kind="qsann")
    rep = qh.parameter_report(m)
    # two classical heads use kv head 0 only: q rows of heads 2-3 and k/v rows of kv head 1 go
    removed_attn = 2 * ((2 * h) * d + (kvh - 1) * h * d * 2)
    assert rep.removed_attention == removed_attn
    assert rep.removed_ffn == 3 * d * (2 * d)  # gate, up, down (no bias)
    assert rep.original == n_orig
    m3 = 3  # QSANN qubits for h = 8: q, k, v circuits of `depth` RX/RY + ring layers and a final RX/RY
    per_circuit = 2 * m3 * D + 2 * m3
    assert rep.quantum_circuit == 2 * 5 * D + 2 * 2 * 3 * per_circuit
    qsann_adapter = (d * 2**m3 + 2**m3) + (3 * m3 * h + h)
    assert rep.quantum_adapter == 2 * d + 2 * 2 * qsann_adapter
    assert rep.total == sum(p.numel() for p in m.parameters())
    assert isinstance(parts(m, 1)[0].qffn, QFFN)


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_qwen2_sliding_window_reaches_the_quantum_heads(attn):
    """One layer, window 3, classical heads silenced: changing token 0 may move outputs 0-2
    only, with the window; without it, every later output moves (the control)."""
    moved = {}
    for window in (True, False):
        torch.manual_seed(0)
        cfg = Qwen2Config(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
                          num_key_value_heads=2, vocab_size=V, max_position_embeddings=64, use_sliding_window=window,
                          sliding_window=3, max_window_layers=0, bos_token_id=0, eos_token_id=None)
        m = Qwen2ForCausalLM(cfg)
        m.set_attn_implementation(attn)
        m = qh.hybridize(m, ffn_fraction=0.0, head_fraction=0.5).double().eval()
        with torch.no_grad():
            m.model.layers[0].self_attn.o_proj.weight[:, :16] = 0  # classical heads 0-1 write nothing
        ids = torch.randint(1, V, (1, 8), generator=torch.Generator().manual_seed(1))
        other = ids.clone()
        other[0, 0] = ids[0, 0] % (V - 1) + 1
        with torch.no_grad():
            full = m(ids).logits
            moved[window] = (full - m(other).logits).abs().amax(-1)[0]
            first = m(ids[:, :5], use_cache=True)  # the sliding cache layer drops old keys
            rest = m(ids[:, 5:], past_key_values=first.past_key_values, use_cache=True).logits
        assert torch.allclose(rest, full[:, 5:], atol=1e-12, rtol=0)
    assert (moved[True][:3] > 1e-3).all() and (moved[True][3:] == 0).all()
    assert (moved[False][3:] > 1e-3).all()
