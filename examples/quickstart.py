"""The README's ten lines, runnable: python examples/quickstart.py"""

import numpy as np

from qbridge import Circuit, Estimator, Parameter, Sampler

theta = Parameter("theta")
circuit = Circuit(2).h(0).cx(0, 1).ry(1, theta)
print(Sampler().run(circuit.measure_all(), [[0.0]], shots=1000, seed=7).counts)
est = Estimator("torch").run(circuit, ["ZZ", "0.5*XI - 1.2*ZI"], np.array([[0.1], [0.7]]))
print(est.values, est.stderr)
print(circuit.to_qasm())
