"""The durable job store: one SQLite file that records every cloud submission.

Owns: where the file lives, its permissions (0600, its folder 0700), its schema, and the
write-ahead discipline that keeps paid results safe:

1. ``create_job`` records the intent (one row per provider request, each with a fresh client
   token) and checks the budget in the SAME transaction, before anything is sent;
2. ``mark_sending`` is written right before the network call, so a crash leaves the task in
   ``sending``: maybe sent, never forgotten; resume looks it up by its token before re-sending;
3. ``set_submitted`` stores the provider's task ID/ARN as soon as it is known;
4. ``set_result`` caches the counts (JSON) the moment they are fetched.

Why one file of about 700 lines: :class:`JobStore` is one SQLite schema and the transactions
that keep it consistent (intent and budget in one transaction, claims before sending, results
cached on fetch); splitting it would spread one set of invariants over several modules.

Every step is its own committed transaction (WAL, ``synchronous=FULL``), so a process killed at
any point leaves a consistent record. Credentials are never written: provider options pass an
allow-list in the transports and a deny-list here.

A file that exists but is not a readable qbridge store raises
:class:`~qbridge.jobs.errors.JobStoreCorruptError` and is never recreated or overwritten.

Read-only stores: a store that cannot be written (a read-only mount, a file without write
permission or marked immutable, a folder that cannot be written, or ``JobStore(path,
read_only=True)``) is opened with SQLite's ``mode=ro`` URI, and with ``immutable=1`` where even
that needs the write-ahead files it cannot create (nothing can write such a store meanwhile).
Reading works (``qbridge jobs list|show``, and ``result`` for cached results); every write raises
:class:`~qbridge.exceptions.ReadOnlyStoreError` before touching anything. Access errors
(SQLite's ``READONLY``, ``CANTOPEN``, ``PERM``) are never reported as damage. qbridge creates
new stores 0600 in a 0700 folder and never changes the mode of an existing file (it warns when
others can read it).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import stat
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from .errors import JobNotFoundError, JobStoreCorruptError, JobStoreError, ReadOnlyStoreError

__all__ = [
    "ENV_STORE",
    "default_store_path",
    "JobStore",
    "JobRecord",
    "TaskRecord",
    "TaskState",
    "open_store",
]

LOG = logging.getLogger(__name__)
ENV_STORE = "QBRIDGE_JOB_STORE"
SCHEMA_NAME = "qbridge-job-store"
SCHEMA_VERSION = 1
_SQLITE_MAGIC = b"SQLite format 3\x00"
# Option names that smell of a secret are never written to the store, whatever a caller passes.
_SECRET_WORDS = ("secret", "password", "passwd", "credential", "api_key", "apikey", "access_key", "session_token", "auth")


class TaskState:
    """States of one provider request (a Braket quantum task, an IBM job)."""

    PENDING = "pending"  # intent recorded, not sent
    SENDING = "sending"  # the send started: it may or may not have reached the provider
    QUEUED = "queued"  # the provider knows it (ID recorded)
    RUNNING = "running"
    DONE = "done"  # result cached in the store
    FAILED = "failed"
    CANCELLED = "cancelled"

    FINAL = frozenset({DONE, FAILED, CANCELLED})
    UNSENT = frozenset({PENDING, SENDING})


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    provider TEXT NOT NULL,
    backend TEXT NOT NULL,
    device TEXT NOT NULL,
    shots INTEGER,
    estimated_cost_usd REAL,
    max_cost_usd REAL,
    transport TEXT NOT NULL,      -- JSON: how to rebuild the transport in a fresh process (no secrets)
    layout TEXT NOT NULL,         -- JSON: per compiled task {num_qubits, batch, readout}
    metadata TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS tasks (
    job_id TEXT NOT NULL REFERENCES jobs(id),
    idx INTEGER NOT NULL,
    client_token TEXT NOT NULL UNIQUE,
    provider_id TEXT,
    state TEXT NOT NULL,
    shots INTEGER NOT NULL,
    executables TEXT NOT NULL,    -- JSON list of [compiled task, binding row]
    payload TEXT NOT NULL,        -- JSON: exactly what is sent (re-sent identically on resume)
    estimated_cost_usd REAL,
    actual_cost_usd REAL,
    result TEXT,                  -- JSON list of counts dicts, one per executable
    error TEXT,
    created_at REAL NOT NULL,
    sent_at REAL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (job_id, idx)
);
CREATE INDEX IF NOT EXISTS tasks_provider ON tasks(provider_id);
"""


def default_store_path() -> Path:
    """``$QBRIDGE_JOB_STORE`` if set, else ``jobs.sqlite3`` in the user's data folder."""
    env = os.environ.get(ENV_STORE)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("qbridge")) / "jobs.sqlite3"


@dataclass(frozen=True)
class TaskRecord:
    job_id: str
    index: int
    client_token: str
    provider_id: str | None
    state: str
    shots: int
    executables: tuple[tuple[int, int], ...]
    payload: dict[str, Any]
    estimated_cost_usd: float | None
    actual_cost_usd: float | None
    result: list[dict[str, int]] | None
    error: str | None
    created_at: float
    sent_at: float | None
    updated_at: float

    def to_dict(self, with_payload: bool = False) -> dict[str, Any]:
        d = {
            "index": self.index,
            "client_token": self.client_token,
            "provider_id": self.provider_id,
            "state": self.state,
            "shots": self.shots,
            "executables": len(self.executables),
            "estimated_cost_usd": self.estimated_cost_usd,
            "actual_cost_usd": self.actual_cost_usd,
            "has_result": self.result is not None,
            "error": self.error,
            "created_at": self.created_at,
            "sent_at": self.sent_at,
        }
        if with_payload:
            d["payload"] = self.payload
        return d


@dataclass(frozen=True)
class JobRecord:
    id: str
    created_at: float
    updated_at: float
    provider: str
    backend: str
    device: str
    shots: int | None
    estimated_cost_usd: float | None
    max_cost_usd: float | None
    transport: dict[str, Any]
    layout: list[dict[str, Any]]
    metadata: dict[str, Any]
    tasks: tuple[TaskRecord, ...] = field(default=())

    @property
    def state(self) -> str:
        """One word for the whole job, from its tasks' states."""
        states = {t.state for t in self.tasks}
        if not states:
            return TaskState.PENDING
        if states == {TaskState.DONE}:
            return TaskState.DONE
        if TaskState.FAILED in states:
            return TaskState.FAILED
        if states <= {TaskState.CANCELLED, TaskState.DONE}:
            return TaskState.CANCELLED
        for s in (TaskState.SENDING, TaskState.PENDING, TaskState.RUNNING, TaskState.QUEUED):
            if s in states:
                return s
        return TaskState.QUEUED  # pragma: no cover - all states are handled above

    @property
    def actual_cost_usd(self) -> float | None:
        vals = [t.actual_cost_usd for t in self.tasks]
        return None if any(v is None for v in vals) or not vals else float(sum(vals))

    def to_dict(self, with_payload: bool = False) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "provider": self.provider,
            "backend": self.backend,
            "device": self.device,
            "shots": self.shots,
            "estimated_cost_usd": self.estimated_cost_usd,
            "actual_cost_usd": self.actual_cost_usd,
            "max_cost_usd": self.max_cost_usd,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "metadata": self.metadata,
            "tasks": [t.to_dict(with_payload) for t in self.tasks],
        }


def _safe_options(options: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in options.items():
        low = k.lower()
        if any(w in low for w in _SECRET_WORDS) or (low.endswith("token") and low != "client_token"):
            LOG.warning("option %r looks like a credential; it is not recorded in the job store", k)
            continue
        out[k] = v
    return out


_ACCESS_CODES = {3, 8, 14, 23}  # SQLITE_PERM, SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_AUTH


def _is_access_error(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in _ACCESS_CODES
    text = str(exc).lower()
    return "readonly" in text or "read-only" in text or "unable to open" in text


def _why_read_only(path: Path) -> str | None:
    """Why an existing store cannot be written, or None when it can."""
    try:
        if os.statvfs(path).f_flag & getattr(os, "ST_RDONLY", 1):
            return "it is on a read-only file system"
    except OSError:
        pass
    if not os.access(path, os.W_OK):
        mode = stat.S_IMODE(path.stat().st_mode)
        return f"the file cannot be written (mode {mode:#o}, or marked immutable)"
    if not os.access(path.parent, os.W_OK):
        return f"its folder {path.parent} cannot be written (SQLite keeps its write-ahead log there)"
    return None


def _warn_if_shared(path: Path) -> None:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return
    if mode & 0o077:
        LOG.warning("the job store %s is readable by other users (mode %#o); `chmod 600 %s` makes it "
                    "private (qbridge does not change the mode of an existing file)", path, mode, path)


class JobStore:
    """A handle on the SQLite job store. Cheap to open; safe to use from several processes.

    ``path``: the file (default: :func:`default_store_path`). The folder is created 0700 and
    the file 0600 (the write-ahead ``-wal``/``-shm`` files are kept 0600 too).
    """

    def __init__(self, path: str | os.PathLike | None = None, *, read_only: bool | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_store_path()
        self.read_only_reason: str | None = None
        self._conn = self._open(read_only)

    @property
    def read_only(self) -> bool:
        return self.read_only_reason is not None

    # -- opening ------------------------------------------------------------------------------
    def _open(self, read_only: bool | None = None) -> sqlite3.Connection:
        p = self.path
        if p.is_dir():
            raise JobStoreError(f"the job store path {p} is a folder; point QBRIDGE_JOB_STORE at a file", path=str(p))
        exists = p.exists() and p.stat().st_size > 0
        reason = ("it was opened read-only" if read_only else None) if read_only is not None else (
            _why_read_only(p) if exists else None)
        if reason is not None:
            if not exists:
                raise JobStoreError(f"there is no job store at {p} to open read-only", path=str(p))
            self.read_only_reason = reason
            return self._open_read_only(p)
        fresh = not exists
        if fresh:
            if not p.parent.exists():
                p.parent.mkdir(parents=True, mode=0o700)
            # Created 0600 from the start (the umask can only remove bits), so there is no moment
            # when another user could read it.
            fd = os.open(p, os.O_CREAT | os.O_RDWR | getattr(os, "O_NOFOLLOW", 0), 0o600)
            os.close(fd)
        else:
            with open(p, "rb") as fh:
                head = fh.read(len(_SQLITE_MAGIC))
            if head != _SQLITE_MAGIC:
                raise self._corrupt("it is not an SQLite database")
            _warn_if_shared(p)
        try:
            conn = sqlite3.connect(p, timeout=30.0, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            if not fresh:
                check = conn.execute("PRAGMA quick_check").fetchone()[0]
                if check != "ok":
                    conn.close()
                    raise self._corrupt(f"SQLite's integrity check says: {check}")
            with self._tx(conn):
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if not tables:
                    for stmt in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
                        conn.execute(stmt)
                    conn.execute("INSERT INTO meta VALUES ('schema', ?), ('version', ?)", (SCHEMA_NAME, str(SCHEMA_VERSION)))
                elif "meta" not in tables:
                    raise JobStoreError(
                        f"{p} is an SQLite database but not a qbridge job store; use another path "
                        f"(QBRIDGE_JOB_STORE or store_path=)",
                        path=str(p),
                    )
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            if _is_access_error(exc):
                raise JobStoreError(
                    f"the job store {p} cannot be opened for writing ({exc}); it is not damaged: fix the "
                    "permissions of the file and its folder, or open it read-only (JobStore(path, read_only=True))",
                    path=str(p),
                ) from exc
            raise self._corrupt(f"SQLite cannot read it ({exc})") from exc
        self._check_meta(p, meta)
        return conn

    def _check_meta(self, p: Path, meta: dict) -> None:
        if meta.get("schema") != SCHEMA_NAME:
            raise JobStoreError(f"{p} is not a qbridge job store (schema {meta.get('schema')!r})", path=str(p))
        if int(meta.get("version", "0")) > SCHEMA_VERSION:
            raise JobStoreError(
                f"{p} was written by a newer qbridge (store version {meta['version']}); upgrade qbridge",
                path=str(p),
            )

    def _open_read_only(self, p: Path) -> sqlite3.Connection:
        """SQLite's ``mode=ro``, then ``immutable=1`` if even that cannot open it (module notes)."""
        from urllib.request import pathname2url

        with open(p, "rb") as fh:
            if fh.read(len(_SQLITE_MAGIC)) != _SQLITE_MAGIC:
                raise self._corrupt("it is not an SQLite database")
        url = "file:" + pathname2url(str(p.resolve()))
        last: Exception | None = None
        for flags in ("mode=ro", "mode=ro&immutable=1"):
            try:
                conn = sqlite3.connect(f"{url}?{flags}", uri=True, timeout=30.0, isolation_level=None)
            except sqlite3.DatabaseError as exc:
                last = exc
                continue
            try:
                conn.row_factory = sqlite3.Row
                check = conn.execute("PRAGMA quick_check").fetchone()[0]
                if check != "ok":
                    conn.close()
                    raise self._corrupt(f"SQLite's integrity check says: {check}")
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if "meta" not in tables:
                    conn.close()
                    raise JobStoreError(f"{p} is an SQLite database but not a qbridge job store; use another path",
                                        path=str(p))
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            except sqlite3.DatabaseError as exc:
                conn.close()
                if _is_access_error(exc):
                    last = exc
                    continue
                raise self._corrupt(f"SQLite cannot read it ({exc})") from exc
            self._check_meta(p, meta)
            return conn
        raise JobStoreError(
            f"the job store {p} cannot be opened, even read-only ({last}); it is not damaged: check that "
            "this user may read the file and its folder", path=str(p),
        ) from last

    def _refuse_write(self) -> None:
        if self.read_only_reason is not None:
            raise ReadOnlyStoreError(
                f"the job store {self.path} is read-only ({self.read_only_reason}): reading works "
                "(qbridge jobs list, show, and result for fetched results), but this command writes; copy "
                "the file to a writable folder and point QBRIDGE_JOB_STORE (or --store) at the copy",
                path=str(self.path),
            )

    def _corrupt(self, why: str) -> JobStoreCorruptError:
        return JobStoreCorruptError(
            f"the job store {self.path} is damaged: {why}. qbridge leaves it untouched: move it aside "
            f"(it may hold task IDs of paid runs; `sqlite3 {self.path} .recover` can often rescue them) "
            f"or point QBRIDGE_JOB_STORE at another file",
            path=str(self.path),
        )

    @staticmethod
    @contextlib.contextmanager
    def _tx(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front, so a budget check and the intent it allows are
        # one atomic step even with several processes submitting at once.
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self._refuse_write()
        try:
            with self._tx(self._conn) as c:
                yield c
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise JobStoreError(f"the job store {self.path} is locked by another process; try again", path=str(self.path)) from exc
            if _is_access_error(exc):
                raise ReadOnlyStoreError(
                    f"the job store {self.path} cannot be written ({exc}); it is not damaged: fix the "
                    "permissions or the mount, or copy it to a writable folder", path=str(self.path),
                ) from exc
            raise self._corrupt(f"SQLite failed while writing ({exc})") from exc

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        try:
            return self._conn.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(f"SQLite failed while reading ({exc})") from exc

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "JobStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- settings -----------------------------------------------------------------------------
    def get_setting(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (f"setting.{key}",))
        return rows[0][0] if rows else None

    def set_setting(self, key: str, value: str | None) -> None:
        with self.transaction() as c:
            if value is None:
                c.execute("DELETE FROM meta WHERE key = ?", (f"setting.{key}",))
            else:
                c.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (f"setting.{key}", value))

    @property
    def total_cap_usd(self) -> float | None:
        v = self.get_setting("total_cap_usd")
        return None if v is None else float(v)

    def set_total_cap(self, usd: float | None) -> None:
        if usd is not None and (usd != usd or usd < 0):
            raise ValueError(f"the total budget must be a non-negative number of USD, got {usd!r}")
        self.set_setting("total_cap_usd", None if usd is None else repr(float(usd)))

    def spent_usd(self, conn: sqlite3.Connection | None = None) -> float:
        """Money committed so far: actual cost where known, else the estimate.

        Recorded intents count from the moment they are recorded (they are about to be sent);
        requests that failed or were cancelled without ever getting a provider ID count 0 (the
        provider refused them, or they were dropped before sending).
        """
        sql = (
            "SELECT COALESCE(SUM(COALESCE(actual_cost_usd, estimated_cost_usd, 0)), 0) FROM tasks "
            "WHERE NOT (state IN ('failed', 'cancelled') AND provider_id IS NULL)"
        )
        try:
            return float((conn or self._conn).execute(sql).fetchone()[0])
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(f"SQLite failed while reading ({exc})") from exc

    # -- writing ------------------------------------------------------------------------------
    def create_job(
        self,
        *,
        provider: str,
        backend: str,
        device: str,
        shots: int | None,
        transport: dict[str, Any],
        layout: list[dict[str, Any]],
        requests: Sequence[dict[str, Any]],
        estimated_cost_usd: float | None,
        budget: Any = None,
        metadata: dict[str, Any] | None = None,
    ) -> JobRecord:
        """Record a job and one intent per request; refuse it first if it breaks the budget.

        ``requests``: dicts with ``payload`` (JSON-able), ``executables`` (list of
        (compiled task, binding row)), ``shots`` and ``estimated_cost_usd``. The budget check and
        the intent are one transaction: two processes cannot both squeeze under the cap.
        """
        now = time.time()
        job_id = "qj-" + uuid.uuid4().hex[:16]
        with self.transaction() as c:
            if budget is not None:
                budget.check(estimated_cost_usd, total_shots=sum(r["shots"] * len(r["executables"]) for r in requests),
                             spent_usd=self.spent_usd(c), total_cap_usd=self.total_cap_usd)
            c.execute(
                "INSERT INTO jobs VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    job_id, now, now, provider, backend, device, shots, estimated_cost_usd,
                    getattr(budget, "max_cost_usd", None), json.dumps(_safe_options(transport)),
                    json.dumps(layout), json.dumps(_safe_options(dict(metadata or {}))),
                ),
            )
            for i, r in enumerate(requests):
                c.execute(
                    "INSERT INTO tasks (job_id, idx, client_token, state, shots, executables, payload, "
                    "estimated_cost_usd, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        job_id, i, str(uuid.uuid4()), TaskState.PENDING, int(r["shots"]),
                        json.dumps([list(e) for e in r["executables"]]), json.dumps(r["payload"]),
                        r.get("estimated_cost_usd"), now, now,
                    ),
                )
        return self.get_job(job_id)

    def _update_task(self, job_id: str, index: int, where_state: Sequence[str] | None = None, **cols: Any) -> bool:
        now = time.time()
        cols["updated_at"] = now
        sets = ", ".join(f"{k} = ?" for k in cols)
        sql = f"UPDATE tasks SET {sets} WHERE job_id = ? AND idx = ?"
        args = [*cols.values(), job_id, index]
        if where_state:
            sql += f" AND state IN ({','.join('?' * len(where_state))})"
            args += list(where_state)
        with self.transaction() as c:
            n = c.execute(sql, args).rowcount
            c.execute("UPDATE jobs SET updated_at = ? WHERE id = ?", (now, job_id))
        return n > 0

    def mark_sending(self, job_id: str, index: int) -> None:
        """Written right before the network call: from now on the task may exist remotely."""
        self._update_task(job_id, index, state=TaskState.SENDING, sent_at=time.time())

    def claim_send(self, task: "TaskRecord") -> bool:
        """Mark ``task`` as being sent, if nobody else has since it was read (compare and set).

        Two processes resuming the same job cannot both send a task: only the one whose view of
        the task (state and send time) is still current wins; the other skips it.
        """
        now = time.time()
        sql = "UPDATE tasks SET state = ?, sent_at = ?, updated_at = ? WHERE job_id = ? AND idx = ? AND state = ? AND "
        args: list[Any] = [TaskState.SENDING, now, now, task.job_id, task.index, task.state]
        if task.sent_at is None:
            sql += "sent_at IS NULL"
        else:
            sql += "sent_at = ?"
            args.append(task.sent_at)
        with self.transaction() as c:
            return c.execute(sql, args).rowcount == 1

    def set_submitted(self, job_id: str, index: int, provider_id: str, state: str = TaskState.QUEUED) -> None:
        self._update_task(job_id, index, provider_id=provider_id, state=state, error=None)

    def set_state(self, job_id: str, index: int, state: str, error: str | None = None) -> None:
        # A cached result is never downgraded by a late status read.
        self._update_task(
            job_id, index,
            where_state=[s for s in (TaskState.PENDING, TaskState.SENDING, TaskState.QUEUED, TaskState.RUNNING,
                                     TaskState.FAILED, TaskState.CANCELLED) if s != state] or None,
            state=state, error=error,
        )

    def set_result(self, job_id: str, index: int, counts: list[dict[str, int]], actual_cost_usd: float | None) -> None:
        self._update_task(
            job_id, index, state=TaskState.DONE, result=json.dumps(counts), actual_cost_usd=actual_cost_usd, error=None
        )

    def set_actual_cost(self, job_id: str, index: int, usd: float) -> None:
        self._update_task(job_id, index, actual_cost_usd=usd)

    def update_metadata(self, job_id: str, **items: Any) -> None:
        with self.transaction() as c:
            row = c.execute("SELECT metadata FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise JobNotFoundError(f"no job {job_id!r} in {self.path}", job_id=job_id)
            meta = json.loads(row[0])
            meta.update(_safe_options(items))
            c.execute("UPDATE jobs SET metadata = ?, updated_at = ? WHERE id = ?", (json.dumps(meta), time.time(), job_id))

    # -- reading ------------------------------------------------------------------------------
    def resolve_id(self, job_id: str) -> str:
        """The full ID of a job from its ID, a unique prefix, or a task's provider ID/ARN."""
        if not isinstance(job_id, str) or not job_id:
            raise TypeError(f"a job ID is a non-empty string, got {job_id!r}")
        rows = self._query("SELECT id FROM jobs WHERE id = ?", (job_id,))
        if rows:
            return rows[0][0]
        rows = self._query("SELECT DISTINCT job_id FROM tasks WHERE provider_id = ? OR client_token = ?", (job_id, job_id))
        if len(rows) == 1:
            return rows[0][0]
        pattern = job_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self._query("SELECT id FROM jobs WHERE id LIKE ? ESCAPE '\\' LIMIT 3", (pattern,))
        if len(rows) == 1:
            return rows[0][0]
        if len(rows) > 1:
            raise JobNotFoundError(
                f"{job_id!r} matches several jobs ({', '.join(r[0] for r in rows)}, ...); give more characters",
                job_id=job_id,
            )
        raise JobNotFoundError(f"no job {job_id!r} in {self.path}; see `qbridge jobs list`", job_id=job_id)

    def get_job(self, job_id: str) -> JobRecord:
        full = self.resolve_id(job_id)
        row = self._query("SELECT * FROM jobs WHERE id = ?", (full,))[0]
        tasks = tuple(self._task(r) for r in self._query("SELECT * FROM tasks WHERE job_id = ? ORDER BY idx", (full,)))
        return self._job(row, tasks)

    def list_jobs(self, limit: int | None = 50, state: str | None = None) -> list[JobRecord]:
        sql = "SELECT * FROM jobs ORDER BY created_at DESC"
        rows = self._query(sql)
        out = []
        for row in rows:
            tasks = tuple(self._task(r) for r in self._query("SELECT * FROM tasks WHERE job_id = ? ORDER BY idx", (row["id"],)))
            job = self._job(row, tasks)
            if state is None or job.state == state:
                out.append(job)
            if limit is not None and len(out) >= limit:
                break
        return out

    @staticmethod
    def _task(r: sqlite3.Row) -> TaskRecord:
        return TaskRecord(
            job_id=r["job_id"],
            index=r["idx"],
            client_token=r["client_token"],
            provider_id=r["provider_id"],
            state=r["state"],
            shots=r["shots"],
            executables=tuple(tuple(e) for e in json.loads(r["executables"])),
            payload=json.loads(r["payload"]),
            estimated_cost_usd=r["estimated_cost_usd"],
            actual_cost_usd=r["actual_cost_usd"],
            result=None if r["result"] is None else json.loads(r["result"]),
            error=r["error"],
            created_at=r["created_at"],
            sent_at=r["sent_at"],
            updated_at=r["updated_at"],
        )

    @staticmethod
    def _job(r: sqlite3.Row, tasks: tuple[TaskRecord, ...]) -> JobRecord:
        return JobRecord(
            id=r["id"],
            created_at=r["created_at"],
            updated_at=r["updated_at"],
            provider=r["provider"],
            backend=r["backend"],
            device=r["device"],
            shots=r["shots"],
            estimated_cost_usd=r["estimated_cost_usd"],
            max_cost_usd=r["max_cost_usd"],
            transport=json.loads(r["transport"]),
            layout=json.loads(r["layout"]),
            metadata=json.loads(r["metadata"]),
            tasks=tasks,
        )


def open_store(store: "JobStore | str | os.PathLike | None" = None) -> JobStore:
    """A :class:`JobStore` from a store, a path, or None (the default location)."""
    if isinstance(store, JobStore):
        return store
    return JobStore(store)
