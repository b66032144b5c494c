"""What a cloud provider must offer the job store, and how calls to it are retried and polled.

Owns: :class:`CloudTransport` (the provider seam the adapters implement: pack, submit, find,
state, fetch, cancel), :class:`RetryPolicy` (exponential backoff with jitter on throttling and
transient errors, via tenacity), :class:`PollPolicy` (status polling that backs off), and
:func:`transport_from_spec` (rebuild a transport in a fresh process from what the store recorded).

A transport never stores or logs credentials: its :meth:`CloudTransport.spec` holds only what is
needed to find the remote work again (device, region, bucket, mode), and the SDK's own credential
chain (boto3 profiles, ``QiskitRuntimeService.save_account``) supplies the rest.
"""

from __future__ import annotations

import abc
import importlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping, Sequence, TypeVar

from .errors import JobStoreError, TransportError

__all__ = [
    "CloudTransport",
    "ProviderRequest",
    "RejectedError",
    "RetryPolicy",
    "PollPolicy",
    "call_with_retries",
    "transport_from_spec",
]

T = TypeVar("T")


class RejectedError(TransportError):
    """The provider refused a request outright (validation, permissions): nothing was created."""


@dataclass(frozen=True)
class ProviderRequest:
    """One billed unit as it will be sent: a Braket quantum task, an IBM job.

    ``payload`` is JSON and holds exactly what is sent, so a resume in a fresh process re-sends
    the same bytes (Braket rejects a reused client token with different parameters).
    ``executables`` lists (compiled task, binding row) for each result it will return, in order.
    """

    payload: dict[str, Any]
    executables: tuple[tuple[int, int], ...]
    shots: int
    estimated_cost_usd: float | None
    estimated_seconds: float | None = None  # QPU usage time, for devices billed by time (IBM)

    def as_row(self) -> dict[str, Any]:
        return {"payload": self.payload, "executables": [list(e) for e in self.executables],
                "shots": self.shots, "estimated_cost_usd": self.estimated_cost_usd}


@dataclass(frozen=True)
class RetryPolicy:
    """Retries with exponential backoff and full jitter (1, 2, 4, ... s, at most ``max_s``).

    Only errors the transport calls retryable are retried (throttling, 5xx, connection and read
    timeouts); a submission is retried only with the same idempotency token.
    """

    attempts: int = 6
    initial_s: float = 1.0
    max_s: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)


@dataclass(frozen=True)
class PollPolicy:
    """Status polling: first wait ``initial_s``, then x``factor`` up to ``max_s`` between polls."""

    initial_s: float = 1.0
    factor: float = 1.5
    max_s: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)

    def intervals(self):
        d = self.initial_s
        while True:
            yield d
            d = min(d * self.factor, self.max_s)


def call_with_retries(fn: Callable[[], T], *, retryable: Callable[[BaseException], bool], policy: RetryPolicy, what: str) -> T:
    """``fn()`` retried on retryable errors; after the last attempt a :class:`TransportError`."""
    import tenacity

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(max(1, policy.attempts)),
        wait=tenacity.wait_random_exponential(multiplier=policy.initial_s, max=policy.max_s),
        retry=tenacity.retry_if_exception(retryable),
        sleep=policy.sleep,
        reraise=True,
    )
    try:
        return retrying(fn)
    except TransportError:
        raise
    except Exception as exc:  # noqa: BLE001 - every provider error becomes one typed error here
        if retryable(exc):
            raise TransportError(
                f"{what} still failing after {policy.attempts} attempts: {exc}. The job store keeps the "
                "request; run `qbridge jobs resume` later", cause=type(exc).__name__,
            ) from exc
        raise


class CloudTransport(abc.ABC):
    """The seam between the job store and one provider's API.

    An adapter writes one subclass. Methods that talk to the network are called through
    :func:`call_with_retries` with :meth:`retryable` deciding what is transient.
    """

    provider: ClassVar[str] = ""
    #: True when re-sending with the same client token cannot create a second task (Braket's
    #: clientToken). IBM has no such token: a task that may have been sent is only looked up.
    idempotent_resend: ClassVar[bool] = False
    #: True when the work runs on the provider's hardware (False: local testing mode).
    billable: ClassVar[bool] = True

    @property
    @abc.abstractmethod
    def device(self) -> str:
        """The device's ARN or backend name."""

    @abc.abstractmethod
    def spec(self) -> dict[str, Any]:
        """JSON that :meth:`from_spec` turns back into an equivalent transport (no secrets)."""

    @classmethod
    @abc.abstractmethod
    def from_spec(cls, spec: Mapping[str, Any], **clients: Any) -> "CloudTransport":
        """Rebuild from :meth:`spec`; ``clients`` may inject SDK clients (tests, custom sessions)."""

    def retryable(self, exc: BaseException) -> bool:
        return False

    def preflight(self) -> None:
        """Fail early, before anything is recorded, when sending cannot work here (no
        credentials). Called after the budget check, so it may read credential sources."""

    @abc.abstractmethod
    def pack(self, compiled: Sequence[Any], config: Any) -> list[ProviderRequest]:
        """Turn compiled tasks into billed requests (batching); must not touch the network."""

    @abc.abstractmethod
    def submit(self, payload: Mapping[str, Any], client_token: str) -> str:
        """Send one request; return the provider's task ID/ARN."""

    def find(self, client_token: str, sent_at: float | None) -> str | None:
        """The provider ID of a request sent with this token, if the provider knows it."""
        return None

    @abc.abstractmethod
    def state(self, provider_id: str) -> tuple[str, str | None]:
        """(a :class:`~qbridge.jobs.store.TaskState` value, failure reason or None)."""

    @abc.abstractmethod
    def fetch(self, provider_id: str, payload: Mapping[str, Any]) -> tuple[list[dict[str, int]], float | None]:
        """(counts per executable over all qubits, q0 first; actual cost in USD or None)."""

    def cancel(self, provider_id: str) -> bool:
        return False

    def finish_sending(self) -> None:
        """Called once every request of a job has been sent (close a batch or session)."""


def transport_from_spec(spec: Mapping[str, Any], **clients: Any) -> CloudTransport:
    """Import the transport class named in ``spec['class']`` (qbridge modules only) and rebuild it."""
    target = spec.get("class", "")
    mod, _, attr = str(target).partition(":")
    if not mod.startswith("qbridge") or not attr:
        raise JobStoreError(f"the job store names an unknown transport {target!r}; it cannot be resumed here")
    try:
        cls = getattr(importlib.import_module(mod), attr)
    except (ImportError, AttributeError) as exc:
        raise JobStoreError(
            f"cannot load the transport {target!r} needed to reach this job ({exc}); install its adapter "
            f"(e.g. pip install ./plugins/qbridge-{spec.get('provider', '?')})",
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, CloudTransport)):
        raise JobStoreError(f"{target!r} is not a qbridge cloud transport")
    return cls.from_spec(spec, **clients)
