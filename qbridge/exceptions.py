"""The qbridge exception tree.

Every error raised on purpose by qbridge derives from :class:`QBridgeError` and carries the
context that produced it (backend name, instruction, qubit, source line) as attributes, so that a
caller can react to it without parsing the message. Errors that are plain argument mistakes also
derive from ``ValueError`` or ``TypeError`` so that generic handlers keep working. Messages name the
likely fix.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "QBridgeError",
    "CircuitError",
    "GateError",
    "ParameterError",
    "EncodingError",
    "ObservableError",
    "UnsupportedFeatureError",
    "InputGradientError",
    "UnsupportedModelError",
    "QasmError",
    "BackendError",
    "BackendNotFoundError",
    "BackendUnavailableError",
    "ValidationError",
    "DeviceMismatchError",
    "DeviceUnavailableError",
    "JobError",
    "BudgetExceededError",
    "ResourceLimitError",
    "ArgumentError",
    "ArgumentTypeError",
    "MitigationError",
    "NoiseModelError",
]


class QBridgeError(Exception):
    """Root of every qbridge error.

    Keyword context (``backend``, ``instruction``, ``qubit``, ``line``, ...) is kept on the
    instance as attributes and in :attr:`context`.
    """

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = {k: v for k, v in context.items() if v is not None}
        for key, value in context.items():
            setattr(self, key, value)

    def __reduce__(self):  # keep context through pickling (multiprocessing, DDP)
        return (_rebuild, (type(self), self.message, self.context))


def _rebuild(cls, message, context):
    return cls(message, **context)


class CircuitError(QBridgeError, ValueError):
    """A circuit is malformed: qubit out of range, wrong arity, duplicate qubits, ..."""


class GateError(CircuitError):
    """A gate is unknown, has the wrong number of parameters, or its matrix is not unitary."""


class ParameterError(QBridgeError, ValueError):
    """A symbolic parameter is unbound, misnamed, or bound with values of the wrong shape."""


class EncodingError(QBridgeError, ValueError):
    """An amplitude-encoding input cannot be encoded (zero, non-finite, too long, missing)."""


class ObservableError(QBridgeError, ValueError):
    """An observable does not parse or does not fit the circuit."""


class UnsupportedFeatureError(QBridgeError):
    """A program uses a feature qbridge does not support (mid-circuit measurement, classical control)."""


class InputGradientError(UnsupportedFeatureError):
    """Gradients with respect to encoded inputs were needed but the layer was told to refuse."""


class UnsupportedModelError(UnsupportedFeatureError, ValueError):
    """A model's architecture has no hybrid mapping (``qbridge.hf.SUPPORTED_MODEL_TYPES``)."""


class MitigationError(QBridgeError, ValueError):
    """A mitigation cannot be computed from the data (e.g. a readout calibration that cannot be
    inverted, or extrapolation input that does not fit)."""


class QasmError(QBridgeError, ValueError):
    """An OpenQASM program cannot be read; ``line`` and ``column`` locate the problem."""


class BackendError(QBridgeError):
    """A backend cannot be found, created or used."""


class BackendNotFoundError(BackendError, LookupError):
    """No backend is registered under the requested name."""


class BackendUnavailableError(BackendError):
    """The backend is registered but cannot run here (missing SDK, no GPU, no credentials)."""


class ValidationError(BackendError, ValueError):
    """A task does not fit the backend's target (qubits, gates, shots, connectivity, batch)."""


class ResourceLimitError(ValidationError):
    """A run or a program would need more memory (or instructions) than the device has or a
    documented cap allows; raised before anything is allocated. ``needed`` and ``available`` are
    in bytes (or instructions), ``limit`` names where the limit comes from."""


class ArgumentError(QBridgeError, ValueError):
    """An argument has the right type but a value outside what is accepted (``expected`` says
    what is)."""


class ArgumentTypeError(QBridgeError, TypeError):
    """An argument has the wrong type (``expected`` says which)."""


class DeviceUnavailableError(BackendUnavailableError):
    """A torch device was asked for that this machine does not have (``cuda`` without a GPU)."""


class DeviceMismatchError(ValidationError):
    """Tensors handed to a run live on another torch device than the backend was pinned to, or on
    several devices at once (never copied silently: a hidden host-device copy costs as much as the run)."""


class JobError(BackendError):
    """A job failed, was cancelled, or its result cannot be retrieved."""


class BudgetExceededError(QBridgeError):
    """A submission's estimated cost or shots exceed the budget; nothing was sent."""


class NoiseModelError(QBridgeError, ValueError):
    """A noise model is unphysical (a probability outside its range, T2 > 2 T1, a negative
    time), names an unknown gate or a channel of the wrong width, or cannot be read from JSON."""
