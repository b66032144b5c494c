"""A quantum feed-forward layer inside a torch model, trained on `torch`, then run on another backend.

    python examples/hybrid_layer.py
"""

import torch

import qbridge
from qbridge.nn import QFFN

torch.manual_seed(0)
d = 8
layer = QFFN(d, depth=2)  # 3 qubits, amplitude-encoded inputs, RY/RZ + CNOT ring
x = torch.randn(4, 5, d)
target = torch.tanh(x.flip(-1))
opt = torch.optim.AdamW(layer.parameters(), lr=0.05)
for step in range(60):
    loss = torch.nn.functional.mse_loss(layer(x), target)
    opt.zero_grad()
    loss.backward()
    opt.step()
print(f"loss after training on torch: {loss.item():.4f}")

available = {b.name for b in qbridge.list_backends() if b.available}
for name in ("aer", "pennylane.lightning.qubit", "braket.local"):
    if name not in available:
        print(f"{name}: not installed here")
        continue
    twin = QFFN(d, depth=2, backend=name)
    twin.load_state_dict(layer.state_dict())
    with torch.no_grad():
        diff = (twin(x) - layer(x)).abs().max().item()
    print(f"{name}: same weights, max |difference| = {diff:.2e}")
