"""Error mitigation and shot allocation, backend-neutral, on the IR.

Every technique is a unit (:mod:`.technique`: one :class:`Technique` interface -- what circuits
it needs, how it combines their results, what it reports -- and a registry by name), built on
pure functions that build the extra circuits and combine their results, so that all circuits of
a run (measurement groups, noise-scaled and twirled variants, readout calibrations) go to the
backend in one submission (:mod:`.submission`):

- :mod:`.readout`: calibration circuits (tensored or full assignment matrix); correction of
  expectation values (closed form per shot) and of counts (quasi-probabilities, and the nearest
  probability distribution);
- :mod:`.zne`: unitary folding (global, gate by gate, random) and Richardson, linear, polynomial
  and exponential extrapolation with propagated standard errors;
- :mod:`.twirl`: Pauli twirling of two-qubit gates;
- :mod:`.native`: a backend's own mitigation (Qiskit Runtime, IonQ debiasing on Braket);
- :mod:`.allocation`: uniform, proportional and precision-driven shot allocation;
- :mod:`.pipeline`: :func:`run_mitigated`, what ``Backend.run`` does when a run asks for any of
  these (``RunConfig(mitigation="readout,zne", options={...})``).

A new technique is one module: a :class:`Technique` subclass under :func:`register_technique`
(or registered by a distribution under the ``qbridge.mitigation_techniques`` entry-point group).

Imports NumPy only (SciPy for the exponential fit, when used).
"""

from .allocation import ALLOCATIONS, allocate_shots, group_weights, predicted_stderr, split_into_copies
from .native import native_mitigation
from .pipeline import TECHNIQUES, MitigationSettings, run_mitigated, wants_pipeline
from .readout import (
    READOUT_METHODS,
    FullCalibration,
    MitigationError,
    TensoredCalibration,
    calibrate,
    calibration_circuits,
    correct_distribution,
    nearest_probability_distribution,
)
from .samples import Samples
from .submission import Submission
from .technique import TECHNIQUE_GROUP, Technique, Variant, register_technique, technique_class, technique_names
from .twirl import twirl_circuit, twirl_instances, twirl_pairs, twirlable_gates
from .zne import EXTRAPOLATIONS, FOLD_METHODS, Extrapolation, extrapolate, extrapolation_weights, fold, fold_gates, fold_global

__all__ = [
    "ALLOCATIONS",
    "EXTRAPOLATIONS",
    "FOLD_METHODS",
    "READOUT_METHODS",
    "TECHNIQUES",
    "TECHNIQUE_GROUP",
    "Technique",
    "Variant",
    "Submission",
    "register_technique",
    "technique_class",
    "technique_names",
    "Extrapolation",
    "FullCalibration",
    "MitigationError",
    "MitigationSettings",
    "Samples",
    "TensoredCalibration",
    "allocate_shots",
    "calibrate",
    "calibration_circuits",
    "correct_distribution",
    "extrapolate",
    "extrapolation_weights",
    "fold",
    "fold_gates",
    "fold_global",
    "group_weights",
    "native_mitigation",
    "nearest_probability_distribution",
    "predicted_stderr",
    "run_mitigated",
    "split_into_copies",
    "twirl_circuit",
    "twirl_instances",
    "twirl_pairs",
    "twirlable_gates",
    "wants_pipeline",
]
