"""Data-parallel training of hybrid Hugging Face models with torch DDP.

Owns: :func:`train_steps` (a few optimizer steps of a causal LM on fixed batches, in one
process or as one rank of a process group, returning the loss averaged over ranks) and a small
command line that builds a tiny hybrid model and runs it, used to check that DDP on N ranks
reproduces one process on the same global batch::

    python -m torch.distributed.run --nproc_per_node=2 -m qbridge.hf.ddp --out losses.json
    python -m qbridge.hf.ddp --out single.json          # the same global batch, one process

With ``--device cuda`` each rank trains on its own GPU (``LOCAL_RANK``; NCCL): the model and the
batches go to that GPU and the quantum layers simulate there, following their weights.

Why it works unchanged for hybrid models: every quantum weight is an ordinary registered
``nn.Parameter`` (``QuantumLayer.weights``, the adapters' Linear layers), so DDP broadcasts
them from rank 0 at wrap time and all-reduces their gradients like any other. Every parameter
takes part in every forward, so ``find_unused_parameters`` stays False (its default); a model
with a QFFN whose readout ignores some weight would need it, and DDP would say so. On the
torch backend (exact, backprop) the quantum forward is deterministic, so each rank computes
exactly the gradient of its shard; with shots, give each rank its own sampling seed, or every
rank draws the same noise.

Equal shards matter: each rank's loss is a mean over its own tokens and DDP averages
gradients over ranks, which equals the gradient of the global mean only when every rank holds
the same number of (unmasked) tokens. Split the global batch evenly.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["train_steps", "tiny_hybrid_model", "main"]


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def train_steps(
    model: nn.Module,
    batches: Sequence[torch.Tensor],
    *,
    lr: float = 1e-3,
    weight_decay: float = 0.01,
    max_grad_norm: float | None = 1.0,
) -> list[float]:
    """One AdamW step per global batch; returns the global mean loss of every step.

    ``batches``: (B_global, T) token ids per step, identical on every rank. In a process group
    of W ranks each rank trains on rows [r B/W, (r + 1) B/W) of every batch through a
    DistributedDataParallel wrapper; alone it trains on the whole batch. The returned losses are
    the per-rank losses averaged over ranks (all-reduced), i.e. the global batch's loss.
    """
    rank, world = _world()
    net: nn.Module = model
    device = next(model.parameters()).device
    if dist.is_available() and dist.is_initialized():
        from torch.nn.parallel import DistributedDataParallel

        # a CPU module takes no device_ids (gloo); a GPU module its own GPU (one per rank)
        net = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    losses = []
    for batch in batches:
        B = batch.shape[0]
        if B % world:
            raise ValueError(f"global batch {B} does not split evenly over {world} ranks")
        local = batch[rank * (B // world): (rank + 1) * (B // world)].to(device)
        out = net(input_ids=local, labels=local, use_cache=False)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        if max_grad_norm is not None:
            # gradients are already averaged over ranks here, so the norm is the global one
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        opt.step()
        loss = out.loss.detach().clone()
        if world > 1:
            dist.all_reduce(loss)
            loss /= world
        losses.append(float(loss))
    return losses


def tiny_hybrid_model(
    model_type: str = "gpt2",
    *,
    vocab_size: int = 48,
    d_model: int = 16,
    n_layer: int = 2,
    n_head: int = 4,
    seq_len: int = 16,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    **hybrid: Any,
) -> nn.Module:
    """A small random hybrid causal LM with dropout off (deterministic training)."""
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    from .hybridize import hybridize

    torch.manual_seed(seed)
    if model_type == "gpt2":
        cfg = GPT2Config(n_layer=n_layer, n_embd=d_model, n_head=n_head, vocab_size=vocab_size, n_positions=seq_len,
                         resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=None)
        model = GPT2LMHeadModel(cfg)
    elif model_type in ("llama", "qwen2"):
        cls, ccls = (LlamaForCausalLM, LlamaConfig) if model_type == "llama" else (Qwen2ForCausalLM, Qwen2Config)
        cfg = ccls(hidden_size=d_model, intermediate_size=2 * d_model, num_hidden_layers=n_layer,
                   num_attention_heads=n_head, num_key_value_heads=max(1, n_head // 2), vocab_size=vocab_size,
                   max_position_embeddings=seq_len, bos_token_id=0, eos_token_id=None, pad_token_id=None)
        model = cls(cfg)
    else:
        raise ValueError(f"model_type must be 'gpt2', 'llama' or 'qwen2', got {model_type!r}")
    hybridize(model, seed=seed, **hybrid)
    return model.to(dtype)


def main(argv: Sequence[str] | None = None) -> list[float]:
    p = argparse.ArgumentParser(description="Train a tiny hybrid model for a few steps (one process or DDP).")
    p.add_argument("--model-type", default="gpt2")
    p.add_argument("--kind", default="overlap")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--global-batch", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=8)
    p.add_argument("--dtype", default="float64", choices=("float32", "float64"))
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="rank 0 writes losses (JSON) and final weights (.pt beside it)")
    p.add_argument("--device", default="cpu", help="cpu, or cuda: one GPU per rank (LOCAL_RANK), NCCL")
    args = p.parse_args(argv)
    from ..train.loop import resolve_device

    # started by torch.distributed.run (even with one rank): a process group
    distributed = "RANK" in os.environ and "WORLD_SIZE" in os.environ
    device = resolve_device(args.device)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if distributed and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        dtype = getattr(torch, args.dtype)
        model = tiny_hybrid_model(args.model_type, seq_len=args.seq_len, seed=args.seed, dtype=dtype, kind=args.kind)
        model = model.to(device)
        gen = torch.Generator().manual_seed(args.seed + 1)
        vocab = model.config.vocab_size
        batches = [torch.randint(0, vocab, (args.global_batch, args.seq_len), generator=gen) for _ in range(args.steps)]
        losses = train_steps(model, batches, lr=args.lr)
        rank, world = _world()
        if rank == 0 and args.out is not None:
            args.out.write_text(json.dumps({"losses": losses, "world_size": world}))
            torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, args.out.with_suffix(".pt"))
        return losses
    finally:
        if distributed and dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
