"""The run lock: one run per output folder, held with flock for the whole run; a dead run's file blocks no one."""

from __future__ import annotations

import fcntl
import os

import pytest

from analysis.errors import RunLockedError
from analysis.runner.pipeline import _Lock


def _held_elsewhere(path):
    """An open file description holding the flock, as another run would (flock conflicts within a process too)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, b"4242")
    return fd


def test_a_second_run_of_the_same_folder_is_refused_in_one_line(tmp_path):
    target = tmp_path / "seeds"
    with _Lock(target) as lock:
        assert lock.path == tmp_path / ".seeds.lock" and lock.path.read_text() == str(os.getpid())
        with pytest.raises(RunLockedError) as err:
            _Lock(target).__enter__()
        with _Lock(tmp_path / "other"):          # another folder: its own lock
            pass
    msg = str(err.value)
    assert msg == (f"another run (pid {os.getpid()}) is writing {target}; wait for it to finish, or choose another "
                   f"--out / run_name (lock file: {tmp_path / '.seeds.lock'})")
    assert not (tmp_path / ".seeds.lock").exists()
    with _Lock(target):                           # released: the next run takes it
        pass


def test_a_lock_held_by_another_process_refuses(tmp_path):
    fd = _held_elsewhere(tmp_path / ".seeds.lock")
    try:
        with pytest.raises(RunLockedError, match=r"another run \(pid 4242\) is writing .*seeds; wait"):
            _Lock(tmp_path / "seeds").__enter__()
    finally:
        os.close(fd)
    with _Lock(tmp_path / "seeds"):              # the holder has gone: the kernel released its flock
        pass


def test_a_lock_file_left_by_a_killed_run_blocks_no_one(tmp_path):
    # A run killed with SIGKILL leaves its file with a pid no process has; no flock is held on it
    (tmp_path / ".seeds.lock").write_text("999999999")
    with _Lock(tmp_path / "seeds") as lock:
        assert lock.path.read_text() == str(os.getpid())
        with pytest.raises(RunLockedError):     # two runs finding the same leftover: only one takes it
            _Lock(tmp_path / "seeds").__enter__()
    assert not lock.path.exists()


def test_a_file_removed_by_its_releasing_holder_is_not_taken(tmp_path, monkeypatch):
    """A file opened just before its holder removed it is not the lock.

    A run opens the lock file just before its holder releases and removes it, and a third run creates a
    new one: the first must not count the old, unlinked file as its lock.
    """
    path = tmp_path / ".seeds.lock"
    path.write_text("1")
    old = os.open(path, os.O_RDWR)               # opened before the holder released it ...
    path.unlink()                                 # ... which it removed on release
    third = _held_elsewhere(path)                 # a third run has taken the new file
    real_open, calls = os.open, []

    def open_old_first(*args, **kw):
        calls.append(args[0])
        return old if len(calls) == 1 else real_open(*args, **kw)

    monkeypatch.setattr(os, "open", open_old_first)
    try:
        with pytest.raises(RunLockedError):
            _Lock(tmp_path / "seeds").__enter__()
    finally:
        os.close(third)
    assert len(calls) == 2                        # it saw the name leads elsewhere, and tried again


def test_releasing_a_lock_whose_file_was_replaced_leaves_the_new_holders_file(tmp_path):
    """The lock file is deleted while held (``make clean``) and another run makes and locks a new one."""
    with _Lock(tmp_path / "seeds") as lock:
        lock.path.unlink()
        other = _held_elsewhere(lock.path)        # the second run's lock, under the same name
    try:
        assert lock.path.exists() and lock.path.read_text() == "4242"
        with pytest.raises(RunLockedError, match=r"pid 4242"):    # still held by the second run
            _Lock(tmp_path / "seeds").__enter__()
    finally:
        os.close(other)


def test_releasing_a_lock_whose_file_was_deleted_does_not_fail(tmp_path):
    with _Lock(tmp_path / "seeds") as lock:
        lock.path.unlink()
    assert not lock.path.exists()
    with _Lock(tmp_path / "seeds"):
        pass
