"""The modules that :func:`qbridge.hf.hybridize` puts into a Hugging Face decoder.

Owns: :class:`QuantumMLP` (a :class:`~qbridge.nn.QFFN` behind the MLP call signature) and the
hybrid attention modules :class:`GPT2HybridAttention` and :class:`RotaryHybridAttention` (LLaMA,
Qwen2): the classical heads keep the original projection weights, the last ``n_quantum`` heads
are quantum heads with their own circuits.

How a hybrid attention layer computes (B = batch, T = new tokens, S = cached + new tokens,
h = head_dim, Hc classical heads, Hq quantum heads)::

    x (B, T, d)
     |-- classical projections (the original rows for heads 0..Hc-1) -> q (B, Hc, T, h),
     |   k, v (B, Hkv_c, T, h); RoPE on q and k (LLaMA, Qwen2); the cache; the model's own
     |   attention function (eager / sdpa, with the model's mask) -> (B, T, Hc, h)
     |-- quantum heads (their own projections and circuits, no RoPE) -> per-token keys and
     |   values; the cache; scores of every query against the S keys, the model's mask
     |   (causal + padding, or sliding window), softmax, values -> (B, T, Hq, h)
     +-- concatenated in the original head order -> the original output projection

Quantum heads apply no attention dropout (the classical heads keep the model's).

Masks. The quantum heads read the same 4-D mask the classical heads get (boolean for sdpa,
additive 0 / -inf for eager); ``None`` (sdpa's fast path: no padding) means causal, aligned to
the end of the key sequence (lower right), as sdpa treats it. A query row with no allowed key
(a left-padding position) gets a zero output, never NaN. Attention implementations other than
"eager" and "sdpa" pass masks the quantum heads cannot read: they are refused with an error.

RoPE. Rotary position embeddings rotate the classical heads' queries and keys as before.
The quantum heads skip them: an overlap head amplitude-encodes its query and key (a rotation
of pairs of coordinates by position would change the encoded states in a way the circuit was
not designed for) and a QSANN head embeds each token on its own. Quantum heads therefore see
positions only through the causal mask and the residual stream (GPT-2's learned position
embeddings, and whatever earlier classical heads wrote).

KV cache. A hybrid layer stores its quantum heads' per-token keys and values in the same cache
slot as its classical keys and values, as extra "heads" along axis 1 (zero-padded along the
last axis to a common width when a QSANN head's values are wider than head_dim). The slot is
an ordinary tensor pair, so DynamicCache growth, cropping, beam reordering and batch selection
work unchanged, and decoding with the cache computes the same numbers as a full recompute.
Caches that preallocate fixed shapes from the config (StaticCache and friends) cannot hold
the extra heads: they are refused with an error naming the fix (the default dynamic cache).
"""

from __future__ import annotations

import math
import sys
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..exceptions import UnsupportedFeatureError
from ..nn.attention import OverlapAttentionHead, QSANNAttentionHead
from ..nn.qffn import QFFN

__all__ = ["QuantumMLP", "HybridAttentionBase", "GPT2HybridAttention", "RotaryHybridAttention", "HEAD_KINDS"]

HEAD_KINDS = {"overlap": OverlapAttentionHead, "qsann": QSANNAttentionHead}
_MASK_IMPLEMENTATIONS = ("eager", "sdpa")


class QuantumMLP(nn.Module):
    """A QFFN in place of a decoder layer's MLP: (B, T, d) -> (B, T, d).

    ``dropout`` repeats the dropout the replaced MLP applied to its output (GPT-2's
    ``resid_pdrop``; LLaMA and Qwen2 have none).
    """

    def __init__(self, d_model: int, depth: int = 4, backend: Any = "torch", *, dropout: float = 0.0, **options: Any) -> None:
        super().__init__()
        self.qffn = QFFN(d_model, depth, backend, **options)
        self.dropout = nn.Dropout(dropout)

    def forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self.dropout(self.qffn(hidden_states))


def _pad_last(t: torch.Tensor, width: int) -> torch.Tensor:
    return t if t.shape[-1] == width else F.pad(t, (0, width - t.shape[-1]))


class HybridAttentionBase(nn.Module):
    """Shared machinery: quantum heads, masks, cache packing (module docstring).

    Subclasses provide ``_classical_qkv(x, **kw) -> (q, k, v)`` with q (B, Hc, T, h) and k, v
    (B, Hkv_c, T, h), ``_output(y)`` for the (B, T, H * h) concatenation, and the attention
    function defaults.
    """

    is_causal = True

    def __init__(
        self,
        config: Any,
        layer_idx: int,
        d_model: int,
        num_heads: int,
        head_dim: int,
        n_quantum: int,
        kind: str,
        backend: Any,
        head_options: dict[str, Any],
    ) -> None:
        super().__init__()
        if kind not in HEAD_KINDS:
            raise ValueError(f"kind must be one of {sorted(HEAD_KINDS)}, got {kind!r}")
        if not 0 <= n_quantum <= num_heads:
            raise ValueError(f"n_quantum must lie in [0, {num_heads}], got {n_quantum}")
        self.config = config
        self.layer_idx = layer_idx
        self.num_heads = num_heads
        self.head_dim = head_dim
        self.n_quantum = n_quantum
        self.n_classical = num_heads - n_quantum
        self.kind = kind
        # keys and values are expanded to one per classical head before the attention function
        self.num_key_value_groups = 1
        self.quantum_heads = nn.ModuleList(
            HEAD_KINDS[kind](d_model, head_dim, backend=backend, causal=True, **head_options) for _ in range(n_quantum)
        )
        if kind == "overlap":
            self._qk_width, self._qv_width = head_dim, head_dim
        else:
            m = self.quantum_heads[0].num_qubits if n_quantum else 1
            self._qk_width, self._qv_width = 1, 3 * m

    # -- subclass hooks ---------------------------------------------------------------------------
    def _classical_qkv(self, x: torch.Tensor, **kwargs: Any):
        raise NotImplementedError

    def _output(self, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    n_kv_classical: int = 0
    kv_groups: int = 1
    scaling: float = 1.0
    sliding_window: int | None = None
    _default_attention: Callable | None = None
    _extra_attention_kwargs: dict[str, Any] = {}

    def _dropout_p(self) -> float:
        return 0.0

    # -- quantum heads --------------------------------------------------------------------------
    def _quantum_tokens(self, x: torch.Tensor):
        """Per-token queries, keys and values of every quantum head for the new tokens.

        Returns (queries: list of (B, T, *), keys (B, Hq, T, kw), values (B, Hq, T, vw)).
        """
        qs, ks, vs = [], [], []
        for head in self.quantum_heads:
            if self.kind == "overlap":
                q, k, v = head.q_proj(x), head.k_proj(x), head.v_proj(x)  # (B, T, h) each
            else:
                q, k, v = head.layer(head.embed(x))  # (B, T, 1), (B, T, 1), (B, T, 3m)
            qs.append(q)
            ks.append(k)
            vs.append(v)
        return qs, torch.stack(ks, dim=1), torch.stack(vs, dim=1)

    def _overlap_scores(self, head: OverlapAttentionHead, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """s[b, i, j] = |<k_j|U|q_i>|^2 for T queries against S >= T keys (the last T are new)."""
        if head.method == "statevector":
            return head.scores(q, k)  # one circuit per query; overlaps by a matrix product
        # swap test: one circuit per causally allowed pair only (query i sits at S - T + i)
        B, T, h = q.shape
        S = k.shape[1]
        pos = torch.arange(T, device=q.device)[:, None] + (S - T)
        ii, jj = (torch.arange(S, device=q.device)[None, :] <= pos).nonzero(as_tuple=True)
        z = head.layer(q[:, ii, :].reshape(-1, h), k[:, jj, :].reshape(-1, h)).reshape(B, -1)  # (B, pairs)
        s = z.new_zeros((B, T, S))
        return s.index_put((torch.arange(B, device=q.device)[:, None], ii[None, :], jj[None, :]), z)

    def _allowed(self, attention_mask: Any, B: int, T: int, S: int, device: Any) -> torch.Tensor:
        """(B or 1, T, S) boolean: may query i read key j (the model's mask, read as sdpa does)."""
        if attention_mask is None:
            pos = torch.arange(T, device=device)[:, None] + (S - T)
            j = torch.arange(S, device=device)[None, :]
            allowed = j <= pos
            if self.sliding_window is not None:
                allowed = allowed & (j > pos - self.sliding_window)
            return allowed[None]
        if not torch.is_tensor(attention_mask) or attention_mask.dim() != 4:
            raise UnsupportedFeatureError(
                f"the quantum heads need a 4-D attention mask (eager or sdpa attention), got "
                f"{type(attention_mask).__name__}; load the model with attn_implementation='sdpa' or 'eager'"
            )
        if attention_mask.shape[-1] != S or attention_mask.shape[-2] != T:
            raise UnsupportedFeatureError(
                f"attention mask of shape {tuple(attention_mask.shape)} does not match {T} queries and {S} keys; "
                "hybrid attention layers support the default dynamic cache only"
            )
        m = attention_mask[:, 0]
        if m.dtype == torch.bool:
            return m
        return m > torch.finfo(m.dtype).min / 2  # additive masks: 0 where allowed, min or -inf elsewhere

    # -- forward --------------------------------------------------------------------------------
    def _check_implementation(self) -> str:
        impl = getattr(self.config, "_attn_implementation", None) or "eager"
        if impl not in _MASK_IMPLEMENTATIONS:
            raise UnsupportedFeatureError(
                f"hybrid attention layers support attn_implementation 'eager' or 'sdpa', not {impl!r} "
                "(the quantum heads must read the model's mask); call model.set_attn_implementation('sdpa')"
            )
        return impl

    def _check_cache(self, cache: Any) -> None:
        from transformers.cache_utils import DynamicLayer

        layers = getattr(cache, "layers", None)
        if layers is None:
            raise UnsupportedFeatureError(
                f"hybrid attention layers need a transformers Cache with per-layer storage, got {type(cache).__name__}"
            )
        if self.layer_idx < len(layers):
            cls = type(layers[self.layer_idx])
        else:
            cls = getattr(cache, "layer_class_to_replicate", None)
        if not (isinstance(cls, type) and issubclass(cls, DynamicLayer)):
            raise UnsupportedFeatureError(
                f"hybrid attention layer {self.layer_idx} stores its quantum heads' keys in the cache and needs a "
                f"growing (dynamic) cache layer, got {getattr(cls, '__name__', cls)}; use the default DynamicCache "
                "(do not pass cache_implementation='static')"
            )

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        past_key_values: Any = None,
        rope: tuple[torch.Tensor, torch.Tensor] | None = None,
        **kwargs: Any,
    ) -> tuple[torch.Tensor, None]:
        impl = self._check_implementation()
        B, T, _ = hidden_states.shape
        h, Hc, Hq = self.head_dim, self.n_classical, self.n_quantum
        if Hc:
            q_c, k_c, v_c = self._classical_qkv(hidden_states, rope=rope)
        else:
            q_c = k_c = v_c = None
        if Hq:
            q_q, k_q, v_q = self._quantum_tokens(hidden_states)
        if past_key_values is not None:
            self._check_cache(past_key_values)
            parts_k = ([k_c] if Hc else []) + ([k_q] if Hq else [])
            parts_v = ([v_c] if Hc else []) + ([v_q] if Hq else [])
            width = max(t.shape[-1] for t in parts_k + parts_v)
            K = torch.cat([_pad_last(t, width) for t in parts_k], dim=1)  # (B, Hkv_c + Hq, T, width)
            V = torch.cat([_pad_last(t, width) for t in parts_v], dim=1)
            K, V = past_key_values.update(K, V, self.layer_idx)  # (B, ., S, width)
            nk = self.n_kv_classical if Hc else 0
            if Hc:
                k_c, v_c = K[:, :nk, :, :h], V[:, :nk, :, :h]
            if Hq:
                k_q, v_q = K[:, nk:, :, : self._qk_width], V[:, nk:, :, : self._qv_width]
        heads = []
        if Hc:
            if self.kv_groups > 1:  # GQA: kv head of classical head i is i // groups
                idx = torch.arange(Hc, device=k_c.device) // self.kv_groups
                k_c, v_c = k_c.index_select(1, idx), v_c.index_select(1, idx)
            from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

            attend = ALL_ATTENTION_FUNCTIONS.get_interface(impl, self._default_attention)
            y_c, _ = attend(
                self, q_c, k_c, v_c, attention_mask,
                dropout=self._dropout_p() if self.training else 0.0, scaling=self.scaling,
                **self._extra_attention_kwargs, **kwargs,
            )  # (B, T, Hc, h)
            heads.append(y_c.reshape(B, T, Hc * h))
        if Hq:
            S = k_q.shape[2]
            allowed = self._allowed(attention_mask, B, T, S, hidden_states.device)  # (B|1, T, S)
            any_key = allowed.any(dim=-1, keepdim=True)
            for i, head in enumerate(self.quantum_heads):
                keys, values = k_q[:, i], v_q[:, i]  # (B, S, kw), (B, S, vw)
                if self.kind == "overlap":
                    logits = head.log_tau.exp() * self._overlap_scores(head, q_q[i], keys)
                else:
                    logits = -((q_q[i] - keys.transpose(1, 2)) ** 2)  # (B, T, S): -(q_i - k_j)^2
                # a finite fill keeps fully masked rows (left padding) NaN-free; they are zeroed
                logits = logits.masked_fill(~allowed, torch.finfo(logits.dtype).min)
                a = F.softmax(logits, dim=-1) * any_key
                y = a @ values  # (B, T, vw)
                if self.kind == "qsann":
                    y = head.out(y)
                heads.append(y)
        return self._output(torch.cat(heads, dim=-1)), None

    def extra_repr(self) -> str:
        return (
            f"layer_idx={self.layer_idx}, heads={self.num_heads} ({self.n_classical} classical, "
            f"{self.n_quantum} quantum {self.kind!r}), head_dim={self.head_dim}"
        )


def _module_function(module: nn.Module, name: str) -> Callable | None:
    """A function of the modeling file that defines ``module``'s class (its own eager attention, RoPE)."""
    return getattr(sys.modules[type(module).__module__], name, None)


class GPT2HybridAttention(HybridAttentionBase):
    """GPT-2 self-attention with the last ``n_quantum`` heads quantum.

    Keeps: the c_attn columns of the classical heads' queries, keys and values (a smaller
    Conv1D), the whole c_proj, both dropouts and the attention scaling (including
    ``scale_attn_by_inverse_layer_idx``). ``reorder_and_upcast_attn`` is not reproduced: the
    classical heads go through the model's attention function.
    """

    def __init__(self, original: nn.Module, n_quantum: int, kind: str, backend: Any, head_options: dict[str, Any],
                 warm_start: bool = True) -> None:
        from transformers.pytorch_utils import Conv1D

        if getattr(original, "is_cross_attention", False):
            raise UnsupportedFeatureError("cross-attention layers cannot be hybridized")
        config = original.config
        d, H, h = original.embed_dim, original.num_heads, original.head_dim
        super().__init__(config, original.layer_idx, d, H, h, n_quantum, kind, backend, head_options)
        Hc = self.n_classical
        self.n_kv_classical = Hc
        self.scaling = original.scaling
        self._default_attention = _module_function(original, "eager_attention_forward")
        W, b = original.c_attn.weight, original.c_attn.bias  # (d, 3d), (3d,): [q | k | v], heads contiguous
        cols = torch.cat([torch.arange(s * d, s * d + Hc * h) for s in range(3)])
        if Hc:
            self.c_attn = Conv1D(3 * Hc * h, d)
            with torch.no_grad():
                self.c_attn.weight.copy_(W[:, cols])
                self.c_attn.bias.copy_(b[cols])
        else:
            self.c_attn = None
        self.c_proj = original.c_proj
        self.attn_dropout = original.attn_dropout
        self.resid_dropout = original.resid_dropout
        if warm_start and kind == "overlap":
            with torch.no_grad():
                for i, head in enumerate(self.quantum_heads):
                    j = Hc + i
                    for s, lin in enumerate((head.q_proj, head.k_proj, head.v_proj)):
                        sl = slice(s * d + j * h, s * d + (j + 1) * h)
                        lin.weight.copy_(W[:, sl].T)
                        lin.bias.copy_(b[sl])
        self.to(device=W.device, dtype=W.dtype)

    def _dropout_p(self) -> float:
        return self.attn_dropout.p

    def _classical_qkv(self, x: torch.Tensor, **kwargs: Any):
        B, T, _ = x.shape
        q, k, v = self.c_attn(x).split(self.n_classical * self.head_dim, dim=2)
        # (B, T, Hc * h) -> (B, Hc, T, h)
        return tuple(t.view(B, T, self.n_classical, self.head_dim).transpose(1, 2) for t in (q, k, v))

    def _output(self, y: torch.Tensor) -> torch.Tensor:
        return self.resid_dropout(self.c_proj(y))

    def forward(self, hidden_states, cache=None, attention_mask=None, encoder_hidden_states=None,
                encoder_attention_mask=None, output_attentions=False, past_key_values=None, **kwargs):
        if encoder_hidden_states is not None:
            raise UnsupportedFeatureError("hybrid GPT-2 attention does not do cross-attention")
        kwargs.pop("use_cache", None)
        return super().forward(hidden_states, attention_mask=attention_mask,
                               past_key_values=_one_cache(cache, past_key_values), **kwargs)


class RotaryHybridAttention(HybridAttentionBase):
    """LLaMA / Qwen2 self-attention (RoPE, grouped-query) with the last ``n_quantum`` heads quantum.

    Keeps: the q_proj rows of the classical heads, the k_proj / v_proj rows of the key-value
    heads they use (kv head of head i is i // groups), the whole o_proj, the scaling, the
    attention dropout and Qwen2's sliding window. Quantum heads get no RoPE (module docstring).
    """

    def __init__(self, original: nn.Module, n_quantum: int, kind: str, backend: Any, head_options: dict[str, Any],
                 warm_start: bool = True) -> None:
        config = original.config
        d = original.q_proj.in_features
        h = original.head_dim
        H = original.q_proj.out_features // h
        Hkv = original.k_proj.out_features // h
        super().__init__(config, original.layer_idx, d, H, h, n_quantum, kind, backend, head_options)
        Hc = self.n_classical
        self.kv_groups = H // Hkv
        self.n_kv_classical = nkv = math.ceil(Hc / self.kv_groups)
        self.scaling = original.scaling
        self.attention_dropout = getattr(original, "attention_dropout", 0.0)
        self.sliding_window = getattr(original, "sliding_window", None)
        if self.sliding_window is not None:
            self._extra_attention_kwargs = {"sliding_window": self.sliding_window}
        self._default_attention = _module_function(original, "eager_attention_forward")
        self._rotary = _module_function(original, "apply_rotary_pos_emb")
        if Hc:
            self.q_proj = _rows(original.q_proj, 0, Hc * h)
            self.k_proj = _rows(original.k_proj, 0, nkv * h)
            self.v_proj = _rows(original.v_proj, 0, nkv * h)
        else:
            self.q_proj = self.k_proj = self.v_proj = None
        self.o_proj = original.o_proj
        if warm_start and kind == "overlap":
            with torch.no_grad():
                for i, head in enumerate(self.quantum_heads):
                    j = Hc + i
                    kv = j // self.kv_groups
                    for lin, src, r in ((head.q_proj, original.q_proj, j), (head.k_proj, original.k_proj, kv),
                                        (head.v_proj, original.v_proj, kv)):
                        sl = slice(r * h, (r + 1) * h)
                        lin.weight.copy_(src.weight[sl])
                        if src.bias is not None:
                            lin.bias.copy_(src.bias[sl])
                        else:
                            lin.bias.zero_()
        self.to(device=original.o_proj.weight.device, dtype=original.o_proj.weight.dtype)

    def _dropout_p(self) -> float:
        return self.attention_dropout

    def _classical_qkv(self, x: torch.Tensor, rope=None, **kwargs: Any):
        B, T, _ = x.shape
        shape = (B, T, -1, self.head_dim)
        q = self.q_proj(x).view(shape).transpose(1, 2)  # (B, Hc, T, h)
        k = self.k_proj(x).view(shape).transpose(1, 2)  # (B, Hkv_c, T, h)
        v = self.v_proj(x).view(shape).transpose(1, 2)
        if rope is None:
            raise ValueError("LLaMA-style attention needs position_embeddings (cos, sin) from the model")
        cos, sin = rope
        q, k = self._rotary(q, k, cos, sin)
        return q, k, v

    def _output(self, y: torch.Tensor) -> torch.Tensor:
        return self.o_proj(y)

    def forward(self, hidden_states, position_embeddings=None, attention_mask=None, cache=None, past_key_values=None,
                **kwargs):
        kwargs.pop("use_cache", None)
        return super().forward(hidden_states, attention_mask=attention_mask,
                               past_key_values=_one_cache(cache, past_key_values),
                               rope=position_embeddings, **kwargs)


def _one_cache(cache: Any, past_key_values: Any) -> Any:
    """The layer's KV cache under either keyword: transformers up to 5.23 passes it to attention
    modules as ``past_key_values``, 5.24 as ``cache`` (the old name kept as a deprecated alias).
    Ignoring the one a release uses would silently decode without the cached tokens."""
    if cache is not None and past_key_values is not None and cache is not past_key_values:
        raise ValueError("pass the KV cache once, as cache= or as past_key_values=, not both")
    return cache if cache is not None else past_key_values


def _rows(lin: nn.Linear, start: int, stop: int) -> nn.Linear:
    """A new Linear holding rows [start, stop) of ``lin`` (copied, so the original can be freed)."""
    new = nn.Linear(lin.in_features, stop - start, bias=lin.bias is not None, device=lin.weight.device, dtype=lin.weight.dtype)
    with torch.no_grad():
        new.weight.copy_(lin.weight[start:stop])
        if lin.bias is not None:
            new.bias.copy_(lin.bias[start:stop])
    return new
