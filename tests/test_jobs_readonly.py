"""Read-only job stores: reading works, writing says read-only, intact is never called damaged,
and qbridge never changes the mode of a user's file."""

from __future__ import annotations

import json
import os
import stat

import pytest

from test_jobs_cli import _invoke, done_job, offline  # noqa: F401  (fixtures)

pytest.importorskip("qbridge_braket.cloud")

from qbridge.jobs import JobStore, ReadOnlyStoreError  # noqa: E402
from qbridge.jobs import store as store_module  # noqa: E402
from qbridge.jobs.errors import JobStoreCorruptError  # noqa: E402


def _snapshot(path):
    return path.read_bytes(), stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def frozen(done_job, monkeypatch):  # noqa: F811
    """The done job's store, made 0444 and seen as unwritable (as on a read-only mount: root
    could otherwise write a 0444 file, so the access check is what the test controls)."""
    path, job_id, arn, counts = done_job
    os.chmod(path, 0o444)
    real_access = os.access
    monkeypatch.setattr(store_module.os, "access",
                        lambda p, mode, *a, **k: False if mode & os.W_OK else real_access(p, mode, *a, **k))
    yield path, job_id, arn, counts
    os.chmod(path, 0o600)


def test_reading_commands_work_on_a_read_only_store(frozen, offline):  # noqa: F811
    path, job_id, arn, counts = frozen
    before = _snapshot(path)
    out = _invoke(["jobs", "--store", str(path), "list", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)[0]["id"] == job_id
    out = _invoke(["jobs", "--store", str(path), "show", job_id, "--json"])
    assert out.exit_code == 0, out.output and json.loads(out.output)["id"] == job_id
    out = _invoke(["jobs", "--store", str(path), "result", job_id, "--json"])
    assert out.exit_code == 0, out.output
    assert _snapshot(path) == before  # same bytes, same mode 0444


def test_writing_commands_say_the_store_is_read_only(frozen, offline):  # noqa: F811
    path, job_id, _, _ = frozen
    before = _snapshot(path)
    out = _invoke(["jobs", "--store", str(path), "budget", "--total-cap", "5"])
    assert out.exit_code == 2
    assert "ReadOnlyStoreError" in out.output and "read-only" in out.output and "damaged" not in out.output
    assert "Traceback" not in out.output
    assert _snapshot(path) == before


def test_api_read_only_flag_refuses_every_write(done_job):  # noqa: F811
    path, job_id, _, _ = done_job
    before = _snapshot(path)
    with JobStore(path, read_only=True) as st:
        assert st.read_only and st.get_job(job_id).id == job_id
        with pytest.raises(ReadOnlyStoreError, match="opened read-only"):
            st.set_total_cap(3.0)
        with pytest.raises(ReadOnlyStoreError, match="copy the file"):
            st.set_state(job_id, 0, "failed")
    assert _snapshot(path) == before


def test_damaged_read_only_store_is_still_called_damaged(tmp_path, monkeypatch):
    path = tmp_path / "jobs.sqlite3"
    path.write_bytes(b"\x00garbage" * 100)
    os.chmod(path, 0o444)
    with pytest.raises(JobStoreCorruptError, match="not an SQLite database"):
        JobStore(path, read_only=True)


def test_missing_store_cannot_be_opened_read_only(tmp_path):
    with pytest.raises(store_module.JobStoreError, match="no job store"):
        JobStore(tmp_path / "nothing.sqlite3", read_only=True)
    assert not (tmp_path / "nothing.sqlite3").exists()


def test_the_mode_of_an_existing_store_is_never_changed(done_job):  # noqa: F811
    path = done_job[0]
    os.chmod(path, 0o640)
    with JobStore(path) as st:
        st.set_total_cap(7.0)  # a write, through a writable handle
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes 0444 files; the monkeypatched test covers it")
def test_real_read_only_folder(done_job, offline):  # noqa: F811
    path, job_id, _, _ = done_job
    os.chmod(path, 0o444)
    os.chmod(path.parent, 0o555)
    try:
        out = _invoke(["jobs", "--store", str(path), "list", "--json"])
        assert out.exit_code == 0, out.output
    finally:
        os.chmod(path.parent, 0o755)
        os.chmod(path, 0o600)
