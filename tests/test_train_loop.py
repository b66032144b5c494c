"""Training (Algorithm 2), checkpoints, evaluation, models."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from qbridge.audit import check_causal
from qbridge.train import (
    CharTokenizer,
    GPTConfig,
    TinyGPT,
    TokenData,
    TrainConfig,
    Trainer,
    build_hf_model,
    count_parameters,
    evaluate,
    evaluate_windows,
    hybridize,
    lr_at,
    make_optimizer,
    select_layers,
)

TEXT = "the quick brown fox jumps over the lazy dog. " * 60


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # tiny models: one thread is faster, and avoids OpenMP stalls on shared cores
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def data():
    tok = CharTokenizer.train(TEXT)
    return tok, TokenData(tok.encode(TEXT))


def tiny(vocab, **kw):
    torch.manual_seed(0)
    return TinyGPT(GPTConfig(vocab_size=vocab, context=16, d_model=16, n_layer=2, n_head=2, **kw))


def test_lr_schedule_warmup_then_constant_or_decay():
    cfg = TrainConfig(steps=100, lr=1e-3, warmup=10)
    assert lr_at(0, cfg) == pytest.approx(1e-4)
    assert lr_at(9, cfg) == pytest.approx(1e-3)
    assert lr_at(50, cfg) == lr_at(99, cfg) == pytest.approx(1e-3)
    cos = TrainConfig(steps=100, lr=1e-3, warmup=10, schedule="cosine", min_lr_ratio=0.1)
    assert lr_at(10, cos) == pytest.approx(1e-3)
    assert lr_at(100, cos) == pytest.approx(1e-4)
    lin = TrainConfig(steps=110, lr=1e-3, warmup=10, schedule="linear", min_lr_ratio=0.0)
    assert lr_at(60, lin) == pytest.approx(0.5e-3)


def test_weight_decay_only_on_matrices_and_embeddings(data):
    tok, _ = data
    model = tiny(tok.vocab_size, quantum_ffn_layers=(1,))
    opt = make_optimizer(model, TrainConfig(weight_decay=0.05))
    decayed = {id(p) for g in opt.param_groups if g["weight_decay"] == 0.05 for p in g["params"]}
    for name, p in model.named_parameters():
        assert (id(p) in decayed) == (p.dim() >= 2), name
    circuit_angles = model.blocks[1].ffn.qffn.quantum.weights
    assert id(circuit_angles) not in decayed


def test_a_few_steps_reduce_the_loss(data):
    tok, d = data
    model = tiny(tok.vocab_size, quantum_ffn_layers=(1,))
    cfg = TrainConfig(steps=40, batch_size=8, context=16, lr=1e-2, warmup=5, eval_batches=2, eval_batch_size=8)
    before = evaluate(model, d, context=16, batch_size=8, max_batches=2)["loss"]
    res = Trainer(model, d, cfg).fit()
    assert res.steps == 40 and len(res.losses) == 40
    assert res.test_loss < before - 0.5  # from ~ln(vocab) toward the repeated text
    assert sum(res.losses[-5:]) / 5 < sum(res.losses[:5]) / 5 - 0.5
    assert res.test_ppl == pytest.approx(math.exp(res.test_loss))
    assert res.train_tokens_per_s > 0 and res.params == count_parameters(model)


def test_gradient_clipping_bounds_the_update(data):
    tok, d = data
    model = tiny(tok.vocab_size)
    cfg = TrainConfig(steps=1, batch_size=4, context=16, lr=1.0, warmup=0, clip=1e-3, weight_decay=0.0)
    tr = Trainer(model, d, cfg)
    # record the clipped gradient norm through a hook on the optimizer step
    norms = []
    orig = tr.optimizer.step

    def step(*a, **k):
        norms.append(float(torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters() if p.grad is not None))))
        return orig(*a, **k)

    tr.optimizer.step = step
    tr.train_step()
    assert norms[0] == pytest.approx(1e-3, rel=1e-3)


def test_checkpoint_resume_continues_identically(data, tmp_path):
    tok, d = data
    # dropout on: the global RNG state must be restored too; a QFFN layer included
    kw = dict(quantum_ffn_layers=(0,), dropout=0.1)
    cfg = TrainConfig(steps=12, batch_size=4, context=16, lr=5e-3, warmup=3, eval_batches=1, eval_batch_size=4)
    straight = Trainer(tiny(tok.vocab_size, **kw), d, cfg)
    straight.fit()

    first = Trainer(tiny(tok.vocab_size, **kw), d, cfg)
    first.fit(6)
    first.save(tmp_path / "ckpt.pt")
    torch.manual_seed(999)  # disturb the global RNG: load must restore it
    torch.rand(10)
    second = Trainer(tiny(tok.vocab_size, **kw), d, cfg).load(tmp_path / "ckpt.pt")
    assert second.step == 6
    second.fit()
    assert second.losses == straight.losses
    for (n, a), (_, b) in zip(straight.model.state_dict().items(), second.model.state_dict().items()):
        assert torch.equal(a, b), n


def test_load_refuses_other_files(data, tmp_path):
    tok, d = data
    torch.save({"weights": 1}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not a qbridge training checkpoint"):
        Trainer(tiny(tok.vocab_size), d, TrainConfig()).load(tmp_path / "x.pt")


class _Oracle(nn.Module):
    """Predicts the next character of TEXT perfectly (its logits peak at the true next token)."""

    def __init__(self, ids: torch.Tensor, vocab: int, wrong: int | None = None):
        super().__init__()
        self.ids, self.vocab, self.wrong = ids, vocab, wrong
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        # the next token after each position: find the window in the sequence
        B, T = x.shape
        out = torch.full((B, T, self.vocab), -10.0)
        seq = self.ids.tolist()
        for b in range(B):
            row = x[b].tolist()
            for s in range(len(seq) - T):
                if seq[s: s + T] == row:
                    nxt = seq[s + 1: s + T + 1]
                    break
            for t in range(T):
                out[b, t, self.wrong if (self.wrong is not None and t == T - 1) else nxt[t]] = 10.0
        return out


def test_evaluate_windows_cer_wer_against_hand_values():
    text = "ab cd ef gh ij kl mn op " * 3
    tok = CharTokenizer.train(text)
    d = TokenData(tok.encode(text), train_fraction=0.5, test_fraction=0.5)
    perfect = evaluate_windows(_Oracle(d.test, tok.vocab_size), d, tok, context=8, stride=1, batch_size=5)
    assert perfect["cer"] == 0.0 and perfect["wer"] == 0.0
    assert perfect["windows"] == d.num_windows("test", 8, stride=1)
    assert perfect["loss"] < 1e-6
    # last character of every window wrong (always a space): CER exactly 1/8 per window
    bad = evaluate_windows(_Oracle(d.test, tok.vocab_size, wrong=tok.encode(" ")[0]), d, tok, context=8, stride=1)
    targets = [tok.decode(row) for _, y in d.windows("test", 8, stride=1, batch_size=1000) for row in y]
    # one substitution (1/8) unless the true last character is a space already
    assert bad["cer"] == pytest.approx(sum((t[-1] != " ") / 8 for t in targets) / len(targets))
    # words: a wrong last character either drops a one-letter last word or changes the last
    # word: one edit in either case, so 1 / (target words), or 0 when the words still match
    expected = [0.0 if t.split() == (t[:-1] + " ").split() else 1 / len(t.split()) for t in targets]
    assert bad["wer"] == pytest.approx(sum(expected) / len(expected))


def test_select_layers_patterns():
    assert select_layers(4, 0.5) == [1, 3]
    assert select_layers(4, 0.25) == [3]
    assert select_layers(4, 1.0) == [0, 1, 2, 3]
    assert select_layers(6, 0.5, "first") == [0, 1, 2]
    r = select_layers(8, 0.5, "random", seed=3)
    assert len(r) == 4 and r == select_layers(8, 0.5, "random", seed=3)
    assert select_layers(4, 0.0) == []
    with pytest.raises(ValueError, match="pattern must be one of"):
        select_layers(4, 0.0, "every-other")  # checked even when no layer is chosen


def test_hybridize_tinygpt_keeps_shared_weights_and_halves_the_ffns(data):
    tok, _ = data
    c = tiny(tok.vocab_size)
    h = hybridize(c, ffn_fraction=0.5, depth=2)
    assert h.config.quantum_ffn_layers == (1,)
    assert len(h.quantum_ffns()) == 1 and h.quantum_ffns()[0].depth == 2
    hs = h.state_dict()
    for k, v in c.state_dict().items():
        if k in hs and hs[k].shape == v.shape:
            assert torch.equal(hs[k], v), k
    assert count_parameters(h) < count_parameters(c)


def test_tinygpt_causality_standard_and_qisa():
    vocab = 11
    for attention, agg, causal in (("standard", "causal", True), ("qisa", "causal", True), ("qisa", "as_published", False)):
        torch.manual_seed(0)
        m = TinyGPT(GPTConfig(vocab_size=vocab, context=8, d_model=16, n_layer=2, n_head=1, attention=attention,
                              qisa_aggregation=agg, quantum_ffn_layers=(1,)))
        verdict = check_causal(m, 8, vocab_size=vocab)
        assert verdict.causal is causal, (attention, agg, str(verdict))


@pytest.mark.parametrize("family", ["gpt2", "llama", "qwen2"])
def test_hf_families_build_and_train_a_step(family, data):
    tok, d = data
    m = build_hf_model(family, tok.vocab_size, d_model=16, n_layer=2, n_head=2, context=16)
    res = Trainer(m, d, TrainConfig(steps=2, batch_size=2, context=16, eval_batches=1, eval_batch_size=2)).fit()
    assert math.isfinite(res.test_loss) and res.params == count_parameters(m)
