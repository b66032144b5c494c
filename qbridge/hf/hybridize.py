"""Turn a Hugging Face GPT-2, LLaMA or Qwen2 model into a hybrid one, and back from disk.

Owns: :func:`hybridize` (which layers and heads become quantum, options routed to the layers,
the layout recorded in ``model.config.qbridge``), :func:`restore` (rebuild the hybrid modules
of a model built from a hybrid config) and :func:`from_pretrained` (load a saved hybrid model
exactly: config -> model -> hybrid modules -> every weight from the checkpoint).

Choices, written down:

- Which layers. ``ffn_fraction`` of the L decoder layers get a QFFN in place of their MLP:
  k = floor(ffn_fraction * L + 1/2) layers, picked by ``pattern``: "alternate" spreads them
  evenly and ends at the last layer (layer ceil((i + 1) L / k) - 1 for i < k; a fraction of 1/2
  gives the odd layers 1, 3, 5, ...), "first" takes layers 0..k-1, "random" draws k layers
  with ``random.Random(seed)``. ``ffn_layers=[...]`` names them directly.
- Which heads. ``head_fraction`` is a fraction of the heads of every attention layer (so of
  all heads): the last floor(head_fraction * H + 1/2) heads of each layer become quantum;
  ``attention_layers=[...]`` restricts this to some layers. Keeping the classical heads first
  keeps their columns of the output projection where they were.
- Initial weights. Quantum modules are created under ``torch.manual_seed(seed)`` in a forked
  RNG (hybridize is reproducible and leaves the global RNG alone). With ``warm_start`` (default)
  an overlap head's query, key and value projections start from the replaced head's rows.
- Options. ``depth`` and ``backend`` go to every quantum layer; other keyword options go to
  the QFFN and/or the quantum heads, whichever accepts them (``readout`` only to the QFFN,
  ``shots`` to both, ...); ``ffn_options`` / ``head_options`` address one side only. An option
  neither accepts is a TypeError. ``seed`` here seeds the pattern and the initial weights; a
  layer's shot-sampling seed is ``ffn_options={"seed": ...}`` / ``head_options={...}``.
- The record. ``model.config.qbridge`` holds the layout (a JSON dict, saved in config.json by
  ``save_pretrained``): layers, heads, kind, depth, backend name, the JSON-representable
  options, the counts of removed parameters, and ``"version": 1``. Options that are not JSON
  (callables, Backend objects, circuits) are listed under ``"unrecorded_options"``; restoring
  needs them passed again. The record lives on ``model.config``: two models built from one
  config object share it, so build each model from its own config.
- Generation. The KV cache works for hybrid layers (the quantum heads' keys and values ride in
  the same dynamic cache slot, see :mod:`qbridge.hf.modules`); ``use_cache`` stays as it was.
  Static (preallocated) caches are refused.
"""

from __future__ import annotations

import inspect
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from ..backends.base import Backend
from ..exceptions import UnsupportedModelError
from ..nn.qffn import QFFN
from ..nn.selection import select_layers
from .modules import HEAD_KINDS, GPT2HybridAttention, HybridAttentionBase, QuantumMLP, RotaryHybridAttention

__all__ = [
    "SUPPORTED_MODEL_TYPES",
    "UnsupportedModelError",
    "hybridize",
    "restore",
    "from_pretrained",
    "hybrid_layout",
    "is_hybrid",
    "select_layers",
]

LAYOUT_VERSION = 1




@dataclass(frozen=True)
class _Arch:
    base_attr: str  # the attribute of a *ForCausalLM that holds the decoder stack
    layers_attr: str
    mlp_attr: str
    attn_attr: str
    attention: type[HybridAttentionBase]
    mlp_dropout: Callable[[Any], float]


_ARCHS: dict[str, _Arch] = {
    "gpt2": _Arch("transformer", "h", "mlp", "attn", GPT2HybridAttention, lambda c: float(c.resid_pdrop)),
    "llama": _Arch("model", "layers", "mlp", "self_attn", RotaryHybridAttention, lambda c: 0.0),
    "qwen2": _Arch("model", "layers", "mlp", "self_attn", RotaryHybridAttention, lambda c: 0.0),
}
SUPPORTED_MODEL_TYPES = tuple(_ARCHS)


def _arch(model: nn.Module) -> _Arch:
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", None)
    if model_type not in _ARCHS:
        raise UnsupportedModelError(
            f"qbridge.hf cannot hybridize model_type {model_type!r} ({type(model).__name__}); supported: "
            f"{', '.join(SUPPORTED_MODEL_TYPES)} (GPT-2, LLaMA, Qwen2 decoders of transformers 5.x)",
            model_type=model_type,
        )
    return _ARCHS[model_type]


def _decoder_layers(model: nn.Module, arch: _Arch) -> nn.ModuleList:
    base = getattr(model, arch.base_attr, model)
    layers = getattr(base, arch.layers_attr, None)
    if not isinstance(layers, nn.ModuleList):
        raise UnsupportedModelError(
            f"{type(model).__name__} has no decoder layers at .{arch.base_attr}.{arch.layers_attr}; "
            "pass a causal LM (e.g. GPT2LMHeadModel, LlamaForCausalLM) or its base model"
        )
    return layers


def _accepted(cls: type, skip: Sequence[str]) -> set[str]:
    params = inspect.signature(cls.__init__).parameters
    return {n for n, p in params.items() if n != "self" and n not in skip and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


_FFN_KEYS = _accepted(QFFN, ("d_model", "depth", "backend"))
_HEAD_SKIP = ("d_model", "d_head", "backend", "causal")


def _route_options(kind: str, layer_options: dict, ffn_options: dict | None, head_options: dict | None, depth: int):
    head_keys = _accepted(HEAD_KINDS[kind], _HEAD_SKIP)
    ffn, head = {}, {"depth": depth}
    for key, value in layer_options.items():
        if key not in _FFN_KEYS and key not in head_keys:
            raise TypeError(
                f"unknown layer option {key!r}: QFFN accepts {sorted(_FFN_KEYS)}, {kind} heads accept {sorted(head_keys)}"
            )
        if key in _FFN_KEYS:
            ffn[key] = value
        if key in head_keys:
            head[key] = value
    for name, given, keys, into in (("ffn_options", ffn_options, _FFN_KEYS, ffn), ("head_options", head_options, head_keys, head)):
        for key, value in (given or {}).items():
            if key not in keys:
                raise TypeError(f"{name} has unknown option {key!r}; accepted: {sorted(keys)}")
            into[key] = value
    return ffn, head


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _split_recordable(options: dict, prefix: str) -> tuple[dict, list[str]]:
    kept, dropped = {}, []
    for k, v in options.items():
        if _jsonable(v):
            kept[k] = v
        else:
            dropped.append(f"{prefix}.{k}")
    return kept, dropped


def _count(module: nn.Module | None, exclude: Sequence[nn.Module] = ()) -> int:
    if module is None:
        return 0
    skip = {id(p) for m in exclude for p in m.parameters()}
    return sum(p.numel() for p in module.parameters() if id(p) not in skip)


def _apply_layout(model: nn.Module, layout: dict, backend: Any, ffn_opts: dict, head_opts: dict, seed: int,
                  warm_start: bool) -> dict[str, int]:
    """Replace the modules named by ``layout``; returns the removed parameter counts."""
    arch = _arch(model)
    layers = _decoder_layers(model, arch)
    config = model.config
    d = config.hidden_size
    removed = {"ffn": 0, "attention": 0}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for i in layout["ffn_layers"]:
            block = layers[i]
            old = getattr(block, arch.mlp_attr)
            ref = next(old.parameters())
            new = QuantumMLP(d, layout["depth"], backend, dropout=arch.mlp_dropout(config), **ffn_opts)
            new.to(device=ref.device, dtype=ref.dtype).train(old.training)
            removed["ffn"] += _count(old)
            setattr(block, arch.mlp_attr, new)
        n_q = layout["attention"]["quantum_heads"]
        for i in layout["attention"]["layers"] if n_q else []:
            block = layers[i]
            old = getattr(block, arch.attn_attr)
            new = arch.attention(old, n_q, layout["attention"]["kind"], backend, head_opts, warm_start=warm_start)
            new.train(old.training)
            removed["attention"] += _count(old) - _count(new, exclude=list(new.quantum_heads))
            setattr(block, arch.attn_attr, new)
    return removed


def is_hybrid(model: nn.Module) -> bool:
    """Whether ``model.config`` carries a qbridge layout."""
    return isinstance(getattr(getattr(model, "config", None), "qbridge", None), dict)


def hybrid_layout(model: nn.Module) -> dict:
    """The recorded layout (``model.config.qbridge``); a ValueError for a plain model."""
    if not is_hybrid(model):
        raise ValueError("this model has no qbridge layout (config.qbridge); call qbridge.hf.hybridize first")
    return model.config.qbridge


def hybridize(
    model: nn.Module,
    ffn_fraction: float = 0.5,
    head_fraction: float = 0.5,
    depth: int = 4,
    backend: str | Backend | None = "torch",
    pattern: str = "alternate",
    seed: int = 0,
    kind: str = "overlap",
    *,
    ffn_layers: Sequence[int] | None = None,
    attention_layers: Sequence[int] | None = None,
    ffn_options: dict[str, Any] | None = None,
    head_options: dict[str, Any] | None = None,
    warm_start: bool = True,
    **layer_options: Any,
) -> nn.Module:
    """Replace MLPs by QFFNs and attention heads by quantum heads, in place (module docstring).

    Args:
        model: a transformers 5.x GPT-2, LLaMA or Qwen2 model (``*ForCausalLM`` or base model).
        ffn_fraction: fraction of the decoder layers whose MLP becomes a :class:`~qbridge.nn.QFFN`.
        head_fraction: fraction of the heads of each attention layer that become quantum.
        depth: ansatz depth D of every quantum circuit (``head_options={"depth": ...}`` overrides
            it for the heads).
        backend: backend name (recorded) or object (its name is recorded).
        pattern: "alternate", "first" or "random" (seeded by ``seed``).
        seed: seeds the random pattern and the initial weights of the new modules.
        kind: quantum head kind, "overlap" (:class:`~qbridge.nn.OverlapAttentionHead`) or "qsann".
        ffn_layers / attention_layers: explicit layer indices instead of the fraction's choice.
        ffn_options / head_options: options for one side only.
        warm_start: initialise overlap heads' projections from the replaced heads' rows.
        **layer_options: options for the QFFN and/or the heads (whichever accepts each).

    Returns the same model object, with ``model.config.qbridge`` recording the layout.
    """
    arch = _arch(model)
    if is_hybrid(model):
        raise ValueError("this model is already hybrid (config.qbridge is set); hybridize a plain model")
    if kind not in HEAD_KINDS:
        raise ValueError(f"kind must be one of {sorted(HEAD_KINDS)}, got {kind!r}")
    if not 0.0 <= head_fraction <= 1.0:
        raise ValueError(f"head_fraction must lie in [0, 1], got {head_fraction}")
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be a positive integer, got {depth!r}")
    config = model.config
    if getattr(config, "add_cross_attention", False):
        raise UnsupportedModelError("models with cross-attention (config.add_cross_attention) cannot be hybridized")
    L = len(_decoder_layers(model, arch))
    if ffn_layers is None:
        ffn = select_layers(L, ffn_fraction, pattern, seed)
    else:
        ffn = sorted({int(i) for i in ffn_layers})
    attn = list(range(L)) if attention_layers is None else sorted({int(i) for i in attention_layers})
    for name, idx in (("ffn_layers", ffn), ("attention_layers", attn)):
        bad = [i for i in idx if not 0 <= i < L]
        if bad:
            raise ValueError(f"{name} {bad} out of range: the model has {L} layers")
    H = config.num_attention_heads
    n_q = int(math.floor(head_fraction * H + 0.5))  # rounded half up, as select_layers counts layers
    ffn_opts, head_opts = _route_options(kind, layer_options, ffn_options, head_options, depth)
    backend_name = backend.backend_name if isinstance(backend, Backend) else (backend or "torch")
    rec_ffn, miss_ffn = _split_recordable(ffn_opts, "ffn")
    rec_head, miss_head = _split_recordable(head_opts, "head")
    layout = {
        "version": LAYOUT_VERSION,
        "model_type": config.model_type,
        "num_layers": L,
        "ffn_layers": ffn,
        "attention": {"layers": attn if n_q else [], "quantum_heads": n_q, "num_heads": H, "kind": kind},
        "depth": depth,
        "backend": backend_name,
        "ffn_options": rec_ffn,
        "head_options": rec_head,
        "unrecorded_options": miss_ffn + miss_head + ([] if not isinstance(backend, Backend) else ["backend"]),
        "pattern": pattern if ffn_layers is None else "explicit",
        "seed": seed,
        "ffn_fraction": ffn_fraction,
        "head_fraction": head_fraction,
    }
    layout["removed_parameters"] = _apply_layout(model, layout, backend, ffn_opts, head_opts, seed, warm_start)
    config.qbridge = layout
    return model


def restore(
    model: nn.Module,
    *,
    backend: str | Backend | None = None,
    ffn_options: dict[str, Any] | None = None,
    head_options: dict[str, Any] | None = None,
) -> nn.Module:
    """Rebuild the hybrid modules recorded in ``model.config.qbridge`` on a model built from
    that config (e.g. ``AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path))``).

    The new modules' weights are freshly initialised (seeded as at hybridize time); load the
    checkpoint afterwards, or use :func:`from_pretrained`, which does both. ``backend`` and the
    option dicts override the recorded ones (e.g. train on "torch", evaluate on "aer"); options
    listed in ``unrecorded_options`` must be given again.
    """
    layout = hybrid_layout(model)
    if layout.get("version") != LAYOUT_VERSION:
        raise ValueError(f"qbridge layout version {layout.get('version')!r} is not supported (expected {LAYOUT_VERSION})")
    arch = _arch(model)
    layers = _decoder_layers(model, arch)
    if layout["model_type"] != model.config.model_type or layout["num_layers"] != len(layers):
        raise ValueError(
            f"the layout was recorded for a {layout['num_layers']}-layer {layout['model_type']} model, "
            f"not this {len(layers)}-layer {model.config.model_type} model"
        )
    for i in layout["ffn_layers"]:
        if isinstance(getattr(layers[i], arch.mlp_attr), QuantumMLP):
            raise ValueError("the model's hybrid modules are already in place; restore a model built from its config")
    ffn = {**layout["ffn_options"], **(ffn_options or {})}
    head = {**layout["head_options"], **(head_options or {})}
    missing = []
    for name in layout.get("unrecorded_options", []):
        side, _, key = name.partition(".")
        if name == "backend" and backend is None:
            missing.append("backend")
        elif side == "ffn" and key not in ffn or side == "head" and key not in head:
            missing.append(name)
    if missing:
        raise ValueError(
            f"the layout could not record options {missing} (not JSON); pass them again "
            "(backend=..., ffn_options={...}, head_options={...})"
        )
    for name, given, keys in (("ffn_options", ffn, _FFN_KEYS), ("head_options", head, _accepted(HEAD_KINDS[layout["attention"]["kind"]], _HEAD_SKIP))):
        bad = sorted(set(given) - keys)
        if bad:
            raise TypeError(f"{name} has unknown option(s) {bad}; accepted: {sorted(keys)}")
    _apply_layout(model, layout, backend if backend is not None else layout["backend"], ffn, head, layout["seed"], warm_start=False)
    return model


def _read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    single = path / "model.safetensors"
    index = path / "model.safetensors.index.json"
    if single.exists() or index.exists():
        from safetensors.torch import load_file

        if single.exists():
            return load_file(str(single))
        state: dict[str, torch.Tensor] = {}
        for shard in sorted(set(json.loads(index.read_text())["weight_map"].values())):
            state.update(load_file(str(path / shard)))
        return state
    binary = path / "pytorch_model.bin"
    if binary.exists():
        return torch.load(binary, map_location="cpu", weights_only=True)
    raise FileNotFoundError(f"no model.safetensors, model.safetensors.index.json or pytorch_model.bin in {path}")


def from_pretrained(
    path: str | Path,
    *,
    backend: str | Backend | None = None,
    dtype: torch.dtype | None = None,
    device: Any = None,
    ffn_options: dict[str, Any] | None = None,
    head_options: dict[str, Any] | None = None,
) -> nn.Module:
    """Load a hybrid model saved with ``save_pretrained``: every weight exactly as saved.

    Builds the model class named in the config (``config.architectures[0]``, else
    AutoModelForCausalLM) from the config, rebuilds the hybrid modules (:func:`restore`), casts
    to the checkpoint's floating dtype (or ``dtype``), and loads the whole state dict strictly:
    a missing key is an error unless it is a tied weight (GPT-2's lm_head), an unexpected one
    always is. Returns the model in eval mode, as transformers does. A checkpoint without a
    qbridge layout is refused: load it with transformers' own ``from_pretrained``.
    """
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM

    path = Path(path)
    config = AutoConfig.from_pretrained(str(path))
    if not isinstance(getattr(config, "qbridge", None), dict):
        raise ValueError(f"{path} is not a qbridge hybrid checkpoint (no 'qbridge' in config.json); "
                         "use transformers' from_pretrained for plain models")
    arch_names = getattr(config, "architectures", None) or []
    cls = getattr(transformers, arch_names[0], None) if arch_names else None
    model = cls(config) if cls is not None else AutoModelForCausalLM.from_config(config)
    restore(model, backend=backend, ffn_options=ffn_options, head_options=head_options)
    state = _read_checkpoint(path)
    if dtype is None:
        floats = [t.dtype for t in state.values() if t.is_floating_point()]
        dtype = max(set(floats), key=floats.count) if floats else None
    if dtype is not None:
        model.to(dtype=dtype)
    if device is not None:
        model.to(device)
    result = model.load_state_dict(state, strict=False)
    names_by_tensor: dict[int, set[str]] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        names_by_tensor.setdefault(id(p), set()).add(name)
    loaded = set(state)
    untied = [k for k in result.missing_keys
              if not any(n in loaded for names in names_by_tensor.values() if k in names for n in names)]
    if untied or result.unexpected_keys:
        raise ValueError(
            f"checkpoint {path} does not match the rebuilt hybrid model: missing {untied}, "
            f"unexpected {list(result.unexpected_keys)}"
        )
    model.eval()
    return model
