"""The state dir's guard on its own: a refused dir is not left locked by the server that refused it."""

from __future__ import annotations

import os

import pytest

from local_aws.state_dir import LOCK_FILE, StateDirError, open_state_dir


def test_a_lock_file_refused_as_untrusted_is_not_left_locked(tmp_path):
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    lock = state_dir / LOCK_FILE
    lock.write_text("")
    lock.chmod(0o666)  # others may write it: the server must not trust the dir
    with pytest.raises(StateDirError, match="may be written by group or others"):
        open_state_dir(str(state_dir))
    # Once the owner has fixed the mode, the same process may use the dir: nothing still holds its lock.
    lock.chmod(0o600)
    descriptor = open_state_dir(str(state_dir))
    try:
        assert lock.read_text() == f"{os.getpid()}\n"
    finally:
        os.close(descriptor)


def test_a_locked_dir_is_refused_naming_the_holder(tmp_path):
    state_dir = str(tmp_path / "state")
    descriptor = open_state_dir(state_dir)
    try:
        with pytest.raises(StateDirError, match=rf"in use by another local_aws \(pid {os.getpid()}\)"):
            open_state_dir(state_dir)
    finally:
        os.close(descriptor)
