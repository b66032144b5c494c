"""Offline descriptions of the Braket QPUs qbridge prices, and whether live access is set up here.

Owns: loading the dated snapshots shipped in ``device_snapshots/`` (capabilities documents in
``braket.device_schema``'s own format, written by ``tools/build_snapshots.py``) and validating
each against the SDK's schema when it is loaded; :func:`aws_credentials`, which tells whether
AWS credentials are configured *without contacting any service* (environment and the shared
files only); :func:`differences` between a snapshot and live capabilities; and
:func:`catalogue`, the Braket rows of ``qbridge devices``.

Must not touch: the network (no boto3 session is created here, and no instance-metadata
look-up), the price table's contents (read through :mod:`qbridge_braket.prices`).
"""

from __future__ import annotations

import configparser
import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qbridge.exceptions import BackendError

__all__ = ["SNAPSHOT_DIR", "Snapshot", "load_snapshots", "snapshot_for", "aws_credentials", "differences",
           "catalogue", "MANAGED_SIMULATORS"]

SNAPSHOT_DIR = Path(__file__).with_name("device_snapshots")
_FORMAT = "qbridge-braket-snapshot/1"
# the capabilities schema each vendor's snapshot must parse to (braket.device_schema class names)
_SCHEMAS = {"IonQ": "IonqDeviceCapabilities", "IQM": "IqmDeviceCapabilities", "Rigetti": "RigettiDeviceCapabilities"}

# Braket's on-demand simulators: billed by the minute, with no price in the shipped table.
MANAGED_SIMULATORS = {
    "amazon/sv1": "arn:aws:braket:::device/quantum-simulator/amazon/sv1",
    "amazon/dm1": "arn:aws:braket:::device/quantum-simulator/amazon/dm1",
    "amazon/tn1": "arn:aws:braket:::device/quantum-simulator/amazon/tn1",
}


@dataclass(frozen=True)
class Snapshot:
    """One device's offline description: the capabilities document and where it came from."""

    arn: str
    name: str
    vendor: str
    as_of: str
    status: str
    source: str
    document: dict = field(repr=False, compare=False)
    path: Path | None = None

    @property
    def key(self) -> str:
        """``vendor/Device`` as in the ARN (``iqm/Garnet``)."""
        return "/".join(self.arn.rsplit("/", 2)[-2:])

    @functools.cached_property
    def properties(self) -> Any:
        """The capabilities object, parsed and validated by the Braket SDK's schema."""
        from braket.schema_common import BraketSchemaBase

        where = self.path.name if self.path else self.arn
        try:
            caps = BraketSchemaBase.parse_raw_schema(json.dumps(self.document))
        except Exception as exc:  # pydantic's and the registry's errors: one typed error naming the file
            raise BackendError(f"the device snapshot {where} does not match braket.device_schema: "
                               f"{type(exc).__name__}: {exc}; reinstall qbridge-braket") from exc
        expected = _SCHEMAS.get(self.vendor)
        if expected is not None and type(caps).__name__ != expected:
            raise BackendError(f"the device snapshot {where} parsed as {type(caps).__name__}, expected {expected}; "
                               "reinstall qbridge-braket")
        return caps

    @functools.cached_property
    def limits(self) -> Any:
        from .capabilities import describe

        return describe(self.properties)

    def describe_source(self) -> dict[str, Any]:
        return {"source": "snapshot", "snapshot_as_of": self.as_of, "snapshot": self.key,
                "snapshot_note": self.source, "device_status": self.status}


def _read(path: Path) -> Snapshot:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BackendError(f"cannot read the device snapshot {path}: {exc}; reinstall qbridge-braket") from exc
    if not isinstance(data, dict) or data.get("schema") != _FORMAT or not isinstance(data.get("capabilities"), dict):
        raise BackendError(f"{path} is not a {_FORMAT} document; reinstall qbridge-braket")
    missing = [k for k in ("arn", "name", "vendor", "as_of", "source") if not data.get(k)]
    if missing:
        raise BackendError(f"the device snapshot {path} lacks {missing}; reinstall qbridge-braket")
    return Snapshot(arn=data["arn"], name=data["name"], vendor=data["vendor"], as_of=data["as_of"],
                    status=data.get("status", ""), source=data["source"], document=data["capabilities"], path=path)


@functools.lru_cache(maxsize=1)
def load_snapshots() -> tuple[Snapshot, ...]:
    """Every shipped snapshot (documents read; schemas validated on first use of ``properties``)."""
    if not SNAPSHOT_DIR.is_dir():
        raise BackendError(f"the device snapshots folder {SNAPSHOT_DIR} is missing; reinstall qbridge-braket "
                           "(its package data was not installed)")
    return tuple(_read(p) for p in sorted(SNAPSHOT_DIR.glob("*.json")))


def snapshot_for(arn: str) -> Snapshot | None:
    """The snapshot of the device ``arn`` (regions and case of the name ignored), or None."""
    want = "/".join(str(arn).rsplit("/", 2)[-2:]).lower()
    for s in load_snapshots():
        if s.key.lower() == want:
            return s
    return None


# -- credentials, without contacting anything --------------------------------------------------------

_AWS_FIX = ("configure AWS credentials: `aws configure` (or `aws configure --profile NAME` and "
            "AWS_PROFILE=NAME), or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY. An EC2 instance role is not "
            "looked up here (that would ask the instance metadata service): to use one, pass --option source=live")
_PROFILE_KEYS = ("aws_access_key_id", "role_arn", "credential_process", "sso_session", "sso_start_url",
                 "web_identity_token_file", "credential_source")


def _profiles(path: Path, config: bool) -> dict[str, dict[str, str]]:
    parser = configparser.RawConfigParser()
    try:
        parser.read(path)
    except (configparser.Error, OSError):
        return {}
    out = {}
    for section in parser.sections():
        name = section[len("profile "):] if config and section.startswith("profile ") else section
        out[name.strip()] = dict(parser.items(section))
    return out


def aws_credentials() -> tuple[bool, str]:
    """(configured, where or how to configure). Reads the environment and the shared credentials
    and config files only: no boto3 session, no network, no instance-metadata request."""
    env = os.environ
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return True, "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in the environment"
    if env.get("AWS_WEB_IDENTITY_TOKEN_FILE") and env.get("AWS_ROLE_ARN"):
        return True, "a web identity (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN)"
    if env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") or env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        return True, "a container role (AWS_CONTAINER_CREDENTIALS_*)"
    profile = env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE") or "default"
    creds = Path(env.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials").expanduser()
    conf = Path(env.get("AWS_CONFIG_FILE") or "~/.aws/config").expanduser()
    for path, is_config in ((creds, False), (conf, True)):
        entry = _profiles(path, is_config).get(profile)
        if entry and any(entry.get(k) for k in _PROFILE_KEYS):
            return True, f"profile {profile!r} in {path}"
    return False, f"no AWS credentials found for profile {profile!r}; {_AWS_FIX}"


# -- snapshot against live ------------------------------------------------------------------------------

def differences(snapshot: Any, live: Any) -> list[str]:
    """What the live capabilities say differently from the snapshot (both ``DeviceLimits``)."""
    out = []
    if snapshot.qubit_count != live.qubit_count:
        out.append(f"qubits: snapshot {snapshot.qubit_count}, live {live.qubit_count}")
    so, lo = set(snapshot.operations), set(live.operations)
    if so != lo:
        extra, gone = sorted(lo - so), sorted(so - lo)
        out.append("operations: " + "; ".join(p for p in (f"live adds {extra}" if extra else "",
                                                            f"live lacks {gone}" if gone else "") if p))
    if tuple(snapshot.shots_range) != tuple(live.shots_range):
        out.append(f"shots range: snapshot {list(snapshot.shots_range)}, live {list(live.shots_range)}")
    if snapshot.program_set != live.program_set:
        out.append(f"program sets (max executables, max total shots, min total shots): snapshot "
                   f"{snapshot.program_set}, live {live.program_set}")
    if snapshot.fully_connected != live.fully_connected:
        out.append(f"fully connected: snapshot {snapshot.fully_connected}, live {live.fully_connected}")
    elif not live.fully_connected:
        se, le = _edges(snapshot.graph), _edges(live.graph)
        if se != le:
            out.append(f"couplers: snapshot {len(se)}, live {len(le)} ({len(le - se)} only live, "
                       f"{len(se - le)} only in the snapshot)")
    return out


def _edges(graph) -> set[tuple[int, int]]:
    return {(min(a, b), max(a, b)) for a, bs in graph.items() for b in bs}


def connectivity_summary(limits: Any) -> str:
    if limits.fully_connected:
        return "all-to-all"
    edges = _edges(limits.graph)
    degree = max((len(v) for v in limits.graph.values()), default=0)
    return f"{len(edges)} couplers, at most {degree} per qubit"


# -- the catalogue rows -----------------------------------------------------------------------------------

def catalogue() -> list[dict[str, Any]]:
    """Every priced Braket QPU (from its snapshot) and the managed simulators, for ``qbridge devices``."""
    from .capabilities import make_target
    from .prices import load_prices

    table = load_prices()
    live, how = aws_credentials()
    access = {"configured": live, "how": how}
    rows = []
    for s in load_snapshots():
        lim = s.limits
        price = table.lookup(s.arn)
        rows.append({
            "name": s.key, "title": s.name, "provider": "Amazon Braket", "vendor": s.vendor, "kind": "qpu",
            "backend": "braket.device", "options": {"arn": s.arn},
            "qubits": lim.qubit_count,
            "native_gates": list(s.properties.paradigm.nativeGateSet),
            "accepted_gates": sorted(make_target(lim).native_gates),
            "connectivity": connectivity_summary(lim),
            "shots_range": list(lim.shots_range),
            "program_sets": None if lim.program_set is None else {
                "max_executables": lim.program_set[0], "max_total_shots": lim.program_set[1]},
            "price": None if price is None else {"per_task_usd": price.per_task, "per_shot_usd": price.per_shot,
                                                 "source": price.source},
            "price_date": None if price is None else price.as_of,
            "snapshot_date": s.as_of, "snapshot_source": s.source, "status": s.status,
            "live_access": access,
        })
    for key, arn in MANAGED_SIMULATORS.items():
        price = table.lookup(arn)
        rows.append({
            "name": key, "title": f"Amazon Braket {key.split('/')[1].upper()} (managed simulator)",
            "provider": "Amazon Braket", "vendor": "Amazon", "kind": "simulator",
            "backend": "braket.device", "options": {"arn": arn}, "qubits": None, "native_gates": None,
            "accepted_gates": None, "connectivity": None, "shots_range": None, "program_sets": None,
            "price": None if price is None else {"per_minute_usd": price.per_minute, "source": price.source},
            "price_date": None if price is None else price.as_of,
            "price_note": None if price is not None else
            "billed by the minute; no price in the shipped table: add per_minute and assumed_seconds_per_task "
            "to a price file (QBRIDGE_BRAKET_PRICES, see docs/cloud.md)",
            "snapshot_date": None,
            "snapshot_source": "no offline snapshot: compiling for it needs its live capabilities (credentials)",
            "status": "", "live_access": access,
        })
    return rows
