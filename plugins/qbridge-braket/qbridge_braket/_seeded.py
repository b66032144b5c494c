"""Braket's local simulators with seeded sampling (imported only when a seed is given).

Braket's ``StateVectorSimulation``/``DensityMatrixSimulation`` draw shots from an unseeded
``numpy.random.default_rng()`` made per simulation. These subclasses hand each simulation a
generator spawned from one ``SeedSequence`` instead, in the order the simulations are made, so a
run (programs and program sets execute one after another in this process) gives the same counts
for the same seed. Simulation itself is Braket's, unchanged.

Module-level classes (not made inside a function) so that they pickle if a caller batches them.
"""

from __future__ import annotations

import numpy as np
from braket.default_simulator.density_matrix_simulator import DensityMatrixSimulator
from braket.default_simulator.state_vector_simulator import StateVectorSimulator

from qbridge.exceptions import BackendError

__all__ = ["SeededStateVectorSimulator", "SeededDensityMatrixSimulator"]


def _reseed(simulation, seeds: np.random.SeedSequence):
    if not hasattr(simulation, "_rng_generator"):
        raise BackendError(
            f"this braket-default-simulator ({type(simulation).__name__}) keeps its sampler elsewhere, so "
            "qbridge cannot seed it; run without seed, or update qbridge-braket for this simulator version"
        )
    simulation._rng_generator = np.random.default_rng(seeds.spawn(1)[0])
    return simulation


class SeededStateVectorSimulator(StateVectorSimulator):
    def __init__(self, seed: int) -> None:
        super().__init__()
        self._seeds = np.random.SeedSequence(seed)

    def initialize_simulation(self, **kwargs):
        return _reseed(super().initialize_simulation(**kwargs), self._seeds)


class SeededDensityMatrixSimulator(DensityMatrixSimulator):
    def __init__(self, seed: int) -> None:
        super().__init__()
        self._seeds = np.random.SeedSequence(seed)

    def initialize_simulation(self, **kwargs):
        return _reseed(super().initialize_simulation(**kwargs), self._seeds)
