"""Training and evaluation: the seed paper's Algorithm 2, checkpoints, and the evaluation passes.

Algorithm 2 ("Less Bits, More Qubits") as implemented by :class:`Trainer`, for ``steps`` steps:
draw a batch of random windows, compute the next-token cross-entropy, back-propagate, clip the
global gradient norm to ``clip`` (1.0), take an AdamW step with the learning rate of the schedule.
The schedule is a linear warmup over ``warmup`` steps (from lr / warmup to lr); the paper states
nothing after the warmup, so the default keeps lr constant (``schedule="cosine"`` or ``"linear"``
decay to ``min_lr_ratio * lr`` are options). Weight decay applies to matrices and embeddings
(tensors of two or more dimensions), not to biases, norms or circuit angles: decaying a rotation
angle toward zero has no meaning for a periodic parameter.

Reproducibility: batches come from the trainer's own ``torch.Generator``; dropout uses torch's
global generator. A checkpoint holds the model, the optimizer, the step, both generators' states
and the history, so that ``Trainer.load`` continues exactly where ``save`` stopped: N steps, save,
load, N more steps gives the same weights as 2N steps in one go.

Evaluation: :func:`evaluate` (mean cross-entropy over non-overlapping test windows, perplexity,
inference tokens/s); :func:`evaluate_windows` (the QISA protocol: every window of the test text
with stride 1, teacher forcing, argmax predictions decoded to strings, cross-entropy, CER, WER,
with the time of the pass including decoding).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from .metrics import PeakMemory, Throughput, mean_cer_wer, perplexity
from .models import count_parameters, logits_of
from .text import TokenData

__all__ = ["TrainConfig", "TrainResult", "Trainer", "evaluate", "evaluate_windows", "lr_at", "make_optimizer",
           "resolve_device", "device_info"]


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` (or None): the current CUDA GPU when torch sees one, else the CPU. ``"cuda"``
    without a GPU is a :class:`~qbridge.exceptions.DeviceUnavailableError`, never a CPU run."""
    from ..exceptions import DeviceUnavailableError

    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r} ({exc})") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailableError(
                f"device {str(device)!r} was asked for but torch sees no CUDA GPU; use --device cpu (or auto), "
                "or a machine with a GPU and a CUDA build of torch"
            )
        index = torch.cuda.current_device() if dev.index is None else dev.index
        if index >= torch.cuda.device_count():
            raise DeviceUnavailableError(f"device {str(device)!r} does not exist: {torch.cuda.device_count()} GPU(s) visible")
        return torch.device("cuda", index)
    if dev.type != "cpu":
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    return dev


def device_info(device: torch.device) -> dict[str, Any]:
    """What a report says about where a run computed: the device, and on CUDA the GPU's name."""
    info: dict[str, Any] = {"device": str(device)}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, gpu_memory_gb=round(props.total_memory / 2**30, 1), cuda=torch.version.cuda)
    return info


@dataclass
class TrainConfig:
    steps: int = 200
    batch_size: int = 16
    context: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup: int = 20
    schedule: str = "constant"  # after warmup: "constant" | "cosine" | "linear"
    min_lr_ratio: float = 0.1
    clip: float = 1.0
    betas: tuple[float, float] = (0.9, 0.999)
    seed: int = 0
    device: str = "auto"  # "auto" (CUDA when torch sees a GPU, else CPU), "cpu", "cuda", "cuda:N"
    eval_interval: int = 0  # 0: evaluate only at the end
    eval_batches: int = 20  # test batches per evaluation (None-like 0: all)
    eval_batch_size: int = 64
    log_interval: int = 10

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch_size < 1 or self.context < 1:
            raise ValueError("steps must be >= 0, batch_size and context >= 1")
        if self.schedule not in ("constant", "cosine", "linear"):
            raise ValueError(f"schedule must be 'constant', 'cosine' or 'linear', got {self.schedule!r}")
        if self.clip is not None and self.clip <= 0:
            raise ValueError(f"clip must be positive (or None for no clipping), got {self.clip}")
        self.betas = tuple(self.betas)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate of (0-based) ``step``: linear warmup, then the schedule."""
    if cfg.warmup > 0 and step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    if cfg.schedule == "constant" or cfg.steps <= cfg.warmup:
        return cfg.lr
    frac = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    lo = cfg.lr * cfg.min_lr_ratio
    if cfg.schedule == "linear":
        return cfg.lr - (cfg.lr - lo) * frac
    return lo + 0.5 * (cfg.lr - lo) * (1 + math.cos(math.pi * frac))


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.dim() >= 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=cfg.lr, betas=cfg.betas)


def _loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    logits = logits_of(model, x)  # (B, T, V)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


@dataclass
class TrainResult:
    label: str
    params: int
    steps: int
    final_train_loss: float
    test_loss: float
    test_ppl: float
    train_tokens_per_s: float
    eval_tokens_per_s: float
    peak_memory_mb: float
    memory_method: str
    train_seconds: float
    losses: list[float] = field(default_factory=list)
    evals: list[dict[str, float]] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)
    device: dict[str, Any] = field(default_factory=dict)  # train.loop.device_info

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Trainer:
    """Trains ``model`` on ``data`` with :class:`TrainConfig` (module docstring: Algorithm 2).

    ``log``: a callable taking a line of text, called every ``log_interval`` steps (None: quiet);
    ``progress``: show a rich progress bar (on a terminal only).

    Creating a trainer seeds torch's global generator with ``config.seed`` (dropout draws from
    it), and the trainer's own batch generator too.
    """

    def __init__(self, model: nn.Module, data: TokenData, config: TrainConfig, *, label: str = "model",
                 log: Callable[[str], None] | None = None, progress: bool = False) -> None:
        self.config = config
        self.device = resolve_device(config.device)
        self.model = model.to(self.device)
        self.data = data
        self.label = label
        self.log = log
        self.progress = progress
        self.optimizer = make_optimizer(self.model, config)
        self.generator = torch.Generator().manual_seed(config.seed)
        torch.manual_seed(config.seed)
        self.step = 0
        self.losses: list[float] = []
        self.evals: list[dict[str, float]] = []
        self.step_seconds: list[float] = []  # wall time of each training step (speed spreads)
        self.throughput = Throughput()
        self.memory = PeakMemory(self.device)

    # -- one step ------------------------------------------------------------------------------
    def train_step(self) -> float:
        cfg = self.config
        self.model.train()
        x, y = self.data.batch("train", cfg.batch_size, cfg.context, self.generator)
        x, y = x.to(self.device), y.to(self.device)
        lr = lr_at(self.step, cfg)
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        before = self.throughput.seconds
        with self.throughput.timed(x.numel(), self.device):
            loss = _loss(self.model, x, y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.clip is not None:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip)
            self.optimizer.step()
        self.step_seconds.append(self.throughput.seconds - before)
        self.memory.sample()
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(
                f"{self.label}: the loss became {value} at step {self.step}; lower the learning rate (now {lr:g})"
            )
        self.losses.append(value)
        self.step += 1
        return value

    def fit(self, steps: int | None = None) -> TrainResult:
        """Train until ``steps`` (default ``config.steps``) steps have been taken in all."""
        cfg = self.config
        target = cfg.steps if steps is None else steps
        bar = None
        if self.progress and target > self.step and _interactive():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                           TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn(), transient=True)
            task = bar.add_task(self.label, total=target, completed=self.step, loss="-")
            bar.start()
        try:
            while self.step < target:
                loss = self.train_step()
                if bar is not None:
                    bar.update(task, completed=self.step, loss=f"{loss:.3f}")
                if self.log and cfg.log_interval and (self.step % cfg.log_interval == 0 or self.step == target):
                    self.log(f"{self.label}: step {self.step}/{target} loss {loss:.4f} lr {lr_at(self.step - 1, cfg):.2e} "
                             f"{self.throughput.tokens_per_second:,.0f} tok/s")
                if cfg.eval_interval and self.step % cfg.eval_interval == 0 and self.step < target:
                    self._record_eval()
        finally:
            if bar is not None:
                bar.stop()
        return self.result()

    def _record_eval(self) -> dict[str, float]:
        cfg = self.config
        ev = evaluate(self.model, self.data, context=cfg.context, batch_size=cfg.eval_batch_size,
                      max_batches=cfg.eval_batches or None, device=self.device)
        rec = {"step": self.step, "test_loss": ev["loss"], "test_ppl": ev["ppl"], "eval_tokens_per_s": ev["tokens_per_s"]}
        if self.evals and self.evals[-1]["step"] == self.step:
            self.evals[-1] = rec
        else:
            self.evals.append(rec)
        if self.log:
            self.log(f"{self.label}: step {self.step} test loss {ev['loss']:.4f} ppl {ev['ppl']:.3f}")
        return rec

    def result(self) -> TrainResult:
        """Evaluate at the current step (unless done already) and summarise the run."""
        if not self.evals or self.evals[-1]["step"] != self.step:
            self._record_eval()
        last = self.evals[-1]
        tail = self.losses[-max(1, len(self.losses) // 10):] if self.losses else [float("nan")]
        return TrainResult(
            label=self.label,
            params=count_parameters(self.model),
            steps=self.step,
            final_train_loss=sum(tail) / len(tail),
            test_loss=last["test_loss"],
            test_ppl=last["test_ppl"],
            train_tokens_per_s=self.throughput.tokens_per_second,
            eval_tokens_per_s=last["eval_tokens_per_s"],
            peak_memory_mb=self.memory.megabytes,
            memory_method=self.memory.method,
            train_seconds=self.throughput.seconds,
            losses=list(self.losses),
            evals=list(self.evals),
            step_seconds=list(self.step_seconds),
            device=device_info(self.device),
        )

    # -- checkpoints ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "format": "qbridge-train/1",
            "label": self.label,
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "config": asdict(self.config),
            "losses": list(self.losses),
            "evals": list(self.evals),
            "step_seconds": list(self.step_seconds),
            "throughput": (self.throughput.tokens, self.throughput.seconds),
            "batch_rng": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            # dropout on a GPU draws from the CUDA generator (absent: a CPU run, or CPU-only torch)
            "cuda_rng": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
            "python_rng": random.getstate(),
        }

    def save(self, path: str | Path) -> Path:
        """Write a checkpoint (model, optimizer, step, RNG states, history) to ``path``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(self.state_dict(), tmp)
        tmp.replace(path)  # a crash mid-write never leaves a half checkpoint under the real name
        return path

    def load(self, path: str | Path) -> "Trainer":
        """Restore a checkpoint written by :meth:`save` into this trainer (same model architecture)."""
        # model and optimizer tensors go to this trainer's device (a GPU checkpoint loads on a CPU
        # and back); RNG states are byte tensors that must stay on the host
        state = torch.load(Path(path), map_location=self.device, weights_only=True)
        if not isinstance(state, dict) or state.get("format") != "qbridge-train/1":
            raise ValueError(f"{path} is not a qbridge training checkpoint")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        self.losses = list(state["losses"])
        self.evals = list(state["evals"])
        self.step_seconds = list(state.get("step_seconds", []))
        self.throughput.tokens, self.throughput.seconds = state["throughput"]
        self.generator.set_state(state["batch_rng"].cpu())
        torch.set_rng_state(state["torch_rng"].cpu())
        if state.get("cuda_rng") is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"].cpu(), self.device)
        py = state["python_rng"]
        random.setstate((py[0], tuple(py[1]), py[2]))
        return self


def _interactive() -> bool:
    """A progress bar only on a terminal (rich leaves blank lines in logs and pipes)."""
    from rich.console import Console

    return Console().is_terminal


@torch.no_grad()
def evaluate(model: nn.Module, data: TokenData, *, context: int, split: str = "test", batch_size: int = 64,
             max_batches: int | None = None, device: Any = "cpu") -> dict[str, float]:
    """Mean next-token cross-entropy over non-overlapping windows of ``split``; perplexity; tokens/s."""
    was = model.training
    model.eval()
    total, count = 0.0, 0
    meter = Throughput()
    try:
        for i, (x, y) in enumerate(data.windows(split, context, batch_size=batch_size)):
            if max_batches is not None and i >= max_batches:
                break
            x, y = x.to(device), y.to(device)
            with meter.timed(x.numel(), device):
                logits = logits_of(model, x)
            total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum"))
            count += y.numel()
    finally:
        model.train(was)
    loss = total / count
    return {"loss": loss, "ppl": perplexity(loss), "tokens": count, "tokens_per_s": meter.tokens_per_second}


@torch.no_grad()
def evaluate_windows(model: nn.Module, data: TokenData, tokenizer: Any, *, context: int, split: str = "test",
                     stride: int = 1, batch_size: int = 1024, max_windows: int | None = None,
                     device: Any = "cpu") -> dict[str, float]:
    """The QISA protocol: teacher-forced argmax predictions of every window, decoded and scored.

    Returns mean cross-entropy, CER and WER per window (averaged), the number of windows, the
    seconds of the pass (forward, argmax and decoding, as timed in the QISA code; scoring excluded)
    and the seconds of the forward passes alone.
    """
    was = model.training
    model.eval()
    total, count, seconds, fwd_seconds = 0.0, 0, 0.0, 0.0
    preds: list[str] = []
    targets: list[str] = []
    try:
        for x, y in data.windows(split, context, stride=stride, batch_size=batch_size, max_windows=max_windows):
            x, y = x.to(device), y.to(device)
            t0 = time.perf_counter()
            logits = logits_of(model, x)  # (B, T, V)
            if torch.device(device).type == "cuda":
                torch.cuda.synchronize(device)
            fwd_seconds += time.perf_counter() - t0
            guess = logits.argmax(-1).cpu()
            batch_preds = [tokenizer.decode(row) for row in guess]
            if torch.device(device).type == "cuda":
                torch.cuda.synchronize(device)
            seconds += time.perf_counter() - t0
            preds += batch_preds
            targets += [tokenizer.decode(row) for row in y.cpu()]
            total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum"))
            count += y.numel()
    finally:
        model.train(was)
    c, w = mean_cer_wer(preds, targets)
    return {"loss": total / count, "cer": c, "wer": w, "windows": len(targets), "seconds": seconds,
            "forward_seconds": fwd_seconds}
