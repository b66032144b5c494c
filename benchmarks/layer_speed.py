"""QFFN layer speed, side by side in one run: qbridge's torch backend against PennyLane, Aer and
a plain-torch floor.

The workload (the seed paper's QFFN): d = 2^n features per token, 1,024 tokens, amplitude
encoding, D = 4 layers of RY and RZ on every qubit then a CNOT ring, the probabilities of the
first d basis states read back (y = r (N p - 1) / sqrt(N), see qbridge.nn.qffn); one training
step = forward + backward (gradients of the circuit weights; the inputs are data). The forward
column times the forward pass of a training step (autograd recording on).

Implementations (each checked against qbridge's output before it is timed):

- qbridge torch: ``qbridge.nn.QFFN`` on the default ``torch`` backend (one submission; the
  backend takes its unitary path: U(theta) built once, one matrix product).
- qbridge gate by gate: the same QFFN on ``get_backend("torch", fast_path=False)`` (every gate
  applied to the whole batch, plain autograd): what the fast path saves.
- qbridge fused layers: the fast path's fused steps applied to the tokens (U never built), the
  path the backend takes below its crossover, forced here at every size.
- floor: the same computation written directly in torch with no library around it: U built from
  Kronecker factors and a CNOT-ring gather, one matrix product, autograd backward. A lower bound
  for any torch implementation of this algorithm.
- PennyLane default.qubit: a QNode, torch interface, backprop, parameter broadcasting over the
  1,024 tokens; and the same QNode called once per token (no broadcasting), for reference.
- PennyLane lightning.qubit (adjoint): a QNode, torch interface, adjoint differentiation.
  Adjoint differentiates expectation values only, so this row reads the 2n Pauli-Z expectations
  of the QFFN "pauli" readout (Z_i, Z_i Z_i+1) instead of probabilities, and qbridge's QFFN with
  readout="pauli" is timed beside it.
- Aer: forward only, qiskit-aer directly: 1,024 circuits (set_statevector + the bound ansatz +
  save_probabilities) in one run; the time includes building the circuits.

PennyLane runs a broadcast batch with adjoint differentiation as one tape per token, so its cost
is linear in the tokens: lightning is timed on 64 tokens and scaled by 1024 / 64, and the
one-token-per-call default.qubit row on 16 tokens scaled by 64 (the cells say so); everything
else is timed on the full batch.

Timing: every implementation is warmed up once; the torch implementations (qbridge, floor,
bound) then take turns (so load from other processes hits them alike) before any other simulator
runs, and every other row is measured on its own afterwards (Aer and lightning leave OpenMP
threads spinning, which would slow whatever runs next; the gate-by-gate and fused-layer rows
allocate large temporaries that would slow their turn-mates). Each cell is the fastest of its
repeats. Slow competitors get fewer repeats (``--cap`` seconds of measuring per cell) and are
skipped at sizes where one step is estimated to exceed the cap (``--quick`` skips every row
measured on its own above n = 8). Run: ``python benchmarks/layer_speed.py [--quick] [--sizes 8,10,12]``.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
import warnings
from typing import Any, Callable

import numpy as np
import torch

TOKENS = 1024
TOKENS_RUN = TOKENS  # set from --tokens
DEPTH = 4


# -- the workload, shared -----------------------------------------------------------------------

def make_data(n: int, tokens: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(tokens, 2**n, generator=g)
    w = 0.3 * torch.randn(DEPTH * n * 2, generator=g)  # theta_k, k = layer * 2n + 2 q + (0: RY, 1: RZ)
    return x, w


def readout(p: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The QFFN probabilities readout with unit gain and zero bias."""
    N = p.shape[1]
    r = x.norm(dim=1, keepdim=True)
    return r * (N * p - 1) / math.sqrt(N)


def pauli_words(n: int) -> list[str]:
    from qbridge.nn.qffn import default_pauli_observables

    return default_pauli_observables(n)


# -- implementations ----------------------------------------------------------------------------

class Impl:
    name = ""
    forward_only = False
    kind = "probabilities"  # or "pauli"
    sample: int | None = None  # time this many tokens and scale linearly (per-token competitors)

    def setup(self, n: int, x: torch.Tensor, w: torch.Tensor) -> None: ...

    def forward(self) -> torch.Tensor: ...

    def step(self) -> None:
        out = self.forward()
        if not self.forward_only:
            (out * out).sum().backward()


class QbridgeTorch(Impl):
    name = "qbridge torch (QFFN)"

    def __init__(self, readout_kind: str = "probabilities") -> None:
        self.kind = readout_kind
        if readout_kind == "pauli":
            self.name = "qbridge torch (QFFN, pauli readout)"

    def setup(self, n, x, w):
        from qbridge.nn import QFFN

        self.m = QFFN(2**n, depth=DEPTH, readout=self.kind, init=w.clone())
        if self.kind == "pauli":
            with torch.no_grad():
                self.m.proj.weight.copy_(torch.eye(2**n, len(pauli_words(n))))  # y = r e (first K channels)
        self.x = x

    def forward(self):
        return self.m(self.x)


class QbridgeGates(QbridgeTorch):
    """The same QFFN on ``get_backend("torch", fast_path=False)``: plain gate-by-gate simulation
    of the batch with autograd (what the fast path replaces; also what second-order derivatives
    use)."""

    name = "qbridge torch, gate by gate (fast_path=False)"
    solo = True  # measured on its own, like the other simulators: its large temporaries would slow its turn-mates

    def setup(self, n, x, w):
        from qbridge import get_backend
        from qbridge.nn import QFFN

        self.m = QFFN(2**n, depth=DEPTH, backend=get_backend("torch", fast_path=False), init=w.clone())
        self.x = x


class QbridgeLayers(Impl):
    """qbridge's fused-layer path forced at every size (``fastpath.run_fast(method="layers")``):
    the plan's fused steps applied to the token states themselves, U never built. The backend
    takes this path below :func:`qbridge.sim.fastpath.crossover` tokens; timed here to show what
    building U saves above it."""

    name = "qbridge torch, fused layers (U never built)"
    solo = True

    def setup(self, n, x, w):
        from qbridge.nn import QFFN
        from qbridge.sim import fastpath

        self.run_fast = fastpath.run_fast
        self.circuit = QFFN(2**n, depth=DEPTH).circuit  # input "x"; its parameters in the weights' order
        self.w = w.clone().requires_grad_()
        self.x = x

    def forward(self):
        st = self.run_fast(self.circuit, self.w, {"x": self.x}, method="layers")
        return readout(st.probabilities(), self.x)


class Floor(Impl):
    name = "floor: plain torch, compiled unitary"

    def setup(self, n, x, w):
        self.n, self.x = n, x
        self.w = w.clone().requires_grad_()
        dim = 2**n
        idx = np.arange(dim)
        perm = idx.copy()
        for q in range(n):  # CNOT(q, q+1 mod n) as a gather: new[i] = old[perm[i]]
            c, t = q, (q + 1) % n
            src = np.where((idx >> (n - 1 - c)) & 1, idx ^ (1 << (n - 1 - t)), idx)
            perm = perm[src]
        self.perm = torch.as_tensor(perm, device=x.device)
        self.h = n // 2

    def unitary_rows(self) -> torch.Tensor:
        n, dim = self.n, 2**self.n
        w = self.w.view(DEPTH, n, 2)
        c, s = torch.cos(w[..., 0] / 2), torch.sin(w[..., 0] / 2)
        ry = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2).to(torch.complex64)
        e = torch.polar(torch.ones_like(w[..., 1]), w[..., 1] / 2)
        rz = torch.stack([e.conj(), e], -1)  # diagonal of RZ
        m = rz.unsqueeze(-1) * ry  # RZ @ RY: (D, n, 2, 2)
        S = torch.eye(dim, dtype=torch.complex64, device=self.x.device)
        lo = 2 ** (n - self.h)
        for layer in range(DEPTH):
            A = m[layer, 0]
            for q in range(1, self.h):
                A = torch.kron(A, m[layer, q])
            B = m[layer, self.h]
            for q in range(self.h + 1, n):
                B = torch.kron(B, m[layer, q])
            S = S.view(dim, 2**self.h, lo) @ B.T  # rows x (A kron B)^T
            S = torch.matmul(A, S).reshape(dim, dim)
            S = S[:, self.perm]
        return S  # row j = U|j>

    def forward(self):
        xn = self.x / self.x.norm(dim=1, keepdim=True)
        S = self.unitary_rows()
        parts = (xn @ torch.cat((S.real, S.imag), dim=1)).view(xn.shape[0], 2, -1)  # one real GEMM
        p = parts.square().sum(1)  # re^2 + im^2
        return readout(p, self.x)


class GemmBound(Impl):
    """The two matrix products any unitary-path implementation must do, with U handed over for
    free: forward psi = x [Re U; Im U]^T (one real GEMM, B x d x 2d) and |psi|^2; backward the
    gradient of those blocks (one more GEMM of the same size). No building of U and no gradient
    through it (the input normalisation and the readout are kept, so its outputs are checked like
    the others'): a bound for any implementation that goes through U, not an implementation."""

    name = "bound: the two GEMMs alone (U given, not built)"

    def setup(self, n, x, w):
        fl = Floor()
        fl.setup(n, x, w)
        with torch.no_grad():
            S = fl.unitary_rows()  # row j = U|j>
        self.W = torch.cat((S.real, S.imag), dim=1).t().contiguous().requires_grad_()  # (2d, d)
        self.x = x

    def forward(self):
        xn = self.x / self.x.norm(dim=1, keepdim=True)
        p = (xn @ self.W.t()).view(xn.shape[0], 2, -1).square().sum(1)
        return readout(p, self.x)


def raw_gemm_seconds(n: int, tokens: int, reps: int = 20, precision: str = "highest") -> tuple[float, float]:
    """The two products of :class:`GemmBound` as bare ``torch.mm`` calls (no autograd, no
    readout): the arithmetic every unitary-path step has to do. Returns the fastest of ``reps``
    and the largest relative error of the first product against float64.

    ``precision`` is torch's float32 matmul precision for the measurement ("medium" lets oneDNN
    compute float32 products in bfloat16 on CPUs with AMX: shown for what it would buy, never
    used by qbridge, whose results must agree across backends to 1e-5)."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(tokens, 2**n, generator=g)
    W = torch.randn(2 ** (n + 1), 2**n, generator=g)
    gy = torch.randn(tokens, 2 ** (n + 1), generator=g)
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(precision)
    try:
        best = float("inf")
        for _ in range(reps):
            t0 = time.perf_counter()
            torch.mm(x, W.t())
            torch.mm(gy.t(), x)
            best = min(best, time.perf_counter() - t0)
        ref = x.double() @ W.double().t()
        err = float(((torch.mm(x, W.t()).double() - ref).abs().max() / ref.abs().max()))
    finally:
        torch.set_float32_matmul_precision(before)
    return best, err


def pennylane_qffn_body(qml: Any, feats: Any, weights: Any, n: int) -> None:
    """The QFFN circuit as PennyLane operations (inside a QNode): amplitude encoding, then DEPTH
    layers of RY and RZ on every qubit and a CNOT ring."""
    qml.AmplitudeEmbedding(feats, wires=range(n), normalize=True)
    W = weights.view(DEPTH, n, 2)
    for layer in range(DEPTH):
        for q in range(n):
            qml.RY(W[layer, q, 0], wires=q)
            qml.RZ(W[layer, q, 1], wires=q)
        for q in range(n):
            qml.CNOT(wires=[q, (q + 1) % n])


class PennyLaneDefault(Impl):
    name = "PennyLane default.qubit (backprop, broadcast)"

    def setup(self, n, x, w):
        import pennylane as qml

        dev = qml.device("default.qubit", wires=n)
        self.n, self.x = n, x
        self.w = w.clone().requires_grad_()

        @qml.qnode(dev, interface="torch", diff_method="backprop")
        def circuit(feats, weights):
            pennylane_qffn_body(qml, feats, weights, n)
            return qml.probs(wires=range(n))

        self.circuit = circuit

    def forward(self):
        return readout(self.circuit(self.x, self.w).to(self.x.dtype), self.x)


class PennyLaneDefaultPerToken(PennyLaneDefault):
    """The same QNode called once per token (no broadcasting): what a plain loop over a batch
    costs. Timed on a sample of tokens and scaled (its cost is linear in the tokens)."""

    name = "PennyLane default.qubit (backprop, one token per call)"
    sample = 16

    def setup(self, n, x, w):
        super().setup(n, x[: self.sample], w)

    def forward(self):
        p = torch.stack([self.circuit(row, self.w) for row in self.x]).to(self.x.dtype)
        return readout(p, self.x)


class LightningAdjoint(Impl):
    name = "PennyLane lightning.qubit (adjoint, pauli readout)"
    kind = "pauli"
    sample = 64

    def setup(self, n, x, w):
        import pennylane as qml

        dev = qml.device("lightning.qubit", wires=n)
        self.n, self.x = n, x[: self.sample]
        self.w = w.clone().requires_grad_()
        ops = []
        for word in pauli_words(n):
            ops.append(qml.prod(*[qml.Z(q) for q, c in enumerate(word) if c == "Z"]))

        @qml.qnode(dev, interface="torch", diff_method="adjoint", device_vjp=True)
        def circuit(feats, weights):
            pennylane_qffn_body(qml, feats, weights, n)
            return [qml.expval(o) for o in ops]

        self.circuit = circuit

    def forward(self):
        e = torch.stack(list(self.circuit(self.x, self.w)), dim=-1).to(self.x.dtype)  # (B, K)
        return self.x.norm(dim=1, keepdim=True) * e


class AerForward(Impl):
    name = "Aer statevector (forward only, 1 run of 1024 circuits)"
    forward_only = True

    def setup(self, n, x, w):
        from qiskit import QuantumCircuit
        from qiskit.circuit import ParameterVector
        import qiskit_aer  # noqa: F401  (adds set_statevector / save_probabilities)
        from qiskit_aer import AerSimulator

        self.n, self.x = n, x
        theta = ParameterVector("t", DEPTH * n * 2)
        tpl = QuantumCircuit(n)
        m = lambda q: n - 1 - q  # qbridge qubit q is Qiskit's qubit n-1-q (bit order at the edge)
        for layer in range(DEPTH):
            for q in range(n):
                tpl.ry(theta[layer * 2 * n + 2 * q], m(q))
                tpl.rz(theta[layer * 2 * n + 2 * q + 1], m(q))
            for q in range(n):
                tpl.cx(m(q), m((q + 1) % n))
        self.bound = tpl.assign_parameters(w.tolist())
        self.sim = AerSimulator(method="statevector", precision="single")
        self.QuantumCircuit = QuantumCircuit

    def forward(self):
        n = self.n
        xn = (self.x / self.x.norm(dim=1, keepdim=True)).double().numpy()
        circuits = []
        for row in xn:
            qc = self.QuantumCircuit(n)
            qc.set_statevector(row.astype(complex))
            qc.compose(self.bound, inplace=True)
            qc.save_probabilities()
            circuits.append(qc)
        res = self.sim.run(circuits).result()
        p = torch.as_tensor(np.stack([res.data(i)["probabilities"] for i in range(len(circuits))]), dtype=self.x.dtype)
        return readout(p, self.x)


# -- harness ------------------------------------------------------------------------------------

def fmt(t: float | None) -> str:
    if t is None:
        return "-"
    return f"{t * 1e3:.1f} ms" if t < 1 else f"{t:.2f} s"


def measure(impls: list[Impl], fn_name: str, reps: int, cap: float) -> dict[str, float]:
    """Fastest of up to ``reps`` runs each, taking turns; a cell stops after ``cap`` seconds."""
    best: dict[str, float] = {}
    spent: dict[str, float] = {}
    for _ in range(reps):
        for impl in impls:
            if spent.get(impl.name, 0.0) > cap:
                continue
            fn = getattr(impl, fn_name)
            t0 = time.perf_counter()
            fn()  # "forward" runs with autograd recording, as in a training step
            dt = time.perf_counter() - t0
            spent[impl.name] = spent.get(impl.name, 0.0) + dt
            if impl.sample is not None:  # per-token work: scale to the full batch
                dt *= TOKENS_RUN / impl.sample
            best[impl.name] = min(best.get(impl.name, dt), dt)
    return best


def check(impl: Impl, ref_prob: torch.Tensor, ref_pauli: torch.Tensor) -> float:
    with torch.no_grad():
        out = impl.forward()
    ref = ref_pauli if impl.kind == "pauli" else ref_prob
    k = min(out.shape[1], ref.shape[1])
    return float((out[:, :k] - ref[: out.shape[0], :k]).abs().max())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="8,10,12", help="qubit counts n (d = 2^n), comma separated")
    ap.add_argument("--tokens", type=int, default=TOKENS)
    ap.add_argument("--reps", type=int, default=7, help="repeats per cell (fastest is reported)")
    ap.add_argument("--cap", type=float, default=60.0, help="seconds of measuring per cell; slower steps are skipped")
    ap.add_argument("--quick", action="store_true",
                    help="above n = 8, skip the rows measured on their own (PennyLane, Aer, gate by gate, fused layers)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--only", default="", help="comma-separated substrings: run only implementations whose name has one")
    args = ap.parse_args(argv)
    global TOKENS_RUN
    TOKENS_RUN = args.tokens
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    sizes = [int(s) for s in args.sizes.split(",") if s]
    print(f"QFFN step, {args.tokens} tokens, depth {DEPTH} (RY+RZ per qubit, CNOT ring), float32/complex64")
    print(f"python {platform.python_version()}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"{os.cpu_count()} CPUs, load average {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    rows: dict[str, dict[int, tuple[str, str, str]]] = {}
    order: list[str] = []
    prev_step: dict[str, float] = {}
    prev_n: int | None = None
    for n in sizes:
        x, w = make_data(n, args.tokens)
        factories: list[Callable[[], Impl]] = [
            QbridgeTorch, Floor, GemmBound, lambda: QbridgeTorch("pauli"), QbridgeGates, QbridgeLayers,
            PennyLaneDefault, PennyLaneDefaultPerToken, LightningAdjoint, AerForward,
        ]
        wanted = [s for s in args.only.split(",") if s]
        local: list[Impl] = []
        foreign: list[Impl] = []
        for make in factories:
            impl = make()
            if wanted and not any(wd.lower() in impl.name.lower() for wd in wanted):
                continue
            if impl.name not in order:
                order.append(impl.name)
            rows.setdefault(impl.name, {})
            turns = impl.name.startswith(("qbridge", "floor", "bound")) and not getattr(impl, "solo", False)
            (local if turns else foreign).append(impl)

        def start(impl: Impl) -> bool:
            if impl in foreign and args.quick and n > 8:
                rows[impl.name][n] = ("skipped (--quick)", "", "")
                return False
            if impl in foreign and impl.name in prev_step and prev_n is not None:
                # state size x4 and gate count x (n / prev) per two qubits: estimate and skip
                est = prev_step[impl.name] * 4 ** ((n - prev_n) / 2) * n / prev_n
                if est > args.cap:
                    rows[impl.name][n] = (f"skipped (est. {est:.0f} s/step > cap)", "", "")
                    return False
            try:
                print(f"  n={n}: warming up {impl.name} ...", file=sys.stderr, flush=True)
                impl.setup(n, x, w)
                impl.step()  # warm-up (and the first compile of anything lazily built)
            except Exception as exc:  # a competitor that cannot run here is reported, not fatal
                rows[impl.name][n] = (f"skipped ({type(exc).__name__}: {str(exc)[:60]})", "", "")
                return False
            return True

        def record(impls: list[Impl], diffs: dict[str, float]) -> None:
            fwd = measure(impls, "forward", args.reps, args.cap / 2)
            step = measure([i for i in impls if not i.forward_only], "step", args.reps, args.cap)
            for i in impls:
                s_ = step.get(i.name)
                note = f" (timed on {i.sample} tokens, x{args.tokens // i.sample})" if i.sample else ""
                rows[i.name][n] = (fmt(fwd.get(i.name)), ("n/a (forward only)" if i.forward_only else fmt(s_)) + note,
                                   f"{diffs[i.name]:.1e}")
                t = s_ if s_ is not None else fwd[i.name]
                prev_step[i.name] = t * (i.sample / args.tokens if i.sample else 1.0)  # real seconds per run

        # torch implementations first, taking turns, before any other SDK has run: simulators with
        # OpenMP pools (Aer, lightning) keep threads spinning after they return
        local = [i for i in local if start(i)]
        ref_q = next((i for i in local if type(i) is QbridgeTorch and i.kind == "probabilities"), None)
        if ref_q is None:
            ref_q = QbridgeTorch()
            ref_q.setup(n, x, w)
        ref_prob = ref_q.forward().detach()
        ref_p = QbridgeTorch("pauli")
        ref_p.setup(n, x, w)
        ref_pauli = ref_p.forward().detach()
        print(f"  n={n}: measuring {len(local)} torch implementations ...", file=sys.stderr, flush=True)
        record(local, {i.name: check(i, ref_prob, ref_pauli) for i in local})
        for impl in foreign:  # then each other simulator on its own
            if start(impl):
                print(f"  n={n}: measuring {impl.name} ...", file=sys.stderr, flush=True)
                record([impl], {impl.name: check(impl, ref_prob, ref_pauli)})
        prev_n = n
    # the table
    width = max(len(r) for r in order) + 2
    print()
    print("implementation".ljust(width) + "".join(f"| n={n}, d={2**n}: forward / forward+backward / max|diff| ".ljust(72) for n in sizes))
    print("-" * (width + 72 * len(sizes)))
    for name in order:
        cells = []
        for n in sizes:
            a, b, c = rows[name].get(n, ("-", "", ""))
            cells.append(("| " + (f"{a} / {b} / {c}" if b else a)).ljust(72))
        print(name.ljust(width) + "".join(cells))
    print()
    for n in sizes:
        q = rows.get("qbridge torch (QFFN)", {}).get(n)
        fl = rows.get("floor: plain torch, compiled unitary", {}).get(n)
        pl = rows.get("PennyLane default.qubit (backprop, broadcast)", {}).get(n)
        msg = [f"n={n}:"]

        def secs(cell: str) -> float | None:
            try:
                v, unit = cell.split()
                return float(v) * (1e-3 if unit == "ms" else 1.0)
            except (ValueError, AttributeError):
                return None

        tq = secs(q[1]) if q else None
        if tq and fl and secs(fl[1]):
            msg.append(f"qbridge / floor = {tq / secs(fl[1]):.2f}x (goal <= 3x)")
        if tq and pl and secs(pl[1]):
            msg.append(f"default.qubit / qbridge = {secs(pl[1]) / tq:.0f}x faster (goal >= 100x at n=8)")
            bd = rows.get(GemmBound.name, {}).get(n)
            if bd and secs(bd[1]):
                msg.append(f"default.qubit / bound = {secs(pl[1]) / secs(bd[1]):.0f}x")
                raw, err = raw_gemm_seconds(n, args.tokens)
                flops = 2 * (2 * args.tokens * 2**n * 2 ** (n + 1))  # two products of B x d x 2d
                msg.append(f"(bare GEMMs {fmt(raw)} at {flops / raw / 1e9:.0f} GFLOP/s, relative error {err:.0e}: "
                           f"default.qubit / bare = {secs(pl[1]) / raw:.0f}x;")
                raw16, err16 = raw_gemm_seconds(n, args.tokens, precision="medium")
                msg.append(f"in bfloat16 (matmul precision 'medium', not used): {fmt(raw16)}, "
                           f"relative error {err16:.0e})")
        print("  ".join(msg))
    print("(max|diff|: largest deviation from qbridge's outputs; single precision. Cells are the fastest of the repeats.)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
