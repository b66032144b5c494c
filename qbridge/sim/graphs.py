"""CUDA graphs for building U(theta) and its gradient on the fast path.

Owns: capturing a differentiable function ``theta -> U`` (the fast path's unitary builder for one
plan, dtype and device) as two CUDA graphs, forward and backward, and replaying them inside an
autograd function; deciding when a replay is safe.

Why: on a GPU the QFFN step at n <= 10 costs a few hundred small kernel launches (the 2x2
factors, their Kronecker products, the gathers and products of every layer, and the same again
backward), not arithmetic: about 6 ms per step on an H200 where the two GEMMs of the step take
1 ms. Replayed from a graph, those launches cost one each way.

How it stays correct:

- A graph replays into fixed buffers: the builder's input ``theta`` is copied into a static
  buffer, and the output is cloned out of it. The intermediates the backward graph reads are
  also fixed buffers, which the next forward replay overwrites. Each forward therefore takes a
  generation number; a backward whose generation is no longer the builder's (another forward
  replayed in between: two layers with the same plan, a layer called twice, ``retain_graph``)
  first replays the forward graph on its own saved ``theta`` and then the backward graph. Its
  result is the same; it costs one more forward replay.
- Each plan keeps a few builders (:data:`SLOTS`), handed out least recently used first, so
  that the usual case (several layers of one shape, each forward followed later by its
  backward) never needs the recomputation.
- Only plans made of gathers and rotation layers are captured: their forward creates no tensor
  from host data (a capture would fail on the copy). Anything else, and every CPU run, calls the
  builder directly.
- Capture happens once per builder (a warm-up of a few eager calls on a side stream first, as
  ``torch.cuda.make_graphed_callables`` does); the graphs share one memory pool per builder. A
  capture that fails (a CUDA build that refuses an operation) is reported once with a
  RuntimeWarning and that plan is built step by step on that device from then on.

``QBRIDGE_CUDA_GRAPHS=0`` in the environment (or :data:`ENABLED` = False) switches graphs off:
the numbers are the same, only slower. Must not touch: the plan's contents, backends.
"""

from __future__ import annotations

import os
from typing import Callable

import torch

__all__ = ["ENABLED", "FAILED", "MAX_QUBITS", "SLOTS", "BuilderSlots", "GraphedBuilder", "usable"]

#: capture U's builder as CUDA graphs (environment: QBRIDGE_CUDA_GRAPHS=0 to switch off)
ENABLED = os.environ.get("QBRIDGE_CUDA_GRAPHS", "1") != "0"
#: above this many qubits building U is arithmetic, not launches, and the saved blocks are large
MAX_QUBITS = 10
#: builders per plan, dtype and device (layers of one shape share a plan)
SLOTS = 4
#: marks a plan whose capture failed on a device (it is then built step by step, with a warning)
FAILED = object()


def usable(device: torch.device, num_qubits: int) -> bool:
    return ENABLED and device.type == "cuda" and num_qubits <= MAX_QUBITS


class GraphedBuilder:
    """``fn(theta) -> U`` replayed from a forward and a backward CUDA graph (module docstring)."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], num_params: int, dtype: torch.dtype,
                 device: torch.device) -> None:
        self.fn = fn
        self.device = device
        self.theta = torch.zeros(num_params, dtype=dtype, device=device, requires_grad=True)
        self.generation = 0
        self.fwd: torch.cuda.CUDAGraph | None = None
        self.bwd: torch.cuda.CUDAGraph | None = None
        self.out: torch.Tensor | None = None
        self.grad_out: torch.Tensor | None = None
        self.grad_theta: torch.Tensor | None = None

    @torch.enable_grad()
    def _capture(self) -> None:
        # warm-up and both captures on one side stream: the autograd nodes made in the warm-up
        # (theta's gradient accumulator) then belong to the stream the graphs replay
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(3):  # warm-up: caches, cuBLAS workspaces, lazy initialisation
                out = self.fn(self.theta)
                torch.autograd.grad(out, self.theta, torch.ones_like(out))
        torch.cuda.current_stream(self.device).wait_stream(side)
        torch.cuda.synchronize(self.device)
        self.grad_out = torch.zeros_like(out)
        fwd, bwd = torch.cuda.CUDAGraph(), torch.cuda.CUDAGraph()
        with torch.cuda.graph(fwd, stream=side):
            self.out = self.fn(self.theta)
        with torch.cuda.graph(bwd, pool=fwd.pool(), stream=side):
            (self.grad_theta,) = torch.autograd.grad(self.out, self.theta, self.grad_out, retain_graph=True)
        self.fwd, self.bwd = fwd, bwd

    def forward_replay(self, theta: torch.Tensor) -> int:
        with torch.no_grad():
            self.theta.copy_(theta)
        self.fwd.replay()
        self.generation += 1
        return self.generation

    def __call__(self, theta: torch.Tensor) -> torch.Tensor:
        if self.fwd is None:
            self._capture()
        if torch.is_grad_enabled() and theta.requires_grad:
            return _Replay.apply(self, theta)
        self.forward_replay(theta)  # nothing to differentiate: no autograd node
        return self.out.clone()


class _Replay(torch.autograd.Function):
    @staticmethod
    def forward(ctx, builder: GraphedBuilder, theta: torch.Tensor):  # type: ignore[override]
        ctx.builder = builder
        ctx.generation = builder.forward_replay(theta)
        ctx.save_for_backward(theta.detach().clone())
        return builder.out.clone()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):  # type: ignore[override]
        b: GraphedBuilder = ctx.builder
        if ctx.generation != b.generation:  # another forward replayed since: restore this one's blocks
            (theta,) = ctx.saved_tensors
            ctx.generation = b.forward_replay(theta)
        b.grad_out.copy_(grad)
        b.bwd.replay()
        return None, b.grad_theta.clone()


class BuilderSlots:
    """The builders of one plan, dtype and device, handed out least recently used first."""

    def __init__(self, make: Callable[[], GraphedBuilder], slots: int | None = None) -> None:
        self.make = make
        self.slots = SLOTS if slots is None else slots
        self.builders: list[GraphedBuilder] = []

    def next(self) -> GraphedBuilder:
        if len(self.builders) < self.slots:
            self.builders.append(self.make())
        else:
            self.builders.append(self.builders.pop(0))
        return self.builders[-1]
