"""Where a hybrid model's parameters are: classical, quantum circuit weights, quantum adapters.

Owns: :func:`parameter_report` and :class:`ParameterReport`.

Categories (each parameter tensor counted once, tied weights included once):

- classical: every parameter outside the quantum modules, including the kept rows of the
  classical heads' projections and the output projections of hybrid attention layers;
- quantum_circuit: the circuits' trainable angles (``QuantumLayer.weights``);
- quantum_adapter: the classical parameters inside quantum modules that feed or read the
  circuits (QFFN gain and bias or readout matrix; a quantum head's query/key/value projections,
  temperature, QSANN embedding and output map);
- removed: the parameters of what was replaced (whole MLPs; the quantum heads' rows of the
  attention projections), read from the layout recorded at hybridize time.

``original = classical + removed`` is the parameter count of the model before hybridize;
``total = classical + quantum_circuit + quantum_adapter`` is the count now.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from ..nn.layer import QuantumLayer
from .hybridize import _arch, _decoder_layers, hybrid_layout
from .modules import HybridAttentionBase, QuantumMLP

__all__ = ["ParameterReport", "LayerParameters", "parameter_report"]


@dataclass(frozen=True)
class LayerParameters:
    """One decoder layer: what its MLP and attention are, and their quantum parameters."""

    layer: int
    mlp: str  # "classical" or "QFFN"
    attention: str  # e.g. "4 classical" or "2 classical + 2 overlap"
    classical: int
    quantum_circuit: int
    quantum_adapter: int


@dataclass(frozen=True)
class ParameterReport:
    classical: int
    quantum_circuit: int
    quantum_adapter: int
    removed: int
    removed_ffn: int = 0
    removed_attention: int = 0
    layers: tuple[LayerParameters, ...] = field(default=())

    @property
    def quantum(self) -> int:
        return self.quantum_circuit + self.quantum_adapter

    @property
    def total(self) -> int:
        return self.classical + self.quantum

    @property
    def original(self) -> int:
        return self.classical + self.removed

    def table(self) -> str:
        rows = [("layer", "mlp", "attention heads", "classical", "circuit", "adapter")]
        for r in self.layers:
            rows.append((str(r.layer), r.mlp, r.attention, f"{r.classical:,}", f"{r.quantum_circuit:,}", f"{r.quantum_adapter:,}"))
        widths = [max(len(row[i]) for row in rows) for i in range(6)]
        right = (False, False, False, True, True, True)
        lines = [
            "  ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(row, widths, right)).rstrip() for row in rows
        ]
        lines.insert(1, "-" * len(lines[0]))
        summary = [
            ("classical", self.classical),
            ("quantum circuit weights", self.quantum_circuit),
            ("quantum adapters (classical)", self.quantum_adapter),
            ("total now", self.total),
            ("removed (replaced modules)", self.removed),
            ("  of which MLPs", self.removed_ffn),
            ("  of which attention heads", self.removed_attention),
            ("original model", self.original),
        ]
        w = max(len(k) for k, _ in summary)
        vw = max(len(f"{v:,}") for _, v in summary)
        return "\n".join(lines + [""] + [f"{k.ljust(w)}  {f'{v:,}'.rjust(vw)}" for k, v in summary])

    def __str__(self) -> str:
        return self.table()


def _quantum_split(modules: list[nn.Module], seen: set[int]) -> tuple[int, int]:
    circuit = adapter = 0
    for m in modules:
        weights = {id(q.weights) for q in m.modules() if isinstance(q, QuantumLayer)}
        for p in m.parameters():
            if id(p) in seen:
                continue
            seen.add(id(p))
            if id(p) in weights:
                circuit += p.numel()
            else:
                adapter += p.numel()
    return circuit, adapter


def parameter_report(model: nn.Module) -> ParameterReport:
    """Count a hybrid model's parameters by category (module docstring)."""
    layout = hybrid_layout(model)
    arch = _arch(model)
    layers = _decoder_layers(model, arch)
    seen: set[int] = set()
    rows = []
    circuit_total = adapter_total = 0
    for i, block in enumerate(layers):
        mlp, attn = getattr(block, arch.mlp_attr), getattr(block, arch.attn_attr)
        quantum: list[nn.Module] = []
        if isinstance(mlp, QuantumMLP):
            quantum.append(mlp.qffn)
        if isinstance(attn, HybridAttentionBase):
            quantum.extend(attn.quantum_heads)
            heads = f"{attn.n_classical} classical + {attn.n_quantum} {attn.kind}"
        else:
            heads = f"{model.config.num_attention_heads} classical"
        c, a = _quantum_split(quantum, seen)
        classical = 0
        for p in block.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                classical += p.numel()
        rows.append(LayerParameters(i, "QFFN" if isinstance(mlp, QuantumMLP) else "classical", heads, classical, c, a))
        circuit_total += c
        adapter_total += a
    rest = sum(p.numel() for p in model.parameters() if id(p) not in seen)  # embeddings, final norm, head
    classical_total = rest + sum(r.classical for r in rows)
    removed = layout.get("removed_parameters", {})
    return ParameterReport(
        classical=classical_total,
        quantum_circuit=circuit_total,
        quantum_adapter=adapter_total,
        removed=int(removed.get("ffn", 0)) + int(removed.get("attention", 0)),
        removed_ffn=int(removed.get("ffn", 0)),
        removed_attention=int(removed.get("attention", 0)),
        layers=tuple(rows),
    )
