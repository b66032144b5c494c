"""The backend registry: stevedore over the entry-point group ``qbridge.backends``.

Owns: finding backends by name, listing them with their availability, and reporting plugins that
fail to load (missing SDK, broken install, duplicate names) without breaking the others.

An entry point names a :class:`~qbridge.backends.base.Backend` subclass. Loading it must not
import the backend's SDK (adapters import it when a backend is created), so listing is cheap.
A family entry whose name ends in ``.*`` (``pennylane.*``) serves every name under that prefix;
the class receives the full name as ``name=``.
"""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass
from typing import Any

from ..exceptions import ArgumentTypeError, BackendError, BackendNotFoundError, BackendUnavailableError
from .base import Backend

__all__ = ["GROUP", "BackendInfo", "get_backend", "list_backends", "reload_registry"]

GROUP = "qbridge.backends"
DEFAULT_BACKEND = "torch"
LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackendInfo:
    name: str
    available: bool
    reason: str
    description: str
    distribution: str | None = None
    # for backends of paid services (a ``credentials()`` classmethod): whether credentials are
    # configured here, read from local files and the environment only; None: none needed
    credentials_configured: bool | None = None
    credentials: str = ""  # where they were found, or how to configure them

    @property
    def status(self) -> str:
        """``ready``, ``needs credentials`` (installed; can plan and price, not send) or ``unavailable``."""
        if not self.available:
            return "unavailable"
        return "needs credentials" if self.credentials_configured is False else "ready"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "available": self.available,
            "status": self.status,
            "reason": self.reason,
            "description": self.description,
            "distribution": self.distribution,
            "credentials_configured": self.credentials_configured,
            "credentials": self.credentials,
        }


class _Registry:
    def __init__(self) -> None:
        import stevedore

        self.failures: dict[str, str] = {}
        self.duplicates: dict[str, list[str]] = {}
        failed: dict[str, list[str]] = {}  # name -> "module:attr (reason)" of each failed entry

        def on_failure(_manager, entrypoint, exc):
            reason = f"{type(exc).__name__}: {exc}"
            self.failures[entrypoint.name] = reason
            failed.setdefault(entrypoint.name, []).append(f"{entrypoint.value} (failed to load: {reason})")
            LOG.debug("backend plugin %s failed to load: %s", entrypoint.name, exc)

        self.manager = stevedore.ExtensionManager(GROUP, invoke_on_load=False, on_load_failure_callback=on_failure)
        # Duplicates are found here, not by stevedore's conflict_resolver: stevedore calls that only
        # when an extension is looked up by name, and only for neighbouring entries, so a second
        # registration of a name used to replace the first silently.
        by_name: dict[str, list[Any]] = {}
        for ext in self.manager.extensions:
            by_name.setdefault(ext.name, []).append(ext)
        self.classes: dict[str, Any] = {name: exts[0] for name, exts in by_name.items()}
        for name in set(by_name) | set(failed):
            owners = [_dist_of(e) or e.entry_point.value for e in by_name.get(name, [])] + failed.get(name, [])
            if len(owners) > 1:
                self.duplicates[name] = owners
                if name in by_name:  # reported as a clash, not as a broken plugin that hides a good one
                    self.failures.pop(name, None)

    def names(self) -> list[str]:
        return sorted(set(self.classes) | set(self.failures))

    def resolve(self, name: str) -> tuple[str, Any]:
        """(entry name, extension) for a backend name, following ``prefix.*`` families."""
        if name in self.classes:
            return name, self.classes[name]
        parts = name.split(".")
        for i in range(len(parts) - 1, 0, -1):
            family = ".".join(parts[:i]) + ".*"
            if family in self.classes:
                return family, self.classes[family]
        raise KeyError(name)


_DISTS: dict[tuple[str, str], str] | None = None  # (entry name, value) -> "dist version"


def _dist_of(ext) -> str | None:
    """'name version' of the distribution that registered ``ext`` (stevedore's cache drops it)."""
    global _DISTS
    ep = ext.entry_point
    dist = getattr(ep, "dist", None)
    if dist is not None:
        return f"{dist.name} {dist.version}"
    if _DISTS is None:  # one metadata scan per registry load, not one per entry per listing
        import importlib.metadata as md

        _DISTS = {}
        for candidate in md.entry_points(group=GROUP):
            if candidate.dist is not None:
                _DISTS.setdefault((candidate.name, candidate.value), f"{candidate.dist.name} {candidate.dist.version}")
    return _DISTS.get((ep.name, ep.value))


_REGISTRY: _Registry | None = None


def _registry() -> _Registry:
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = _Registry()
    return _REGISTRY


def reload_registry() -> None:
    """Forget the cached plugin scan (after installing a plugin in the same process)."""
    global _REGISTRY, _DISTS
    _REGISTRY = None
    _DISTS = None
    # stevedore keeps its own scan per process (a class attribute keyed by group, and its cache
    # module's table keyed by sys.path); without clearing them a new plugin stays invisible.
    import importlib

    import stevedore

    stevedore.ExtensionManager.ENTRY_POINT_CACHE.pop(GROUP, None)
    internal = getattr(getattr(getattr(stevedore, "_cache", None), "_c", None), "_internal", None)
    if isinstance(internal, dict):
        internal.clear()
    importlib.invalidate_caches()  # importlib.metadata's directory listings


def _availability(cls) -> tuple[bool, str]:
    try:
        ok, reason = cls.availability()
    except Exception as exc:  # a broken plugin must not break the listing
        return False, f"availability check failed: {type(exc).__name__}: {exc}"
    return bool(ok), str(reason or "")


def _credentials(cls) -> tuple[bool | None, str]:
    """A backend's ``credentials()`` classmethod (local files and environment only, no service is
    contacted), or (None, "") for backends that need none."""
    check = getattr(cls, "credentials", None)
    if not callable(check):
        return None, ""
    try:
        ok, how = check()
    except Exception as exc:  # a broken plugin must not break the listing
        return False, f"credentials check failed: {type(exc).__name__}: {exc}"
    return bool(ok), str(how or "")


def list_backends() -> list[BackendInfo]:
    """Every registered backend with whether it can run here and why not."""
    reg = _registry()
    out: list[BackendInfo] = []
    for name in reg.names():
        if name in reg.failures:
            out.append(BackendInfo(name, False, f"plugin failed to load: {reg.failures[name]}", ""))
            continue
        ext = reg.classes[name]
        cls = ext.plugin
        if name in reg.duplicates:
            out.append(
                BackendInfo(name, False, "registered more than once by: " + ", ".join(reg.duplicates[name]),
                            getattr(cls, "description", ""), _dist_of(ext))
            )
            continue
        names = [name]
        if name.endswith(".*") and hasattr(cls, "family_members"):
            try:
                names = list(cls.family_members()) or [name]
            except Exception as exc:
                out.append(BackendInfo(name, False, f"listing failed: {exc}", getattr(cls, "description", "")))
                continue
        for member in names:
            if member != name and member in reg.classes:
                continue  # a named entry of its own is listed under that entry
            if hasattr(cls, "availability_of") and member != name:
                ok, reason = cls.availability_of(member)
            else:
                ok, reason = _availability(cls)
            configured, how = _credentials(cls) if ok else (None, "")
            out.append(BackendInfo(member, ok, reason, getattr(cls, "description", ""), _dist_of(ext), configured, how))
    return sorted(out, key=lambda b: b.name)


def accepted_options(cls: type) -> tuple[frozenset[str], bool]:
    """The keyword options a backend class accepts, read from its constructors' signatures.

    One mechanism for every plugin: the keyword parameters of ``cls.__init__`` and, while a
    constructor passes ``**options`` on, of its bases'. Returns (names, closed); ``closed`` is
    False when the chain ends in :class:`Backend`'s own ``**options`` (the class takes free-form
    options and checks them itself).
    """
    import inspect

    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        if klass is Backend:
            return frozenset(names), False
        params = inspect.signature(init).parameters.values()
        names.update(p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
                     and p.name not in ("self", "name"))
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            return frozenset(names), True
    return frozenset(names), False


def _unknown_options_error(name: str, unknown: list[str], accepted: frozenset[str]) -> ArgumentTypeError:
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, sorted(accepted), n=1, cutoff=0.6)
        if close:
            hints.append(f"{key!r}: did you mean {close[0]!r}?")
    return ArgumentTypeError(
        f"unknown option(s) {', '.join(map(repr, unknown))} for backend {name!r}; it accepts "
        f"{', '.join(sorted(accepted)) or 'no options'}" + (f" ({'; '.join(hints)})" if hints else "")
        + "; `qbridge backends` describes them", backend=name, expected=sorted(accepted),
    )


def get_backend(name: str | Backend | None = None, **options: Any) -> Backend:
    """Create the backend registered as ``name`` (default ``torch``) with ``options``."""
    if isinstance(name, Backend):
        if options:
            raise TypeError("options cannot be applied to an existing backend object")
        return name
    name = DEFAULT_BACKEND if name is None else name
    if not isinstance(name, str):
        raise TypeError(f"a backend name must be a string, got {type(name).__name__}")
    reg = _registry()
    if name in reg.failures:
        raise BackendUnavailableError(
            f"backend {name!r} is installed but its plugin failed to load: {reg.failures[name]}; "
            "reinstall it or install its SDK",
            backend=name,
        )
    try:
        entry, ext = reg.resolve(name)
    except KeyError:
        known = reg.names()
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise BackendNotFoundError(
            f"no backend named {name!r}.{hint} Installed: {', '.join(known) or 'none'}. "
            "Adapters are separate distributions (for example qbridge-aer); `qbridge backends` lists them.",
            backend=name,
        ) from None
    if entry in reg.duplicates:
        raise BackendError(
            f"backend {name!r} is registered more than once ({', '.join(reg.duplicates[entry])}); "
            "uninstall one of them",
            backend=name,
        )
    cls = ext.plugin
    ok, reason = cls.availability_of(name) if (entry != name and hasattr(cls, "availability_of")) else _availability(cls)
    if not ok:
        raise BackendUnavailableError(f"backend {name!r} is not available here: {reason}", backend=name)
    accepted, closed = accepted_options(cls)
    unknown = sorted(k for k in options if k not in accepted)
    if closed and unknown:  # refused before the SDK is imported or anything is created
        raise _unknown_options_error(name, unknown, accepted)
    try:
        return cls(name=name, **options)
    except TypeError as exc:
        # a class with free-form options refuses the unknown ones itself: the same typed error
        if unknown and ("unknown option" in str(exc) or "unexpected keyword" in str(exc)):
            raise _unknown_options_error(name, unknown, accepted) from None
        raise
