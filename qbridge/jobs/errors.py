"""Errors of the job store and the cloud transport.

They extend the core tree (:class:`qbridge.exceptions.JobError`), so ``except JobError`` catches
all of them; each message says what to do next (resume, move a file aside, raise a budget).
"""

from __future__ import annotations

from ..exceptions import JobError

__all__ = [
    "JobStoreError",
    "JobStoreCorruptError",
    "JobNotFoundError",
    "JobTimeoutError",
    "ReadOnlyStoreError",
    "TransportError",
    "PriceUnknownError",
]


class JobStoreError(JobError):
    """The job store cannot be opened, read or written."""


class JobStoreCorruptError(JobStoreError):
    """The job store file exists but is not a readable qbridge store; it is left untouched."""


class ReadOnlyStoreError(JobStoreError):
    """The job store can only be read (read-only mount, file or folder, or opened read-only):
    reading works, and every write raises this before touching the file."""


class JobNotFoundError(JobStoreError, LookupError):
    """No recorded job has this ID (or the prefix is ambiguous)."""


class JobTimeoutError(JobError, TimeoutError):
    """Waiting for a result timed out. The remote work was NOT cancelled; resume to collect it."""


class TransportError(JobError):
    """A provider call failed after its retries (throttling, network, a service error)."""


class PriceUnknownError(JobError):
    """No price is known for a paid device, so its cost cannot be estimated."""
