"""check_causal on hand-built models whose leaks are known exactly."""

import pytest
import torch
from torch import nn

from qbridge.audit import CausalityVerdict, check_causal


class PrefixSum(nn.Module):
    """Causal: out_t = sum_{s <= t} W x_s."""

    def __init__(self, d=4):
        super().__init__()
        self.lin = nn.Linear(d, d)

    def forward(self, x):
        return torch.cumsum(self.lin(x), dim=1)


class PeekAfter(nn.Module):
    """Leaks from position ``start`` on: out_t = x_t + x_{t+1} for t >= start."""

    def __init__(self, start, d=4):
        super().__init__()
        self.start = start
        self.lin = nn.Linear(d, d)

    def forward(self, x):
        out = self.lin(x).clone()
        out[:, self.start:-1] = out[:, self.start:-1] + x[:, self.start + 1:]
        return out


class TinyLM(nn.Module):
    """Token model with a causal or a bidirectional mixing step, HF-like output object."""

    def __init__(self, causal, vocab=11, d=8):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.head = nn.Linear(d, vocab)
        self.causal = causal

    def forward(self, ids):
        h = self.emb(ids)
        T = ids.shape[1]
        mask = torch.ones(T, T).tril() if self.causal else torch.ones(T, T)
        h = (mask / mask.sum(1, keepdim=True)) @ h

        class Out:
            pass

        o = Out()
        o.logits = self.head(h).reshape(-1, self.head.out_features)  # flattened (B*T, V)
        return o


def test_causal_vector_model_passes():
    v = check_causal(PrefixSum(), 6, d_model=4)
    assert isinstance(v, CausalityVerdict) and v.causal and bool(v)
    assert v.first_leaking_position is None and v.max_change <= v.tolerance
    assert len(v.per_position) == 6 and "causal" in str(v)


@pytest.mark.parametrize("start", [0, 2, 4])
def test_first_leaking_position_is_exact(start):
    v = check_causal(PeekAfter(start), 6)  # d_model inferred from the first Linear
    assert not v.causal and v.first_leaking_position == start
    assert all(c == 0 for c in v.per_position[:start])
    assert v.max_change > 0.1 and "NOT causal" in str(v)


def test_token_models_inferred_from_embedding():
    assert check_causal(TinyLM(True), 5).causal
    bad = check_causal(TinyLM(False), 5)
    assert not bad.causal and bad.first_leaking_position == 0


def test_restores_training_mode_and_respects_dropout():
    m = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    m.train()
    assert check_causal(m, 4, d_model=4).causal  # dropout off during the check
    assert m.training


def test_custom_builder_and_errors():
    seen = []

    def build(g, B, T):
        seen.append((B, T))
        return torch.randn(B, T, 3, generator=g)

    v = check_causal(lambda x: x.cumsum(1), 4, input_builder=build, batch_size=3, trials=1)
    assert v.causal and seen[0] == (3, 4)
    with pytest.raises(ValueError, match="seq_len"):
        check_causal(PrefixSum(), 1, d_model=4)
    with pytest.raises(ValueError, match="vocab_size or d_model"):
        check_causal(lambda x: x, 4)
